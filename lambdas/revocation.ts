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
import * as z from 'zod/mini';
import { publishAlert } from './alerts.js';
import { emfRecord } from './emf.js';
import {
  InvalidInputError,
  isRetryable,
  LeaseBusyError,
  ProviderNotFoundError,
  ProviderRejectedError,
  RekeyError,
} from './errors.js';
import { forgetKeyOwner, keyOwner } from './key-owners.js';
import { type LeaseDeps, SecretLease } from './lease.js';
import type { Logger } from './logger.js';
import type { ProviderClient, ProviderDefinition } from './providers/types.js';
import {
  type Promotion,
  type RevocationHandOver,
  type RotationDeps,
  recordRevocationDue,
} from './rotation.js';
import type { KeyRoute, KeyRoutes, ScopeFor } from './routes.js';
import type { ManagedKey } from './secret-format.js';
import {
  AWSCURRENT,
  AWSPREVIOUS,
  connectionFor,
  connectionTo,
  connectProvider,
  describeSecret,
  type ProviderConnection,
  type ProviderRegistry,
  readManagedKey,
  stageHoldingKey,
} from './secrets.js';
import { emergencyFor, TAGS, tagMap, tagText, versionList } from './tags.js';
import { DIMENSIONS, METRICS, type RevocationOutcome } from './telemetry.js';
import type { NewKeyUse, UsageEvidence, UsageSource, UsageVerdict } from './usage.js';

/** What the revoker is asked to do; it is the Scheduler target's input, so it never holds a key value. */
export const RevocationRequestSchema = z.object({
  secretArn: z.string().check(z.minLength(1)),
  /** Version whose key is revoked (the old AWSCURRENT, or the key a rollback rejected). */
  previousVersionId: z.string().check(z.minLength(1)),
  previousKeyId: z.string().check(z.minLength(1)),
  /** Version that replaced it, whose use is the evidence the fleet moved on. */
  newVersionId: z.string().check(z.minLength(1)),
  /** When the new version became AWSCURRENT. */
  promotedAt: z.iso.datetime({ offset: true }),
  /** rotation: usage-gated; emergency and rollback: revoke without waiting for usage evidence. */
  reason: z._default(z.enum(['rotation', 'emergency', 'rollback']), 'rotation'),
  /** How many times this revocation was already re-scheduled. */
  attempt: z._default(z.int().check(z.gte(0)), 0),
});
export type RevocationRequest = z.input<typeof RevocationRequestSchema>;

/** Default quiet period: the old key must have gone unused this long before a rotation revokes it. */
export const DEFAULT_QUIET_SECONDS = 600;

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
  /**
   * How long the old key must have gone unused (provider last-used, else client metrics) before a rotation
   * revokes it. Default 600 s. Keep it above the client's metrics flush and CloudWatch's ingestion delay.
   */
  quietSeconds?: number;
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
    ...(env.REKEY_QUIET_SECONDS ? { quietSeconds: Number(env.REKEY_QUIET_SECONDS) } : {}),
  };
}

export interface RevocationDeps extends ProviderRegistry {
  secretsManager: SecretsManagerClient;
  scheduler: SchedulerClient;
  sns?: SNSClient;
  config: RevocationConfig;
  logger: Logger;
  now?: () => Date;
  /** The deployment's keys: a request for any other secret is refused. */
  routes: KeyRoutes;
  /** The per-key scope (a session of the key's revocation role); default `secretsManager` itself. */
  scopeFor?: ScopeFor;
  /** Client-side usage evidence (CloudWatch metrics of the rekey client). */
  usageSources?: UsageSource[];
  /** The per-secret lease (one owner per secret); unset only where no other actor can run. */
  lease?: LeaseDeps;
  /** Set when the caller already holds the secret's lease (a rotation step, a rollback): its fencing check. */
  fence?: () => Promise<void>;
}

/**
 * Scheduler name for revoking `versionId` of `secretName` in favour of `newVersionId`: readable prefix +
 * stable hashes, within Scheduler's 64 characters of [0-9a-zA-Z-_.]. The replacing version is part of the
 * name, so a second rotation away from the same version (an emergency after a stuck one) gets its own
 * schedule; re-schedules append `-r<attempt>`. `revocationSchedulePrefix` is what every one of them shares.
 */
export function revocationScheduleName(
  secretName: string,
  versionId: string,
  newVersionId: string,
  attempt = 0,
): string {
  const replacement = createHash('sha256').update(newVersionId).digest('hex').slice(0, 6);
  return `${revocationSchedulePrefix(secretName, versionId)}-${replacement}${attempt > 0 ? `-r${attempt}` : ''}`;
}

function revocationSchedulePrefix(secretName: string, versionId: string): string {
  const hash = createHash('sha256').update(`${secretName}\0${versionId}`).digest('hex').slice(0, 20);
  const slug = secretName
    .replace(/[^0-9a-zA-Z-_.]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 20);
  return `rekey-${slug ? `${slug}-` : ''}${hash}`;
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
  const name = revocationScheduleName(
    deps.secretName,
    parsed.previousVersionId,
    parsed.newVersionId,
    parsed.attempt,
  );
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
  const prefix = revocationSchedulePrefix(secretName, versionId);
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
  /** What showed the new key in use. */
  evidence?: UsageEvidence;
  /** What showed the old key quiet (`test-secret`: nothing reports its use, so it was not checked). */
  quietEvidence?: UsageEvidence;
}

/** A parsed revocation request. */
type Request = z.infer<typeof RevocationRequestSchema>;

/** The evidence a usage-gated revocation went ahead on, for each key. */
interface Evidence {
  evidence?: UsageEvidence;
  quietEvidence?: UsageEvidence;
}

/** What decided a revocation run: a report to return, or the go-ahead with the evidence used. */
type Decision = { stop: RevocationReport } | ({ revoke: true } & Evidence);

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
export function revokePreviousKey(rawRequest: unknown, deps: RevocationDeps): Promise<RevocationReport> {
  return revoke(rawRequest, deps, connectionFor);
}

/** How a revocation reaches the route's provider, given the deps scoped to that key. */
type ConnectRoute = (
  route: KeyRoute,
  deps: RevocationDeps,
) => ProviderConnection | Promise<ProviderConnection>;

async function revoke(
  rawRequest: unknown,
  deps: RevocationDeps,
  connect: ConnectRoute,
): Promise<RevocationReport> {
  const request = parseRevocationRequest(rawRequest);
  const route = deps.routes.find(request.secretArn);
  // Every call on the secret is made with the key's revocation role: the function's own may not read it.
  const scoped = route ? { ...deps, ...deps.scopeFor?.(route) } : deps;
  const run = new RevocationRun(request, scoped, route, connect);
  // Final: a secret outside the deployment is no revocation of rekey's; re-scheduling would not change that.
  if (!route)
    return run.abort(
      `secret ${request.secretArn} is not one of this deployment's keys (rekey.yaml); the request is not rekey's`,
    );
  try {
    const metadata = await describeSecret(scoped.secretsManager, request.secretArn);
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
    const field = issue.path.join('.') || '(request)';
    throw new InvalidInputError(
      'INVALID_EVENT',
      `revocation request: field "${field}" is invalid; expected the input rekey's finishSecret schedules.`,
      { field },
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
    private readonly route: KeyRoute | undefined,
    private readonly connect: ConnectRoute,
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
    const rolledBack = await this.checkNotCurrent(metadata, tags, current);
    if (rolledBack || !current) return rolledBack ?? this.abort('the secret has no AWSCURRENT value');
    const route = this.route!;
    const shared = await this.checkNotLiveElsewhere(route);
    if (shared) return shared;
    const connection = await this.connect(route, deps);
    const definition = connection.provider;
    const provider = await connectProvider(sm, log, request.secretArn, current.doc, route, connection);
    const decision = await this.decide(provider, definition, tags, current.doc, previous!.doc);
    if ('stop' in decision) return decision.stop;

    // The irreversible call: only while we still hold the lease, and only if the labels still agree.
    await fence();
    if (isCurrent(await describeSecret(sm, request.secretArn), request.previousVersionId))
      return this.abort(`version ${request.previousVersionId} became AWSCURRENT during the checks`);
    const result = definition.assisted ? 'already-gone' : await provider.revokeKey(request.previousKeyId);
    await recordRevocation(request, metadata, this.now, deps);
    // A dead key's record is only clutter: failing the finished revocation over it would re-run it.
    if (deps.lease)
      await forgetKeyOwner(deps.lease, route, request.previousKeyId).catch((error: unknown) =>
        log.warn('could not forget the owner record of the revoked key', { error }),
      );
    log.info('audit: key revoked', {
      audit: 'rekey.key-revoked',
      providerResult: result,
      at: this.now.toISOString(),
      evidence: decision.evidence,
      quietEvidence: decision.quietEvidence,
    });
    return this.report(result === 'revoked' ? 'revoked' : 'already-revoked', decision);
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

  /**
   * Secrets whose keys live in the same provider account (same adapter and rotator credential) must not
   * hold the key as AWSCURRENT, AWSPENDING or AWSPREVIOUS: a document naming another secret's key id must
   * not revoke it. rekey's record of the key's owner (lambdas/key-owners.ts) answers in one read; a key
   * without one is looked for in every sibling.
   */
  private async checkNotLiveElsewhere(route: KeyRoute): Promise<RevocationReport | undefined> {
    const { previousKeyId } = this.request;
    // rekey's own record of whose key this is: one strongly consistent read instead of every sibling's.
    const owner = this.deps.lease ? await keyOwner(this.deps.lease, route, previousKeyId) : undefined;
    if (owner?.secretName === route.secretName) return undefined;
    if (owner)
      return this.abort(
        `key ${previousKeyId} belongs to ${owner.secretName}, which shares this provider account; the request is not rekey's`,
      );
    for (const sibling of this.deps.routes.siblingsOf(route)) {
      const sm = (this.deps.scopeFor?.(sibling) ?? this.deps).secretsManager;
      const stage = await stageHoldingKey(
        sm,
        this.log,
        sibling.secretArn ?? sibling.secretName,
        previousKeyId,
      );
      if (stage)
        return this.abort(
          `key ${previousKeyId} is ${stage} of ${sibling.secretName}, which shares this provider account; the request is not rekey's`,
        );
    }
    return undefined;
  }

  /**
   * The old key must not be AWSCURRENT: either its replacement was never promoted (finishSecret schedules
   * the revocation before it promotes, and may have died in between) — nothing to do — or a rollback
   * restored it, which operators hear about.
   */
  private async checkNotCurrent(
    metadata: DescribeSecretCommandOutput,
    tags: Record<string, string>,
    current: { doc: ManagedKey } | undefined,
  ): Promise<RevocationReport | undefined> {
    const { previousVersionId, previousKeyId, newVersionId, reason } = this.request;
    if (!isCurrent(metadata, previousVersionId) && current?.doc.keyId !== previousKeyId) return undefined;
    // The replacement was current once and is not now: someone moved AWSCURRENT back. (A rollback's own
    // request names the version it rejects: that still being current means its move never happened.)
    const restored =
      metadata.VersionIdsToStages?.[newVersionId]?.includes(AWSPREVIOUS) ||
      versionList(tags, TAGS.rejectedVersions).includes(newVersionId);
    if (reason === 'rollback' || !restored) {
      this.log.info('the replacing version never became AWSCURRENT; nothing to revoke', { newVersionId });
      return this.report('aborted');
    }
    return this.abort(
      `key ${previousKeyId} (version ${previousVersionId}) is AWSCURRENT again — a rollback happened`,
    );
  }

  /**
   * The current key works, and (for a rotation) the fleet moved to it and left the old key quiet for the
   * quiet period; or a report that says why not yet.
   */
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
    let evidence: Evidence = {};
    if (request.reason === 'rotation') {
      const verdict = await usageVerdict(
        provider,
        definition,
        tags,
        current.keyId,
        new Date(request.promotedAt),
        this.secretName,
        this.deps.usageSources ?? [],
        {
          keyId: request.previousKeyId,
          now: this.now,
          quietSeconds: this.deps.config.quietSeconds ?? DEFAULT_QUIET_SECONDS,
        },
      );
      if (verdict.status !== 'confirmed')
        return {
          stop: await this.retryLater(
            'quietEvidence' in verdict
              ? verdict.detail
              : `no use of the new key ${current.keyId} confirmed by ${verdict.source} yet`,
            'deferred',
          ),
        };
      this.log.info('usage confirmed', {
        evidence: verdict.source,
        quietEvidence: verdict.quietEvidence,
        ...(verdict.detail ? { detail: verdict.detail } : {}),
      });
      evidence = {
        evidence: verdict.source,
        ...(verdict.quietEvidence ? { quietEvidence: verdict.quietEvidence } : {}),
      };
    }
    if (definition.assisted) {
      // No revoke API: a person revokes; rekey reminds them and records it once the key stops working.
      if ((await provider.validateKey({ id: previous.keyId, value: previous.key })) === 'accepted')
        return { stop: await this.remindPerson(definition) };
    }
    return { revoke: true, ...evidence };
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
    if (!isRetryable(error)) {
      await this.alert('revocation-failed', `rekey: revocation failed for ${this.secretName}`, message).catch(
        () => undefined,
      );
      if (this.route)
        await this.recordFailure(
          error instanceof RekeyError ? error.code : error instanceof Error ? error.name : 'Error',
          message,
        );
    }
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

  async abort(why: string): Promise<RevocationReport> {
    await this.alert(
      'revocation-aborted',
      `rekey: revocation aborted for ${this.secretName}`,
      `${why}; nothing was revoked.`,
    );
    if (this.route) await this.recordFailure('ABORTED', `${why}; nothing was revoked`);
    return this.report('aborted');
  }

  /**
   * Leaves "<old version> revocation <code>" and why on the secret (the tags a failed rotation step leaves),
   * so `rekey rotate --emergency` and `rekey status` say why the old key still works instead of waiting.
   */
  private async recordFailure(code: string, reason: string): Promise<void> {
    try {
      await this.deps.secretsManager.send(
        new TagResourceCommand({
          SecretId: this.request.secretArn,
          Tags: [
            { Key: TAGS.lastFailure, Value: tagText(`${this.request.previousVersionId} revocation ${code}`) },
            { Key: TAGS.lastFailureReason, Value: tagText(reason) },
          ],
        }),
      );
    } catch (error) {
      this.log.warn('could not record the failed revocation on the secret', { error });
    }
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

  private report(outcome: RevocationOutcome, used: Evidence = {}): RevocationReport {
    const { request } = this;
    const evidence = {
      ...(used.evidence ? { evidence: used.evidence } : {}),
      ...(used.quietEvidence ? { quietEvidence: used.quietEvidence } : {}),
    };
    this.log.info(`revocation ${outcome}`, {
      ...emfRecord(
        [{ name: METRICS.revocations, value: 1 }],
        { [DIMENSIONS.secret]: this.secretName, [DIMENSIONS.outcome]: outcome },
        {},
        this.now,
      ),
      outcome,
      ...evidence,
    });
    return {
      outcome,
      secret: this.secretName,
      versionId: request.previousVersionId,
      keyId: request.previousKeyId,
      reason: request.reason,
      ...evidence,
    };
  }
}

function isCurrent(metadata: DescribeSecretCommandOutput, versionId: string): boolean {
  return metadata.VersionIdsToStages?.[versionId]?.includes(AWSCURRENT) ?? false;
}

/** The old key whose quiet period the usage gate checks. */
export interface QuietCheck {
  /** Provider key id of the old key about to be revoked. */
  keyId: string;
  now: Date;
  /** How long the old key must have gone unused. */
  quietSeconds: number;
}

/** What one source saw of the old key within the quiet period. */
interface QuietSeen {
  evidence: 'provider-last-used' | 'client-metrics';
  /** Its latest use within the quiet period; null: none. */
  lastUsedAt: Date | null;
  detail: string;
}

/**
 * Whether the fleet moved to the new key: the new key was used since promotion (the provider's last use,
 * else the client's metrics, else testSecret) and the old key went unused for the quiet period (the
 * provider's last use of it, and the client's metrics, which catch a lagging or masked report). A use of the
 * old key seen by either holds the revocation back; nothing reporting on the old key leaves today's gate.
 */
export async function usageVerdict(
  provider: ProviderClient,
  definition: ProviderDefinition,
  tags: Record<string, string>,
  newKeyId: string,
  since: Date,
  secretName: string,
  sources: UsageSource[],
  quiet: QuietCheck,
): Promise<UsageVerdict> {
  const quietSince = new Date(quiet.now.getTime() - quiet.quietSeconds * 1000);
  let newKey: NewKeyUse | undefined;
  let providerVerdict: NewKeyUse | undefined;
  // In order of preference: the provider's report first, then each client source that answers.
  const seen: QuietSeen[] = [];
  if (definition.capabilities.lastUsed && provider.lastUsed) {
    const lastUsed = await provider.lastUsed(newKeyId);
    if (lastUsed && lastUsed.getTime() >= since.getTime()) {
      newKey = { status: 'confirmed', source: 'provider-last-used', detail: lastUsed.toISOString() };
    } else {
      // The provider's report can lag or be masked (IAM reports only the latest service, and rekey's own
      // STS check is the latest call): the client's metrics may still show the use. Never test-secret here.
      providerVerdict = { status: 'not-confirmed', source: 'provider-last-used' };
    }
    seen.push(await providerQuiet(provider, quiet.keyId, quietSince));
  }
  if (tags[TAGS.usageEvidence] !== 'test-secret') {
    for (const source of sources) {
      const answer = await source({
        secretName,
        since,
        newKeyId,
        previous: { keyId: quiet.keyId, quietSince },
      });
      if (!answer) continue;
      const { previous, ...use } = answer;
      if (!newKey && (use.status === 'confirmed' || !providerVerdict)) newKey = use;
      if (previous)
        seen.push({
          evidence: 'client-metrics',
          lastUsedAt: previous.lastUsedAt,
          detail: previous.detail ?? `key ${quiet.keyId} ${previous.lastUsedAt ? 'used' : 'not used'}`,
        });
      // Stop at the first answer on each key; no use of the new key yet decides the verdict on its own.
      if (newKey?.status === 'not-confirmed' || (newKey && previous)) break;
    }
  }
  // Neither the provider nor the client reports usage for this key: the new key passed testSecret
  // (finishSecret runs only after it), which is the evidence left. The README says so.
  newKey ??= providerVerdict ?? { status: 'confirmed', source: 'test-secret' };
  if (newKey.status !== 'confirmed') return newKey;
  const inUse = seen.find((s) => s.lastUsedAt !== null);
  if (inUse?.lastUsedAt) {
    const ago = Math.max(0, Math.round((quiet.now.getTime() - inUse.lastUsedAt.getTime()) / 1000));
    return {
      status: 'not-confirmed',
      source: newKey.source,
      quietEvidence: inUse.evidence,
      lastUsedAt: inUse.lastUsedAt,
      detail: `the old key ${quiet.keyId} is still in use: last used ${ago} s ago (${inUse.lastUsedAt.toISOString()}) by ${inUse.evidence} (${inUse.detail}); it must go unused for ${quiet.quietSeconds} s before it is revoked`,
    };
  }
  const quietBy = seen[0];
  const newDetail = newKey.detail ? `new key: ${newKey.detail}; ` : '';
  if (!quietBy)
    return {
      ...newKey,
      quietEvidence: 'test-secret',
      detail: `${newDetail}no source reports the old key ${quiet.keyId}'s use (no provider last-used report, no client metrics): its quiet period is not checked, the new key's ${newKey.source} evidence decides`,
    };
  return {
    ...newKey,
    quietEvidence: quietBy.evidence,
    detail: `${newDetail}the old key ${quiet.keyId} went unused for ${quiet.quietSeconds} s by ${seen.map((s) => `${s.evidence} (${s.detail})`).join(' and ')}`,
  };
}

/** The provider's last use of the old key, within the quiet period or not; a key already gone is unused. */
async function providerQuiet(provider: ProviderClient, keyId: string, quietSince: Date): Promise<QuietSeen> {
  let lastUsed: Date | null;
  try {
    lastUsed = await provider.lastUsed!(keyId);
  } catch (error) {
    // Revoking a key already gone counts as done: its missing report must not hold the revocation back.
    const gone =
      error instanceof ProviderNotFoundError ||
      (error instanceof ProviderRejectedError && error.status === 404);
    if (!gone) throw error;
    return {
      evidence: 'provider-last-used',
      lastUsedAt: null,
      detail: `the provider no longer has key ${keyId}`,
    };
  }
  const recent = lastUsed !== null && lastUsed.getTime() >= quietSince.getTime();
  return {
    evidence: 'provider-last-used',
    lastUsedAt: recent ? lastUsed : null,
    detail: lastUsed ? `last used ${lastUsed.toISOString()}` : 'no use reported',
  };
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
 * finishSecret's hand-over of the previous key. Before the promotion: record the due revocation on the
 * secret and schedule the revoker (if the promotion then never happens, the revoker finds the old key still
 * AWSCURRENT and does nothing). After it: for an emergency rotation with zero grace, revoke the old key at
 * once (the schedule stays as the backstop if this invocation dies), and clear the emergency. Idempotent:
 * every part is.
 */
export function revocationHandOver(
  deps: Omit<RevocationDeps, 'secretsManager' | 'logger' | 'routes'>,
): RevocationHandOver {
  const revocationDeps = (rotation: RotationDeps): RevocationDeps => ({
    ...deps,
    routes: rotation.routes,
    ...(rotation.scopeFor ? { scopeFor: rotation.scopeFor } : {}),
    secretsManager: rotation.secretsManager,
    logger: rotation.logger,
    // finishSecret holds the secret's lease: the revocation runs under it.
    ...(rotation.fence ? { fence: rotation.fence } : {}),
  });
  const requestOf = (promotion: Promotion): RevocationRequest => ({
    secretArn: promotion.secretArn,
    previousVersionId: promotion.previousVersionId,
    previousKeyId: promotion.previousKeyId,
    newVersionId: promotion.newVersionId,
    promotedAt: promotion.promotedAt.toISOString(),
    reason: isEmergency(promotion) ? 'emergency' : 'rotation',
  });
  return {
    async beforePromotion(promotion, rotation) {
      // A finishSecret delivered again after the old key was revoked has nothing left to hand over.
      if (tagMap(promotion.metadata.Tags)[TAGS.lastRevokedVersion] === promotion.previousVersionId) return;
      await recordRevocationDue(promotion, rotation);
      await scheduleRevocation(requestOf(promotion), promotion.dueAt, {
        ...revocationDeps(rotation),
        secretName: promotion.secretName,
      });
    },
    async afterPromotion(promotion, rotation) {
      if (!isEmergency(promotion)) return;
      const revocation = revocationDeps(rotation);
      if (promotion.graceSeconds === 0) {
        // A rotation function revokes only keys of its own provider, among the keys routed to it.
        const report = await revoke(requestOf(promotion), revocation, (_route, scoped) =>
          connectionTo(rotation.provider, scoped),
        );
        if (report.outcome === 'revoked' || report.outcome === 'already-revoked')
          await cancelRevocation(promotion.secretName, promotion.previousVersionId, revocation);
      }
      await rotation.secretsManager.send(
        new UntagResourceCommand({ SecretId: promotion.secretArn, TagKeys: [TAGS.emergencyGrace] }),
      );
    },
  };
}

const isEmergency = (promotion: Promotion): boolean =>
  emergencyFor(tagMap(promotion.metadata.Tags), promotion.newVersionId) !== undefined;
