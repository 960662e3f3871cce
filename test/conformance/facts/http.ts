import type { ProviderFacts } from './types.js';

const sandbox = (ref: string) => ({ spec: 'sandbox', ref });
const KEY = ['id', 'name', 'status', 'scopes'];

/**
 * The generic HTTP adapter has no provider description of its own: what it may send is what its options
 * schema lets a key document describe (lambdas/providers/generic-http.ts), and the service it is tested
 * against documents its API in local/sandboxes/http-keys.ts (the guide's in-house key service). These are
 * the facts of that service, as the document in test/conformance/conformance.test.ts describes it.
 */
export const httpFacts: ProviderFacts = {
  provider: 'http',
  specs: {
    sandbox: 'local/sandboxes/http-keys.ts (HttpKeysSandbox API)',
    options: 'lambdas/providers/generic-http.ts (OptionsSchema: create, list, validate, revoke, disable)',
  },
  operations: [
    {
      operationId: 'createKey',
      source: sandbox('POST /admin/keys; options.create'),
      method: 'POST',
      path: '/admin/keys',
      auth: { scheme: 'bearer' },
      request: {
        contentType: 'application/json',
        required: ['name'],
        optional: ['copy_from'],
        closed: [{ path: '', keys: ['name', 'copy_from'] }],
      },
      statuses: [201, 400, 401, 409, 415],
      responses: {
        201: {
          required: ['key', 'secret', ...KEY.map((f) => `key.${f}`)],
          closed: [{ path: 'key', keys: KEY }],
        },
      },
    },
    {
      operationId: 'listKeys',
      source: sandbox('GET /admin/keys; options.list'),
      method: 'GET',
      path: '/admin/keys',
      auth: { scheme: 'bearer' },
      statuses: [200, 401],
      responses: {
        200: {
          required: ['items', ...KEY.map((f) => `items[].${f}`)],
          closed: [
            { path: '', keys: ['items'] },
            { path: 'items[]', keys: KEY },
          ],
        },
      },
      pagination: {
        mechanism: 'none: one answer holds every key (options.list has no paging)',
        source: sandbox('GET /admin/keys'),
      },
    },
    {
      operationId: 'disableKey',
      source: sandbox('POST /admin/keys/{id}/disable; options.disable'),
      method: 'POST',
      path: '/admin/keys/{id}/disable',
      auth: { scheme: 'bearer' },
      statuses: [200, 401, 404],
      responses: { 200: { required: KEY, closed: [{ path: '', keys: KEY }] } },
    },
    {
      operationId: 'revokeKey',
      source: sandbox('DELETE /admin/keys/{id}; options.revoke'),
      method: 'DELETE',
      path: '/admin/keys/{id}',
      auth: { scheme: 'bearer' },
      statuses: [204, 401, 404, 409],
      responses: {},
    },
    {
      operationId: 'validateKey',
      source: sandbox('GET /v1/whoami; options.validate'),
      method: 'GET',
      path: '/v1/whoami',
      auth: { scheme: 'headers', headers: ['x-api-key'] },
      statuses: [200, 401],
      responses: { 200: { required: ['id', 'name'], closed: [{ path: '', keys: ['id', 'name'] }] } },
    },
  ],
  errorShape: { source: sandbox('errors'), required: ['error', 'error.code', 'error.message'] },
  keyCaps: [
    {
      source: sandbox('maxKeys (409 beyond)'),
      what: 'keys the service holds (options.maxActiveKeys)',
      max: 3,
    },
  ],
};
