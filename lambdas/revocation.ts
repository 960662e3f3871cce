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
import { InvalidInputError, isRetryable, LeaseBusyError } from './errors.js';
import { type LeaseDeps, SecretLease } from './lease.js';
import type { Logger } from './logger.js';
import type { ProviderClient, ProviderDefinition, ProviderHttpSettings } from './providers/types.js';
import { type Promotion, type RotationDeps, recordRevocationDue } from './rotation.js';
import type { ManagedKey } from './secret-format.js';
import { AWSCURRENT, AWSPREVIOUS, connectProvider, describeSecret, readManagedKey } from './secrets.js';
import { emergencyFor, TAGS, tagMap } from './tags.js';
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
  http?: ProviderHttpSettings;
  /** Client-side usage evidence (CloudWatch metrics of the rekey client). */
  usageSources?: UsageSource[];
  /** The per-secret lease (one owner per secret); unset only where no other actor can run. */
  lease?: LeaseDeps;
  /** Set when the caller already holds the secret's lease (a rotation step, a rollback): its fencing check. */
  fence?: () => Promise<void>;
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

/** Scheduler's Description holds 512 characters; a secret name may have 512 alone, so it is shortened. */
function scheduleDescription(request: Request, secretName: string): string {
  const text = (name: string) =>
    `rekey: revoke version ${request.previousVersionId} of ${name} (${request.reason})`;
  const room = 512 - text('').length;
  return text(secretName.length <= room ? secretName : `${secretName.slice(0, room - 1)}…`);
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
        Description: scheduleDescription(parsed, deps.secretName),
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

/** A parsed revocation request. */
type Request = z.infer<typeof RevocationRequestSchema>;

/** What decided a revocation run: a report to return, or the go-ahead with the evidence used. */
type Decision = { stop: RevocationReport } | { revoke: true; evidence?: UsageVerdict['source'] };

/**
 * The revoker. It takes the secret's lease, then checks, in order (each a small function below):
 * the request names a version that exists and stores that key (never trust the message); the revocation is
 * not already done; the old key is not AWSCURRENT (a rollback happened → abort and alert); the current key
 * authenticates (never leave no working key); the fleet moved (provider last-used, else client metrics, else
 * testSecret) — if not yet, it re-schedules itself up to `maxAttempts` times, then alerts and leaves the old
 * key alive. Then, after a fencing check and a last look at the labels, it revokes (already gone counts as
 * done) and records it. It never drops a revocation: any failure re-schedules it (bounded, then an alert);
 * only a failure to re-schedule is thrown, for Lambda's retries and the on-failure destination. Safe under
 * at-least-once delivery.
 */
export async function revokePreviousKey(
  rawRequest: unknown,
  deps: RevocationDeps,
): Promise<RevocationReport> {
  const request = parseRevocationRequest(rawRequest);
  const run = new RevocationRun(request, deps);
  try {
    const metadata = await describeSecret(deps.secretsManager, request.secretArn);
    run.secretName = metadata.Name ?? request.secretArn;
    if (deps.fence) return await run.decideAndAct(deps.fence);
    if (!deps.lease) return await run.decideAndAct(async () => {});
    let lease: SecretLease;
    try {
      lease = await SecretLease.acquire(deps.lease, metadata.ARN ?? request.secretArn, 'revoker');
    } catch (error) {
      if (error instanceof LeaseBusyError)
        return await run.retryLater(`${error.holder} is changing the secret`, 'deferred');
      throw error;
    }
    try {
      return await run.decideAndAct(() => lease.fence());
    } finally {
      await lease.release();
    }
  } catch (error) {
    return run.failed(error);
  }
}

function parseRevocationRequest(rawRequest: unknown): Request {
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
  return parsed.data;
}

/** One delivery of a revocation request: its checks, the act, and how every outcome is reported. */
class RevocationRun {
  secretName: string;
  private readonly now: Date;
  private readonly log: Logger;

  constructor(
    private readonly request: Request,
    private readonly deps: RevocationDeps,
  ) {
    this.secretName = request.secretArn;
    this.now = (deps.now ?? (() => new Date()))();
    this.log = deps.logger.child({
      secretId: request.secretArn,
      versionId: request.previousVersionId,
      keyId: request.previousKeyId,
      reason: request.reason,
      attempt: request.attempt,
    });
  }

  async decideAndAct(fence: () => Promise<void>): Promise<RevocationReport> {
    const { request, deps, log } = this;
    const sm = deps.secretsManager;
    // Read after taking the lease: this is the state no other actor can change until we are done.
    const metadata = await describeSecret(sm, request.secretArn);
    const tags = tagMap(metadata.Tags);
    if (tags[TAGS.lastRevokedVersion] === request.previousVersionId) {
      log.info('revocation already done; duplicate delivery');
      return this.report('already-revoked');
    }
    const previous = await readManagedKey(sm, log, {
      SecretId: request.secretArn,
      VersionId: request.previousVersionId,
    });
    const current = await readManagedKey(sm, log, { SecretId: request.secretArn, VersionStage: AWSCURRENT });
    const named = await this.checkRequestMatchesSecret(previous);
    if (named) return named;
    const rolledBack = await this.checkNotCurrent(metadata, current);
    if (rolledBack || !current) return rolledBack ?? this.abort('the secret has no AWSCURRENT value');
    const definition = await this.definitionFor(current.doc.provider);
    const endpoint = deps.endpoints?.[definition.name];
    const provider = await connectProvider(sm, log, request.secretArn, current.doc, {
      provider: definition,
      ...(endpoint ? { endpoint } : {}),
      ...(deps.http ? { http: deps.http } : {}),
    });
    const decision = await this.decide(provider, definition, tags, current.doc, previous!.doc);
    if ('stop' in decision) return decision.stop;

    // The irreversible call: only while we still hold the lease, and only if the labels still agree.
    await fence();
    if (isCurrent(await describeSecret(sm, request.secretArn), request.previousVersionId))
      return this.abort(`version ${request.previousVersionId} became AWSCURRENT during the checks`);
    const result = definition.assisted ? 'already-gone' : await provider.revokeKey(request.previousKeyId);
    await recordRevocation(request, metadata, this.now, deps);
    log.info('audit: key revoked', {
      audit: 'rekey.key-revoked',
      providerResult: result,
      at: this.now.toISOString(),
      evidence: decision.evidence,
    });
    return this.report(result === 'revoked' ? 'revoked' : 'already-revoked', decision.evidence);
  }

  /** Never trust the message: the version must exist in this secret and store the key it names. */
  private async checkRequestMatchesSecret(
    previous: { doc: ManagedKey } | undefined,
  ): Promise<RevocationReport | undefined> {
    const { previousVersionId, previousKeyId } = this.request;
    if (!previous)
      return this.abort(
        `version ${previousVersionId} does not exist in this secret; the request is not rekey's`,
      );
    if (previous.doc.keyId !== previousKeyId)
      return this.abort(
        `version ${previousVersionId} stores key ${previous.doc.keyId}, not ${previousKeyId}; the request is not rekey's`,
      );
    return undefined;
  }

  /** The old key must not be AWSCURRENT again (a rollback happened). */
  private async checkNotCurrent(
    metadata: DescribeSecretCommandOutput,
    current: { doc: ManagedKey } | undefined,
  ): Promise<RevocationReport | undefined> {
    const { previousVersionId, previousKeyId } = this.request;
    if (isCurrent(metadata, previousVersionId) || current?.doc.keyId === previousKeyId)
      return this.abort(
        `key ${previousKeyId} (version ${previousVersionId}) is AWSCURRENT again — a rollback happened`,
      );
    return undefined;
  }

  /** The current key works, and (for a rotation) the fleet moved to it; or a report that says why not yet. */
  private async decide(
    provider: ProviderClient,
    definition: ProviderDefinition,
    tags: Record<string, string>,
    current: ManagedKey,
    previous: ManagedKey,
  ): Promise<Decision> {
    const { request } = this;
    if ((await provider.validateKey({ id: current.keyId, value: current.key })) !== 'accepted')
      return {
        stop: await this.abort(
          `the current key ${current.keyId} does not authenticate; the previous key ${request.previousKeyId} is kept as the only working key. Rotate or roll back`,
        ),
      };
    let evidence: UsageVerdict['source'] | undefined;
    if (request.reason === 'rotation') {
      const verdict = await usageVerdict(
        provider,
        definition,
        tags,
        current.keyId,
        new Date(request.promotedAt),
        this.secretName,
        this.deps.usageSources ?? [],
      );
      if (verdict.status !== 'confirmed')
        return {
          stop: await this.retryLater(
            `no use of the new key ${current.keyId} confirmed by ${verdict.source} yet`,
            'deferred',
          ),
        };
      evidence = verdict.source;
    }
    if (definition.assisted) {
      // No revoke API: a person revokes; rekey reminds them and records it once the key stops working.
      if ((await provider.validateKey({ id: previous.keyId, value: previous.key })) === 'accepted')
        return { stop: await this.remindPerson(definition) };
    }
    return { revoke: true, ...(evidence ? { evidence } : {}) };
  }

  private async remindPerson(definition: ProviderDefinition): Promise<RevocationReport> {
    const { request, deps } = this;
    const assisted = definition.assisted!;
    const remaining = (deps.config.maxAttempts ?? 8) - 1 - request.attempt;
    const deadline = new Date(this.now.getTime() + remaining * (deps.config.recheckSeconds ?? 900) * 1000);
    await this.alert(
      'revocation-reminder',
      `rekey: revoke the old ${definition.displayName} key of ${this.secretName} by ${deadline.toISOString()}`,
      `${assisted.revokeAction.replace('{keyId}', request.previousKeyId)} (${assisted.dashboardUrl}) by ${deadline.toISOString()}. The new key is AWSCURRENT and in use; rekey checks again and records the revocation once the old key stops working.`,
    );
    return this.retryLater(
      `the old key ${request.previousKeyId} still authenticates; waiting for a person to revoke it`,
      'deferred',
    );
  }

  private async definitionFor(providerName: string): Promise<ProviderDefinition> {
    // The registry loads every adapter (and the AWS SDK clients of the AWS-backed ones): only the revoker
    // and rollback functions, which serve every provider, load it; rotation functions pass their own.
    return this.deps.providerFor
      ? this.deps.providerFor(providerName)
      : (await import('./providers/index.js')).providerNamed(providerName, {
          secretId: this.secretName,
          field: 'provider',
        });
  }

  /** Re-schedules this revocation (bounded); at the bound, alerts that the old key is still valid. */
  async retryLater(why: string, outcome: 'deferred' | 'failed'): Promise<RevocationReport> {
    const { request, deps } = this;
    const maxAttempts = deps.config.maxAttempts ?? 8;
    if (request.attempt + 1 >= maxAttempts) {
      await this.alert(
        'revocation-gave-up',
        `rekey: gave up revoking the old key of ${this.secretName}`,
        `${why} after ${maxAttempts} attempts; the old key ${request.previousKeyId} is still valid. Revoke it by hand once the fleet uses the new key.`,
      );
      return this.report('gave-up');
    }
    const next = new Date(this.now.getTime() + (deps.config.recheckSeconds ?? 900) * 1000);
    await scheduleRevocation({ ...request, attempt: request.attempt + 1 }, next, {
      ...deps,
      secretName: this.secretName,
    });
    this.log.warn(`${why}; re-scheduled`, { nextAt: next.toISOString() });
    return this.report(outcome);
  }

  /**
   * Any failure: a retryable one is re-scheduled quietly, a permanent one (a broken document, a missing
   * credential) alerts and is re-scheduled too, so it completes once a person fixes the cause. Only when
   * re-scheduling fails as well is the error thrown — Lambda retries it, then sends it to the DLQ.
   */
  async failed(error: unknown): Promise<RevocationReport> {
    const message = this.log.redact(error instanceof Error ? error.message : String(error));
    if (!isRetryable(error))
      await this.alert('revocation-failed', `rekey: revocation failed for ${this.secretName}`, message).catch(
        () => undefined,
      );
    try {
      return await this.retryLater(`the revocation failed: ${message}`, 'failed');
    } catch (rescheduleError) {
      this.log.error('could not re-schedule a failed revocation; Lambda retries it', {
        error,
        rescheduleError,
      });
      this.report('failed');
      throw error;
    }
  }

  private async abort(why: string): Promise<RevocationReport> {
    await this.alert(
      'revocation-aborted',
      `rekey: revocation aborted for ${this.secretName}`,
      `${why}; nothing was revoked.`,
    );
    return this.report('aborted');
  }

  private alert(event: string, subject: string, detail: string): Promise<void> {
    return publishAlert(
      this.deps.sns,
      this.deps.config.alertTopicArn,
      {
        subject,
        secret: this.secretName,
        event,
        detail,
        versionId: this.request.previousVersionId,
        keyId: this.request.previousKeyId,
      },
      this.log,
    );
  }

  private report(outcome: RevocationOutcome, evidence?: UsageVerdict['source']): RevocationReport {
    const { request } = this;
    this.log.info(`revocation ${outcome}`, {
      ...emfRecord(
        [{ name: METRICS.revocations, value: 1 }],
        { [DIMENSIONS.secret]: this.secretName, [DIMENSIONS.outcome]: outcome },
        {},
        this.now,
      ),
      outcome,
      ...(evidence ? { evidence } : {}),
    });
    return {
      outcome,
      secret: this.secretName,
      versionId: request.previousVersionId,
      keyId: request.previousKeyId,
      reason: request.reason,
      ...(evidence ? { evidence } : {}),
    };
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
  request: Request,
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
      // finishSecret holds the secret's lease: the revocation runs under it.
      ...(rotation.fence ? { fence: rotation.fence } : {}),
    };
    await recordRevocationDue(promotion, rotation);
    const emergency = emergencyFor(tagMap(promotion.metadata.Tags), promotion.newVersionId) !== undefined;
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
