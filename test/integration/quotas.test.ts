import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { RotateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { FUNCTION_AWS_RETRY } from '../../lambdas/aws-retry.js';
import { RehearsalWorld } from '../../local/rehearsal/world.js';

/**
 * Many rotations at once against Secrets Manager's documented write quota (PutSecretValue and
 * UpdateSecretVersionStage share 50/s; RotateSecret 50/s), which the loopback enforces: the functions'
 * clients ride out the throttling (lambdas/aws-retry.ts) and every rotation completes. With the SDK's
 * default three attempts, 150 rotations at once lost some to ThrottlingException.
 */
describe('120 rotations at once under the loopback’s Secrets Manager quotas', () => {
  const world = new RehearsalWorld({
    providers: ['http', 'twilio'],
    keys: 120,
    scale: 1,
    graceSeconds: 86_400,
  });
  before(() => world.start());
  after(() => world.stop());

  it('are throttled, and every one still completes with one new key', async () => {
    const before = world.keys.map((key) => world.keyAt(key)!.id);
    // Started at once, each by its own client configured as the functions' are (one shared client would
    // spend its retry budget on the 70 throttled starts: pacing the starts is the fleet command's job).
    const starters = world.keys.map(() => new SecretsManagerClient(FUNCTION_AWS_RETRY));
    const started = await Promise.allSettled(
      world.keys.map((key, i) => starters[i]!.send(new RotateSecretCommand({ SecretId: key.arn }))),
    );
    for (const starter of starters) starter.destroy();
    assert.deepEqual(
      started.filter((s) => s.status === 'rejected').map((s) => String((s as PromiseRejectedResult).reason)),
      [],
    );
    await world.aws.secretsManager.settled();
    // 120 RotateSecret against a bucket of 50: at least the starts were throttled (the fault met rekey).
    const throttled = [...world.aws.quotas.throttled.values()].reduce((n, c) => n + c, 0);
    assert.ok(throttled > 0, 'the endpoint throttled some requests');
    assert.deepEqual(
      world.aws.secretsManager.outcomes.filter((o) => !o.ok).map((o) => `${o.secretName}: ${o.error}`),
      [],
    );
    world.keys.forEach((key, i) => {
      assert.notEqual(world.keyAt(key)!.id, before[i], `${key.name} has a new current key`);
    });
  });
});
