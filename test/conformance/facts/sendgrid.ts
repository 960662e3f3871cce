import type { ProviderFacts } from './types.js';

const keys = { spec: 'api_keys', ref: '' };
const op = (ref: string) => ({ ...keys, ref });
const bearer = { scheme: 'bearer' } as const;

/**
 * SendGrid's API key management and scope listing (twilio/sendgrid-oai). The description documents no
 * pagination for ListApiKey beyond `limit`, and no error statuses beyond those listed per operation; rate
 * limits are on SendGrid's documentation page, not in the description.
 */
export const sendgridFacts: ProviderFacts = {
  provider: 'sendgrid',
  specs: {
    api_keys: 'twilio/sendgrid-oai spec/json/tsg_api_keys_v3.json',
    scopes: 'twilio/sendgrid-oai spec/json/tsg_scopes_v3.json',
    docs: 'https://www.twilio.com/docs/sendgrid/api-reference/how-to-use-the-sendgrid-v3-api (rate limits, API key permissions)',
  },
  operations: [
    {
      operationId: 'CreateApiKey',
      source: op('CreateApiKey'),
      method: 'POST',
      path: '/v3/api_keys',
      auth: bearer,
      request: {
        contentType: 'application/json',
        // `scopes` is optional, and a create without it makes a Full Access key.
        required: ['name'],
        optional: ['scopes'],
        closed: [{ path: '', keys: ['name', 'scopes'] }],
      },
      statuses: [201, 400, 401, 403, 404, 500],
      responses: {
        201: { optional: ['api_key', 'api_key_id', 'name', 'scopes'] },
      },
      permissions: { names: ['api_keys.create'], source: { spec: 'docs', ref: 'API Key Permissions List' } },
    },
    {
      operationId: 'ListApiKey',
      source: op('ListApiKey'),
      method: 'GET',
      path: '/v3/api_keys',
      auth: bearer,
      query: { documented: ['limit'] },
      statuses: [200, 401, 403, 404, 500],
      responses: {
        200: {
          optional: ['result', 'result[].api_key_id', 'result[].name'],
          // ApiKeyResponse: no pagination fields, no scopes in a listing.
          closed: [
            { path: '', keys: ['result'] },
            { path: 'result[]', keys: ['api_key_id', 'name'] },
          ],
        },
      },
      pagination: { mechanism: 'none: one answer of at most `limit` keys', source: op('ListApiKey') },
      permissions: { names: ['api_keys.read'], source: { spec: 'docs', ref: 'API Key Permissions List' } },
    },
    {
      operationId: 'GetApiKey',
      source: op('GetApiKey'),
      method: 'GET',
      path: '/v3/api_keys/{api_key_id}',
      auth: bearer,
      statuses: [200, 400, 401, 403, 404, 500],
      responses: {
        // ApiKeyScopesResponse: `scopes` is optional.
        200: {
          optional: ['result', 'result[].api_key_id', 'result[].name', 'result[].scopes'],
          closed: [
            { path: '', keys: ['result'] },
            { path: 'result[]', keys: ['api_key_id', 'name', 'scopes'] },
          ],
        },
      },
      permissions: { names: ['api_keys.read'], source: { spec: 'docs', ref: 'API Key Permissions List' } },
      // Called with the key itself on its own id, where ListScope's 401 decided nothing: 401 is
      // GlobalError401 (the docs' "401 Requires authentication"), 403 ApiKeysError403 (authenticated, without
      // api_keys.read), 404 ApiKeysError404 (authenticated; no such key id).
      keyVerdict: { source: op('GetApiKey'), accepted: [200, 403, 404], rejected: [401] },
    },
    {
      operationId: 'DeleteApiKey',
      source: op('DeleteApiKey'),
      method: 'DELETE',
      path: '/v3/api_keys/{api_key_id}',
      auth: bearer,
      statuses: [204, 400, 401, 403, 404, 500],
      responses: {},
      permissions: { names: ['api_keys.delete'], source: { spec: 'docs', ref: 'API Key Permissions List' } },
    },
    {
      operationId: 'ListScope',
      source: { spec: 'scopes', ref: 'ListScope' },
      method: 'GET',
      path: '/v3/scopes',
      auth: bearer,
      statuses: [200, 401, 403, 404, 500],
      responses: { 200: { required: ['scopes'], closed: [{ path: '', keys: ['scopes'] }] } },
      // The 401 is documented as "the user making the call doesn't have the authorization to view the list of
      // scopes" (body {errors:[{field:null,message:"authorization required"}]}): not proof of a dead key.
      keyVerdict: {
        source: { spec: 'scopes', ref: 'ListScope' },
        accepted: [200, 403],
        rejected: [],
        inconclusive: [401],
      },
    },
  ],
  errorShape: {
    source: op('ErrorResponse'),
    required: ['errors'],
    optional: ['errors[].message', 'errors[].field', 'errors[].help', 'id'],
    nullable: ['errors[].field'],
  },
  rateLimit: {
    source: { spec: 'docs', ref: 'Rate limits' },
    headers: ['x-ratelimit-limit', 'x-ratelimit-remaining', 'x-ratelimit-reset'],
    reset: { header: 'x-ratelimit-reset', unit: 'epoch-seconds' },
  },
  generalStatuses: { statuses: [429], source: { spec: 'docs', ref: 'Rate limits' } },
  keyCaps: [
    { source: op('CreateApiKey'), what: 'API keys per account (a 101st create answers 403)', max: 100 },
  ],
};
