import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { ProviderRejectedError } from '../../../lambdas/errors.js';
import { SendGridScopesUnknownError, sendgrid } from '../../../lambdas/providers/sendgrid.js';
import { SendGridSandbox } from '../../../local/sandboxes/sendgrid.js';
import { rejection } from '../../support/assertions.js';
import { CapturedLogs } from '../../support/env.js';
import { connectToSandbox } from './sandbox-client.js';

/** SendGrid API keys as twilio/sendgrid-oai describes them (CreateApiKey, GetApiKey). */
describe('SendGrid adapter against the documented API', () => {
  let sandbox: SendGridSandbox;
  let admin: { id: string; value: string };
  let current: { id: string; value: string };
  const logs = new CapturedLogs();
  const connect = (options: Record<string, unknown> = {}, publicUrl = false) =>
    connectToSandbox(sendgrid, sandbox, { credential: { apiKey: admin.value }, options }, logs, {
      publicUrl,
    });

  beforeEach(async () => {
    sandbox = new SendGridSandbox();
    await sandbox.start();
    admin = sandbox.seedKey('rekey-rotator');
    // GetApiKey's scopes are optional: this key is returned without them.
    current = sandbox.seedKey('notification-service', ['mail.send'], { scopesShown: false });
  });
  afterEach(async () => {
    assert.deepEqual(logs.leaks(sandbox.issuedSecrets()), [], 'no secret in any log line');
    await sandbox.stop();
  });

  it('makes a Full Access key from a create without scopes, as SendGrid does', async () => {
    // Act
    const res = await fetch(new URL('/v3/api_keys', sandbox.url), {
      method: 'POST',
      headers: { authorization: `Bearer ${admin.value}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'no-scopes' }),
    });
    await res.body?.cancel();
    // Assess
    assert.equal(res.status, 201);
    const created = sandbox.listKeys().find((k) => k.name === 'no-scopes');
    assert.deepEqual(sandbox.fullAccessKeys(), [created?.id]);
  });

  it('refuses to copy a key whose scopes SendGrid does not return, naming options.scopes, and creates nothing', async () => {
    // Prepare
    const { client } = connect();
    const before = sandbox.listKeys().length;
    // Act
    const error = await rejection(client.createKey({ name: 'rekey-notify-v2', likeKeyId: current.id }));
    // Assess
    assert.ok(error instanceof SendGridScopesUnknownError, `got ${error.name}: ${error.message}`);
    assert.equal(error.retryable, false);
    assert.equal(error.field, 'options.scopes');
    assert.match(error.message, /Full Access/);
    assert.match(error.message, /options\.scopes/);
    assert.equal(sandbox.listKeys().length, before, 'no key created');
    assert.deepEqual(sandbox.fullAccessKeys(), [], 'above all no Full Access key');
  });

  it('refuses before a single-key rotation revokes anything when the scopes cannot be read', async () => {
    // Prepare
    const { client } = connect();
    // Act
    const error = await rejection(Promise.resolve(client.describePermissions?.(current.id)));
    // Assess
    assert.ok(error instanceof SendGridScopesUnknownError, `got ${error.name}: ${error.message}`);
    assert.ok(sandbox.accepts(current.value));
  });

  it('creates the key with options.scopes when the current key’s scopes are not returned', async () => {
    // Prepare
    const { client } = connect({ scopes: ['mail.send'] });
    // Act
    const permissions = await client.describePermissions?.(current.id);
    const created = await client.createKey({ name: 'rekey-notify-v2', likeKeyId: current.id });
    // Assess
    assert.deepEqual(permissions, ['mail.send']);
    assert.deepEqual(sandbox.listKeys().find((k) => k.id === created.id)?.scopes, ['mail.send']);
    assert.deepEqual(sandbox.fullAccessKeys(), []);
  });

  it('accepts a live key that GET /v3/scopes answers 401, once GetApiKey on its own id authenticates it', async () => {
    // Prepare: ListScope's documented 401, "may not view the list of scopes"
    const { client } = connect();
    const live = sandbox.seedKey('app', ['mail.send'], { listsScopes: false });
    // Act
    const verdict = await client.validateKey(live);
    // Assess
    assert.equal(verdict, 'accepted');
  });

  it('refuses an undocumented status from the authentication check with a typed error that names the call, not the key', async () => {
    // Prepare
    const { client } = connect();
    const live = sandbox.seedKey('app', ['mail.send'], { listsScopes: false });
    sandbox.injectFault({ status: 400, times: 1, match: (req) => req.path.startsWith('/v3/api_keys/') });
    // Act
    const error = await rejection(client.validateKey(live));
    // Assess
    assert.ok(error instanceof ProviderRejectedError, `got ${error.name}: ${error.message}`);
    assert.equal(error.status, 400);
    assert.match(error.message, /authentication check/);
    assert.match(error.message, /GET \/v3\/api_keys\/\{api_key_id\} after GET \/v3\/scopes answered 401/);
    assert.ok(!error.message.includes(live.value));
  });

  it('reaches an EU regional subuser’s keys at https://api.eu.sendgrid.com', async () => {
    // Prepare
    const { client, origins } = connect({ region: 'eu' }, true);
    // Act
    const verdict = await client.validateKey(current);
    // Assess
    assert.equal(verdict, 'accepted');
    assert.deepEqual(origins, ['https://api.eu.sendgrid.com']);
  });
});
