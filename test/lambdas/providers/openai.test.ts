import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import {
  ProviderBadResponseError,
  ProviderNotFoundError,
  ProviderRejectedError,
} from '../../../lambdas/errors.js';
import { openai } from '../../../lambdas/providers/openai.js';
import { OpenAiSandbox } from '../../../local/sandboxes/openai.js';
import type { SandboxRequest, SandboxResponse } from '../../../local/sandboxes/sandbox.js';
import { rejection } from '../../support/assertions.js';
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

/** A sandbox whose create answers without `api_key` (as with create_service_account_only), or whose listing repeats its cursor. */
class OddOpenAiSandbox extends OpenAiSandbox {
  keylessCreate = false;
  loopingList = false;
  protected override route(req: SandboxRequest): SandboxResponse {
    const res = super.route(req);
    const body = res.body as Record<string, unknown> | undefined;
    if (this.keylessCreate && req.method === 'POST' && req.path.endsWith('/service_accounts') && body)
      delete body.api_key;
    if (this.loopingList && req.method === 'GET' && req.path.endsWith('/service_accounts') && body)
      Object.assign(body, { has_more: true, last_id: 'svc_acct_same' });
    return res;
  }
}

describe('OpenAI adapter in project mode (options.projectId): service accounts and their project API keys', () => {
  let sandbox: OddOpenAiSandbox;
  let connected: SandboxClient;
  let projectId: string;
  const logs = new CapturedLogs();

  beforeEach(async () => {
    sandbox = new OddOpenAiSandbox();
    await sandbox.start();
    const admin = sandbox.seedAdminKey('rekey-rotator');
    projectId = sandbox.seedProject('production');
    connected = connectToSandbox(
      openai,
      sandbox,
      { credential: { adminKey: admin.value }, options: { projectId } },
      logs,
    );
  });
  afterEach(async () => {
    assert.deepEqual(logs.leaks(sandbox.issuedSecrets()), [], 'no secret in any log line');
    await sandbox.stop();
  });

  it("OpenAI: rotates a project service account's key (issue 14)", async () => {
    // Prepare: the app's key is a service account's; a member's own key and a keyless account sit beside it
    const old = sandbox.seedServiceAccount(projectId, 'billing-service');
    sandbox.seedUserProjectKey(projectId, 'alice-laptop');
    sandbox.seedServiceAccount(projectId, 'rekey-prod-openai-v2', { withKey: false });
    const { client } = connected;
    // Act
    const created = await client.createKey({ name: 'rekey-prod-openai-v3', likeKeyId: old.id });
    const found = await client.findKeysByName('rekey-prod-openai-v3');
    const unused = await client.lastUsed?.(created.id);
    const verdict = await client.validateKey(created);
    const used = await client.lastUsed?.(created.id);
    const revoked = await client.revokeKey(old.id);
    const again = await client.revokeKey(old.id);
    // Assess
    assert.match(created.id, /^svc_acct_/, 'the key id is the service account id');
    assert.ok(created.value.startsWith('sk-svcacct-'));
    assert.deepEqual(found, [{ id: created.id, name: 'rekey-prod-openai-v3' }]);
    assert.equal(verdict, 'accepted');
    assert.equal(unused, null);
    assert.ok(used instanceof Date, 'the validation call is a use of the new key');
    assert.deepEqual([revoked, again], ['revoked', 'already-gone']);
    assert.equal(sandbox.accepts(old.value), false, 'deleting the service account revoked its key');
    assert.equal(await client.validateKey(old), 'rejected');
    assert.deepEqual(
      sandbox
        .listServiceAccounts(projectId)
        .map((a) => a.name)
        .sort(),
      ['rekey-prod-openai-v2', 'rekey-prod-openai-v3'],
    );
  });

  it('reads the last use of the key the service account owns, past a member’s key and the first page', async () => {
    // Prepare
    for (let i = 0; i < 120; i++) sandbox.seedUserProjectKey(projectId, `member-${i}`);
    const account = sandbox.seedServiceAccount(projectId, 'billing-service');
    // Act
    const before = await connected.client.lastUsed?.(account.id);
    await fetch(new URL('/v1/models', sandbox.url), {
      headers: { authorization: `Bearer ${account.value}` },
    });
    const after = await connected.client.lastUsed?.(account.id);
    // Assess
    assert.equal(before, null);
    assert.ok(after instanceof Date && Math.abs(after.getTime() - Date.now()) < 5000);
  });

  it('reports a service account with no key listed as gone (ProviderNotFoundError), not as never used', async () => {
    // Prepare
    const account = sandbox.seedServiceAccount(projectId, 'old-service');
    sandbox.deleteServiceAccount(projectId, account.id);
    // Act
    const error = await rejection(connected.client.lastUsed!(account.id));
    // Assess
    assert.ok(error instanceof ProviderNotFoundError, `got ${error.name}: ${error.message}`);
    assert.match(error.message, new RegExp(account.id));
  });

  it('takes a create answered without api_key for a bad response and deletes the keyless service account', async () => {
    // Prepare
    sandbox.keylessCreate = true;
    // Act
    const error = await rejection(connected.client.createKey({ name: 'rekey-x', likeKeyId: 'svc_acct_1' }));
    // Assess
    assert.ok(error instanceof ProviderBadResponseError, `got ${error.name}: ${error.message}`);
    assert.match(error.message, /without api_key/);
    assert.match(error.message, /deleted \(revoked\)/);
    for (const secret of sandbox.issuedSecrets()) assert.ok(!error.message.includes(secret));
    assert.deepEqual(sandbox.listServiceAccounts(projectId), []);
  });

  it('refuses a service-account listing that repeats its cursor instead of paging forever', async () => {
    // Prepare
    sandbox.seedServiceAccount(projectId, 'billing-service');
    sandbox.loopingList = true;
    // Act
    const error = await rejection(connected.client.findKeysByName('rekey-x'));
    // Assess
    assert.ok(error instanceof ProviderBadResponseError, `got ${error.name}: ${error.message}`);
    assert.match(error.message, /does not advance/);
  });

  it('does not take a 403 from GET /v1/models (an unsupported region) for a verdict on the key', async () => {
    // Prepare
    const account = sandbox.seedServiceAccount(projectId, 'billing-service');
    sandbox.injectFault({ status: 403, times: 1, match: (req) => req.path === '/v1/models' });
    // Act
    const error = await rejection(connected.client.validateKey(account));
    // Assess
    assert.ok(error instanceof ProviderRejectedError, `got ${error.name}: ${error.message}`);
    assert.match(error.message, /says nothing about the key/);
  });

  it('refuses an archived project and an unknown one with errors naming the fix', async () => {
    // Prepare
    const archived = sandbox.seedProject('old', { archived: true });
    const admin = sandbox.seedAdminKey('rotator-2');
    const on = (id: string) =>
      connectToSandbox(
        openai,
        sandbox,
        { credential: { adminKey: admin.value }, options: { projectId: id } },
        logs,
      ).client;
    // Act
    const archivedError = await rejection(on(archived).findKeysByName('x'));
    const unknownError = await rejection(on('proj_doesnotexist').findKeysByName('x'));
    // Assess
    assert.ok(archivedError instanceof ProviderRejectedError && archivedError.status === 400);
    assert.match(archivedError.message, /archived/);
    assert.ok(unknownError instanceof ProviderRejectedError && unknownError.status === 404);
    assert.match(unknownError.message, /options\.projectId/);
  });

  it('refuses an options.projectId that is not an OpenAI project id', () => {
    // Act
    const parsed = openai.optionsSchema.safeParse({ projectId: 'production' });
    // Assess
    assert.equal(parsed.success, false);
    assert.match(parsed.error!.issues[0]!.message, /proj_/);
    assert.deepEqual(openai.optionsSchema.parse({}), {}, 'without projectId: admin keys, as before');
  });
});
