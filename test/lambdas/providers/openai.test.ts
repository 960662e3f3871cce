import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { openai } from '../../../lambdas/providers/openai.js';
import { OpenAiSandbox } from '../../../local/sandboxes/openai.js';
import { CapturedLogs } from '../../support/env.js';
import { connectToSandbox, type SandboxClient } from './sandbox-client.js';

/** OpenAI admin API keys as openai-openapi describes them (AdminApiKey, list-admin-api-keys). */
describe('OpenAI adapter against the documented API', () => {
  let sandbox: OpenAiSandbox;
  let connected: SandboxClient;
  let admin: { id: string; value: string };
  const logs = new CapturedLogs();

  beforeEach(async () => {
    sandbox = new OpenAiSandbox();
    await sandbox.start();
    admin = sandbox.seedAdminKey('rekey-rotator');
    connected = connectToSandbox(
      openai,
      sandbox,
      { credential: { adminKey: admin.value }, options: {} },
      logs,
    );
  });
  afterEach(async () => {
    assert.deepEqual(logs.leaks(sandbox.issuedSecrets()), [], 'no secret in any log line');
    await sandbox.stop();
  });

  it('returns every key with expires_at (null when it never expires) and null for an unnamed key’s name', async () => {
    // Prepare
    const unnamed = sandbox.seedAdminKey(null);
    const expiring = sandbox.seedAdminKey('nightly-export', new Date('2099-01-01T00:00:00Z'));
    // Act
    const res = await fetch(new URL('/v1/organization/admin_api_keys?limit=10', sandbox.url), {
      headers: { authorization: `Bearer ${admin.value}` },
    });
    const listed = ((await res.json()) as { data: Array<Record<string, unknown>> }).data;
    // Assess
    const byId = new Map(listed.map((k) => [k.id, k]));
    assert.equal(byId.get(unnamed.id)?.name, null);
    assert.equal(byId.get(unnamed.id)?.expires_at, null);
    assert.equal(byId.get(expiring.id)?.expires_at, Date.parse('2099-01-01T00:00:00Z') / 1000);
  });

  it('lists past an unnamed admin key, which never matches a rekey name', async () => {
    // Prepare
    sandbox.seedAdminKey(null);
    const crashed = sandbox.seedAdminKey('rekey-prod-openai-v2');
    // Act
    const found = await connected.client.findKeysByName('rekey-prod-openai-v2');
    const none = await connected.client.findKeysByName('');
    // Assess
    assert.deepEqual(found, [{ id: crashed.id, name: 'rekey-prod-openai-v2' }]);
    assert.deepEqual(none, []);
  });

  it('reads the last use of a key that has a name of null', async () => {
    // Prepare
    const unnamed = sandbox.seedAdminKey(null);
    // Act
    const lastUsed = await connected.client.lastUsed?.(unnamed.id);
    // Assess
    assert.equal(lastUsed, null);
  });
});
