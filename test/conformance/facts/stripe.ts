import type { ProviderFacts } from './types.js';

const spec = (ref: string) => ({ spec: 'spec3', ref });

/**
 * Stripe as far as rekey touches it (stripe/openapi openapi/spec3.json): GetBalance, the cheapest read a
 * secret key may make, with HTTP basic (the key as user) or bearer auth. The description's `default`
 * response is the Error object; the statuses are on Stripe's error documentation.
 */
export const stripeFacts: ProviderFacts = {
  provider: 'stripe',
  specs: {
    spec3: 'stripe/openapi openapi/spec3.json',
    docs: 'https://docs.stripe.com/api/errors (400, 401, 402, 403, 404, 409, 424, 429, 5xx)',
  },
  operations: [
    {
      operationId: 'GetBalance',
      source: spec('GetBalance'),
      method: 'GET',
      path: '/v1/balance',
      auth: { scheme: 'bearer' },
      query: { documented: ['expand'] },
      statuses: [200],
      responses: {
        // balance: available, livemode, object, pending required; the rest optional.
        200: {
          required: ['available', 'livemode', 'object', 'pending'],
          optional: ['connect_reserved', 'instant_available', 'issuing', 'refund_and_dispute_prefunding'],
          closed: [
            {
              path: '',
              keys: [
                'available',
                'livemode',
                'object',
                'pending',
                'connect_reserved',
                'instant_available',
                'issuing',
                'refund_and_dispute_prefunding',
              ],
            },
          ],
        },
      },
    },
  ],
  errorShape: { source: spec('error'), required: ['error', 'error.type'], optional: ['error.message'] },
  generalStatuses: {
    statuses: [400, 401, 402, 403, 404, 409, 424, 429],
    source: { spec: 'docs', ref: 'Errors: HTTP status code summary' },
  },
};
