import { createHash } from 'node:crypto';
import {
  type DescribeSecretCommandOutput,
  PutSecretValueCommand,
  type SecretsManagerClient,
  TagResourceCommand,
  UpdateSecretVersionStageCommand,
} from '@aws-sdk/client-secrets-manager';
import * as z from 'zod/mini';
import type { Alert } from './alerts.js';
import {
  InvalidInputError,
  KeyTestFailedError,
  ProviderAccountFullError,
  ProviderOutcomeUnknownError,
  RekeyError,
  RotationStateError,
  RoutingMismatchError,
} from './errors.js';
import { recordKeyOwner } from './key-owners.js';
import { type LeaseDeps, withSecretLease } from './lease.js';
import type { Logger } from './logger.js';
import type { CreatedKey, ProviderClient } from './providers/types.js';
import { backoffDelay, DEFAULT_RETRY_POLICY, sleep } from './retry.js';
import {
  checkDocument,
  checkTags,
  type KeyRoute,
  type KeyRoutes,
  routeGraceSeconds,
  type ScopeFor,
} from './routes.js';
import { type ManagedKey, serializeManagedKey } from './secret-format.js';
import {
  AWSCURRENT,
  AWSPENDING,
  AWSPREVIOUS,
  connectProvider,
  describeSecret,
  isAwsError,
  type ProviderConnection,
  REKEYPROVIDED,
  readManagedKey,
  versionWithStage,
} from './secrets.js';
import { beginInterruption, endInterruption, isSingleKey } from './single-key.js';
import { TAGS, tagMap, tagText } from './tags.js';

/** The event Secrets Manager sends a rotation function. */
export const RotationEventSchema = z.object({
  Step: z.enum(['createSecret', 'setSecret', 'testSecret', 'finishSecret']),
  SecretId: z.string().check(z.minLength(1)),
  ClientRequestToken: z.string().check(z.minLength(1)),
  RotationToken: z.optional(z.string()),
});
export type RotationEvent = z.infer<typeof RotationEventSchema>;

/** What finishSecret knows once the new key is AWSCURRENT; the revocation machinery takes it from here. */
export interface Promotion {
  secretArn: string;
  secretName: string;
  newVersionId: string;
  previousVersionId: string;
  previousKeyId: string;
  /** When finishSecret saw the new version become AWSCURRENT. */
  promotedAt: Date;
  /** Seconds the previous key stays valid after promotion. */
  graceSeconds: number;
  /** When the previous key becomes due for revocation. */
  dueAt: Date;
  metadata: DescribeSecretCommandOutput;
}

export interface RevocationHandOver {
  beforePromotion(promotion: Promotion, deps: RotationDeps): Promise<void>;
  afterPromotion(promotion: Promotion, deps: RotationDeps): Promise<void>;
}

export interface RotationDeps extends ProviderConnection {
  secretsManager: SecretsManagerClient;
  logger: Logger;
  /** The keys this function may rotate, as deployed; any other secret is refused. */
  routes: KeyRoutes;
  /** The per-key scope (a session of the key's rotation role); default `secretsManager` itself. */
  scopeFor?: ScopeFor;
  now?: () => Date;
  /**
   * Hands the previous key to revocation. `beforePromotion` runs ahead of the promotion — a crash right after
   * it must not leave the old key valid forever, and nothing re-runs a finishSecret whose version is already
   * AWSCURRENT — and again on a retried finishSecret; `afterPromotion` once the new key is AWSCURRENT. Both
   * must be idempotent. Default: record the due revocation in the secret's tags.
   */
  handOver?: RevocationHandOver;
  /** Publishes an operator alert (single-key rotations announce their interruption). */
  alert?: (alert: Alert) => Promise<void>;
  /**
   * The per-secret lease every step takes before it looks at the secret (one owner per secret). Unset only
   * where no other actor can run (tests that show what the lease prevents).
   */
  lease?: LeaseDeps;
  /** Set while a step holds the lease: the fencing check to make right before an irreversible call. */
  fence?: () => Promise<void>;
}

/**
 * Provider-side name of the key created for version `token` of `secretName`. Deterministic, so a retried
 * createSecret finds what a crashed attempt created; bounded by the provider's name length.
 */
export function keyNameFor(secretName: string, token: string, maxLength: number): string {
  const tokenPart =
    token.length <= 36 && /^[A-Za-z0-9-]+$/.test(token)
      ? token
      : createHash('sha256').update(token).digest('hex').slice(0, 32);
  const room = Math.max(0, maxLength - 'rekey--'.length - tokenPart.length);
  const slug = secretName
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, Math.min(room, 40))
    .replace(/-+$/, '');
  return slug ? `rekey-${slug}-${tokenPart}` : `rekey-${tokenPart}`;
}

export function parseRotationEvent(event: unknown): RotationEvent {
  const parsed = RotationEventSchema.safeParse(event);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const field = issue.path.join('.') || '(event)';
    const secretId =
      typeof (event as { SecretId?: unknown })?.SecretId === 'string'
        ? (event as { SecretId: string }).SecretId
        : undefined;
    const fix =
      field === 'Step'
        ? 'expected one of createSecret, setSecret, testSecret, finishSecret'
        : 'expected the event Secrets Manager sends a rotation function';
    throw new InvalidInputError(
      'INVALID_EVENT',
      `rotation event${secretId ? ` for ${secretId}` : ''}: field "${field}" is invalid; ${fix}.`,
      {
        field,
        ...(secretId ? { secretId } : {}),
      },
    );
  }
  return parsed.data;
}

/** A step's dependencies: the deployment's route of the secret, and clients scoped to that key. */
type StepDeps = RotationDeps & { route: KeyRoute };

/**
 * Runs one step of a Secrets Manager rotation. Shaped like AWS's rotation templates: validate the secret's
 * state, then dispatch to a step that first asks "is my work already done?". Only a secret the deployment
 * routes to this function is touched, with that key's own scope; a request, document or tag that asks for
 * anything else is refused, alerted, and changes nothing.
 */
export async function runRotationStep(rawEvent: unknown, deps: RotationDeps): Promise<void> {
  const event = parseRotationEvent(rawEvent);
  let scoped: StepDeps | undefined;
  try {
    const route = deps.routes.require(event.SecretId, `rotation step ${event.Step}`);
    const step: StepDeps = { ...deps, ...deps.scopeFor?.(route), route };
    scoped = step;
    if (!deps.lease) return await runStep(event, step);
    // The lease is keyed by ARN, whatever name the event uses; the step reads the secret after taking it.
    const { ARN: arn } = await describeSecret(step.secretsManager, event.SecretId);
    return await withSecretLease(deps.lease, arn ?? event.SecretId, `rotation:${event.Step}`, (lease) =>
      runStep(event, { ...step, fence: () => lease.fence() }),
    );
  } catch (error) {
    if (error instanceof RoutingMismatchError)
      await deps.alert?.({
        subject: `rekey: refused to rotate ${event.SecretId} — it asks for something the deployment does not`,
        secret: event.SecretId,
        event: 'routing-mismatch',
        detail: error.message,
      });
    // A refused request changes nothing, not even the record; any other failure is recorded for the CLI.
    else if (scoped) await recordFailure(event, error, scoped);
    throw error;
  }
}

/** Leaves which step of which version failed, and why, on the secret: what `rekey rotate` reports. */
async function recordFailure(event: RotationEvent, error: unknown, deps: StepDeps): Promise<void> {
  const code = error instanceof RekeyError ? error.code : error instanceof Error ? error.name : 'Error';
  const reason = deps.logger.redact(error instanceof Error ? error.message : String(error));
  try {
    await deps.secretsManager.send(
      new TagResourceCommand({
        SecretId: event.SecretId,
        Tags: [
          { Key: TAGS.lastFailure, Value: tagText(`${event.ClientRequestToken} ${event.Step} ${code}`) },
          { Key: TAGS.lastFailureReason, Value: tagText(reason) },
        ],
      }),
    );
  } catch (tagError) {
    deps.logger.warn('could not record the failed step on the secret', { error: tagError });
  }
}

async function runStep(event: RotationEvent, deps: StepDeps): Promise<void> {
  const { SecretId: secretId, ClientRequestToken: token, Step: step } = event;
  const log = deps.logger.child({ secretId, versionId: token, step });
  const metadata = await describeSecret(deps.secretsManager, secretId);
  checkTags(deps.route, metadata, secretId);
  // An emergency's grace for this version is bounded at every step, before any key is made.
  routeGraceSeconds(deps.route, metadata, secretId, token);

  if (!metadata.RotationEnabled) {
    throw new RotationStateError(
      `secret ${secretId} is not enabled for rotation; enable it (RotateSecret with a RotationLambdaARN, or deploy the rekey stack) before rotating.`,
      {
        secretId,
      },
    );
  }
  const stages = metadata.VersionIdsToStages?.[token];
  if (!stages) {
    throw new RotationStateError(
      `secret ${secretId} has no version ${token}; the event's ClientRequestToken must be a version Secrets Manager created for this rotation.`,
      {
        secretId,
        field: 'ClientRequestToken',
      },
    );
  }
  if (stages.includes(AWSCURRENT)) {
    if (step === 'finishSecret') return finishAlreadyPromoted(secretId, token, metadata, deps, log);
    log.info('version is already AWSCURRENT; nothing to do');
    return;
  }
  if (!stages.includes(AWSPENDING)) {
    throw new RotationStateError(
      `version ${token} of secret ${secretId} is not staged AWSPENDING; only a pending version can be rotated.`,
      {
        secretId,
        field: 'ClientRequestToken',
      },
    );
  }

  switch (step) {
    case 'createSecret':
      return createSecret(secretId, token, metadata, deps, log);
    case 'setSecret':
      return setSecret(secretId, token, deps, log);
    case 'testSecret':
      return testSecret(secretId, token, deps, log);
    case 'finishSecret':
      return finishSecret(secretId, token, metadata, deps, log);
  }
}

async function readCurrent(
  secretId: string,
  deps: StepDeps,
  log: Logger,
): Promise<{ doc: ManagedKey; versionId: string }> {
  const current = await readManagedKey(deps.secretsManager, log, {
    SecretId: secretId,
    VersionStage: AWSCURRENT,
  });
  if (!current) {
    throw new RotationStateError(
      `secret ${secretId} has no AWSCURRENT value; import the current key first (rekey import) so rotation knows what to replace.`,
      {
        secretId,
      },
    );
  }
  return current;
}

async function createSecret(
  secretId: string,
  token: string,
  metadata: DescribeSecretCommandOutput,
  deps: StepDeps,
  log: Logger,
): Promise<void> {
  const sm = deps.secretsManager;
  const current = await readCurrent(secretId, deps, log);
  // Every path below — also an assisted provider's, which calls no provider — acts on the deployed route.
  checkDocument(deps.route, current.doc, { secretId, ...(metadata.ARN ? { secretArn: metadata.ARN } : {}) });
  const pending = await readManagedKey(sm, log, {
    SecretId: secretId,
    VersionId: token,
    VersionStage: AWSPENDING,
  });
  if (pending) {
    if (deps.provider.assisted) await releaseProvidedKey(secretId, metadata, pending.doc.keyId, deps);
    log.info('pending version already holds a key; createSecret is done');
    return;
  }
  if (deps.provider.assisted) return stageProvidedKey(secretId, token, metadata, current.doc, deps, log);
  const provider = await connectProvider(sm, log, secretId, current.doc, deps.route, deps);
  const permissions = isSingleKey(deps.route, deps.provider)
    ? await beginInterruption(secretId, metadata, current.doc, provider, deps.provider, deps.route, {
        ...deps,
        now: clock(deps),
      })
    : undefined;
  const name = keyNameFor(metadata.Name ?? secretId, token, deps.provider.maxKeyNameLength);
  const created = await createOrAdoptKey(
    metadata.Name ?? secretId,
    provider,
    name,
    current.doc.keyId,
    permissions,
    deps,
    log,
  ).catch(async (error: unknown) => {
    // Single-key: the current key is already revoked, so every minute without a new one is an outage.
    if (permissions !== undefined) await announceStuckInterruption(secretId, metadata, error, deps);
    throw error;
  });
  log.protect(created.value);
  // Before the key is stored anywhere: the revoker trusts this record, not a document, for whose key it is.
  // Without it the revoker checks every sibling secret instead, so a failed write only costs it time.
  if (deps.lease)
    await recordKeyOwner(deps.lease, deps.route, created.id).catch((error: unknown) =>
      log.warn(
        'could not record the new key as belonging to this secret; its revocation will check every sibling',
        {
          keyId: created.id,
          error,
        },
      ),
    );

  const now = clock(deps)();
  const doc: ManagedKey = {
    ...current.doc,
    key: created.value,
    keyId: created.id,
    keyName: created.name,
    createdAt: now.toISOString(),
  };
  try {
    await deps.fence?.();
    await sm.send(
      new PutSecretValueCommand({
        SecretId: secretId,
        ClientRequestToken: token,
        SecretString: serializeManagedKey(doc),
        VersionStages: [AWSPENDING],
      }),
    );
  } catch (error) {
    // The new key is stored nowhere, so nothing can be using it: revoke it rather than orphan it.
    if (isAwsError(error, 'ResourceExistsException')) {
      log.warn('a concurrent createSecret stored another key for this version; revoking ours', {
        keyId: created.id,
      });
      await revokeQuietly(provider, created.id, log);
      return;
    }
    log.error('storing the new key failed; revoking it at the provider so it is not orphaned', {
      keyId: created.id,
      error,
    });
    await revokeQuietly(provider, created.id, log);
    if (permissions !== undefined) await announceStuckInterruption(secretId, metadata, error, deps);
    throw error;
  }
  log.info('created new key and staged it AWSPENDING', { keyId: created.id, keyName: created.name });
}

/**
 * A single-key createSecret that revoked the current key but could not make the new one: no key works until
 * it succeeds. Operators hear it from the failed attempt itself; Secrets Manager re-attempts the rotation,
 * each failed re-attempt says so again, and `rekey rotate --emergency` forces a fresh attempt at once.
 */
async function announceStuckInterruption(
  secretId: string,
  metadata: DescribeSecretCommandOutput,
  error: unknown,
  deps: RotationDeps,
): Promise<void> {
  const name = metadata.Name ?? secretId;
  await deps.alert?.({
    subject: `rekey: ${name} has no working key — single-key rotation could not create the new one`,
    secret: name,
    event: 'single-key-interruption-stuck',
    detail: `the old key is revoked and creating its replacement failed (${deps.logger.redact(error instanceof Error ? error.message : String(error))}). Secrets Manager re-attempts the rotation; to retry now run: rekey rotate ${name} --emergency`,
  });
}

/** Create calls whose outcome a lost response hid, before createSecret gives up (the rotation is re-attempted). */
const CREATE_ATTEMPTS = 4;

/**
 * Finds what a crashed attempt for this version left at the provider. A key whose value the provider can
 * return is adopted; one whose value is lost (SendGrid, Twilio, Cloudflare show it only at creation) was
 * never stored, so nothing can use it: it is revoked and a fresh key created. A create whose answer was lost
 * is never re-sent blindly — the provider may have made the key — so every attempt starts with the lookup.
 * Either way exactly one key for this version remains. Before it creates one, an account the provider's key
 * list shows at its cap is refused (ProviderAccountFullError): a key found for this version is adopted
 * first, and one revoked first makes room, so neither counts against a retried step.
 */
async function createOrAdoptKey(
  secretName: string,
  provider: ProviderClient,
  name: string,
  likeKeyId: string,
  permissions: unknown,
  deps: StepDeps,
  log: Logger,
): Promise<CreatedKey> {
  for (let attempt = 1; ; attempt++) {
    const leftovers = await provider.findKeysByName(name);
    const adoptable = leftovers.find(
      (key): key is CreatedKey => typeof key.value === 'string' && key.value.length > 0,
    );
    for (const key of leftovers) {
      if (key === adoptable) continue;
      // Only the lease holder may take a key found by name for a dead attempt's: another live delivery of
      // this step could be storing it right now.
      await deps.fence?.();
      log.warn('revoking a key an earlier attempt created but never stored', {
        keyId: key.id,
        keyName: name,
      });
      await provider.revokeKey(key.id);
    }
    if (adoptable) {
      log.protect(adoptable.value);
      log.info('adopting the key an earlier attempt created', { keyId: adoptable.id, keyName: name });
      return adoptable;
    }
    const usage = await provider.keyQuota?.();
    if (usage && usage.held >= usage.cap) {
      log.error('the provider account is at its key cap; no key was created', {
        held: usage.held,
        cap: usage.cap,
      });
      throw new ProviderAccountFullError(secretName, deps.provider.displayName, usage);
    }
    try {
      await deps.fence?.();
      return await provider.createKey({
        name,
        likeKeyId,
        ...(permissions === undefined ? {} : { permissions }),
      });
    } catch (error) {
      if (!(error instanceof ProviderOutcomeUnknownError) || attempt >= CREATE_ATTEMPTS) throw error;
      const delay = backoffDelay(attempt, deps.http?.retry ?? DEFAULT_RETRY_POLICY, error, Math.random);
      log.warn('the answer to creating the key was lost; looking it up by name before trying again', {
        keyName: name,
        attempt,
        delayMs: delay,
      });
      await (deps.http?.retryHooks?.sleep ?? sleep)(delay);
    }
  }
}

/**
 * A provider with no key API (Stripe): the key a person made waits under REKEYPROVIDED (`rekey rotate
 * --provide-key`); createSecret copies it into the pending version, then releases the label. Without one,
 * a scheduled rotation cannot make a key and asks a person for it.
 */
async function stageProvidedKey(
  secretId: string,
  token: string,
  metadata: DescribeSecretCommandOutput,
  current: ManagedKey,
  deps: StepDeps,
  log: Logger,
): Promise<void> {
  const provided = versionWithStage(metadata, REKEYPROVIDED);
  const staged = provided
    ? await readManagedKey(deps.secretsManager, log, { SecretId: secretId, VersionId: provided })
    : undefined;
  if (!staged || staged.doc.keyId === current.keyId) {
    if (staged) await releaseProvidedKey(secretId, metadata, staged.doc.keyId, deps);
    return declineAssisted(secretId, token, metadata, deps, log);
  }
  await deps.secretsManager.send(
    new PutSecretValueCommand({
      SecretId: secretId,
      ClientRequestToken: token,
      SecretString: serializeManagedKey({ ...staged.doc, createdAt: clock(deps)().toISOString() }),
      VersionStages: [AWSPENDING],
    }),
  );
  await releaseProvidedKey(secretId, metadata, staged.doc.keyId, deps);
  log.info('staged the key a person provided as AWSPENDING', { keyId: staged.doc.keyId });
}

/** Drops REKEYPROVIDED once its key is staged, so no later rotation stages it again. */
async function releaseProvidedKey(
  secretId: string,
  metadata: DescribeSecretCommandOutput,
  keyId: string,
  deps: RotationDeps,
): Promise<void> {
  const provided = versionWithStage(metadata, REKEYPROVIDED);
  if (!provided) return;
  const staged = await readManagedKey(deps.secretsManager, deps.logger, {
    SecretId: secretId,
    VersionId: provided,
  });
  if (staged && staged.doc.keyId !== keyId) return;
  await deps.secretsManager.send(
    new UpdateSecretVersionStageCommand({
      SecretId: secretId,
      VersionStage: REKEYPROVIDED,
      RemoveFromVersionId: provided,
    }),
  );
}

/**
 * A scheduled rotation of a provider with no key API (Stripe) cannot create the key: it alerts the
 * operators with the command to run, clears its own AWSPENDING so the next attempt is not blocked, and
 * fails the step — the current key stays as it is.
 */
async function declineAssisted(
  secretId: string,
  token: string,
  metadata: DescribeSecretCommandOutput,
  deps: StepDeps,
  log: Logger,
): Promise<never> {
  const name = metadata.Name ?? secretId;
  const assisted = deps.provider.assisted!;
  await deps.alert?.({
    subject: `rekey: ${name} is due for rotation — a person must make the new key`,
    secret: name,
    event: 'assisted-rotation-due',
    detail: `${deps.provider.displayName} has no API to create keys. Create a new key at ${assisted.dashboardUrl}, then run: rekey rotate ${name} --provide-key < new-key`,
  });
  await deps.secretsManager.send(
    new UpdateSecretVersionStageCommand({
      SecretId: secretId,
      VersionStage: AWSPENDING,
      RemoveFromVersionId: token,
    }),
  );
  log.warn('scheduled rotation of an assisted provider: operators alerted, nothing changed');
  throw new RotationStateError(
    `${name}: ${deps.provider.displayName} keys cannot be created by API; an alert asked for \`rekey rotate ${name} --provide-key\`. The current key is unchanged.`,
    { secretId: name },
  );
}

async function revokeQuietly(provider: ProviderClient, keyId: string, log: Logger): Promise<void> {
  try {
    await provider.revokeKey(keyId);
  } catch (error) {
    log.error('could not revoke an unstored key; it is orphaned until revoked by hand', { keyId, error });
  }
}

async function setSecret(secretId: string, token: string, deps: StepDeps, log: Logger): Promise<void> {
  const pending = await readPending(secretId, token, deps, log);
  const provider = await connectProvider(deps.secretsManager, log, secretId, pending.doc, deps.route, deps);
  if (provider.setKey) {
    await deps.fence?.();
    await provider.setKey({ id: pending.doc.keyId, value: pending.doc.key });
    log.info('provider told about the pending key', { keyId: pending.doc.keyId });
  } else {
    log.info('setSecret: nothing to set for plain API keys');
  }
}

async function readPending(
  secretId: string,
  token: string,
  deps: StepDeps,
  log: Logger,
): Promise<{ doc: ManagedKey; versionId: string }> {
  const pending = await readManagedKey(deps.secretsManager, log, {
    SecretId: secretId,
    VersionId: token,
    VersionStage: AWSPENDING,
  });
  if (!pending) {
    throw new RotationStateError(
      `version ${token} of secret ${secretId} has no value yet; createSecret must succeed before this step.`,
      { secretId },
    );
  }
  return pending;
}

async function testSecret(secretId: string, token: string, deps: StepDeps, log: Logger): Promise<void> {
  const pending = await readPending(secretId, token, deps, log);
  const provider = await connectProvider(deps.secretsManager, log, secretId, pending.doc, deps.route, deps);
  const verdict = await provider.validateKey({ id: pending.doc.keyId, value: pending.doc.key });
  if (verdict !== 'accepted') {
    throw new KeyTestFailedError(
      `the pending key ${pending.doc.keyId} of secret ${secretId} (version ${token}) does not authenticate at ${deps.provider.displayName}; AWSCURRENT was left unchanged. Check the key's scopes and the provider account, then retry the rotation.`,
      { secretId },
    );
  }
  log.info('pending key authenticates at the provider', { keyId: pending.doc.keyId });
}

async function finishSecret(
  secretId: string,
  token: string,
  metadata: DescribeSecretCommandOutput,
  deps: StepDeps,
  log: Logger,
): Promise<void> {
  // Never promote a version without a key: that would leave no working key labelled AWSCURRENT.
  await readPending(secretId, token, deps, log);
  const previousVersionId = versionWithStage(metadata, AWSCURRENT);
  const promotion = previousVersionId
    ? await promotionOf(secretId, token, previousVersionId, metadata, deps, log)
    : undefined;
  if (promotion) await (deps.handOver?.beforePromotion ?? recordRevocationDue)(promotion, deps);
  await deps.fence?.();
  await deps.secretsManager.send(
    new UpdateSecretVersionStageCommand({
      SecretId: secretId,
      VersionStage: AWSCURRENT,
      MoveToVersionId: token,
      ...(previousVersionId ? { RemoveFromVersionId: previousVersionId } : {}),
    }),
  );
  log.info('promoted the new key to AWSCURRENT', { previousVersionId });
  const promoted = await describeSecret(deps.secretsManager, secretId);
  await finishAlreadyPromoted(secretId, token, promoted, deps, log);
}

/** The idempotent tail of finishSecret: clear AWSPENDING, then hand the previous key to revocation. */
async function finishAlreadyPromoted(
  secretId: string,
  token: string,
  metadata: DescribeSecretCommandOutput,
  deps: StepDeps,
  log: Logger,
): Promise<void> {
  if (metadata.VersionIdsToStages?.[token]?.includes(AWSPENDING)) await clearPending(secretId, token, deps);
  const previousVersionId = versionWithStage(metadata, AWSPREVIOUS);
  if (!previousVersionId) {
    log.info('no previous version; nothing to revoke');
    return;
  }
  if (isSingleKey(deps.route, deps.provider)) {
    const previous = await readManagedKey(deps.secretsManager, log, {
      SecretId: secretId,
      VersionId: previousVersionId,
    });
    // The previous key was revoked before its replacement existed; measure the interruption instead.
    if (previous)
      await endInterruption(
        secretId,
        metadata,
        { versionId: previousVersionId, keyId: previous.doc.keyId },
        { ...deps, now: clock(deps) },
      );
    return;
  }
  const promotion = await promotionOf(secretId, token, previousVersionId, metadata, deps, log);
  if (!promotion) return;
  // Again, for a retried finishSecret whose first delivery died before or after its hand-over.
  await (deps.handOver?.beforePromotion ?? recordRevocationDue)(promotion, deps);
  await deps.handOver?.afterPromotion(promotion, deps);
}

/** Removes AWSPENDING from the promoted version; a removal whose answer was lost (and was retried) is done. */
async function clearPending(secretId: string, token: string, deps: RotationDeps): Promise<void> {
  try {
    await deps.secretsManager.send(
      new UpdateSecretVersionStageCommand({
        SecretId: secretId,
        VersionStage: AWSPENDING,
        RemoveFromVersionId: token,
      }),
    );
  } catch (error) {
    if (!isAwsError(error, 'InvalidParameterException')) throw error;
    const now = await describeSecret(deps.secretsManager, secretId);
    if (now.VersionIdsToStages?.[token]?.includes(AWSPENDING)) throw error;
  }
}

/**
 * What the revocation machinery needs to know about replacing `previousVersionId` by `token` — undefined for
 * single-key rotation, whose previous key is already revoked, and when the previous version has no value.
 */
async function promotionOf(
  secretId: string,
  token: string,
  previousVersionId: string,
  metadata: DescribeSecretCommandOutput,
  deps: StepDeps,
  log: Logger,
): Promise<Promotion | undefined> {
  if (isSingleKey(deps.route, deps.provider)) return undefined;
  const previous = await readManagedKey(deps.secretsManager, log, {
    SecretId: secretId,
    VersionId: previousVersionId,
  });
  if (!previous) return undefined;
  const graceSeconds = routeGraceSeconds(deps.route, metadata, secretId, token);
  const now = clock(deps)();
  return {
    secretArn: metadata.ARN ?? secretId,
    secretName: metadata.Name ?? secretId,
    newVersionId: token,
    previousVersionId,
    previousKeyId: previous.doc.keyId,
    promotedAt: now,
    graceSeconds,
    dueAt: new Date(now.getTime() + graceSeconds * 1000),
    metadata,
  };
}

const clock = (deps: RotationDeps): (() => Date) => deps.now ?? (() => new Date());

/** Records the due revocation on the secret. Re-running it for the same promotion changes nothing. */
export async function recordRevocationDue(promotion: Promotion, deps: RotationDeps): Promise<void> {
  if (tagMap(promotion.metadata.Tags)[TAGS.revokeVersion] === promotion.previousVersionId) return;
  await deps.secretsManager.send(
    new TagResourceCommand({
      SecretId: promotion.secretArn,
      Tags: [
        { Key: TAGS.revokeDueAt, Value: promotion.dueAt.toISOString() },
        { Key: TAGS.revokeVersion, Value: promotion.previousVersionId },
        { Key: TAGS.revokeKeyId, Value: promotion.previousKeyId },
      ],
    }),
  );
  deps.logger.info('previous key is due for revocation', {
    secretId: promotion.secretArn,
    versionId: promotion.previousVersionId,
    keyId: promotion.previousKeyId,
    dueAt: promotion.dueAt.toISOString(),
  });
}
