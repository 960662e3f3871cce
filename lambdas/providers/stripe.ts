import * as z from 'zod/mini';
import { ProviderRejectedError } from '../errors.js';
import { ProviderHttp } from './http.js';
import type { ProviderClient, ProviderDefinition } from './types.js';

/**
 * Stripe secret and restricted keys. Stripe has no public API to create or delete them, so rotation is
 * assisted: a person makes the new key in the Dashboard and pipes it to `rekey rotate <secret> --provide-key`;
 * rekey tests it (`GET /v1/balance`), promotes it, then reminds the person to revoke the old key and checks
 * that it really stopped working. The "rotator credential" holds nothing: rekey never holds a Stripe admin key.
 */
const CredentialSchema = z.strictObject({});
const OptionsSchema = z.strictObject({});

/** How rekey names a Stripe key it cannot look up by id: its prefix and last four characters, as the Dashboard shows. */
export function stripeKeyId(value: string): string {
  const prefix = /^(sk|rk)_(test|live)_/.exec(value)?.[0] ?? '';
  return `${prefix}…${value.slice(-4)}`;
}

const manual = (call: string): never => {
  throw new ProviderRejectedError(
    'Stripe',
    call,
    undefined,
    'Stripe has no API for this; make the new key in the Dashboard and run `rekey rotate <secret> --provide-key`.',
  );
};

export const stripe: ProviderDefinition<z.infer<typeof CredentialSchema>, z.infer<typeof OptionsSchema>> = {
  name: 'stripe',
  displayName: 'Stripe',
  capabilities: { dualKey: true, maxActiveKeys: null, lastUsed: false, valueReadable: false },
  maxKeyNameLength: 100,
  credentialSchema: CredentialSchema,
  optionsSchema: OptionsSchema,
  assisted: {
    dashboardUrl: 'https://dashboard.stripe.com/apikeys',
    revokeAction:
      'In the Stripe Dashboard (Developers → API keys), delete the key {keyId} — or, if you rolled it, make sure its expiration has passed',
    keyIdOf: stripeKeyId,
    looksLikeKey: (value) => /^(sk|rk)_(test|live)_[A-Za-z0-9]{16,}$/.test(value),
  },
  connect({ endpoint, http: httpOptions }): ProviderClient {
    const http = new ProviderHttp({
      provider: 'Stripe',
      baseUrl: endpoint ?? 'https://api.stripe.com',
      ...httpOptions,
    });
    return {
      createKey: () => manual('create key'),
      findKeysByName: async () => [],
      async validateKey(key) {
        const res = await http.request({
          call: 'validate key',
          method: 'GET',
          path: '/v1/balance',
          headers: { authorization: `Bearer ${key.value}` },
        });
        // 403: a restricted key without balance access — it authenticated.
        if (res.status === 200 || res.status === 403) return 'accepted';
        if (res.status === 401) return 'rejected';
        throw new ProviderRejectedError(
          'Stripe',
          'validate key',
          res.status,
          'unexpected status for GET /v1/balance.',
        );
      },
      // Stripe has no key API: the id rekey records for a Stripe key is derived from its value (stripeKeyId,
      // the prefix and last four characters the Dashboard lists it by), so the value alone decides. No call.
      async identifies(key) {
        const id = stripeKeyId(key.value);
        if (id === key.id) return { verdict: 'matches' };
        return {
          verdict: 'differs',
          providerKeyId: id,
          find: "rekey's id of a Stripe key is its prefix and last four characters, as the Dashboard (Developers → API keys) lists it",
        };
      },
      revokeKey: () => manual('revoke key'),
    };
  },
};
