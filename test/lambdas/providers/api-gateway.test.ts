import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, it } from 'node:test';
import {
  InvalidInputError,
  ProviderRateLimitedError,
  ProviderRejectedError,
} from '../../../lambdas/errors.js';
import { Logger } from '../../../lambdas/logger.js';
import { apiGateway, MUTATION_BURST, MUTATIONS_PER_SECOND } from '../../../lambdas/providers/api-gateway.js';
import type { ProviderClient } from '../../../lambdas/providers/types.js';
import { ApiGatewaySandbox, type ApiGatewaySandboxOptions } from '../../../local/sandboxes/api-gateway.js';
import { signedHeaders } from '../../../local/sandboxes/sigv4.js';
import { rejection } from '../../support/assertions.js';
import { CapturedLogs } from '../../support/env.js';

/** What the shared contract suite cannot see: half-built keys, plan copying, pacing, the control-plane check. */
describe('Amazon API Gateway API keys adapter', () => {
  let sandbox: ApiGatewaySandbox;
  let admin: { accessKeyId: string; secretAccessKey: string };
  let plan: string;
  let otherPlan: string;
  let current: { id: string; value: string };
  let waits: number[];
  /** Simulated time: only the recorded sleeps move it, so pacing is measured without the machine's speed. */
  let clockMs = 0;
  const logs = new CapturedLogs();

  const connect = (
    options: Record<string, unknown> = {},
    credential: object = admin,
    attempts = 1,
  ): ProviderClient =>
    apiGateway.connect({
      credential: apiGateway.credentialSchema.parse(credential),
      options: apiGateway.optionsSchema.parse({ region: 'us-east-1', ...options }),
      endpoint: sandbox.url,
      logger: new Logger(logs.sink, {}, 'debug'),
      http: {
        timeoutMs: 2000,
        retry: { attempts, baseDelayMs: 1, maxDelayMs: 10_000 },
        retryHooks: {
          sleep: async (ms) => {
            waits.push(ms);
            clockMs += ms;
          },
        },
      },
      now: () => new Date(clockMs),
    });
  const start = async (options: ApiGatewaySandboxOptions = {}) => {
    sandbox = new ApiGatewaySandbox(undefined, options);
    await sandbox.start();
    admin = sandbox.seedAdmin();
    plan = sandbox.seedUsagePlan('partners-gold');
    otherPlan = sandbox.seedUsagePlan('partners-beta', [{ apiId: 'otherapi01', stage: 'beta' }]);
    current = sandbox.seedKey('checkout-partner-acme', { usagePlanIds: [plan, otherPlan] });
  };

  beforeEach(async () => {
    waits = [];
    await start();
  });
  afterEach(async () => {
    assert.deepEqual(logs.leaks(sandbox.issuedSecrets()), [], 'no secret in any log line');
    await sandbox.stop();
  });

  it('copies every usage plan of the current key, and describes permissions as sorted plan ids', async () => {
    const client = connect();
    // Act
    const created = await client.createKey({ name: 'rekey-1', likeKeyId: current.id });
    // Assess
    assert.deepEqual(sandbox.plansOf(created.id), [plan, otherPlan].sort());
    assert.deepEqual(await client.describePermissions!(created.id), [plan, otherPlan].sort());
    assert.equal(sandbox.listKeys().find((k) => k.id === created.id)?.enabled, true);
  });

  it('attaches a key to the given permissions instead of reading them from the current key', async () => {
    const client = connect();
    // Act
    const created = await client.createKey({ name: 'rekey-2', likeKeyId: 'gone000000', permissions: [plan] });
    // Assess
    assert.deepEqual(sandbox.plansOf(created.id), [plan]);
    await assert.rejects(
      client.createKey({ name: 'rekey-3', likeKeyId: current.id, permissions: 'gold' }),
      InvalidInputError,
    );
  });

  it('refuses to copy a key that is in no usage plan, creating nothing', async () => {
    // Prepare
    const loose = sandbox.seedKey('unattached');
    const before = sandbox.listKeys().length;
    // Act
    const error = await rejection(connect().createKey({ name: 'rekey-4', likeKeyId: loose.id }));
    // Assess
    assert.ok(error instanceof ProviderRejectedError, error.message);
    assert.match(error.message, /no usage plan/);
    assert.equal(sandbox.listKeys().length, before);
  });

  it('withholds the value of a disabled (half-built) key so the rotation core replaces it', async () => {
    // Prepare: a crash after CreateApiKey, before the key was attached and enabled
    const halfBuilt = sandbox.seedKey('rekey-5', { enabled: false });
    const client = connect();
    // Act
    const found = await client.findKeysByName('rekey-5');
    // Assess
    assert.deepEqual(found, [{ id: halfBuilt.id, name: 'rekey-5' }]);
  });

  it('deletes the half-built key when attaching it to a plan fails for good', async () => {
    const before = sandbox.listKeys().map((k) => k.id);
    // Act
    const error = await rejection(
      connect().createKey({ name: 'rekey-6', likeKeyId: current.id, permissions: ['nosuch'] }),
    );
    // Assess
    assert.ok(error instanceof ProviderRejectedError, error.message);
    assert.match(error.message, /NotFoundException/);
    assert.deepEqual(
      sandbox.listKeys().map((k) => k.id),
      before,
    );
  });

  it('re-sends an attachment whose answer was lost: the ConflictException proves it done, the key is complete', async () => {
    // Prepare: the first plan attachment is made, then its answer is lost
    const client = connect({}, admin, 3);
    sandbox.injectFault({
      status: 503,
      after: true,
      times: 1,
      match: (req) => req.method === 'POST' && /^\/usageplans\/[^/]+\/keys$/.test(req.path),
    });
    // Act
    const created = await client.createKey({ name: 'rekey-lost-attach', likeKeyId: current.id });
    // Assess
    assert.deepEqual(sandbox.plansOf(created.id), [plan, otherPlan].sort());
    assert.equal(sandbox.listKeys().find((k) => k.id === created.id)?.enabled, true);
    assert.equal(sandbox.listKeys().filter((k) => k.name === 'rekey-lost-attach').length, 1);
  });

  it('finds a key among more same-prefix keys than one 500-key page holds', async () => {
    // Prepare: nameQuery is a prefix match, so all of these come back for "rekey-7"
    for (let i = 0; i < 600; i++) sandbox.seedKey(`rekey-7-${i}`);
    const target = sandbox.seedKey('rekey-7', { usagePlanIds: [plan] });
    // Act
    const found = await connect().findKeysByName('rekey-7');
    // Assess
    assert.deepEqual(found, [{ id: target.id, name: 'rekey-7', value: target.value }]);
    assert.equal(sandbox.requests.filter((r) => r.method === 'GET' && r.path === '/apikeys').length, 2);
  });

  it('without validateUrl, checks the key on the control plane', async () => {
    const client = connect();
    const disabled = sandbox.seedKey('disabled', { enabled: false, usagePlanIds: [plan] });
    const loose = sandbox.seedKey('unattached');
    // Act + Assess
    assert.equal(await client.validateKey(current), 'accepted');
    assert.equal(
      await client.validateKey({ id: current.id, value: `${current.value.slice(0, -1)}#` }),
      'rejected',
    );
    assert.equal(await client.validateKey(disabled), 'rejected');
    assert.equal(await client.validateKey(loose), 'rejected');
    assert.equal(await client.validateKey({ id: 'nosuchkey0', value: current.value }), 'rejected');
  });

  it('a validateUrl on another host is refused; the new key is never sent there', async () => {
    // Prepare: every fetch the adapter makes lands on a second loopback server, the "evil host"
    let received = 0;
    const evil = createServer((req, res) => {
      received += 1;
      req.resume();
      res.writeHead(200).end();
    });
    await new Promise<void>((resolve) => evil.listen(0, '127.0.0.1', resolve));
    try {
      const evilUrl = `http://127.0.0.1:${(evil.address() as AddressInfo).port}`;
      const fetched: string[] = [];
      const toEvil: typeof fetch = (input, init) => {
        fetched.push(String(input));
        const url = new URL(String(input));
        return fetch(new URL(`${url.pathname}${url.search}`, evilUrl), init);
      };
      const created = await connect().createKey({ name: 'rekey-validate-url', likeKeyId: current.id });
      const sandboxHost = new URL(sandbox.url).host;
      const api = sandbox.restApiId;
      const hostile = [
        `${evilUrl}/prod/health`,
        `https://${new URL(evilUrl).host}/prod/health`,
        `http://user@${sandboxHost}/prod/health`,
        'https://abcdefghij.execute-api.us-east-1.amazonaws.com/prod/health',
        `https://${api}.execute-api.eu-west-1.amazonaws.com/prod/health`,
        `http://${api}.execute-api.us-east-1.amazonaws.com/prod/health`,
        `https://${api}.execute-api.us-east-1.amazonaws.com:8443/prod/health`,
        `https://${api}.execute-api.us-east-1.amazonaws.com.evil.example/prod/health`,
        `https://evil.example\\@${api}.execute-api.us-east-1.amazonaws.com/prod/health`,
      ];
      for (const validateUrl of hostile) {
        const client = apiGateway.connect({
          credential: admin,
          options: apiGateway.optionsSchema.parse({ region: 'us-east-1', validateUrl }),
          endpoint: sandbox.url,
          logger: new Logger(logs.sink, {}, 'debug'),
          http: { retry: { attempts: 1, baseDelayMs: 1, maxDelayMs: 10 }, fetch: toEvil },
        });
        // Act
        const error = await rejection(client.validateKey(created));
        // Assess
        assert.ok(error instanceof InvalidInputError, `${validateUrl}: ${error.message}`);
        assert.equal(error.code, 'INVALID_SECRET');
        assert.equal(error.field, 'options.validateUrl');
        assert.match(
          error.message,
          /^Amazon API Gateway options\.validateUrl refused before any key was sent: /,
        );
        assert.ok(!error.message.includes(created.value) && !error.message.includes('user@'), error.message);
      }
      assert.deepEqual(fetched, [], 'no request was made');
      assert.equal(received, 0, 'nothing reached the evil host');
    } finally {
      await new Promise((resolve) => evil.close(resolve));
    }
  });

  it('sends the key to the execute-api host of a REST API in one of the account’s usage plans', async () => {
    // Prepare: the execute-api host is served by the sandbox's data plane
    const fetched: string[] = [];
    const client = apiGateway.connect({
      credential: admin,
      options: {
        region: 'us-east-1',
        validateUrl: `https://${sandbox.restApiId}.execute-api.us-east-1.amazonaws.com/${sandbox.stage}/health`,
      },
      endpoint: sandbox.url,
      logger: new Logger(logs.sink, {}, 'debug'),
      http: {
        retry: { attempts: 1, baseDelayMs: 1, maxDelayMs: 10 },
        fetch: (input, init) => {
          const url = new URL(String(input));
          fetched.push(url.host);
          return fetch(new URL(`${url.pathname}${url.search}`, sandbox.url), init);
        },
      },
    });
    // Act + Assess
    assert.equal(await client.validateKey(current), 'accepted');
    assert.equal(
      await client.validateKey({ id: current.id, value: `${current.value.slice(0, -1)}#` }),
      'rejected',
    );
    assert.deepEqual(fetched, Array(2).fill(`${sandbox.restApiId}.execute-api.us-east-1.amazonaws.com`));
  });

  it('paces mutations to the documented per-account rate, through the injected sleep', async () => {
    // Prepare
    const keys = Array.from({ length: 8 }, (_, i) => sandbox.seedKey(`batch-${i}`));
    const client = connect();
    // The sandbox's documented DeleteApiKey throttle (5/s) measured on the same simulated time the client
    // paces on: the waits are simulated, so real time would not pass between the paced calls.
    sandbox.rateClock = () => clockMs;
    // Act
    for (const key of keys) await client.revokeKey(key.id);
    // Assess: a burst, then one slot per 1000/rate ms — and API Gateway never had to throttle a call
    const interval = 1000 / MUTATIONS_PER_SECOND;
    assert.deepEqual(
      waits,
      Array(keys.length - MUTATION_BURST).fill(interval),
      `waited ${waits.join(', ')} ms`,
    );
    assert.equal(sandbox.rateLimited, 0);
  });

  it('names the apigateway: actions the role lacks when API Gateway denies access', async () => {
    const readOnly = sandbox.seedAdmin({ readOnly: true });
    const before = sandbox.listKeys().length;
    // Act
    const error = await rejection(
      connect({}, readOnly).createKey({ name: 'rekey-8', likeKeyId: current.id }),
    );
    // Assess
    assert.ok(error instanceof ProviderRejectedError, error.message);
    assert.match(error.message, /AccessDeniedException/);
    assert.match(error.message, /apigateway:POST on \/apikeys/);
    assert.ok(!error.message.includes(readOnly.secretAccessKey));
    assert.equal(sandbox.listKeys().length, before);
  });

  it('reports a forged rotator secret as a credential problem', async () => {
    const error = await rejection(
      connect({}, { ...admin, secretAccessKey: `${admin.secretAccessKey}x` }).revokeKey(current.id),
    );
    assert.ok(error instanceof ProviderRejectedError, error.message);
    assert.match(error.message, /InvalidSignatureException: the rotator credential is not valid/);
  });

  it('accepts {} (the function role) or a full key pair, nothing in between', () => {
    assert.deepEqual(apiGateway.credentialSchema.parse({}), {});
    assert.equal(apiGateway.credentialSchema.safeParse({ accessKeyId: admin.accessKeyId }).success, false);
    assert.equal(apiGateway.optionsSchema.safeParse({ region: 'Ireland' }).success, false);
    assert.equal(
      apiGateway.optionsSchema.safeParse({ region: 'eu-west-1', validateUrl: 'ftp://x/prod' }).success,
      false,
    );
  });
});

describe('API Gateway sandbox control-plane throttling', () => {
  let sandbox: ApiGatewaySandbox;
  afterEach(() => sandbox.stop());

  it('answers mutations beyond its token bucket 429 TooManyRequestsException with Retry-After', async () => {
    // Prepare
    sandbox = new ApiGatewaySandbox(undefined, { mutationsPerSecond: 1, mutationBurst: 2 });
    await sandbox.start();
    const admin = sandbox.seedAdmin();
    const create = async () => {
      const body = JSON.stringify({ name: 'x' });
      const url = `${sandbox.url}/apikeys`;
      const headers = signedHeaders({
        method: 'POST',
        url,
        headers: { 'content-type': 'application/json' },
        body,
        ...admin,
        region: 'us-east-1',
        service: 'apigateway',
      });
      return fetch(url, { method: 'POST', headers, body });
    };
    // Act
    const statuses = [];
    for (let i = 0; i < 2; i++) statuses.push((await create()).status);
    const throttled = await create();
    // Assess
    assert.deepEqual(statuses, [201, 201]);
    assert.equal(throttled.status, 429);
    assert.match(throttled.headers.get('x-amzn-errortype') ?? '', /^TooManyRequestsException/);
    assert.equal(throttled.headers.get('retry-after'), '1');
    assert.equal(typeof ((await throttled.json()) as { message?: unknown }).message, 'string');
  });

  it('the adapter turns that 429 into a retryable rate-limit error carrying Retry-After', async () => {
    // Prepare
    sandbox = new ApiGatewaySandbox(undefined, { mutationsPerSecond: 1, mutationBurst: 1 });
    await sandbox.start();
    const admin = sandbox.seedAdmin();
    const keys = [sandbox.seedKey('a'), sandbox.seedKey('b')];
    const client = apiGateway.connect({
      credential: admin,
      options: { region: 'us-east-1' },
      endpoint: sandbox.url,
      logger: new Logger(new CapturedLogs().sink, {}, 'debug'),
      http: { retry: { attempts: 1, baseDelayMs: 1, maxDelayMs: 10 }, retryHooks: { sleep: async () => {} } },
    });
    // Act
    assert.equal(await client.revokeKey(keys[0]!.id), 'revoked');
    const error = await rejection(client.revokeKey(keys[1]!.id));
    // Assess
    assert.ok(error instanceof ProviderRateLimitedError, error.message);
    assert.equal(error.retryAfterMs, 1000);
    assert.equal(error.retryable, true);
  });
});
