import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { importCommand } from '../../bin/commands/import.js';
import { rehearse } from '../../bin/commands/rehearse.js';
import { rollback } from '../../bin/commands/rollback.js';
import { rotate } from '../../bin/commands/rotate.js';
import { shownArg } from '../../bin/commands/runtime.js';
import { status } from '../../bin/commands/status.js';
import type { Command, CommandIO } from '../../bin/commands/types.js';
import { type LoopbackAws, startLoopbackAws } from '../../local/aws/server.js';
import { REHEARSAL_PROVIDERS } from '../../local/rehearsal/providers.js';
import { DEFAULT_SCENARIOS, SCENARIOS } from '../../local/rehearsal/scenarios.js';
import {
  assertNoSecret,
  brief,
  CaseCounts,
  hostileString,
  parameters,
  SEEDS,
  secretValue,
  TripwireError,
  weakenedParameters,
} from './support.js';

/**
 * Surface 7: the command line. `rekey rotate`, `rollback`, `import`, `status` and `rehearse` get generated
 * argv — the documented flags with valid values, and hostile tokens: unknown flags, flags without values,
 * booleans given values, values that are not durations or integers, control characters, ANSI escapes,
 * newlines, 100 KB values, duplicated flags, missing or extra positionals, and a secret-looking value where
 * a careless person would put the key (`--key=…`, after `--provide-key`, as a second positional, as
 * `--key-id`) — while the real key is piped on stdin. Each case has an independent verdict (the usage text's
 * contract in a few lines, not the commands' parsers), and:
 *   - the command never throws: it returns 0, 1 or 2;
 *   - argv the contract refuses exits 2 with the command's usage printed once, after a first line that
 *     names an offending flag (or the positional/stdin it is about), having read nothing from stdin, sent
 *     nothing to AWS, and stored nothing;
 *   - argv the contract accepts is not refused as a usage error: it reaches AWS (the loopback, empty, so the
 *     first call ends the case: no secret exists) or is refused by a later check with exit 1;
 *   - no generated secret — the key on stdin, the value passed where the key was expected — appears in
 *     stdout or stderr.
 * AWS_ENDPOINT_URL points at a loopback endpoint that counts every request; `rehearse` (which brings its own
 * loopback) meets a tripwire on the first server it starts. What the CLI gets wrong is kept as FINDING todos.
 */

const counts = new CaseCounts();
after(() => counts.print());

const SECRET_NAME = 'prod/sendgrid/api-key';
const ENTRY = 'sendgrid-api-key';
const INVENTORY = `api_keys:
  - name: ${ENTRY}
    provider: SendGrid
    vault_path: ${SECRET_NAME}
    rotation_frequency: 90d
    rotator_secret: rekey/rotator/sendgrid
    options: { scopes: [mail.send] }
rotation_schedules:
  - secret: ${SECRET_NAME}
    schedule: "0 2 1 */3 *"
    grace_period: 4h
`;

let aws: LoopbackAws;
let dir = '';
let inventoryPath = '';
const saved = { ...process.env };
before(async () => {
  aws = await startLoopbackAws();
  dir = mkdtempSync(join(tmpdir(), 'rekey-cli-property-'));
  inventoryPath = join(dir, 'rekey.yaml');
  writeFileSync(inventoryPath, INVENTORY);
  delete process.env.REKEY_LEASE_TABLE;
  Object.assign(process.env, {
    REKEY_SCHEDULE_GROUP: 'rekey',
    REKEY_SCHEDULER_ROLE_ARN: 'arn:aws:iam::123456789012:role/rekey-scheduler',
    REKEY_REVOKER_ARN: 'arn:aws:lambda:us-east-1:123456789012:function:rekey-revoker',
    REKEY_ALERT_TOPIC_ARN: 'arn:aws:sns:us-east-1:123456789012:rekey-alerts',
    // Never the public SendGrid API, should an accepted case get that far.
    REKEY_PROVIDER_ENDPOINT_SENDGRID: 'http://127.0.0.1:9',
  });
});
after(async () => {
  await aws.stop();
  rmSync(dir, { recursive: true, force: true });
  process.env = { ...saved };
});

// --- the contract, per command ----------------------------------------------------------------------------

interface FlagSpec {
  type: 'boolean' | 'string';
  /** Values the usage text documents (string flags). */
  valid?: fc.Arbitrary<string>;
  /** Whether a (hostile) value is acceptable: the usage text in one line; undefined: can't say. */
  judge?: (value: string) => boolean | undefined;
}

interface CommandSpec {
  command: Command;
  /** The positional's valid values, and how a message names it when there are none or too many. */
  positional?: {
    valid: fc.Arbitrary<string>;
    judge: (value: string) => boolean | undefined;
    word: RegExp;
    /** The command also runs without it (`rekey status` shows every key). */
    optional?: boolean;
  };
  /** How a refusal of a positional is worded when the command takes none. */
  noPositional?: RegExp;
  flags: Record<string, FlagSpec>;
  /** Flags every case carries (the test inventory). */
  fixed: () => string[];
  /** Cross-flag rules of the usage text: the offending flag, if any. */
  crossCheck?: (values: Map<string, string | true>) => string | undefined;
  /** Whether the command reads stdin for these values, and what it accepts there. */
  stdin?: { reads: (values: Map<string, string | true>) => boolean; judge: (text: string) => boolean };
  /** The first line of the usage text a parse error prints. */
  usageMarker: string;
  /** Import binds a value option to the next token whatever it is (key ids may start with "-"). */
  bindsAnyValue?: boolean;
  /** Exit 2 without the usage text, for the command's documented checks after parsing (see the FINDING). */
}

const DURATION = /^\s*\d+\s*[smhdw]\s*$/;
const duration = fc.oneof(
  fc.constantFrom('0s', '5m', '1h', '4h', '300s', '10m'),
  fc.tuple(fc.nat({ max: 1_000 }), fc.constantFrom('s', 'm', 'h', 'd', 'w')).map(([n, u]) => `${n}${u}`),
);
/** An integer ≥ min: plain digits; other spellings Number() reads as integers ("0x10", "1e3", " 5") are unsure. */
const integer =
  (min: number) =>
  (v: string): boolean | undefined => {
    if (/^\d+$/.test(v)) return Number(v) >= min;
    const n = Number(v);
    return Number.isInteger(n) && n >= min ? undefined : false;
  };
const list = (known: readonly string[]) => (v: string) =>
  v === '' || v.split(',').every((item) => known.includes(item.trim()));
const providerNames = Object.keys(REHEARSAL_PROVIDERS);
const scenarioNames = SCENARIOS.map((s) => s.name);

/** Where the inventory is: the test's file (hostile paths are FINDING B's subject for status and import). */
const inventory = (): string[] => ['--inventory', inventoryPath];

const ROTATE: CommandSpec = {
  command: rotate,
  positional: {
    valid: fc.constant(SECRET_NAME),
    // Any name parses; a secret outside the inventory is refused by the routes (exit 1), not as usage.
    judge: () => true,
    word: /exactly one secret/,
  },
  flags: {
    emergency: { type: 'boolean' },
    grace: { type: 'string', valid: duration, judge: (v) => DURATION.test(v) },
    'no-wait': { type: 'boolean' },
    'provide-key': { type: 'boolean' },
    timeout: { type: 'string', valid: duration, judge: (v) => DURATION.test(v) },
    json: { type: 'boolean' },
    // The flag is fixed to the test inventory; an extra, hostile --inventory is a file that can't be read.
    inventory: { type: 'string', valid: fc.constant('rekey.yaml'), judge: () => true },
  },
  fixed: inventory,
  crossCheck: (values) => (values.has('grace') && !values.has('emergency') ? '--grace' : undefined),
  stdin: { reads: (values) => values.has('provide-key'), judge: () => true },
  usageMarker: 'Usage: rekey rotate',
};

const ROLLBACK: CommandSpec = {
  command: rollback,
  positional: { valid: fc.constant(SECRET_NAME), judge: () => true, word: /exactly one secret/ },
  flags: {
    'revoke-now': { type: 'boolean' },
    json: { type: 'boolean' },
    inventory: { type: 'string', valid: fc.constant('rekey.yaml'), judge: () => true },
  },
  fixed: inventory,
  usageMarker: 'Usage: rekey rollback',
};

const IMPORT: CommandSpec = {
  command: importCommand,
  positional: {
    valid: fc.constantFrom(ENTRY, SECRET_NAME),
    judge: (v) => v === ENTRY || v === SECRET_NAME,
    word: /exactly one inventory entry|no inventory entry/,
  },
  flags: {
    'key-id': {
      type: 'string',
      // SendGrid's ids are base64url: they may start with "-".
      valid: fc.constantFrom('Yf3kz9Tq', '-x9Qm2', 'key-1'),
      judge: (v) => v.length > 0,
    },
    'created-at': {
      type: 'string',
      valid: fc.constantFrom('2026-01-31T00:00:00Z', '2025-06-01T12:30:00+02:00', '2024-02-29'),
      // An ISO 8601 date, or date and time with its zone; nothing else (Date() alone reads "0", "1 2").
      judge: (v) =>
        /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2}))?$/.test(v) &&
        !Number.isNaN(Date.parse(v)),
    },
    endpoint: { type: 'string', valid: fc.constant('http://127.0.0.1:9'), judge: () => true },
    force: { type: 'boolean' },
  },
  fixed: inventory,
  crossCheck: (values) => (values.has('key-id') ? undefined : '--key-id'),
  stdin: { reads: () => true, judge: (text) => text.trim() !== '' && !/\s/.test(text.trim()) },
  usageMarker: 'Usage: rekey import',
  bindsAnyValue: true,
};

const STATUS: CommandSpec = {
  command: status,
  positional: {
    valid: fc.constantFrom(ENTRY, SECRET_NAME),
    judge: (v) => v === ENTRY || v === SECRET_NAME,
    word: /name at most one secret|no inventory entry or vault_path/,
    optional: true,
  },
  flags: { json: { type: 'boolean' } },
  fixed: inventory,
  usageMarker: 'Usage: rekey status',
};

const REHEARSE: CommandSpec = {
  command: rehearse,
  noPositional: /unexpected argument/,
  flags: {
    keys: { type: 'string', valid: fc.constantFrom('1', '8', '40'), judge: integer(1) },
    instances: { type: 'string', valid: fc.constantFrom('1', '24'), judge: integer(1) },
    rps: { type: 'string', valid: fc.constantFrom('1', '120'), judge: integer(1) },
    seed: { type: 'string', valid: fc.constantFrom('0', '1', '42'), judge: integer(0) },
    scale: { type: 'string', valid: fc.constantFrom('1', '1200'), judge: integer(1) },
    grace: { type: 'string', valid: fc.constantFrom('0', '3600'), judge: integer(0) },
    providers: {
      type: 'string',
      valid: fc.subarray(providerNames, { minLength: 1 }).map((p) => p.join(',')),
      judge: list(providerNames),
    },
    scenario: {
      type: 'string',
      valid: fc.subarray(DEFAULT_SCENARIOS, { minLength: 1 }).map((s) => s.join(',')),
      judge: list(scenarioNames),
    },
    report: { type: 'string', valid: fc.constant(join(tmpdir(), 'rekey-never-written')), judge: () => true },
    json: { type: 'boolean' },
    target: { type: 'string', valid: fc.constant('local'), judge: (v) => v === 'local' },
  },
  fixed: () => [],
  usageMarker: 'Usage: rekey rehearse',
};

const SPECS: CommandSpec[] = [ROTATE, ROLLBACK, IMPORT, STATUS, REHEARSE];

// --- argv ---------------------------------------------------------------------------------------------------

/** One generated piece of argv: its tokens, and the flag (or positional) the contract refuses it for. */
interface Piece {
  tokens: string[];
  /** Set for a piece the parse itself refuses; the text a message must contain to name it. */
  offender?: string | RegExp;
  /** For a flag occurrence: its name, value (true for a boolean), and the value's verdict (the last occurrence counts). */
  flag?: { name: string; value: string | true; verdict: boolean | undefined };
  positional?: { value: string; verdict: boolean | undefined };
}

/** Names a careless person (or a script) passes the key under. */
const KEYISH = ['key', 'api-key', 'apikey', 'secret', 'token', 'value', 'password', 'new-key'];

/** Tokens that are never a value here: a generated value equal to a flag would change the parse. */
const isFlagLike = (spec: CommandSpec) => (v: string) =>
  v === '--' || Object.keys(spec.flags).some((f) => v === `--${f}` || v.startsWith(`--${f}=`));

/** A hostile value, of any of the shapes the shared generator makes, with a short tail of huge ones. */
const hostileToken = (spec: CommandSpec) => hostileString.filter((v) => !isFlagLike(spec)(v));

function flagPiece(spec: CommandSpec, name: string, flag: FlagSpec): fc.Arbitrary<Piece> {
  if (flag.type === 'boolean')
    return fc.oneof(
      {
        weight: 6,
        arbitrary: fc.constant<Piece>({ tokens: [`--${name}`], flag: { name, value: true, verdict: true } }),
      },
      // A boolean given a value: "does not take an argument".
      hostileToken(spec).map(
        (v): Piece => ({
          tokens: [`--${name}=${v}`],
          offender: `--${name}`,
          flag: { name, value: true, verdict: true },
        }),
      ),
    );
  const value = fc.oneof(
    { weight: 6, arbitrary: flag.valid!.map((v) => ({ v, verdict: true as boolean | undefined })) },
    { weight: 1, arbitrary: hostileToken(spec).map((v) => ({ v, verdict: flag.judge!(v) })) },
  );
  return fc.tuple(value, fc.boolean()).map(([{ v, verdict }, inline]): Piece => {
    // A separate value that looks like an option is ambiguous to parseArgs (import binds it instead): an
    // error of the parse itself, which a later occurrence does not override.
    const ambiguous = !inline && v.length > 1 && v.startsWith('-') && !spec.bindsAnyValue;
    return {
      tokens: inline ? [`--${name}=${v}`] : [`--${name}`, v],
      ...(ambiguous ? { offender: `--${name}` } : {}),
      flag: { name, value: v, verdict: ambiguous ? true : verdict },
    };
  });
}

/** Flags outside the usage text: hostile names, key-ish names with the case's secret as the value. */
function unknownFlag(spec: CommandSpec, secret: string): fc.Arbitrary<Piece> {
  const known = (n: string) => Object.hasOwn(spec.flags, n);
  return fc.oneof(
    fc
      .tuple(fc.constantFrom(...KEYISH), fc.boolean())
      .filter(([n]) => !known(n))
      .map(
        ([n, inline]): Piece => ({
          // Separate, the secret would be a positional: it stays inline so the verdict is about the flag.
          tokens: inline ? [`--${n}=${secret}`] : [`--${n}`],
          offender: `--${n}`,
        }),
      ),
    fc
      .oneof(
        fc.constantFrom(
          'GRACE',
          'emergencyy',
          'grace-period',
          'dry-run',
          'verbose',
          'profile',
          'region',
          'force',
          'key-id',
          'keys',
        ),
        fc.stringMatching(/^[a-z][a-z0-9-]{0,15}$/),
        hostileString.filter((s) => s.length > 0 && s.length < 200 && !s.includes('=') && !s.startsWith('-')),
      )
      .filter((n) => !known(n))
      .map((n): Piece => ({ tokens: [`--${n}`], offender: `--${n}` })),
    // A short option (or a group of them): parseArgs names the first letter.
    fc
      .stringMatching(/^[a-zA-Z][a-zA-Z0-9]{0,5}$/)
      .map((n): Piece => ({ tokens: [`-${n}`], offender: `-${n[0]}` })),
  );
}

interface CliCase {
  argv: string[];
  stdin: string;
  secret: string;
  /** What the contract refuses: each a text (or pattern) the first line of the message must contain. */
  offenders: Array<string | RegExp>;
  /** Whether argv itself is refused (then stdin must not even be read); else only stdin is. */
  argvRefused: boolean;
  /** A piece whose verdict the contract can't give. */
  unsure: boolean;
  /** Whether the command may read stdin (it must not on a refused case). */
  readsStdin: boolean;
}

function cliCase(spec: CommandSpec): fc.Arbitrary<CliCase> {
  const flagPieces = Object.entries(spec.flags).map(([name, flag]) => flagPiece(spec, name, flag));
  return fc
    .record({
      secret: secretValue,
      positionals: spec.positional
        ? fc.oneof(
            { weight: 12, arbitrary: spec.positional.valid.map((v) => [v]) },
            {
              weight: 2,
              arbitrary: hostileToken(spec)
                .filter((v) => !v.startsWith('-'))
                .map((v) => [v]),
            },
            { weight: 1, arbitrary: fc.constant<string[]>([]) },
          )
        : fc.oneof(
            { weight: 8, arbitrary: fc.constant<string[]>([]) },
            {
              weight: 1,
              arbitrary: hostileToken(spec)
                .filter((v) => !v.startsWith('-'))
                .map((v) => [v]),
            },
          ),
      /** The secret as a second positional, e.g. `--provide-key SG.…` (import: after --key-id, a key). */
      secretPositional: fc.oneof({ weight: 10, arbitrary: fc.constant(false) }, fc.constant(true)),
      flags: fc.array(fc.oneof(...flagPieces), { maxLength: 5 }),
      broken: fc.oneof({ weight: 2, arbitrary: fc.constant(false) }, fc.constant(true)),
      missing: fc.oneof({ weight: 12, arbitrary: fc.constant(false) }, fc.constant(true)),
      keyIdSecret: fc.oneof({ weight: 6, arbitrary: fc.constant(false) }, fc.constant(true)),
      order: fc.nat(),
      stdinHostile: fc.option(hostileString, { freq: 6 }),
    })
    .chain((c) => unknownFlag(spec, c.secret).map((unknown) => ({ ...c, unknown })))
    .map((c): CliCase => {
      const pieces: Piece[] = [...c.flags];
      // Import needs --key-id; most cases carry one (sometimes the secret, passed where the id goes).
      if (spec === IMPORT && c.order % 5 !== 0)
        pieces.push({
          tokens: ['--key-id', c.keyIdSecret ? c.secret : 'Yf3kz9Tq'],
          flag: { name: 'key-id', value: c.keyIdSecret ? c.secret : 'Yf3kz9Tq', verdict: true },
        });
      if (c.broken) pieces.push(c.unknown);
      // Positionals go first (parseArgs reports whichever problem comes first; the verdict takes any).
      const positionals: Piece[] = c.positionals.map((value) => ({
        tokens: [value],
        positional: { value, verdict: spec.positional?.judge(value) ?? false },
      }));
      // Only ever a second positional: as the only one it would be the secret's (or entry's) name, echoed by design.
      const secretPositional =
        c.secretPositional && positionals.length === 1 && spec.positional !== undefined;
      if (secretPositional)
        positionals.push({ tokens: [c.secret], positional: { value: c.secret, verdict: false } });
      // Interleave: a rotation of the pieces, positionals first or last.
      const shift = pieces.length ? c.order % pieces.length : 0;
      const rotated = [...pieces.slice(shift), ...pieces.slice(0, shift)];
      const ordered = c.order % 2 === 0 ? [...positionals, ...rotated] : [...rotated, ...positionals];
      const missing = c.missing ? valueMissingPiece(spec, c.order) : undefined;
      if (missing) ordered.push(missing);
      const argv = [...spec.fixed(), ...ordered.flatMap((p) => p.tokens)];

      const offenders: Array<string | RegExp> = ordered.flatMap((p) => (p.offender ? [p.offender] : []));
      let unsure = false;
      // The last occurrence of a flag wins (parseArgs keeps the last value): judge that one.
      const values = new Map<string, string | true>();
      const lastVerdict = new Map<string, boolean | undefined>();
      for (const p of ordered)
        if (p.flag) {
          values.set(p.flag.name, p.flag.value);
          lastVerdict.set(p.flag.name, p.flag.verdict);
        }
      for (const [name, verdict] of lastVerdict) {
        if (verdict === undefined) unsure = true;
        if (verdict === false && !offenders.includes(`--${name}`)) offenders.push(`--${name}`);
      }
      const positionalValues = ordered.filter((p) => p.positional);
      if (spec.positional) {
        const allowed = spec.positional.optional ? [0, 1] : [1];
        if (!allowed.includes(positionalValues.length)) offenders.push(spec.positional.word);
        else if (positionalValues[0] && positionalValues[0].positional!.verdict === false)
          offenders.push(spec.positional.word);
      } else if (positionalValues.length > 0) offenders.push(spec.noPositional!);
      const cross = spec.crossCheck?.(values);
      if (cross) offenders.push(cross);
      const stdin = c.stdinHostile ?? c.secret;
      const readsStdin = spec.stdin?.reads(values) ?? false;
      const argvRefused = offenders.length > 0;
      if (readsStdin && !spec.stdin!.judge(stdin)) offenders.push(/standard input/);
      return { argv, stdin, secret: c.secret, offenders, argvRefused, unsure, readsStdin };
    });
}

/** A string flag as the last token, without its value: "argument missing". */
function valueMissingPiece(spec: CommandSpec, n: number): Piece | undefined {
  const names = Object.entries(spec.flags)
    .filter(([, f]) => f.type === 'string')
    .map(([name]) => name);
  if (names.length === 0) return undefined;
  const name = names[n % names.length]!;
  return { tokens: [`--${name}`], offender: `--${name}` };
}

// --- running a command ----------------------------------------------------------------------------------------

const WRITES = /Put|Create|Update|Tag|Rotate|Delete|Cancel|Publish|Restore|Invoke|Remove/;

interface Run {
  code: unknown;
  threw?: unknown;
  stdout: string;
  stderr: string;
  stdinReads: number;
  requests: string[];
  /** Servers the command tried to start (rehearse): each refused by the tripwire. */
  listens: number;
}

async function runCommand(command: Command, argv: string[], stdin: string): Promise<Run> {
  const out: string[] = [];
  const err: string[] = [];
  let stdinReads = 0;
  const io: CommandIO = {
    out: (t) => out.push(t),
    err: (t) => err.push(t),
    stdin: async () => {
      stdinReads += 1;
      return stdin;
    },
    isTTY: false,
  };
  aws.requestCounts.clear();
  // rehearse runs a whole world of its own: its first server is where real work starts, and ends the case.
  const listen = Server.prototype.listen;
  let listens = 0;
  Server.prototype.listen = function tripwire() {
    listens += 1;
    throw new TripwireError('a server');
  } as typeof listen;
  const run: Run = { code: undefined, stdout: '', stderr: '', stdinReads: 0, requests: [], listens: 0 };
  try {
    run.code = await command.run(argv, io);
  } catch (error) {
    run.threw = error;
  } finally {
    Server.prototype.listen = listen;
  }
  return {
    ...run,
    stdout: out.join('\n'),
    stderr: err.join('\n'),
    stdinReads,
    requests: [...aws.requestCounts.keys()],
    listens,
  };
}

const occurrences = (text: string, marker: string) => text.split(marker).length - 1;
/** Whether the line names the offender: as written, or described where it may not be shown (shownArg). */
const names = (line: string, offender: string | RegExp) =>
  typeof offender === 'string'
    ? line.includes(offender) || line.includes(shownArg(offender))
    : offender.test(line);

/** The checks every case makes. */
function checkRun(spec: CommandSpec, c: CliCase, run: Run): void {
  const shown = `argv ${brief(JSON.stringify(c.argv), 400)}`;
  assert.equal(
    run.threw,
    undefined,
    `the command threw: ${run.threw instanceof Error ? brief(run.threw.message) : ''} on ${shown}`,
  );
  assert.ok([0, 1, 2].includes(run.code as number), `exit code ${String(run.code)} on ${shown}`);
  assertNoSecret(`${run.stdout}\n${run.stderr}`, [c.secret], 'the output');
  const stored = run.requests.filter((op) => WRITES.test(op.split('.')[1] ?? ''));
  assert.deepEqual(stored, [], `wrote to AWS on ${shown}`);
  const usage = occurrences(run.stderr, spec.usageMarker);
  const refused = c.offenders.length > 0;
  if (refused) {
    assert.equal(run.code, 2, `a usage error exited ${String(run.code)}: ${brief(run.stderr)} on ${shown}`);
    assert.equal(usage, 1, `the usage text printed ${usage} times: ${brief(run.stderr)} on ${shown}`);
    const first = run.stderr.split('\n\n')[0]!;
    assert.ok(
      c.offenders.some((o) => names(first, o)),
      `the message names none of ${c.offenders.map(String).join(', ')}: ${brief(first)} on ${shown}`,
    );
    assert.deepEqual(run.requests, [], `a usage error reached AWS on ${shown}`);
    assert.equal(run.listens, 0, `a usage error started a server on ${shown}`);
    if (c.argvRefused) assert.equal(run.stdinReads, 0, `a usage error read stdin on ${shown}`);
    // With --json the error is also on stdout, as JSON; otherwise stdout stays empty.
    if (c.argv.includes('--json') && run.stdout !== '')
      assert.equal(
        (JSON.parse(run.stdout) as { error?: { code?: string } }).error?.code,
        'USAGE',
        `a --json usage error printed something else to stdout on ${shown}`,
      );
    else assert.equal(run.stdout, '', `a usage error printed to stdout on ${shown}`);
  } else if (!c.unsure) {
    assert.equal(usage, 0, `accepted argv was refused as usage: ${brief(run.stderr)} on ${shown}`);
    assert.notEqual(run.code, 0, `an empty loopback cannot succeed: ${brief(run.stdout)}`);
    // Accepted: the first AWS call (or rehearse's first server) is reached, or a later check refuses (exit 1).
    const reached = run.requests.length > 0 || run.listens > 0;
    assert.ok(
      reached || run.code === 1,
      `accepted argv neither reached AWS nor was refused: ${brief(run.stderr)} on ${shown}`,
    );
    if (!c.readsStdin) assert.equal(run.stdinReads, 0, `stdin read without a reason on ${shown}`);
  }
}

function cliProperty(spec: CommandSpec, count: boolean, check = checkRun) {
  return fc.asyncProperty(cliCase(spec), async (c) => {
    if (count) counts.count('cli', spec.command.name);
    const run = await runCommand(spec.command, c.argv, c.stdin);
    check(spec, c, run);
  });
}

// --- weakened validators (test-only) ------------------------------------------------------------------------

/** A tolerant parse (parseArgs with strict: false): unknown options are dropped instead of refused. */
function lenient(spec: CommandSpec): CommandSpec {
  const known = (token: string) => {
    const name = /^--([^=]*)/.exec(token)?.[1];
    return name !== undefined && Object.hasOwn(spec.flags, name);
  };
  const fixed = new Set(spec.fixed());
  return {
    ...spec,
    command: {
      ...spec.command,
      run: (args, io) =>
        spec.command.run(
          args.filter(
            (t, i) => fixed.has(t) || !t.startsWith('-') || known(t) || (i > 0 && known(args[i - 1]!)),
          ),
          io,
        ),
    },
  };
}

/** A usage error that quotes the command line back, "to help": the key passed in argv with it. */
function echoing(spec: CommandSpec): CommandSpec {
  return {
    ...spec,
    command: {
      ...spec.command,
      run: async (args, io) => {
        const code = await spec.command.run(args, io);
        if (code === 2)
          io.err(`rekey ${spec.command.name}: you ran: rekey ${spec.command.name} ${args.join(' ')}`);
        return code;
      },
    },
  };
}

/** Reads the key before looking at the arguments, so a usage error has already consumed stdin. */
function eager(spec: CommandSpec): CommandSpec {
  return {
    ...spec,
    command: {
      ...spec.command,
      run: async (args, io) => {
        const text = await io.stdin();
        return spec.command.run(args, { ...io, stdin: async () => text });
      },
    },
  };
}

describe('properties: CLI arguments', () => {
  for (const spec of SPECS) {
    it(`rekey ${spec.command.name}: hostile argv exits 2 naming the flag, with nothing read, sent or echoed`, async () => {
      await fc.assert(cliProperty(spec, true), parameters(SEEDS.cliArguments));
    });
  }

  it('a deliberately weakened validator (test-only) fails every property: lenient, echoing and eager parses', async () => {
    for (const [what, weaken] of [
      ['unknown options dropped (strict: false)', lenient],
      ['usage error quoting argv', echoing],
      ['stdin read before parsing', eager],
    ] as const) {
      for (const spec of SPECS) {
        const details = await fc.check(
          cliProperty(weaken(spec), false),
          weakenedParameters(SEEDS.cliArguments),
        );
        assert.equal(details.failed, true, `${what}, rekey ${spec.command.name}: the property must catch it`);
        console.log(
          `weakened CLI validator (${what}, rekey ${spec.command.name}): counterexample at case ${details.numRuns}`,
        );
      }
    }
  });

  // --- FINDINGs: what the properties above exclude, kept as failing cases --------------------------------------

  /** Placements the main property keeps the secret out of, because these commands quote them back. */
  const ECHOED: Array<[CommandSpec, (secret: string) => string[]]> = [
    [ROTATE, (x) => [...inventory(), SECRET_NAME, '--emergency', '--grace', x]],
    [ROTATE, (x) => [...inventory(), SECRET_NAME, '--timeout', x]],
    [REHEARSE, (x) => ['--keys', x]],
    [REHEARSE, (x) => ['--target', x]],
    [REHEARSE, (x) => ['--providers', x]],
    [REHEARSE, (x) => ['--scenario', x]],
    [REHEARSE, (x) => ['--target', 'staging', '--secrets', 'a', '--endpoint', x]],
    [REHEARSE, (x) => [x]],
    [STATUS, (x) => [...inventory(), x]],
    [IMPORT, (x) => [...inventory(), x, '--key-id', 'Yf3kz9Tq']],
  ];
  /** C0 (but newline) and C1 control characters: what a terminal acts on rather than shows. */
  const hasControl = (text: string) =>
    [...text].some((ch) => {
      const code = ch.codePointAt(0)!;
      return (code < 0x20 && code !== 0x0a) || (code >= 0x7f && code <= 0x9f);
    });

  it('a refused value is not quoted back: neither a secret-looking value nor raw control characters reach stderr', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...ECHOED),
        fc.oneof(secretValue, fc.constantFrom('\u001b]0;pwned\u0007\u001b[2J', 'x\rrekey: all good\u001b[K')),
        async ([spec, argv], value) => {
          const run = await runCommand(spec.command, argv(value), '');
          assert.ok(
            !run.stderr.includes(value),
            `rekey ${spec.command.name} quoted ${brief(value)}: ${brief(run.stderr)}`,
          );
          assert.ok(
            !hasControl(run.stderr),
            `rekey ${spec.command.name} wrote a control character: ${brief(run.stderr)}`,
          );
        },
      ),
      parameters(SEEDS.cliArguments, 40),
    );
  });

  it('status and import return exit 1 for an --inventory that cannot be read or is invalid, rather than throwing', async () => {
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'api_keys: [ {name: x, provider: Nope} ]\n');
    for (const spec of [STATUS, IMPORT])
      for (const path of [join(dir, 'missing.yaml'), dir, bad]) {
        const argv = ['--inventory', path, ...(spec === IMPORT ? [ENTRY, '--key-id', 'Yf3kz9Tq'] : [])];
        const run = await runCommand(spec.command, argv, 'SG.piped');
        assert.equal(run.threw, undefined, `rekey ${spec.command.name} --inventory ${path} threw`);
        assert.equal(run.code, 1);
      }
  });

  it('import refuses a --created-at that is not an ISO 8601 date, as a usage error with the usage text', async () => {
    for (const value of ['0', '1 2', 'March 7']) {
      const run = await runCommand(
        importCommand,
        [...inventory(), ENTRY, '--key-id', 'Yf3kz9Tq', '--created-at', value],
        'SG.piped',
      );
      assert.equal(run.code, 2, `--created-at ${brief(value)} was accepted`);
      assert.equal(occurrences(run.stderr, IMPORT.usageMarker), 1, 'the usage text');
    }
  });

  it('a refusal by AWS is exit 1, not the usage-error code 2', async () => {
    for (const spec of [ROTATE, ROLLBACK]) {
      const run = await runCommand(spec.command, [...inventory(), SECRET_NAME], '');
      assert.ok(run.requests.length > 0, 'reached AWS');
      assert.equal(run.code, 1, `rekey ${spec.command.name}: ${brief(run.stderr)}`);
    }
  });
});
