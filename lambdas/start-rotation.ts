import { randomUUID } from 'node:crypto';
import {
  PutSecretValueCommand,
  RotateSecretCommand,
  type SecretsManagerClient,
  TagResourceCommand,
  UntagResourceCommand,
  UpdateSecretVersionStageCommand,
} from '@aws-sdk/client-secrets-manager';
import { formatDuration, parseDurationSeconds } from './duration.js';
import { InvalidInputError, RotationStateError } from './errors.js';
import { type LeaseDeps, withSecretLease } from './lease.js';
import type { Logger } from './logger.js';
import { keyNameFor } from './rotation.js';
import { checkDocument, checkTags, type KeyRoute, type KeyRoutes } from './routes.js';
import { type ManagedKey, serializeManagedKey } from './secret-format.js';
import {
  AWSCURRENT,
  AWSPENDING,
  connectionFor,
  connectProvider,
  describeSecret,
  isAwsError,
  type ProviderRegistry,
  REKEYPROVIDED,
  readManagedKey,
  versionWithStage,
} from './secrets.js';
import { emergencyFor, TAGS, tagMap, withVersion } from './tags.js';

export interface StartRotationOptions {
  /** Emergency: cancel a stuck rotation first, and revoke the old key after `graceSeconds` (default 0). */
  emergency?: boolean;
  graceSeconds?: number;
  /**
   * A key a person made (providers without a key API, e.g. Stripe): staged as AWSPENDING, then tested and
   * promoted by the rotation function like any new key. Never logged.
   */
  providedKey?: string;
}

export interface StartRotationDeps extends ProviderRegistry {
  secretsManager: SecretsManagerClient;
  logger: Logger;
  /** The per-secret lease, held while a stuck rotation is cancelled and the emergency recorded. */
  lease?: LeaseDeps;
  /** The deployment's keys (the CLI: the inventory's); any other secret is refused. */
  routes: KeyRoutes;
}

export interface StartedRotation {
  secret: string;
  arn: string;
  /** Version the rotation will promote. */
  versionId: string;
  /** Version that was AWSCURRENT when the rotation started. */
  previousVersionId: string | undefined;
  /** A stuck rotation this call cancelled (emergency only), and the provider keys it revoked. */
  cancelled?: { versionId: string; revokedKeyIds: string[] };
}

/**
 * Starts a rotation now through RotateSecret — what `rekey rotate` calls. A stuck rotation (AWSPENDING left
 * on another version by a failed run) is reported; with `emergency` it is cancelled safely first: the keys
 * that version created were never AWSCURRENT, so nobody uses them, and they are revoked at the provider.
 */
export async function startRotation(
  secretId: string,
  options: StartRotationOptions,
  deps: StartRotationDeps,
): Promise<StartedRotation> {
  const sm = deps.secretsManager;
  const route = deps.routes.require(secretId, 'starting a rotation');
  const deployedGrace = parseDurationSeconds(route.gracePeriod) ?? 0;
  if (options.emergency && (options.graceSeconds ?? 0) > deployedGrace)
    throw new InvalidInputError(
      'INVALID_INPUT',
      `${route.secretName}: an emergency may only shorten the grace period, and --grace ${formatDuration(options.graceSeconds ?? 0)} is longer than the deployed grace_period ${route.gracePeriod} of "${route.name}"; nothing was changed. Give --grace ${route.gracePeriod} or less.`,
      { secretId: route.secretName, field: '--grace' },
    );
  // The version this call asks for: the emergency is recorded against it, so no other rotation inherits it.
  const token = randomUUID();
  const prepared =
    deps.lease && (options.emergency || options.providedKey !== undefined)
      ? await withSecretLease(
          deps.lease,
          (await describeSecret(sm, secretId)).ARN ?? secretId,
          options.emergency ? 'emergency-rotation' : 'rotation',
          (lease) => prepareRotation(secretId, token, options, route, deps, () => lease.fence()),
        )
      : await prepareRotation(secretId, token, options, route, deps, async () => {});
  const { name, arn, currentVersion, cancelled, log } = prepared;
  try {
    const out = await sm.send(
      new RotateSecretCommand({ SecretId: arn, RotateImmediately: true, ClientRequestToken: token }),
    );
    log.info('audit: rotation started', {
      audit: 'rekey.rotation-started',
      versionId: out.VersionId,
      emergency: Boolean(options.emergency),
    });
    return {
      secret: name,
      arn,
      versionId: out.VersionId!,
      previousVersionId: currentVersion,
      ...(cancelled ? { cancelled } : {}),
    };
  } catch (error) {
    // The emergency was this version's; with no rotation to carry it, it must not wait for the next one
    // (and another emergency's tag, set meanwhile, is left alone).
    if (options.emergency)
      await clearEmergency(sm, arn, token).catch((untagError: unknown) =>
        log.error('could not clear the emergency of a rotation that never started', { error: untagError }),
      );
    if (
      isAwsError(error, 'InvalidRequestException') &&
      /previous rotation isn't complete/i.test((error as Error).message)
    ) {
      throw new RotationStateError(
        `another rotation of ${name} is in progress; rekey did not start a second one. Check it with: rekey status ${name}`,
        { secretId: name, cause: { name: 'InvalidRequestException' } },
      );
    }
    throw error;
  }
}

async function clearEmergency(sm: SecretsManagerClient, arn: string, token: string): Promise<void> {
  if (emergencyFor(tagMap((await describeSecret(sm, arn)).Tags), token))
    await sm.send(new UntagResourceCommand({ SecretId: arn, TagKeys: [TAGS.emergencyGrace] }));
}

/**
 * What comes before RotateSecret, under the secret's lease: cancel a stuck rotation (emergency), record the
 * emergency against `token` and the current version as compromised, stage a person-made key.
 */
async function prepareRotation(
  secretId: string,
  token: string,
  options: StartRotationOptions,
  route: KeyRoute,
  deps: StartRotationDeps,
  fence: () => Promise<void>,
) {
  const sm = deps.secretsManager;
  const metadata = await describeSecret(sm, secretId);
  checkTags(route, metadata, secretId);
  const name = metadata.Name ?? secretId;
  const arn = metadata.ARN ?? secretId;
  const log = deps.logger.child({
    secretId: name,
    action: options.emergency ? 'emergency-rotation' : 'rotation',
  });
  if (!metadata.RotationEnabled || !metadata.RotationLambdaARN) {
    throw new RotationStateError(
      `${name} has no rotation function attached; deploy it with the rekey stack (or RotateSecret with a RotationLambdaARN) first.`,
      { secretId: name },
    );
  }
  const currentVersion = versionWithStage(metadata, AWSCURRENT);
  const pendingVersion = versionWithStage(metadata, AWSPENDING);
  const stuck = pendingVersion && pendingVersion !== currentVersion ? pendingVersion : undefined;
  let cancelled: StartedRotation['cancelled'];
  if (stuck) {
    if (!options.emergency) {
      throw new RotationStateError(
        `rotation of ${name} is stuck: version ${stuck} is still AWSPENDING from a run that did not finish (see the rotation function's logs). Cancel it safely and rotate with: rekey rotate ${name} --emergency`,
        { secretId: name },
      );
    }
    cancelled = await cancelStuckRotation(arn, name, stuck, route, deps, fence, log);
  }
  if (options.emergency) {
    const tags = tagMap(metadata.Tags);
    await fence();
    await sm.send(
      new TagResourceCommand({
        SecretId: arn,
        Tags: [
          { Key: TAGS.emergencyGrace, Value: `${formatDuration(options.graceSeconds ?? 0)} ${token}` },
          // The key is declared compromised now, whatever becomes of the rotation: never restore it.
          ...(currentVersion
            ? [
                {
                  Key: TAGS.compromisedVersions,
                  Value: withVersion(tags, TAGS.compromisedVersions, currentVersion),
                },
              ]
            : []),
        ],
      }),
    );
  }
  if (options.providedKey !== undefined)
    await stageProvidedKey(arn, name, options.providedKey, route, deps, log);
  return { name, arn, currentVersion, cancelled, log };
}

async function cancelStuckRotation(
  arn: string,
  name: string,
  versionId: string,
  route: KeyRoute,
  deps: StartRotationDeps,
  fence: () => Promise<void>,
  log: Logger,
): Promise<{ versionId: string; revokedKeyIds: string[] }> {
  const sm = deps.secretsManager;
  const current = await readManagedKey(sm, log, { SecretId: arn, VersionStage: AWSCURRENT });
  if (!current)
    throw new RotationStateError(
      `${name} has no AWSCURRENT value; import the current key first (rekey import).`,
      { secretId: name },
    );
  const connection = await connectionFor(route, deps);
  const definition = connection.provider;
  const provider = await connectProvider(sm, log, arn, current.doc, route, connection);
  const pending = await readManagedKey(sm, log, {
    SecretId: arn,
    VersionId: versionId,
    VersionStage: AWSPENDING,
  });
  const candidates = new Set<string>();
  if (pending) candidates.add(pending.doc.keyId);
  for (const key of await provider.findKeysByName(keyNameFor(name, versionId, definition.maxKeyNameLength)))
    candidates.add(key.id);
  candidates.delete(current.doc.keyId); // never the live key
  if (definition.assisted) {
    // No revoke API: the stuck key was never current, so nobody uses it; a person deletes it.
    log.warn('stuck rotation cancelled; delete its key by hand', {
      keyIds: [...candidates],
      dashboard: definition.assisted.dashboardUrl,
    });
    candidates.clear();
  }
  const revokedKeyIds: string[] = [];
  for (const keyId of candidates) {
    await fence();
    await provider.revokeKey(keyId);
    revokedKeyIds.push(keyId);
  }
  await fence();
  await sm.send(
    new UpdateSecretVersionStageCommand({
      SecretId: arn,
      VersionStage: AWSPENDING,
      RemoveFromVersionId: versionId,
    }),
  );
  log.warn('audit: cancelled a stuck rotation', {
    audit: 'rekey.stuck-rotation-cancelled',
    versionId,
    revokedKeyIds,
  });
  return { versionId, revokedKeyIds };
}

/**
 * Stores a person-made key in a new version labelled REKEYPROVIDED, after checking it fits the provider;
 * the rotation's createSecret stages it as AWSPENDING.
 */
async function stageProvidedKey(
  arn: string,
  name: string,
  value: string,
  route: KeyRoute,
  deps: StartRotationDeps,
  log: Logger,
): Promise<void> {
  log.protect(value);
  const current = await readManagedKey(deps.secretsManager, log, { SecretId: arn, VersionStage: AWSCURRENT });
  if (!current)
    throw new RotationStateError(
      `${name} has no AWSCURRENT value; import the current key first (rekey import).`,
      { secretId: name },
    );
  checkDocument(route, current.doc, { secretId: arn, secretArn: arn });
  const definition = (await connectionFor(route, deps)).provider;
  if (!definition.assisted) {
    throw new RotationStateError(
      `${name}: --provide-key is for providers without a key API; rekey creates ${definition.displayName} keys itself — run rekey rotate ${name}.`,
      { secretId: name },
    );
  }
  if (!definition.assisted.looksLikeKey(value)) {
    throw new InvalidInputError(
      'INVALID_INPUT',
      `${name}: the provided key does not look like a ${definition.displayName} secret key (sk_… or rk_…); nothing was stored.`,
      { secretId: name, field: 'stdin' },
    );
  }
  if (value === current.doc.key) {
    throw new InvalidInputError(
      'INVALID_INPUT',
      `${name}: the provided key is the current key; make a new one in the ${definition.displayName} Dashboard first.`,
      { secretId: name, field: 'stdin' },
    );
  }
  const token = randomUUID();
  const doc: ManagedKey = {
    ...current.doc,
    key: value,
    keyId: definition.assisted.keyIdOf(value),
    createdAt: new Date().toISOString(),
  };
  delete doc.keyName;
  await deps.secretsManager.send(
    new PutSecretValueCommand({
      SecretId: arn,
      ClientRequestToken: token,
      SecretString: serializeManagedKey(doc),
      VersionStages: [REKEYPROVIDED],
    }),
  );
  log.info('audit: provided key staged', {
    audit: 'rekey.provided-key-staged',
    versionId: token,
    keyId: doc.keyId,
  });
}
