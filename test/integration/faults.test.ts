import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import {
  DescribeSecretCommand,
  PutSecretValueCommand,
  type SecretsManagerClient,
  TagResourceCommand,
} from '@aws-sdk/client-secrets-manager';
import { RollbackRefusedError } from '../../lambdas/errors.js';
import type { LeaseDeps } from '../../lambdas/lease.js';
import { revokePreviousKey } from '../../lambdas/revocation.js';
import { rollbackKey } from '../../lambdas/rollback.js';
import { runRotationStep } from '../../lambdas/rotation.js';
import { startRotation } from '../../lambdas/start-rotation.js';
import { TAGS, tagMap } from '../../lambdas/tags.js';
import { SendGridRotationEnv } from '../support/managed-key-env.js';
import { testRoute } from '../support/rotation-env-base.js';

/**
 * issue 12's scenarios: faults AWS and providers really produce — lost responses, duplicate and concurrent
 * deliveries, racing actors, asynchronous retries — each driven through the public surfaces (real SDK
 * clients against the loopback endpoint, the SendGrid sandbox over HTTP).
 */
const MINUTE = 60_000;

const deferred = () => {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
};
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** The environment's lease, waiting as long as it takes and telling `onWait` each time it must wait. */
function waitingLease(env: SendGridRotationEnv, onWait: () => void): LeaseDeps {
  const lease = env.lease!;
  return {
    ...lease,
    config: { ...lease.config, waitMs: 60_000 },
    sleep: (ms) => {
      onWait();
      return sleep(Math.min(ms, 20));
    },
  };
}

async function tagsOf(env: SendGridRotationEnv): Promise<Record<string, string>> {
  return tagMap((await env.sm.send(new DescribeSecretCommand({ SecretId: env.secretArn }))).Tags);
}

/** The SendGrid key ids rekey created for a version (named after it). */
function keysNamedFor(env: SendGridRotationEnv, versionId: string) {
  return env.appKeys().filter((k) => k.name.endsWith(versionId));
}

describe('faults AWS and providers produce (issue 12)', () => {
  let env: SendGridRotationEnv;
  beforeEach(async () => {
    env = await new SendGridRotationEnv().start();
  });
  afterEach(() => env.stop());

  for (const lost of ['a 500 after the key was made', 'a connection cut after the key was made'] as const) {
    it(`scenario 1: a create whose answer is lost (${lost}) leaves exactly one key for the version`, async () => {
      const match = (req: { method: string; path: string }) =>
        req.method === 'POST' && req.path === '/v3/api_keys';
      env.sandbox.injectFault(
        lost.startsWith('a 500')
          ? { status: 500, after: true, times: 1, match }
          : { reset: true, times: 1, match },
      );
      const versionId = await env.rotate();
      assert.equal(env.lastOutcome()?.ok, true, env.lastOutcome()?.error);
      const current = await env.read('AWSCURRENT');
      assert.equal(current.versionId, versionId);
      assert.equal(
        keysNamedFor(env, versionId).length,
        1,
        'one key for the version: the lost one was found, not re-made',
      );
      assert.ok(env.sandbox.accepts(current.key));
      // SendGrid shows a key's value only at creation, so the lost key cannot be adopted: it is found by its
      // name and revoked before a fresh one is made — never a blind second create.
      assert.deepEqual(
        env.sandbox.requests
          .filter(
            (r) => r.path === '/v3/api_keys' || (r.method === 'DELETE' && r.path.startsWith('/v3/api_keys/')),
          )
          .map((r) => `${r.method === 'GET' ? 'look up by name' : r.method}`),
        ['look up by name', 'POST', 'look up by name', 'DELETE', 'POST'],
      );
      assert.deepEqual(env.leakedLines(), []);
    });
  }

  /**
   * Two createSecret deliveries of one version, interleaved at their worst: B looks the key up by name after
   * A created it and before A stored it, and would revoke it as a dead attempt's leftover after A stored it.
   */
  async function concurrentCreateSecret(): Promise<string> {
    const aCreated = deferred();
    const bLookedUp = deferred();
    const bWaitsForLease = deferred();
    const aStored = deferred();
    const fetchFor =
      (who: 'A' | 'B'): typeof fetch =>
      async (input, init) => {
        const method = init?.method ?? 'GET';
        if (who === 'B' && method === 'DELETE') await aStored.promise;
        const res = await fetch(input, init);
        if (who === 'A' && method === 'POST') aCreated.resolve();
        if (who === 'B' && method === 'GET') bLookedUp.resolve();
        return res;
      };
    const slowPut = (sm: SecretsManagerClient): SecretsManagerClient =>
      new Proxy(sm, {
        get(target, prop, receiver) {
          if (prop !== 'send') return Reflect.get(target, prop, receiver);
          return async (command: unknown) => {
            // A stores once B has looked the key up — or, with the lease, once B is kept waiting for it.
            if (command instanceof PutSecretValueCommand)
              await Promise.race([bLookedUp.promise, bWaitsForLease.promise]);
            const out = await target.send(command as never);
            if (command instanceof PutSecretValueCommand) aStored.resolve();
            return out;
          };
        },
      }) as SecretsManagerClient;
    env.aws.lambdas.register(env.lambdaArn, async (event) => {
      if ((event as { Step: string }).Step !== 'createSecret') return runRotationStep(event, env.deps());
      const a = runRotationStep(event, {
        ...env.deps(),
        secretsManager: slowPut(env.sm),
        http: { ...env.http, fetch: fetchFor('A') },
      });
      await aCreated.promise;
      const b = runRotationStep(event, {
        ...env.deps(),
        http: { ...env.http, fetch: fetchFor('B') },
        ...(env.lease ? { lease: waitingLease(env, bWaitsForLease.resolve) } : {}),
      });
      await Promise.all([a, b]);
    });
    return env.rotate();
  }

  it('scenario 2: two createSecret deliveries at once store one live key (the lease orders them)', async () => {
    const versionId = await concurrentCreateSecret();
    assert.equal(env.lastOutcome()?.ok, true, env.lastOutcome()?.error);
    const current = await env.read('AWSCURRENT');
    assert.equal(current.versionId, versionId);
    assert.ok(env.sandbox.accepts(current.key), 'AWSCURRENT holds a key SendGrid accepts');
    assert.equal(keysNamedFor(env, versionId).length, 1, 'one key for the version');
  });

  it('scenario 2, without the lease (test-only switch): the same interleaving stores a revoked key', async () => {
    env.lease = undefined;
    await concurrentCreateSecret();
    assert.equal(env.lastOutcome()?.ok, false, 'the rotation breaks: proof the test can fail');
    assert.equal(env.lastOutcome()?.failedStep, 'testSecret', 'AWSPENDING holds a key SendGrid revoked');
  });

  it('scenario 3: a rollback racing the revoker never leaves a revoked key AWSCURRENT', async () => {
    const old = await env.read('AWSCURRENT');
    await env.rotate();
    const fresh = await env.read('AWSCURRENT');
    const revoking = deferred();
    const rollbackWaits = deferred();
    // The revoker is inside its provider call (which retries for tens of seconds in real life) and stays
    // there until the rollback that arrives meanwhile is kept waiting for the secret's lease.
    env.revocationOverride = {
      http: {
        ...env.http,
        fetch: async (input: Parameters<typeof fetch>[0], init?: RequestInit) => {
          if (init?.method === 'DELETE') {
            revoking.resolve();
            await rollbackWaits.promise;
          }
          return fetch(input, init);
        },
      },
    };
    env.clock.advance(61 * MINUTE);
    const fired = env.aws.runDue();
    await revoking.promise;
    const rollback = rollbackKey(
      { secretId: env.secretName },
      { ...env.revocationDeps(), lease: waitingLease(env, rollbackWaits.resolve) },
    ).catch((e: unknown) => e);
    await fired;
    const outcome = await rollback;
    assert.ok(outcome instanceof RollbackRefusedError, 'the rollback waited for the revoker, then refused');
    const current = await env.read('AWSCURRENT');
    assert.equal(current.keyId, fresh.keyId);
    assert.ok(env.sandbox.accepts(current.key), 'invariant 1: AWSCURRENT is accepted');
    assert.ok(!env.sandbox.accepts(old.key), 'the old key was revoked, and is not AWSCURRENT');
  });

  it('scenario 4: a rollback delivered twice rolls back once; the second delivery changes nothing', async () => {
    const old = await env.read('AWSCURRENT');
    await env.rotate();
    const fresh = await env.read('AWSCURRENT');
    const first = await rollbackKey({ secretId: env.secretName }, env.revocationDeps());
    assert.equal(first.restoredKeyId, old.keyId);
    const schedulesAfterFirst = env.aws.scheduler
      .list('rekey')
      .map((s) => JSON.parse(s.input!).previousKeyId);
    await assert.rejects(
      rollbackKey({ secretId: env.secretName }, env.revocationDeps()),
      (error: unknown) =>
        error instanceof RollbackRefusedError && /an earlier rollback rejected/.test(error.message),
    );
    const current = await env.read('AWSCURRENT');
    assert.equal(current.keyId, old.keyId, 'the restored key stays AWSCURRENT');
    assert.deepEqual(
      env.aws.scheduler.list('rekey').map((s) => JSON.parse(s.input!).previousKeyId),
      schedulesAfterFirst,
      'no revocation of the restored key was scheduled, the rejected one’s still is',
    );
    assert.deepEqual(schedulesAfterFirst, [fresh.keyId]);
    assert.ok(env.sandbox.accepts(old.key));
  });

  it('scenario 5: a rollback never restores the key an emergency rotation declared compromised', async () => {
    const leaked = await env.read('AWSCURRENT');
    await startRotation(env.secretName, { emergency: true, graceSeconds: 300 }, env.revocationDeps());
    await env.aws.secretsManager.settled();
    const fresh = await env.read('AWSCURRENT');
    assert.notEqual(fresh.keyId, leaked.keyId);
    await assert.rejects(
      rollbackKey({ secretId: env.secretName }, env.revocationDeps()),
      (error: unknown) => error instanceof RollbackRefusedError && /declared compromised/.test(error.message),
    );
    assert.equal((await env.read('AWSCURRENT')).keyId, fresh.keyId);
    assert.ok(
      (await tagsOf(env))[TAGS.compromisedVersions]?.split(' ').includes(leaked.versionId),
      'the compromise is recorded against the version',
    );
    await env.advanceAndFire(6 * MINUTE);
    assert.ok(!env.sandbox.accepts(leaked.key), 'the leaked key is revoked when its short grace ends');
  });

  it('scenario 6: a failed emergency rotation leaves no emergency for the next, scheduled rotation', async () => {
    const old = await env.read('AWSCURRENT');
    env.aws.injectFault({ operation: 'secretsmanager.RotateSecret', kind: 'before', times: 10 });
    await assert.rejects(startRotation(env.secretName, { emergency: true }, env.revocationDeps()));
    env.aws.clearFaults();
    assert.equal((await tagsOf(env))[TAGS.emergencyGrace], undefined, 'the emergency was cleared');
    await env.rotate();
    assert.equal(env.lastOutcome()?.ok, true);
    assert.ok(env.sandbox.accepts(old.key), 'the scheduled rotation keeps the old key through its grace');
    const [schedule] = env.aws.scheduler.list('rekey');
    assert.equal(JSON.parse(schedule!.input!).reason, 'rotation', 'usage-gated, not an emergency');
  });

  it('scenario 6: an emergency tag of another version is not inherited, even if clearing it failed', async () => {
    const old = await env.read('AWSCURRENT');
    await env.sm.send(
      new TagResourceCommand({
        SecretId: env.secretArn,
        Tags: [{ Key: TAGS.emergencyGrace, Value: '0s 4f1c1d4e-0000-4000-8000-000000000000' }],
      }),
    );
    await env.rotate();
    assert.ok(env.sandbox.accepts(old.key));
    assert.equal(JSON.parse(env.aws.scheduler.list('rekey')[0]!.input!).reason, 'rotation');
  });

  it('scenario 7: a revoker error that is not a provider error is re-scheduled, not lost to Lambda’s retries', async () => {
    const old = await env.read('AWSCURRENT');
    await env.rotate();
    let broken = true;
    env.revocationOverride = {
      usageSources: [
        async () => {
          if (broken) throw Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' });
          return { status: 'confirmed', source: 'client-metrics' };
        },
      ],
    };
    await env.advanceAndFire(61 * MINUTE);
    assert.ok(env.sandbox.accepts(old.key), 'not revoked while the usage check fails');
    // Lambda's two asynchronous retries come and go…
    await env.advanceAndFire(MINUTE);
    await env.advanceAndFire(2 * MINUTE);
    assert.deepEqual(env.aws.lambdas.failedAsync, [], 'no event reached the end of Lambda’s retries');
    broken = false;
    // …and the revoker's own re-schedule revokes once the check works again.
    await env.advanceAndFire(10 * MINUTE);
    assert.ok(!env.sandbox.accepts(old.key), 'the revocation was not lost');
  });

  it('scenario 11: a single-key rotation whose create fails after the revocation alerts at once, and recovers on the re-attempt', async () => {
    env.redeploy(testRoute(env.secretName, 'sendgrid', { singleKey: true }));
    await env.sm.send(
      new TagResourceCommand({
        SecretId: env.secretArn,
        Tags: [{ Key: TAGS.singleKey, Value: 'accept-interruption' }],
      }),
    );
    const old = await env.read('AWSCURRENT');
    env.sandbox.injectFault({
      status: 503,
      times: 1000,
      match: (req) => req.method === 'POST' && req.path === '/v3/api_keys',
    });
    const stuck = await env.rotate();
    assert.equal(env.lastOutcome()?.failedStep, 'createSecret');
    assert.ok(!env.sandbox.accepts(old.key), 'the interruption began: the old key is revoked');
    const alert = env.alerts().find((a) => a.message.event === 'single-key-interruption-stuck');
    assert.ok(alert, 'the failed attempt itself tells operators no key works');
    assert.match(String(alert.message.detail), /rekey rotate prod\/sendgrid\/api-key --emergency/);
    // SendGrid recovers; Secrets Manager's re-attempt completes the rotation.
    env.sandbox.clearFaults();
    await env.reattemptRotation();
    const current = await env.read('AWSCURRENT');
    assert.equal(current.versionId, stuck);
    assert.ok(env.sandbox.accepts(current.key));
    assert.equal(env.appKeys().length, 1);
    assert.deepEqual(env.leakedLines(), []);
  });

  it('scenario 12: Secrets Manager re-attempts a failed rotation by itself, and --emergency cancels it safely', async () => {
    const old = await env.read('AWSCURRENT');
    env.sandbox.rejectNextValidation();
    const stuck = await env.rotate();
    assert.equal(env.lastOutcome()?.failedStep, 'testSecret');
    assert.equal(env.aws.secretsManager.pendingReattempts().length, 1, 'AWS will try it again');
    const started = await startRotation(env.secretName, { emergency: true }, env.revocationDeps());
    assert.equal(started.cancelled?.versionId, stuck);
    await env.aws.secretsManager.settled();
    // The re-attempt of the cancelled version comes due: it must not resurrect it.
    await env.reattemptRotation();
    const current = await env.read('AWSCURRENT');
    assert.equal(current.versionId, started.versionId);
    assert.ok(env.sandbox.accepts(current.key));
    assert.ok(!env.sandbox.accepts(old.key), 'the emergency revoked the old key');
    assert.deepEqual(keysNamedFor(env, stuck), [], 'the cancelled version’s key is gone');
    assert.equal(env.appKeys().length, 1, 'one key at SendGrid');
  });

  it('scenario 12: RotateSecret is refused while AWSPENDING is on another version, as AWS documents', async () => {
    // What `rotate --provide-key` used to rely on: stage AWSPENDING, then RotateSecret naming that version.
    const token = '0f6b7a52-1b8e-4c55-9d0e-6a0c1f2b3c4d';
    await env.sm.send(
      new PutSecretValueCommand({
        SecretId: env.secretArn,
        ClientRequestToken: token,
        SecretString: JSON.stringify({ staged: true }),
        VersionStages: ['AWSPENDING'],
      }),
    );
    await assert.rejects(env.rotate(token), /A previous rotation isn't complete/);
    await assert.rejects(env.rotate(), /A previous rotation isn't complete/);
  });

  it('scenario 13: a secret name of 500 characters still gets its revocation scheduled', async () => {
    const longEnv = await new SendGridRotationEnv().start(`prod/${'k'.repeat(495)}`);
    try {
      const old = await longEnv.read('AWSCURRENT');
      await longEnv.rotate();
      assert.equal(longEnv.lastOutcome()?.ok, true, longEnv.lastOutcome()?.error);
      assert.equal(longEnv.aws.scheduler.list('rekey').length, 1, 'the revocation is scheduled');
      await longEnv.advanceAndFire(61 * MINUTE);
      assert.ok(!longEnv.sandbox.accepts(old.key));
    } finally {
      await longEnv.stop();
    }
  });

  it('a revocation request naming another secret’s key is refused (never trust the message)', async () => {
    await env.rotate();
    const current = await env.read('AWSCURRENT');
    const previous = await env.read('AWSPREVIOUS');
    const report = await revokePreviousKey(
      {
        secretArn: env.secretArn,
        previousVersionId: previous.versionId,
        previousKeyId: 'some-other-secrets-key-id',
        newVersionId: current.versionId,
        promotedAt: new Date().toISOString(),
        reason: 'emergency',
      },
      env.revocationDeps(),
    );
    assert.equal(report.outcome, 'aborted');
    assert.ok(env.sandbox.accepts(previous.key));
  });
});
