/**
 * rekey's record of which secret a provider key belongs to (lambdas/key-owners.ts): the revoker decides "is
 * this key live in another secret of the same provider account" on it in one read, where it used to read
 * every sibling secret (≈3 calls each, per revocation: quadratic in a fleet). The record must be as strong
 * as the scan it replaces: a planted document naming a sibling's key is still refused, and a key without a
 * record is still checked against every sibling (test/integration/routing.test.ts).
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { GetItemCommand } from '@aws-sdk/client-dynamodb';
import { CreateSecretCommand, PutSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { keyOwner, recordKeyOwner } from '../../lambdas/key-owners.js';
import type { RevocationRequest } from '../../lambdas/revocation.js';
import type { ManagedKey } from '../../lambdas/secret-format.js';
import { stageHoldingKey } from '../../lambdas/secrets.js';
import { startRotation } from '../../lambdas/start-rotation.js';
import { APP_SCOPES, LEASE_TABLE, SendGridRotationEnv } from '../support/managed-key-env.js';
import { testRoute } from '../support/rotation-env-base.js';

const SIBLINGS = 3;

/** A sibling secret in the same SendGrid account, holding a live key of its own (not recorded). */
async function addSibling(env: SendGridRotationEnv, n: number) {
  const key = env.sandbox.seedKey(`sibling-${n}`, APP_SCOPES);
  env.secretValues.add(key.value);
  const doc: ManagedKey = {
    provider: 'sendgrid',
    key: key.value,
    keyId: key.id,
    createdAt: '2026-01-01T00:00:00.000Z',
    rotatorSecretArn: env.rotatorArn,
    options: {},
  };
  const name = `prod/sendgrid/sibling-${n}`;
  const { ARN } = await env.sm.send(
    new CreateSecretCommand({ Name: name, SecretString: JSON.stringify(doc) }),
  );
  const route = testRoute(name, 'sendgrid');
  env.redeploy(route);
  return { name, arn: ARN!, key, route };
}

async function emergencyRotation(env: SendGridRotationEnv): Promise<void> {
  await startRotation(env.secretName, { emergency: true }, env.revocationDeps());
  await env.aws.secretsManager.settled();
  await env.aws.runDue();
}

describe('key-owner records: the revoker knows whose key it is without reading every sibling', () => {
  let env: SendGridRotationEnv;
  beforeEach(async () => {
    env = await new SendGridRotationEnv().start();
  });
  afterEach(() => env.stop());

  it('a key createSecret made is revoked on its record, even where the sibling scan would fail closed', async () => {
    const siblings = [];
    for (let n = 1; n <= SIBLINGS; n++) siblings.push(await addSibling(env, n));
    const route = env.routes.find(env.secretName)!;
    const seeded = await env.read('AWSCURRENT');
    assert.equal(await keyOwner(env.lease!, route, seeded.keyId), undefined, 'a seeded key has no record');

    // 1. The seeded key has no record: revoked after the scan of every sibling.
    await emergencyRotation(env);
    assert.ok(!env.sandbox.accepts(seeded.key), 'the seeded key is revoked');
    const made = await env.read('AWSCURRENT');
    assert.deepEqual(await keyOwner(env.lease!, route, made.keyId), { secretName: env.secretName });

    // Every sibling now holds something the scan cannot read, which it treats as "might be this key".
    for (const sibling of siblings)
      await env.sm.send(
        new PutSecretValueCommand({ SecretId: sibling.arn, SecretString: '{"apiKey":"not-a-document"}' }),
      );
    const readsBefore = env.aws.count('secretsmanager.GetSecretValue');

    // 2. The key rotation 1 made has a record: revoked on it, no sibling read.
    await emergencyRotation(env);
    assert.ok(!env.sandbox.accepts(made.key), 'the recorded key is revoked');
    assert.ok(env.sandbox.accepts((await env.read('AWSCURRENT')).key), 'the new key works');
    for (const sibling of siblings)
      assert.ok(env.sandbox.accepts(sibling.key.value), `${sibling.name}'s key is untouched`);
    assert.deepEqual(
      env.alerts().filter((a) => /revocation-(failed|aborted)/.test(String(a.message.event))),
      [],
    );
    assert.equal(await keyOwner(env.lease!, route, made.keyId), undefined, 'a revoked key’s record is gone');
    const newest = await env.read('AWSCURRENT');
    assert.deepEqual(await keyOwner(env.lease!, route, newest.keyId), { secretName: env.secretName });
    // The rotation and its revocation read this secret only: a handful of reads, not one per sibling version.
    const reads = env.aws.count('secretsmanager.GetSecretValue') - readsBefore;
    assert.ok(reads < 20, `${reads} GetSecretValue calls for one rotation and revocation`);
    assert.deepEqual(env.leakedLines(), []);
  });

  it('a planted document naming a sibling’s recorded key is refused on the record, and the key lives', async () => {
    const b = await addSibling(env, 1);
    await recordKeyOwner(env.lease!, b.route, b.key.id);
    const oldA = await env.read('AWSCURRENT');
    const newVersion = await env.rotate();
    const planted = await env.sm.send(
      new PutSecretValueCommand({
        SecretId: env.secretArn,
        SecretString: JSON.stringify({ ...oldA, versionId: undefined, keyId: b.key.id }),
        VersionStages: ['PLANTED'],
      }),
    );
    const request: RevocationRequest = {
      secretArn: env.secretArn,
      previousVersionId: planted.VersionId!,
      previousKeyId: b.key.id,
      newVersionId: newVersion,
      promotedAt: env.clock.now().toISOString(),
      reason: 'emergency',
    };
    const report = (await env.aws.lambdas.invoke(env.revokerArn, request)) as { outcome: string };
    assert.equal(report.outcome, 'aborted');
    assert.ok(env.sandbox.accepts(b.key.value), "B's key still works at SendGrid");
    const alert = env.alerts().at(-1)!;
    assert.equal(alert.message.event, 'revocation-aborted');
    assert.match(
      String(alert.message.detail),
      new RegExp(`belongs to ${b.name}, which shares this provider`),
    );
    // The record is B's still: a refused request forgets nothing.
    assert.deepEqual(await keyOwner(env.lease!, b.route, b.key.id), { secretName: b.name });
  });

  it('import’s rule: a record moves only from a secret that no longer holds the key', async () => {
    const b = await addSibling(env, 1);
    const route = env.routes.find(env.secretName)!;
    await recordKeyOwner(env.lease!, b.route, b.key.id);
    const stillHeld = (other: string) =>
      stageHoldingKey(env.sm, env.logger, other, b.key.id).then((stage) => stage === undefined);
    // B holds the key as AWSCURRENT: A may not take the record.
    assert.deepEqual(await recordKeyOwner(env.lease!, route, b.key.id, stillHeld), { secretName: b.name });
    assert.deepEqual(await keyOwner(env.lease!, route, b.key.id), { secretName: b.name });
    // B moved on (its current is another key, and no label holds the old one): the record moves to A.
    // Two writes: the old key goes from AWSCURRENT to AWSPREVIOUS, then off every label.
    for (const keyId of ['other', 'other2'])
      await env.sm.send(
        new PutSecretValueCommand({
          SecretId: b.arn,
          SecretString: JSON.stringify({ ...(await env.read('AWSCURRENT')), versionId: undefined, keyId }),
        }),
      );
    assert.equal(await recordKeyOwner(env.lease!, route, b.key.id, stillHeld), undefined);
    assert.deepEqual(await keyOwner(env.lease!, route, b.key.id), { secretName: env.secretName });
    // The item is where the stack's grant allows reading it: a `key:` partition key.
    const item = await env.dynamodb.send(
      new GetItemCommand({
        TableName: LEASE_TABLE,
        Key: { secret: { S: `key:sendgrid:${route.rotatorSecret}:${b.key.id}` } },
        ConsistentRead: true,
      }),
    );
    assert.equal(item.Item?.secretName?.S, env.secretName);
  });
});
