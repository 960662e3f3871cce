import type { OperationFact, ProviderFacts, ShapeFact } from './types.js';

const spec = (ref: string) => ({ spec: 'openapi', ref });
const bearer = { scheme: 'bearer' } as const;

/** iam_token_base: no property is required; the value appears only in iam_single_token_create_response. */
const TOKEN = [
  'condition',
  'expires_on',
  'id',
  'issued_on',
  'last_used_on',
  'modified_on',
  'name',
  'not_before',
  'policies',
  'status',
];
/** iam_api-response-common: the envelope every answer has. */
const ENVELOPE = ['errors', 'messages', 'success'];
const token = (at: string, extra: string[] = []): ShapeFact => ({
  required: ENVELOPE,
  optional: ['result', ...[...TOKEN, ...extra].map((f) => `${at}.${f}`)],
  // A token never used has no last use; the stored copy of iam_last_used_on did not settle whether the
  // property is then null or absent, so both are allowed (the adapter reads either).
  nullable: ['result', `${at}.last_used_on`],
  closed: [{ path: at, keys: [...TOKEN, ...extra] }],
  formats: {
    [`${at}.last_used_on`]: 'date-time',
    [`${at}.expires_on`]: 'date-time',
    [`${at}.not_before`]: 'date-time',
  },
});

/** The five token operations under one owner: user-owned (/user/tokens) or account-owned. */
function tokenOperations(owner: 'user' | 'account'): OperationFact[] {
  const prefix = owner === 'user' ? 'user-api-tokens' : 'account-api-tokens';
  const base = owner === 'user' ? '/client/v4/user/tokens' : '/client/v4/accounts/{account_id}/tokens';
  const group = owner === 'user' ? 'API Tokens' : 'Account API Tokens';
  const perm = (names: string[]) => ({ names, source: spec(`${prefix} x-api-token-group`) });
  return [
    {
      operationId: `${prefix}-list-tokens`,
      source: spec(`${prefix}-list-tokens`),
      method: 'GET',
      path: base,
      auth: bearer,
      query: { documented: ['page', 'per_page', 'direction', 'include_expired'] },
      statuses: [200, '4XX'],
      responses: {
        200: {
          required: ENVELOPE,
          optional: ['result', 'result_info', ...TOKEN.map((f) => `result[].${f}`)],
          nullable: ['result[].last_used_on'],
          closed: [
            { path: 'result[]', keys: TOKEN },
            // iam_result_info: count, page, per_page, total_count — and no total_pages.
            { path: 'result_info', keys: ['count', 'page', 'per_page', 'total_count'] },
          ],
        },
      },
      pagination: {
        mechanism: 'page (from 1) and per_page (5..50); result_info.count/page/per_page/total_count',
        source: spec('iam_result_info'),
      },
      permissions: perm([`${group} Write`, `${group} Read`]),
    },
    {
      operationId: `${prefix}-create-token`,
      source: spec(`${prefix}-create-token`),
      method: 'POST',
      path: base,
      auth: bearer,
      request: {
        contentType: 'application/json',
        // iam_create_payload: name and policies required; condition and the validity window optional.
        required: ['name', 'policies'],
        optional: ['condition', 'expires_on', 'not_before'],
        closed: [{ path: '', keys: ['name', 'policies', 'condition', 'expires_on', 'not_before'] }],
      },
      statuses: [200, '4XX'],
      responses: { 200: token('result', ['value']) },
      permissions: perm([`${group} Write`]),
    },
    {
      operationId: `${prefix}-token-details`,
      source: spec(`${prefix}-token-details`),
      method: 'GET',
      path: `${base}/{token_id}`,
      auth: bearer,
      statuses: [200, '4XX'],
      responses: { 200: token('result') },
      permissions: perm([`${group} Write`, `${group} Read`]),
    },
    {
      operationId: `${prefix}-delete-token`,
      source: spec(`${prefix}-delete-token`),
      method: 'DELETE',
      path: `${base}/{token_id}`,
      auth: bearer,
      statuses: [200, '4XX'],
      // iam_api-response-single-id
      responses: { 200: { required: ENVELOPE, optional: ['result', 'result.id'], nullable: ['result'] } },
      permissions: perm([`${group} Write`]),
    },
    {
      operationId: `${prefix}-verify-token`,
      source: spec(`${prefix}-verify-token`),
      method: 'GET',
      path: `${base}/verify`,
      auth: bearer,
      statuses: [200, '4XX'],
      // iam_token_verify_response_single_segment: result.id and result.status required.
      responses: {
        200: {
          required: [...ENVELOPE, 'result', 'result.id', 'result.status'],
          optional: ['result.expires_on', 'result.not_before'],
          closed: [{ path: 'result', keys: ['id', 'status', 'expires_on', 'not_before'] }],
        },
      },
    },
  ];
}

/**
 * Cloudflare's API tokens, user-owned and account-owned (cloudflare/api-schemas openapi.json). Every answer
 * is the `{success, errors, messages, result}` envelope; failures are documented as 4XX with
 * iam_api-response-common-failure.
 */
export const cloudflareFacts: ProviderFacts = {
  provider: 'cloudflare',
  specs: {
    openapi: 'cloudflare/api-schemas openapi.json',
    docs: 'https://developers.cloudflare.com/fundamentals/api/ (token quotas, rate limits)',
  },
  operations: [...tokenOperations('user'), ...tokenOperations('account')],
  errorShape: {
    source: spec('iam_api-response-common-failure'),
    required: ['errors', 'messages', 'success', 'result', 'errors[].code', 'errors[].message'],
    nullable: ['result'],
  },
  generalStatuses: { statuses: ['4XX'], source: spec('iam_api-response-common-failure') },
  keyCaps: [
    {
      source: { spec: 'docs', ref: 'reference/limits: API token limits' },
      what: 'user-owned API tokens',
      max: 50,
    },
    {
      source: { spec: 'docs', ref: 'reference/limits: API token limits' },
      what: 'account-owned API tokens',
      max: 500,
    },
  ],
};
