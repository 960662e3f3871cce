import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { cloudflare } from '../../../lambdas/providers/cloudflare.js';
import {
  CLOUDFLARE_TOKEN_ADMIN_GROUPS,
  type CloudflarePolicy,
  CloudflareSandbox,
} from '../../../local/sandboxes/cloudflare.js';
import { CapturedLogs } from '../../support/env.js';
import { connectToSandbox, type SandboxClient } from './sandbox-client.js';

const DNS_WRITE: CloudflarePolicy[] = [
  {
    effect: 'allow',
    resources: { 'com.cloudflare.api.account.zone.22b1de5f1c0e4b3ea97bb1e963b06a43': '*' },
    permission_groups: [{ id: '4755a26eedb94da69e1066d98aa820be', name: 'DNS Write' }],
  },
];

/** Cloudflare account-owned API tokens as cloudflare/api-schemas describes them (list, create, verify). */
describe('Cloudflare adapter against the documented API', () => {
  let sandbox: CloudflareSandbox;
  let admin: { id: string; value: string };
  let connected: SandboxClient;
  const logs = new CapturedLogs();
  const tokens = () => `/client/v4/accounts/${sandbox.accountId}/tokens`;
  const seed = (count: number) => {
    for (let i = 0; i < count; i++) sandbox.seedToken(`other-team-${i}`, DNS_WRITE, sandbox.accountId);
  };

  beforeEach(async () => {
    sandbox = new CloudflareSandbox();
    await sandbox.start();
    admin = sandbox.seedToken(
      'rekey-rotator',
      [{ effect: 'allow', resources: {}, permission_groups: [CLOUDFLARE_TOKEN_ADMIN_GROUPS.account] }],
      sandbox.accountId,
    );
    connected = connectToSandbox(
      cloudflare,
      sandbox,
      { credential: { apiToken: admin.value }, options: { accountId: sandbox.accountId } },
      logs,
    );
  });
  afterEach(async () => {
    assert.deepEqual(logs.leaks(sandbox.issuedSecrets()), [], 'no secret in any log line');
    await sandbox.stop();
  });

  it('describes a list page with count, page, per_page and total_count, and no total_pages', async () => {
    // Prepare
    seed(60);
    // Act
    const res = await fetch(new URL(`${tokens()}?page=2&per_page=50`, sandbox.url), {
      headers: { authorization: `Bearer ${admin.value}` },
    });
    const body = (await res.json()) as { result: unknown[]; result_info: Record<string, unknown> };
    // Assess
    assert.deepEqual(body.result_info, { page: 2, per_page: 50, count: 11, total_count: 61 });
    assert.equal(body.result.length, 11);
  });

  it('finds a crashed attempt’s token past the first page of 50, paging by total_count', async () => {
    // Prepare
    seed(70);
    const crashed = sandbox.seedToken('rekey-prod-cloudflare-v2', DNS_WRITE, sandbox.accountId);
    // Act
    const found = await connected.client.findKeysByName('rekey-prod-cloudflare-v2');
    // Assess
    assert.deepEqual(found, [{ id: crashed.id, name: 'rekey-prod-cloudflare-v2' }]);
    assert.equal(sandbox.requests.filter((r) => r.method === 'GET').length, 2);
  });

  it('ends the listing at total_count without asking for an empty page', async () => {
    // Prepare: the rotator's token and 49 others fill exactly one page.
    seed(49);
    // Act
    const found = await connected.client.findKeysByName('rekey-prod-cloudflare-v2');
    // Assess
    assert.deepEqual(found, []);
    assert.equal(sandbox.requests.length, 1);
  });

  it('gives the replacement the current token’s not_before and expires_on, so it cannot outlive it', async () => {
    // Prepare
    const window = { not_before: '2026-01-01T00:00:00Z', expires_on: '2099-06-30T00:00:00Z' };
    const current = sandbox.seedToken('dns-updater', DNS_WRITE, sandbox.accountId, undefined, window);
    // Act
    const created = await connected.client.createKey({ name: 'rekey-dns-v2', likeKeyId: current.id });
    // Assess
    assert.deepEqual(sandbox.listTokens().find((t) => t.id === created.id)?.window, window);
    assert.equal(await connected.client.validateKey(created), 'accepted');
  });

  it('rejects a token past its expires_on, which still verifies with status "expired"', async () => {
    // Prepare
    const expired = sandbox.seedToken('dns-updater', DNS_WRITE, sandbox.accountId, undefined, {
      expires_on: '2020-01-01T00:00:00Z',
    });
    // Act
    const verdict = await connected.client.validateKey(expired);
    // Assess
    assert.equal(verdict, 'rejected');
  });
});
