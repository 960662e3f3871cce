import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { KeyClient, KeyRejectedError } from '../../client/index.js';
import { cloudWatchUsageSource } from '../../lambdas/usage-metrics.js';
import { SendGridRotationEnv } from '../support/managed-key-env.js';

/**
 * issue 12, scenario 8: most of the fleet may still use the old key when the grace period ends; the revoker
 * must wait until the old key has gone quiet (the client's KeyCalls by the old key id in CloudWatch), not
 * revoke as soon as one instance used the new key.
 */
const MINUTE = 60_000;

/** One application instance: its own rekey client on the env's clock, its EMF lines sent to the loopback CloudWatch. */
function instance(env: SendGridRotationEnv, ttlMs: number) {
  const client = new KeyClient({
    secretsManager: new SecretsManagerClient({ maxAttempts: 1 }),
    now: () => env.clock.now().getTime(),
    random: () => 0.5,
    ttlMs,
    jitterMs: 0,
    metrics: { flushIntervalMs: 0, sink: (line) => env.aws.cloudWatch.ingestEmf(line) },
  });
  const failures: unknown[] = [];
  return {
    client,
    failures,
    /** The app's call (SendGrid mail send); returns the key id it used, records a failure instead of throwing. */
    async call(): Promise<string | undefined> {
      try {
        return await client.withKey(env.secretName, async (key) => {
          const res = await fetch(`${env.sandbox.url}/v3/mail/send`, {
            method: 'POST',
            headers: { authorization: `Bearer ${key.value}` },
          });
          if (res.status === 401 || res.status === 403) throw new KeyRejectedError(res.status);
          return key.keyId;
        });
      } catch (error) {
        failures.push(error);
        return undefined;
      } finally {
        client.flush();
      }
    },
  };
}

describe('the usage gate on the loopback endpoint', () => {
  let env: SendGridRotationEnv;
  let cloudWatch: CloudWatchClient;
  beforeEach(async () => {
    env = await new SendGridRotationEnv().start();
    cloudWatch = new CloudWatchClient({});
    env.revocationOverride = { usageSources: [cloudWatchUsageSource(cloudWatch, () => env.clock.now())] };
  });
  afterEach(async () => {
    cloudWatch.destroy();
    await env.stop();
  });

  it('scenario 8: the revoker waits while the old key is still in use, then revokes once it has gone quiet', async () => {
    // Prepare: an instance that read the key before the rotation and caches it for 62 min (a long TTL, as
    // an app that reads keys at startup has), and one that starts after the promotion.
    const stale = instance(env, 62 * MINUTE);
    const fresh = instance(env, 5 * MINUTE);
    const old = await env.read('AWSCURRENT');
    assert.equal(await stale.call(), old.keyId);
    await env.rotate();
    const current = await env.read('AWSCURRENT');
    env.clock.advance(MINUTE);
    assert.equal(await fresh.call(), current.keyId, 'the new key is in use');
    env.clock.advance(58 * MINUTE);
    assert.equal(
      await stale.call(),
      old.keyId,
      'an instance still uses the old key near the end of the grace',
    );

    // Act: the grace period ends while the old key was used two minutes ago.
    assert.equal(await env.advanceAndFire(2 * MINUTE), 1);

    // Assess: deferred, with how recently the old key was used and by which evidence.
    assert.deepEqual(env.revocationOutcomes(), ['deferred']);
    assert.ok(env.sandbox.accepts(old.key), 'the old key is not revoked while it is in use');
    const deferral = env.logs.records().find((r) => String(r.message).includes('is still in use'));
    assert.match(
      String(deferral?.message),
      new RegExp(
        `^the old key ${old.keyId} is still in use: last used 1[2-8]\\d s ago \\(\\S+\\) by client-metrics \\(.+\\); it must go unused for 600 s before it is revoked; re-scheduled$`,
      ),
    );
    env.clock.advance(MINUTE / 2);
    assert.equal(await stale.call(), old.keyId, 'the instance on the old key keeps working');
    // The instance's cache expires and it moves to the new key; the old key goes quiet.
    env.clock.advance(2 * MINUTE);
    assert.equal(await stale.call(), current.keyId);

    // Act: the re-scheduled check, more than the quiet period after the old key's last use.
    assert.equal(await env.advanceAndFire(10 * MINUTE), 1);

    // Assess
    assert.deepEqual(env.revocationOutcomes(), ['deferred', 'revoked']);
    assert.ok(!env.sandbox.accepts(old.key), 'the old key is revoked once quiet');
    assert.ok(env.sandbox.accepts(current.key));
    const revoked = env.logs.records().find((r) => r.outcome === 'revoked');
    assert.equal(revoked?.evidence, 'client-metrics', 'the new key’s evidence');
    assert.equal(revoked?.quietEvidence, 'client-metrics', 'the old key’s evidence');
    const audit = env.logs.records().find((r) => r.audit === 'rekey.key-revoked');
    assert.equal(audit?.quietEvidence, 'client-metrics');
    assert.deepEqual([...stale.failures, ...fresh.failures], [], 'no failed call on either instance');
    assert.equal(env.appKeys().length, 1);
    assert.deepEqual(env.leakedLines(), []);
    stale.client.close();
    fresh.client.close();
  });
});
