import { z } from 'zod';
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

export const ManagedKeySchema = z
  .object({
    /** Provider adapter name, e.g. "sendgrid". */
    provider: z.string().min(1),
    /** The API key itself — what applications send to the provider. */
    key: z.string().min(1),
    /** The provider's id for this key (SendGrid api_key_id, Twilio SK…, Datadog key id…). */
    keyId: z.string().min(1),
    /** The provider-side name rekey gave the key; derived from secret and version so retries find it. */
    keyName: z.string().min(1).optional(),
    /** When the provider created this key (ISO 8601, UTC). */
    createdAt: z.iso.datetime({ offset: true }),
    /** ARN of the secret that holds the rotator credential (the admin key allowed to create and revoke). */
    rotatorSecretArn: z.string().regex(SECRET_ARN, 'must be the ARN of a Secrets Manager secret'),
    /** Provider options (scopes, account, site, …), validated by the provider's own schema. */
    options: z.record(z.string(), z.unknown()).default({}),
  })
  .strict();

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
    const problem = describeIssue(issue);
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

/** A zod issue in words that never include the offending value. */
export function describeIssue(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case 'invalid_type':
      // zod names the received type (never the value): "expected string, received undefined".
      return /received undefined/.test(issue.message) ? 'is missing' : `must be ${issue.expected}`;
    case 'too_small':
      return 'must not be empty';
    case 'unrecognized_keys':
      return `is not part of the format (unknown field${issue.keys.length > 1 ? 's' : ''})`;
    case 'invalid_format':
      if (issue.format === 'datetime') return 'must be an ISO 8601 timestamp';
      return issue.format === 'regex' ? issue.message : `must be a valid ${issue.format}`;
    default:
      return issue.message.replace(/received .*/i, '').trim() || 'is invalid';
  }
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
