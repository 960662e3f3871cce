import type { ProviderFacts, ShapeFact } from './types.js';

const spec = (ref: string) => ({ spec: 'openapi', ref });
const bearer = { scheme: 'bearer' } as const;

/** AdminApiKey's properties and those it requires; `name`, `last_used_at` and `expires_at` may be null. */
const KEY = [
  'object',
  'id',
  'name',
  'redacted_value',
  'value',
  'created_at',
  'last_used_at',
  'expires_at',
  'owner',
];
const REQUIRED = [
  'object',
  'id',
  'name',
  'redacted_value',
  'created_at',
  'last_used_at',
  'expires_at',
  'owner',
];
const NULLABLE = ['name', 'last_used_at', 'expires_at'];
const adminKey = (at: string): ShapeFact => {
  const p = (f: string) => (at === '' ? f : `${at}.${f}`);
  return {
    required: REQUIRED.map(p),
    nullable: NULLABLE.map(p),
    closed: [{ path: at, keys: KEY }],
    formats: {
      [p('created_at')]: 'unix-seconds',
      [p('last_used_at')]: 'unix-seconds',
      [p('expires_at')]: 'unix-seconds',
    },
  };
};

/**
 * OpenAI's organization admin API keys (openai/openai-openapi openapi.yaml, AdminApiKeyAuth). The
 * description documents 200 for every operation; the error body is the common Error object.
 */
export const openaiFacts: ProviderFacts = {
  provider: 'openai',
  specs: {
    openapi: 'openai/openai-openapi openapi.yaml',
    docs: 'https://platform.openai.com/docs/guides/error-codes (401, 403, 404, 429, 500)',
  },
  operations: [
    {
      operationId: 'admin-api-keys-list',
      source: spec('admin-api-keys-list'),
      method: 'GET',
      path: '/v1/organization/admin_api_keys',
      auth: bearer,
      query: { documented: ['after', 'order', 'limit'] },
      statuses: [200],
      responses: {
        200: {
          // ApiKeyList: object, data, has_more, first_id, last_id (none required).
          optional: ['object', 'data', 'has_more', 'first_id', 'last_id'],
          required: adminKey('data[]').required,
          nullable: adminKey('data[]').nullable,
          closed: [
            { path: '', keys: ['object', 'data', 'has_more', 'first_id', 'last_id'] },
            { path: 'data[]', keys: KEY },
          ],
        },
      },
      pagination: {
        mechanism: 'cursor: after=<last_id> while has_more',
        source: spec('admin-api-keys-list'),
      },
    },
    {
      operationId: 'admin-api-keys-create',
      source: spec('admin-api-keys-create'),
      method: 'POST',
      path: '/v1/organization/admin_api_keys',
      auth: bearer,
      request: {
        contentType: 'application/json',
        required: ['name'],
        optional: ['expires_in_seconds'],
        closed: [{ path: '', keys: ['name', 'expires_in_seconds'] }],
      },
      statuses: [200],
      responses: { 200: adminKey('') },
    },
    {
      operationId: 'admin-api-keys-get',
      source: spec('admin-api-keys-get'),
      method: 'GET',
      path: '/v1/organization/admin_api_keys/{key_id}',
      auth: bearer,
      statuses: [200],
      responses: { 200: adminKey('') },
    },
    {
      operationId: 'admin-api-keys-delete',
      source: spec('admin-api-keys-delete'),
      method: 'DELETE',
      path: '/v1/organization/admin_api_keys/{key_id}',
      auth: bearer,
      statuses: [200],
      responses: {
        200: {
          optional: ['id', 'object', 'deleted'],
          closed: [{ path: '', keys: ['id', 'object', 'deleted'] }],
        },
      },
    },
  ],
  errorShape: {
    source: spec('ErrorResponse / Error'),
    required: ['error', 'error.message', 'error.type', 'error.param', 'error.code'],
    nullable: ['error.param', 'error.code'],
  },
  generalStatuses: { statuses: [400, 401, 403, 404, 429], source: { spec: 'docs', ref: 'Error codes' } },
};
