import type { AuthFact, OperationFact, ProviderFacts, ShapeFact, StatusFact } from './facts/types.js';

/** A request as the adapter addressed it (before it reached the sandbox). */
export interface RecordedRequest {
  method: string;
  url: URL;
  /** Lowercase header names. */
  headers: Record<string, string>;
  body?: string;
}

/** The sandbox's answer to it. */
export interface RecordedResponse {
  status: number;
  headers: Record<string, string>;
  /** Parsed JSON, the raw text of another body, or undefined when empty. */
  body: unknown;
  /** When the answer arrived (ms since the epoch), for a Unix-time rate-limit reset. */
  at: number;
}

/** What happened, in order: an exchange with the sandbox, or a retry wait the adapter asked for. */
export type RecordedEvent =
  | { kind: 'exchange'; request: RecordedRequest; response: RecordedResponse }
  | { kind: 'wait'; ms: number };

export interface Violation {
  /** The fact's id: "<operationId>:<what>" or "<provider-level fact>". */
  fact: string;
  message: string;
}

/** What a check found: the operations exercised, the facts checked, and every violation. */
export class ConformanceReport {
  readonly operations = new Set<string>();
  readonly checked = new Set<string>();
  readonly violations: Violation[] = [];
  /** Documented paths seen null, seen absent under a present parent, and seen at all ("<key>.<path>"). */
  readonly seenNull = new Set<string>();
  readonly seenAbsent = new Set<string>();
  readonly seen = new Set<string>();

  constructor(readonly facts: ProviderFacts) {}

  /**
   * What the sandbox never showed although the description allows it: nullable fields never null, optional
   * fields never absent (each "<operationId>:<status>.<path>"). A sandbox that only ever answers the happy
   * shape leaves the adapter untested against the rest.
   */
  happyShape(): { neverNull: string[]; neverAbsent: string[] } {
    const shapes = this.facts.operations.flatMap((o) =>
      Object.entries(o.responses).map(([status, shape]) => ({
        key: `${o.operationId}:${status}`,
        shape: shape!,
      })),
    );
    const never = (paths: (s: (typeof shapes)[number]['shape']) => string[] | undefined, seen: Set<string>) =>
      shapes.flatMap(({ key, shape }) =>
        (paths(shape) ?? []).map((p) => `${key}.${p}`).filter((k) => this.seen.has(k) && !seen.has(k)),
      );
    return {
      neverNull: never((s) => s.nullable, this.seenNull),
      neverAbsent: never((s) => s.optional, this.seenAbsent),
    };
  }

  /** Records that a fact was checked, and a violation when it did not hold. */
  fact(id: string, holds: boolean, message: () => string): void {
    this.checked.add(id);
    if (!holds && !this.violations.some((v) => v.fact === id))
      this.violations.push({ fact: id, message: message() });
  }

  /** Operations in the facts that no recorded request exercised. */
  unexercised(): string[] {
    return this.facts.operations.map((o) => o.operationId).filter((id) => !this.operations.has(id));
  }

  summary(): string {
    return `conformance: ${this.facts.provider}: ${this.operations.size} operations, ${this.checked.size} facts checked`;
  }
}

interface Segment {
  name: string;
  array: boolean;
}
const parse = (path: string): Segment[] =>
  path === ''
    ? []
    : path
        .split('.')
        .map((s) => (s.endsWith('[]') ? { name: s.slice(0, -2), array: true } : { name: s, array: false }));
const isObject = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === 'object' && !Array.isArray(v);

/** Every value at a path (arrays expanded), following only what is present. */
function nodes(body: unknown, segments: Segment[]): unknown[] {
  let at: unknown[] = [body];
  for (const { name, array } of segments) {
    const next: unknown[] = [];
    for (const n of at) {
      if (!isObject(n) || !(name in n)) continue;
      const v = n[name];
      if (!array) next.push(v);
      else if (Array.isArray(v)) next.push(...v);
    }
    at = next;
  }
  return at;
}

/** For each present parent of a path's last property: whether the property is there, and its value. */
function instances(body: unknown, path: string): Array<{ present: boolean; value: unknown }> {
  const segments = parse(path);
  const last = segments.at(-1);
  if (!last) return [{ present: body !== undefined, value: body }];
  return nodes(body, segments.slice(0, -1))
    .filter(isObject)
    .map((parent) => ({ present: last.name in parent, value: parent[last.name] }));
}

const FORMATS: Record<string, (v: unknown) => boolean> = {
  uri: (v) => typeof v === 'string' && /^[a-z][a-z0-9+.-]*:\/\//i.test(v) && URL.canParse(v),
  'date-time': (v) =>
    typeof v === 'string' && /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/.test(v) && !Number.isNaN(Date.parse(v)),
  'unix-seconds': (v) => Number.isInteger(v) && (v as number) > 1e9 && (v as number) < 1e11,
  rfc2822: (v) =>
    typeof v === 'string' && /^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} [+-]\d{4}$/.test(v),
};

/** Checks a body against a documented shape; `key` prefixes the fact ids ("ListGetKeys:200"). */
export function checkShape(report: ConformanceReport, key: string, shape: ShapeFact, body: unknown): void {
  const nullable = new Set(shape.nullable ?? []);
  for (const path of shape.required ?? []) {
    for (const { present, value } of instances(body, path))
      report.fact(`${key}.required:${path}`, present && (value !== null || nullable.has(path)), () =>
        present
          ? `${path} is null, which the description does not allow`
          : `${path} is missing, which the description requires`,
      );
  }
  const documented = new Set([...(shape.required ?? []), ...(shape.optional ?? []), ...nullable]);
  for (const path of documented) {
    for (const { present, value } of instances(body, path)) {
      report.seen.add(`${key}.${path}`);
      if (!present) report.seenAbsent.add(`${key}.${path}`);
      else if (value === null) report.seenNull.add(`${key}.${path}`);
      if (!present) continue;
      if (nullable.has(path)) report.checked.add(`${key}.nullable:${path}`);
      else
        report.fact(
          `${key}.nonNull:${path}`,
          value !== null,
          () => `${path} is null, which the description does not allow`,
        );
    }
  }
  for (const { path, keys } of shape.closed ?? []) {
    const allowed = new Set(keys);
    for (const node of nodes(body, parse(path)).filter(isObject)) {
      const extra = Object.keys(node).filter((k) => !allowed.has(k));
      report.fact(
        `${key}.closed:${path || '(body)'}`,
        extra.length === 0,
        () =>
          `${path || 'the body'} carries ${extra.join(', ')}, which the description does not document (it has ${keys.join(', ')})`,
      );
    }
  }
  for (const [path, format] of Object.entries(shape.formats ?? {})) {
    for (const { present, value } of instances(body, path)) {
      if (!present || value === null) continue;
      report.fact(
        `${key}.format:${path}`,
        FORMATS[format]!(value),
        () => `${path} is ${JSON.stringify(value)}, not ${format}`,
      );
    }
  }
}

function pathPattern(template: string): RegExp {
  const literal = template.split(/\{[^}]+\}/).map((part) => part.replace(/[.*+?^$()|[\]\\{}]/g, '\\$&'));
  return new RegExp(`^${literal.join('[^/]+')}$`);
}

/** The operation a request addresses: method and path template (fewer placeholders win: ".../verify"). */
export function matchOperation(
  facts: ProviderFacts,
  method: string,
  pathname: string,
): OperationFact | undefined {
  const placeholders = (o: OperationFact) => (o.path.match(/\{/g) ?? []).length;
  return [...facts.operations]
    .sort((a, b) => placeholders(a) - placeholders(b))
    .find((o) => o.method === method && pathPattern(o.path).test(decodeURIComponent(pathname)));
}

function authHolds(auth: AuthFact, headers: Record<string, string>): string | undefined {
  const authorization = headers.authorization ?? '';
  switch (auth.scheme) {
    case 'bearer':
      return /^Bearer \S+$/.test(authorization) ? undefined : 'no "Authorization: Bearer <token>" header';
    case 'basic': {
      const encoded = /^Basic (\S+)$/.exec(authorization)?.[1];
      if (!encoded) return 'no "Authorization: Basic <user:password>" header';
      const decoded = Buffer.from(encoded, 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      if (colon < 0) return 'the basic credential has no ":"';
      if (auth.userPattern && !auth.userPattern.test(decoded.slice(0, colon)))
        return `the basic-auth user does not match ${auth.userPattern}`;
      return undefined;
    }
    case 'headers': {
      const missing = auth.headers.filter((h) => !headers[h]);
      return missing.length === 0 ? undefined : `missing the ${missing.join(', ')} header(s)`;
    }
  }
}

const statusDocumented = (status: number, statuses: StatusFact[]): boolean =>
  statuses.some(
    (s) => s === status || (s === '4XX' && status >= 400 && status < 500) || (s === '5XX' && status >= 500),
  );

function requestBody(request: RecordedRequest): unknown {
  if (request.body === undefined) return undefined;
  const type = request.headers['content-type'] ?? '';
  if (type.startsWith('application/x-www-form-urlencoded'))
    return Object.fromEntries(new URLSearchParams(request.body).entries());
  try {
    return JSON.parse(request.body) as unknown;
  } catch {
    return request.body;
  }
}

/**
 * Checks every recorded request of an adapter and every answer of its sandbox against the provider's facts:
 * documented method and path, auth, required and undocumented request fields and query parameters; documented
 * statuses, required and nullable response fields, no undocumented (pagination) fields, formats, the error
 * body; on a 429 the documented rate-limit headers, the reset in its unit, and that the adapter waited as
 * long as that unit says.
 */
export function checkRecording(
  facts: ProviderFacts,
  events: RecordedEvent[],
  report = new ConformanceReport(facts),
): ConformanceReport {
  const general = facts.generalStatuses?.statuses ?? [];
  events.forEach((event, index) => {
    if (event.kind !== 'exchange') return;
    const { request, response } = event;
    const where = `${request.method} ${request.url.pathname}`;
    const op = matchOperation(facts, request.method, request.url.pathname);
    report.fact('route', op !== undefined, () => `${where} is no documented operation of ${facts.provider}`);
    if (!op) return;
    const id = op.operationId;
    report.operations.add(id);
    report.fact(`${id}:route`, true, () => '');

    const authProblem = authHolds(op.auth, request.headers);
    report.fact(
      `${id}:auth`,
      authProblem === undefined,
      () => `${where}: ${authProblem} (${op.auth.scheme} is documented)`,
    );

    const query = [...new Set(request.url.searchParams.keys())];
    if (op.query || query.length > 0) {
      const documented = new Set(op.query?.documented ?? []);
      const extra = query.filter((q) => !documented.has(q));
      report.fact(
        `${id}:query.documented`,
        extra.length === 0,
        () => `${where} sends undocumented query parameter(s) ${extra.join(', ')}`,
      );
      for (const name of op.query?.required ?? [])
        report.fact(
          `${id}:query.required:${name}`,
          request.url.searchParams.has(name),
          () => `${where} omits the required query parameter ${name}`,
        );
    }

    if (op.request) {
      const type = request.headers['content-type'] ?? '';
      report.fact(
        `${id}:request.contentType`,
        type.startsWith(op.request.contentType),
        () => `${where} sends ${type || 'no content type'}, where ${op.request!.contentType} is documented`,
      );
      checkShape(report, `${id}:request`, op.request, requestBody(request));
    } else {
      report.fact(
        `${id}:request.none`,
        request.body === undefined || request.body === '',
        () => `${where} sends a body the operation does not take`,
      );
    }

    report.fact(
      `${id}:statuses`,
      statusDocumented(response.status, [...op.statuses, ...general]),
      () => `${where} answered ${response.status}; documented: ${[...op.statuses, ...general].join(', ')}`,
    );
    const shape = op.responses[response.status];
    if (shape) checkShape(report, `${id}:${response.status}`, shape, response.body);
    else if (response.status >= 400) {
      report.fact(
        'error.body',
        response.body !== undefined,
        () => `${where} answered ${response.status} without the documented error body`,
      );
      checkShape(report, 'error', facts.errorShape, response.body);
    }

    if (op.keyVerdict?.inconclusive?.includes(response.status)) {
      // The adapter's next call with the same credential must be one whose answer decides.
      const next = events
        .slice(index + 1)
        .find(
          (e): e is Extract<RecordedEvent, { kind: 'exchange' }> =>
            e.kind === 'exchange' && e.request.headers.authorization === request.headers.authorization,
        );
      const nextOp = next && matchOperation(facts, next.request.method, next.request.url.pathname);
      report.fact(
        `${id}:keyVerdict.inconclusive`,
        nextOp?.keyVerdict !== undefined &&
          !nextOp.keyVerdict.inconclusive?.includes(next!.response.status) &&
          [...nextOp.keyVerdict.accepted, ...nextOp.keyVerdict.rejected].includes(next!.response.status),
        () =>
          `${where} answered ${response.status}, which says nothing about the key (${op.keyVerdict!.source.ref}), and the adapter's next call with that key ${next ? `(${next.request.method} ${next.request.url.pathname}, ${next.response.status})` : '(none)'} does not decide it`,
      );
    }

    if (response.status === 429 && facts.rateLimit) {
      const { headers, reset } = facts.rateLimit;
      for (const h of headers)
        report.fact(
          `rateLimit.header:${h}`,
          h in response.headers,
          () => `${where}: a 429 without the documented ${h} header`,
        );
      const raw = response.headers[reset.header];
      const value = Number(raw);
      if (raw !== undefined && Number.isFinite(value)) {
        const epoch = value > 1e9;
        report.fact(
          'rateLimit.unit',
          reset.unit === 'epoch-seconds' ? epoch && value * 1000 >= response.at - 1000 : !epoch && value >= 0,
          () =>
            `${reset.header}: ${raw} is not ${reset.unit === 'epoch-seconds' ? 'a Unix time in seconds' : 'a number of seconds until the reset'}`,
        );
        const next = events[index + 1];
        if (next?.kind === 'wait') {
          const expected = reset.unit === 'epoch-seconds' ? value * 1000 - response.at : value * 1000;
          report.fact(
            'rateLimit.wait',
            Math.abs(next.ms - expected) <= 1000,
            () =>
              `after ${reset.header}: ${raw} (${reset.unit}) the adapter waited ${next.ms} ms, not about ${Math.round(expected)} ms`,
          );
        }
      }
    }
  });
  return report;
}
