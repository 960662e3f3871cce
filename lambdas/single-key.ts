import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import {
  type DescribeSecretCommandOutput,
  TagResourceCommand,
  UntagResourceCommand,
  UpdateSecretVersionStageCommand,
} from '@aws-sdk/client-secrets-manager';
import type { Alert } from './alerts.js';
import { emfRecord } from './emf.js';
import { RotationStateError } from './errors.js';
import type { Logger } from './logger.js';
import type { ProviderClient, ProviderDefinition } from './providers/types.js';
import type { KeyRoute } from './routes.js';
import type { ManagedKey } from './secret-format.js';
import { AWSPREVIOUS } from './secrets.js';
import { SINGLE_KEY_OPT_IN, TAGS, tagMap } from './tags.js';
import { DIMENSIONS, METRICS } from './telemetry.js';

/**
 * Keys that cannot overlap — the provider allows one valid key (`dualKey: false`) or the owner says so
 * (`rekey:single-key`) — are rotated revoke-then-create: the interruption lasts from the revocation until the
 * new key is AWSCURRENT and apps refresh (the rekey client does on the first 401). rekey refuses unless the
 * secret opts in, announces each interruption before it starts, and measures it.
 */
export function isSingleKey(route: KeyRoute, provider: ProviderDefinition): boolean {
  return !provider.capabilities.dualKey || route.singleKey;
}

export interface SingleKeyDeps {
  secretsManager: SecretsManagerClient;
  logger: Logger;
  now: () => Date;
  alert?: (alert: Alert) => Promise<void>;
  /** The lease's fencing check, made before the current key is revoked. */
  fence?: () => Promise<void>;
}

/**
 * createSecret's first half for single-key rotation: check the opt-in, read the permissions the new key must
 * carry, announce, revoke the current key. Returns the permissions for `createKey`.
 */
export async function beginInterruption(
  secretId: string,
  metadata: DescribeSecretCommandOutput,
  current: ManagedKey,
  provider: ProviderClient,
  definition: ProviderDefinition,
  route: KeyRoute,
  deps: SingleKeyDeps,
): Promise<unknown> {
  const name = metadata.Name ?? secretId;
  const tags = tagMap(metadata.Tags);
  // The deployed inventory opts in, never a tag alone (a tag that disagrees was refused before this step).
  if (!route.singleKey) {
    throw new RotationStateError(
      `${name}: ${definition.displayName} keys of this secret cannot overlap, so rotating it interrupts its users; rekey does this only when the inventory opts in (supports_dual_key: false with single_key_rotation: ${SINGLE_KEY_OPT_IN}) and is deployed.`,
      { secretId: name, field: 'single_key_rotation' },
    );
  }
  if (!provider.describePermissions) {
    throw new RotationStateError(
      `${name}: the ${definition.displayName} adapter cannot read a key's permissions ahead of revoking it, so single-key rotation is not supported for it; nothing was changed.`,
      { secretId: name },
    );
  }
  // Read before revoking: the key they are copied from will be gone. A retry reads them from the
  // record an earlier attempt left, since the provider no longer knows the revoked key.
  const recorded = tags[TAGS.singleKeyPermissions];
  if (tags[TAGS.interruptionStartedAt] !== undefined && recorded !== undefined) {
    await deps.fence?.();
    await provider.revokeKey(current.keyId);
    return JSON.parse(Buffer.from(recorded, 'base64url').toString('utf8')) as unknown;
  }
  const permissions = await provider.describePermissions(current.keyId);
  const encoded = Buffer.from(JSON.stringify(permissions ?? null)).toString('base64url');
  if (encoded.length > 256) {
    throw new RotationStateError(
      `${name}: the key's permissions are too large to record before revoking it (tag values hold 256 characters); state them in the inventory's provider options instead. Nothing was changed.`,
      { secretId: name },
    );
  }
  await deps.alert?.({
    subject: `rekey: ${name} rotates with an interruption now`,
    secret: name,
    event: 'single-key-interruption',
    detail: `key ${current.keyId} is revoked before its replacement exists (single-key rotation); calls fail until apps read the new key.`,
  });
  await deps.secretsManager.send(
    new TagResourceCommand({
      SecretId: secretId,
      Tags: [
        { Key: TAGS.interruptionStartedAt, Value: deps.now().toISOString() },
        { Key: TAGS.singleKeyPermissions, Value: encoded },
      ],
    }),
  );
  // Revoke even on a retry: "already gone" counts as done.
  await deps.fence?.();
  await provider.revokeKey(current.keyId);
  deps.logger.warn('single-key rotation: current key revoked, interruption begins', { keyId: current.keyId });
  return permissions;
}

/** finishSecret's tail for single-key rotation: measure the interruption and record the revoked key. */
export async function endInterruption(
  secretId: string,
  metadata: DescribeSecretCommandOutput,
  previous: { versionId: string; keyId: string } | undefined,
  deps: SingleKeyDeps,
): Promise<void> {
  const tags = tagMap(metadata.Tags);
  const started = Date.parse(tags[TAGS.interruptionStartedAt] ?? '');
  if (Number.isNaN(started)) return; // already measured by an earlier delivery
  const now = deps.now();
  const interruptionMs = Math.max(0, now.getTime() - started);
  const name = metadata.Name ?? secretId;
  await deps.secretsManager.send(
    new TagResourceCommand({
      SecretId: secretId,
      Tags: [
        { Key: TAGS.lastInterruptionMs, Value: String(interruptionMs) },
        ...(previous
          ? [
              { Key: TAGS.lastRevokedVersion, Value: previous.versionId },
              { Key: TAGS.lastRevokedKeyId, Value: previous.keyId },
              { Key: TAGS.lastRevokedAt, Value: new Date(started).toISOString() },
            ]
          : []),
      ],
    }),
  );
  if (previous && metadata.VersionIdsToStages?.[previous.versionId]?.includes(AWSPREVIOUS)) {
    await deps.secretsManager.send(
      new UpdateSecretVersionStageCommand({
        SecretId: secretId,
        VersionStage: AWSPREVIOUS,
        RemoveFromVersionId: previous.versionId,
      }),
    );
  }
  await deps.secretsManager.send(
    new UntagResourceCommand({
      SecretId: secretId,
      TagKeys: [TAGS.interruptionStartedAt, TAGS.singleKeyPermissions],
    }),
  );
  deps.logger.info(
    'single-key rotation: interruption over',
    emfRecord(
      [{ name: METRICS.interruptionSeconds, value: interruptionMs / 1000, unit: 'Seconds' }],
      { [DIMENSIONS.secret]: name },
      { interruptionMs },
      now,
    ),
  );
}
