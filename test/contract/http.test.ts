import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, it } from 'node:test';
import { InvalidInputError } from '../../lambdas/errors.js';
import { Logger } from '../../lambdas/logger.js';
import { http } from '../../lambdas/providers/generic-http.js';
import { ForeignOriginError } from '../../lambdas/providers/http.js';
import { PROVIDERS } from '../../lambdas/providers/index.js';
import { InventoryError, parseInventory, resolveInventory } from '../../lib/inventory.js';
import { INTERNAL_GATEWAY_DESCRIPTION } from '../../local/rehearsal/providers.js';
import { HttpKeysSandbox } from '../../local/sandboxes/http-keys.js';
import type { ContractFixture, SeededProvider } from './fixture.js';
import { ContractRotationEnv } from './rotation-env.js';
import { providerContract } from './suite.js';

const MAX_ACTIVE_KEYS = 10;
/** The description of the guide's `provider_api: https://gateway.internal/admin/keys`. */
const GATEWAY_DESCRIPTION = { ...INTERNAL_GATEWAY_DESCRIPTION, maxActiveKeys: MAX_ACTIVE_KEYS };
const gatewayError = (body: unknown): boolean => {
  const error = (body as { error?: { code?: unknown; message?: unknown } })?.error;
  return typeof error?.code === 'string' && typeof error.message === 'string';
};

function gatewayFixture(options: Record<string, unknown> = GATEWAY_DESCRIPTION): ContractFixture {
  return {
    provider: http,
    keyLimit: MAX_ACTIVE_KEYS,
    async seed(): Promise<SeededProvider> {
      const sandbox = new HttpKeysSandbox({ requireDisableBeforeDelete: true });
      await sandbox.start();
      const current = sandbox.seedKey('billing-service', ['invoices:read', 'invoices:write']);
      const bearer = { authorization: `Bearer ${sandbox.adminToken}` };
      return {
        sandbox,
        createRequest: (req) => req.method === 'POST' && req.path === '/admin/keys',
        credential: { baseUrl: 'https://gateway.internal', token: sandbox.adminToken },
        options,
        current,
        appKeys: () => sandbox.listKeys().map(({ id, name }) => ({ id, name })),
        permissionsOf: (id) => sandbox.listKeys().find((k) => k.id === id)?.scopes,
        accepts: (key) => sandbox.accepts(key.value),
        fillToLimit() {
          for (let i = sandbox.listKeys().length; i < MAX_ACTIVE_KEYS; i++)
            sandbox.seedKey(`filler-${i}`, []);
        },
        violations: [
          {
            what: 'the app-key header on an admin call documented as bearer',
            method: 'GET',
            path: '/admin/keys',
            headers: { 'x-api-key': sandbox.adminToken },
            status: 401,
            errorShape: gatewayError,
          },
          {
            what: 'a form body where the service documents JSON',
            method: 'POST',
            path: '/admin/keys',
            headers: { ...bearer, 'content-type': 'application/x-www-form-urlencoded' },
            body: 'name=x',
            status: 415,
            errorShape: gatewayError,
          },
          {
            what: 'a create without the required name',
            method: 'POST',
            path: '/admin/keys',
            headers: { ...bearer, 'content-type': 'application/json' },
            body: JSON.stringify({ copy_from: current.id }),
            status: 400,
            errorShape: gatewayError,
          },
          {
            what: 'deleting an active key without disabling it first',
            method: 'DELETE',
            path: `/admin/keys/${current.id}`,
            headers: bearer,
            status: 409,
            errorShape: gatewayError,
          },
        ],
      };
    },
  };
}

providerContract(gatewayFixture());

describe('generic HTTP provider: a malformed description is an inventory error', () => {
  let env: ContractRotationEnv | undefined;
  afterEach(() => env?.stop());

  const cases: Array<{ broken: Record<string, unknown>; field: string; fix: RegExp }> = [
    {
      broken: { ...GATEWAY_DESCRIPTION, create: { ...GATEWAY_DESCRIPTION.create, idPointer: 'key.id' } },
      field: 'options.create.idPointer',
      fix: /JSON pointer/,
    },
    {
      broken: { ...GATEWAY_DESCRIPTION, revoke: { path: '/admin/keys' } },
      field: 'options.revoke.path',
      fix: /\{id\}/,
    },
    {
      broken: Object.fromEntries(Object.entries(GATEWAY_DESCRIPTION).filter(([k]) => k !== 'list')),
      field: 'options.list',
      fix: /missing/,
    },
  ];
  for (const { broken, field, fix } of cases) {
    it(`fails the rotation naming ${field}, and changes nothing`, async () => {
      // Prepare
      env = await new ContractRotationEnv(gatewayFixture(broken)).start();
      const before = await env.read('AWSCURRENT');
      // Act
      await env.rotate();
      // Assess
      const outcome = env.lastOutcome();
      assert.equal(outcome?.ok, false);
      assert.match(outcome?.error ?? '', new RegExp(`"${field.replace(/\./g, '\\.')}"`));
      assert.match(outcome?.error ?? '', fix);
      assert.equal((await env.read('AWSCURRENT')).versionId, before.versionId);
      assert.deepEqual(
        env.seeded.appKeys().map((k) => k.id),
        [before.keyId],
        'no key was created',
      );
      assert.deepEqual(env.leakedLines(), []);
    });
  }
});

/** A second loopback server standing for another host: it counts what reaches it. */
async function startEvilHost(): Promise<{ host: string; received: () => number; stop: () => Promise<void> }> {
  let received = 0;
  const server = createServer((req, res) => {
    received += 1;
    req.resume();
    res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    host: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    received: () => received,
    stop: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

describe('generic HTTP provider: where the admin token is sent', () => {
  let env: ContractRotationEnv | undefined;
  let evil: Awaited<ReturnType<typeof startEvilHost>> | undefined;
  afterEach(async () => {
    await env?.stop();
    await evil?.stop();
    env = undefined;
    evil = undefined;
  });

  it('a described path that leaves the configured origin is refused; the admin token never reaches another host', async () => {
    // Prepare: the create path points at the evil host (the schema is the first guard)
    evil = await startEvilHost();
    const leaving = { ...GATEWAY_DESCRIPTION.create, path: `//${evil.host}/admin/keys` };
    env = await new ContractRotationEnv(gatewayFixture({ ...GATEWAY_DESCRIPTION, create: leaving })).start();
    const before = await env.read('AWSCURRENT');
    // Act
    await env.rotate();
    // Assess
    const outcome = env.lastOutcome();
    assert.equal(outcome?.ok, false);
    assert.match(outcome?.error ?? '', /"options\.create\.path"/);
    assert.match(outcome?.error ?? '', /must stay on the base URL's origin/);
    assert.equal((await env.read('AWSCURRENT')).versionId, before.versionId);
    assert.deepEqual(env.leakedLines(), []);

    // Act: a description that bypassed the schema meets the transport's own check on every call
    const token = env.seeded.credential.token as string;
    const described = http.optionsSchema.parse(GATEWAY_DESCRIPTION);
    const requestsBefore = env.seeded.sandbox.requests.length;
    for (const path of [`//${evil.host}/k/{id}`, `http://${evil.host}/k/{id}`, `/\\${evil.host}/k/{id}`]) {
      const client = http.connect({
        credential: { token },
        options: {
          description: described.description,
          adminAuth: described.adminAuth,
          create: { ...described.create, path },
          list: { ...described.list, path },
          validate: { ...described.validate, path },
          revoke: { ...described.revoke, path },
          disable: { ...described.disable!, path },
        },
        endpoint: env.seeded.sandbox.url,
        logger: new Logger(() => {}),
      });
      const calls = [
        client.createKey({ name: 'rekey-x', likeKeyId: before.keyId }),
        client.findKeysByName('rekey-x'),
        client.validateKey({ id: before.keyId, value: before.key }),
        client.revokeKey(before.keyId),
      ];
      for (const settled of await Promise.allSettled(calls)) {
        // Assess
        assert.equal(settled.status, 'rejected');
        const error = (settled as PromiseRejectedResult).reason as Error;
        assert.ok(error instanceof ForeignOriginError, `${path}: ${error.message}`);
        assert.match(
          error.message,
          /^HTTP key service \(gateway\.internal\) \w+ keys? refused before sending/,
        );
        assert.ok(!error.message.includes(token) && !error.message.includes(before.key));
      }
    }
    assert.equal(evil.received(), 0, 'nothing reached the other host');
    assert.deepEqual(env.seeded.sandbox.requests.slice(requestsBefore), [], 'nor the service');
  });

  it('refuses to connect without a base URL from the deployment or the rotator credential, naming both fixes', () => {
    // Act + Assess
    assert.throws(
      () =>
        http.connect({
          credential: { token: 'adm_token_never_shown' },
          options: http.optionsSchema.parse(GATEWAY_DESCRIPTION),
          logger: new Logger(() => {}),
        }),
      (error: unknown) =>
        error instanceof InvalidInputError &&
        /baseUrl/.test(error.message) &&
        /providers.http.endpoint/.test(error.message) &&
        !error.message.includes('adm_token_never_shown'),
    );
  });
});

describe('generic HTTP provider in the inventory (the guide’s internal API gateway)', () => {
  const gatewayEntry = (options: Record<string, unknown>) => ({
    api_keys: [
      {
        name: 'internal-service-api-key',
        provider: 'Internal API Gateway',
        adapter: 'http',
        environment: 'production',
        used_by: ['frontend-bff', 'mobile-api'],
        vault_path: 'prod/internal/gateway-key',
        rotation_frequency: '7d',
        supports_dual_key: true,
        provider_api: 'https://gateway.internal/admin/keys',
        criticality: 'high',
        rotator_secret: 'rekey/rotator/internal-gateway',
        options,
      },
    ],
  });
  const resolve = (options: Record<string, unknown>) =>
    resolveInventory(
      parseInventory(gatewayEntry(options), 'rekey.yaml'),
      Object.keys(PROVIDERS),
      'rekey.yaml',
    );

  it('accepts the gateway described for the generic HTTP provider', () => {
    assert.equal(resolve(GATEWAY_DESCRIPTION).length, 1);
  });

  for (const field of ['create', 'list', 'validate', 'revoke', 'disable'] as const) {
    it(`rejects a ${field}.path that leaves the base URL's origin, naming options.${field}.path`, () => {
      for (const path of ['//evil.example/k/{id}', 'https://evil.example/k/{id}', '/\\evil.example/k/{id}']) {
        // Act + Assess
        assert.throws(
          () => resolve({ ...GATEWAY_DESCRIPTION, [field]: { ...GATEWAY_DESCRIPTION[field], path } }),
          (error: unknown) =>
            error instanceof InventoryError &&
            new RegExp(`options\\.${field}\\.path`).test(error.message) &&
            /must (stay on the base URL's origin|be a path starting with "\/")/.test(error.message),
          path,
        );
      }
    });
  }

  it('rejects a malformed description with an inventory error naming the field', () => {
    // Act + Assess
    assert.throws(
      () => resolve({ ...GATEWAY_DESCRIPTION, list: { ...GATEWAY_DESCRIPTION.list, itemsPointer: 'items' } }),
      (error: unknown) =>
        error instanceof InventoryError &&
        /internal-service-api-key/.test(error.message) &&
        /options\.list\.itemsPointer/.test(error.message) &&
        /JSON pointer/.test(error.message),
    );
  });
});
