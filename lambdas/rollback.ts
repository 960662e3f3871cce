import {
  type CloudWatchClient,
  DescribeAlarmContributorsCommand,
  DescribeAlarmsCommand,
} from '@aws-sdk/client-cloudwatch';
import {
  type SecretsManagerClient,
  TagResourceCommand,
  UntagResourceCommand,
  UpdateSecretVersionStageCommand,
} from '@aws-sdk/client-secrets-manager';
import * as z from 'zod/mini';
import { publishAlert } from './alerts.js';
import { InvalidInputError, RollbackRefusedError, RoutingMismatchError } from './errors.js';
import { withSecretLease } from './lease.js';
import {
  cancelRevocation,
  type RevocationDeps,
  type RevocationReport,
  type RevocationRequest,
  revokePreviousKey,
  scheduleRevocation,
} from './revocation.js';
import { checkTags, type KeyRoute, routeGraceSeconds } from './routes.js';
import {
  AWSCURRENT,
  AWSPENDING,
  AWSPREVIOUS,
  connectionFor,
  connectProvider,
  describeSecret,
  readManagedKey,
  versionWithStage,
} from './secrets.js';
import { TAGS, tagMap, versionList, withVersion } from './tags.js';
import { DIMENSIONS } from './telemetry.js';

export const RollbackRequestSchema = z.object({
  /** Secret name or ARN. */
  secretId: z.string().check(z.minLength(1)),
  /** Revoke the rejected key now instead of after the grace period. */
  revokeNow: z._default(z.boolean(), false),
});
export type RollbackRequest = z.input<typeof RollbackRequestSchema>;

export interface RollbackReport {
  secret: string;
  restoredVersionId: string;
  restoredKeyId: string;
  rejectedVersionId: string;
  rejectedKeyId: string;
  cancelledSchedules: number;
  rejectedKey: 'revoked' | 'revocation-scheduled';
  revocation?: RevocationReport;
}

/**
 * Rolls a key back to its previous version. Holding the secret's lease, it refuses — changing nothing — when
 * a rotation is in progress, when the previous version was rejected by an earlier rollback (so a rollback
 * delivered twice is a no-op, not an undo) or declared compromised by an emergency rotation, when the
 * previous key's grace window has ended, or when the previous key no longer authenticates. Otherwise it moves
 * AWSCURRENT back, records the rejected version, cancels the pending revocation of the restored key, and
 * schedules (or performs, with revokeNow) revocation of the rejected key.
 */
export async function rollbackKey(
  rawRequest: unknown,
  deps: RevocationDeps & { secretsManager: SecretsManagerClient },
): Promise<RollbackReport> {
  const parsed = RollbackRequestSchema.safeParse(rawRequest);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const field = issue.path.join('.') || '(request)';
    throw new InvalidInputError(
      'INVALID_EVENT',
      `rollback request: field "${field}" is invalid; expected { secretId, revokeNow? }.`,
      { field },
    );
  }
  const request = parsed.data;
  const route = deps.routes.require(request.secretId, 'rollback');
  const scoped = { ...deps, ...deps.scopeFor?.(route) };
  if (!deps.lease) return rollbackHoldingLease(request, route, scoped, async () => {});
  const { ARN: arn } = await describeSecret(scoped.secretsManager, request.secretId);
  return withSecretLease(deps.lease, arn ?? request.secretId, 'rollback', (lease) =>
    rollbackHoldingLease(request, route, { ...scoped, fence: () => lease.fence() }, () => lease.fence()),
  );
}

async function rollbackHoldingLease(
  { secretId, revokeNow }: z.infer<typeof RollbackRequestSchema>,
  route: KeyRoute,
  deps: RevocationDeps & { secretsManager: SecretsManagerClient },
  fence: () => Promise<void>,
): Promise<RollbackReport> {
  const sm = deps.secretsManager;
  const log = deps.logger.child({ secretId, action: 'rollback' });
  const metadata = await describeSecret(sm, secretId);
  checkTags(route, metadata, secretId);
  const name = metadata.Name ?? secretId;
  const arn = metadata.ARN ?? secretId;
  const tags = tagMap(metadata.Tags);
  const now = (deps.now ?? (() => new Date()))();
  const currentVersion = versionWithStage(metadata, AWSCURRENT);
  const previousVersion = versionWithStage(metadata, AWSPREVIOUS);
  const pendingVersion = versionWithStage(metadata, AWSPENDING);
  const emergencyAdvice = `rotate instead: rekey rotate ${name} --emergency`;
  const refuse = (why: string) =>
    new RollbackRefusedError(`cannot roll back ${name}: ${why}`, { secretId: name });

  if (pendingVersion && pendingVersion !== currentVersion) {
    throw new RollbackRefusedError(
      `${name} has a rotation in progress (version ${pendingVersion} is AWSPENDING); wait for it to finish or fail, or cancel it with: rekey rotate ${name} --emergency`,
      { secretId: name },
    );
  }
  if (!previousVersion || !currentVersion) {
    const revoked = tags[TAGS.lastRevokedVersion];
    throw refuse(
      revoked
        ? `the previous key ${tags[TAGS.lastRevokedKeyId]} (version ${revoked}) was already revoked at ${tags[TAGS.lastRevokedAt]}; ${emergencyAdvice}`
        : `it has no previous version; ${emergencyAdvice}`,
    );
  }
  if (versionList(tags, TAGS.rejectedVersions).includes(previousVersion))
    throw refuse(
      `the previous version ${previousVersion} is the one an earlier rollback rejected (at ${tags[TAGS.rolledBackAt]}); AWSCURRENT ${currentVersion} is already the restored key, so there is nothing to undo.`,
    );
  if (versionList(tags, TAGS.compromisedVersions).includes(previousVersion))
    throw refuse(
      `the previous version ${previousVersion} holds a key an emergency rotation declared compromised; rekey never restores it. ${emergencyAdvice} if the current key is bad too.`,
    );
  const dueAt = Date.parse(tags[TAGS.revokeDueAt] ?? '');
  if (tags[TAGS.revokeVersion] !== previousVersion || Number.isNaN(dueAt) || now.getTime() >= dueAt)
    throw refuse(
      `the previous key's grace window is over${Number.isNaN(dueAt) ? '' : ` (it ended at ${new Date(dueAt).toISOString()})`}; rollback restores a key only while its revocation is still pending. ${emergencyAdvice}`,
    );
  const current = await readManagedKey(sm, log, { SecretId: arn, VersionId: currentVersion });
  const previous = await readManagedKey(sm, log, { SecretId: arn, VersionId: previousVersion });
  if (!current || !previous) throw refuse(`a version has no value; ${emergencyAdvice}`);
  const connection = await connectionFor(route, deps);
  const definition = connection.provider;
  const provider = await connectProvider(sm, log, arn, current.doc, route, connection);
  if ((await provider.validateKey({ id: previous.doc.keyId, value: previous.doc.key })) !== 'accepted') {
    throw refuse(
      `the previous key ${previous.doc.keyId} (version ${previousVersion}) no longer authenticates at ${definition.displayName} — it was revoked; rolling back would leave no working key. ${emergencyAdvice}`,
    );
  }

  const request: RevocationRequest = {
    secretArn: arn,
    previousVersionId: currentVersion,
    previousKeyId: current.doc.keyId,
    newVersionId: previousVersion,
    promotedAt: now.toISOString(),
    reason: 'rollback',
  };
  await fence();
  // Record the rejection and schedule its revocation before the move: if this run dies right after it, the
  // rejected key is still revoked, and a redelivery sees what it rejected (if it dies before, the schedule
  // finds the rejected key still AWSCURRENT and does nothing).
  await sm.send(
    new TagResourceCommand({
      SecretId: arn,
      Tags: [
        { Key: TAGS.rolledBackAt, Value: now.toISOString() },
        { Key: TAGS.rolledBackFrom, Value: currentVersion },
        { Key: TAGS.rejectedVersions, Value: withVersion(tags, TAGS.rejectedVersions, currentVersion) },
      ],
    }),
  );
  // Instances that already picked up the rejected key need the usual grace to move back.
  const rejectedDueAt = new Date(now.getTime() + routeGraceSeconds(route, metadata, name) * 1000);
  if (!revokeNow) {
    await scheduleRevocation(request, rejectedDueAt, {
      ...deps,
      logger: log,
      secretName: name,
    });
  }
  await fence();
  await sm.send(
    new UpdateSecretVersionStageCommand({
      SecretId: arn,
      VersionStage: AWSCURRENT,
      MoveToVersionId: previousVersion,
      RemoveFromVersionId: currentVersion,
    }),
  );
  const cancelledSchedules = await cancelRevocation(name, previousVersion, deps);
  // The pending revocation is now the rejected key's (what `rekey status` shows), or none.
  if (!revokeNow) {
    await sm.send(
      new TagResourceCommand({
        SecretId: arn,
        Tags: [
          { Key: TAGS.revokeDueAt, Value: rejectedDueAt.toISOString() },
          { Key: TAGS.revokeVersion, Value: currentVersion },
          { Key: TAGS.revokeKeyId, Value: current.doc.keyId },
        ],
      }),
    );
  } else if (tags[TAGS.revokeVersion] === previousVersion) {
    await sm.send(
      new UntagResourceCommand({
        SecretId: arn,
        TagKeys: [TAGS.revokeDueAt, TAGS.revokeVersion, TAGS.revokeKeyId],
      }),
    );
  }
  log.info('audit: rolled back', {
    audit: 'rekey.rolled-back',
    restoredVersionId: previousVersion,
    rejectedVersionId: currentVersion,
    cancelledSchedules,
  });
  const report: RollbackReport = {
    secret: name,
    restoredVersionId: previousVersion,
    restoredKeyId: previous.doc.keyId,
    rejectedVersionId: currentVersion,
    rejectedKeyId: current.doc.keyId,
    cancelledSchedules,
    rejectedKey: 'revocation-scheduled',
  };
  if (revokeNow) {
    report.revocation = await revokePreviousKey(request, { ...deps, logger: log });
    if (report.revocation.outcome === 'revoked' || report.revocation.outcome === 'already-revoked')
      report.rejectedKey = 'revoked';
  }
  await publishAlert(
    deps.sns,
    deps.config.alertTopicArn,
    {
      subject: `rekey: rolled back ${name}`,
      secret: name,
      event: 'rolled-back',
      detail: `AWSCURRENT is key ${previous.doc.keyId} again; key ${current.doc.keyId} is ${report.rejectedKey}.`,
    },
    log,
  );
  return report;
}

/**
 * What the rollback function does with its event: a direct request, or an alarm's SNS notification — a
 * per-key alarm naming its secret, or a fleet alarm whose contributors in ALARM (CloudWatch's word) are the
 * keys to roll back. An alarm's rollback that is refused is final — SNS delivers at least once and Lambda
 * would retry it — so it alerts instead of failing; a direct invoker gets the refusal.
 */
export async function rollbackFromEvent(
  event: unknown,
  deps: RollbackDeps,
): Promise<RollbackReport | RollbackReport[] | undefined> {
  const fromAlarm = Array.isArray((event as { Records?: unknown } | undefined)?.Records);
  // A direct request is rollbackKey's to validate (a falsy one too); only an alarm may call for nothing.
  const request = fromAlarm ? rollbackRequestFromEvent(event) : undefined;
  if (fromAlarm && !request) {
    deps.logger.info('event is not an alarm entering ALARM; nothing to roll back');
    return undefined;
  }
  if (request && 'alarmName' in request) return rollbackContributors(request.alarmName, deps);
  return refusalAlerted(
    request?.secretId,
    async () => {
      // Anyone allowed to publish to the topic can write this message: believe CloudWatch, not the message.
      if (request) await confirmAlarm(alarmNameOf(event), request.secretId, deps);
      return rollbackKey(request ?? event, deps);
    },
    deps,
    request !== undefined,
  );
}

/**
 * Runs a rollback; a refusal (or a request for a key the deployment does not have) is alerted — and, for an
 * alarm's rollback, not rethrown.
 */
async function refusalAlerted(
  secretId: string | undefined,
  run: () => Promise<RollbackReport>,
  deps: RollbackDeps,
  fromAlarm: boolean,
): Promise<RollbackReport | undefined> {
  try {
    return await run();
  } catch (error) {
    // A request for something the deployment does not say is alerted however it came.
    const mismatch = error instanceof RoutingMismatchError;
    if (!mismatch && !(fromAlarm && error instanceof RollbackRefusedError)) throw error;
    const secret = secretId ?? (error as RollbackRefusedError).secretId ?? '(unknown secret)';
    deps.logger.warn('rollback refused', { secretId: secret, reason: error.message });
    await publishAlert(
      deps.sns,
      deps.config.alertTopicArn,
      {
        subject: `rekey: rollback of ${secret} refused`,
        secret,
        event: mismatch ? 'routing-mismatch' : 'rollback-refused',
        detail: error.message,
      },
      deps.logger,
    );
    if (!fromAlarm) throw error;
    return undefined;
  }
}

/**
 * A fleet alarm's notification: CloudWatch confirms the alarm is one of rekey's rollback alarms in ALARM,
 * and names its contributors in ALARM (DescribeAlarmContributors); each contributor's SecretName that is
 * one of this deployment's `rollback_on_failure` keys is rolled back, one after another. A key already
 * rolled back by an earlier delivery is refused (and alerted) as a duplicate is.
 */
async function rollbackContributors(alarmName: string, deps: RollbackDeps): Promise<RollbackReport[]> {
  let secrets: string[];
  try {
    await confirmAlarm(alarmName, undefined, deps);
    secrets = await contributorSecrets(alarmName, deps.cloudWatch!);
  } catch (error) {
    const refused = await refusalAlerted(`alarm ${alarmName}`, () => Promise.reject(error), deps, true);
    return refused ? [refused] : [];
  }
  if (secrets.length === 0)
    deps.logger.info('the alarm has no contributor in ALARM; nothing to roll back', { alarmName });
  const reports: RollbackReport[] = [];
  for (const secretId of secrets) {
    const report = await refusalAlerted(
      secretId,
      async () => {
        checkRollbackRoute(secretId, alarmName, deps);
        return rollbackKey({ secretId, revokeNow: false }, deps);
      },
      deps,
      true,
    );
    if (report) reports.push(report);
  }
  return reports;
}

/** The SecretName of every contributor of `alarmName` in ALARM, all pages. */
async function contributorSecrets(alarmName: string, cloudWatch: CloudWatchClient): Promise<string[]> {
  const secrets: string[] = [];
  let token: string | undefined;
  do {
    const page = await cloudWatch.send(
      new DescribeAlarmContributorsCommand({ AlarmName: alarmName, NextToken: token }),
    );
    for (const c of page.AlarmContributors ?? []) {
      const secret = c.ContributorAttributes?.[DIMENSIONS.secret];
      if (secret && !secrets.includes(secret)) secrets.push(secret);
    }
    token = page.NextToken;
  } while (token);
  return secrets;
}

/** What the rollback function needs: the revocation machinery, and CloudWatch to check an alarm's word. */
export type RollbackDeps = RevocationDeps & {
  secretsManager: SecretsManagerClient;
  /** Reads the alarm an SNS notification names; without it an alarm's rollback is refused. */
  cloudWatch?: CloudWatchClient;
  /** The stack's rollback topic: only alarms that act on it may roll a key back. */
  rollbackTopicArn?: string;
};

const alarmNameOf = (event: unknown): string | undefined => {
  const message = (event as { Records: Array<{ Sns?: { Message?: string } }> }).Records[0]?.Sns?.Message;
  return AlarmNotificationSchema.parse(JSON.parse(message ?? '')).AlarmName;
};

/**
 * An alarm's rollback goes ahead only if CloudWatch itself says so: the named alarm exists, is in ALARM now,
 * is one of the rollback-enabled alarms (it acts on the stack's rollback topic — `rollback_on_failure` keys'
 * auth-failure alarms only), and — for a per-key alarm — watches the very secret the message names.
 */
async function confirmAlarm(
  alarmName: string | undefined,
  secretId: string | undefined,
  deps: RollbackDeps,
): Promise<void> {
  const what = secretId ?? `the keys of alarm ${alarmName}`;
  const refuse = (why: string) =>
    new RollbackRefusedError(
      `refused a rollback of ${what} from an alarm notification: ${why}; nothing was changed.`,
      { ...(secretId ? { secretId } : {}) },
    );
  if (!deps.cloudWatch || !deps.rollbackTopicArn)
    throw refuse(
      'the function cannot check alarms (REKEY_ROLLBACK_TOPIC_ARN and CloudWatch access are needed)',
    );
  if (!alarmName) throw refuse('the notification names no alarm');
  const out = await deps.cloudWatch.send(new DescribeAlarmsCommand({ AlarmNames: [alarmName] }));
  const alarm = out.MetricAlarms?.find((a) => a.AlarmName === alarmName);
  if (!alarm) throw refuse(`CloudWatch has no alarm ${alarmName}`);
  if (alarm.StateValue !== 'ALARM') throw refuse(`alarm ${alarmName} is ${alarm.StateValue}, not ALARM`);
  if (!alarm.AlarmActions?.includes(deps.rollbackTopicArn))
    throw refuse(`alarm ${alarmName} is not one of rekey's rollback alarms (rollback_on_failure)`);
  if (secretId === undefined) return;
  const watched = alarm.Dimensions?.find((d) => d.Name === DIMENSIONS.secret)?.Value;
  if (watched !== secretId)
    throw refuse(`alarm ${alarmName} watches ${watched ?? 'no secret'}, not ${secretId}`);
  checkRollbackRoute(secretId, alarmName, deps);
}

/** The key is this deployment's, and the deployed inventory lets its alarm roll it back. */
function checkRollbackRoute(secretId: string, alarmName: string, deps: RollbackDeps): void {
  const refuse = (why: string) =>
    new RollbackRefusedError(
      `refused a rollback of ${secretId} from alarm ${alarmName}: ${why}; nothing was changed.`,
      { secretId },
    );
  const route = deps.routes.find(secretId);
  if (!route) throw refuse(`${secretId} is not one of this deployment's keys`);
  if (!route.rollbackOnFailure)
    throw refuse(`the deployed inventory says rollback_on_failure: false for "${route.name}"`);
}

const AlarmNotificationSchema = z.object({
  AlarmName: z.optional(z.string()),
  NewStateValue: z.string(),
  Trigger: z.object({
    Dimensions: z._default(z.array(z.object({ name: z.string(), value: z.string() })), []),
  }),
});

/** A fleet alarm's notification: which keys it is about is CloudWatch's to say (its contributors). */
export interface AlarmContributorsRequest {
  alarmName: string;
}

/**
 * A rollback request from a direct invocation, or from an SNS-delivered CloudWatch alarm entering ALARM:
 * a per-key alarm's SecretName dimension names the key; a fleet alarm (no SecretName dimension) yields its
 * name, for its contributors. Undefined for alarm transitions that call for nothing.
 */
export function rollbackRequestFromEvent(
  event: unknown,
): RollbackRequest | AlarmContributorsRequest | undefined {
  const records = (event as { Records?: Array<{ Sns?: { Message?: string } }> } | undefined)?.Records;
  if (!Array.isArray(records)) return event as RollbackRequest;
  const message = records[0]?.Sns?.Message;
  let alarm: z.infer<typeof AlarmNotificationSchema>;
  try {
    alarm = AlarmNotificationSchema.parse(JSON.parse(message ?? ''));
  } catch {
    throw new InvalidInputError(
      'INVALID_EVENT',
      'rollback: the SNS message is not a CloudWatch alarm notification; subscribe this function only to rekey alarm topics.',
      { field: 'Records[0].Sns.Message' },
    );
  }
  if (alarm.NewStateValue !== 'ALARM') return undefined;
  const secret = alarm.Trigger.Dimensions.find((d) => d.name === DIMENSIONS.secret)?.value;
  if (secret) return { secretId: secret, revokeNow: false };
  if (alarm.AlarmName) return { alarmName: alarm.AlarmName };
  throw new InvalidInputError(
    'INVALID_EVENT',
    `rollback: the alarm has no ${DIMENSIONS.secret} dimension and names no alarm; wire only rekey's auth-failure alarms to rollback.`,
    { field: 'Trigger.Dimensions' },
  );
}
