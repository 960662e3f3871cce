import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  CreateSecretCommand,
  GetSecretValueCommand,
  ListSecretVersionIdsCommand,
  PutSecretValueCommand,
  SecretsManagerClient,
  UpdateSecretVersionStageCommand,
} from '@aws-sdk/client-secrets-manager';
import { RateQuotas } from '../../local/aws/quotas.js';
import type { LoopbackAws } from '../../local/aws/server.js';
import { startLoopbackAws } from '../support/env.js';

describe('loopback quotas: requests over a documented rate are throttled as AWS throttles them', () => {
  it('a bucket holds one second of requests and refills with real time', () => {
    let now = 0;
    const quotas = new RateQuotas(
      [
        {
          name: 'writes',
          operations: ['secretsmanager.PutSecretValue', 'secretsmanager.UpdateSecretVersionStage'],
          perSecond: 50,
        },
      ],
      () => now,
    );
    for (let i = 0; i < 25; i++) assert.equal(quotas.take('secretsmanager.PutSecretValue'), undefined);
    // The two operations share the bucket, as PutSecretValue and UpdateSecretVersionStage share AWS's 50/s.
    for (let i = 0; i < 25; i++)
      assert.equal(quotas.take('secretsmanager.UpdateSecretVersionStage'), undefined);
    assert.equal(quotas.take('secretsmanager.PutSecretValue')?.name, 'writes');
    now += 100; // a tenth of a second: five more
    for (let i = 0; i < 5; i++) assert.equal(quotas.take('secretsmanager.PutSecretValue'), undefined);
    assert.ok(quotas.take('secretsmanager.PutSecretValue'));
    assert.equal(quotas.take('secretsmanager.ListSecrets'), undefined, 'an operation with no modelled quota');
    assert.equal(quotas.throttled.get('writes'), 2);
  });

  describe('on the endpoint, with the real SDK', () => {
    let aws: LoopbackAws;
    let sm: SecretsManagerClient;
    let arn: string;
    before(async () => {
      // The rate clock stands still: exactly one second's worth of requests is allowed, however slow the run.
      aws = await startLoopbackAws({ rateClock: () => 0 });
      // No retries: what the endpoint answers, not what the SDK's backoff hides.
      sm = new SecretsManagerClient({ maxAttempts: 1 });
      arn = (await sm.send(new CreateSecretCommand({ Name: 'quota/key', SecretString: '{}' }))).ARN!;
    });
    after(async () => {
      sm.destroy();
      await aws.stop();
    });

    it('60 writes at once: 50 succeed, 10 get ThrottlingException and create nothing', async () => {
      const results = await Promise.allSettled(
        Array.from({ length: 60 }, (_, i) =>
          sm.send(
            new PutSecretValueCommand({
              SecretId: arn,
              SecretString: `{"n":${i}}`,
              VersionStages: [`S${i}`],
            }),
          ),
        ),
      );
      const refused = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as Error] : []));
      assert.equal(refused.length, 10);
      for (const error of refused) {
        assert.equal(error.name, 'ThrottlingException');
        assert.equal((error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode, 400);
      }
      const versions = await sm.send(new ListSecretVersionIdsCommand({ SecretId: arn }));
      assert.equal(versions.Versions?.length, 1 + 50, 'the first version and the fifty accepted writes');
      // UpdateSecretVersionStage shares the bucket, now empty; GetSecretValue has its own, far larger one.
      await assert.rejects(
        sm.send(
          new UpdateSecretVersionStageCommand({
            SecretId: arn,
            VersionStage: 'S0',
            RemoveFromVersionId: versions.Versions![1]!.VersionId!,
          }),
        ),
        (error: Error) => error.name === 'ThrottlingException',
      );
      assert.ok((await sm.send(new GetSecretValueCommand({ SecretId: arn }))).SecretString);
      assert.equal(aws.quotas.throttled.size, 1);
    });
  });
});
