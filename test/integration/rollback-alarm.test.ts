import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { rollbackFromEvent } from '../../lambdas/rollback.js';
import { SendGridRotationEnv } from '../support/managed-key-env.js';

/**
 * issue 13, finding 4: anyone allowed to publish to the rollback topic could roll back any managed secret,
 * also one with `rollback_on_failure: false`. Rollback now believes CloudWatch, not the message.
 */
const ALARM = 'rekey-AuthFailureSpike-prod-sendgrid';

function notification(secretName: string, alarmName = ALARM) {
  const message = {
    AlarmName: alarmName,
    NewStateValue: 'ALARM',
    Trigger: { Dimensions: [{ name: 'SecretName', value: secretName }] },
  };
  return { Records: [{ Sns: { Message: JSON.stringify(message) } }] };
}

describe('rollback from an alarm notification (issue 13, finding 4)', () => {
  let env: SendGridRotationEnv;
  let rollbackTopicArn: string;
  beforeEach(async () => {
    env = await new SendGridRotationEnv().start();
    rollbackTopicArn = env.aws.sns.createTopic('rekey-rollback');
    await env.rotate();
  });
  afterEach(() => env.stop());

  const deps = () => ({ ...env.revocationDeps(), cloudWatch: env.cloudWatch, rollbackTopicArn });
  const currentKeyId = async () => (await env.read('AWSCURRENT')).keyId;

  it('rolls back when CloudWatch confirms the key’s rollback alarm is in ALARM', async () => {
    const previous = await env.read('AWSPREVIOUS');
    env.aws.cloudWatch.putAlarm({
      name: ALARM,
      dimensions: { SecretName: env.secretName },
      actions: [rollbackTopicArn],
      state: 'ALARM',
    });
    const report = await rollbackFromEvent(notification(env.secretName), deps());
    assert.ok(report && !Array.isArray(report));
    assert.equal(report.restoredKeyId, previous.keyId);
    assert.equal(await currentKeyId(), previous.keyId);
  });

  const forgeries: Array<[string, () => void, string]> = [
    ['an alarm that does not exist', () => {}, 'CloudWatch has no alarm'],
    [
      'an alarm that is not in ALARM',
      () =>
        env.aws.cloudWatch.putAlarm({
          name: ALARM,
          dimensions: { SecretName: env.secretName },
          actions: [rollbackTopicArn],
          state: 'OK',
        }),
      'is OK, not ALARM',
    ],
    [
      'the alarm of a key without rollback_on_failure (no rollback action)',
      () =>
        env.aws.cloudWatch.putAlarm({
          name: ALARM,
          dimensions: { SecretName: env.secretName },
          actions: ['arn:aws:sns:us-east-1:123456789012:rekey-on-call'],
          state: 'ALARM',
        }),
      "not one of rekey's rollback alarms",
    ],
    [
      'another secret’s rollback alarm',
      () =>
        env.aws.cloudWatch.putAlarm({
          name: ALARM,
          dimensions: { SecretName: 'prod/other/api-key' },
          actions: [rollbackTopicArn],
          state: 'ALARM',
        }),
      'watches prod/other/api-key',
    ],
  ];
  for (const [what, arrange, reason] of forgeries) {
    it(`refuses a notification naming ${what}: alerted, nothing changed`, async () => {
      arrange();
      const before = await currentKeyId();
      const schedules = env.aws.scheduler.list('rekey').length;
      assert.equal(await rollbackFromEvent(notification(env.secretName), deps()), undefined);
      assert.equal(await currentKeyId(), before, 'AWSCURRENT did not move');
      assert.equal(env.aws.scheduler.list('rekey').length, schedules, 'no revocation scheduled or cancelled');
      const alert = env.alerts().find((a) => a.message.event === 'rollback-refused');
      assert.ok(alert, 'operators hear of the refusal');
      assert.match(String(alert.message.detail), new RegExp(reason.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
    });
  }

  it('refuses every alarm notification when it cannot check alarms (fails closed)', async () => {
    const before = await currentKeyId();
    const { cloudWatch: _cw, ...withoutCloudWatch } = deps();
    assert.equal(await rollbackFromEvent(notification(env.secretName), withoutCloudWatch), undefined);
    assert.equal(await currentKeyId(), before);
  });

  describe('a fleet alarm (Metrics Insights, grouped by SecretName): its contributors are the keys', () => {
    const FLEET = 'rekey-AuthFailureSpike-fleet';
    const fleetNotification = () => ({
      Records: [
        {
          Sns: {
            Message: JSON.stringify({
              AlarmName: FLEET,
              NewStateValue: 'ALARM',
              Trigger: { Dimensions: [] },
            }),
          },
        },
      ],
    });
    const putFleetAlarm = (state: 'OK' | 'ALARM', contributors: string[], actions = [rollbackTopicArn]) =>
      env.aws.cloudWatch.putAlarm({
        name: FLEET,
        query:
          'SELECT SUM(AuthFailures) FROM SCHEMA(Rekey, SecretName) GROUP BY SecretName ORDER BY SUM() DESC',
        actions,
        state,
        contributors: contributors.map((SecretName) => ({ SecretName })),
      });

    it('rolls back the deployment’s contributor in ALARM, refusing (and alerting) the others, over every page', async () => {
      const previous = await env.read('AWSPREVIOUS');
      // Three contributors: two pages of DescribeAlarmContributors; two keys this deployment does not have.
      putFleetAlarm('ALARM', ['prod/other/api-key', 'prod/elsewhere/key', env.secretName]);
      const reports = await rollbackFromEvent(fleetNotification(), deps());
      assert.ok(Array.isArray(reports));
      assert.deepEqual(
        reports.map((r) => r.restoredKeyId),
        [previous.keyId],
      );
      assert.equal(await currentKeyId(), previous.keyId);
      const refused = env.alerts().filter((a) => a.message.event === 'rollback-refused');
      assert.deepEqual(refused.map((a) => a.message.secret).sort(), [
        'prod/elsewhere/key',
        'prod/other/api-key',
      ]);
      for (const a of refused) assert.match(String(a.message.detail), /is not one of this deployment's keys/);
    });

    it('changes nothing for a fleet alarm in OK, or one that is not a rollback alarm', async () => {
      const before = await currentKeyId();
      putFleetAlarm('OK', [env.secretName]);
      assert.deepEqual(await rollbackFromEvent(fleetNotification(), deps()), []);
      putFleetAlarm('ALARM', [env.secretName], ['arn:aws:sns:us-east-1:123456789012:rekey-on-call']);
      assert.deepEqual(await rollbackFromEvent(fleetNotification(), deps()), []);
      assert.equal(await currentKeyId(), before);
      const details = env
        .alerts()
        .filter((a) => a.message.event === 'rollback-refused')
        .map((a) => String(a.message.detail));
      assert.equal(details.length, 2);
      assert.match(details[0]!, /is OK, not ALARM/);
      assert.match(details[1]!, /not one of rekey's rollback alarms/);
    });

    it('a second delivery of the same notification restores nothing more', async () => {
      putFleetAlarm('ALARM', [env.secretName]);
      const first = await rollbackFromEvent(fleetNotification(), deps());
      assert.equal((first as unknown[]).length, 1);
      const restored = await currentKeyId();
      assert.deepEqual(await rollbackFromEvent(fleetNotification(), deps()), []);
      assert.equal(await currentKeyId(), restored, 'not undone by the duplicate');
    });
  });
});
