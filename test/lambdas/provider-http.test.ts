import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, it } from 'node:test';
import {
  ProviderOutcomeUnknownError,
  ProviderRateLimitedError,
  ProviderUnavailableError,
} from '../../lambdas/errors.js';
import { ForeignOriginError, ProviderHttp, type ProviderRequest } from '../../lambdas/providers/http.js';
import { rejection } from '../support/assertions.js';

const CREATE: ProviderRequest = {
  call: 'create key',
  method: 'POST',
  path: '/keys',
  json: { name: 'rekey-1' },
  idempotent: false,
};
const LIST: ProviderRequest = { call: 'list keys', method: 'GET', path: '/keys' };

type Answer = 'reset' | 'silent' | { status: number; body?: unknown; headers?: Record<string, string> };

/** A provider whose answers are scripted per request (the last one repeats), recording what it received. */
class ScriptedProvider {
  received = 0;
  readonly paths: string[] = [];
  private server: Server | undefined;

  constructor(private readonly answers: Answer[]) {}

  async start(): Promise<string> {
    this.server = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        const answer = this.answers[Math.min(this.received, this.answers.length - 1)]!;
        this.received += 1;
        this.paths.push(req.url ?? '');
        if (answer === 'reset') res.destroy();
        else if (answer !== 'silent') {
          res.writeHead(answer.status, {
            'content-type': 'application/json',
            'retry-after': '0',
            ...answer.headers,
          });
          res.end(answer.body === undefined ? undefined : JSON.stringify(answer.body));
        }
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

describe('ProviderHttp: a call that is not idempotent is never re-sent once it may have taken effect', () => {
  let provider: ScriptedProvider | undefined;
  let waits: number[];
  afterEach(() => provider?.stop());

  const transport = (baseUrl: string, timeoutMs = 2000) => {
    waits = [];
    return new ProviderHttp({
      provider: 'Example',
      baseUrl,
      timeoutMs,
      retry: { attempts: 4, baseDelayMs: 1, maxDelayMs: 10 },
      retryHooks: { sleep: async (ms) => void waits.push(ms), random: () => 0 },
    });
  };
  const started = async (answers: ConstructorParameters<typeof ScriptedProvider>[0]) => {
    provider = new ScriptedProvider(answers);
    return provider.start();
  };

  for (const status of [500, 503]) {
    it(`turns a ${status} into an unknown outcome after one attempt`, async () => {
      // Prepare
      const http = transport(await started([{ status }]));
      // Act
      const error = await rejection(http.request(CREATE));
      // Assess
      assert.ok(error instanceof ProviderOutcomeUnknownError, `got ${error.name}`);
      assert.equal(error.code, 'PROVIDER_OUTCOME_UNKNOWN');
      assert.equal(error.retryable, true);
      assert.match(error.message, /Example create key may or may not have taken effect \(HTTP \d{3}\)/);
      assert.equal(provider!.received, 1);
      assert.deepEqual(waits, []);
    });
  }

  it('turns a timeout into an unknown outcome after one attempt', async () => {
    // Prepare
    const http = transport(await started(['silent']), 50);
    // Act
    const error = await rejection(http.request(CREATE));
    // Assess
    assert.ok(error instanceof ProviderOutcomeUnknownError, `got ${error.name}`);
    assert.match(error.message, /no answer within 50 ms/);
    assert.equal(provider!.received, 1);
    assert.deepEqual(waits, []);
  });

  it('turns a connection cut before the answer into an unknown outcome after one attempt', async () => {
    // Prepare
    const http = transport(await started(['reset']));
    // Act
    const error = await rejection(http.request(CREATE));
    // Assess
    assert.ok(error instanceof ProviderOutcomeUnknownError, `got ${error.name}`);
    assert.match(error.message, /network error/);
    assert.equal(provider!.received, 1);
  });

  it('still retries a 429, which proves nothing was done, and returns the answer', async () => {
    // Prepare
    const http = transport(await started([{ status: 429 }, { status: 201, body: { id: 'k1' } }]));
    // Act
    const res = await http.request(CREATE);
    // Assess
    assert.equal(res.status, 201);
    assert.deepEqual(res.body, { id: 'k1' });
    assert.equal(provider!.received, 2);
    assert.equal(waits.length, 1);
  });

  it('fails a persistent 429 with the rate-limit error after every attempt', async () => {
    // Prepare
    const http = transport(await started([{ status: 429 }]));
    // Act
    const error = await rejection(http.request(CREATE));
    // Assess
    assert.ok(error instanceof ProviderRateLimitedError, `got ${error.name}`);
    assert.equal(provider!.received, 4);
  });

  it('retries a refused connection, which never sent the request', async () => {
    // Prepare: a port nothing listens on
    const url = await started([{ status: 201 }]);
    await provider!.stop();
    provider = undefined;
    const http = transport(url);
    // Act
    const error = await rejection(http.request(CREATE));
    // Assess
    assert.ok(error instanceof ProviderUnavailableError, `got ${error.name}`);
    assert.match(error.message, /connection refused/);
    assert.equal(waits.length, 3, 'every attempt was used');
  });

  it('keeps retrying a 5xx and a cut connection for a call that is safe to repeat', async () => {
    // Prepare
    const http = transport(await started([{ status: 503 }, 'reset', { status: 200, body: { items: [] } }]));
    // Act
    const res = await http.request(LIST);
    // Assess
    assert.equal(res.status, 200);
    assert.equal(provider!.received, 3);
  });
});

describe('ProviderHttp: every request stays on the configured base URL’s origin', () => {
  const TOKEN = 'adm_token_never_shown';
  let good: ScriptedProvider;
  let evil: ScriptedProvider;
  let fetches: string[];
  afterEach(async () => {
    await good.stop();
    await evil.stop();
  });

  /** The provider, answering `answers`, and a second loopback server as the evil host. */
  const started = async (answers: (evilHost: string) => Answer[] = () => [{ status: 200, body: {} }]) => {
    evil = new ScriptedProvider([{ status: 200, body: {} }]);
    const evilHost = new URL(await evil.start()).host;
    good = new ScriptedProvider(answers(evilHost));
    return { base: await good.start(), evilHost };
  };
  const transport = (baseUrl: string) => {
    fetches = [];
    return new ProviderHttp({
      provider: 'Example',
      baseUrl,
      retry: { attempts: 1, baseDelayMs: 1, maxDelayMs: 10 },
      fetch: (input, init) => {
        fetches.push(String(input));
        return fetch(input, init);
      },
    });
  };
  const call = (path: string): ProviderRequest => ({
    call: 'list keys',
    method: 'GET',
    path,
    headers: { authorization: `Bearer ${TOKEN}` },
  });

  const hostile = (host: string) => [
    `//${host}/x`,
    `https://${host}/x`,
    `http://${host}/x`,
    `http://user@${host}/x`,
    `\\\\${host}\\x`,
    `/\\${host}/x`,
    `http:${host}/x`,
    `/\t/${host}/x`,
    ` //${host}/x`,
  ];
  for (const host of ['evil.example', 'the evil loopback host']) {
    it(`refuses every path that names another host (${host}) before any request`, async () => {
      // Prepare
      const { base, evilHost } = await started();
      const http = transport(`${base}/api/`);
      for (const path of hostile(host === 'evil.example' ? host : evilHost)) {
        // Act
        const error = await rejection(http.request(call(path)));
        // Assess
        assert.ok(error instanceof ForeignOriginError, `${JSON.stringify(path)}: got ${error.name}`);
        assert.equal(error.code, 'INVALID_SECRET');
        assert.equal(error.retryable, false);
        assert.match(error.message, /^Example list keys refused before sending: /);
        assert.match(error.message, new RegExp(`stay on ${base.replace(/\./g, '\\.')}, `));
        assert.ok(!error.message.includes(TOKEN) && !error.message.includes('user@'), error.message);
      }
      assert.deepEqual(fetches, [], 'no request was made');
      assert.equal(good.received + evil.received, 0);
    });
  }

  it('sends relative paths, absolute paths and same-origin URLs to the base URL’s origin', async () => {
    // Prepare
    const { base } = await started();
    const http = transport(`${base}/api/`);
    // Act
    for (const path of ['keys', '/v2/keys', `${base}/v3/keys?page=2`, '/%2F%2Fevil.example/x', '/users/@me'])
      assert.equal((await http.request(call(path))).status, 200, path);
    // Assess: an absolute path replaces the base URL's path; an encoded "//" is only a path
    assert.deepEqual(good.paths, [
      '/api/keys',
      '/v2/keys',
      '/v3/keys?page=2',
      '/%2F%2Fevil.example/x',
      '/users/@me',
    ]);
  });

  it('does not follow a redirect, so the credential is not re-sent to another host', async () => {
    // Prepare
    const { base } = await started((evilHost) => [
      { status: 302, headers: { location: `http://${evilHost}/x` } },
    ]);
    // Act
    const res = await transport(base).request(call('/keys'));
    // Assess
    assert.equal(res.status, 302);
    assert.equal(evil.received, 0);
  });
});
