import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { CloudWatchClient, GetMetricDataCommand } from '@aws-sdk/client-cloudwatch';
import {
  CreateSecretCommand,
  GetSecretValueCommand,
  PutSecretValueCommand,
  SecretsManagerClient,
  TagResourceCommand,
} from '@aws-sdk/client-secrets-manager';
import { AssumeRoleCommand, STSClient } from '@aws-sdk/client-sts';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import {
  type ApiKey,
  KeyClient,
  type KeyClientOptions,
  KeyConfigurationError,
  KeyRejectedError,
  KeyUnavailableError,
  rekeyKeys,
} from '../../client/index.js';
import { TAGS } from '../../lambdas/tags.js';
import { METRIC_NAMESPACE, METRICS } from '../../lambdas/telemetry.js';
import { cloudWatchUsageSource } from '../../lambdas/usage-metrics.js';
import { PLACEHOLDER } from '../../lib/managed-key.js';
import { SendGridRotationEnv } from '../support/managed-key-env.js';

const MINUTE = 60_000;

/** A client on the env's manual clock, with its EMF lines captured. */
function clientFor(
  env: SendGridRotationEnv,
  options: Pick<
    KeyClientOptions,
    'random' | 'ttlMs' | 'jitterMs' | 'refusalBackoffMs' | 'maxRefusalBackoffMs'
  > = {},
) {
  const lines: string[] = [];
  const client = new KeyClient({
    ...options,
    secretsManager: new SecretsManagerClient({ maxAttempts: 1 }),
    now: () => env.clock.now().getTime(),
    random: options.random ?? (() => 0.5),
    ttlMs: options.ttlMs ?? 5 * MINUTE,
    jitterMs: options.jitterMs ?? MINUTE,
    metrics: { flushIntervalMs: 0, sink: (line) => lines.push(line) },
  });
  const metrics = () => {
    client.flush();
    return lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  };
  return { client, lines, metrics };
}

/** The app's call: SendGrid's mail send with the key; a refusal becomes KeyRejectedError. */
async function sendMail(env: SendGridRotationEnv, key: ApiKey): Promise<string> {
  const res = await fetch(`${env.sandbox.url}/v3/mail/send`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key.value}` },
  });
  if (res.status === 401 || res.status === 403) throw new KeyRejectedError(res.status);
  return key.keyId;
}

const reads = (env: SendGridRotationEnv) => env.aws.count('secretsmanager.GetSecretValue');
const describes = (env: SendGridRotationEnv) => env.aws.count('secretsmanager.DescribeSecret');
/** Every Secrets Manager call the client makes on a refusal. */
const smCalls = (env: SendGridRotationEnv) => reads(env) + describes(env);

/** A provider that refuses every key. */
const alwaysRefused = async (): Promise<never> => {
  throw new KeyRejectedError(401);
};
const isRefusal = (error: unknown) => error instanceof KeyRejectedError && error.status === 401;

describe('KeyClient', () => {
  let env: SendGridRotationEnv;
  beforeEach(async () => {
    env = await new SendGridRotationEnv().start();
  });
  afterEach(() => env.stop());

  it('shares one backend read among concurrent callers on a cold and on an expired entry (single-flight)', async () => {
    const { client } = clientFor(env);
    const [readsBefore, describesBefore] = [reads(env), describes(env)];
    const keys = await Promise.all(Array.from({ length: 100 }, () => client.get(env.secretName)));
    assert.equal(reads(env) - readsBefore, 1);
    assert.equal(describes(env) - describesBefore, 1);
    assert.equal(new Set(keys.map((k) => k.keyId)).size, 1);
    env.clock.advance(10 * MINUTE);
    await Promise.all(Array.from({ length: 100 }, () => client.get(env.secretName)));
    assert.equal(
      describes(env) - describesBefore,
      2,
      'one more refresh for 100 callers on the expired entry',
    );
    assert.equal(reads(env) - readsBefore, 1, 'AWSCURRENT did not move: the value is not read again');
    await env.rotate();
    env.clock.advance(10 * MINUTE);
    const readsAfterRotation = reads(env);
    const moved = await Promise.all(Array.from({ length: 100 }, () => client.get(env.secretName)));
    assert.equal(reads(env) - readsAfterRotation, 1, 'it moved: one read of the new value');
    assert.equal(new Set(moved.map((k) => k.keyId)).size, 1);
    assert.notEqual(moved[0]!.keyId, keys[0]!.keyId);
  });

  it('keeps the TTL within [ttl, ttl + jitter] — a fleet spreads its refreshes', async () => {
    for (const [random, refreshAfter] of [
      [0, 5 * MINUTE],
      [0.999, 5 * MINUTE + 59_940],
    ] as const) {
      const { client } = clientFor(env, { random: () => random });
      await client.get(env.secretName);
      const before = describes(env);
      env.clock.advance(refreshAfter - 1);
      await client.get(env.secretName);
      assert.equal(describes(env), before, `still cached 1 ms before ${refreshAfter} ms`);
      env.clock.advance(1);
      await client.get(env.secretName);
      assert.equal(describes(env), before + 1, `refreshed at ${refreshAfter} ms`);
      client.close();
    }
  });

  it('serves the cached key during a vault outage, records stale serves, and backs off', async () => {
    const { client, metrics } = clientFor(env);
    const key = await client.get(env.secretName);
    env.aws.setOutage('unavailable');
    env.clock.advance(10 * MINUTE);
    const before = env.aws.count('secretsmanager.GetSecretValue');
    for (let i = 0; i < 20; i++) assert.equal((await client.get(env.secretName)).keyId, key.keyId);
    env.aws.setOutage('none');
    const stale = metrics().filter((m) => m[METRICS.staleServes] !== undefined);
    assert.equal(stale.length, 1, 'one aggregated StaleServes line');
    assert.equal(stale[0]![METRICS.staleServes], 1, 'one failed refresh, then backoff: no read per call');
    assert.equal(
      env.aws.count('secretsmanager.GetSecretValue'),
      before,
      'the outage answered no GetSecretValue',
    );
  });

  it('fails a cold start during an outage with a clear error and no secret in it', async () => {
    const { client } = clientFor(env);
    env.aws.setOutage('unavailable');
    await assert.rejects(client.get(env.secretName), (error: unknown) => {
      assert.ok(error instanceof KeyUnavailableError);
      assert.match(
        error.message,
        /^rekey client: cannot read prod\/sendgrid\/api-key from Secrets Manager \(ServiceUnavailableException\) and no cached key is fresh enough to serve; check the network path/,
      );
      for (const secret of env.sandbox.issuedSecrets()) assert.ok(!error.message.includes(secret));
      return true;
    });
  });

  it('a placeholder document (the app deployed before rekey import) is a permanent error saying to import, not an outage', async () => {
    await env.sm.send(new PutSecretValueCommand({ SecretId: env.secretArn, SecretString: PLACEHOLDER }));
    const { client } = clientFor(env);
    await assert.rejects(client.get(env.secretName), (error: unknown) => {
      assert.ok(error instanceof KeyConfigurationError, String(error));
      assert.equal(error.code, 'KEY_NOT_IMPORTED');
      assert.equal(error.retryable, false);
      assert.match(
        error.message,
        /prod\/sendgrid\/api-key \(version [\w-]+\) still holds the placeholder .*rekey import/,
      );
      return true;
    });
  });

  it("a document that is not rekey's names the secret, the version and the field; retrying cannot help", async () => {
    const { versionId: _v, ...doc } = await env.read('AWSCURRENT');
    const { keyId: _k, ...broken } = doc;
    await env.sm.send(
      new PutSecretValueCommand({ SecretId: env.secretArn, SecretString: JSON.stringify(broken) }),
    );
    const { client } = clientFor(env);
    await assert.rejects(client.get(env.secretName), (error: unknown) => {
      assert.ok(error instanceof KeyConfigurationError, String(error));
      assert.equal(error.code, 'KEY_DOCUMENT_INVALID');
      assert.equal(error.retryable, false);
      assert.equal(error.field, 'keyId');
      assert.match(
        error.message,
        /prod\/sendgrid\/api-key \(version [\w-]+\): field "keyId" is missing.*rekey import/,
      );
      assert.ok(!error.message.includes(doc.key), 'the key is not in the message');
      return true;
    });
  });

  it('a missing secret and a denied read are permanent and say what to fix', async () => {
    const { client } = clientFor(env);
    await assert.rejects(client.get('prod/never/deployed'), (error: unknown) => {
      assert.ok(error instanceof KeyConfigurationError, String(error));
      assert.equal(error.code, 'SECRET_NOT_FOUND');
      assert.match(
        error.message,
        /prod\/never\/deployed does not exist in Secrets Manager.*deploy the rekey stack/,
      );
      return true;
    });
    // An app role that may not read the secret: a session the loopback refuses.
    const role = 'arn:aws:iam::123456789012:role/app-without-grant';
    env.aws.sts.defineRole(role, () => false);
    const { Credentials: c } = await new STSClient({}).send(
      new AssumeRoleCommand({ RoleArn: role, RoleSessionName: 'app' }),
    );
    const denied = new KeyClient({
      secretsManager: new SecretsManagerClient({
        maxAttempts: 1,
        credentials: {
          accessKeyId: c!.AccessKeyId!,
          secretAccessKey: c!.SecretAccessKey!,
          sessionToken: c!.SessionToken!,
        },
      }),
      metrics: false,
    });
    await assert.rejects(denied.get(env.secretName), (error: unknown) => {
      assert.ok(error instanceof KeyConfigurationError, String(error));
      assert.equal(error.code, 'ACCESS_DENIED');
      assert.match(
        error.message,
        /may not read prod\/sendgrid\/api-key \(AccessDeniedException\); grant it secretsmanager:GetSecretValue/,
      );
      return true;
    });
  });

  it('stops serving a key more than maxStaleMs past its TTL', async () => {
    const client = new KeyClient({
      secretsManager: new SecretsManagerClient({ maxAttempts: 1 }),
      now: () => env.clock.now().getTime(),
      ttlMs: 5 * MINUTE,
      jitterMs: 0,
      maxStaleMs: 20 * MINUTE,
      metrics: false,
    });
    const key = await client.get(env.secretName);
    env.aws.setOutage('unavailable');
    env.clock.advance(24 * MINUTE);
    assert.equal((await client.get(env.secretName)).keyId, key.keyId, '19 min past its TTL: served');
    env.clock.advance(2 * MINUTE);
    await assert.rejects(client.get(env.secretName), /the cached key is more than maxStaleMs past its TTL/);
  });

  it('on a 401 refreshes and retries once with the new AWSCURRENT', async () => {
    // A cache that outlives the grace period: the client still holds the revoked key.
    const { client, metrics } = clientFor(env, { ttlMs: 120 * MINUTE });
    const old = await client.get(env.secretName);
    await env.rotate();
    await env.advanceAndFire(61 * MINUTE); // the old key is revoked; the client still caches it
    const used = await client.withKey(env.secretName, (key) => sendMail(env, key));
    assert.notEqual(used, old.keyId);
    assert.equal(used, (await env.read('AWSCURRENT')).keyId);
    const m = metrics();
    assert.ok(
      m.some((r) => r[METRICS.authFailures] === 1 && r.KeyId === old.keyId),
      'the refusal is counted',
    );
    assert.ok(
      m.some((r) => r[METRICS.revokedKeyUse] === 1 && r.KeyId === old.keyId),
      'as a use of a revoked key',
    );
    // The stack's alarms query by SecretName alone: the same datapoint must be found that way.
    for (const r of m) env.aws.cloudWatch.ingestEmf(JSON.stringify(r));
    const cloudWatch = new CloudWatchClient({});
    const alarmView = await cloudWatch.send(
      new GetMetricDataCommand({
        StartTime: new Date(env.clock.now().getTime() - 3600_000),
        EndTime: new Date(env.clock.now().getTime() + 60_000),
        MetricDataQueries: [
          {
            Id: 'auth',
            MetricStat: {
              Metric: {
                Namespace: METRIC_NAMESPACE,
                MetricName: METRICS.authFailures,
                Dimensions: [{ Name: 'SecretName', Value: env.secretName }],
              },
              Period: 300,
              Stat: 'Sum',
            },
          },
        ],
      }),
    );
    cloudWatch.destroy();
    assert.equal(
      (alarmView.MetricDataResults?.[0]?.Values ?? []).reduce((a, b) => a + b, 0),
      1,
    );
  });

  it('falls back to AWSPREVIOUS inside its grace period when the new key is refused', async () => {
    const { client } = clientFor(env);
    const old = await env.read('AWSCURRENT');
    await env.rotate();
    const bad = await env.read('AWSCURRENT');
    env.sandbox.deleteKey(bad.keyId); // the new key goes bad at the provider
    const used = await client.withKey(env.secretName, (key) => sendMail(env, key));
    assert.equal(used, old.keyId, 'the previous key carried the call');
  });

  it('does not fall back after the grace period, and rethrows the final refusal', async () => {
    const { client } = clientFor(env);
    await env.rotate();
    const bad = await env.read('AWSCURRENT');
    env.clock.advance(61 * MINUTE); // grace over; the revocation has not run yet (no firing)
    env.sandbox.deleteKey(bad.keyId);
    let attempts = 0;
    await assert.rejects(
      client.withKey(env.secretName, (key) => {
        attempts += 1;
        return sendMail(env, key);
      }),
      (error: unknown) => error instanceof KeyRejectedError && error.status === 401,
    );
    assert.equal(
      attempts,
      1,
      'no loop: the refresh found the same key and the previous one is past its grace',
    );
  });

  it('scenario 9: 100 refused calls on a revoked key cost a bounded number of Secrets Manager calls', async () => {
    // The client still caches the revoked key, and the provider refuses the new one too (a suspended account).
    const { client, metrics } = clientFor(env, { ttlMs: 120 * MINUTE });
    const old = await client.get(env.secretName);
    await env.rotate();
    await env.advanceAndFire(61 * MINUTE);
    const before = smCalls(env);
    const errors: unknown[] = [];
    const refused = (error: unknown) => {
      errors.push(error);
      return isRefusal(error);
    };
    await Promise.all(
      Array.from({ length: 50 }, () =>
        assert.rejects(client.withKey(env.secretName, alwaysRefused), refused),
      ),
    );
    for (let i = 0; i < 50; i++) await assert.rejects(client.withKey(env.secretName, alwaysRefused), refused);
    const calls = smCalls(env) - before;
    // The old client made 152 here (a DescribeSecret and a forced read per refusal, unshared). Now one
    // DescribeSecret and one GetSecretValue for the revoked key, the same for the new key once refused too.
    assert.ok(calls <= 6, `${calls} Secrets Manager calls for 100 refusals`);
    assert.equal(errors.length, 100);
    const m = metrics();
    assert.ok(
      m.some((r) => r.KeyId === old.keyId && r[METRICS.revokedKeyUse] === 50),
      'every use of the revoked key is still counted',
    );
    const texts = [...errors.map((e) => (e as Error).message), ...m.map((r) => JSON.stringify(r))];
    for (const secret of env.sandbox.issuedSecrets())
      assert.ok(texts.every((text) => !text.includes(secret)));
  });

  it('100 refusals inside the grace period share one fallback read, and stop trying it once it is refused', async () => {
    const { client } = clientFor(env);
    await env.rotate();
    await client.get(env.secretName);
    const before = smCalls(env);
    let attempts = 0;
    const refuse = () => {
      attempts += 1;
      return alwaysRefused();
    };
    await Promise.all(
      Array.from({ length: 50 }, () => assert.rejects(client.withKey(env.secretName, refuse), isRefusal)),
    );
    for (let i = 0; i < 50; i++) await assert.rejects(client.withKey(env.secretName, refuse), isRefusal);
    // The old client made 251 here; now one DescribeSecret (AWSCURRENT has not moved since the client read
    // it, so no value is read again) and one AWSPREVIOUS read.
    assert.equal(smCalls(env) - before, 2);
    assert.equal(attempts, 150, 'the concurrent callers try AWSPREVIOUS once each, the later ones do not');
  });

  it('still picks up a new AWSCURRENT promptly after refusals, and the backoff starts over for the new key', async () => {
    const { client } = clientFor(env, { ttlMs: 120 * MINUTE });
    const old = await client.get(env.secretName);
    // The provider refuses the key while AWSCURRENT still holds it (rotation still needs it to exist).
    const refusedIds = new Set([old.keyId]);
    const mail = (key: ApiKey) => (refusedIds.has(key.keyId) ? alwaysRefused() : sendMail(env, key));
    // Refusals at 0 s, 1 s and 3 s: the old key's backoff has grown to 4 s.
    for (const wait of [0, 1000, 2000]) {
      env.clock.advance(wait);
      await assert.rejects(client.withKey(env.secretName, mail), isRefusal);
    }
    await env.rotate();
    const rotated = await env.read('AWSCURRENT');
    const before = smCalls(env);
    await assert.rejects(client.withKey(env.secretName, mail), isRefusal, 'inside the 4 s window');
    assert.equal(smCalls(env), before, 'the window is answered from what the client already knows');
    env.clock.advance(4000);
    assert.equal(await client.withKey(env.secretName, mail), rotated.keyId, 'seconds, not the 2 h TTL');
    assert.equal(smCalls(env) - before, 2, 'one DescribeSecret and one GetSecretValue');
    assert.equal(await client.withKey(env.secretName, mail), rotated.keyId);
    assert.equal(smCalls(env) - before, 2, 'then served from cache');
    refusedIds.add(rotated.keyId);
    const refreshes = describes(env);
    await assert.rejects(client.withKey(env.secretName, mail), isRefusal);
    env.clock.advance(1000);
    await assert.rejects(client.withKey(env.secretName, mail), isRefusal);
    assert.equal(describes(env) - refreshes, 2, "the new key's backoff is 1 s again, not the old key's 8 s");
  });

  it('re-reads after the refusal backoff expires: 1 s doubling to 60 s by default, and configurable', async () => {
    /** Seconds, from the first refusal, at which a refusal every 250 ms made the client refresh. */
    const refreshTimes = async (client: KeyClient, seconds: number) => {
      const start = env.clock.now().getTime();
      const times: number[] = [];
      for (let t = 0; t <= seconds * 1000; t += 250) {
        const [describedBefore, readBefore] = [describes(env), reads(env)];
        await assert.rejects(client.withKey(env.secretName, alwaysRefused), isRefusal);
        if (describes(env) > describedBefore) {
          times.push((env.clock.now().getTime() - start) / 1000);
          assert.equal(reads(env), readBefore, 'AWSCURRENT did not move: DescribeSecret only');
        } else assert.equal(reads(env), readBefore, 'no read inside the window');
        env.clock.advance(250);
      }
      return times;
    };
    const { client } = clientFor(env);
    await client.get(env.secretName);
    // The documented bound: at most 6 refreshes in the first minute a key is refused, then one a minute.
    assert.deepEqual(await refreshTimes(client, 130), [0, 1, 3, 7, 15, 31, 63, 123]);
    const custom = clientFor(env, { refusalBackoffMs: 5000, maxRefusalBackoffMs: 10_000 }).client;
    await custom.get(env.secretName);
    assert.deepEqual(await refreshTimes(custom, 30), [0, 5, 15, 25]);
  });

  it('reportAuthFailure: the next get() re-reads, once per backoff window however often the key is reported', async () => {
    const { client } = clientFor(env);
    const key = await client.get(env.secretName);
    const before = describes(env);
    for (let i = 0; i < 10; i++) client.reportAuthFailure(env.secretName, key);
    assert.equal((await client.get(env.secretName)).keyId, key.keyId);
    assert.equal(describes(env) - before, 1, 'one refresh for ten reports');
    client.reportAuthFailure(env.secretName, key);
    await client.get(env.secretName);
    assert.equal(describes(env) - before, 1, 'inside the window: served from cache');
    env.clock.advance(1000);
    client.reportAuthFailure(env.secretName, key);
    await client.get(env.secretName);
    assert.equal(describes(env) - before, 2, 'after it: refreshed');
  });

  it('does not retry errors that are not refusals', async () => {
    const { client } = clientFor(env);
    let attempts = 0;
    await assert.rejects(
      client.withKey(env.secretName, async () => {
        attempts += 1;
        throw new Error('provider timeout');
      }),
      /provider timeout/,
    );
    assert.equal(attempts, 1);
  });

  it('emits valid EMF with the shared names, by key id, aggregated per flush', async () => {
    const { client, metrics } = clientFor(env);
    for (let i = 0; i < 5; i++) await client.withKey(env.secretName, (key) => sendMail(env, key));
    const [record, ...rest] = metrics();
    assert.equal(rest.length, 0, 'five calls, one line');
    const aws = record!._aws as {
      Timestamp: number;
      CloudWatchMetrics: Array<{
        Namespace: string;
        Dimensions: string[][];
        Metrics: Array<{ Name: string; Unit: string }>;
      }>;
    };
    assert.equal(typeof aws.Timestamp, 'number');
    assert.deepEqual(aws.CloudWatchMetrics, [
      {
        Namespace: METRIC_NAMESPACE,
        // By key id, what the revoker's usage check reads (lambdas/usage-metrics.ts): one custom metric.
        Dimensions: [['SecretName', 'KeyId']],
        Metrics: [{ Name: METRICS.keyCalls, Unit: 'Count' }],
      },
    ]);
    assert.equal(record!.SecretName, 'prod/sendgrid/api-key');
    assert.equal(record!.KeyVersion, 'current');
    assert.equal(record![METRICS.keyCalls], 5);
    for (const secret of env.sandbox.issuedSecrets()) assert.ok(!JSON.stringify(record).includes(secret));
  });

  /** A client at its defaults (rotation-aware TTL), on the env's clock, its EMF lines captured. */
  const defaultClient = (random = () => 0) => {
    const lines: string[] = [];
    const client = new KeyClient({
      secretsManager: new SecretsManagerClient({ maxAttempts: 1 }),
      now: () => env.clock.now().getTime(),
      random,
      metrics: { flushIntervalMs: 0, sink: (line) => lines.push(line) },
    });
    const keyCalls = () => {
      client.flush();
      const calls = lines
        .map((l) => JSON.parse(l) as Record<string, number>)
        .map((r) => r[METRICS.keyCalls] ?? 0);
      lines.length = 0;
      return calls.reduce((a, b) => a + b, 0);
    };
    return { client, lines, keyCalls };
  };
  const tagGrace = (grace: string) =>
    new SecretsManagerClient({}).send(
      new TagResourceCommand({ SecretId: env.secretName, Tags: [{ Key: TAGS.gracePeriod, Value: grace }] }),
    );

  it('derives its TTL from the grace tag (90–100% of grace − 5 min); without a valid one, 5 min', async () => {
    for (const [grace, ttl] of [
      ['1h', 0.9 * 55 * MINUTE],
      ['24h', 0.9 * 6 * 60 * MINUTE], // capped by maxTtlMs (6 h)
      ['soon', 5 * MINUTE], // not a duration: the old default
      ['3m', 5 * MINUTE], // shorter than the margin: nothing to derive
    ] as const) {
      await tagGrace(grace);
      const { client } = defaultClient();
      await client.get(env.secretName);
      const before = describes(env);
      env.clock.advance(ttl - 1);
      await client.get(env.secretName);
      assert.equal(describes(env), before, `grace ${grace}: cached 1 ms before ${ttl / MINUTE} min`);
      env.clock.advance(1);
      await client.get(env.secretName);
      assert.equal(describes(env), before + 1, `grace ${grace}: refreshed at ${ttl / MINUTE} min`);
      client.close();
    }
  });

  it('reports KeyCalls while the revoker may ask (a young version, a stale serve), not in steady use', async () => {
    await tagGrace('1h');
    const { client, keyCalls } = defaultClient();
    await client.get(env.secretName);
    assert.equal(keyCalls(), 1, 'a version created within grace + 2 h is reported');
    // Three hours later, refreshed all along: the steady use of the current key carries no information.
    for (let t = 0; t < 200; t += 10) {
      env.clock.advance(10 * MINUTE);
      await client.get(env.secretName);
    }
    keyCalls();
    await client.get(env.secretName);
    assert.equal(keyCalls(), 0, 'steady use: no line');
    // A new version: reported again, by every instance that reads it.
    await env.rotate();
    env.clock.advance(60 * MINUTE);
    await client.get(env.secretName);
    assert.equal(keyCalls(), 1, 'the new key, while its revocation is pending');
    for (let t = 0; t < 200; t += 10) {
      env.clock.advance(10 * MINUTE);
      await client.get(env.secretName);
    }
    keyCalls();
    // The vault goes down past the TTL: the key may be stale, so its every use is reported.
    env.aws.setOutage('unavailable');
    env.clock.advance(60 * MINUTE);
    await client.get(env.secretName);
    await client.get(env.secretName);
    assert.equal(keyCalls(), 2, 'stale serves are reported');
    env.aws.setOutage('none');
    client.close();
  });

  it('getMany: the due keys of several secrets in one BatchGetSecretValue, then DescribeSecret only where a version moved', async () => {
    const sm = new SecretsManagerClient({});
    const doc = (await sm.send(new GetSecretValueCommand({ SecretId: env.secretName }))).SecretString!;
    const names = [env.secretName];
    for (const n of [1, 2, 3]) {
      await sm.send(new CreateSecretCommand({ Name: `prod/other-${n}`, SecretString: doc }));
      names.push(`prod/other-${n}`);
    }
    const batches = () => env.aws.count('secretsmanager.BatchGetSecretValue');
    const { client } = clientFor(env, { jitterMs: 0 });
    const [b0, d0, r0] = [batches(), describes(env), reads(env)];
    const keys = await client.getMany(names);
    assert.equal(keys.length, 4);
    assert.equal(batches() - b0, 1, 'one batch for four cold keys');
    assert.equal(reads(env) - r0, 0, 'no GetSecretValue');
    assert.equal(describes(env) - d0, 4, 'each described once, for its tags');
    env.clock.advance(6 * MINUTE);
    await client.getMany(names);
    assert.equal(batches() - b0, 2, 'one batch on expiry');
    assert.equal(describes(env) - d0, 4, 'no version moved: no DescribeSecret');
    assert.deepEqual(
      (await client.getMany(names)).map((k) => k.keyId),
      keys.map((k) => k.keyId),
      'then served from cache',
    );
    assert.equal(batches() - b0, 2);
    client.close();
  });

  it("feeds the revoker's usage check on the loopback endpoint", async () => {
    const { client, lines } = clientFor(env);
    const promotedAt = env.clock.now();
    await client.withKey(env.secretName, (key) => sendMail(env, key));
    client.flush();
    for (const line of lines) env.aws.cloudWatch.ingestEmf(line);
    const current = await env.read('AWSCURRENT');
    const source = cloudWatchUsageSource(new CloudWatchClient({}), () => env.clock.now());
    assert.deepEqual(
      await source({ secretName: env.secretName, since: promotedAt, newKeyId: current.keyId }),
      {
        status: 'confirmed',
        source: 'client-metrics',
        detail: `1 calls with key ${current.keyId} since promotion`,
      },
    );
    assert.equal(
      (await source({ secretName: env.secretName, since: promotedAt, newKeyId: 'unused-key' }))?.status,
      'not-confirmed',
    );
  });

  it('puts the keys on the Lambda context through the middy middleware', async () => {
    const { client } = clientFor(env);
    const handler = middy(
      async (_event: unknown, context: Context & { keys: { sendgrid: ApiKey } }) =>
        context.keys.sendgrid.keyId,
    ).use(rekeyKeys({ keys: { sendgrid: env.secretName }, client }));
    assert.equal(
      await handler({}, {} as Context & { keys: { sendgrid: ApiKey } }),
      (await env.read('AWSCURRENT')).keyId,
    );
  });
});
