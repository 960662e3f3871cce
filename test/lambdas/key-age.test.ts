import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  CreateSecretCommand,
  PutSecretValueCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import {
  monitoredSecretsOf,
  PUBLISH_FROM_ENV,
  publishFromOf,
  publishKeyAges,
} from '../../lambdas/key-age.js';
import { Logger } from '../../lambdas/logger.js';
import type { LoopbackAws } from '../../local/aws/server.js';
import { ManualClock } from '../../local/clock.js';
import { CapturedLogs, startLoopbackAws } from '../support/env.js';

const HOUR = 3600_000;

describe('key-age monitor', () => {
  const clock = new ManualClock(new Date('2026-03-01T00:00:00Z'));
  const logs = new CapturedLogs();
  const logger = new Logger(logs.sink, {}, 'debug');
  let aws: LoopbackAws;
  let sm: SecretsManagerClient;
  let oldArn: string;
  let rotatedArn: string;
  const KEY_VALUES = ['SG.old-key-value-0001', 'SG.rotated-key-value-0002', 'SG.rotated-key-value-0003'];

  before(async () => {
    aws = await startLoopbackAws({ clock });
    sm = new SecretsManagerClient({});
    oldArn = (await sm.send(new CreateSecretCommand({ Name: 'prod/old', SecretString: KEY_VALUES[0] }))).ARN!;
    rotatedArn = (
      await sm.send(new CreateSecretCommand({ Name: 'prod/rotated', SecretString: KEY_VALUES[1] }))
    ).ARN!;
    clock.advance(10 * HOUR);
    await sm.send(new PutSecretValueCommand({ SecretId: rotatedArn, SecretString: KEY_VALUES[2] }));
    clock.advance(2 * HOUR);
  });
  after(async () => {
    sm.destroy();
    await aws.stop();
  });

  it('publishes the age of each AWSCURRENT version as KeyAgeSeconds, one EMF line per secret', async () => {
    // Prepare
    const lines: string[] = [];
    // Act
    const ages = await publishKeyAges([{ name: 'prod/old' }, { name: 'prod/rotated', arn: rotatedArn }], {
      secretsManager: sm,
      logger,
      emit: (l) => lines.push(l),
      now: () => clock.now(),
    });
    // Assess
    assert.deepEqual(
      ages.map((a) => [a.secretName, a.ageSeconds]),
      [
        ['prod/old', 12 * 3600],
        ['prod/rotated', 2 * 3600],
      ],
    );
    const records = lines.map((l) => JSON.parse(l));
    assert.deepEqual(records[0]._aws.CloudWatchMetrics, [
      {
        Namespace: 'Rekey',
        Dimensions: [['SecretName']],
        Metrics: [{ Name: 'KeyAgeSeconds', Unit: 'Seconds' }],
      },
    ]);
    assert.equal(records[0].SecretName, 'prod/old');
    assert.equal(records[0].KeyAgeSeconds, 12 * 3600);
    assert.equal(records[1].KeyAgeSeconds, 2 * 3600);
  });

  it('publishes only ages from publishFromSeconds: a key on schedule costs no custom metric', async () => {
    const lines: string[] = [];
    const ages = await publishKeyAges([{ name: 'prod/old' }, { name: 'prod/rotated' }], {
      secretsManager: sm,
      logger,
      emit: (l) => lines.push(l),
      now: () => clock.now(),
      publishFromSeconds: 10 * 3600,
    });
    assert.equal(ages.length, 2, 'both ages are read');
    assert.deepEqual(
      lines.map((l) => [JSON.parse(l).SecretName, JSON.parse(l).KeyAgeSeconds]),
      [['prod/old', 12 * 3600]],
      'only the key older than 10 h is published — the one the alarm can see',
    );
    assert.equal(publishFromOf({ [PUBLISH_FROM_ENV]: '2592000' }), 2_592_000);
    for (const bad of [undefined, '', 'soon', '-5'])
      assert.equal(publishFromOf({ [PUBLISH_FROM_ENV]: bad }), 0, `${bad}: every age is published`);
  });

  it('never reads a key value: only version metadata is requested', async () => {
    const reads = aws.count('secretsmanager.GetSecretValue');
    const lists = aws.count('secretsmanager.ListSecretVersionIds');
    await publishKeyAges([{ name: 'prod/old', arn: oldArn }], { secretsManager: sm, logger, emit: () => {} });
    assert.equal(aws.count('secretsmanager.ListSecretVersionIds'), lists + 1);
    assert.equal(aws.count('secretsmanager.GetSecretValue'), reads);
    assert.deepEqual(logs.leaks(KEY_VALUES), []);
  });

  it('publishes the readable secrets, then fails naming the unreadable one', async () => {
    const lines: string[] = [];
    await assert.rejects(
      publishKeyAges(
        [
          {
            name: 'prod/missing',
            arn: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/missing-AAAAAA',
          },
          { name: 'prod/old', arn: oldArn },
        ],
        { secretsManager: sm, logger, emit: (l) => lines.push(l) },
      ),
      /could not read prod\/missing; check that the secrets exist/,
    );
    assert.equal(lines.length, 1, 'prod/old was still published');
  });

  it('monitors the keys its bundle names — by name, and by ARN for an existing secret — and refuses an empty bundle', () => {
    const route = {
      name: 'x',
      secretName: 'prod/x',
      provider: 'sendgrid',
      rotatorSecret: 'r',
      options: {},
      singleKey: false,
      gracePeriod: '1h',
      rollbackOnFailure: false,
    };
    assert.deepEqual(
      monitoredSecretsOf([route, { ...route, name: 'y', secretName: 'prod/y', secretArn: 'arn:y' }]),
      [{ name: 'prod/x' }, { name: 'prod/y', arn: 'arn:y' }],
    );
    assert.throws(() => monitoredSecretsOf([]), /names no keys \(rekey-routes\.json\)/);
  });
});
