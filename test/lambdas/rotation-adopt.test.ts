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

/** A provider stub whose keys' values can be read back after creation (as Datadog's can). */
function readableProvider() {
  const keys = new Map<string, { id: string; name: string; value: string }>();
  let seq = 0;
  const definition: ProviderDefinition<{ token: string }, Record<string, never>> = {
    name: 'memory',
    displayName: 'Memory',
    capabilities: { dualKey: true, maxActiveKeys: null, lastUsed: false, valueReadable: true },
    maxKeyNameLength: 100,
    credentialSchema: z.object({ token: z.string() }),
    optionsSchema: z.strictObject({}) as unknown as z.ZodMiniType<Record<string, never>>,
    connect: () => ({
      async createKey({ name }) {
        seq += 1;
        const key = { id: `id-${seq}`, name, value: `memory-secret-value-${seq}` };
        keys.set(key.id, key);
        return key;
      },
      async findKeysByName(name) {
        return [...keys.values()].filter((k) => k.name === name);
      },
      async validateKey({ value }) {
        return [...keys.values()].some((k) => k.value === value) ? 'accepted' : 'rejected';
      },
      async revokeKey(id) {
        return keys.delete(id) ? 'revoked' : 'already-gone';
      },
    }),
  };
  return { definition, keys };
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
