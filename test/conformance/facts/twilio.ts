import type { ProviderFacts } from './types.js';

const iam = (ref: string) => ({ spec: 'iam_v1', ref });
const api = (ref: string) => ({ spec: 'api_v2010', ref });
const basic = { scheme: 'basic', userPattern: /^(AC|SK)[0-9a-fA-F]{32}$/ } as const;

/** What every Key resource carries; twilio-oai marks each property nullable. */
const KEY_FIELDS = ['sid', 'friendly_name', 'date_created', 'date_updated'];

/**
 * Twilio's IAM v1 Keys API and the 2010 API's Account and Balance resources (twilio/twilio-oai). Bodies
 * are forms, auth is HTTP basic (account SID + auth token, or a key SID + secret); the description documents
 * only the success statuses, the error body and statuses are on Twilio's error documentation.
 */
export const twilioFacts: ProviderFacts = {
  provider: 'twilio',
  specs: {
    iam_v1: 'twilio/twilio-oai spec/json/twilio_iam_v1.json',
    api_v2010: 'twilio/twilio-oai spec/json/twilio_api_v2010.json',
    docs: 'https://www.twilio.com/docs/usage/twilios-response (errors: code, message, more_info, status)',
  },
  operations: [
    {
      operationId: 'ListGetKeys',
      source: iam('ListGetKeys'),
      method: 'GET',
      path: '/v1/Keys',
      auth: basic,
      query: { documented: ['AccountSid', 'PageSize', 'Page', 'PageToken'], required: ['AccountSid'] },
      statuses: [200],
      responses: {
        200: {
          optional: ['keys', ...KEY_FIELDS.map((f) => `keys[].${f}`), 'meta'],
          nullable: [...KEY_FIELDS.map((f) => `keys[].${f}`), 'meta.next_page_url', 'meta.previous_page_url'],
          closed: [
            // iam.v1.get_keys: a listed key carries no policy.
            { path: 'keys[]', keys: KEY_FIELDS },
            {
              path: 'meta',
              keys: [
                'first_page_url',
                'key',
                'next_page_url',
                'page',
                'page_size',
                'previous_page_url',
                'url',
              ],
            },
          ],
          formats: {
            'meta.next_page_url': 'uri',
            'meta.previous_page_url': 'uri',
            'meta.first_page_url': 'uri',
            'meta.url': 'uri',
            'keys[].date_created': 'rfc2822',
          },
        },
      },
      pagination: {
        mechanism: 'meta.next_page_url (absolute URI, null on the last page)',
        source: iam('ListGetKeys'),
      },
    },
    {
      operationId: 'CreateNewKey',
      source: iam('CreateNewKey'),
      method: 'POST',
      path: '/v1/Keys',
      auth: basic,
      request: {
        contentType: 'application/x-www-form-urlencoded',
        required: ['AccountSid'],
        optional: ['FriendlyName', 'KeyType', 'Policy'],
        closed: [{ path: '', keys: ['AccountSid', 'FriendlyName', 'KeyType', 'Policy'] }],
      },
      statuses: [201],
      responses: {
        201: {
          optional: [...KEY_FIELDS, 'secret', 'policy'],
          nullable: [...KEY_FIELDS, 'secret', 'policy'],
          closed: [{ path: '', keys: [...KEY_FIELDS, 'secret', 'policy'] }],
        },
      },
    },
    {
      operationId: 'FetchKey',
      source: iam('FetchKey'),
      method: 'GET',
      path: '/v1/Keys/{Sid}',
      auth: basic,
      statuses: [200],
      responses: {
        // iam.v1.key: no secret after creation.
        200: {
          optional: [...KEY_FIELDS, 'policy'],
          nullable: [...KEY_FIELDS, 'policy'],
          closed: [{ path: '', keys: [...KEY_FIELDS, 'policy'] }],
        },
      },
    },
    {
      operationId: 'DeleteKey',
      source: iam('DeleteKey'),
      method: 'DELETE',
      path: '/v1/Keys/{Sid}',
      auth: basic,
      statuses: [204],
      responses: {},
    },
    {
      operationId: 'FetchBalance',
      source: api('FetchBalance'),
      method: 'GET',
      path: '/2010-04-01/Accounts/{AccountSid}/Balance.json',
      auth: basic,
      statuses: [200],
      responses: {
        200: {
          optional: ['account_sid', 'balance', 'currency'],
          nullable: ['account_sid', 'balance', 'currency'],
        },
      },
    },
    {
      operationId: 'FetchAccount',
      source: api('FetchAccount'),
      method: 'GET',
      path: '/2010-04-01/Accounts/{Sid}.json',
      auth: basic,
      statuses: [200],
      responses: {
        200: {
          optional: ['sid', 'friendly_name', 'status', 'type'],
          nullable: ['sid', 'friendly_name', 'status', 'type'],
        },
      },
    },
  ],
  errorShape: {
    source: { spec: 'docs', ref: "Twilio's response: errors" },
    required: ['code', 'message', 'more_info', 'status'],
  },
  // Twilio's error page: authentication (401), permission (403), missing resource (404), bad parameters (400),
  // wrong method (405) and too many requests (429, error 20429).
  generalStatuses: { statuses: [400, 401, 403, 404, 405, 429], source: { spec: 'docs', ref: 'errors' } },
};
