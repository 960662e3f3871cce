import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import {
  CancelRotateSecretCommand,
  CreateSecretCommand,
  DescribeSecretCommand,
  PutSecretValueCommand,
  RotateSecretCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { RekeyError } from '../../lambdas/errors.js';
import { runRotationStep } from '../../lambdas/rotation.js';
import { SendGridRotationEnv } from '../support/managed-key-env.js';
import { testRoute } from '../support/rotation-env-base.js';

/** Asserts the invariants that must hold after any failed rotation: nothing changed, nothing leaked. */
async function assertUnchanged(
  env: SendGridRotationEnv,
  before: { versionId: string; key: string; keyCount: number },
) {
  const current = await env.read('AWSCURRENT');
  assert.equal(current.versionId, before.versionId, 'AWSCURRENT did not move');
  assert.equal(current.key, before.key);
  assert.ok(env.sandbox.accepts(current.key), 'the current key still authenticates');
  assert.equal(env.appKeys().length, before.keyCount, 'no key was created or left behind at the provider');
  assert.deepEqual(env.leakedLines(), [], 'no secret value in any log line');
}

async function snapshot(env: SendGridRotationEnv) {
  const current = await env.read('AWSCURRENT');
  return { versionId: current.versionId, key: current.key, keyCount: env.appKeys().length };
}

function errorTextOf(env: SendGridRotationEnv): string {
  return env.lastOutcome()?.error ?? '';
}

describe('rotation core: retries, crashes and bad input', () => {
  let env: SendGridRotationEnv;
  beforeEach(async () => {
    env = await new SendGridRotationEnv().start();
  });
  afterEach(() => env.stop());

  for (const step of ['createSecret', 'setSecret', 'testSecret', 'finishSecret'] as const) {
    it(`a ${step} delivered twice creates no second key and completes the rotation`, async () => {
      // Prepare
      env.aws.secretsManager.deliverTwice(step);
      const before = await env.read('AWSCURRENT');
      // Act
      const versionId = await env.rotate();
      // Assess
      assert.equal(env.lastOutcome()?.ok, true);
      const current = await env.read('AWSCURRENT');
      assert.equal(current.versionId, versionId);
      assert.equal((await env.read('AWSPREVIOUS')).versionId, before.versionId);
      assert.equal(env.appKeys().length, 2, 'exactly one new key');
      assert.equal(env.appKeys().filter((k) => k.name === current.keyName).length, 1);
      assert.deepEqual(env.aws.secretsManager.stagesOf(env.secretArn)[versionId], ['AWSCURRENT']);
      assert.deepEqual(env.leakedLines(), []);
    });
  }

  it('a rotation retried after it completed (same token) changes nothing', async () => {
    const versionId = await env.rotate();
    const after = await snapshot(env);
    const again = await env.rotate(versionId);
    assert.equal(again, versionId);
    assert.equal(env.appKeys().length, after.keyCount);
    assert.equal((await env.read('AWSCURRENT')).versionId, versionId);
  });

  it('replaces the key a crashed createSecret created but never stored: one key for the version remains', async () => {
    // Prepare: the first createSecret "dies" (Lambda timeout) after SendGrid created the key, before PutSecretValue returns.
    let crashed = false;
    let keyCreated!: () => void;
    const reachedPut = new Promise<void>((resolve) => {
      keyCreated = resolve;
    });
    const hangingPut = new Proxy(env.sm, {
      get(target, prop, receiver) {
        if (prop !== 'send') return Reflect.get(target, prop, receiver);
        return (command: unknown) => {
          if (command instanceof PutSecretValueCommand) {
            keyCreated();
            return new Promise(() => {}); // never returns: the process is gone
          }
          return target.send(command as never);
        };
      },
    }) as SecretsManagerClient;
    env.aws.lambdas.register(env.lambdaArn, async (event) => {
      const step = (event as { Step: string }).Step;
      if (step === 'createSecret' && !crashed) {
        crashed = true;
        void runRotationStep(event, { ...env.deps(), secretsManager: hangingPut });
        await reachedPut;
        throw new Error('Task timed out after 30.00 seconds');
      }
      return runRotationStep(event, env.deps());
    });
    const before = await snapshot(env);
    // Act: the first attempt crashes…
    const token = await env.rotate();
    assert.equal(env.lastOutcome()?.failedStep, 'createSecret');
    const currentKeyId = (await env.read('AWSCURRENT')).keyId;
    const leftover = env.appKeys().filter((k) => k.id !== currentKeyId);
    assert.equal(leftover.length, 1, 'the crashed attempt left one key at the provider');
    await assertUnchanged(env, { ...before, keyCount: before.keyCount + 1 });
    // …and Secrets Manager reattempts the same version.
    await env.reattemptRotation();
    // Assess
    assert.equal(env.lastOutcome()?.ok, true);
    const current = await env.read('AWSCURRENT');
    assert.equal(current.versionId, token);
    assert.ok(env.sandbox.accepts(current.key));
    assert.equal(
      env.appKeys().length,
      2,
      'old key + exactly one new key: the unstored key was revoked, not orphaned',
    );
    assert.equal(env.appKeys().filter((k) => k.name === current.keyName).length, 1);
    assert.ok(!env.appKeys().some((k) => k.id === leftover[0]!.id), 'the never-stored key is gone');
    assert.deepEqual(env.leakedLines(), []);
  });

  it('fails testSecret when the provider rejects the new key and leaves AWSCURRENT untouched', async () => {
    // Prepare: SendGrid answers 401 to the new key's validation call.
    env.sandbox.rejectNextValidation();
    const before = await snapshot(env);
    // Act
    const token = await env.rotate();
    // Assess
    assert.equal(env.lastOutcome()?.failedStep, 'testSecret');
    assert.match(
      errorTextOf(env),
      /KeyTestFailedError: the pending key \S+ of secret arn:aws:secretsmanager:\S+ \(version [\w-]+\) does not authenticate at SendGrid; AWSCURRENT was left unchanged/,
    );
    const pending = await env.read('AWSPENDING');
    assert.equal(
      pending.versionId,
      token,
      'the rejected key stays staged AWSPENDING for inspection, never current',
    );
    await assertUnchanged(env, { ...before, keyCount: before.keyCount + 1 });
    assert.ok(!errorTextOf(env).includes(pending.key));
  });

  it('retries SendGrid 429 (honouring Retry-After) and 5xx during createSecret, then succeeds', async () => {
    env.sandbox.injectFault({
      status: 429,
      times: 1,
      retryAfterSeconds: 0,
      match: (req) => req.method === 'POST',
    });
    env.sandbox.injectFault({ status: 503, times: 1, match: (req) => req.method === 'POST' });
    await env.rotate();
    assert.equal(env.lastOutcome()?.ok, true);
    assert.equal(env.appKeys().length, 2);
    const creates = env.sandbox.requests.filter((r) => r.method === 'POST' && r.path === '/v3/api_keys');
    assert.deepEqual(
      creates.map((r) => r.status),
      [429, 503, 201],
    );
  });

  for (const status of [429, 500] as const) {
    it(`fails cleanly when SendGrid keeps answering ${status}: clear error, nothing changed`, async () => {
      env.sandbox.injectFault({
        status,
        times: 100,
        match: (req) => req.method === 'POST',
        retryAfterSeconds: 0,
      });
      const before = await snapshot(env);
      await env.rotate();
      assert.equal(env.lastOutcome()?.failedStep, 'createSecret');
      const expected =
        status === 429
          ? /ProviderRateLimitedError: SendGrid rate-limited create key/
          : // A 500 to a create may hide a key SendGrid made: the error says so, and every retry looked first.
            /ProviderOutcomeUnknownError: SendGrid create key may or may not have taken effect \(HTTP 500\); rekey looks for its result by name before trying again/;
      assert.match(errorTextOf(env), expected);
      assert.equal(
        env.sandbox.requests.filter((r) => r.method === 'POST').length,
        4,
        'four attempts, then give up',
      );
      if (status === 500)
        assert.equal(
          env.sandbox.requests.filter((r) => r.method === 'GET' && r.path === '/v3/api_keys').length,
          4,
          'each create was preceded by a lookup of its name',
        );
      await assertUnchanged(env, before);
    });
  }

  it('refuses malformed secret JSON with the secret and the fix, creating nothing', async () => {
    await env.sm.send(
      new PutSecretValueCommand({
        SecretId: env.secretArn,
        SecretString: '{"provider": "sendgrid", "key": ',
      }),
    );
    const keysBefore = env.appKeys().length;
    await env.rotate();
    assert.equal(env.lastOutcome()?.failedStep, 'createSecret');
    assert.match(
      errorTextOf(env),
      /secret arn:aws:secretsmanager:\S+prod\/sendgrid\/api-key\S* \(version [\w-]+\) is not JSON; store the rekey key document/,
    );
    assert.equal(env.appKeys().length, keysBefore);
  });

  it('names the missing field of a key document', async () => {
    const { versionId: _version, keyId: _keyId, ...withoutKeyId } = await env.read('AWSCURRENT');
    await env.sm.send(
      new PutSecretValueCommand({ SecretId: env.secretArn, SecretString: JSON.stringify(withoutKeyId) }),
    );
    await env.rotate();
    assert.match(errorTextOf(env), /field "keyId" is missing; fix the stored document/);
    assert.ok(!errorTextOf(env).includes(withoutKeyId.key), 'the key value is not in the message');
    assert.equal(env.appKeys().length, 1, 'no key was created');
  });

  it('refuses an unknown provider and a missing rotator credential, naming the field', async () => {
    const current = await env.read('AWSCURRENT');
    const { versionId: _v, ...doc } = current;
    await env.sm.send(
      new PutSecretValueCommand({
        SecretId: env.secretArn,
        SecretString: JSON.stringify({ ...doc, provider: 'acme' }),
      }),
    );
    await env.rotate();
    assert.match(errorTextOf(env), /field "provider" is "acme" but the deployed inventory says "sendgrid"/);

    // The inventory names a rotator secret nobody created.
    env.redeploy(testRoute('prod/other', 'sendgrid', { rotatorSecret: 'missing' }));
    const sm = new SecretsManagerClient({});
    const other = await sm.send(
      new CreateSecretCommand({
        Name: 'prod/other',
        SecretString: JSON.stringify({
          ...doc,
          rotatorSecretArn: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:missing-AbCdEf',
        }),
      }),
    );
    await sm.send(new RotateSecretCommand({ SecretId: other.ARN, RotationLambdaARN: env.lambdaArn }));
    await env.aws.secretsManager.settled();
    assert.match(
      errorTextOf(env),
      /cannot read the rotator credential arn:aws:secretsmanager:\S+missing-AbCdEf \(ResourceNotFoundException\); create that secret/,
    );
    assert.equal(env.appKeys().length, 1, 'no key created for either secret');
    assert.deepEqual(env.leakedLines(), []);
    sm.destroy();
  });

  it('refuses a token that is not a version of the secret', async () => {
    await env.rotate();
    await assert.rejects(
      runRotationStep(
        { Step: 'createSecret', SecretId: env.secretArn, ClientRequestToken: 'not-a-version-of-this-secret' },
        env.deps(),
      ),
      (error: unknown) =>
        error instanceof RekeyError &&
        error.code === 'ROTATION_STATE' &&
        /has no version not-a-version-of-this-secret/.test(error.message),
    );
  });

  it('refuses a version that is not staged AWSPENDING', async () => {
    await env.rotate();
    const previous = await env.read('AWSPREVIOUS');
    await assert.rejects(
      runRotationStep(
        { Step: 'finishSecret', SecretId: env.secretArn, ClientRequestToken: previous.versionId },
        env.deps(),
      ),
      /is not staged AWSPENDING/,
    );
    assert.equal(env.appKeys().length, 2);
  });

  it('refuses to rotate a secret whose rotation is not enabled', async () => {
    await env.sm.send(new CancelRotateSecretCommand({ SecretId: env.secretArn }));
    const current = await env.read('AWSCURRENT');
    await assert.rejects(
      runRotationStep(
        { Step: 'createSecret', SecretId: env.secretArn, ClientRequestToken: current.versionId },
        env.deps(),
      ),
      (error: unknown) =>
        error instanceof RekeyError &&
        error.code === 'ROTATION_STATE' &&
        /is not enabled for rotation; enable it/.test(error.message),
    );
    assert.equal(env.appKeys().length, 1);
  });

  it('refuses an unknown step, naming the field and the accepted steps', async () => {
    await assert.rejects(
      runRotationStep({ Step: 'deleteSecret', SecretId: env.secretArn, ClientRequestToken: 'x' }, env.deps()),
      (error: unknown) =>
        error instanceof RekeyError &&
        error.code === 'INVALID_EVENT' &&
        error.field === 'Step' &&
        /expected one of createSecret, setSecret, testSecret, finishSecret/.test(error.message),
    );
  });

  it('finishSecret retried after the promotion records the due revocation once', async () => {
    const versionId = await env.rotate();
    const previous = await env.read('AWSPREVIOUS');
    await runRotationStep(
      { Step: 'finishSecret', SecretId: env.secretArn, ClientRequestToken: versionId },
      env.deps(),
    );
    const described = await env.sm.send(new DescribeSecretCommand({ SecretId: env.secretArn }));
    const tags = Object.fromEntries((described.Tags ?? []).map((t) => [t.Key, t.Value]));
    assert.equal(tags['rekey:revoke-version'], previous.versionId);
    assert.equal(tags['rekey:revoke-key-id'], previous.keyId);
    assert.ok(
      Date.parse(tags['rekey:revoke-due-at']!) > Date.now() + 3500_000,
      'due one hour (the default grace) from now',
    );
    assert.ok(env.sandbox.accepts(previous.key), 'finishSecret never revokes the old key');
  });
});
