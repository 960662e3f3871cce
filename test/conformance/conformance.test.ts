import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { cloudflare } from '../../lambdas/providers/cloudflare.js';
import { DATADOG_MAX_KEYS, DATADOG_ROTATOR_PERMISSIONS, datadog } from '../../lambdas/providers/datadog.js';
import { http } from '../../lambdas/providers/generic-http.js';
import { openai } from '../../lambdas/providers/openai.js';
import { SENDGRID_MAX_KEYS, SendGridScopesUnknownError, sendgrid } from '../../lambdas/providers/sendgrid.js';
import { stripe } from '../../lambdas/providers/stripe.js';
import { twilio } from '../../lambdas/providers/twilio.js';
import { type KeyMaterial, maxActiveKeysOf, type ProviderClient } from '../../lambdas/providers/types.js';
import { ManualClock } from '../../local/clock.js';
import { INTERNAL_GATEWAY_DESCRIPTION } from '../../local/rehearsal/providers.js';
import {
  CLOUDFLARE_ACCOUNT_TOKEN_QUOTA,
  CLOUDFLARE_TOKEN_ADMIN_GROUPS,
  CLOUDFLARE_USER_TOKEN_QUOTA,
  type CloudflarePolicy,
  CloudflareSandbox,
} from '../../local/sandboxes/cloudflare.js';
import {
  DATADOG_KEY_ADMIN_PERMISSIONS,
  DATADOG_MAX_API_KEYS,
  DatadogSandbox,
} from '../../local/sandboxes/datadog.js';
import { HttpKeysSandbox } from '../../local/sandboxes/http-keys.js';
import { OpenAiSandbox } from '../../local/sandboxes/openai.js';
import type { ProviderSandbox, SandboxRequest, SandboxResponse } from '../../local/sandboxes/sandbox.js';
import { SENDGRID_ADMIN_SCOPES, SendGridSandbox } from '../../local/sandboxes/sendgrid.js';
import { StripeSandbox } from '../../local/sandboxes/stripe.js';
import { TwilioSandbox } from '../../local/sandboxes/twilio.js';
import { rejection } from '../support/assertions.js';
import { CapturedLogs } from '../support/env.js';
import { ConformanceReport, checkRecording, type RecordedEvent } from './check.js';
import { cloudflareFacts } from './facts/cloudflare.js';
import { datadogFacts, datadogPermissions } from './facts/datadog.js';
import { httpFacts } from './facts/http.js';
import { openaiFacts } from './facts/openai.js';
import { sendgridFacts } from './facts/sendgrid.js';
import { stripeFacts } from './facts/stripe.js';
import { twilioFacts } from './facts/twilio.js';
import type { ProviderFacts } from './facts/types.js';
import { Recorder } from './record.js';

/** The sandbox clocks' instant, to the second. */
const NOW = new Date('2026-05-01T12:00:00Z');
const logs = new CapturedLogs();
const sandboxes: ProviderSandbox[] = [];
after(async () => {
  for (const sandbox of sandboxes) await sandbox.stop();
});
async function started<S extends ProviderSandbox>(sandbox: S): Promise<S> {
  await sandbox.start();
  sandboxes.push(sandbox);
  return sandbox;
}
/** The same key id with a secret the provider never issued. */
const forged = (key: KeyMaterial): KeyMaterial => ({
  id: key.id,
  value: `${key.value.slice(0, -1)}${key.value.at(-1) === 'a' ? 'b' : 'a'}`,
});

/**
 * The contract flows every key-managing adapter goes through: create, find, validate, check key ids (where the
 * adapter can: the current key's own, another key's, and an unknown one), revoke twice.
 */
async function keyLifecycle(client: ProviderClient, current: KeyMaterial, name: string): Promise<void> {
  const created = await client.createKey({ name, likeKeyId: current.id });
  assert.deepEqual(
    (await client.findKeysByName(name)).map((k) => k.id),
    [created.id],
  );
  assert.deepEqual(await client.findKeysByName(`${name}-absent`), []);
  assert.equal(await client.validateKey(current), 'accepted');
  assert.equal(await client.validateKey(created), 'accepted');
  assert.equal(await client.validateKey(forged(current)), 'rejected');
  const withCreatedId = { id: created.id, value: current.value };
  if (client.identifies) {
    assert.notEqual((await client.identifies(current)).verdict, 'differs');
    assert.notEqual((await client.identifies(withCreatedId)).verdict, 'matches');
  }
  assert.equal(await client.revokeKey(created.id), 'revoked');
  assert.equal(await client.revokeKey(created.id), 'already-gone');
  assert.equal(await client.validateKey(created), 'rejected');
  if (client.identifies) assert.equal((await client.identifies(withCreatedId)).verdict, 'differs');
}

/** Checks a run's recording, prints the count, and fails on any violation or unexercised operation. */
function assertConforms(facts: ProviderFacts, recorder: Recorder, report = new ConformanceReport(facts)) {
  checkRecording(facts, recorder.events, report);
  console.log(report.summary());
  const { neverNull, neverAbsent } = report.happyShape();
  if (process.env.CONFORMANCE_VERBOSE) {
    console.log(`  nullable, never null: ${neverNull.join(', ') || '—'}`);
    console.log(`  optional, never absent: ${neverAbsent.join(', ') || '—'}`);
    console.log(`  checked: ${[...report.checked].sort().join(' ')}`);
  }
  assert.deepEqual(
    report.violations.map((v) => `${v.fact}: ${v.message}`),
    [],
    `${facts.provider}: facts violated`,
  );
  assert.deepEqual(report.unexercised(), [], `${facts.provider}: operations no flow exercised`);
  assert.deepEqual(logs.leaks(sandboxes.flatMap((s) => s.issuedSecrets())), [], 'no secret in any log line');
  return report;
}

const DNS_WRITE: CloudflarePolicy[] = [
  {
    effect: 'allow',
    resources: { 'com.cloudflare.api.account.zone.22b1de5f1c0e4b3ea97bb1e963b06a43': '*' },
    permission_groups: [{ id: '4755a26eedb94da69e1066d98aa820be', name: 'DNS Write' }],
  },
];

const HTTP_DOCUMENT = {
  ...INTERNAL_GATEWAY_DESCRIPTION,
  description: 'in-house key service',
  maxActiveKeys: 3,
};

describe('conformance: each adapter and its sandbox against the provider’s published API description', () => {
  it('SendGrid (twilio/sendgrid-oai)', async () => {
    const recorder = new Recorder(logs);
    const sandbox = await started(new SendGridSandbox({ retryAfter: false }));
    const admin = sandbox.seedKey('rekey-rotator', SENDGRID_ADMIN_SCOPES);
    const current = sandbox.seedKey('notification-service', ['mail.send']);
    const document = { credential: { apiKey: admin.value }, options: {} };
    const client = recorder.connect(sendgrid, sandbox, document);
    await keyLifecycle(client, current, 'rekey-conformance-1');
    assert.deepEqual(await client.describePermissions?.(current.id), ['mail.send']);
    // A key made in the UI whose GET carries no scopes (GetApiKey's scopes are optional): refused, not copied.
    const unscoped = sandbox.seedKey('legacy-service', ['mail.send'], { scopesShown: false });
    assert.ok(
      (await rejection(client.createKey({ name: 'rekey-x', likeKeyId: unscoped.id }))) instanceof
        SendGridScopesUnknownError,
    );
    // Errors: an unknown admin key (401), a 429 with SendGrid's documented X-RateLimit-* headers only.
    await rejection(
      recorder
        .connect(sendgrid, sandbox, { credential: { apiKey: 'SG.unknown.key' }, options: {} })
        .findKeysByName('x'),
    );
    sandbox.injectFault({ status: 429, times: 1, retryAfterSeconds: 3 });
    assert.deepEqual(await client.findKeysByName('rekey-absent'), []);
    // Permissions: an admin key without api_keys.delete is refused the delete (403).
    const noDelete = sandbox.seedKey(
      'rotator-no-delete',
      SENDGRID_ADMIN_SCOPES.filter((s) => s !== 'api_keys.delete'),
    );
    await rejection(
      recorder
        .connect(sendgrid, sandbox, { credential: { apiKey: noDelete.value }, options: {} })
        .revokeKey(current.id),
    );

    const report = new ConformanceReport(sendgridFacts);
    const cap = sendgridFacts.keyCaps![0]!;
    report.fact(
      'keyCap:adapter',
      SENDGRID_MAX_KEYS === cap.max,
      () => `adapter declares ${SENDGRID_MAX_KEYS}, ${cap.what}: ${cap.max}`,
    );
    for (let i = sandbox.listKeys().length; i < cap.max; i++) sandbox.seedKey(`filler-${i}`, ['mail.send']);
    await rejection(client.createKey({ name: 'rekey-over-cap', likeKeyId: current.id }));
    const overCap = recorder.events.at(-1);
    report.fact(
      'keyCap:sandbox',
      overCap?.kind === 'exchange' && overCap.response.status === 403,
      () => 'a create past the cap is not answered 403',
    );
    const deleteDenied = recorder.events.find(
      (e) =>
        e.kind === 'exchange' &&
        e.request.method === 'DELETE' &&
        e.request.headers.authorization === `Bearer ${noDelete.value}`,
    );
    report.fact(
      'DeleteApiKey:permissions',
      deleteDenied?.kind === 'exchange' && deleteDenied.response.status === 403,
      () => 'a delete without api_keys.delete was not refused',
    );
    assertConforms(sendgridFacts, recorder, report);
  });

  it('Twilio (twilio/twilio-oai)', async () => {
    const recorder = new Recorder(logs);
    const sandbox = await started(new TwilioSandbox(new ManualClock(NOW)));
    const admin = sandbox.seedKey('rekey-rotator', 'main');
    const current = sandbox.seedKey('notification-service', 'restricted', {
      allow: ['/twilio/messaging/messages/create'],
    });
    const document = {
      credential: { sid: admin.id, secret: admin.value },
      options: { accountSid: sandbox.accountSid },
    };
    const client = recorder.connect(twilio, sandbox, document);
    // Keys the adapter did not create, past the first page of 1000: unnamed and standard ones.
    for (let i = 0; i < 1000; i++) sandbox.seedKey(i % 10 === 0 ? null : `other-${i}`, 'standard');
    await keyLifecycle(client, current, 'rekey-conformance-1');
    // A standard key (policy null) is copied as a standard key.
    const plain = sandbox.seedKey(null, 'standard');
    const copy = await client.createKey({ name: 'rekey-conformance-2', likeKeyId: plain.id });
    assert.equal(sandbox.listKeys().find((k) => k.id === copy.id)?.type, 'standard');
    // A subaccount: no balance information, so validation reads the account itself.
    const sub = await started(new TwilioSandbox(new ManualClock(NOW), { subaccount: true }));
    const subAdmin = sub.seedKey('rekey-rotator', 'main');
    const subKey = sub.seedKey('app', 'standard');
    const subClient = recorder.connect(twilio, sub, {
      credential: { sid: subAdmin.id, secret: subAdmin.value },
      options: { accountSid: sub.accountSid },
    });
    assert.equal(await subClient.validateKey(subKey), 'accepted');
    // Errors: a standard key managing keys (401), a 429.
    const standard = sandbox.seedKey('reporting', 'standard');
    await rejection(
      recorder
        .connect(twilio, sandbox, { ...document, credential: { sid: standard.id, secret: standard.value } })
        .revokeKey(current.id),
    );
    sandbox.injectFault({ status: 429, times: 1, retryAfterSeconds: 1 });
    assert.equal(await client.revokeKey('SK00000000000000000000000000000000'), 'already-gone');
    assertConforms(twilioFacts, recorder);
  });

  it('Datadog (DataDog/datadog-api-client-typescript .generator/schemas)', async () => {
    const recorder = new Recorder(logs);
    const clock = new ManualClock(NOW);
    const sandbox = await started(new DatadogSandbox(clock));
    const admin = sandbox.seedApiKey('rekey-rotator');
    const appKey = sandbox.seedApplicationKey(DATADOG_KEY_ADMIN_PERMISSIONS);
    const current = sandbox.seedApiKey('agent-prod', true);
    const document = { credential: { apiKey: admin.value, applicationKey: appKey }, options: {} };
    const client = recorder.connect(datadog, sandbox, document);
    await keyLifecycle(client, current, 'rekey-conformance-1');
    // A key whose GetAPIKey answers last4 but not key (both optional in FullAPIKeyAttributes): last4 decides.
    const unshown = sandbox.seedApiKey('legacy-agent', false, { keyShown: false });
    assert.deepEqual(await client.identifies?.(unshown), { verdict: 'matches' });
    assert.equal((await client.identifies?.(forged(unshown)))?.verdict, 'differs');
    assert.equal(await client.lastUsed?.(current.id), null);
    await fetch(new URL('/api/v2/series', sandbox.url), {
      method: 'POST',
      headers: { 'dd-api-key': current.value },
    });
    assert.deepEqual(await client.lastUsed?.(current.id), NOW);
    // Errors: a 429 whose X-RateLimit-Reset (seconds until the reset) is 10 — the adapter waits 10 s.
    sandbox.injectFault({ status: 429, times: 1, retryAfterSeconds: 10 });
    assert.deepEqual(await client.findKeysByName('rekey-absent'), []);
    // Permissions: without api_keys_delete the delete is refused (403).
    const noDelete = sandbox.seedApplicationKey(
      DATADOG_KEY_ADMIN_PERMISSIONS.filter((p) => p !== 'api_keys_delete'),
    );
    await rejection(
      recorder
        .connect(datadog, sandbox, {
          ...document,
          credential: { apiKey: admin.value, applicationKey: noDelete },
        })
        .revokeKey(current.id),
    );

    const report = new ConformanceReport(datadogFacts);
    report.fact(
      'permissions:adapter',
      datadogPermissions.every((p) => (DATADOG_ROTATOR_PERMISSIONS as readonly string[]).includes(p)),
      () =>
        `the adapter asks for ${DATADOG_ROTATOR_PERMISSIONS.join(', ')}; its operations need ${datadogPermissions.join(', ')}`,
    );
    report.fact(
      'permissions:sandbox',
      datadogPermissions.every((p) => DATADOG_KEY_ADMIN_PERMISSIONS.includes(p)),
      () => `the sandbox knows ${DATADOG_KEY_ADMIN_PERMISSIONS.join(', ')}`,
    );
    const denied = recorder.events.filter(
      (e) => e.kind === 'exchange' && e.request.headers['dd-application-key'] === noDelete,
    );
    report.fact(
      'DeleteAPIKey:permissions',
      denied.some((e) => e.kind === 'exchange' && e.response.status === 403),
      () => 'a delete without api_keys_delete was not refused',
    );
    const cap = datadogFacts.keyCaps![0]!.max;
    report.fact(
      'keyCap:adapter',
      DATADOG_MAX_KEYS === cap && DATADOG_MAX_API_KEYS === cap,
      () => `adapter ${DATADOG_MAX_KEYS}, sandbox ${DATADOG_MAX_API_KEYS}, documented ${cap}`,
    );
    assertConforms(datadogFacts, recorder, report);
  });

  it('Cloudflare (cloudflare/api-schemas), user-owned and account-owned tokens', async () => {
    const recorder = new Recorder(logs);
    const clock = new ManualClock(NOW);
    const sandbox = await started(new CloudflareSandbox(clock));
    const group = (owner: 'user' | 'account') => [
      { effect: 'allow' as const, resources: {}, permission_groups: [CLOUDFLARE_TOKEN_ADMIN_GROUPS[owner]] },
    ];
    for (const owner of ['user', 'account'] as const) {
      const ownerId = owner === 'user' ? 'user' : sandbox.accountId;
      const admin = sandbox.seedToken('rekey-rotator', group(owner), ownerId);
      const window = { not_before: '2026-01-01T00:00:00Z', expires_on: '2099-06-30T00:00:00Z' };
      const current = sandbox.seedToken('dns-updater', DNS_WRITE, ownerId, undefined, window);
      // Tokens the adapter did not create — one expired, one unnamed — and, for the account (quota 500, users
      // 50), past the first page of 50.
      sandbox.seedToken('expired-token', DNS_WRITE, ownerId, undefined, {
        expires_on: '2020-01-01T00:00:00Z',
      });
      const others = owner === 'user' ? 40 : 60;
      for (let i = 0; i < others; i++)
        sandbox.seedToken(i === 0 ? '' : `other-team-${i}`, DNS_WRITE, ownerId);
      const options = owner === 'user' ? {} : { accountId: sandbox.accountId };
      const client = recorder.connect(cloudflare, sandbox, {
        credential: { apiToken: admin.value },
        options,
      });
      await keyLifecycle(client, current, `rekey-conformance-${owner}`);
      assert.equal(await client.lastUsed?.(current.id), null);
      await fetch(new URL('/client/v4/zones', sandbox.url), {
        headers: { authorization: `Bearer ${current.value}` },
      });
      assert.deepEqual(await client.lastUsed?.(current.id), NOW);
      // An expired token verifies (200) with status "expired".
      const expired = sandbox.seedToken('old', DNS_WRITE, ownerId, undefined, {
        expires_on: '2020-01-01T00:00:00Z',
      });
      assert.equal(await client.validateKey(expired), 'rejected');
      // Errors: a token without the admin group (403), a 429.
      await rejection(
        recorder
          .connect(cloudflare, sandbox, { credential: { apiToken: current.value }, options })
          .findKeysByName('x'),
      );
      sandbox.injectFault({ status: 429, times: 1, retryAfterSeconds: 1 });
      assert.deepEqual(await client.findKeysByName('rekey-absent'), []);
    }
    const report = new ConformanceReport(cloudflareFacts);
    const [userCap, accountCap] = cloudflareFacts.keyCaps!;
    const capFor = (options: object) => maxActiveKeysOf(cloudflare, cloudflare.optionsSchema.parse(options));
    report.fact(
      'keyCap:adapter',
      capFor({}) === userCap!.max && capFor({ accountId: sandbox.accountId }) === accountCap!.max,
      () =>
        `adapter declares ${capFor({})} user-owned and ${capFor({ accountId: sandbox.accountId })} account-owned tokens`,
    );
    report.fact(
      'keyCap:sandbox',
      CLOUDFLARE_USER_TOKEN_QUOTA === userCap!.max && CLOUDFLARE_ACCOUNT_TOKEN_QUOTA === accountCap!.max,
      () => `sandbox quotas ${CLOUDFLARE_USER_TOKEN_QUOTA}/${CLOUDFLARE_ACCOUNT_TOKEN_QUOTA}`,
    );
    report.fact(
      'permissions:sandbox',
      CLOUDFLARE_TOKEN_ADMIN_GROUPS.user.name === 'API Tokens Write' &&
        CLOUDFLARE_TOKEN_ADMIN_GROUPS.account.name === 'Account API Tokens Write',
      () => 'the sandbox admin groups are not the x-api-token-group names',
    );
    assertConforms(cloudflareFacts, recorder, report);
  });

  it('OpenAI (openai/openai-openapi), admin keys and project service accounts', async () => {
    const recorder = new Recorder(logs);
    const clock = new ManualClock(NOW);
    const sandbox = await started(new OpenAiSandbox(clock));
    const admin = sandbox.seedAdminKey('rekey-rotator');
    const current = sandbox.seedAdminKey('automation');
    // Keys the adapter did not create, past the first page of 100: unnamed, expiring, already expired.
    sandbox.seedAdminKey(null);
    sandbox.seedAdminKey('expiring', new Date(NOW.getTime() + 86_400_000));
    sandbox.seedAdminKey('expired', new Date(NOW.getTime() - 86_400_000));
    for (let i = 0; i < 100; i++) sandbox.seedAdminKey(i % 7 === 0 ? null : `other-${i}`);
    const client = recorder.connect(openai, sandbox, { credential: { adminKey: admin.value }, options: {} });
    await keyLifecycle(client, current, 'rekey-conformance-1');
    assert.notEqual(await client.lastUsed?.(current.id), undefined);
    await rejection(
      recorder
        .connect(openai, sandbox, { credential: { adminKey: 'sk-admin-unknown' }, options: {} })
        .findKeysByName('x'),
    );
    sandbox.injectFault({ status: 429, times: 1, retryAfterSeconds: 1 });
    assert.deepEqual(await client.findKeysByName('rekey-absent'), []);

    // Project mode (options.projectId): service accounts, each with its one project API key.
    const projectId = sandbox.seedProject('production');
    const appAccount = sandbox.seedServiceAccount(projectId, 'billing-service');
    // What the adapter did not make, past the first page of 100: members' own keys, a keyless account.
    sandbox.seedServiceAccount(projectId, 'keyless', { withKey: false });
    for (let i = 0; i < 100; i++) {
      sandbox.seedServiceAccount(projectId, `other-${i}`);
      sandbox.seedUserProjectKey(projectId, `member-${i}`);
    }
    const projectDocument = { credential: { adminKey: admin.value }, options: { projectId } };
    const project = recorder.connect(openai, sandbox, projectDocument);
    await keyLifecycle(project, appAccount, 'rekey-conformance-sa');
    const fresh = sandbox.seedServiceAccount(projectId, 'fresh');
    assert.equal(await project.lastUsed?.(fresh.id), null);
    assert.deepEqual(await project.lastUsed?.(appAccount.id), NOW, 'validation used the key at NOW');
    // An admin key on /v1/models (401: admin keys cannot be used there); an empty project (no first_id).
    assert.equal(await project.validateKey({ id: 'key_admin', value: admin.value }), 'rejected');
    const empty = sandbox.seedProject('empty');
    assert.deepEqual(
      await recorder
        .connect(openai, sandbox, { ...projectDocument, options: { projectId: empty } })
        .findKeysByName('x'),
      [],
    );
    // Errors: an archived project (400), a 429.
    const archived = sandbox.seedProject('old', { archived: true });
    await rejection(
      recorder
        .connect(openai, sandbox, { ...projectDocument, options: { projectId: archived } })
        .findKeysByName('x'),
    );
    sandbox.injectFault({ status: 429, times: 1, retryAfterSeconds: 1 });
    assert.deepEqual(await project.findKeysByName('rekey-absent'), []);
    assertConforms(openaiFacts, recorder);
  });

  it('Stripe (stripe/openapi)', async () => {
    const recorder = new Recorder(logs);
    const sandbox = await started(new StripeSandbox());
    const key = sandbox.createKeyInDashboard('test');
    const client = recorder.connect(stripe, sandbox, { credential: {}, options: {} });
    assert.equal(await client.validateKey({ id: 'sk_test_…', value: key }), 'accepted');
    assert.equal(await client.validateKey(forged({ id: 'sk_test_…', value: key })), 'rejected');
    // The id rekey records for a Stripe key is derived from the value (no call): its prefix and last four.
    const id = stripe.assisted!.keyIdOf(key);
    assert.deepEqual(await client.identifies?.({ id, value: key }), { verdict: 'matches' });
    assert.deepEqual(await client.identifies?.({ id: 'sk_test_…0000', value: key }), {
      verdict: 'differs',
      providerKeyId: id,
      find: "rekey's id of a Stripe key is its prefix and last four characters, as the Dashboard (Developers → API keys) lists it",
    });
    sandbox.injectFault({ status: 429, times: 1, retryAfterSeconds: 1 });
    assert.equal(await client.validateKey({ id: 'sk_test_…', value: key }), 'accepted');
    assertConforms(stripeFacts, recorder);
  });

  it('generic HTTP (its options schema and the in-house key service, local/sandboxes/http-keys.ts)', async () => {
    const recorder = new Recorder(logs);
    const sandbox = await started(new HttpKeysSandbox({ requireDisableBeforeDelete: true, maxKeys: 3 }));
    const current = sandbox.seedKey('billing-api', ['billing:read']);
    const client = recorder.connect(http, sandbox, {
      credential: { token: sandbox.adminToken },
      options: HTTP_DOCUMENT,
    });
    await keyLifecycle(client, current, 'rekey-conformance-1');
    await rejection(
      recorder
        .connect(http, sandbox, { credential: { token: 'adm_unknown' }, options: HTTP_DOCUMENT })
        .findKeysByName('x'),
    );
    const report = new ConformanceReport(httpFacts);
    // The cap: the adapter refuses before asking (options.maxActiveKeys), and the service refuses past maxKeys (409).
    sandbox.seedKey('a', []);
    sandbox.seedKey('b', []);
    const before = recorder.events.length;
    await rejection(client.createKey({ name: 'rekey-over-cap', likeKeyId: current.id }));
    report.fact(
      'keyCap:adapter',
      !recorder.events.slice(before).some((e) => e.kind === 'exchange' && e.request.method === 'POST'),
      () => 'the adapter sent a create past options.maxActiveKeys',
    );
    const service = await fetch(new URL('/admin/keys', sandbox.url), {
      method: 'POST',
      headers: { authorization: `Bearer ${sandbox.adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'over' }),
    });
    report.fact(
      'keyCap:sandbox',
      service.status === 409,
      () => `a create past maxKeys answered ${service.status}`,
    );
    assertConforms(httpFacts, recorder, report);
  });
});

/** A Cloudflare sandbox that invents `total_pages` in its listings, as the sandbox once did (mismatch 3). */
class CloudflareWithTotalPages extends CloudflareSandbox {
  protected override route(req: SandboxRequest): SandboxResponse {
    const res = super.route(req);
    const body = res.body as { result_info?: { per_page: number; total_count: number } } | undefined;
    if (body?.result_info)
      Object.assign(body.result_info, {
        total_pages: Math.ceil(body.result_info.total_count / body.result_info.per_page),
      });
    return res;
  }
}

describe('conformance: the check fails when a fact is violated', () => {
  const exchange = (
    method: string,
    url: string,
    headers: Record<string, string>,
    status: number,
    body: unknown,
    requestBody?: string,
  ): RecordedEvent => ({
    kind: 'exchange',
    request: {
      method,
      url: new URL(url),
      headers,
      ...(requestBody === undefined ? {} : { body: requestBody }),
    },
    response: { status, headers: {}, body, at: Date.now() },
  });
  const facts = (report: ConformanceReport) => report.violations.map((v) => v.fact);

  it('reports an OpenAI admin key listed without the required expires_at (mismatch 2)', () => {
    // Prepare: a recorded listing whose key lacks expires_at
    const key = {
      object: 'organization.admin_api_key',
      id: 'key_1',
      name: null,
      redacted_value: 'sk-admin...abcd',
      created_at: 1_770_000_000,
      last_used_at: null,
      owner: { type: 'user' },
    };
    const events = [
      exchange(
        'GET',
        'https://api.openai.com/v1/organization/admin_api_keys?limit=100',
        { authorization: 'Bearer sk-admin-x' },
        200,
        {
          object: 'list',
          data: [key],
          first_id: 'key_1',
          last_id: 'key_1',
          has_more: false,
        },
      ),
    ];
    // Act
    const report = checkRecording(openaiFacts, events);
    // Assess
    assert.deepEqual(facts(report), ['admin-api-keys-list:200.required:data[].expires_at']);
    assert.match(report.violations[0]!.message, /expires_at is missing/);
  });

  it('reports an empty OpenAI service-account listing with first_id null, and a create answered with a Model', () => {
    // Prepare: first_id/last_id are optional strings, never null; a service account has no owned_by
    const auth = { authorization: 'Bearer sk-admin-x' };
    const events = [
      exchange(
        'GET',
        'https://api.openai.com/v1/organization/projects/proj_abc/service_accounts?limit=100',
        auth,
        200,
        { object: 'list', data: [], first_id: null, last_id: null, has_more: false },
      ),
      exchange(
        'POST',
        'https://api.openai.com/v1/organization/projects/proj_abc/service_accounts',
        { ...auth, 'content-type': 'application/json' },
        200,
        {
          object: 'organization.project.service_account',
          id: 'svc_acct_1',
          name: 'x',
          role: 'member',
          created_at: 1_770_000_000,
          owned_by: 'system',
        },
        JSON.stringify({ name: 'x' }),
      ),
    ];
    // Act
    const report = checkRecording(openaiFacts, events);
    // Assess
    assert.deepEqual(facts(report).sort(), [
      'create-project-service-account:200.closed:(body)',
      'list-project-service-accounts:200.nonNull:first_id',
      'list-project-service-accounts:200.nonNull:last_id',
    ]);
  });

  it('reports a Cloudflare sandbox that answers total_pages, run through the adapter (mismatch 3)', async () => {
    // Prepare
    const recorder = new Recorder(logs);
    const sandbox = await started(new CloudflareWithTotalPages());
    const admin = sandbox.seedToken('rekey-rotator', [
      { effect: 'allow', resources: {}, permission_groups: [CLOUDFLARE_TOKEN_ADMIN_GROUPS.user] },
    ]);
    const client = recorder.connect(cloudflare, sandbox, {
      credential: { apiToken: admin.value },
      options: {},
    });
    // Act
    await client.findKeysByName('rekey-x');
    const report = checkRecording(cloudflareFacts, recorder.events);
    // Assess
    assert.deepEqual(facts(report), ['user-api-tokens-list-tokens:200.closed:result_info']);
    assert.match(report.violations[0]!.message, /total_pages/);
  });

  it('reports a Twilio create sent as JSON without the required AccountSid', () => {
    // Prepare
    const auth = { authorization: `Basic ${Buffer.from(`SK${'0'.repeat(32)}:secret`).toString('base64')}` };
    const events = [
      exchange(
        'POST',
        'https://iam.twilio.com/v1/Keys',
        { ...auth, 'content-type': 'application/json' },
        201,
        { sid: `SK${'1'.repeat(32)}` },
        JSON.stringify({ FriendlyName: 'x' }),
      ),
    ];
    // Act
    const report = checkRecording(twilioFacts, events);
    // Assess
    assert.deepEqual(facts(report).sort(), [
      'CreateNewKey:request.contentType',
      'CreateNewKey:request.required:AccountSid',
    ]);
  });

  it('reports a Twilio page link that is not an absolute URI, and an undocumented route and status', () => {
    // Prepare
    const auth = { authorization: `Basic ${Buffer.from(`AC${'0'.repeat(32)}:token`).toString('base64')}` };
    const events = [
      exchange('GET', `https://iam.twilio.com/v1/Keys?AccountSid=AC${'0'.repeat(32)}`, auth, 200, {
        keys: [],
        meta: { next_page_url: '/v1/Keys?Page=1' },
      }),
      exchange('DELETE', 'https://iam.twilio.com/v1/Keys/SK1', auth, 200, { ok: true }),
      exchange('PATCH', 'https://iam.twilio.com/v1/Keys/SK1', auth, 200, {}),
    ];
    // Act
    const report = checkRecording(twilioFacts, events);
    // Assess
    assert.deepEqual(facts(report).sort(), [
      'DeleteKey:statuses',
      'ListGetKeys:200.format:meta.next_page_url',
      'route',
    ]);
  });

  it('reports a Datadog 429 whose reset (seconds until the reset) the adapter read as a time (mismatch 5)', () => {
    // Prepare: X-RateLimit-Reset 10 followed by a 0 ms wait
    const events: RecordedEvent[] = [
      {
        kind: 'exchange',
        request: {
          method: 'GET',
          url: new URL('https://api.datadoghq.com/api/v2/api_keys?page[size]=100'),
          headers: { 'dd-api-key': 'a', 'dd-application-key': 'b' },
        },
        response: {
          status: 429,
          headers: {
            'x-ratelimit-limit': '100',
            'x-ratelimit-period': '60',
            'x-ratelimit-remaining': '0',
            'x-ratelimit-reset': '10',
          },
          body: { errors: ['Too many requests'] },
          at: Date.now(),
        },
      },
      { kind: 'wait', ms: 0 },
    ];
    // Act
    const report = checkRecording(datadogFacts, events);
    // Assess
    assert.deepEqual(facts(report).sort(), ['rateLimit.header:x-ratelimit-name', 'rateLimit.wait']);
  });

  it('reports a SendGrid error body without errors, a null where none is allowed, and a Datadog call without the application key', () => {
    // Prepare
    const sendgridEvents = [
      exchange(
        'GET',
        'https://api.sendgrid.com/v3/api_keys?limit=100',
        { authorization: 'Bearer SG.x' },
        200,
        {
          result: [{ api_key_id: 'k', name: null }],
        },
      ),
      exchange('DELETE', 'https://api.sendgrid.com/v3/api_keys/k', { authorization: 'Bearer SG.x' }, 403, {
        message: 'forbidden',
      }),
    ];
    const datadogEvents = [
      exchange(
        'DELETE',
        'https://api.datadoghq.com/api/v2/api_keys/k',
        { 'dd-api-key': 'a' },
        204,
        undefined,
      ),
    ];
    // Act
    const sendgridReport = checkRecording(sendgridFacts, sendgridEvents);
    const datadogReport = checkRecording(datadogFacts, datadogEvents);
    // Assess
    assert.deepEqual(facts(sendgridReport).sort(), [
      'ListApiKey:200.nonNull:result[].name',
      'error.required:errors',
    ]);
    assert.deepEqual(facts(datadogReport), ['DeleteAPIKey:auth']);
  });

  it('reports a SendGrid ListScope 401 taken for a dead key without a deciding second call', () => {
    // Prepare: the adapter as it was — GET /v3/scopes 401, then nothing more with that key
    const events = [
      exchange('GET', 'https://api.sendgrid.com/v3/scopes', { authorization: 'Bearer SG.app' }, 401, {
        errors: [{ field: null, message: 'authorization required' }],
      }),
      exchange(
        'GET',
        'https://api.sendgrid.com/v3/api_keys?limit=100',
        { authorization: 'Bearer SG.x' },
        200,
        {
          result: [],
        },
      ),
    ];
    // Act
    const report = checkRecording(sendgridFacts, events);
    // Assess
    assert.deepEqual(facts(report), ['ListScope:keyVerdict.inconclusive']);
    assert.match(report.violations[0]!.message, /says nothing about the key \(ListScope\)/);
  });

  it('reports a permission the adapter does not ask for (mismatch 1: api_keys_delete)', () => {
    // Prepare: an adapter that asks only for read and write
    const declared = ['api_keys_read', 'api_keys_write'];
    const report = new ConformanceReport(datadogFacts);
    // Act
    report.fact(
      'permissions:adapter',
      datadogPermissions.every((p) => declared.includes(p)),
      () => `needs ${datadogPermissions.join(', ')}`,
    );
    // Assess
    assert.deepEqual(facts(report), ['permissions:adapter']);
  });
});

describe('conformance findings (adapter behaviour the facts contradicted), fixed', () => {
  it('declares the Cloudflare cap of the tokens it manages: 500 account-owned tokens, 50 user-owned', () => {
    // Prepare
    const cap = (owner: string) => cloudflareFacts.keyCaps!.find((c) => c.what.startsWith(owner))!.max;
    const options = (raw: object) => cloudflare.optionsSchema.parse(raw);
    // Act
    const account = maxActiveKeysOf(cloudflare, options({ accountId: '0123456789abcdef0123456789abcdef' }));
    const user = maxActiveKeysOf(cloudflare, options({}));
    // Assess
    assert.equal(account, cap('account'));
    assert.equal(user, cap('user'));
    assert.equal(cloudflare.capabilities.maxActiveKeys, cap('user'), 'without options: user-owned tokens');
  });

  it('takes the static cap of a provider that does not state one per option', () => {
    // Act and assess
    assert.equal(maxActiveKeysOf(sendgrid, sendgrid.optionsSchema.parse({})), SENDGRID_MAX_KEYS);
    assert.equal(maxActiveKeysOf(stripe, stripe.optionsSchema.parse({})), null);
  });

  it('does not take SendGrid’s documented 401 from GET /v3/scopes for a dead key without another check', async () => {
    // Prepare: a live key that may not view the list of scopes (ListScope's documented 401), and a dead one
    const sandbox = await started(new SendGridSandbox());
    const admin = sandbox.seedKey('rekey-rotator');
    const recorder = new Recorder(logs);
    const client = recorder.connect(sendgrid, sandbox, { credential: { apiKey: admin.value }, options: {} });
    const live = sandbox.seedKey('app', ['mail.send'], { listsScopes: false });
    const reader = sandbox.seedKey('reader', ['api_keys.read'], { listsScopes: false });
    const dead = sandbox.seedKey('old', ['mail.send']);
    sandbox.deleteKey(dead.id);
    // Act
    const verdicts = [
      await client.validateKey(live),
      await client.validateKey(reader),
      await client.validateKey(dead),
    ];
    // Assess: GetApiKey on the key's own id decides (403 and 200 authenticated, 401 not)
    assert.deepEqual(verdicts, ['accepted', 'accepted', 'rejected']);
    const calls = recorder.events.flatMap((e) =>
      e.kind === 'exchange' ? [`${e.request.url.pathname} ${e.response.status}`] : [],
    );
    assert.deepEqual(calls, [
      '/v3/scopes 401',
      `/v3/api_keys/${live.id} 403`,
      '/v3/scopes 401',
      `/v3/api_keys/${reader.id} 200`,
      '/v3/scopes 401',
      `/v3/api_keys/${dead.id} 401`,
    ]);
    const report = checkRecording(sendgridFacts, recorder.events);
    assert.deepEqual(report.violations, []);
    assert.ok(report.checked.has('ListScope:keyVerdict.inconclusive'));
  });

  it('validates a SendGrid key that may list its scopes with that one call', async () => {
    // Prepare
    const sandbox = await started(new SendGridSandbox());
    const admin = sandbox.seedKey('rekey-rotator');
    const recorder = new Recorder(logs);
    const client = recorder.connect(sendgrid, sandbox, { credential: { apiKey: admin.value }, options: {} });
    const key = sandbox.seedKey('app', ['mail.send']);
    // Act
    const verdict = await client.validateKey(key);
    // Assess
    assert.equal(verdict, 'accepted');
    assert.equal(recorder.events.filter((e) => e.kind === 'exchange').length, 1);
  });
});
