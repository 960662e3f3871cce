import {
  DescribeSecretCommand,
  type DescribeSecretCommandOutput,
  GetSecretValueCommand,
  type GetSecretValueCommandOutput,
  type SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import type { AwsCredentialIdentityProvider } from '@aws-sdk/types';
import { InvalidInputError } from './errors.js';
import type { Logger } from './logger.js';
import type { ProviderClient, ProviderDefinition, ProviderHttpSettings } from './providers/types.js';
import { checkCredentialOrigin, checkDocument, type KeyRoute } from './routes.js';
import { describeIssue, type ManagedKey, PLACEHOLDER, parseManagedKey } from './secret-format.js';

export const AWSCURRENT = 'AWSCURRENT';
export const AWSPENDING = 'AWSPENDING';
export const AWSPREVIOUS = 'AWSPREVIOUS';
/**
 * A key a person made (providers without a key API), waiting for the rotation that stages it. Not
 * AWSPENDING: Secrets Manager refuses RotateSecret while AWSPENDING is on a version other than AWSCURRENT.
 */
export const REKEYPROVIDED = 'REKEYPROVIDED';

export function isAwsError(error: unknown, ...names: string[]): boolean {
  return error instanceof Error && names.includes(error.name);
}

export function describeSecret(
  sm: SecretsManagerClient,
  secretId: string,
): Promise<DescribeSecretCommandOutput> {
  return sm.send(new DescribeSecretCommand({ SecretId: secretId }));
}

/** The version id carrying `stage`, if any. */
export function versionWithStage(metadata: DescribeSecretCommandOutput, stage: string): string | undefined {
  return Object.entries(metadata.VersionIdsToStages ?? {}).find(([, stages]) => stages.includes(stage))?.[0];
}

/** GetSecretValue that returns undefined where Secrets Manager says the version (or its value) does not exist. */
export async function getSecretValueIfPresent(
  sm: SecretsManagerClient,
  input: { SecretId: string; VersionId?: string; VersionStage?: string },
): Promise<GetSecretValueCommandOutput | undefined> {
  try {
    return await sm.send(new GetSecretValueCommand(input));
  } catch (error) {
    if (isAwsError(error, 'ResourceNotFoundException')) return undefined;
    throw error;
  }
}

/** Reads and parses one version of a managed key, registering its key value with the logger's redaction. */
export async function readManagedKey(
  sm: SecretsManagerClient,
  logger: Logger,
  input: { SecretId: string; VersionId?: string; VersionStage?: string },
): Promise<{ doc: ManagedKey; versionId: string } | undefined> {
  const value = await getSecretValueIfPresent(sm, input);
  if (!value) return undefined;
  logger.protect(value.SecretString);
  const doc = parseManagedKey(value.SecretString, {
    secretId: input.SecretId,
    ...(value.VersionId ? { versionId: value.VersionId } : {}),
  });
  logger.protect(doc.key);
  return { doc, versionId: value.VersionId! };
}

/**
 * The label under which secret `secretId` holds provider key `keyId` — AWSCURRENT, AWSPENDING or AWSPREVIOUS
 * (a labelled previous key is in its grace period; the revoker unlabels revoked keys) — or undefined. A
 * secret that does not exist, or holds the stack's placeholder, holds no key; anything else unreadable
 * throws (it might hold this very key, so callers fail closed).
 */
export async function stageHoldingKey(
  sm: SecretsManagerClient,
  logger: Logger,
  secretId: string,
  keyId: string,
): Promise<string | undefined> {
  let metadata: DescribeSecretCommandOutput;
  try {
    metadata = await describeSecret(sm, secretId);
  } catch (error) {
    if (isAwsError(error, 'ResourceNotFoundException')) return undefined; // not created yet
    throw error;
  }
  for (const stage of [AWSCURRENT, AWSPENDING, AWSPREVIOUS]) {
    const versionId = versionWithStage(metadata, stage);
    if (!versionId) continue;
    const value = await getSecretValueIfPresent(sm, { SecretId: secretId, VersionId: versionId });
    if (!value || value.SecretString === PLACEHOLDER) continue;
    logger.protect(value.SecretString);
    const held = parseManagedKey(value.SecretString, { secretId, versionId });
    logger.protect(held.key);
    if (held.keyId === keyId) return stage;
  }
  return undefined;
}

export interface ProviderConnection {
  /** The adapter for this function's provider. */
  provider: ProviderDefinition;
  /** Base URL override for the provider's API (sandboxes, regional endpoints). */
  endpoint?: string;
  http?: ProviderHttpSettings;
  /** The caller's clock (tests, the rehearsal's compressed one); default the system's. */
  now?: () => Date;
  /** What an AWS provider's `{}` rotator credential acts with: the key's own role (see KeyScope). */
  awsCredentials?: AwsCredentialIdentityProvider;
}

/** What functions serving every provider know to reach one: adapters, endpoints, HTTP settings, clock. */
export interface ProviderRegistry {
  /** Adapters by provider name; default: every adapter rekey ships. */
  providerFor?: (name: string) => ProviderDefinition;
  /** Provider API base URLs by provider name (sandboxes); default: the public APIs. */
  endpoints?: Record<string, string>;
  http?: ProviderHttpSettings;
  now?: () => Date;
  awsCredentials?: AwsCredentialIdentityProvider;
}

/**
 * The connection to `route`'s provider for a function that serves every provider: `deps.providerFor`, else
 * the registry of every adapter rekey ships (loaded on first use).
 */
export async function connectionFor(route: KeyRoute, deps: ProviderRegistry): Promise<ProviderConnection> {
  const definition = deps.providerFor
    ? deps.providerFor(route.provider)
    : (await import('./providers/index.js')).providerNamed(route.provider, {
        secretId: route.secretName,
        field: 'provider',
      });
  return connectionTo(definition, deps);
}

/**
 * The connection to one known adapter. Rotation functions connect through this, never `connectionFor`: the
 * registry holds every adapter and the AWS clients of the AWS-backed ones, and esbuild leaves it out of a
 * bundle only where nothing reachable names it.
 */
export function connectionTo(definition: ProviderDefinition, deps: ProviderRegistry): ProviderConnection {
  const endpoint = deps.endpoints?.[definition.name];
  return {
    provider: definition,
    ...(endpoint ? { endpoint } : {}),
    ...(deps.http ? { http: deps.http } : {}),
    ...(deps.now ? { now: deps.now } : {}),
    ...(deps.awsCredentials ? { awsCredentials: deps.awsCredentials } : {}),
  };
}

/**
 * Binds the provider adapter to the rotator credential, as the deployed route says: the key document must
 * repeat the route (provider, rotator secret, options) or nothing is called. The credential lives in its
 * own secret so that the apps reading the managed key can never read the admin key.
 */
export async function connectProvider(
  sm: SecretsManagerClient,
  logger: Logger,
  secretId: string,
  doc: ManagedKey,
  route: KeyRoute,
  connection: ProviderConnection,
): Promise<ProviderClient> {
  const { provider } = connection;
  checkDocument(route, doc, { secretId, ...(secretId.startsWith('arn:') ? { secretArn: secretId } : {}) });
  if (doc.provider !== provider.name) {
    throw new InvalidInputError(
      'INVALID_SECRET',
      `secret ${secretId}: field "provider" is "${doc.provider}" but this rotation function serves "${provider.name}"; attach the ${doc.provider} rotation function or fix the document.`,
      { secretId, field: 'provider' },
    );
  }
  let raw: GetSecretValueCommandOutput;
  try {
    raw = await sm.send(new GetSecretValueCommand({ SecretId: doc.rotatorSecretArn }));
  } catch (error) {
    const reason = error instanceof Error ? error.name : 'unknown error';
    throw new InvalidInputError(
      'ROTATOR_CREDENTIAL',
      `secret ${secretId}: cannot read the rotator credential ${doc.rotatorSecretArn} (${reason}); create that secret and allow this function secretsmanager:GetSecretValue on it.`,
      {
        secretId,
        field: 'rotatorSecretArn',
        cause: error instanceof Error ? { name: error.name } : undefined,
      },
    );
  }
  logger.protect(raw.SecretString);
  let json: unknown;
  try {
    json = JSON.parse(raw.SecretString ?? '');
  } catch {
    throw new InvalidInputError(
      'ROTATOR_CREDENTIAL',
      `rotator credential ${doc.rotatorSecretArn} for ${secretId} is not JSON; store ${provider.displayName}'s credential document (see README, "Providers").`,
      {
        secretId,
        field: 'rotatorSecretArn',
      },
    );
  }
  const credential = provider.credentialSchema.safeParse(json);
  if (!credential.success) {
    const issue = credential.error.issues[0]!;
    const field = issue.path.join('.') || '(document)';
    throw new InvalidInputError(
      'ROTATOR_CREDENTIAL',
      `rotator credential ${doc.rotatorSecretArn} for ${secretId}: field "${field}" ${describeIssue(issue, json)}; store ${provider.displayName}'s credential document (see README, "Providers").`,
      { secretId, field: `rotatorSecretArn:${field}` },
    );
  }
  for (const value of Object.values(credential.data as Record<string, unknown>))
    if (typeof value === 'string') logger.protect(value);
  // A deployment endpoint replaces the credential's base URL; otherwise it must stay on the pinned origin.
  if (!connection.endpoint) checkCredentialOrigin(route, credential.data, secretId);
  const options = provider.optionsSchema.safeParse(doc.options);
  if (!options.success) {
    const issue = options.error.issues[0]!;
    const field = `options.${issue.path.join('.') || (issue.code === 'unrecognized_keys' ? issue.keys.join(',') : '')}`;
    throw new InvalidInputError(
      'INVALID_SECRET',
      `secret ${secretId}: field "${field}" ${describeIssue(issue, doc.options)} for ${provider.displayName}; fix the key document or the inventory.`,
      {
        secretId,
        field,
      },
    );
  }
  return provider.connect({
    credential: credential.data,
    options: options.data,
    logger,
    ...(connection.endpoint ? { endpoint: connection.endpoint } : {}),
    ...(connection.http ? { http: connection.http } : {}),
    ...(connection.now ? { now: connection.now } : {}),
    ...(connection.awsCredentials ? { awsCredentials: connection.awsCredentials } : {}),
  });
}
