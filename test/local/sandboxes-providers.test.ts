import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { ManualClock } from '../../local/clock.js';
import { CLOUDFLARE_TOKEN_ADMIN_GROUPS, CloudflareSandbox } from '../../local/sandboxes/cloudflare.js';
import { DATADOG_MAX_API_KEYS, DatadogSandbox } from '../../local/sandboxes/datadog.js';
import { HttpKeysSandbox } from '../../local/sandboxes/http-keys.js';
import { OpenAiSandbox } from '../../local/sandboxes/openai.js';
import type { ProviderSandbox } from '../../local/sandboxes/sandbox.js';
import { TwilioSandbox } from '../../local/sandboxes/twilio.js';

/** Sandbox behaviours the providers document beyond what the shared contract suite exercises. */
const started: ProviderSandbox[] = [];
async function start<S extends ProviderSandbox>(sandbox: S): Promise<S> {
  await sandbox.start();
  started.push(sandbox);
  return sandbox;
}
afterEach(async () => {
  await Promise.all(started.splice(0).map((s) => s.stop()));
});

async function call(
  sandbox: ProviderSandbox,
  path: string,
  init: RequestInit = {},
): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(new URL(path, sandbox.url), init);
  const text = await res.text();
  return { status: res.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}
const basic = (user: string, password: string) =>
  `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
const form = (fields: Record<string, string>) => ({
  'content-type': 'application/x-www-form-urlencoded',
  body: new URLSearchParams(fields).toString(),
});

describe('Twilio sandbox', () => {
  it('lets a restricted key do only what its policy allows (403, not 401, outside it)', async () => {
    // Prepare
    const twilio = await start(new TwilioSandbox());
    const readOnly = twilio.seedKey('reader', 'restricted', { allow: ['/twilio/messaging/messages/read'] });
    const { body, ...headers } = form({ To: '+15005550006', Body: 'hi' });
    // Act
    const res = await call(twilio, `/2010-04-01/Accounts/${twilio.accountSid}/Messages.json`, {
      method: 'POST',
      headers: { authorization: basic(readOnly.id, readOnly.value), ...headers },
      body,
    });
    // Assess
    assert.equal(res.status, 403);
    assert.equal(res.body.code, 20403);
  });

  it('shows a key secret only in the create answer', async () => {
    // Prepare
    const twilio = await start(new TwilioSandbox());
    const main = twilio.seedKey('rotator', 'main');
    const auth = { authorization: basic(main.id, main.value) };
    const { body, ...headers } = form({ AccountSid: twilio.accountSid, FriendlyName: 'app' });
    // Act
    const created = await call(twilio, '/v1/Keys', {
      method: 'POST',
      headers: { ...auth, ...headers },
      body,
    });
    const fetched = await call(twilio, `/v1/Keys/${String(created.body.sid)}`, { headers: auth });
    // Assess
    assert.equal(created.status, 201);
    assert.equal(typeof created.body.secret, 'string');
    assert.equal(fetched.status, 200);
    assert.equal('secret' in fetched.body, false);
  });

  it('pages the key list and links the next page', async () => {
    // Prepare
    const twilio = await start(new TwilioSandbox());
    const main = twilio.seedKey('rotator', 'main');
    for (let i = 0; i < 5; i++) twilio.seedKey(`k${i}`, 'standard');
    // Act
    const first = await call(twilio, `/v1/Keys?AccountSid=${twilio.accountSid}&PageSize=4`, {
      headers: { authorization: basic(main.id, main.value) },
    });
    // Assess
    assert.equal((first.body.keys as unknown[]).length, 4);
    assert.match(String((first.body.meta as { next_page_url: string }).next_page_url), /Page=1/);
  });
});

describe('Datadog sandbox', () => {
  it('returns a key value and its last use by id, and stamps a use on intake', async () => {
    // Prepare
    const clock = new ManualClock(new Date('2026-05-01T00:00:00Z'));
    const datadog = await start(new DatadogSandbox(clock));
    const admin = datadog.seedApiKey('rotator');
    const appKey = datadog.seedApplicationKey();
    const app = datadog.seedApiKey('app');
    const headers = { 'dd-api-key': admin.value, 'dd-application-key': appKey };
    // Act
    const before = await call(datadog, `/api/v2/api_keys/${app.id}`, { headers });
    await call(datadog, '/api/v2/series', {
      method: 'POST',
      headers: { 'dd-api-key': app.value },
      body: '{}',
    });
    const after = await call(datadog, `/api/v2/api_keys/${app.id}`, { headers });
    // Assess
    const attributes = (res: typeof before) =>
      (res.body.data as { attributes: Record<string, unknown> }).attributes;
    assert.equal(attributes(before).key, app.value);
    assert.equal(attributes(before).date_last_used, null);
    assert.equal(attributes(after).date_last_used, '2026-05-01T00:00:00.000Z');
  });

  it(`refuses the ${DATADOG_MAX_API_KEYS + 1}st API key`, async () => {
    // Prepare
    const datadog = await start(new DatadogSandbox());
    const admin = datadog.seedApiKey('rotator');
    const appKey = datadog.seedApplicationKey();
    for (let i = 1; i < DATADOG_MAX_API_KEYS; i++) datadog.seedApiKey(`k${i}`);
    // Act
    const res = await call(datadog, '/api/v2/api_keys', {
      method: 'POST',
      headers: {
        'dd-api-key': admin.value,
        'dd-application-key': appKey,
        'content-type': 'application/json',
      },
      body: JSON.stringify({ data: { type: 'api_keys', attributes: { name: 'one-too-many' } } }),
    });
    // Assess
    assert.equal(res.status, 403);
    assert.equal(datadog.listKeys().length, DATADOG_MAX_API_KEYS);
  });

  it('refuses key management to an application key without api_keys_write', async () => {
    // Prepare
    const datadog = await start(new DatadogSandbox());
    const admin = datadog.seedApiKey('rotator');
    const readOnly = datadog.seedApplicationKey(['api_keys_read']);
    // Act
    const res = await call(datadog, `/api/v2/api_keys/${admin.id}`, {
      method: 'DELETE',
      headers: { 'dd-api-key': admin.value, 'dd-application-key': readOnly },
    });
    // Assess
    assert.equal(res.status, 403);
    assert.ok(datadog.accepts(admin.value));
  });
});

describe('Cloudflare sandbox', () => {
  it('verifies a token only at its owner’s endpoint', async () => {
    // Prepare
    const cloudflare = await start(new CloudflareSandbox());
    const accountToken = cloudflare.seedToken(
      'svc',
      [{ effect: 'allow', resources: {}, permission_groups: [{ id: 'x' }] }],
      cloudflare.accountId,
    );
    const auth = { authorization: `Bearer ${accountToken.value}` };
    // Act
    const atAccount = await call(cloudflare, `/client/v4/accounts/${cloudflare.accountId}/tokens/verify`, {
      headers: auth,
    });
    const atUser = await call(cloudflare, '/client/v4/user/tokens/verify', { headers: auth });
    // Assess
    assert.equal(atAccount.status, 200);
    assert.deepEqual(atAccount.body.result, { id: accountToken.id, status: 'active' });
    assert.equal(atUser.status, 401);
  });

  it('never returns a token value after creation', async () => {
    // Prepare
    const cloudflare = await start(new CloudflareSandbox());
    const admin = cloudflare.seedToken('rotator', [
      { effect: 'allow', resources: {}, permission_groups: [CLOUDFLARE_TOKEN_ADMIN_GROUPS.user] },
    ]);
    const auth = { authorization: `Bearer ${admin.value}` };
    // Act
    const got = await call(cloudflare, `/client/v4/user/tokens/${admin.id}`, { headers: auth });
    const listed = await call(cloudflare, '/client/v4/user/tokens', { headers: auth });
    // Assess
    assert.equal('value' in (got.body.result as object), false);
    assert.ok((listed.body.result as object[]).every((t) => !('value' in t)));
  });
});

describe('OpenAI sandbox', () => {
  it('pages admin keys with after/has_more and shows values only at creation', async () => {
    // Prepare
    const openai = await start(new OpenAiSandbox());
    const admin = openai.seedAdminKey('rotator');
    for (let i = 0; i < 3; i++) openai.seedAdminKey(`k${i}`);
    const auth = { authorization: `Bearer ${admin.value}` };
    // Act
    const first = await call(openai, '/v1/organization/admin_api_keys?limit=2', { headers: auth });
    const second = await call(
      openai,
      `/v1/organization/admin_api_keys?limit=2&after=${String(first.body.last_id)}`,
      { headers: auth },
    );
    // Assess
    assert.equal(first.body.has_more, true);
    assert.equal(second.body.has_more, false);
    assert.equal((second.body.data as unknown[]).length, 2);
    assert.ok(
      [...(first.body.data as object[]), ...(second.body.data as object[])].every((k) => !('value' in k)),
    );
  });
});

describe('in-house key service sandbox (generic HTTP provider)', () => {
  it('stops authenticating a disabled key and deletes it only once disabled', async () => {
    // Prepare
    const gateway = await start(new HttpKeysSandbox({ requireDisableBeforeDelete: true }));
    const key = gateway.seedKey('svc', ['read']);
    const admin = { authorization: `Bearer ${gateway.adminToken}` };
    // Act
    const early = await call(gateway, `/admin/keys/${key.id}`, { method: 'DELETE', headers: admin });
    const disabled = await call(gateway, `/admin/keys/${key.id}/disable`, { method: 'POST', headers: admin });
    const whoami = await call(gateway, '/v1/whoami', { headers: { 'x-api-key': key.value } });
    const deleted = await call(gateway, `/admin/keys/${key.id}`, { method: 'DELETE', headers: admin });
    // Assess
    assert.equal(early.status, 409);
    assert.equal(disabled.status, 200);
    assert.equal(whoami.status, 401);
    assert.equal(deleted.status, 204);
    assert.deepEqual(gateway.listKeys(), []);
  });
});
