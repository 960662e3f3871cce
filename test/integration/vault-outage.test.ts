import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { KeyClient, KeyRejectedError } from '../../client/index.js';
import { METRICS } from '../../lambdas/telemetry.js';
import { seededRandom } from '../../local/rehearsal/rehearsal.js';
import { SendGridRotationEnv } from '../support/managed-key-env.js';

const MINUTE = 60_000;

describe("the guide's vault outage test, during a rotation cycle", () => {
  const env = new SendGridRotationEnv();
  before(() => env.start());
  after(() => env.stop());

  it('keeps every call of a fleet succeeding while Secrets Manager is down for longer than the cache TTL', async () => {
    // Prepare: 20 instances, each with its own client (5 min TTL + up to 1 min jitter), calling every minute.
    const lines: string[] = [];
    const sm = new SecretsManagerClient({ maxAttempts: 1 });
    const random = seededRandom(1);
    const fleet = Array.from(
      { length: 20 },
      () =>
        new KeyClient({
          secretsManager: sm,
          now: () => env.clock.now().getTime(),
          random,
          metrics: { flushIntervalMs: 0, sink: (line) => lines.push(line) },
        }),
    );
    const results = { ok: 0, failed: [] as string[], keys: new Set<string>() };
    const tick = async () => {
      await env.advanceAndFire(MINUTE);
      await Promise.all(
        fleet.map((client) =>
          client
            .withKey(env.secretName, async (key) => {
              const res = await fetch(`${env.sandbox.url}/v3/mail/send`, {
                method: 'POST',
                headers: { authorization: `Bearer ${key.value}` },
              });
              if (res.status === 401 || res.status === 403) throw new KeyRejectedError(res.status);
              results.keys.add(key.keyId);
            })
            .then(
              () => results.ok++,
              (error: Error) => results.failed.push(`${error.name}: ${error.message}`),
            ),
        ),
      );
    };
    // Act: warm up, rotate, then the vault goes down 10 minutes into the grace period for 20 minutes.
    for (let m = 0; m < 10; m++) await tick();
    const old = await env.read('AWSCURRENT');
    await env.rotate();
    for (let m = 0; m < 10; m++) await tick();
    env.aws.setOutage('unavailable');
    for (let m = 0; m < 20; m++) await tick();
    env.aws.setOutage('none');
    for (let m = 0; m < 40; m++) await tick(); // past the grace period: the old key is revoked
    // Assess
    assert.deepEqual(results.failed, []);
    assert.equal(results.ok, 20 * 80);
    assert.ok(!env.sandbox.accepts(old.key), 'the old key was revoked during the run');
    assert.equal(results.keys.size, 2, 'the fleet used the old key, then the new one');
    for (const client of fleet) client.flush();
    const stale = lines
      .map((l) => JSON.parse(l) as Record<string, number>)
      .reduce((n, r) => n + (r[METRICS.staleServes] ?? 0), 0);
    assert.ok(stale > 0, 'the clients recorded that they served cached keys');
    sm.destroy();
  });
});
