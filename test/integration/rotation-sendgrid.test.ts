import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SendGridRotationEnv } from '../support/managed-key-env.js';

describe('rotating a SendGrid key through RotateSecret on the loopback endpoint', () => {
  const env = new SendGridRotationEnv();
  before(() => env.start());
  after(() => env.stop());

  it('stages the new key as AWSCURRENT, keeps the old as AWSPREVIOUS, both authenticate, two keys exist', async () => {
    // Prepare
    const before = await env.read('AWSCURRENT');
    // Act
    const versionId = await env.rotate();
    // Assess
    assert.deepEqual(env.lastOutcome(), { secretName: 'prod/sendgrid/api-key', versionId, ok: true });
    const current = await env.read('AWSCURRENT');
    const previous = await env.read('AWSPREVIOUS');
    assert.equal(current.versionId, versionId);
    assert.equal(previous.versionId, before.versionId);
    assert.notEqual(current.key, previous.key);
    assert.equal(current.rotatorSecretArn, before.rotatorSecretArn);
    assert.ok(env.sandbox.accepts(current.key), 'new key authenticates');
    assert.ok(env.sandbox.accepts(previous.key), 'old key still authenticates during the grace period');
    assert.equal(env.appKeys().length, 2);
    assert.deepEqual(
      env.appKeys().find((k) => k.id === current.keyId),
      { id: current.keyId, name: current.keyName, scopes: ['mail.send'] },
      'new key carries the current key scopes and the deterministic name',
    );
    const stages = env.aws.secretsManager.stagesOf(env.secretArn);
    assert.deepEqual(stages[versionId], ['AWSCURRENT'], 'AWSPENDING is cleared');
    assert.deepEqual(env.leakedLines(), []);
  });
});
