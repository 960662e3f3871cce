import { readFileSync } from 'node:fs';
import { parseDocument } from 'yaml';
import { z } from 'zod';
import { parseDurationSeconds } from '../lambdas/duration.js';
import { InvalidInputError } from '../lambdas/errors.js';
import { PROVIDERS } from '../lambdas/providers/index.js';
import type { KeyRoute } from '../lambdas/routes.js';
import {
  type RotationSchedule,
  rateFromFrequency,
  rotationWindow,
  ScheduleError,
  scheduleFromExpression,
} from './schedule.js';

/**
 * The key inventory (`rekey.yaml`): the guide's `api_keys` and `rotation_schedules` sections as the guide
 * writes them, plus rekey's own fields. `InventorySchema` checks each entry on its own; `resolveInventory`
 * checks the entries against each other and against the providers rekey can rotate, and returns one
 * `ManagedKeyPlan` per key — the stack's and the CLI's input model.
 */

/**
 * Characters that must never reach a message as they are: C0 and C1 controls and DEL (line breaks, ANSI
 * escapes, NUL), the Unicode line and paragraph separators, and the bidirectional overrides and isolates.
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is escaped
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;
const ESCAPES: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/**
 * A value from the inventory as a message quotes it back: each unsafe character as an escape ("\n", "\u001b"),
 * everything else as written, so an ordinary value reads unchanged and no value can break a problem's line,
 * forge another one or drive the terminal. Idempotent (the escapes are printable).
 */
export function shown(value: string): string {
  return value.replace(UNSAFE, (c) => ESCAPES[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** A bad inventory. The message names the file, the entry, the field and the fix — one line per problem. */
export class InventoryError extends InvalidInputError {
  /** Every problem found, each "<entry>: field "<field>" <problem>; <fix>". */
  readonly problems: string[];
  constructor(source: string, problems: string[]) {
    // Values are quoted with shown() where they are interpolated; this also covers the texts of zod and of
    // the schedule and provider-option parsers, which quote the input themselves.
    const lines = problems.map(shown);
    super('INVALID_INPUT', `inventory ${shown(source)} is invalid:\n  - ${lines.join('\n  - ')}`);
    this.problems = lines;
  }
}

const SECRET_NAME = /^[A-Za-z0-9/_+=.@-]{1,512}$/;
const SECRET_ARN = /^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]+$/;
const KMS_KEY_ARN = /^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key\/[A-Za-z0-9-]+$/;
const EMAIL = /^[^@\s]+@[^@\s]+\.[^@\s]+$/;
/** An IAM principal ARN as `aws:PrincipalArn` carries it, with `*` and `?` allowed in the name (ArnLike). */
const PRINCIPAL_ARN = /^arn:aws[a-z-]*:iam::\d{12}:(root|(user|role)\/[A-Za-z0-9+=,.@_/*?-]+)$/;

/** What to write instead, by field name; appended to every message about that field. */
const FIX: Record<string, string> = {
  api_keys: 'list the keys to rotate under api_keys (see README, "Inventory")',
  name: 'give the entry a unique name of letters, digits, ".", "_" or "-"',
  provider: 'name the provider, e.g. "SendGrid"',
  vault_path: 'write the Secrets Manager secret name, e.g. "prod/sendgrid/api-key"',
  rotation_frequency: 'write a duration such as 30d, 7d or 12h (at least 4h, at most 1000d)',
  used_by: 'list the applications that read the key, e.g. ["notification-service"]',
  supports_dual_key: 'write true or false',
  single_key_rotation:
    'write accept-interruption to let rekey revoke the key before creating its replacement',
  criticality: 'write low, medium, high or critical',
  auth_failure_baseline:
    'write the usual number of auth failures per 5 minutes, a whole number of at least 1',
  provider_api: 'write the URL of the provider key API, e.g. "https://api.sendgrid.com/v3/api_keys"',
  adapter: 'name a rekey provider adapter',
  rotator_secret:
    'name (or ARN) the secret holding the provider admin credential, e.g. "rekey/rotator/sendgrid"',
  options: 'write provider options as a mapping, e.g. { scopes: [mail.send] }',
  imported: 'write true once `rekey import` stored the current key, false before',
  secret_arn: 'write the full ARN of an existing secret, or remove the field to let the stack create it',
  kms_key_arn: 'write the ARN of the KMS key that encrypts the existing secret',
  rotator_kms_key_arn:
    'write the ARN of the customer managed KMS key that encrypts the rotator secret, or remove the field for aws/secretsmanager',
  readers:
    'list the IAM principal ARNs (patterns with * allowed) of the apps that read the key, e.g. ["arn:aws:iam::123456789012:role/notification-service-*"]',
  operators:
    'list the IAM principal ARNs (patterns with * allowed) of the people who run rekey import and rekey rotate --emergency, e.g. ["arn:aws:iam::123456789012:role/aws-reserved/sso.amazonaws.com/*/AWSReservedSSO_RekeyOperator_*"]',
  key_stacks:
    'write a whole number from 1 to 100: how many stacks hold the keys (the synth error for a large inventory suggests one)',
  secret: 'write the name or vault_path of an api_keys entry',
  schedule: 'write a 5-field cron such as "0 2 1 * *", or cron(...) / rate(...)',
  grace_period: 'write a duration such as 1h or 15m, shorter than the rotation interval',
  alert_on_failure: 'write true or false',
  rollback_on_failure: 'write true or false',
  rotation_window: 'write whole hours such as 2h that fit the schedule',
  notifications: 'write on_call, security and app_team lists of e-mail addresses or https URLs',
  on_call: 'list e-mail addresses or https:// URLs',
  security: 'list e-mail addresses or https:// URLs',
  app_team: 'list e-mail addresses or https:// URLs',
  providers: 'write per-provider settings, e.g. { sendgrid: { endpoint: "https://api.eu.sendgrid.com" } }',
  endpoint: 'write the https:// base URL of the provider API',
};

/** A refinement that runs a converter and turns its ScheduleError into a zod issue. */
function converted<T>(convert: (text: string) => T) {
  return z.string().transform((text, ctx): T => {
    try {
      return convert(text);
    } catch (error) {
      if (!(error instanceof ScheduleError)) throw error;
      // Name what the user wrote when the reason speaks of the converted form.
      const message = error.message.includes(text) ? error.message : `"${text}" → ${error.message}`;
      ctx.addIssue({ code: 'custom', message: shown(message) });
      return z.NEVER;
    }
  });
}

const Duration = z
  .string()
  .refine(
    (text) => parseDurationSeconds(text) !== undefined,
    'is not a duration (a whole number and s, m, h, d or w)',
  );

/**
 * A principal ARN pattern for a resource policy's `ArnNotLike aws:PrincipalArn`: an IAM user, role or the
 * account root, in a named account. A session ARN never matches (`aws:PrincipalArn` of a session is its
 * role's ARN), and a pattern that matches every user or role would exempt everyone, so both are refused.
 */
const PrincipalPattern = z.string().superRefine((text, ctx) => {
  if (/^arn:aws[a-z-]*:(sts::\d{12}:assumed-role|iam::\d{12}:assumed-role)\//.test(text)) {
    ctx.addIssue({
      code: 'custom',
      message: `is a role session ARN ("${shown(text)}"); aws:PrincipalArn of a session is its role's ARN: write arn:aws:iam::<account>:role/<role name>`,
    });
    return;
  }
  const match = PRINCIPAL_ARN.exec(text);
  if (!match) {
    ctx.addIssue({
      code: 'custom',
      message: `must be an IAM principal ARN such as arn:aws:iam::123456789012:role/<name> (user/<name> or root; * and ? allowed in the name), got "${shown(text)}"`,
    });
    return;
  }
  const name = match[1]!.replace(/^(user|role)\//, '');
  if (match[1] !== 'root' && /^[*?/]+$/.test(name)) {
    ctx.addIssue({
      code: 'custom',
      message: `matches every ${match[2]} of the account ("${shown(text)}"), which would exempt everyone from the secrets' resource policies; name the principals, e.g. arn:aws:iam::123456789012:role/<name>*`,
    });
  }
});

const Subscription = z
  .string()
  .refine(
    (text) => EMAIL.test(text) || /^https:\/\/\S+$/.test(text),
    'must be an e-mail address or an https:// URL',
  );

export const ApiKeySchema = z
  .object({
    /** Unique name of the entry; the CLI and the stack's construct ids use it. */
    name: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'must be 1–64 letters, digits, ".", "_" or "-"'),
    /** The provider as people write it ("SendGrid"); the adapter is derived from it unless `adapter` is set. */
    provider: z.string().min(1),
    environment: z.string().min(1).optional(),
    used_by: z.array(z.string().min(1)).default([]),
    /** The Secrets Manager secret name. */
    vault_path: z
      .string()
      .regex(SECRET_NAME, 'must be a Secrets Manager secret name (letters, digits, /_+=.@-)'),
    rotation_frequency: converted(rateFromFrequency),
    supports_dual_key: z.boolean().default(true),
    /** Opt-in for keys that cannot overlap: revoke, then create — with an interruption rekey announces and measures. */
    single_key_rotation: z.literal('accept-interruption').optional(),
    provider_api: z.url({ protocol: /^https?$/ }).optional(),
    criticality: z.enum(['low', 'medium', 'high', 'critical']).optional(),
    // rekey's own fields
    /** Auth failures per 5 minutes in normal operation; the spike alarm fires above 3 × this. */
    auth_failure_baseline: z.number().int().positive().default(1),
    adapter: z.string().min(1).optional(),
    rotator_secret: z
      .string()
      .refine((s) => SECRET_NAME.test(s) || SECRET_ARN.test(s), 'must be a secret name or a secret ARN')
      .optional(),
    options: z.record(z.string(), z.unknown()).default({}),
    imported: z.boolean().default(false),
    secret_arn: z.string().regex(SECRET_ARN, 'must be the full ARN of a Secrets Manager secret').optional(),
    kms_key_arn: z.string().regex(KMS_KEY_ARN, 'must be the ARN of a KMS key').optional(),
    /** The customer managed KMS key of the rotator secret: the key's roles may decrypt through Secrets Manager. */
    rotator_kms_key_arn: z.string().regex(KMS_KEY_ARN, 'must be the ARN of a KMS key').optional(),
    /** Who may read the key: when set, the secret's resource policy denies GetSecretValue to anyone else. */
    readers: z.array(PrincipalPattern).min(1).optional(),
  })
  .strict()
  .superRefine((entry, ctx) => {
    if (!entry.supports_dual_key && entry.single_key_rotation === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['supports_dual_key'],
        message:
          'is false: zero-downtime rotation needs two valid keys at once. Accept an interruption per rotation with single_key_rotation: accept-interruption, rotate this key by hand, or remove the entry',
      });
    }
    if (entry.supports_dual_key && entry.single_key_rotation !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['single_key_rotation'],
        message:
          'applies only to keys with supports_dual_key: false; remove it, or set supports_dual_key: false',
      });
    }
    if (entry.kms_key_arn && !entry.secret_arn) {
      ctx.addIssue({
        code: 'custom',
        path: ['kms_key_arn'],
        message: 'applies only to an existing secret (secret_arn); secrets the stack creates use its own key',
      });
    }
    if (entry.readers && entry.secret_arn) {
      ctx.addIssue({
        code: 'custom',
        path: ['readers'],
        message:
          'applies only to a secret the stack creates: rekey never replaces the resource policy of an existing secret (secret_arn); restrict its readers in that policy, or remove the field',
      });
    }
  });

/**
 * The grace period of a key whose schedule does not set one. Two hours: the app client's cache lives 90–100%
 * of (grace − 5 min), so the grace sets what reading a key costs — a fleet of 200 instances checking a key
 * every 50 minutes (a 1 h grace) pays about $0.85 a month for it in Secrets Manager calls, every 1 h 45 min
 * (2 h) about $0.42 (README, "Cost per key per month") — and 2 h is still well inside a scheduled rotation's
 * days; an emergency rotation does not wait for it (its grace defaults to 0).
 */
export const DEFAULT_GRACE_PERIOD = '2h';

export const RotationScheduleEntrySchema = z
  .object({
    secret: z.string().min(1),
    provider: z.string().min(1).optional(),
    schedule: converted(scheduleFromExpression),
    grace_period: Duration.default(DEFAULT_GRACE_PERIOD),
    alert_on_failure: z.boolean().default(true),
    rollback_on_failure: z.boolean().default(false),
    rotation_window: z.string().optional(),
  })
  .strict()
  .transform((entry, ctx) => {
    let window: string | undefined;
    if (entry.rotation_window !== undefined) {
      try {
        window = rotationWindow(entry.rotation_window, entry.schedule);
      } catch (error) {
        if (!(error instanceof ScheduleError)) throw error;
        ctx.addIssue({ code: 'custom', path: ['rotation_window'], message: error.message });
        return z.NEVER;
      }
    }
    const grace = parseDurationSeconds(entry.grace_period)!;
    if (grace >= entry.schedule.minIntervalSeconds) {
      ctx.addIssue({
        code: 'custom',
        path: ['grace_period'],
        message: `is ${entry.grace_period}, not shorter than the time between rotations of ${entry.schedule.expression}`,
      });
      return z.NEVER;
    }
    return { ...entry, rotation_window: window };
  });

const Subscriptions = z.array(Subscription).default([]);

/** Who is told, per audience of the guide's monitoring rules. */
const NotificationsSchema = z
  .object({ on_call: Subscriptions, security: Subscriptions, app_team: Subscriptions })
  .strict()
  .default({ on_call: [], security: [], app_team: [] });
export type Notifications = z.infer<typeof NotificationsSchema>;

export const InventorySchema = z
  .object({
    api_keys: z.array(ApiKeySchema).min(1),
    rotation_schedules: z.array(RotationScheduleEntrySchema).default([]),
    notifications: NotificationsSchema,
    providers: z
      .record(z.string(), z.object({ endpoint: z.url({ protocol: /^https$/ }) }).strict())
      .default({}),
    /**
     * People who run `rekey import` and `rekey rotate --emergency`: besides rekey's own roles and the CDK
     * deploy roles, the only principals the managed secrets' resource policies let write versions, labels
     * and tags (and read, where `readers` is set).
     */
    operators: z.array(PrincipalPattern).default([]),
    /**
     * How many CloudFormation stacks hold the keys (RekeyStackProps.keyStacks): 1 keeps them beside the
     * machinery (up to ~55 keys); more spreads them by a hash of their names. Choose once, with room.
     */
    key_stacks: z.number().int().min(1).max(100).default(1),
  })
  .strict();

export type Inventory = z.infer<typeof InventorySchema>;
export type ApiKeyEntry = z.infer<typeof ApiKeySchema>;
export type RotationScheduleEntry = z.infer<typeof RotationScheduleEntrySchema>;

/** "api_keys[1] (sendgrid-api-key)" for an issue path, using the raw input to find the entry's name. */
function entryLabel(raw: unknown, path: PropertyKey[]): { entry: string; rest: PropertyKey[] } {
  const [section, index, ...rest] = path;
  if ((section === 'api_keys' || section === 'rotation_schedules') && typeof index === 'number') {
    const item = (raw as Record<string, unknown[]>)[section]?.[index] as Record<string, unknown> | undefined;
    const id = section === 'api_keys' ? item?.name : item?.secret;
    return { entry: `${section}[${index}]${typeof id === 'string' ? ` (${shown(id)})` : ''}`, rest };
  }
  if (section === 'notifications' || section === 'providers') {
    return { entry: String(section), rest: index === undefined ? [] : [index, ...rest] };
  }
  return { entry: 'inventory', rest: path };
}

function problemOf(raw: unknown, issue: z.core.$ZodIssue): string {
  const { entry, rest } = entryLabel(raw, issue.path);
  const unknownKeys = issue.code === 'unrecognized_keys' ? issue.keys : [];
  const field = shown(
    unknownKeys.length
      ? [...rest, unknownKeys.join(', ')].join('.')
      : rest.join('.') || String(issue.path.at(-1) ?? '(document)'),
  );
  const leaf = unknownKeys.length
    ? undefined
    : ([...rest].reverse().find((p): p is string => typeof p === 'string') ?? String(issue.path[0] ?? ''));
  let problem: string;
  switch (issue.code) {
    case 'invalid_type':
      problem = /received undefined/.test(issue.message) ? 'is missing' : `must be ${issue.expected}`;
      break;
    case 'unrecognized_keys':
      problem = 'is not an inventory field (check the spelling; see README, "Inventory")';
      break;
    case 'too_small':
      problem = issue.origin === 'array' ? 'must not be empty' : 'must not be empty';
      break;
    case 'invalid_value':
      problem = `must be one of ${issue.values.map(String).join(', ')}`;
      break;
    case 'invalid_format':
      problem = issue.format === 'url' ? 'must be a URL' : issue.message;
      break;
    default:
      problem = issue.message;
  }
  // Own keys only: a field named like an Object.prototype member ("constructor") has no fix text.
  const known = leaf !== undefined && Object.hasOwn(FIX, leaf) ? FIX[leaf] : undefined;
  const fix = known && !problem.includes('; ') ? `; ${known}` : '';
  return `${entry}: field "${field}" ${problem}${fix}`;
}

/** Validates a parsed YAML/JSON document against the inventory schema. `source` names it in errors. */
export function parseInventory(raw: unknown, source = 'rekey.yaml'): Inventory {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new InventoryError(source, ['inventory: the document must be a mapping with an api_keys list']);
  }
  const parsed = InventorySchema.safeParse(raw);
  if (!parsed.success)
    throw new InventoryError(
      source,
      parsed.error.issues.map((i) => problemOf(raw, i)),
    );
  return parsed.data;
}

/**
 * Subscriptions given outside the inventory (the `notifications` context of the CDK app): the same shape
 * as the inventory's `notifications`, as an object or its JSON text.
 */
export function parseNotifications(raw: unknown, source: string): Notifications {
  let value = raw;
  if (typeof raw === 'string') {
    try {
      value = JSON.parse(raw);
    } catch {
      throw new InventoryError(source, [
        'notifications: is not JSON; write e.g. {"on_call": ["oncall@example.com"]}',
      ]);
    }
  }
  const wrapped = { notifications: value };
  const parsed = z.object({ notifications: NotificationsSchema }).safeParse(wrapped);
  if (!parsed.success)
    throw new InventoryError(
      source,
      parsed.error.issues.map((i) => problemOf(wrapped, i)),
    );
  return parsed.data.notifications;
}

/** Reads and validates an inventory file (YAML; JSON is YAML too). */
export function readInventory(path: string): Inventory {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code ?? 'unreadable';
    throw new InventoryError(path, [
      `inventory: cannot read the file (${reason}); pass -c inventory=<path> or create rekey.yaml`,
    ]);
  }
  const doc = parseDocument(text, { prettyErrors: true });
  if (doc.errors.length) {
    throw new InventoryError(
      path,
      // The parser's words without its excerpt (the excerpt could carry a value): where, and what is wrong.
      doc.errors.map((e) => {
        const at = e.linePos?.[0];
        const words = e.message.split(' at line ')[0]!.trim();
        return `inventory: YAML syntax error at line ${at?.line ?? '?'}, column ${at?.col ?? '?'}: ${words} (${e.code})`;
      }),
    );
  }
  return parseInventory(doc.toJS(), path);
}

/**
 * The secret a rotator_secret spelling refers to, for telling two spellings of one secret apart: a name as
 * written; an ARN as its partition, region and account and its name part — the name itself, or the name plus
 * the "-" and six characters Secrets Manager appends (a full ARN), so both are candidates.
 */
function rotatorSecretOf(spelling: string): { where?: string; names: string[] } {
  const arn = /^arn:(aws[a-z-]*):secretsmanager:([a-z0-9-]+):(\d{12}):secret:(.+)$/.exec(spelling);
  if (!arn) return { names: [spelling] };
  const name = arn[4]!;
  const suffixed = /^(.+)-[A-Za-z0-9]{6}$/.exec(name);
  return { where: `${arn[1]}:${arn[2]}:${arn[3]}`, names: suffixed ? [name, suffixed[1]!] : [name] };
}

/**
 * Whether two different rotator_secret spellings may name the same secret: a name and an ARN with that name
 * (the stack's region and account are not known here), or two ARNs of one account and region whose names
 * match with or without the random suffix.
 */
function sameRotatorSecret(a: string, b: string): boolean {
  if (a === b) return true;
  const x = rotatorSecretOf(a);
  const y = rotatorSecretOf(b);
  if (x.where !== undefined && y.where !== undefined && x.where !== y.where) return false;
  return x.names.some((n) => y.names.includes(n));
}

/** A key is overdue (alarm, `rekey status`) once older than this many rotation intervals (the guide's rule). */
export const KEY_AGE_FACTOR = 1.5;

/** One managed key, as the stack deploys it and the CLI inspects it. */
export interface ManagedKeyPlan {
  /** The inventory entry's name. */
  name: string;
  /** rekey provider adapter name ("sendgrid"). */
  provider: string;
  /** The provider as the inventory wrote it ("SendGrid"). */
  providerLabel: string;
  /** Secrets Manager secret name (vault_path). */
  secretName: string;
  /** Full ARN when the secret already exists outside the stack. */
  existingSecretArn?: string;
  existingKmsKeyArn?: string;
  /** The provider key API's URL as the inventory gives it (provider_api). */
  providerApi?: string;
  /** Name or ARN of the rotator-credential secret. */
  rotatorSecret: string;
  options: Record<string, unknown>;
  /** `rekey import` stored the current key: the rotation schedule may be attached. */
  imported: boolean;
  /** The key cannot overlap and its owner accepted an interruption per rotation (tag rekey:single-key). */
  singleKey: boolean;
  schedule: RotationSchedule;
  /** Rotation window in AWS's form ("2h"), when the inventory sets one. */
  window?: string;
  frequencySeconds: number;
  gracePeriod: string;
  graceSeconds: number;
  alertOnFailure: boolean;
  rollbackOnFailure: boolean;
  /** Auth failures per 5 minutes in normal operation. */
  authFailureBaseline: number;
  usedBy: string[];
  environment?: string;
  criticality?: string;
  /** The customer managed KMS key of the rotator secret (rotator_kms_key_arn). */
  rotatorKmsKeyArn?: string;
  /** Principal ARN patterns that may read the key (readers); unset: identity policies decide. */
  readers?: string[];
  /** The inventory's operators (the same for every key): may write and read the secret besides rekey. */
  operators?: string[];
}

const compact = (name: string): string => name.toLowerCase().replace(/[^a-z0-9]/g, '');

/**
 * The adapter a provider as people write it names: "SendGrid" → "sendgrid", "AWS IAM" → "aws-iam",
 * "Amazon API Gateway" → "api-gateway" (an adapter's name or display name, case and punctuation aside);
 * anything else compacted ("Internal API Gateway" → "internalapigateway", which `adapter` must then name).
 */
export function adapterNameOf(provider: string): string {
  const written = compact(provider);
  const known = Object.values(PROVIDERS).find(
    (p) => compact(p.name) === written || compact(p.displayName) === written,
  );
  return known?.name ?? written;
}

/**
 * Checks entries against each other and against the provider adapters rekey can deploy, and joins each key
 * with its rotation schedule. `providers` lists the adapters available (the stack: those with a rotation
 * handler; the CLI: those it can call).
 */
export function resolveInventory(
  inventory: Inventory,
  providers: readonly string[],
  source = 'rekey.yaml',
): ManagedKeyPlan[] {
  const problems: string[] = [];
  const label = (i: number) => `api_keys[${i}] (${shown(inventory.api_keys[i]!.name)})`;
  const byName = new Map<string, number>();
  const byPath = new Map<string, number>();
  inventory.api_keys.forEach((key, i) => {
    if (byName.has(key.name)) {
      problems.push(`${label(i)}: field "name" repeats api_keys[${byName.get(key.name)}]; ${FIX.name}`);
    } else byName.set(key.name, i);
    if (byPath.has(key.vault_path)) {
      problems.push(
        `${label(i)}: field "vault_path" repeats api_keys[${byPath.get(key.vault_path)}] (one secret per key); ${FIX.vault_path}`,
      );
    } else byPath.set(key.vault_path, i);
  });

  // Keys sharing a rotator credential are grouped by the exact rotator_secret text (siblings at rotation, one
  // resource policy per spelling in the stack): one secret written two ways would break both.
  const spellings = new Map<string, number>();
  inventory.api_keys.forEach((key, i) => {
    const spelling = key.rotator_secret;
    if (spelling === undefined) return;
    if (!spellings.has(spelling)) {
      const other = [...spellings].find(([seen]) => sameRotatorSecret(seen, spelling));
      if (other) {
        const [seen, j] = other;
        problems.push(
          `${label(i)}: field "rotator_secret" is "${shown(spelling)}" but ${label(j)} writes "${shown(seen)}" for the same secret, and rekey tells keys that share a rotator credential by the exact text; write the same name or ARN in both`,
        );
      }
      spellings.set(spelling, i);
    }
  });

  const scheduleOf = new Map<number, RotationScheduleEntry>();
  inventory.rotation_schedules.forEach((entry, j) => {
    const where = `rotation_schedules[${j}] (${shown(entry.secret)})`;
    const i = byPath.get(entry.secret) ?? byName.get(entry.secret);
    if (i === undefined) {
      problems.push(
        `${where}: field "secret" names no api_keys entry; write the name or vault_path of one of: ${inventory.api_keys.map((k) => k.vault_path).join(', ')}`,
      );
      return;
    }
    if (scheduleOf.has(i)) {
      problems.push(
        `${where}: field "secret" is scheduled twice for ${label(i)}; keep one rotation_schedules entry`,
      );
      return;
    }
    const key = inventory.api_keys[i]!;
    const adapter = key.adapter ?? adapterNameOf(key.provider);
    if (entry.provider !== undefined && adapterNameOf(entry.provider) !== adapter) {
      problems.push(
        `${where}: field "provider" is "${shown(entry.provider)}" but ${label(i)} is rotated by "${shown(adapter)}"; make them agree`,
      );
    }
    scheduleOf.set(i, entry);
  });

  const plans: ManagedKeyPlan[] = [];
  inventory.api_keys.forEach((key, i) => {
    const adapter = key.adapter ?? adapterNameOf(key.provider);
    const field = key.adapter ? 'adapter' : 'provider';
    if (!providers.includes(adapter)) {
      problems.push(
        `${label(i)}: field "${field}" is "${shown(key.adapter ?? key.provider)}", which rekey cannot rotate; known providers: ${providers.join(', ')} (set "adapter" to one of them, or remove the entry)`,
      );
      return;
    }
    const definition = PROVIDERS[adapter];
    if (definition) {
      const options = definition.optionsSchema.safeParse(key.options);
      if (!options.success) {
        const issue = options.error.issues[0]!;
        const path = shown(
          issue.path.join('.') || (issue.code === 'unrecognized_keys' ? issue.keys.join(', ') : ''),
        );
        problems.push(
          `${label(i)}: field "options${path ? `.${path}` : ''}" is not valid for ${definition.displayName} (${shown(issue.message)}); see README, "Providers"`,
        );
      }
    }
    if (!key.rotator_secret) {
      // Required also where the credential is {} (the functions act with the key's own roles, or there is no
      // admin API): the keys naming one rotator secret are one provider account to the revoker and emergency
      // rotation, and each key document names it. So say what to create instead of naming an admin key.
      const fix = definition?.credentialSchema.safeParse({}).success
        ? `${definition.displayName} needs no admin credential, but every key names its rotator secret (keys naming the same one are one provider account): create a secret holding {} and name it, e.g. "rekey/rotator/${adapter}"`
        : FIX.rotator_secret;
      problems.push(`${label(i)}: field "rotator_secret" is missing; ${fix}`);
      return;
    }
    const entry = scheduleOf.get(i);
    const schedule = entry?.schedule ?? key.rotation_frequency;
    const gracePeriod = entry?.grace_period ?? DEFAULT_GRACE_PERIOD;
    const graceSeconds = parseDurationSeconds(gracePeriod)!;
    if (!entry && graceSeconds >= key.rotation_frequency.minIntervalSeconds) {
      problems.push(
        `${label(i)}: field "rotation_frequency" must be longer than the default ${DEFAULT_GRACE_PERIOD} grace period`,
      );
    }
    plans.push({
      name: key.name,
      provider: adapter,
      providerLabel: key.provider,
      secretName: key.vault_path,
      ...(key.secret_arn ? { existingSecretArn: key.secret_arn } : {}),
      ...(key.kms_key_arn ? { existingKmsKeyArn: key.kms_key_arn } : {}),
      ...(key.provider_api ? { providerApi: key.provider_api } : {}),
      rotatorSecret: key.rotator_secret,
      options: key.options,
      imported: key.imported,
      singleKey: !key.supports_dual_key,
      schedule,
      ...(entry?.rotation_window ? { window: entry.rotation_window } : {}),
      frequencySeconds: key.rotation_frequency.minIntervalSeconds,
      gracePeriod,
      graceSeconds,
      alertOnFailure: entry?.alert_on_failure ?? true,
      rollbackOnFailure: entry?.rollback_on_failure ?? false,
      authFailureBaseline: key.auth_failure_baseline,
      usedBy: key.used_by,
      ...(key.environment ? { environment: key.environment } : {}),
      ...(key.criticality ? { criticality: key.criticality } : {}),
      ...(key.rotator_kms_key_arn ? { rotatorKmsKeyArn: key.rotator_kms_key_arn } : {}),
      ...(key.readers ? { readers: key.readers } : {}),
      operators: inventory.operators,
    });
  });
  if (problems.length) throw new InventoryError(source, problems);
  return plans;
}

/** Reads, validates and resolves an inventory file in one step. */
export function loadInventory(path: string, providers: readonly string[]): ManagedKeyPlan[] {
  return resolveInventory(readInventory(path), providers, path);
}

/**
 * What a deployed function may do for `plan` — its route — pinned from the inventory at synth. `roles` names
 * the per-key roles the functions assume (the stack's); unset for callers acting with their own credentials.
 */
export function keyRouteOf(plan: ManagedKeyPlan, roles?: KeyRoute['roles']): KeyRoute {
  return {
    name: plan.name,
    secretName: plan.secretName,
    ...(plan.existingSecretArn ? { secretArn: plan.existingSecretArn } : {}),
    provider: plan.provider,
    rotatorSecret: plan.rotatorSecret,
    options: plan.options,
    singleKey: plan.singleKey,
    gracePeriod: plan.gracePeriod,
    rollbackOnFailure: plan.rollbackOnFailure,
    // The generic HTTP adapter's rotator credential names a base URL: it must stay on provider_api's origin.
    ...(plan.provider === 'http' && plan.providerApi ? { origin: new URL(plan.providerApi).origin } : {}),
    ...(roles ? { roles } : {}),
  };
}
