import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { ProviderRejectedError } from '../../../lambdas/errors.js';
import { datadog } from '../../../lambdas/providers/datadog.js';
import { DatadogSandbox } from '../../../local/sandboxes/datadog.js';
import { rejection } from '../../support/assertions.js';
import { CapturedLogs } from '../../support/env.js';
import { connectToSandbox } from './sandbox-client.js';

/** Datadog as its API description has it (datadog-api-client .generator/schemas/v2, docs.datadoghq.com). */
describe('Datadog adapter against the documented API', () => {
  let sandbox: DatadogSandbox;
  let admin: { id: string; value: string };
  let current: { id: string; value: string };
  const logs = new CapturedLogs();
  const document = (permissions?: string[], site = 'datadoghq.com') => ({
    credential: { apiKey: admin.value, applicationKey: sandbox.seedApplicationKey(permissions) },
    options: { site },
  });

  beforeEach(async () => {
    sandbox = new DatadogSandbox();
    await sandbox.start();
    admin = sandbox.seedApiKey('rekey-rotator');
    current = sandbox.seedApiKey('checkout-service');
  });
  afterEach(async () => {
    assert.deepEqual(logs.leaks(sandbox.issuedSecrets()), [], 'no secret in any log line');
    await sandbox.stop();
  });

  it('cannot revoke with only api_keys_read and api_keys_write, and says to grant api_keys_delete', async () => {
    // Prepare
    const { client } = connectToSandbox(
      datadog,
      sandbox,
      document(['api_keys_read', 'api_keys_write']),
      logs,
    );
    // Act
    const error = await rejection(client.revokeKey(current.id));
    // Assess
    assert.ok(error instanceof ProviderRejectedError, `got ${error.name}: ${error.message}`);
    assert.equal(error.status, 403);
    assert.match(error.message, /api_keys_delete/);
    assert.ok(sandbox.accepts(current.value), 'the key is still live');
  });

  it('revokes with the documented grants', async () => {
    // Prepare
    const { client } = connectToSandbox(datadog, sandbox, document(), logs);
    // Act
    const result = await client.revokeKey(current.id);
    // Assess
    assert.equal(result, 'revoked');
    assert.ok(!sandbox.accepts(current.value));
  });

  it('answers a 429 with X-RateLimit-Reset in seconds until the reset, and no Retry-After', async () => {
    // Prepare
    sandbox.injectFault({ status: 429, times: 1, retryAfterSeconds: 10 });
    // Act
    const res = await fetch(new URL('/api/v1/validate', sandbox.url), {
      headers: { 'dd-api-key': admin.value },
    });
    await res.body?.cancel();
    // Assess
    assert.equal(res.status, 429);
    assert.equal(res.headers.get('x-ratelimit-reset'), '10');
    assert.equal(res.headers.get('retry-after'), null);
  });

  it('waits the seconds X-RateLimit-Reset counts down (10 s), not until an epoch time long past', async () => {
    // Prepare
    const { client, waits } = connectToSandbox(datadog, sandbox, document(), logs, { attempts: 2 });
    sandbox.injectFault({ status: 429, times: 1, retryAfterSeconds: 10 });
    // Act
    const found = await client.findKeysByName('checkout-service');
    // Assess
    assert.deepEqual(waits, [10_000], 'one wait of the 10 s Datadog asked for');
    assert.deepEqual(
      found.map((k) => k.id),
      [current.id],
    );
  });

  for (const [site, origin] of [
    ['uk1.datadoghq.com', 'https://api.uk1.datadoghq.com'],
    ['us2.ddog-gov.com', 'https://api.us2.ddog-gov.com'],
  ] as const) {
    it(`reaches the documented ${site} site at ${origin}`, async () => {
      // Prepare
      const { client, origins } = connectToSandbox(datadog, sandbox, document(undefined, site), logs, {
        publicUrl: true,
      });
      // Act
      const verdict = await client.validateKey(current);
      // Assess
      assert.equal(verdict, 'accepted');
      assert.deepEqual(origins, [origin]);
    });
  }
});
