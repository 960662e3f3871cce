import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { GetScheduleCommand } from '@aws-sdk/client-scheduler';
import { DescribeSecretCommand, UpdateSecretVersionStageCommand } from '@aws-sdk/client-secrets-manager';
import { RekeyError } from '../../lambdas/errors.js';
import { revocationScheduleName } from '../../lambdas/revocation.js';
import { rollbackKey } from '../../lambdas/rollback.js';
import { startRotation } from '../../lambdas/start-rotation.js';
import { tagMap } from '../../lambdas/tags.js';
import { SendGridRotationEnv } from '../support/managed-key-env.js';

const HOUR = 3600_000;
const MINUTE = 60_000;

async function tagsOf(env: SendGridRotationEnv): Promise<Record<string, string>> {
  return tagMap((await env.sm.send(new DescribeSecretCommand({ SecretId: env.secretArn }))).Tags);
}

describe('grace-period revocation, rollback and emergency rotation on the loopback endpoint', () => {
  let env: SendGridRotationEnv;
  beforeEach(async () => {
    env = await new SendGridRotationEnv().start();
  });
  afterEach(() => env.stop());

  it('keeps both keys valid through the grace period, then revokes the old one when the schedule fires', async () => {
    // Prepare
    const old = await env.read('AWSCURRENT');
    // Act
    const versionId = await env.rotate();
    // Assess: during the grace period both keys work, and a one-shot schedule waits.
    const current = await env.read('AWSCURRENT');
    assert.ok(env.sandbox.accepts(old.key) && env.sandbox.accepts(current.key));
    const name = revocationScheduleName(env.secretName, old.versionId, versionId);
    assert.ok(name.length <= 64 && /^[0-9a-zA-Z-_.]+$/.test(name));
    const schedule = await env.scheduler.send(new GetScheduleCommand({ Name: name, GroupName: 'rekey' }));
    assert.match(schedule.ScheduleExpression!, /^at\(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:00\)$/);
    assert.equal(schedule.ScheduleExpressionTimezone, 'UTC');
    assert.deepEqual(schedule.FlexibleTimeWindow, { Mode: 'OFF' });
    assert.equal(schedule.ActionAfterCompletion, 'DELETE');
    assert.equal(schedule.Target?.Arn, env.revokerArn);
    assert.equal(
      schedule.Target?.DeadLetterConfig?.Arn,
      'arn:aws:sqs:us-east-1:123456789012:rekey-revocation-dlq',
    );
    assert.equal(schedule.Target?.RetryPolicy?.MaximumRetryAttempts, 10);
    const input = JSON.parse(schedule.Target!.Input!);
    assert.deepEqual(
      {
        secretArn: input.secretArn,
        previousVersionId: input.previousVersionId,
        previousKeyId: input.previousKeyId,
        newVersionId: input.newVersionId,
        reason: input.reason,
      },
      {
        secretArn: env.secretArn,
        previousVersionId: old.versionId,
        previousKeyId: old.keyId,
        newVersionId: versionId,
        reason: 'rotation',
      },
    );
    assert.ok(
      !schedule.Target!.Input!.includes(old.key) && !schedule.Target!.Input!.includes(current.key),
      'no key value in the schedule',
    );
    assert.equal(await env.advanceAndFire(59 * MINUTE), 0, 'nothing fires before the grace period ends');
    assert.ok(env.sandbox.accepts(old.key));
    // Act: the grace period ends.
    assert.equal(await env.advanceAndFire(2 * MINUTE), 1);
    // Assess
    assert.ok(!env.sandbox.accepts(old.key), 'the old key is revoked');
    assert.ok(env.sandbox.accepts((await env.read('AWSCURRENT')).key), 'the new key still works');
    assert.equal(env.appKeys().length, 1, 'the provider holds one key for the secret');
    assert.deepEqual(env.revocationOutcomes(), ['revoked']);
    const tags = await tagsOf(env);
    assert.equal(tags['rekey:last-revoked-version'], old.versionId);
    assert.equal(tags['rekey:revoke-version'], undefined, 'the pending revocation is cleared');
    assert.deepEqual(
      env.aws.secretsManager.stagesOf(env.secretArn),
      { [versionId]: ['AWSCURRENT'] },
      'the revoked version keeps no label',
    );
    assert.ok(
      env.logs.records().some((r) => r.audit === 'rekey.key-revoked'),
      'an audit line',
    );
    assert.equal(env.aws.scheduler.list('rekey').length, 0, 'the schedule deleted itself');
    assert.deepEqual(env.leakedLines(), []);
  });

  it('revokes once when Scheduler delivers the revocation twice, and reports the second as already done', async () => {
    await env.rotate();
    env.aws.scheduler.deliverTwice();
    await env.advanceAndFire(HOUR + MINUTE);
    assert.deepEqual(env.revocationOutcomes(), ['revoked', 'already-revoked']);
    assert.equal(
      env.sandbox.requests.filter((r) => r.method === 'DELETE').length,
      1,
      'one DELETE at the provider',
    );
    assert.equal(env.appKeys().length, 1);
  });

  it('rolls back during the grace period: the old key is current again, its revocation cancelled, the rejected key revoked', async () => {
    const old = await env.read('AWSCURRENT');
    await env.rotate();
    const rejected = await env.read('AWSCURRENT');
    // Act
    const report = await rollbackKey({ secretId: env.secretName, revokeNow: true }, env.revocationDeps());
    // Assess
    assert.equal(report.restoredVersionId, old.versionId);
    assert.equal(report.rejectedKey, 'revoked');
    assert.equal(report.cancelledSchedules, 1);
    assert.equal((await env.read('AWSCURRENT')).versionId, old.versionId);
    assert.ok(env.sandbox.accepts(old.key));
    assert.ok(!env.sandbox.accepts(rejected.key), 'the rejected key is revoked');
    assert.equal(await env.advanceAndFire(2 * HOUR), 0, 'no revocation of the restored key remains');
    assert.ok(env.sandbox.accepts(old.key));
    assert.equal(env.appKeys().length, 1);
    assert.ok(env.alerts().some((a) => a.subject === `rekey: rolled back ${env.secretName}`));
    assert.deepEqual(env.leakedLines(), []);
  });

  it('rollback without --revoke-now schedules the rejected key for revocation after the grace period', async () => {
    await env.rotate();
    const rejected = await env.read('AWSCURRENT');
    const report = await rollbackKey({ secretId: env.secretName }, env.revocationDeps());
    assert.equal(report.rejectedKey, 'revocation-scheduled');
    assert.ok(env.sandbox.accepts(rejected.key), 'instances that picked it up keep working during the grace');
    await env.advanceAndFire(HOUR + MINUTE);
    assert.ok(!env.sandbox.accepts(rejected.key));
    assert.deepEqual(env.revocationOutcomes(), ['revoked']);
  });

  it('refuses a rollback after the old key was revoked, with what to do instead, and changes nothing', async () => {
    await env.rotate();
    await env.advanceAndFire(HOUR + MINUTE);
    const current = await env.read('AWSCURRENT');
    await assert.rejects(
      rollbackKey({ secretId: env.secretName }, env.revocationDeps()),
      (error: unknown) =>
        error instanceof RekeyError &&
        error.code === 'ROLLBACK_REFUSED' &&
        /cannot roll back prod\/sendgrid\/api-key: the previous key \S+ \(version [\w-]+\) was already revoked at \S+; rotate instead: rekey rotate prod\/sendgrid\/api-key --emergency/.test(
          error.message,
        ),
    );
    assert.equal((await env.read('AWSCURRENT')).versionId, current.versionId);
    assert.ok(env.sandbox.accepts(current.key));
  });

  it('refuses a rollback when the previous key was deleted at the provider out of band', async () => {
    const old = await env.read('AWSCURRENT');
    await env.rotate();
    env.sandbox.deleteKey(old.keyId);
    const current = await env.read('AWSCURRENT');
    await assert.rejects(
      rollbackKey({ secretId: env.secretName }, env.revocationDeps()),
      /no longer authenticates at SendGrid — it was revoked; rolling back would leave no working key/,
    );
    assert.equal((await env.read('AWSCURRENT')).versionId, current.versionId, 'AWSCURRENT unchanged');
  });

  it('aborts the revocation and alerts when the old key has become AWSCURRENT again', async () => {
    const old = await env.read('AWSCURRENT');
    const versionId = await env.rotate();
    // Someone moves AWSCURRENT back by hand, leaving the schedule in place.
    await env.sm.send(
      new UpdateSecretVersionStageCommand({
        SecretId: env.secretArn,
        VersionStage: 'AWSCURRENT',
        MoveToVersionId: old.versionId,
        RemoveFromVersionId: versionId,
      }),
    );
    await env.advanceAndFire(HOUR + MINUTE);
    assert.deepEqual(env.revocationOutcomes(), ['aborted']);
    assert.ok(env.sandbox.accepts(old.key), 'the current key was not revoked');
    const alert = env.alerts().find((a) => a.message.event === 'revocation-aborted');
    assert.ok(alert, 'an alert was published');
    assert.match(
      String(alert.message.detail),
      /is AWSCURRENT again — a rollback happened; nothing was revoked/,
    );
  });

  it('survives a provider outage during revocation: re-scheduled, old key kept, revoked once the provider is back', async () => {
    const old = await env.read('AWSCURRENT');
    await env.rotate();
    env.sandbox.setOutage(true);
    await env.advanceAndFire(HOUR + MINUTE);
    assert.deepEqual(env.revocationOutcomes(), ['failed']);
    assert.equal((await env.read('AWSPREVIOUS')).versionId, old.versionId, 'the old key stays stored');
    env.sandbox.setOutage(false);
    assert.ok(
      env.sandbox.accepts(old.key) && env.sandbox.accepts((await env.read('AWSCURRENT')).key),
      'AWSCURRENT always valid',
    );
    await env.advanceAndFire(11 * MINUTE);
    assert.deepEqual(env.revocationOutcomes(), ['failed', 'revoked']);
    assert.ok(!env.sandbox.accepts(old.key));
  });

  it('gives up with an alert when the provider stays down, leaving the old key valid', async () => {
    const old = await env.read('AWSCURRENT');
    await env.rotate();
    env.sandbox.setOutage(true);
    await env.advanceAndFire(HOUR + MINUTE);
    await env.advanceAndFire(11 * MINUTE);
    await env.advanceAndFire(11 * MINUTE);
    assert.deepEqual(env.revocationOutcomes(), ['failed', 'failed', 'gave-up']);
    env.sandbox.setOutage(false);
    assert.ok(env.sandbox.accepts(old.key) && env.sandbox.accepts((await env.read('AWSCURRENT')).key));
    assert.match(
      String(env.alerts().find((a) => a.message.event === 'revocation-gave-up')?.message.detail),
      /after 3 attempts; the old key \S+ is still valid/,
    );
    assert.equal(env.aws.scheduler.list('rekey').length, 0, 'no further attempts');
  });

  it('waits for usage evidence: re-schedules while the new key is unused, revokes once it is used', async () => {
    let used = false;
    env.revocationOverride = {
      usageSources: [
        async () =>
          used
            ? { status: 'confirmed', source: 'client-metrics' }
            : { status: 'not-confirmed', source: 'client-metrics' },
      ],
    };
    const old = await env.read('AWSCURRENT');
    await env.rotate();
    await env.advanceAndFire(HOUR + MINUTE);
    assert.ok(env.sandbox.accepts(old.key));
    used = true;
    await env.advanceAndFire(11 * MINUTE);
    assert.deepEqual(env.revocationOutcomes(), ['deferred', 'revoked']);
    assert.equal(env.logs.records().find((r) => r.outcome === 'revoked')?.evidence, 'client-metrics');
  });

  it('never revokes when usage is never confirmed: alerts and leaves the old key alive', async () => {
    env.revocationOverride = {
      usageSources: [async () => ({ status: 'not-confirmed', source: 'client-metrics' })],
    };
    const old = await env.read('AWSCURRENT');
    await env.rotate();
    for (const wait of [HOUR + MINUTE, 11 * MINUTE, 11 * MINUTE]) await env.advanceAndFire(wait);
    assert.deepEqual(env.revocationOutcomes(), ['deferred', 'deferred', 'gave-up']);
    assert.ok(env.sandbox.accepts(old.key));
    assert.ok(env.alerts().some((a) => a.message.event === 'revocation-gave-up'));
  });

  it('starts one of two rotations requested at once and refuses the other cleanly; no extra key remains', async () => {
    const results = await Promise.allSettled([
      startRotation(env.secretName, {}, env.revocationDeps()),
      startRotation(env.secretName, {}, env.revocationDeps()),
    ]);
    const refused = results.filter((r) => r.status === 'rejected');
    assert.equal(refused.length, 1);
    assert.match(
      String((refused[0] as PromiseRejectedResult).reason.message),
      /another rotation of prod\/sendgrid\/api-key is in progress; rekey did not start a second one/,
    );
    await env.aws.secretsManager.settled();
    assert.equal(env.lastOutcome()?.ok, true);
    await env.advanceAndFire(HOUR + MINUTE);
    assert.equal(env.appKeys().length, 1, 'one key at the provider after revocation');
  });

  it('emergency rotation: from the command to the old key rejected by the provider', async () => {
    const old = await env.read('AWSCURRENT');
    const started = Date.now();
    const rotation = await startRotation(
      env.secretName,
      { emergency: true, graceSeconds: 0 },
      env.revocationDeps(),
    );
    await env.aws.secretsManager.settled();
    const elapsed = Date.now() - started;
    console.log(`emergency rotation: command → old key rejected in ${elapsed} ms (loopback)`);
    assert.ok(!env.sandbox.accepts(old.key), 'the old key is rejected');
    const current = await env.read('AWSCURRENT');
    assert.equal(current.versionId, rotation.versionId);
    assert.ok(env.sandbox.accepts(current.key));
    assert.equal(env.appKeys().length, 1);
    assert.equal((await tagsOf(env))['rekey:emergency-grace'], undefined, 'the emergency marker is removed');
    assert.equal(env.aws.scheduler.list('rekey').length, 0, 'the backstop schedule is cancelled');
    assert.deepEqual(env.revocationOutcomes(), ['revoked']);
  });

  it('emergency rotation with a grace period schedules the revocation after it', async () => {
    const old = await env.read('AWSCURRENT');
    await startRotation(env.secretName, { emergency: true, graceSeconds: 300 }, env.revocationDeps());
    await env.aws.secretsManager.settled();
    assert.ok(env.sandbox.accepts(old.key));
    await env.advanceAndFire(6 * MINUTE);
    assert.ok(!env.sandbox.accepts(old.key));
    assert.deepEqual(env.revocationOutcomes(), ['revoked']);
  });

  it('reports a stuck rotation, and an emergency rotation cancels it safely first', async () => {
    // Prepare: a rotation that failed at testSecret leaves AWSPENDING (with a key at the provider) behind.
    env.sandbox.rejectNextValidation();
    const old = await env.read('AWSCURRENT');
    const stuckVersion = await env.rotate();
    const stuckKey = await env.read('AWSPENDING');
    // Act + Assess: a plain rotation refuses and says what to do.
    await assert.rejects(
      startRotation(env.secretName, {}, env.revocationDeps()),
      new RegExp(
        `rotation of prod/sendgrid/api-key is stuck: version ${stuckVersion} is still AWSPENDING .* rekey rotate prod/sendgrid/api-key --emergency`,
      ),
    );
    const rotation = await startRotation(env.secretName, { emergency: true }, env.revocationDeps());
    await env.aws.secretsManager.settled();
    assert.deepEqual(rotation.cancelled, { versionId: stuckVersion, revokedKeyIds: [stuckKey.keyId] });
    assert.ok(!env.sandbox.accepts(stuckKey.key), 'the stuck key is revoked');
    assert.ok(!env.sandbox.accepts(old.key), 'the old key is revoked (emergency, zero grace)');
    assert.ok(env.sandbox.accepts((await env.read('AWSCURRENT')).key));
    assert.equal(env.appKeys().length, 1);
    assert.deepEqual(env.leakedLines(), []);
  });
});
