import type { AuthFact, ProviderFacts } from './types.js';

const v2 = (ref: string) => ({ spec: 'v2', ref });
const docs = (ref: string) => ({ spec: 'docs', ref });
const admin: AuthFact = { scheme: 'headers', headers: ['dd-api-key', 'dd-application-key'] };

/** PartialAPIKeyAttributes (a listed key: no value, no last use). */
const PARTIAL = ['category', 'created_at', 'last4', 'modified_at', 'name', 'remote_config_read_enabled'];
/** FullAPIKeyAttributes (one key by id, or a created key). */
const FULL = [...PARTIAL, 'date_last_used', 'key', 'private_action_runner_enroll_enabled'];
const fullKey = {
  optional: ['data', 'data.id', 'data.type', 'data.attributes', ...FULL.map((f) => `data.attributes.${f}`)],
  nullable: ['data.attributes.date_last_used'],
  closed: [{ path: 'data.attributes', keys: FULL }],
  formats: {
    'data.attributes.date_last_used': 'date-time',
    'data.attributes.created_at': 'date-time',
  } as const,
};

/**
 * Datadog's v2 key management and the v1 validation call, from DataDog/datadog-api-client-typescript's
 * `.generator/schemas` and the API reference pages (which state each endpoint's permission and the rate-limit
 * headers).
 */
export const datadogFacts: ProviderFacts = {
  provider: 'datadog',
  specs: {
    v2: 'DataDog/datadog-api-client-typescript .generator/schemas/v2/openapi.yaml',
    v1: 'DataDog/datadog-api-client-typescript .generator/schemas/v1/openapi.yaml',
    docs: 'https://docs.datadoghq.com/api/latest/ (key-management pages, rate-limits)',
  },
  operations: [
    {
      operationId: 'ListAPIKeys',
      source: v2('ListAPIKeys'),
      method: 'GET',
      path: '/api/v2/api_keys',
      auth: admin,
      query: {
        documented: [
          'page[size]',
          'page[number]',
          'sort',
          'filter',
          'filter[created_at][start]',
          'filter[created_at][end]',
          'filter[modified_at][start]',
          'filter[modified_at][end]',
          'include',
          'filter[remote_config_read_enabled]',
          'filter[category]',
        ],
      },
      statuses: [200, 400, 403, 429],
      responses: {
        200: {
          optional: [
            'data',
            'data[].id',
            'data[].type',
            'data[].attributes',
            'meta',
            'meta.max_allowed',
            'meta.page',
          ],
          closed: [
            { path: 'data[].attributes', keys: PARTIAL },
            // APIKeysResponseMeta / APIKeysResponseMetaPage: the only paging facts a listing reports.
            { path: 'meta', keys: ['max_allowed', 'page'] },
            { path: 'meta.page', keys: ['total_filtered_count'] },
          ],
        },
      },
      pagination: { mechanism: 'page[size] (max 100) and page[number] from 0', source: v2('ListAPIKeys') },
      permissions: { names: ['api_keys_read'], source: docs('Get all API keys') },
    },
    {
      operationId: 'CreateAPIKey',
      source: v2('CreateAPIKey'),
      method: 'POST',
      path: '/api/v2/api_keys',
      auth: admin,
      request: {
        contentType: 'application/json',
        // APIKeyCreateRequest → APIKeyCreateData (attributes, type) → APIKeyCreateAttributes (name).
        required: ['data', 'data.type', 'data.attributes', 'data.attributes.name'],
        closed: [
          { path: '', keys: ['data'] },
          { path: 'data', keys: ['type', 'attributes'] },
          { path: 'data.attributes', keys: ['name', 'category', 'remote_config_read_enabled'] },
        ],
      },
      statuses: [201, 400, 403, 429],
      responses: { 201: fullKey },
      permissions: { names: ['api_keys_write'], source: docs('Create an API key') },
    },
    {
      operationId: 'GetAPIKey',
      source: v2('GetAPIKey'),
      method: 'GET',
      path: '/api/v2/api_keys/{api_key_id}',
      auth: admin,
      query: { documented: ['include'] },
      statuses: [200, 403, 404, 429],
      responses: { 200: fullKey },
      permissions: { names: ['api_keys_read'], source: docs('Get API key') },
    },
    {
      operationId: 'DeleteAPIKey',
      source: v2('DeleteAPIKey'),
      method: 'DELETE',
      path: '/api/v2/api_keys/{api_key_id}',
      auth: admin,
      statuses: [204, 403, 404, 429],
      responses: {},
      permissions: { names: ['api_keys_delete'], source: docs('Delete an API key') },
    },
    {
      operationId: 'Validate',
      source: { spec: 'v1', ref: 'Validate' },
      method: 'GET',
      path: '/api/v1/validate',
      auth: { scheme: 'headers', headers: ['dd-api-key'] },
      statuses: [200, 403, 429],
      responses: { 200: { optional: ['valid'], closed: [{ path: '', keys: ['valid'] }] } },
    },
  ],
  errorShape: { source: v2('APIErrorResponse'), required: ['errors'] },
  rateLimit: {
    source: docs('Rate limits'),
    headers: [
      'x-ratelimit-limit',
      'x-ratelimit-period',
      'x-ratelimit-remaining',
      'x-ratelimit-reset',
      'x-ratelimit-name',
    ],
    reset: { header: 'x-ratelimit-reset', unit: 'seconds-until-reset' },
  },
  keyCaps: [{ source: v2('APIKeysResponseMeta.max_allowed'), what: 'API keys per organization', max: 50 }],
};

/** Every permission the operations above need, in Datadog's names. */
export const datadogPermissions = [
  ...new Set(datadogFacts.operations.flatMap((o) => o.permissions?.names ?? [])),
].sort();
