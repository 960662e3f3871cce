import { createHash } from 'node:crypto';
import {
  ConflictException,
  CreateScheduleCommand,
  DeleteScheduleCommand,
  ListSchedulesCommand,
  type SchedulerClient,
} from '@aws-sdk/client-scheduler';
import {
  type DescribeSecretCommandOutput,
  type SecretsManagerClient,
  TagResourceCommand,
  UntagResourceCommand,
  UpdateSecretVersionStageCommand,
} from '@aws-sdk/client-secrets-manager';
import type { SNSClient } from '@aws-sdk/client-sns';
import { z } from 'zod';
import { publishAlert } from './alerts.js';
import { emfRecord } from './emf.js';
import { InvalidInputError, isRetryable } from './errors.js';
import type { Logger } from './logger.js';
import type { ProviderClient, ProviderDefinition } from './providers/types.js';
import type { RetryHooks, RetryPolicy } from './retry.js';
import { type Promotion, type RotationDeps, recordRevocationDue } from './rotation.js';
import { AWSCURRENT, AWSPREVIOUS, connectProvider, describeSecret, readManagedKey } from './secrets.js';
import { TAGS, tagMap } from './tags.js';
import { DIMENSIONS, METRICS, type RevocationOutcome } from './telemetry.js';
import type { UsageSource, UsageVerdict } from './usage.js';

/** What the revoker is asked to do; it is the Scheduler target's input, so it never holds a key value. */
export const RevocationRequestSchema = z.object({
  secretArn: z.string().min(1),
  /** Version whose key is revoked (the old AWSCURRENT, or the key a rollback rejected). */
  previousVersionId: z.string().min(1),
  previousKeyId: z.string().min(1),
  /** Version that replaced it, whose use is the evidence the fleet moved on. */
  newVersionId: z.string().min(1),
  /** When the new version became AWSCURRENT. */
  promotedAt: z.iso.datetime({ offset: true }),
  /** rotation: usage-gated; emergency and rollback: revoke without waiting for usage evidence. */
  reason: z.enum(['rotation', 'emergency', 'rollback']).default('rotation'),
  /** How many times this revocation was already re-scheduled. */
  attempt: z.number().int().min(0).default(0),
});
export type RevocationRequest = z.input<typeof RevocationRequestSchema>;

export interface RevocationConfig {
  /** EventBridge Scheduler group holding rekey's schedules. */
  scheduleGroup: string;
  /** Role Scheduler assumes to invoke the revoker (may invoke nothing else). */
  schedulerRoleArn: string;
  revokerArn: string;
  /** SQS queue for deliveries Scheduler gives up on. */
  deadLetterArn?: string;
  /** SNS topic for aborts, give-ups and rollbacks. */
  alertTopicArn?: string;
  /** Wait before re-checking usage or retrying a failed provider call. Default 15 min. */
  recheckSeconds?: number;
  /** Usage checks / provider attempts before giving up and alerting. Default 8. */
  maxAttempts?: number;
}

/** Reads the revocation wiring the stack passes to rotation, revoker and rollback functions. */
export function revocationConfigFromEnv(env: NodeJS.ProcessEnv = process.env): RevocationConfig | undefined {
  const { REKEY_SCHEDULE_GROUP, REKEY_SCHEDULER_ROLE_ARN, REKEY_REVOKER_ARN } = env;
  if (!REKEY_SCHEDULE_GROUP || !REKEY_SCHEDULER_ROLE_ARN || !REKEY_REVOKER_ARN) return undefined;
  return {
    scheduleGroup: REKEY_SCHEDULE_GROUP,
    schedulerRoleArn: REKEY_SCHEDULER_ROLE_ARN,
    revokerArn: REKEY_REVOKER_ARN,
    ...(env.REKEY_DLQ_ARN ? { deadLetterArn: env.REKEY_DLQ_ARN } : {}),
    ...(env.REKEY_ALERT_TOPIC_ARN ? { alertTopicArn: env.REKEY_ALERT_TOPIC_ARN } : {}),
    ...(env.REKEY_RECHECK_SECONDS ? { recheckSeconds: Number(env.REKEY_RECHECK_SECONDS) } : {}),
    ...(env.REKEY_MAX_ATTEMPTS ? { maxAttempts: Number(env.REKEY_MAX_ATTEMPTS) } : {}),
  };
}

export interface RevocationDeps {
  secretsManager: SecretsManagerClient;
  scheduler: SchedulerClient;
  sns?: SNSClient;
  config: RevocationConfig;
  logger: Logger;
  now?: () => Date;
  /** Adapters by provider name; default: every adapter rekey ships. */
  providerFor?: (name: string) => ProviderDefinition;
  /** Provider API base URLs by provider name (sandboxes); default: the public APIs. */
  endpoints?: Record<string, string>;
  http?: { timeoutMs?: number; retry?: RetryPolicy; retryHooks?: RetryHooks };
  /** Client-side usage evidence (CloudWatch metrics of the rekey client). */
  usageSources?: UsageSource[];
}

/**
 * Scheduler name for revoking `versionId` of `secretName`: readable prefix + stable hash, within
 * Scheduler's 64 characters of [0-9a-zA-Z-_.]. Re-schedules append `-r<attempt>`.
 */
export function revocationScheduleName(secretName: string, versionId: string, attempt = 0): string {
  const hash = createHash('sha256').update(`${secretName}\0${versionId}`).digest('hex').slice(0, 20);
  const slug = secretName
    .replace(/[^0-9a-zA-Z-_.]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 24);
  return `rekey-${slug ? `${slug}-` : ''}${hash}${attempt > 0 ? `-r${attempt}` : ''}`;
}

/** Scheduler's at() expression for the first whole minute at or after `date` (it fires at minute precision). */
export function atExpression(date: Date): string {
  const ceil = new Date(Math.ceil(date.getTime() / 60_000) * 60_000);
  return `at(${ceil.toISOString().slice(0, 19)})`;
}

/**
 * Creates the one-shot schedule that fires the revoker. A retried call hits ConflictException on the same
 * derived name and counts as done, so finishSecret can be re-run safely.
 */
export async function scheduleRevocation(
  request: RevocationRequest,
  dueAt: Date,
  deps: Pick<RevocationDeps, 'scheduler' | 'config' | 'logger'> & { secretName: string },
): Promise<'scheduled' | 'already-scheduled'> {
  const parsed = RevocationRequestSchema.parse(request);
  const name = revocationScheduleName(deps.secretName, parsed.previousVersionId, parsed.attempt);
  try {
    await deps.scheduler.send(
      new CreateScheduleCommand({
        Name: name,
        GroupName: deps.config.scheduleGroup,
        ScheduleExpression: atExpression(dueAt),
        ScheduleExpressionTimezone: 'UTC',
        FlexibleTimeWindow: { Mode: 'OFF' },
        ActionAfterCompletion: 'DELETE',
        Description: `rekey: revoke version ${parsed.previousVersionId} of ${deps.secretName} (${parsed.reason})`,
        Target: {
          Arn: deps.config.revokerArn,
          RoleArn: deps.config.schedulerRoleArn,
          Input: JSON.stringify(parsed),
          RetryPolicy: { MaximumRetryAttempts: 10, MaximumEventAgeInSeconds: 86_400 },
          ...(deps.config.deadLetterArn ? { DeadLetterConfig: { Arn: deps.config.deadLetterArn } } : {}),
        },
      }),
    );
  } catch (error) {
    if (error instanceof ConflictException) return 'already-scheduled';
    throw error;
  }
  deps.logger.info('revocation scheduled', {
    schedule: name,
    secretId: deps.secretName,
    versionId: parsed.previousVersionId,
    keyId: parsed.previousKeyId,
    dueAt: dueAt.toISOString(),
    reason: parsed.reason,
  });
  return 'scheduled';
}

/** Deletes every schedule (first and re-schedules) that would revoke `versionId`; returns how many. */
export async function cancelRevocation(
  secretName: string,
  versionId: string,
  deps: Pick<RevocationDeps, 'scheduler' | 'config'>,
): Promise<number> {
  const prefix = revocationScheduleName(secretName, versionId);
  const listed = await deps.scheduler.send(
    new ListSchedulesCommand({ GroupName: deps.config.scheduleGroup, NamePrefix: prefix }),
  );
  let deleted = 0;
  for (const schedule of listed.Schedules ?? []) {
    try {
      await deps.scheduler.send(
        new DeleteScheduleCommand({ Name: schedule.Name, GroupName: deps.config.scheduleGroup }),
      );
      deleted += 1;
    } catch (error) {
      if (!(error instanceof Error && error.name === 'ResourceNotFoundException')) throw error;
    }
  }
  return deleted;
}

export interface RevocationReport {
  outcome: RevocationOutcome;
  secret: string;
  versionId: string;
  keyId: string;
  reason: string;
  evidence?: UsageVerdict['source'];
}

/**
 * The revoker. Before revoking it checks, in order: the old key is not AWSCURRENT (a rollback happened →
 * abort and alert); the current key authenticates (never leave no working key); the new key is in use
 * (provider last-used, else client metrics, else testSecret's success) — if not yet, it re-schedules itself
 * up to `maxAttempts` times, then alerts and leaves the old key alive. Then it revokes (already gone counts
 * as done), records the revocation on the secret and emits an audit line. Every outcome is a log line and a
 * metric. Safe under at-least-once delivery.
 */
export async function revokePreviousKey(
  rawRequest: unknown,
  deps: RevocationDeps,
): Promise<RevocationReport> {
  const parsed = RevocationRequestSchema.safeParse(rawRequest);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new InvalidInputError(
      'INVALID_EVENT',
      `revocation request: field "${issue.path.join('.')}" is invalid; expected the input rekey's finishSecret schedules.`,
      {
        field: issue.path.join('.'),
      },
    );
  }
  const request = parsed.data;
  const now = (deps.now ?? (() => new Date()))();
  const log = deps.logger.child({
    secretId: request.secretArn,
    versionId: request.previousVersionId,
    keyId: request.previousKeyId,
    reason: request.reason,
    attempt: request.attempt,
  });
  const metadata = await describeSecret(deps.secretsManager, request.secretArn);
  const secretName = metadata.Name ?? request.secretArn;
  const report = (outcome: RevocationOutcome, evidence?: UsageVerdict['source']): RevocationReport => {
    const r: RevocationReport = {
      outcome,
      secret: secretName,
      versionId: request.previousVersionId,
      keyId: request.previousKeyId,
      reason: request.reason,
      ...(evidence ? { evidence } : {}),
    };
    log.info(`revocation ${outcome}`, {
      ...emfRecord(
        [{ name: METRICS.revocations, value: 1 }],
        { [DIMENSIONS.secret]: secretName, [DIMENSIONS.outcome]: outcome },
        {},
        now,
      ),
      outcome,
      ...(evidence ? { evidence } : {}),
    });
    return r;
  };
  const alert = (event: string, subject: string, detail: string) =>
    publishAlert(
      deps.sns,
      deps.config.alertTopicArn,
      {
        subject,
        secret: secretName,
        event,
        detail,
        versionId: request.previousVersionId,
        keyId: request.previousKeyId,
      },
      log,
    );

  const tags = tagMap(metadata.Tags);
  if (tags[TAGS.lastRevokedVersion] === request.previousVersionId) {
    log.info('revocation already done; duplicate delivery');
    return report('already-revoked');
  }

  // 1. The old key must not be AWSCURRENT again (a rollback happened).
  const current = await readManagedKey(deps.secretsManager, log, {
    SecretId: request.secretArn,
    VersionStage: AWSCURRENT,
  });
  if (isCurrent(metadata, request.previousVersionId) || current?.doc.keyId === request.previousKeyId) {
    await alert(
      'revocation-aborted',
      `rekey: revocation aborted for ${secretName}`,
      `key ${request.previousKeyId} (version ${request.previousVersionId}) is AWSCURRENT again — a rollback happened; nothing was revoked.`,
    );
    return report('aborted');
  }
  if (!current) {
    await alert(
      'revocation-aborted',
      `rekey: revocation aborted for ${secretName}`,
      'the secret has no AWSCURRENT value; nothing was revoked.',
    );
    return report('aborted');
  }
  // The registry loads every adapter (and the AWS SDK clients of the AWS-backed ones): only the revoker and
  // rollback functions, which serve every provider, load it; rotation functions pass their own provider.
  const definition = deps.providerFor
    ? deps.providerFor(current.doc.provider)
    : (await import('./providers/index.js')).providerNamed(current.doc.provider, {
        secretId: secretName,
        field: 'provider',
      });
  const endpoint = deps.endpoints?.[definition.name];
  const provider = await connectProvider(deps.secretsManager, log, request.secretArn, current.doc, {
    provider: definition,
    ...(endpoint ? { endpoint } : {}),
    ...(deps.http ? { http: deps.http } : {}),
  });

  const retryLater = async (why: string, outcome: 'deferred' | 'failed'): Promise<RevocationReport> => {
    const maxAttempts = deps.config.maxAttempts ?? 8;
    if (request.attempt + 1 >= maxAttempts) {
      await alert(
        'revocation-gave-up',
        `rekey: gave up revoking the old key of ${secretName}`,
        `${why} after ${maxAttempts} attempts; the old key ${request.previousKeyId} is still valid. Revoke it by hand once the fleet uses the new key.`,
      );
      return report('gave-up');
    }
    const next = new Date(now.getTime() + (deps.config.recheckSeconds ?? 900) * 1000);
    await scheduleRevocation({ ...request, attempt: request.attempt + 1 }, next, { ...deps, secretName });
    log.warn(`${why}; re-scheduled`, { nextAt: next.toISOString() });
    return report(outcome);
  };

  try {
    // 2. Never revoke the fallback while the current key does not work.
    if ((await provider.validateKey({ id: current.doc.keyId, value: current.doc.key })) !== 'accepted') {
      await alert(
        'revocation-aborted',
        `rekey: revocation aborted for ${secretName}`,
        `the current key ${current.doc.keyId} does not authenticate; the previous key ${request.previousKeyId} is kept as the only working key. Rotate or roll back.`,
      );
      return report('aborted');
    }
    // 3. The fleet must have moved to the new key.
    let evidence: UsageVerdict['source'] | undefined;
    if (request.reason === 'rotation') {
      const verdict = await usageVerdict(
        provider,
        definition,
        tags,
        current.doc.keyId,
        new Date(request.promotedAt),
        secretName,
        deps.usageSources ?? [],
      );
      if (verdict.status !== 'confirmed')
        return retryLater(
          `no use of the new key ${current.doc.keyId} confirmed by ${verdict.source} yet`,
          'deferred',
        );
      evidence = verdict.source;
    }
    // Re-read right before the irreversible call: a rollback may have landed meanwhile.
    if (isCurrent(await describeSecret(deps.secretsManager, request.secretArn), request.previousVersionId)) {
      await alert(
        'revocation-aborted',
        `rekey: revocation aborted for ${secretName}`,
        `version ${request.previousVersionId} became AWSCURRENT during the checks; nothing was revoked.`,
      );
      return report('aborted');
    }
    if (definition.assisted) {
      // No revoke API: a person revokes; rekey reminds them and records it once the key stops working.
      const previous = await readManagedKey(deps.secretsManager, log, {
        SecretId: request.secretArn,
        VersionId: request.previousVersionId,
      });
      const stillValid =
        previous !== undefined &&
        (await provider.validateKey({ id: previous.doc.keyId, value: previous.doc.key })) === 'accepted';
      if (stillValid) {
        const remaining = (deps.config.maxAttempts ?? 8) - 1 - request.attempt;
        const deadline = new Date(now.getTime() + remaining * (deps.config.recheckSeconds ?? 900) * 1000);
        await alert(
          'revocation-reminder',
          `rekey: revoke the old ${definition.displayName} key of ${secretName} by ${deadline.toISOString()}`,
          `${definition.assisted.revokeAction.replace('{keyId}', request.previousKeyId)} (${definition.assisted.dashboardUrl}) by ${deadline.toISOString()}. The new key is AWSCURRENT and in use; rekey checks again and records the revocation once the old key stops working.`,
        );
        return retryLater(
          `the old key ${request.previousKeyId} still authenticates; waiting for a person to revoke it`,
          'deferred',
        );
      }
    }
    const result = definition.assisted ? 'already-gone' : await provider.revokeKey(request.previousKeyId);
    await recordRevocation(request, metadata, now, deps);
    log.info('audit: key revoked', {
      audit: 'rekey.key-revoked',
      providerResult: result,
      at: now.toISOString(),
      evidence,
    });
    return report(result === 'revoked' ? 'revoked' : 'already-revoked', evidence);
  } catch (error) {
    if (isRetryable(error))
      return retryLater(
        `the provider failed: ${error instanceof Error ? error.message : String(error)}`,
        'failed',
      );
    await alert(
      'revocation-failed',
      `rekey: revocation failed for ${secretName}`,
      error instanceof Error ? error.message : String(error),
    );
    report('failed');
    throw error;
  }
}

function isCurrent(metadata: DescribeSecretCommandOutput, versionId: string): boolean {
  return metadata.VersionIdsToStages?.[versionId]?.includes(AWSCURRENT) ?? false;
}

/** Whether the fleet uses the new key: the provider's last use, else the client's metrics, else testSecret. */
export async function usageVerdict(
  provider: ProviderClient,
  definition: ProviderDefinition,
  tags: Record<string, string>,
  newKeyId: string,
  since: Date,
  secretName: string,
  sources: UsageSource[],
): Promise<UsageVerdict> {
  let providerVerdict: UsageVerdict | undefined;
  if (definition.capabilities.lastUsed && provider.lastUsed) {
    const lastUsed = await provider.lastUsed(newKeyId);
    if (lastUsed && lastUsed.getTime() >= since.getTime()) {
      return { status: 'confirmed', source: 'provider-last-used', detail: lastUsed.toISOString() };
    }
    // The provider's report can lag or be masked (IAM reports only the latest service, and rekey's own
    // STS check is the latest call): the client's metrics may still show the use. Never test-secret here.
    providerVerdict = { status: 'not-confirmed', source: 'provider-last-used' };
  }
  if (tags[TAGS.usageEvidence] !== 'test-secret') {
    for (const source of sources) {
      const verdict = await source({ secretName, since, newKeyId });
      if (verdict?.status === 'confirmed' || (verdict && !providerVerdict)) return verdict;
    }
  }
  if (providerVerdict) return providerVerdict;
  // Neither the provider nor the client reports usage for this key: the new key passed testSecret
  // (finishSecret runs only after it), which is the evidence left. The README says so.
  return { status: 'confirmed', source: 'test-secret' };
}

/** Records the revocation on the secret's history and drops the revoked version's AWSPREVIOUS label. */
async function recordRevocation(
  request: z.infer<typeof RevocationRequestSchema>,
  metadata: DescribeSecretCommandOutput,
  now: Date,
  deps: RevocationDeps,
): Promise<void> {
  const sm = deps.secretsManager;
  await sm.send(
    new TagResourceCommand({
      SecretId: request.secretArn,
      Tags: [
        { Key: TAGS.lastRevokedVersion, Value: request.previousVersionId },
        { Key: TAGS.lastRevokedKeyId, Value: request.previousKeyId },
        { Key: TAGS.lastRevokedAt, Value: now.toISOString() },
      ],
    }),
  );
  const tags = tagMap(metadata.Tags);
  if (tags[TAGS.revokeVersion] === request.previousVersionId) {
    await sm.send(
      new UntagResourceCommand({
        SecretId: request.secretArn,
        TagKeys: [TAGS.revokeDueAt, TAGS.revokeVersion, TAGS.revokeKeyId],
      }),
    );
  }
  // A revoked key must not stay labelled: clients fall back to AWSPREVIOUS, and rollback reads it.
  if (metadata.VersionIdsToStages?.[request.previousVersionId]?.includes(AWSPREVIOUS)) {
    await sm.send(
      new UpdateSecretVersionStageCommand({
        SecretId: request.secretArn,
        VersionStage: AWSPREVIOUS,
        RemoveFromVersionId: request.previousVersionId,
      }),
    );
  }
}

/**
 * finishSecret's hand-over once the new key is AWSCURRENT: record the due revocation on the secret,
 * schedule the revoker, and — for an emergency rotation with zero grace — revoke the old key at once
 * (the schedule stays as the backstop if this invocation dies). Idempotent: every part is.
 */
export function revocationAfterPromotion(deps: Omit<RevocationDeps, 'secretsManager' | 'logger'>) {
  return async (promotion: Promotion, rotation: RotationDeps): Promise<void> => {
    const revocation: RevocationDeps = {
      // A rotation function revokes only keys of its own provider.
      providerFor: () => rotation.provider,
      ...deps,
      secretsManager: rotation.secretsManager,
      logger: rotation.logger,
    };
    await recordRevocationDue(promotion, rotation);
    const emergency = tagMap(promotion.metadata.Tags)[TAGS.emergencyGrace] !== undefined;
    const request: RevocationRequest = {
      secretArn: promotion.secretArn,
      previousVersionId: promotion.previousVersionId,
      previousKeyId: promotion.previousKeyId,
      newVersionId: promotion.newVersionId,
      promotedAt: promotion.promotedAt.toISOString(),
      reason: emergency ? 'emergency' : 'rotation',
    };
    await scheduleRevocation(request, promotion.dueAt, { ...revocation, secretName: promotion.secretName });
    if (emergency && promotion.graceSeconds === 0) {
      const report = await revokePreviousKey(request, revocation);
      if (report.outcome === 'revoked' || report.outcome === 'already-revoked')
        await cancelRevocation(promotion.secretName, promotion.previousVersionId, revocation);
    }
    if (emergency)
      await rotation.secretsManager.send(
        new UntagResourceCommand({ SecretId: promotion.secretArn, TagKeys: [TAGS.emergencyGrace] }),
      );
  };
}
