import * as z from 'zod/mini';
import { InvalidInputError } from './errors.js';

/** ARN of a Secrets Manager secret (partition-agnostic). */
const SECRET_ARN = /^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:.+$/;

/**
 * The JSON document stored in every version of a managed key's secret. `key` is the only field that is
 * secret; everything else is metadata that may be logged.
 */
/**
 * What a secret created by the stack holds until `rekey import` stores the real key (the local playground
 * deploys the same), deliberately not a key document.
 */
export const PLACEHOLDER = JSON.stringify({
  rekey: 'placeholder',
  next: 'run `rekey import <name>` with the current key on stdin, then set `imported: true` and deploy',
});

export const ManagedKeySchema = z.strictObject({
  /** Provider adapter name, e.g. "sendgrid". */
  provider: z.string().check(z.minLength(1)),
  /** The API key itself — what applications send to the provider. */
  key: z.string().check(z.minLength(1)),
  /** The provider's id for this key (SendGrid api_key_id, Twilio SK…, Datadog key id…). */
  keyId: z.string().check(z.minLength(1)),
  /** The provider-side name rekey gave the key; derived from secret and version so retries find it. */
  keyName: z.optional(z.string().check(z.minLength(1))),
  /** When the provider created this key (ISO 8601, UTC). */
  createdAt: z.iso.datetime({ offset: true }),
  /** ARN of the secret that holds the rotator credential (the admin key allowed to create and revoke). */
  rotatorSecretArn: z.string().check(z.regex(SECRET_ARN, 'must be the ARN of a Secrets Manager secret')),
  /** Provider options (scopes, account, site, …), validated by the provider's own schema. */
  options: z._default(z.record(z.string(), z.unknown()), {}),
});

export type ManagedKey = z.infer<typeof ManagedKeySchema>;

/**
 * Parses a managed key's SecretString. Errors name the secret, the version and the field, never a value:
 * zod's messages for these schemas do not echo input, and we build the message from paths only.
 */
export function parseManagedKey(
  secretString: string | undefined,
  where: { secretId: string; versionId?: string },
): ManagedKey {
  const label = `secret ${where.secretId}${where.versionId ? ` (version ${where.versionId})` : ''}`;
  if (secretString === undefined) {
    throw new InvalidInputError(
      'INVALID_SECRET',
      `${label} has no SecretString; store the rekey key document (see README, "Secret format").`,
      {
        secretId: where.secretId,
      },
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(secretString);
  } catch {
    throw new InvalidInputError(
      'INVALID_SECRET',
      `${label} is not JSON; store the rekey key document {"provider","key","keyId","createdAt","rotatorSecretArn"} (see README, "Secret format").`,
      { secretId: where.secretId },
    );
  }
  const parsed = ManagedKeySchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const field =
      issue.path.join('.') || (issue.code === 'unrecognized_keys' ? issue.keys.join(',') : '(document)');
    const problem = describeIssue(issue, json);
    throw new InvalidInputError(
      'INVALID_SECRET',
      `${label}: field "${field}" ${problem}; fix the stored document (see README, "Secret format").`,
      {
        secretId: where.secretId,
        field,
      },
    );
  }
  return parsed.data;
}

/**
 * A zod issue in words that never include the offending value, from its code and bounds, not its message:
 * zod/mini loads no locale, so a message is zod's bare "Invalid input" unless the schema wrote its own (our
 * regexes and refinements do). `input` is what was parsed: it tells a missing field from a mistyped one.
 */
export function describeIssue(issue: z.core.$ZodIssue, input: unknown): string {
  const unit = (origin: string) => (origin === 'string' ? ' characters' : origin === 'array' ? ' items' : '');
  switch (issue.code) {
    case 'invalid_type':
      return valueAt(input, issue.path) === undefined ? 'is missing' : `must be ${issue.expected}`;
    case 'too_small':
      return Number(issue.minimum) <= 1 && issue.origin !== 'number'
        ? 'must not be empty'
        : `must be at least ${issue.minimum}${unit(issue.origin)}`;
    case 'too_big':
      return `must be at most ${issue.maximum}${unit(issue.origin)}`;
    case 'unrecognized_keys':
      return `is not part of the format (unknown field${issue.keys.length > 1 ? 's' : ''})`;
    case 'invalid_value':
      return `must be ${issue.values.length > 1 ? 'one of ' : ''}${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
    case 'invalid_format':
      if (issue.format === 'datetime') return 'must be an ISO 8601 timestamp';
      return issue.format === 'regex' ? issue.message : `must be a valid ${issue.format}`;
    case 'custom':
      return issue.message;
    default:
      return 'is invalid';
  }
}

function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let value = input;
  for (const key of path) {
    if (typeof value !== 'object' || value === null) return undefined;
    value = (value as Record<PropertyKey, unknown>)[key];
  }
  return value;
}

/** Serializes a key document the way rekey stores it (stable field order). */
export function serializeManagedKey(doc: ManagedKey): string {
  const { provider, key, keyId, keyName, createdAt, rotatorSecretArn, options } = doc;
  return JSON.stringify({
    provider,
    key,
    keyId,
    ...(keyName ? { keyName } : {}),
    createdAt,
    rotatorSecretArn,
    options,
  });
}
