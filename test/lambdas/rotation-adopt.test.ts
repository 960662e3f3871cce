import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  CreateSecretCommand,
  GetSecretValueCommand,
  RotateSecretCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import * as z from 'zod/mini';
import { Logger } from '../../lambdas/logger.js';
import type { ProviderDefinition } from '../../lambdas/providers/types.js';
import { keyNameFor, runRotationStep } from '../../lambdas/rotation.js';
import { KeyRoutes } from '../../lambdas/routes.js';
import type { LoopbackAws } from '../../local/aws/server.js';
import { CapturedLogs, startLoopbackAws } from '../support/env.js';
import { testRoute } from '../support/rotation-env-base.js';

/**
 * A provider stub whose keys' values can be read back after creation (as Datadog's can), or not
 * (`readable: false`, as SendGrid's cannot); with `cap`, an account that holds at most that many keys.
 */
function readableProvider({ readable = true, cap }: { readable?: boolean; cap?: number } = {}) {
  const keys = new Map<string, { id: string; name: string; value: string }>();
  let seq = 0;
  const created: string[] = [];
  const definition: ProviderDefinition<{ token: string }, Record<string, never>> = {
    name: 'memory',
    displayName: 'Memory',
    capabilities: { dualKey: true, maxActiveKeys: cap ?? null, lastUsed: false, valueReadable: readable },
    maxKeyNameLength: 100,
    credentialSchema: z.object({ token: z.string() }),
    optionsSchema: z.strictObject({}) as unknown as z.ZodMiniType<Record<string, never>>,
    connect: () => ({
      async createKey({ name }) {
        if (cap !== undefined && keys.size >= cap) throw new Error('the account is full');
        seq += 1;
        const key = { id: `id-${seq}`, name, value: `memory-secret-value-${seq}` };
        keys.set(key.id, key);
        created.push(key.id);
        return key;
      },
      async findKeysByName(name) {
        return [...keys.values()]
          .filter((k) => k.name === name)
          .map((k) => (readable ? k : { id: k.id, name: k.name }));
      },
      ...(cap === undefined
        ? {}
        : {
            keyQuota: async () => ({
              held: keys.size,
              cap,
              account: 'test account',
              makeRoom: 'Delete unused keys',
            }),
          }),
      async validateKey({ value }) {
        return [...keys.values()].some((k) => k.value === value) ? 'accepted' : 'rejected';
      },
      async revokeKey(id) {
        return keys.delete(id) ? 'revoked' : 'already-gone';
      },
    }),
  };
  return { definition, keys, created };
}

describe('createSecret after a crash, with a provider that returns key values', () => {
  let aws: LoopbackAws;
  let sm: SecretsManagerClient;
  before(async () => {
    aws = await startLoopbackAws();
    sm = new SecretsManagerClient({});
  });
  after(async () => {
    sm.destroy();
    await aws.stop();
  });

  it('adopts the key the crashed attempt created instead of creating another', async () => {
    // Prepare: the current key, and the key a crashed attempt created for the next version.
    const { definition, keys } = readableProvider();
    const logs = new CapturedLogs();
    const rotator = await sm.send(
      new CreateSecretCommand({
        Name: 'rotator/memory',
        SecretString: JSON.stringify({ token: 'admin-token-value' }),
      }),
    );
    keys.set('id-0', { id: 'id-0', name: 'original', value: 'memory-secret-value-0' });
    const doc = {
      provider: 'memory',
      key: 'memory-secret-value-0',
      keyId: 'id-0',
      createdAt: '2026-01-01T00:00:00Z',
      rotatorSecretArn: rotator.ARN,
      options: {},
    };
    const secret = await sm.send(
      new CreateSecretCommand({ Name: 'prod/memory', SecretString: JSON.stringify(doc) }),
    );
    const token = '11111111-2222-4333-8444-555555555555';
    const orphan = await definition
      .connect({} as never)
      .createKey({ name: keyNameFor('prod/memory', token, 100), likeKeyId: 'id-0' });
    const arn = aws.lambdas.register('rotate-memory', (event) =>
      runRotationStep(event, {
        secretsManager: sm,
        logger: new Logger(logs.sink),
        provider: definition,
        routes: new KeyRoutes([testRoute('prod/memory', 'memory', { rotatorSecret: 'rotator/memory' })]),
      }),
    );
    // Act
    await sm.send(
      new RotateSecretCommand({ SecretId: secret.ARN, RotationLambdaARN: arn, ClientRequestToken: token }),
    );
    await aws.secretsManager.settled();
    // Assess
    assert.equal(aws.secretsManager.outcomes.at(-1)?.ok, true);
    const current = JSON.parse(
      (await sm.send(new GetSecretValueCommand({ SecretId: secret.ARN }))).SecretString!,
    );
    assert.equal(current.keyId, orphan.id, 'the orphan was adopted');
    assert.equal(current.key, orphan.value);
    assert.equal(keys.size, 2, 'no second key was created');
    assert.deepEqual(logs.leaks(['memory-secret-value-0', orphan.value, 'admin-token-value']), []);
  });
});

describe('createSecret against an account at its key cap', () => {
  let aws: LoopbackAws;
  let sm: SecretsManagerClient;
  before(async () => {
    aws = await startLoopbackAws();
    sm = new SecretsManagerClient({});
  });
  after(async () => {
    sm.destroy();
    await aws.stop();
  });

  /** The current key id-0 at a memory provider, its secret, and a rotation function bound to it. */
  async function managed(provider: ReturnType<typeof readableProvider>, name: string) {
    const rotator = await sm.send(
      new CreateSecretCommand({ Name: `rotator/${name}`, SecretString: JSON.stringify({ token: 'admin' }) }),
    );
    provider.keys.set('id-0', { id: 'id-0', name: 'original', value: 'memory-secret-value-0' });
    const doc = {
      provider: 'memory',
      key: 'memory-secret-value-0',
      keyId: 'id-0',
      createdAt: '2026-01-01T00:00:00Z',
      rotatorSecretArn: rotator.ARN,
      options: {},
    };
    const secret = await sm.send(new CreateSecretCommand({ Name: name, SecretString: JSON.stringify(doc) }));
    const arn = aws.lambdas.register(`rotate-${name.replace(/\W/g, '-')}`, (event) =>
      runRotationStep(event, {
        secretsManager: sm,
        logger: new Logger(new CapturedLogs().sink),
        provider: provider.definition,
        routes: new KeyRoutes([testRoute(name, 'memory', { rotatorSecret: `rotator/${name}` })]),
      }),
    );
    const rotate = async (token: string) => {
      await sm.send(
        new RotateSecretCommand({ SecretId: secret.ARN, RotationLambdaARN: arn, ClientRequestToken: token }),
      );
      await aws.secretsManager.settled();
      return aws.secretsManager.outcomes.at(-1);
    };
    return { arn: secret.ARN!, rotate };
  }

  it('refuses before creating, naming the secret, the account and the cap', async () => {
    const provider = readableProvider({ cap: 2 });
    provider.keys.set('other', { id: 'other', name: 'another team', value: 'memory-secret-value-x' });
    const { rotate } = await managed(provider, 'prod/full');
    const outcome = await rotate('22222222-2222-4333-8444-555555555555');
    assert.equal(outcome?.ok, false);
    assert.match(
      outcome?.error ?? '',
      /^ProviderAccountFullError: prod\/full: Memory test account holds 2 keys and allows at most 2, so rekey created no key and stored nothing/,
    );
    assert.match(outcome?.error ?? '', /Delete unused keys; or move this key to another account/);
    assert.deepEqual(provider.created, [], 'createKey was never called');
  });

  it('adopts the key a crashed attempt left, even when it fills the account: that is not a full account', async () => {
    const provider = readableProvider({ cap: 2 });
    const { arn, rotate } = await managed(provider, 'prod/full-adopt');
    const token = '33333333-2222-4333-8444-555555555555';
    const orphan = await provider.definition
      .connect({} as never)
      .createKey({ name: keyNameFor('prod/full-adopt', token, 100), likeKeyId: 'id-0' });
    assert.equal(provider.keys.size, 2, 'the account is at its cap');
    const outcome = await rotate(token);
    assert.equal(outcome?.ok, true, outcome?.error);
    const current = JSON.parse((await sm.send(new GetSecretValueCommand({ SecretId: arn }))).SecretString!);
    assert.equal(current.keyId, orphan.id);
    assert.equal(provider.keys.size, 2, 'no second key');
  });

  it('revokes an unrecoverable key a crashed attempt left first, so the retried step has room', async () => {
    const provider = readableProvider({ readable: false, cap: 2 });
    const { arn, rotate } = await managed(provider, 'prod/full-retry');
    const token = '44444444-2222-4333-8444-555555555555';
    const lost = await provider.definition
      .connect({} as never)
      .createKey({ name: keyNameFor('prod/full-retry', token, 100), likeKeyId: 'id-0' });
    const outcome = await rotate(token);
    assert.equal(outcome?.ok, true, outcome?.error);
    const current = JSON.parse((await sm.send(new GetSecretValueCommand({ SecretId: arn }))).SecretString!);
    assert.notEqual(current.keyId, lost.id);
    assert.ok(!provider.keys.has(lost.id), 'the unrecoverable key was revoked');
    assert.deepEqual([...provider.keys.keys()].sort(), ['id-0', current.keyId].sort());
  });
});
