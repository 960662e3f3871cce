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

/** ProjectServiceAccount: every property required (role `owner`, `member`, or `none` without a key). */
const SERVICE_ACCOUNT = ['object', 'id', 'name', 'role', 'created_at'];
const at = (prefix: string, fields: string[]) => fields.map((f) => (prefix === '' ? f : `${prefix}.${f}`));
/** The list envelope of the project listings: first_id and last_id are optional strings (absent when empty). */
const LIST = ['object', 'data', 'first_id', 'last_id', 'has_more'];
const listOf = (item: string[], itemRequired: string[] = item): ShapeFact => ({
  required: ['object', 'data', 'has_more', ...at('data[]', itemRequired)],
  optional: ['first_id', 'last_id'],
  closed: [
    { path: '', keys: LIST },
    { path: 'data[]', keys: item },
  ],
});
/** The api_key a service account is created with: returned once, value included. */
const SERVICE_ACCOUNT_KEY = ['object', 'id', 'name', 'created_at', 'value'];
/** ProjectApiKey; `last_used_at` and `expires_at` may be null or absent, `owner` names a user or a service account. */
const PROJECT_KEY = [
  'object',
  'id',
  'name',
  'redacted_value',
  'created_at',
  'last_used_at',
  'expires_at',
  'owner',
  'owner_project_access',
];
const PROJECT_KEY_REQUIRED = ['object', 'id', 'name', 'redacted_value', 'created_at', 'owner'];
const OWNER_USER = ['id', 'name', 'email', 'created_at', 'role'];
const OWNER_SERVICE_ACCOUNT = ['id', 'name', 'created_at', 'role'];

/**
 * OpenAI's Administration API (openai/openai-openapi openapi.yaml, AdminApiKeyAuth): organization admin API
 * keys, and a project's service accounts and project API keys (options.projectId); and `GET /v1/models`
 * (ApiKeyAuth), with which project mode validates a key. The description documents 200 for every
 * operation (400 for a project's service accounts when the project is archived); the error body is the
 * common Error object.
 */
export const openaiFacts: ProviderFacts = {
  provider: 'openai',
  specs: {
    openapi: 'openai/openai-openapi openapi.yaml',
    docs: 'https://platform.openai.com/docs/guides/error-codes (401, 403, 404, 429, 500)',
    adminKeys:
      'https://platform.openai.com/settings/organization/admin-keys (permissions All, Read only, or Restricted per category; a missing one is named by scope, e.g. "Missing scopes: api.management.read")',
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
    {
      operationId: 'list-project-service-accounts',
      source: spec('list-project-service-accounts'),
      method: 'GET',
      path: '/v1/organization/projects/{project_id}/service_accounts',
      auth: bearer,
      query: { documented: ['limit', 'after'] },
      statuses: [200, 400],
      responses: {
        200: {
          ...listOf(SERVICE_ACCOUNT),
          formats: { 'data[].created_at': 'unix-seconds' },
        },
      },
      pagination: {
        mechanism: 'cursor: after=<last_id> while has_more',
        source: spec('list-project-service-accounts'),
      },
      permissions: {
        names: ['Organization Administration: Read (api.management.read)'],
        source: {
          spec: 'adminKeys',
          ref: 'admin key permissions: All, or Restricted with Organization Administration',
        },
      },
    },
    {
      operationId: 'create-project-service-account',
      source: spec('create-project-service-account'),
      method: 'POST',
      path: '/v1/organization/projects/{project_id}/service_accounts',
      auth: bearer,
      request: {
        contentType: 'application/json',
        required: ['name'],
        optional: ['create_service_account_only', 'expires_in_seconds'],
        nullable: ['create_service_account_only', 'expires_in_seconds'],
        closed: [{ path: '', keys: ['name', 'create_service_account_only', 'expires_in_seconds'] }],
      },
      statuses: [200, 400],
      responses: {
        // ProjectServiceAccountCreateResponse: api_key is optional (null with create_service_account_only).
        200: {
          required: [...SERVICE_ACCOUNT, ...at('api_key', SERVICE_ACCOUNT_KEY)],
          optional: ['api_key'],
          nullable: ['api_key'],
          closed: [
            { path: '', keys: [...SERVICE_ACCOUNT, 'api_key'] },
            { path: 'api_key', keys: SERVICE_ACCOUNT_KEY },
          ],
          formats: { created_at: 'unix-seconds', 'api_key.created_at': 'unix-seconds' },
        },
      },
      permissions: {
        names: ['Organization Administration: Write (api.management.write)'],
        source: {
          spec: 'adminKeys',
          ref: 'admin key permissions: All, or Restricted with Organization Administration',
        },
      },
    },
    {
      operationId: 'delete-project-service-account',
      source: spec('delete-project-service-account'),
      method: 'DELETE',
      path: '/v1/organization/projects/{project_id}/service_accounts/{service_account_id}',
      auth: bearer,
      statuses: [200, 400],
      responses: {
        200: {
          required: ['object', 'id', 'deleted'],
          closed: [{ path: '', keys: ['object', 'id', 'deleted'] }],
        },
      },
      permissions: {
        names: ['Organization Administration: Write (api.management.write)'],
        source: {
          spec: 'adminKeys',
          ref: 'admin key permissions: All, or Restricted with Organization Administration',
        },
      },
    },
    {
      operationId: 'list-project-api-keys',
      source: spec('list-project-api-keys'),
      method: 'GET',
      path: '/v1/organization/projects/{project_id}/api_keys',
      auth: bearer,
      query: { documented: ['limit', 'after', 'owner_project_access'] },
      statuses: [200],
      responses: {
        200: {
          required: [
            'object',
            'data',
            'has_more',
            ...at('data[]', PROJECT_KEY_REQUIRED),
            ...at('data[].owner.user', OWNER_USER),
            ...at('data[].owner.service_account', OWNER_SERVICE_ACCOUNT),
          ],
          optional: [
            'first_id',
            'last_id',
            ...at('data[]', ['last_used_at', 'expires_at', 'owner_project_access']),
            ...at('data[].owner', ['type', 'user', 'service_account']),
          ],
          nullable: ['data[].last_used_at', 'data[].expires_at'],
          closed: [
            { path: '', keys: LIST },
            { path: 'data[]', keys: PROJECT_KEY },
            { path: 'data[].owner', keys: ['type', 'user', 'service_account'] },
            { path: 'data[].owner.user', keys: OWNER_USER },
            { path: 'data[].owner.service_account', keys: OWNER_SERVICE_ACCOUNT },
          ],
          formats: {
            'data[].created_at': 'unix-seconds',
            'data[].last_used_at': 'unix-seconds',
            'data[].expires_at': 'unix-seconds',
          },
        },
      },
      pagination: {
        mechanism: 'cursor: after=<last_id> while has_more',
        source: spec('list-project-api-keys'),
      },
      permissions: {
        names: ['Organization Administration: Read (api.management.read)'],
        source: {
          spec: 'adminKeys',
          ref: 'admin key permissions: All, or Restricted with Organization Administration',
        },
      },
    },
    {
      operationId: 'listModels',
      source: spec('listModels'),
      method: 'GET',
      path: '/v1/models',
      auth: bearer,
      statuses: [200],
      responses: {
        // ListModelsResponse: object "list" and data of Model {id, object, created, owned_by}, all required.
        200: {
          required: ['object', 'data', ...at('data[]', ['id', 'object', 'created', 'owned_by'])],
          closed: [
            { path: '', keys: ['object', 'data'] },
            { path: 'data[]', keys: ['id', 'object', 'created', 'owned_by'] },
          ],
          formats: { 'data[].created': 'unix-seconds' },
        },
      },
      // 401: invalid authentication or incorrect API key (and admin keys, which cannot be used for
      // non-administration endpoints); 403 is an unsupported country, region or territory, no verdict.
      keyVerdict: { source: { spec: 'docs', ref: 'Error codes' }, accepted: [200], rejected: [401] },
    },
  ],
  errorShape: {
    source: spec('ErrorResponse / Error'),
    required: ['error', 'error.message', 'error.type', 'error.param', 'error.code'],
    nullable: ['error.param', 'error.code'],
  },
  generalStatuses: { statuses: [400, 401, 403, 404, 429], source: { spec: 'docs', ref: 'Error codes' } },
};
