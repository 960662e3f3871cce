import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { Logger } from '../../lambdas/logger.js';
import { apiGateway } from '../../lambdas/providers/api-gateway.js';
import { sendgrid } from '../../lambdas/providers/sendgrid.js';
import { twilio } from '../../lambdas/providers/twilio.js';
import type { ProviderDefinition } from '../../lambdas/providers/types.js';
import { ApiGatewaySandbox } from '../../local/sandboxes/api-gateway.js';
import { AwsIamSandbox } from '../../local/sandboxes/aws-iam.js';
import { CLOUDFLARE_RATE_LIMIT, CloudflareSandbox } from '../../local/sandboxes/cloudflare.js';
import { DatadogSandbox } from '../../local/sandboxes/datadog.js';
import type { ProviderSandbox } from '../../local/sandboxes/sandbox.js';
import { SENDGRID_RATE_LIMIT, SendGridSandbox } from '../../local/sandboxes/sendgrid.js';
import { signedHeaders } from '../../local/sandboxes/sigv4.js';
import { STRIPE_RATE_LIMITS, StripeSandbox } from '../../local/sandboxes/stripe.js';
import { TWILIO_CONCURRENCY_LIMIT, TwilioSandbox } from '../../local/sandboxes/twilio.js';
import { CapturedLogs } from '../support/env.js';

/** `n` GETs of `path` at once; their statuses, and the last refused response (if any). */
async function burst(sandbox: ProviderSandbox, n: number, path: string, headers: Record<string, string>) {
  const responses = await Promise.all(
    Array.from({ length: n }, () => fetch(new URL(path, sandbox.url), { headers })),
  );
  const refused = responses.filter((r) => r.status === 429);
  const bodies = await Promise.all(responses.map((r) => r.text()));
  return {
    ok: responses.filter((r) => r.status === 200).length,
    refused,
    refusedBody: refused.length ? JSON.parse(bodies[responses.indexOf(refused[0]!)]!) : undefined,
  };
}

/** An adapter on the sandbox that really waits, as deployed, with a short ceiling for the test. */
function connect<C, O>(
  definition: ProviderDefinition<C, O>,
  sandbox: ProviderSandbox,
  credential: unknown,
  options: unknown,
) {
  return definition.connect({
    credential: definition.credentialSchema.parse(credential),
    options: definition.optionsSchema.parse(options),
    endpoint: sandbox.url,
    logger: new Logger(new CapturedLogs().sink, {}, 'debug'),
    http: { timeoutMs: 5000, retry: { attempts: 4, baseDelayMs: 50, maxDelayMs: 3000 } },
  });
}

describe('provider sandboxes enforce their provider’s documented rate limits, on by default', () => {
  let sandbox: ProviderSandbox | undefined;
  afterEach(async () => sandbox?.stop());

  it('SendGrid: 600 per minute per endpoint, then 429 with X-RateLimit-* (Reset a Unix time), no Retry-After', async () => {
    const sendGrid = new SendGridSandbox();
    sandbox = sendGrid;
    sendGrid.rateClock = () => 0; // the burst arrives at one instant, however slow the run
    await sendGrid.start();
    const auth = { authorization: `Bearer ${sendGrid.seedKey('rekey-rotator').value}` };
    const { ok, refused, refusedBody } = await burst(
      sendGrid,
      SENDGRID_RATE_LIMIT.limit + 3,
      '/v3/scopes',
      auth,
    );
    assert.equal(ok, 600);
    assert.equal(refused.length, 3);
    const headers = refused[0]!.headers;
    assert.equal(headers.get('x-ratelimit-limit'), '600');
    assert.equal(headers.get('x-ratelimit-remaining'), '0');
    const reset = Number(headers.get('x-ratelimit-reset'));
    assert.ok(reset > Date.now() / 1000 && reset <= Date.now() / 1000 + 61, `reset ${reset}`);
    assert.equal(headers.get('retry-after'), null);
    assert.deepEqual(refusedBody, { errors: [{ field: null, message: 'too many requests' }] });
    // Another endpoint has its own allowance.
    assert.equal((await fetch(new URL('/v3/api_keys', sendGrid.url), { headers: auth })).status, 200);
  });

  it('SendGrid: the adapter waits for X-RateLimit-Reset and its call succeeds', async () => {
    const sendGrid = new SendGridSandbox();
    sandbox = sendGrid;
    // A one-second window, so the wait the reset asks for is a second, not a minute.
    sendGrid.rateLimit = { limit: 2, windowMs: 1000 };
    await sendGrid.start();
    const client = connect(sendgrid, sendGrid, { apiKey: sendGrid.seedKey('rekey-rotator').value }, {});
    for (let i = 0; i < 3; i++) assert.deepEqual(await client.findKeysByName('nothing'), []);
    assert.equal(sendGrid.rateLimited, 1);
  });

  it('Cloudflare: 1,200 per 5 minutes per token, then every call of that token blocked for five minutes', async () => {
    let now = 0;
    const cloudflare = new CloudflareSandbox();
    sandbox = cloudflare;
    cloudflare.rateClock = () => now;
    await cloudflare.start();
    const token = cloudflare.seedToken('app', []).value;
    const other = cloudflare.seedToken('other app', []).value;
    const auth = { authorization: `Bearer ${token}` };
    const { ok, refused, refusedBody } = await burst(
      cloudflare,
      CLOUDFLARE_RATE_LIMIT.limit + 1,
      '/client/v4/zones',
      auth,
    );
    assert.equal(ok, 1200);
    assert.equal(refused.length, 1);
    assert.equal(refused[0]!.headers.get('retry-after'), '300');
    assert.equal(refused[0]!.headers.get('ratelimit'), '"default";r=0;t=300');
    assert.equal(refused[0]!.headers.get('ratelimit-policy'), '"default";q=1200;w=300');
    assert.equal(refusedBody.success, false);
    assert.equal(typeof refusedBody.errors[0].code, 'number');
    // Four minutes on, still blocked (the block runs five minutes from the refusal); another token is not.
    now += 4 * 60_000;
    assert.equal((await fetch(new URL('/client/v4/zones', cloudflare.url), { headers: auth })).status, 429);
    const otherAuth = { authorization: `Bearer ${other}` };
    assert.equal(
      (await fetch(new URL('/client/v4/zones', cloudflare.url), { headers: otherAuth })).status,
      200,
    );
    now += 61_000;
    assert.equal((await fetch(new URL('/client/v4/zones', cloudflare.url), { headers: auth })).status, 200);
  });

  it('Stripe: 25 requests per second in test mode, 100 in live mode, each on its own', async () => {
    const stripe = new StripeSandbox();
    sandbox = stripe;
    stripe.rateClock = () => 0;
    await stripe.start();
    const test = { authorization: `Bearer ${stripe.createKeyInDashboard('test')}` };
    const live = { authorization: `Bearer ${stripe.createKeyInDashboard('live')}` };
    const inTest = await burst(stripe, STRIPE_RATE_LIMITS.test.limit + 2, '/v1/balance', test);
    assert.deepEqual([inTest.ok, inTest.refused.length], [25, 2]);
    assert.equal(inTest.refusedBody.error.type, 'rate_limit_error');
    const inLive = await burst(stripe, STRIPE_RATE_LIMITS.live.limit + 1, '/v1/balance', live);
    assert.deepEqual([inLive.ok, inLive.refused.length], [100, 1]);
  });

  it('Twilio: requests beyond the account’s concurrency get 20429, and the adapter retries them', async () => {
    const account = new TwilioSandbox();
    sandbox = account;
    account.latencyMs = 400; // each request stays in flight long enough for the others to arrive
    await account.start();
    const main = account.seedKey('rekey-rotator', 'main');
    const auth = { authorization: `Basic ${Buffer.from(`${main.id}:${main.value}`).toString('base64')}` };
    const path = `/2010-04-01/Accounts/${account.accountSid}.json`;
    const { ok, refused, refusedBody } = await burst(account, TWILIO_CONCURRENCY_LIMIT + 5, path, auth);
    assert.ok(
      refused.length >= 1 && ok + refused.length === TWILIO_CONCURRENCY_LIMIT + 5,
      `${ok} ok, ${refused.length} refused`,
    );
    assert.equal(refusedBody.code, 20429);
    assert.equal(refusedBody.status, 429);
    assert.ok(Number(refused[0]!.headers.get('twilio-concurrent-requests')) > TWILIO_CONCURRENCY_LIMIT);
    // The adapter's calls made at once: the refused ones back off and are answered.
    const keys = Array.from({ length: TWILIO_CONCURRENCY_LIMIT + 5 }, (_, i) =>
      account.seedKey(`app-${i}`, 'standard'),
    );
    const client = connect(
      twilio,
      account,
      { sid: main.id, secret: main.value },
      { accountSid: account.accountSid },
    );
    const before = account.rateLimited;
    const verdicts = await Promise.all(keys.map((key) => client.validateKey(key)));
    assert.deepEqual(new Set(verdicts), new Set(['accepted']));
    assert.ok(account.rateLimited > before, 'the burst met the concurrency limit');
  });

  it('API Gateway: CreateApiKey 5 per second, the total 10 per second with a burst of 40, TooManyRequestsException with Retry-After', async () => {
    const gateway = new ApiGatewaySandbox();
    sandbox = gateway;
    gateway.rateClock = () => 0;
    await gateway.start();
    const admin = gateway.seedAdmin();
    const signed = (method: string, path: string, body?: string) => {
      const url = `${gateway.url}${path}`;
      const headers = signedHeaders({
        method,
        url,
        headers: body ? { 'content-type': 'application/json' } : {},
        ...(body ? { body } : {}),
        ...admin,
        region: 'us-east-1',
        service: 'apigateway',
      });
      return fetch(url, { method, headers, ...(body ? { body } : {}) });
    };
    const creates = await Promise.all(
      Array.from({ length: 6 }, (_, i) => signed('POST', '/apikeys', JSON.stringify({ name: `k${i}` }))),
    );
    assert.deepEqual(creates.map((r) => r.status).sort(), [201, 201, 201, 201, 201, 429]);
    const throttled = creates.find((r) => r.status === 429)!;
    assert.match(throttled.headers.get('x-amzn-errortype') ?? '', /^TooManyRequestsException:/);
    assert.equal(throttled.headers.get('retry-after'), '1');
    assert.equal(gateway.listKeys().length, 5, 'the refused create made nothing');
    // 5 creates spent 5 of the total burst of 40 (the refused one took none): 35 reads pass, the next does not.
    const reads = await Promise.all(Array.from({ length: 36 }, () => signed('GET', '/apikeys')));
    assert.deepEqual(
      [reads.filter((r) => r.status === 200).length, reads.filter((r) => r.status === 429).length],
      [35, 1],
    );
  });

  it('API Gateway: the adapter paces its mutations under the throttles, so none is refused', async () => {
    const gateway = new ApiGatewaySandbox();
    sandbox = gateway;
    await gateway.start();
    const keys = Array.from({ length: 8 }, (_, i) => gateway.seedKey(`batch-${i}`));
    const client = connect(apiGateway, gateway, gateway.seedAdmin(), { region: 'us-east-1' });
    for (const key of keys) assert.equal(await client.revokeKey(key.id), 'revoked');
    assert.equal(gateway.rateLimited, 0);
  });

  it('Datadog and IAM publish no number for rekey’s calls: none by default, and the shape when one is set', async () => {
    const datadog = new DatadogSandbox();
    sandbox = datadog;
    await datadog.start();
    const auth = {
      'dd-api-key': datadog.seedApiKey('rotator').value,
      'dd-application-key': datadog.seedApplicationKey(),
    };
    assert.equal((await burst(datadog, 200, '/api/v2/api_keys', auth)).ok, 200);
    datadog.rateLimit = { limit: 3, windowMs: 60_000 };
    const limited = await burst(datadog, 4, '/api/v2/api_keys', auth);
    assert.equal(limited.refused.length, 1);
    const headers = limited.refused[0]!.headers;
    assert.deepEqual(
      ['x-ratelimit-limit', 'x-ratelimit-period', 'x-ratelimit-remaining', 'x-ratelimit-name'].map((h) =>
        headers.get(h),
      ),
      ['3', '60', '0', 'api_keys'],
    );
    assert.ok(Number(headers.get('x-ratelimit-reset')) <= 60, 'Reset counts seconds until the period resets');
    assert.deepEqual(Object.keys(limited.refusedBody), ['errors']);
    await datadog.stop();

    const iam = new AwsIamSandbox();
    sandbox = iam;
    iam.rateLimit = { limit: 1, windowMs: 60_000 };
    await iam.start();
    const admin = iam.seedAdmin();
    const list = () => {
      const url = `${iam.url}/`;
      const body = 'Action=ListAccessKeys&Version=2010-05-08';
      const headers = signedHeaders({
        method: 'POST',
        url,
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body,
        ...admin,
        region: 'us-east-1',
        service: 'iam',
      });
      return fetch(url, { method: 'POST', headers, body });
    };
    assert.equal((await list()).status, 200);
    const throttled = await list();
    assert.equal(throttled.status, 400);
    assert.match(await throttled.text(), /<Code>Throttling<\/Code><Message>Rate exceeded<\/Message>/);
  });
});
