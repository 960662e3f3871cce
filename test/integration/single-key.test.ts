import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { DescribeSecretCommand, TagResourceCommand } from '@aws-sdk/client-secrets-manager';
import { TAGS, tagMap } from '../../lambdas/tags.js';
import { SendGridRotationEnv } from '../support/managed-key-env.js';
import { testRoute } from '../support/rotation-env-base.js';

describe('keys that cannot overlap: the single-key strategy', () => {
  let env: SendGridRotationEnv;
  beforeEach(async () => {
    env = await new SendGridRotationEnv().start();
  });
  afterEach(() => env.stop());

  const tag = (value: string) =>
    env.sm.send(
      new TagResourceCommand({ SecretId: env.secretArn, Tags: [{ Key: TAGS.singleKey, Value: value }] }),
    );
  /** What a deploy of single_key_rotation: accept-interruption does: the route says so, and so does the tag. */
  const optIn = async () => {
    env.redeploy(testRoute(env.secretName, 'sendgrid', { singleKey: true }));
    await tag('accept-interruption');
  };
  const tags = async () =>
    tagMap((await env.sm.send(new DescribeSecretCommand({ SecretId: env.secretArn }))).Tags);

  it('refuses a single-key tag the deployed inventory does not say, naming it, alerting, and leaves the current key alone', async () => {
    // Whoever may tag the secret cannot opt it into an interruption: only the deployed inventory can.
    await tag('accept-interruption');
    const old = await env.read('AWSCURRENT');
    await env.rotate();
    assert.equal(env.lastOutcome()?.failedStep, 'createSecret');
    assert.match(
      env.lastOutcome()!.error!,
      /tag rekey:single-key is "accept-interruption" but the deployed inventory says no single-key rotation for "api-key"; rekey acts only as deployed, so nothing was changed/,
    );
    assert.ok(env.sandbox.accepts(old.key), 'nothing was revoked');
    assert.equal(env.appKeys().length, 1);
    assert.deepEqual(
      env.alerts().map((a) => a.message.event),
      ['routing-mismatch'],
    );
  });

  it('announces, revokes, then creates: one key at the end, the interruption measured, nothing left to revoke', async () => {
    await optIn();
    env.aws.secretsManager.deliverTwice('createSecret');
    const old = await env.read('AWSCURRENT');
    const versionId = await env.rotate();
    assert.equal(env.lastOutcome()?.ok, true);
    const current = await env.read('AWSCURRENT');
    assert.equal(current.versionId, versionId);
    assert.ok(!env.sandbox.accepts(old.key) && env.sandbox.accepts(current.key));
    assert.equal(env.appKeys().length, 1, 'no second key despite the duplicate createSecret');
    const announced = env.alerts().find((a) => a.message.event === 'single-key-interruption');
    assert.match(String(announced?.message.detail), /is revoked before its replacement exists/);
    const t = await tags();
    assert.ok(Number(t[TAGS.lastInterruptionMs]) >= 0, 'the interruption is measured');
    assert.equal(t[TAGS.interruptionStartedAt], undefined);
    assert.equal(t[TAGS.lastRevokedKeyId], old.keyId);
    assert.deepEqual(
      env.aws.secretsManager.stagesOf(env.secretArn),
      { [versionId]: ['AWSCURRENT'] },
      'no label left on the dead key',
    );
    assert.equal(
      env.aws.scheduler.list('rekey').length,
      0,
      'no revocation scheduled: the old key is already gone',
    );
    assert.ok(
      env.logs.records().some((r) => typeof r.InterruptionSeconds === 'number'),
      'an InterruptionSeconds metric',
    );
    assert.deepEqual(env.leakedLines(), []);
  });

  it('recovers when creation fails after the revocation: the retry copies the recorded permissions', async () => {
    await optIn();
    env.sandbox.injectFault({
      status: 503,
      times: 100,
      match: (req) => req.method === 'POST' && req.path === '/v3/api_keys',
    });
    const old = await env.read('AWSCURRENT');
    await env.rotate();
    assert.equal(env.lastOutcome()?.failedStep, 'createSecret');
    assert.ok(!env.sandbox.accepts(old.key), 'the interruption had begun');
    env.sandbox.clearFaults();
    await env.reattemptRotation(); // Secrets Manager re-attempts the same version by itself
    assert.equal(env.lastOutcome()?.ok, true);
    const current = await env.read('AWSCURRENT');
    assert.deepEqual(
      env.sandbox
        .listKeys()
        .filter((k) => k.name !== 'rekey-rotator')
        .map((k) => k.scopes),
      [['mail.send']],
      'the new key carries the revoked key’s scopes',
    );
    assert.ok(env.sandbox.accepts(current.key));
    assert.ok(Number((await tags())[TAGS.lastInterruptionMs]) >= 0);
  });
});
