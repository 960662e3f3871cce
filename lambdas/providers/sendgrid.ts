import * as z from 'zod/mini';
import { InvalidInputError, ProviderRejectedError } from '../errors.js';
import { ProviderHttp, type ProviderResponse } from './http.js';
import type { ProviderClient, ProviderDefinition } from './types.js';

/**
 * SendGrid API keys (`/v3/api_keys`). Keys are bearer tokens; the key value is returned only by the create
 * call, so a key a crashed attempt created cannot be adopted — it is revoked and replaced instead.
 * Accounts hold at most 100 keys; a 101st create answers 403. A create without scopes makes a Full Access
 * key, and GetApiKey's `scopes` is optional, so rekey never creates a key without scopes.
 */
export const SENDGRID_BASE_URLS = {
  global: 'https://api.sendgrid.com',
  /** For EU regional subusers. */
  eu: 'https://api.eu.sendgrid.com',
} as const;

/**
 * The current key's scopes could not be read (GET /v3/api_keys/{id} returned none), and creating a key
 * without scopes would make a Full Access key: the scopes must come from the inventory.
 */
export class SendGridScopesUnknownError extends InvalidInputError {
  constructor(keyId: string) {
    super(
      'INVALID_SECRET',
      `SendGrid returned no scopes for the current key ${keyId} (GET /v3/api_keys/{id}), and a key created ` +
        "without scopes has Full Access, so rekey did not create one. Set options.scopes in this key's " +
        'inventory entry to the scopes its applications need (for example ["mail.send"]), then rotate again.',
      { field: 'options.scopes' },
    );
  }
}
const CredentialSchema = z.object({
  /** An API key with the api_keys.create, api_keys.read and api_keys.delete scopes. */
  apiKey: z.string().check(z.minLength(1)),
});

const OptionsSchema = z.strictObject({
  /** Scopes for new keys. Default: copy the current key's scopes (GET /v3/api_keys/{id}). */
  scopes: z.optional(z.array(z.string().check(z.minLength(1))).check(z.minLength(1))),
  /** `on-behalf-of` header for keys of a subuser. */
  onBehalfOf: z.optional(z.string().check(z.minLength(1))),
  /** "eu" for an EU regional subuser (api.eu.sendgrid.com). */
  region: z._default(z.enum(['global', 'eu']), 'global'),
});

const CreatedSchema = z.object({
  api_key: z.string().check(z.minLength(1)),
  api_key_id: z.string().check(z.minLength(1)),
  name: z.string(),
  scopes: z.optional(z.array(z.string())),
});
const ListSchema = z.object({
  result: z.array(z.object({ api_key_id: z.string().check(z.minLength(1)), name: z.string() })),
});
const GetSchema = z.object({
  result: z
    .array(
      z.object({
        api_key_id: z.string().check(z.minLength(1)),
        name: z.string(),
        scopes: z.optional(z.array(z.string())),
      }),
    )
    .check(z.minLength(1)),
});

export const SENDGRID_MAX_KEYS = 100;

export const sendgrid: ProviderDefinition<z.infer<typeof CredentialSchema>, z.infer<typeof OptionsSchema>> = {
  name: 'sendgrid',
  displayName: 'SendGrid',
  capabilities: { dualKey: true, maxActiveKeys: SENDGRID_MAX_KEYS, lastUsed: false, valueReadable: false },
  maxKeyNameLength: 100,
  credentialSchema: CredentialSchema,
  optionsSchema: OptionsSchema,
  connect({ credential, options, endpoint, http: httpOptions }): ProviderClient {
    const http = new ProviderHttp({
      provider: 'SendGrid',
      baseUrl: endpoint ?? SENDGRID_BASE_URLS[options.region],
      ...httpOptions,
    });
    const admin: Record<string, string> = { authorization: `Bearer ${credential.apiKey}` };
    if (options.onBehalfOf) admin['on-behalf-of'] = options.onBehalfOf;

    const adminFailure = (res: ProviderResponse, call: string): never => {
      if (res.status === 401 || res.status === 403) {
        throw new ProviderRejectedError(
          'SendGrid',
          call,
          res.status,
          res.status === 403 && call === 'create key'
            ? `the account may already hold ${SENDGRID_MAX_KEYS} keys (SendGrid's limit) or the rotator key lacks api_keys.create; delete unused keys or grant the scope.`
            : 'the rotator credential must be a SendGrid API key with the api_keys.create, api_keys.read and api_keys.delete scopes.',
        );
      }
      throw new ProviderRejectedError(
        'SendGrid',
        call,
        res.status,
        "unexpected status; check the request against SendGrid's API reference.",
      );
    };

    /** The key's scopes; refused when SendGrid returns none, since copying "none" means Full Access. */
    const scopesOf = async (keyId: string): Promise<string[]> => {
      const res = await http.request({
        call: 'read current key scopes',
        method: 'GET',
        path: `/v3/api_keys/${encodeURIComponent(keyId)}`,
        headers: admin,
      });
      if (res.status !== 200) adminFailure(res, 'read current key scopes');
      const scopes = http.parse(GetSchema, res, 'read current key scopes').result[0]!.scopes;
      if (!scopes?.length) throw new SendGridScopesUnknownError(keyId);
      return scopes;
    };

    /** Every key of the account: one page holds them all, since an account holds at most 100. */
    const listKeys = async () => {
      const res = await http.request({
        call: 'list keys',
        method: 'GET',
        path: `/v3/api_keys?limit=${SENDGRID_MAX_KEYS}`,
        headers: admin,
      });
      if (res.status !== 200) adminFailure(res, 'list keys');
      return http.parse(ListSchema, res, 'list keys').result;
    };
    /**
     * The listing findKeysByName just read, less the keys revoked since, until a create: the count against the
     * cap that createSecret asks for next is that list (one call on the rate-limited endpoint, not two).
     */
    let lastListing: Awaited<ReturnType<typeof listKeys>> | undefined;

    return {
      describePermissions: async (keyId) => options.scopes ?? scopesOf(keyId),

      async createKey({ name, likeKeyId, permissions }) {
        lastListing = undefined;
        const given = z.array(z.string()).check(z.minLength(1)).safeParse(permissions);
        const scopes = options.scopes ?? (given.success ? given.data : await scopesOf(likeKeyId));
        const res = await http.request({
          call: 'create key',
          method: 'POST',
          path: '/v3/api_keys',
          idempotent: false,
          headers: admin,
          json: { name, scopes },
        });
        if (res.status !== 201) adminFailure(res, 'create key');
        const created = http.parse(CreatedSchema, res, 'create key');
        return { id: created.api_key_id, name: created.name, value: created.api_key };
      },

      async findKeysByName(name) {
        lastListing = await listKeys();
        return lastListing
          .filter((key) => key.name === name)
          .map((key) => ({ id: key.api_key_id, name: key.name }));
      },

      async keyQuota() {
        // The rotator's own key counts: SendGrid caps the account's keys, whoever made them.
        const listed = lastListing ?? (await listKeys());
        lastListing = undefined;
        return {
          held: listed.length,
          cap: SENDGRID_MAX_KEYS,
          account: options.onBehalfOf
            ? `subuser ${options.onBehalfOf}`
            : `the ${options.region === 'eu' ? 'EU ' : ''}account of the rotator key`,
          makeRoom:
            'Delete unused API keys (Settings → API Keys in the SendGrid app, or DELETE /v3/api_keys/{api_key_id})',
        };
      },

      async validateKey(key) {
        // GET /v3/scopes (ListScope) is the cheapest call any key may make: it lists the key's own scopes.
        // sendgrid-oai documents its 401 as "the caller may not view the list of scopes", so a 401 there is
        // not proof of a dead key: only then, GetApiKey on the key's own id decides. Its 401 is the global
        // authentication error (GlobalError401), its 403 a key that lacks api_keys.read and its 404 an id
        // the authenticated account does not hold: both say SendGrid accepted the key.
        const scopes = await http.request({
          call: 'validate key',
          method: 'GET',
          path: '/v3/scopes',
          headers: { authorization: `Bearer ${key.value}` },
        });
        if (scopes.status === 200 || scopes.status === 403) return 'accepted';
        if (scopes.status !== 401)
          throw new ProviderRejectedError(
            'SendGrid',
            'validate key',
            scopes.status,
            'unexpected status for GET /v3/scopes.',
          );
        const own = await http.request({
          call: 'validate key (authentication check)',
          method: 'GET',
          path: `/v3/api_keys/${encodeURIComponent(key.id)}`,
          headers: { authorization: `Bearer ${key.value}` },
        });
        if (own.status === 200 || own.status === 403 || own.status === 404) return 'accepted';
        if (own.status === 401) return 'rejected';
        throw new ProviderRejectedError(
          'SendGrid',
          'validate key (authentication check)',
          own.status,
          'unexpected status for GET /v3/api_keys/{api_key_id} after GET /v3/scopes answered 401.',
        );
      },

      async identifies(key) {
        // SendGrid's API never says which id a key value has: GetApiKey (GET /v3/api_keys/{api_key_id}) only
        // tells whether the account holds a key with that id (404 when it does not) and what it is named.
        const call = 'read key by id';
        const find = "the key's API Key ID, in GET /v3/api_keys or the SendGrid app's Settings → API Keys";
        const res = await http.request({
          call,
          method: 'GET',
          path: `/v3/api_keys/${encodeURIComponent(key.id)}`,
          headers: admin,
        });
        if (res.status === 404) return { verdict: 'differs', find };
        if (res.status !== 200) adminFailure(res, call);
        const named = http.parse(GetSchema, res, call).result[0]!.name;
        return {
          verdict: 'unconfirmed',
          checked: `the account holds API key ${key.id}${named ? ` (named ${JSON.stringify(named)})` : ''}; SendGrid's API does not say which key a value belongs to`,
          find,
        };
      },

      async revokeKey(keyId) {
        const listed = lastListing;
        lastListing = undefined;
        const res = await http.request({
          call: 'delete key',
          method: 'DELETE',
          path: `/v3/api_keys/${encodeURIComponent(keyId)}`,
          headers: admin,
        });
        if (res.status !== 204 && res.status !== 200 && res.status !== 404)
          return adminFailure(res, 'delete key');
        // The key is gone: the listing still holds the rest as they are.
        lastListing = listed?.filter((key) => key.api_key_id !== keyId);
        return res.status === 404 ? 'already-gone' : 'revoked';
      },
    };
  },
};
