import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { InvalidInputError } from '../../lambdas/errors.js';
import { Logger } from '../../lambdas/logger.js';
import { http } from '../../lambdas/providers/generic-http.js';
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

describe('generic HTTP provider: where the admin token is sent', () => {
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
