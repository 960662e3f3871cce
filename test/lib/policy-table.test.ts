import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Template } from 'aws-cdk-lib/assertions';
import { createRekeyApp } from '../../lib/app.js';
import type { RekeyFunction } from '../../lib/function.js';
import type { ManagedKey } from '../../lib/managed-key.js';
import type { RekeyStack } from '../../lib/rekey-stack.js';

/**
 * Issue 13, item 6: every permission the synthesized stack grants — each IAM role's identity and trust
 * policies, and the resource policies of the secrets — is the table README's "IAM permissions" section
 * shows, row for row. Adding a permission means changing both.
 *
 * Rows are normalised so the table reads without an inventory: tokens become `<partition>`, `<region>`,
 * `<account>`; the stack's resources become named placeholders (`<lease table>`); what belongs to one key
 * is `<its …>` for that key's roles and resource policies (and `<another key's …>` if it ever were not —
 * which then matches no row). Key roles are compared per kind of key (HTTP providers, AWS IAM, API
 * Gateway); a README row for "key rotation role" holds for every kind, "key rotation role (AWS IAM keys)"
 * for that kind only. A kind's rows are the union over its keys (every kind below has a key with
 * `rotator_kms_key_arn`, so that row shows for each).
 */

const README = fileURLToPath(new URL('../../README.md', import.meta.url));
const ROTATOR_KEY = (n: number) =>
  `arn:aws:kms:eu-west-1:123456789012:key/0000000${n}-12ab-34cd-56ef-1234567890ab`;
const OPERATOR =
  'arn:aws:iam::123456789012:role/aws-reserved/sso.amazonaws.com/*/AWSReservedSSO_RekeyOperator_*';
const BREAK_GLASS = 'arn:aws:iam::123456789012:user/break-glass';
const READER = 'arn:aws:iam::123456789012:role/notification-service-*';
const EXISTING_SECRET = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/legacy/key-AbCdEf';
const EXISTING_KEY = 'arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab';
const LEGACY_ROTATOR = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:rekey/rotator/legacy-XyZ123';

/** SendGrid (two keys sharing a rotator, one with readers, one existing secret), AWS IAM, API Gateway. */
const INVENTORY = `
operators: ["${OPERATOR}", "${BREAK_GLASS}"]
api_keys:
  - name: mail
    provider: SendGrid
    vault_path: prod/sendgrid/mail
    rotation_frequency: 90d
    rotator_secret: rekey/rotator/sendgrid
    rotator_kms_key_arn: ${ROTATOR_KEY(1)}
    readers: ["${READER}"]
    imported: true
  - name: marketing
    provider: SendGrid
    vault_path: staging/sendgrid/marketing
    rotation_frequency: 30d
    rotator_secret: rekey/rotator/sendgrid
  - name: legacy
    provider: SendGrid
    vault_path: prod/legacy/key
    rotation_frequency: 7d
    rotator_secret: ${LEGACY_ROTATOR}
    secret_arn: ${EXISTING_SECRET}
    kms_key_arn: ${EXISTING_KEY}
    imported: true
  - name: ci-deployer
    provider: AWS IAM
    vault_path: prod/iam/ci-deployer
    rotation_frequency: 30d
    rotator_secret: rekey/rotator/aws-iam
    rotator_kms_key_arn: ${ROTATOR_KEY(2)}
    options: { userName: ci-deployer }
    imported: true
  - name: partner-gateway
    provider: Amazon API Gateway
    vault_path: prod/gateway/partner
    rotation_frequency: 7d
    rotator_secret: rekey/rotator/api-gateway
    rotator_kms_key_arn: ${ROTATOR_KEY(3)}
    options: { region: eu-west-1 }
    imported: true
`;

// biome-ignore lint/suspicious/noExplicitAny: CloudFormation JSON
type Json = any;
type Resources = Record<string, { Type: string; Properties?: Record<string, Json> }>;

const list = <T>(v: T | T[] | undefined): T[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);

/** The kinds of key whose roles differ: providers reached over HTTP, and the two AWS APIs. */
const KINDS = { http: '', 'aws-iam': 'AWS IAM keys', 'api-gateway': 'API Gateway keys' } as const;
type Kind = keyof typeof KINDS;
const kindOf = (key: ManagedKey): Kind =>
  key.plan.provider === 'aws-iam' || key.plan.provider === 'api-gateway' ? key.plan.provider : 'http';

/** Who a row is about, as the README's first column names it (key roles and policies with their kind). */
type Who =
  | { label: 'rotation function' | 'revoker' | 'rollback' | 'key-age monitor'; fn: RekeyFunction }
  | { label: 'Scheduler role' }
  | { label: 'key rotation role' | 'key revocation role' | 'managed secret'; key: ManagedKey }
  | { label: 'rotator secret'; keys: ManagedKey[] };

/** Key roles are compared per kind of key; a managed secret's policy is the same for every kind. */
const whoName = (who: Who): string =>
  'key' in who && who.label !== 'managed secret' ? `${who.label} [${kindOf(who.key)}]` : who.label;

/** Renders a CloudFormation value for a row about `who`: known values as placeholders, tokens as <…>. */
class Normaliser {
  private readonly known = new Map<string, (who: Who) => string>();

  constructor(stack: RekeyStack) {
    const r = (value: unknown) => JSON.stringify(stack.resolve(value));
    const fixed = (value: unknown, text: string) => this.known.set(r(value), () => text);
    const { revocation, topics, leases } = stack;
    fixed(revocation.deadLetterQueue.queueArn, '<dead-letter queue>');
    fixed(revocation.schedulesArn, 'schedule/<rekey group>/*');
    fixed(revocation.scheduleGroup.scheduleGroupArn, '<rekey schedule group>');
    fixed(revocation.schedulerRole.roleArn, '<Scheduler role>');
    fixed(leases.table.tableArn, '<lease table>');
    fixed(topics.security.topicArn, '<security topic>');
    fixed(topics.onCall.topicArn, '<on-call topic>');
    fixed(topics.appTeam.topicArn, '<app-team topic>');
    fixed(topics.rollback.topicArn, '<rollback topic>');
    fixed(topics.key.keyArn, '<alerts key>');
    const functions: RekeyFunction[] = [
      ...stack.rotationFunctions.values(),
      revocation.revoker,
      revocation.rollback,
      stack.keyAgeMonitor,
    ];
    const ownerOf = (who: Who) => ('fn' in who ? who.fn : undefined);
    const keyOf = (who: Who) => ('key' in who ? who.key : undefined);
    this.known.set(r(revocation.revokerArn), (who) =>
      ownerOf(who) === revocation.revoker ? '<its function>' : '<revoker>',
    );
    for (const fn of functions) {
      this.known.set(r(fn.logGroup.logGroupArn), (who) =>
        ownerOf(who) === fn ? '<its log group>' : "<another function's log group>",
      );
      if (fn !== revocation.revoker)
        this.known.set(r(fn.functionArn), (who) =>
          ownerOf(who) === fn ? '<its function>' : '<another function>',
        );
      this.known.set(r(fn.role.roleArn), (who) => {
        const key = keyOf(who);
        if (fn === revocation.revoker) return '<revoker role>';
        if (fn === revocation.rollback) return '<rollback role>';
        if (key && stack.rotationFunctions.get(key.plan.provider) === fn)
          return "<its provider's rotation function role>";
        return '<another function role>';
      });
    }
    this.known.set(r(stack.keyEncryption.keyArn), (who) =>
      keyOf(who) && !keyOf(who)!.plan.existingSecretArn ? "<its secret's KMS key>" : '<secrets key>',
    );
    for (const key of stack.keys) {
      const own = (mine: string, other: string) => (who: Who) => (keyOf(who) === key ? mine : other);
      this.known.set(r(key.secret.secretArn), (who) =>
        keyOf(who) === key ? '<its secret>' : keyOf(who) ? "<another key's secret>" : '<each managed secret>',
      );
      this.known.set(r(key.rotatorSecretArn), (who) =>
        keyOf(who)?.rotatorSecretArn === key.rotatorSecretArn
          ? '<its rotator secret>'
          : "<another key's rotator secret>",
      );
      if (key.plan.existingKmsKeyArn)
        this.known.set(
          r(key.plan.existingKmsKeyArn),
          own("<its secret's KMS key>", "<another key's KMS key>"),
        );
      if (key.plan.rotatorKmsKeyArn)
        this.known.set(
          r(key.plan.rotatorKmsKeyArn),
          own("<its rotator's KMS key>", "<another rotator's KMS key>"),
        );
      for (const [purpose, role] of [
        ['rotation', key.roles.rotation],
        ['revocation', key.roles.revocation],
      ] as const) {
        const name = key.roles.names[purpose];
        const byArn = (who: Who): string => {
          if (keyOf(who) === key) return `<its ${purpose} role>`;
          if (who.label === 'rotator secret' && who.keys.includes(key))
            return `<${purpose} role of each key using it>`;
          const fn = ownerOf(who);
          if (purpose === 'rotation' && fn && stack.rotationFunctions.get(key.plan.provider) === fn)
            return '<rotation role of each of its keys>';
          if (purpose === 'revocation' && (fn === revocation.revoker || fn === revocation.rollback))
            return '<revocation role of each key>';
          return `<another key's ${purpose} role>`;
        };
        this.known.set(r(role.roleArn), byArn);
        this.known.set(r(`arn:${stack.partition}:iam::${stack.account}:role/${name}`), byArn);
      }
    }
    fixed(`arn:${stack.partition}:iam::${stack.account}:role/cdk-*`, '<CDK bootstrap roles (role/cdk-*)>');
    for (const operator of stack.keys[0]!.plan.operators ?? []) fixed(operator, '<operators>');
    for (const reader of stack.keys.flatMap((k) => k.plan.readers ?? [])) fixed(reader, '<its readers>');
  }

  value(node: unknown, who: Who): string {
    const known = this.known.get(JSON.stringify(node));
    if (known) return known(who);
    let text = this.raw(node);
    const key = 'key' in who ? who.key : undefined;
    if (key?.plan.provider === 'aws-iam')
      text = text.replace(
        new RegExp(`(user/(?:\\*/)?)${String(key.plan.options.userName)}$`),
        '$1<options.userName>',
      );
    if (key?.plan.provider === 'api-gateway')
      text = text.replace(`apigateway:${String(key.plan.options.region)}:`, 'apigateway:<options.region>:');
    return text.replace(/^arn:<partition>:/, '');
  }

  private raw(node: unknown): string {
    if (typeof node === 'string') return node;
    const obj = node as Record<string, unknown>;
    if (Array.isArray(obj['Fn::Join'])) {
      const [delimiter, items] = obj['Fn::Join'] as [string, unknown[]];
      return items.map((item) => this.raw(item)).join(delimiter);
    }
    const pseudo: Record<string, string> = {
      'AWS::Partition': '<partition>',
      'AWS::Region': '<region>',
      'AWS::AccountId': '<account>',
      'AWS::URLSuffix': '<url suffix>',
    };
    if (typeof obj.Ref === 'string') return pseudo[obj.Ref] ?? `<?${obj.Ref}>`;
    if (Array.isArray(obj['Fn::GetAtt'])) return `<?${(obj['Fn::GetAtt'] as string[]).join('.')}>`;
    return `<?${JSON.stringify(node)}>`;
  }

  conditions(condition: Record<string, Record<string, unknown>> | undefined, who: Who): string[] {
    const symbol: Record<string, string> = {
      StringEquals: '=',
      ArnEquals: '=',
      StringLike: 'like',
      ArnLike: 'like',
      ArnNotLike: 'not like',
      StringNotLike: 'not like',
      Bool: '=',
    };
    return Object.entries(condition ?? {}).flatMap(([operator, entries]) =>
      Object.entries(entries).map(([name, values]) => {
        const rendered = [...new Set(list(values).map((v) => this.value(v, who)))].sort();
        return `${name} ${symbol[operator] ?? operator} ${rendered.join(' or ')}`;
      }),
    );
  }
}

interface Row {
  who: string;
  effect: string;
  actions: string[];
  on: string[];
  conditions: string[];
}

const body = (row: Omit<Row, 'who'>) =>
  [row.effect, row.actions.join(', '), row.on.join(', '), row.conditions.join('; ') || '—'].join(' | ');
const keyOfRow = (row: Row) => `${row.who} | ${body(row)}`;

/** Every permission of the template as rows: identity, trust and secret resource policies. */
function templateRows(stack: RekeyStack, resources: Resources): Row[] {
  const normaliser = new Normaliser(stack);
  const id = (construct: { node: { defaultChild?: unknown } }) =>
    stack.getLogicalId(construct.node.defaultChild as never);
  const whoByRole = new Map<string, Who>();
  for (const fn of stack.rotationFunctions.values())
    whoByRole.set(id(fn.role), { label: 'rotation function', fn });
  whoByRole.set(id(stack.revocation.revoker.role), { label: 'revoker', fn: stack.revocation.revoker });
  whoByRole.set(id(stack.revocation.rollback.role), { label: 'rollback', fn: stack.revocation.rollback });
  whoByRole.set(id(stack.keyAgeMonitor.role), { label: 'key-age monitor', fn: stack.keyAgeMonitor });
  whoByRole.set(id(stack.revocation.schedulerRole), { label: 'Scheduler role' });
  for (const key of stack.keys) {
    whoByRole.set(id(key.roles.rotation), { label: 'key rotation role', key });
    whoByRole.set(id(key.roles.revocation), { label: 'key revocation role', key });
  }
  const rows: Row[] = [];
  const add = (who: Who, statement: Json, on: string[], effect = statement.Effect as string) =>
    rows.push({
      who: whoName(who),
      effect,
      actions: [...new Set(list<string>(statement.Action))].sort(),
      on: [...new Set(on)].sort(),
      conditions: normaliser.conditions(statement.Condition, who).sort(),
    });
  const principals = (principal: Json, who: Who): string[] =>
    principal === '*'
      ? ['*']
      : Object.entries(principal as Record<string, unknown>).flatMap(([kind, values]) =>
          list(values).map((v) =>
            kind === 'Service'
              ? `service ${String(v)}`
              : kind === 'AWS' && v === '*'
                ? '*'
                : normaliser.value(v, who),
          ),
        );

  for (const [logicalId, r] of Object.entries(resources)) {
    if (r.Type === 'AWS::IAM::Role') {
      const who = whoByRole.get(logicalId) ?? ({ label: logicalId } as unknown as Who);
      for (const statement of r.Properties!.AssumeRolePolicyDocument.Statement)
        add(who, statement, principals(statement.Principal, who), 'Trust');
      for (const policy of r.Properties!.Policies ?? [])
        for (const statement of policy.PolicyDocument.Statement)
          add(
            who,
            statement,
            list(statement.Resource).map((v) => normaliser.value(v, who)),
          );
    }
    if (r.Type === 'AWS::IAM::Policy' || r.Type === 'AWS::IAM::ManagedPolicy') {
      for (const role of r.Properties!.Roles ?? []) {
        const who = whoByRole.get(role.Ref) ?? ({ label: role.Ref } as unknown as Who);
        for (const statement of r.Properties!.PolicyDocument.Statement)
          add(
            who,
            statement,
            list(statement.Resource).map((v) => normaliser.value(v, who)),
          );
      }
    }
    if (r.Type === 'AWS::SecretsManager::ResourcePolicy') {
      const secretId = JSON.stringify(r.Properties!.SecretId);
      const managed = stack.keys.find((k) => JSON.stringify(stack.resolve(k.secret.secretArn)) === secretId);
      const users = stack.keys.filter((k) => JSON.stringify(k.plan.rotatorSecret) === secretId);
      const who: Who = managed
        ? { label: 'managed secret', key: managed }
        : ({ label: users.length ? 'rotator secret' : logicalId, keys: users } as Who);
      if (!r.Properties!.BlockPublicPolicy)
        rows.push({
          who: whoName(who),
          effect: 'BlockPublicPolicy off',
          actions: [],
          on: [],
          conditions: [],
        });
      for (const statement of r.Properties!.ResourcePolicy.Statement)
        add(who, statement, principals(statement.Principal, who));
    }
  }
  const unique = new Map(rows.map((row) => [keyOfRow(row), row]));
  return [...unique.values()];
}

/** README role cells → the roles (with kind) they stand for. */
function expandWho(cell: string): string[] {
  return cell.split(',').flatMap((part) => {
    const name = part.trim();
    const kinded = /^(key rotation role|key revocation role)(?: \((.+)\))?$/.exec(name);
    if (kinded) {
      const kinds = (Object.keys(KINDS) as Kind[]).filter((k) => !kinded[2] || KINDS[k] === kinded[2]);
      if (kinds.length === 0 || (kinded[2] && kinds.length !== 1)) return [`<unknown: ${name}>`];
      return kinds.map((k) => `${kinded[1]} [${k}]`);
    }
    return [name];
  });
}

/** The rows of the table in README's "IAM permissions" section. */
function readmeRows(markdown: string): { rows: Row[]; problems: string[] } {
  const section = /\n## IAM permissions[^\n]*\n([\s\S]*?)(?=\n## )/.exec(markdown)?.[1];
  if (!section) return { rows: [], problems: ['README has no "## IAM permissions" section'] };
  const lines = section.split('\n').filter((l) => l.startsWith('|'));
  const cells = (line: string) =>
    line
      .slice(1, line.endsWith('|') ? -1 : undefined)
      .split('|')
      .map((c) => c.trim());
  const header = cells(lines[0] ?? '').map((h) => h.toLowerCase());
  const column = (name: string) => header.findIndex((h) => h.startsWith(name));
  const [whoAt, effectAt, actionsAt, onAt, conditionsAt] = [
    'who',
    'effect',
    'actions',
    'resource',
    'conditions',
  ].map(column);
  if ([whoAt, effectAt, actionsAt, onAt, conditionsAt].some((i) => i === -1))
    return {
      rows: [],
      problems: [
        `README's table header must have who, effect, actions, resource and conditions columns: ${lines[0]}`,
      ],
    };
  const ticked = (cell: string) => [...cell.matchAll(/`([^`]+)`/g)].map((m) => m[1]!);
  const rows: Row[] = [];
  let who = '';
  for (const line of lines.slice(2)) {
    const c = cells(line);
    if (c[whoAt!]) who = c[whoAt!]!;
    for (const each of expandWho(who))
      rows.push({
        who: each,
        effect: c[effectAt!]!,
        actions: ticked(c[actionsAt!]!).sort(),
        on: ticked(c[onAt!]!).sort(),
        conditions: ticked(c[conditionsAt!]!).sort(),
      });
  }
  return { rows, problems: [] };
}

/** The template's rows as README table lines (roles with the same row joined), to paste when they differ. */
function suggestedTable(rows: Row[]): string {
  const byBody = new Map<string, { row: Row; who: Set<string> }>();
  for (const row of rows) {
    const entry = byBody.get(body(row)) ?? { row, who: new Set<string>() };
    entry.who.add(row.who);
    byBody.set(body(row), entry);
  }
  const order = [
    'rotation function',
    'revoker',
    'rollback',
    'key-age monitor',
    'Scheduler role',
    'key rotation role',
    'key revocation role',
    'managed secret',
    'rotator secret',
  ];
  const cell = (who: Set<string>) => {
    const names: string[] = [];
    for (const base of order) {
      const kinds = (Object.keys(KINDS) as Kind[]).filter((k) => who.has(`${base} [${k}]`));
      if (who.has(base)) names.push(base);
      else if (kinds.length === Object.keys(KINDS).length) names.push(base);
      else for (const k of kinds) names.push(KINDS[k] ? `${base} (${KINDS[k]})` : `${base} (${k})`);
    }
    for (const w of who) if (!order.some((b) => w === b || w.startsWith(`${b} [`))) names.push(w);
    return names.join(', ');
  };
  const tick = (items: string[]) => items.map((i) => `\`${i}\``).join(', ') || '—';
  return [...byBody.values()]
    .map(({ row, who }) => ({ who: cell(who), row }))
    .sort((a, b) => order.findIndex((o) => a.who.startsWith(o)) - order.findIndex((o) => b.who.startsWith(o)))
    .map(
      ({ who, row }) =>
        `| ${who} | ${row.effect} | ${tick(row.actions)} | ${tick(row.on)} | ${tick(row.conditions)} | |`,
    )
    .join('\n');
}

describe('the IAM permissions table (issue 13, item 6)', () => {
  let stack: RekeyStack;
  let rows: Row[];

  before(() => {
    const dir = mkdtempSync(join(tmpdir(), 'rekey-policy-table-'));
    const path = join(dir, 'rekey.yaml');
    writeFileSync(path, INVENTORY);
    // Bundling is skipped, as in stack.test.ts: the policies do not depend on the code.
    ({ stack } = createRekeyApp({ context: { inventory: path, 'aws:cdk:bundling-stacks': [] } }));
    rows = templateRows(stack, Template.fromStack(stack).toJSON().Resources);
  });

  it("names every value of every policy: no unreadable token, no other key's resource", () => {
    const unreadable = rows.filter((row) => /<\?|another/.test(keyOfRow(row))).map(keyOfRow);
    assert.deepEqual(unreadable, []);
  });

  it("matches README's table row for row: every role's actions × resources × conditions, trust and secret policies", () => {
    const readme = readmeRows(readFileSync(README, 'utf8'));
    assert.deepEqual(readme.problems, []);
    const inReadme = new Set(readme.rows.map(keyOfRow));
    const inTemplate = new Set(rows.map(keyOfRow));
    const missing = [...inTemplate].filter((r) => !inReadme.has(r)).sort();
    const extra = [...inReadme].filter((r) => !inTemplate.has(r)).sort();
    assert.deepEqual(
      { 'granted but not in README': missing, 'in README but not granted': extra },
      { 'granted but not in README': [], 'in README but not granted': [] },
      `README's "IAM permissions" table differs from the template. The template's rows:\n${suggestedTable(rows)}`,
    );
  });

  it('the comparison catches a permission added to the template only, and one granted to another key', () => {
    const inReadme = new Set(readmeRows(readFileSync(README, 'utf8')).rows.map(keyOfRow));
    const resources = Template.fromStack(stack).toJSON().Resources as Resources;
    const policyOf = (role: { node: { findChild(id: string): { node: { defaultChild?: unknown } } } }) =>
      resources[stack.getLogicalId(role.node.findChild('DefaultPolicy').node.defaultChild as never)]!;
    // The revoker regains the create action finding 5 took away.
    policyOf(stack.revocation.revoker.role).Properties!.PolicyDocument.Statement.push({
      Effect: 'Allow',
      Action: 'iam:CreateAccessKey',
      Resource: '*',
    });
    // One key's rotation role gets another key's secret (finding 2).
    const [mail, marketing] = stack.keys;
    policyOf(mail!.roles.rotation).Properties!.PolicyDocument.Statement.push({
      Effect: 'Allow',
      Action: 'secretsmanager:PutSecretValue',
      Resource: stack.resolve(marketing!.secret.secretArn),
    });
    const changed = templateRows(stack, resources)
      .map(keyOfRow)
      .filter((row) => !inReadme.has(row));
    assert.deepEqual(changed.sort(), [
      "key rotation role [http] | Allow | secretsmanager:PutSecretValue | <another key's secret> | —",
      'revoker | Allow | iam:CreateAccessKey | * | —',
    ]);
  });

  it('expands README role cells: a key role row without a kind holds for every kind of key', () => {
    assert.deepEqual(expandWho('revoker, key rotation role'), [
      'revoker',
      'key rotation role [http]',
      'key rotation role [aws-iam]',
      'key rotation role [api-gateway]',
    ]);
    assert.deepEqual(expandWho('key revocation role (AWS IAM keys)'), ['key revocation role [aws-iam]']);
  });
});
