import type { Clock } from '../clock.js';
import {
  type AwsRequest,
  type AwsResponse,
  type AwsService,
  AwsServiceError,
  epochSeconds,
  jsonError,
  jsonResponse,
  parseJsonBody,
} from './protocol.js';

const CONTENT_TYPE = 'application/x-amz-json-1.0';

/** DynamoDB's wire form of a value: `{S}`, `{N}` (a decimal string), `{BOOL}`, `{NULL}`… */
export type AttributeValue = Record<string, unknown>;
type Item = Record<string, AttributeValue>;

interface Table {
  name: string;
  arn: string;
  hashKey: string;
  rangeKey?: string;
  items: Map<string, Item>;
  created: Date;
  ttlAttribute?: string;
}

interface ExpressionContext {
  names: Record<string, string>;
  values: Record<string, AttributeValue>;
}

/**
 * DynamoDB over its real wire protocol (AWS JSON 1.0), for what a lease table needs: CreateTable,
 * DescribeTable, UpdateTimeToLive, PutItem, GetItem and DeleteItem, with condition expressions evaluated as
 * documented (comparators, BETWEEN, IN, attribute_exists / attribute_not_exists / begins_with, AND / OR /
 * NOT, parentheses, `#name` and `:value` placeholders). A failed condition answers
 * ConditionalCheckFailedException and changes nothing. Every write is strongly consistent here — DynamoDB's
 * conditional writes are too, which is what makes them a lock.
 */
export class DynamoDbService implements AwsService {
  readonly signingNames = ['dynamodb'] as const;
  private readonly tables = new Map<string, Table>();

  constructor(
    private readonly clock: Clock,
    private readonly region: string,
    private readonly accountId: string,
  ) {}

  /** Every item of a table now, for tests. */
  scan(tableName: string): Item[] {
    return [...this.table(tableName).items.values()].map((item) => structuredClone(item));
  }

  async handle(request: AwsRequest): Promise<AwsResponse> {
    const target = String(request.headers['x-amz-target'] ?? '');
    const operation = target.startsWith('DynamoDB_20120810.')
      ? target.slice('DynamoDB_20120810.'.length)
      : '';
    try {
      const input = parseJsonBody(request.body);
      const handler = this.operations[operation];
      if (!handler)
        throw new AwsServiceError(
          'UnknownOperationException',
          `The loopback endpoint does not implement DynamoDB ${operation || '(none)'}.`,
        );
      return jsonResponse(handler(input), CONTENT_TYPE);
    } catch (error) {
      const e =
        error instanceof AwsServiceError
          ? error
          : new AwsServiceError(
              'InternalServerError',
              error instanceof Error ? error.message : 'internal error',
              500,
            );
      return this.errorResponse(e);
    }
  }

  /** An error as DynamoDB's JSON 1.0 protocol sends it, with a ThrottlingReason when `reason` is given. */
  errorResponse(e: AwsServiceError, reason?: { reason: string; tableName: string }): AwsResponse {
    const response = jsonError(
      new AwsServiceError(`com.amazonaws.dynamodb.v20120810#${e.type}`, e.message, e.status),
      CONTENT_TYPE,
    );
    if (e instanceof ConditionFailedError && e.item) {
      const body = JSON.parse(response.body) as Record<string, unknown>;
      return { ...response, body: JSON.stringify({ ...body, Item: e.item }) };
    }
    if (!reason) return response;
    const resource = this.tables.get(reason.tableName)?.arn ?? reason.tableName;
    const body = JSON.parse(response.body) as Record<string, unknown>;
    return {
      ...response,
      body: JSON.stringify({ ...body, ThrottlingReasons: [{ reason: reason.reason, resource }] }),
    };
  }

  /**
   * The partition an item request reaches ("table\0hash key value"), for DynamoDB's per-partition limits;
   * undefined for other requests or ones that name no known table or key.
   */
  partitionOf(body: string): { tableName: string; scope: string } | undefined {
    let input: Record<string, unknown>;
    try {
      input = parseJsonBody(body);
    } catch {
      return undefined;
    }
    const table = typeof input.TableName === 'string' ? this.tables.get(input.TableName) : undefined;
    const item = (input.Item ?? input.Key) as Item | undefined;
    const value = table && item && typeof item === 'object' ? item[table.hashKey] : undefined;
    return table && value
      ? { tableName: table.name, scope: `${table.name}\0${JSON.stringify(value)}` }
      : undefined;
  }

  private readonly operations: Record<string, (input: Record<string, unknown>) => unknown> = {
    CreateTable: (input) => this.createTable(input),
    DescribeTable: (input) => ({ Table: this.describe(this.table(str(input, 'TableName'))) }),
    UpdateTimeToLive: (input) => this.updateTimeToLive(input),
    PutItem: (input) => this.putItem(input),
    GetItem: (input) => this.getItem(input),
    DeleteItem: (input) => this.deleteItem(input),
  };

  private table(name: string): Table {
    const table = this.tables.get(name);
    if (!table)
      throw new AwsServiceError('ResourceNotFoundException', 'Requested resource not found: Table not found');
    return table;
  }

  private createTable(input: Record<string, unknown>): unknown {
    const name = str(input, 'TableName');
    if (!/^[a-zA-Z0-9_.-]{3,255}$/.test(name))
      throw new AwsServiceError('ValidationException', `Invalid table name ${name}.`);
    if (this.tables.has(name))
      throw new AwsServiceError('ResourceInUseException', `Table already exists: ${name}`);
    const schema = Array.isArray(input.KeySchema)
      ? (input.KeySchema as Array<{ AttributeName?: string; KeyType?: string }>)
      : [];
    const hashKey = schema.find((k) => k.KeyType === 'HASH')?.AttributeName;
    if (!hashKey) throw new AwsServiceError('ValidationException', 'KeySchema needs a HASH key.');
    const rangeKey = schema.find((k) => k.KeyType === 'RANGE')?.AttributeName;
    const table: Table = {
      name,
      arn: `arn:aws:dynamodb:${this.region}:${this.accountId}:table/${name}`,
      hashKey,
      ...(rangeKey ? { rangeKey } : {}),
      items: new Map(),
      created: this.clock.now(),
    };
    this.tables.set(name, table);
    return { TableDescription: this.describe(table) };
  }

  private describe(table: Table): unknown {
    return {
      TableName: table.name,
      TableArn: table.arn,
      TableStatus: 'ACTIVE',
      KeySchema: [
        { AttributeName: table.hashKey, KeyType: 'HASH' },
        ...(table.rangeKey ? [{ AttributeName: table.rangeKey, KeyType: 'RANGE' }] : []),
      ],
      ItemCount: table.items.size,
      CreationDateTime: epochSeconds(table.created),
      BillingModeSummary: { BillingMode: 'PAY_PER_REQUEST' },
    };
  }

  private updateTimeToLive(input: Record<string, unknown>): unknown {
    const table = this.table(str(input, 'TableName'));
    const spec = input.TimeToLiveSpecification as { AttributeName?: string; Enabled?: boolean } | undefined;
    if (!spec?.AttributeName || typeof spec.Enabled !== 'boolean')
      throw new AwsServiceError(
        'ValidationException',
        'TimeToLiveSpecification needs AttributeName and Enabled.',
      );
    if (spec.Enabled) table.ttlAttribute = spec.AttributeName;
    else delete table.ttlAttribute;
    return { TimeToLiveSpecification: spec };
  }

  private keyOf(table: Table, item: Item): string {
    const parts = [table.hashKey, ...(table.rangeKey ? [table.rangeKey] : [])].map((attr) => {
      const value = item[attr];
      if (!value || (value.S === undefined && value.N === undefined && value.B === undefined))
        throw new AwsServiceError(
          'ValidationException',
          'One or more parameter values were invalid: Missing the key attribute in the item',
        );
      return JSON.stringify(value);
    });
    return parts.join('\0');
  }

  /**
   * The stored item, or undefined. An item past its TTL is still returned: DynamoDB deletes expired items
   * in the background, typically within days, and reads see them until then — so a lock must not rely on TTL.
   */
  private current(table: Table, key: string): Item | undefined {
    return table.items.get(key);
  }

  private putItem(input: Record<string, unknown>): unknown {
    const table = this.table(str(input, 'TableName'));
    const item = itemOf(input.Item, 'Item');
    const key = this.keyOf(table, item);
    const existing = this.current(table, key);
    this.check(input, existing);
    table.items.set(key, structuredClone(item));
    return input.ReturnValues === 'ALL_OLD' && existing ? { Attributes: existing } : {};
  }

  private getItem(input: Record<string, unknown>): unknown {
    const table = this.table(str(input, 'TableName'));
    const key = this.keyOf(table, itemOf(input.Key, 'Key'));
    const item = this.current(table, key);
    return item ? { Item: structuredClone(item) } : {};
  }

  private deleteItem(input: Record<string, unknown>): unknown {
    const table = this.table(str(input, 'TableName'));
    const key = this.keyOf(table, itemOf(input.Key, 'Key'));
    const existing = this.current(table, key);
    this.check(input, existing);
    table.items.delete(key);
    return input.ReturnValues === 'ALL_OLD' && existing ? { Attributes: existing } : {};
  }

  private check(input: Record<string, unknown>, existing: Item | undefined): void {
    const expression = input.ConditionExpression;
    if (expression === undefined) return;
    if (typeof expression !== 'string' || expression.trim() === '')
      throw new AwsServiceError(
        'ValidationException',
        'Invalid ConditionExpression: The expression is empty',
      );
    const context: ExpressionContext = {
      names: (input.ExpressionAttributeNames as Record<string, string> | undefined) ?? {},
      values: (input.ExpressionAttributeValues as Record<string, AttributeValue> | undefined) ?? {},
    };
    if (!evaluateCondition(expression, existing ?? {}, context))
      throw new ConditionFailedError(
        input.ReturnValuesOnConditionCheckFailure === 'ALL_OLD' ? existing : undefined,
      );
  }
}

/**
 * ConditionalCheckFailedException, carrying the item as it was when the request asked for it
 * (ReturnValuesOnConditionCheckFailure ALL_OLD: "the item attributes are returned in the exception",
 * API reference, PutItem / DeleteItem).
 */
class ConditionFailedError extends AwsServiceError {
  constructor(readonly item: Item | undefined) {
    super('ConditionalCheckFailedException', 'The conditional request failed');
  }
}

function str(input: Record<string, unknown>, field: string): string {
  const value = input[field];
  if (typeof value !== 'string' || value.length === 0)
    throw new AwsServiceError('ValidationException', `${field} is required.`);
  return value;
}

function itemOf(value: unknown, field: string): Item {
  if (!value || typeof value !== 'object' || Array.isArray(value))
    throw new AwsServiceError('ValidationException', `${field} is required.`);
  return value as Item;
}

// ── Condition expressions ───────────────────────────────────────────────────────────────────────────

type Token = { kind: 'name' | 'placeholder' | 'value' | 'op' | 'punct' | 'word'; text: string };

function tokenize(expression: string): Token[] {
  const tokens: Token[] = [];
  const pattern =
    /\s*(?:(<>|<=|>=|=|<|>)|([(),.[\]])|(#[A-Za-z0-9_]+)|(:[A-Za-z0-9_]+)|([A-Za-z_][A-Za-z0-9_]*)|(\d+))/y;
  let index = 0;
  while (index < expression.length) {
    if (/^\s*$/.test(expression.slice(index))) break;
    pattern.lastIndex = index;
    const match = pattern.exec(expression);
    if (!match)
      throw new AwsServiceError(
        'ValidationException',
        `Invalid ConditionExpression: Syntax error; token: "${expression.slice(index).trim().slice(0, 10)}"`,
      );
    index = pattern.lastIndex;
    if (match[1]) tokens.push({ kind: 'op', text: match[1] });
    else if (match[2]) tokens.push({ kind: 'punct', text: match[2] });
    else if (match[3]) tokens.push({ kind: 'placeholder', text: match[3] });
    else if (match[4]) tokens.push({ kind: 'value', text: match[4] });
    else if (match[5])
      tokens.push({ kind: /^(AND|OR|NOT|BETWEEN|IN)$/i.test(match[5]) ? 'word' : 'name', text: match[5] });
    else tokens.push({ kind: 'name', text: match[6]! });
  }
  return tokens;
}

const RESERVED = new Set([
  'owner',
  'name',
  'status',
  'key',
  'ttl',
  'value',
  'data',
  'timestamp',
  'time',
  'size',
]);

/** Evaluates a DynamoDB condition expression against `item` (empty when no item exists). */
export function evaluateCondition(expression: string, item: Item, context: ExpressionContext): boolean {
  const tokens = tokenize(expression);
  let pos = 0;
  const peek = () => tokens[pos];
  const next = () => {
    const token = tokens[pos++];
    if (!token)
      throw new AwsServiceError('ValidationException', 'Invalid ConditionExpression: unexpected end');
    return token;
  };
  const expect = (text: string) => {
    const token = next();
    if (token.text.toUpperCase() !== text)
      throw new AwsServiceError(
        'ValidationException',
        `Invalid ConditionExpression: expected ${text}, got ${token.text}`,
      );
  };
  const isWord = (text: string) => peek()?.kind === 'word' && peek()!.text.toUpperCase() === text;

  // An operand: a path (attribute name, #placeholder, dotted) or a :value.
  const operand = (): AttributeValue | undefined => {
    const token = next();
    if (token.kind === 'value') {
      const value = context.values[token.text];
      if (!value)
        throw new AwsServiceError(
          'ValidationException',
          `Invalid ConditionExpression: An expression attribute value used in expression is not defined; attribute value: ${token.text}`,
        );
      return value;
    }
    pos -= 1;
    return resolvePath(path(), item);
  };
  const path = (): string[] => {
    const parts: string[] = [];
    for (;;) {
      const token = next();
      if (token.kind === 'placeholder') {
        const name = context.names[token.text];
        if (name === undefined)
          throw new AwsServiceError(
            'ValidationException',
            `Invalid ConditionExpression: An expression attribute name used in the document path is not defined; attribute name: ${token.text}`,
          );
        parts.push(name);
      } else if (token.kind === 'name') {
        if (RESERVED.has(token.text.toLowerCase()))
          throw new AwsServiceError(
            'ValidationException',
            `Invalid ConditionExpression: Attribute name is a reserved keyword; reserved keyword: ${token.text}`,
          );
        parts.push(token.text);
      } else
        throw new AwsServiceError(
          'ValidationException',
          `Invalid ConditionExpression: unexpected ${token.text}`,
        );
      if (peek()?.text !== '.') return parts;
      next();
    }
  };
  const primary = (): boolean => {
    const token = peek();
    if (token?.text === '(') {
      next();
      const value = or();
      expect(')');
      return value;
    }
    if (token?.kind === 'name' && tokens[pos + 1]?.text === '(') {
      const fn = next().text;
      next();
      let result: boolean;
      switch (fn) {
        case 'attribute_exists':
          result = resolvePath(path(), item) !== undefined;
          break;
        case 'attribute_not_exists':
          result = resolvePath(path(), item) === undefined;
          break;
        case 'begins_with': {
          const a = operand();
          expect(',');
          const b = operand();
          result = a?.S !== undefined && b?.S !== undefined && String(a.S).startsWith(String(b.S));
          break;
        }
        default:
          throw new AwsServiceError(
            'ValidationException',
            `Invalid ConditionExpression: unsupported function ${fn}`,
          );
      }
      expect(')');
      return result;
    }
    const left = operand();
    if (isWord('BETWEEN')) {
      next();
      const low = operand();
      expect('AND');
      const high = operand();
      return compare(left, low, '>=') && compare(left, high, '<=');
    }
    if (isWord('IN')) {
      next();
      expect('(');
      const options = [operand()];
      while (peek()?.text === ',') {
        next();
        options.push(operand());
      }
      expect(')');
      return options.some((option) => compare(left, option, '='));
    }
    const op = next();
    if (op.kind !== 'op')
      throw new AwsServiceError(
        'ValidationException',
        `Invalid ConditionExpression: expected a comparator, got ${op.text}`,
      );
    return compare(left, operand(), op.text);
  };
  const not = (): boolean => {
    if (isWord('NOT')) {
      next();
      return !not();
    }
    return primary();
  };
  const and = (): boolean => {
    let value = not();
    while (isWord('AND')) {
      next();
      value = not() && value;
    }
    return value;
  };
  const or = (): boolean => {
    let value = and();
    while (isWord('OR')) {
      next();
      value = and() || value;
    }
    return value;
  };
  const result = or();
  if (pos < tokens.length)
    throw new AwsServiceError(
      'ValidationException',
      `Invalid ConditionExpression: unexpected ${tokens[pos]!.text}`,
    );
  return result;
}

function resolvePath(parts: string[], item: Item): AttributeValue | undefined {
  let value: AttributeValue | undefined = item[parts[0]!];
  for (const part of parts.slice(1)) value = (value?.M as Item | undefined)?.[part];
  return value;
}

/** Comparison as DynamoDB does it: only values of the same scalar type compare; anything else is false. */
function compare(a: AttributeValue | undefined, b: AttributeValue | undefined, op: string): boolean {
  if (!a || !b) return op === '<>' ? a !== b : false;
  let left: number | string;
  let right: number | string;
  if (a.N !== undefined && b.N !== undefined) {
    left = Number(a.N);
    right = Number(b.N);
  } else if (a.S !== undefined && b.S !== undefined) {
    left = String(a.S);
    right = String(b.S);
  } else if (a.BOOL !== undefined && b.BOOL !== undefined && (op === '=' || op === '<>')) {
    return op === '=' ? a.BOOL === b.BOOL : a.BOOL !== b.BOOL;
  } else return op === '<>';
  switch (op) {
    case '=':
      return left === right;
    case '<>':
      return left !== right;
    case '<':
      return left < right;
    case '<=':
      return left <= right;
    case '>':
      return left > right;
    case '>=':
      return left >= right;
  }
  return false;
}
