import * as z from 'zod/mini';
import { ProviderBadResponseError, ProviderRejectedError } from '../errors.js';
import { ProviderHttp, type ProviderResponse } from './http.js';
import type { KeyMaterial, ProviderClient, ProviderDefinition, ValidationResult } from './types.js';

/**
 * Twilio API keys through the IAM API (`iam.twilio.com/v1/Keys`, the current key API: it alone creates
 * restricted keys). Requests are form-encoded with HTTP basic auth. A key authenticates as basic auth
 * `keySid:secret`, so the key document's `keyId` is the SK sid and `key` the secret. The secret is
 * returned only by the create call; a key a crashed attempt created is revoked and replaced.
 */
const ACCOUNT_SID = /^AC[0-9a-fA-F]{32}$/;
/** An API key's sid: SK and 32 hex digits. */
const API_KEY_SID = /^SK[0-9a-fA-F]{32}$/;

const CredentialSchema = z.object({
  /** The account SID (with its auth token) or a Main API key's SK sid (with its secret). */
  sid: z
    .string()
    .check(z.regex(/^(AC|SK)[0-9a-fA-F]{32}$/, 'must be an AC account SID or an SK Main key SID')),
  secret: z.string().check(z.minLength(1)),
});

const OptionsSchema = z.strictObject({
  /** The account (or subaccount) that owns the keys. */
  accountSid: z.string().check(z.regex(ACCOUNT_SID, 'must be an account SID (AC followed by 32 hex digits)')),
});

const PolicySchema = z.optional(z.nullable(z.object({ allow: z.array(z.string()) })));
const KeySchema = z.object({
  sid: z.string().check(z.minLength(1)),
  friendly_name: z.nullable(z.string()),
  policy: PolicySchema,
});
const NewKeySchema = z.extend(KeySchema, { secret: z.string().check(z.minLength(1)) });
const ListSchema = z.object({
  keys: z.array(z.object({ sid: z.string().check(z.minLength(1)), friendly_name: z.nullable(z.string()) })),
  meta: z.object({ next_page_url: z.optional(z.nullable(z.string())) }),
});

/** Pages one listing may take (1,000 keys each) before it is taken for a loop. */
const MAX_PAGES = 100;

export const twilio: ProviderDefinition<z.infer<typeof CredentialSchema>, z.infer<typeof OptionsSchema>> = {
  name: 'twilio',
  displayName: 'Twilio',
  capabilities: { dualKey: true, maxActiveKeys: null, lastUsed: false, valueReadable: false },
  maxKeyNameLength: 64,
  credentialSchema: CredentialSchema,
  optionsSchema: OptionsSchema,
  connect({ credential, options, endpoint, http: httpOptions }): ProviderClient {
    const iam = new ProviderHttp({
      provider: 'Twilio',
      baseUrl: endpoint ?? 'https://iam.twilio.com',
      ...httpOptions,
    });
    const api = new ProviderHttp({
      provider: 'Twilio',
      baseUrl: endpoint ?? 'https://api.twilio.com',
      ...httpOptions,
    });
    const basic = (user: string, password: string) => ({
      authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`,
    });
    const admin = basic(credential.sid, credential.secret);
    const keyPath = (sid: string) => `/v1/Keys/${encodeURIComponent(sid)}`;

    const adminFailure = (res: ProviderResponse, call: string): never => {
      throw new ProviderRejectedError(
        'Twilio',
        call,
        res.status,
        res.status === 401 || res.status === 403
          ? 'the rotator credential must be the account SID with its auth token or a Main API key (standard and restricted keys cannot manage keys).'
          : `unexpected status; check options.accountSid (${options.accountSid}) and the request against Twilio's IAM API.`,
      );
    };

    const validateKey = async (key: KeyMaterial): Promise<ValidationResult> => {
      // Reading the account balance is the cheapest call a standard key may make; a restricted key
      // without that permission is still authenticated (403, not 401).
      const account = `/2010-04-01/Accounts/${encodeURIComponent(options.accountSid)}`;
      const read = (path: string) =>
        api.request({ call: 'validate key', method: 'GET', path, headers: basic(key.id, key.value) });
      let res = await read(`${account}/Balance.json`);
      // Subaccounts carry no balance information (twilio-oai FetchBalance): read the account itself.
      if (res.status === 404) res = await read(`${account}.json`);
      if (res.status === 200 || res.status === 403) return 'accepted';
      if (res.status === 401) return 'rejected';
      throw new ProviderRejectedError(
        'Twilio',
        'validate key',
        res.status,
        `unexpected status for GET ${account}/Balance.json (or ${account}.json); check options.accountSid.`,
      );
    };

    return {
      async createKey({ name, likeKeyId }) {
        const current = await iam.request({
          call: 'read current key',
          method: 'GET',
          path: keyPath(likeKeyId),
          headers: admin,
        });
        if (current.status !== 200) adminFailure(current, 'read current key');
        const { policy } = iam.parse(KeySchema, current, 'read current key');
        const res = await iam.request({
          call: 'create key',
          method: 'POST',
          path: '/v1/Keys',
          idempotent: false,
          headers: admin,
          form: {
            AccountSid: options.accountSid,
            FriendlyName: name,
            // A restricted key is copied with its policy; a standard key stays standard.
            ...(policy ? { KeyType: 'restricted', Policy: JSON.stringify(policy) } : {}),
          },
        });
        if (res.status !== 201) adminFailure(res, 'create key');
        const created = iam.parse(NewKeySchema, res, 'create key');
        return { id: created.sid, name: created.friendly_name ?? name, value: created.secret };
      },

      async findKeysByName(name) {
        const found: Array<{ id: string; name: string }> = [];
        let path: string | null =
          `/v1/Keys?AccountSid=${encodeURIComponent(options.accountSid)}&PageSize=1000`;
        const seen = new Set<string>();
        while (path) {
          // A listing that does not advance would page until the function times out: refuse it.
          if (seen.has(path) || seen.size >= MAX_PAGES)
            throw new ProviderBadResponseError(
              'Twilio',
              'list keys',
              `the listing does not advance (page ${seen.size + 1}: a next_page_url already followed or past ${MAX_PAGES} pages)`,
            );
          seen.add(path);
          const res = await iam.request({ call: 'list keys', method: 'GET', path, headers: admin });
          if (res.status !== 200) adminFailure(res, 'list keys');
          const page = iam.parse(ListSchema, res, 'list keys');
          for (const key of page.keys) if (key.friendly_name === name) found.push({ id: key.sid, name });
          const next = page.meta.next_page_url;
          // next_page_url is absolute; keep its path and query so a sandbox endpoint keeps working.
          const url = next ? new URL(next, 'https://iam.twilio.com') : undefined;
          path = url ? `${url.pathname}${url.search}` : null;
        }
        return found;
      },

      validateKey,

      async identifies(key) {
        // An API key authenticates as HTTP basic auth "<SK sid>:<secret>": Twilio accepts a secret only with
        // its own key's sid, so validateKey, which authenticates with key.id and key.value together, already
        // proves the id — this repeats that call. An AC account sid authenticates with the account's auth
        // token, which is no API key (rekey cannot create, copy or delete it): that is not a key id either.
        const find = `the key's SID (SK…) in the Twilio Console (Account → API keys & tokens) or GET https://iam.twilio.com/v1/Keys?AccountSid=${options.accountSid}`;
        if (!API_KEY_SID.test(key.id)) return { verdict: 'differs', find };
        return (await validateKey(key)) === 'accepted'
          ? { verdict: 'matches' }
          : { verdict: 'differs', find };
      },

      async revokeKey(keyId) {
        const res = await iam.request({
          call: 'delete key',
          method: 'DELETE',
          path: keyPath(keyId),
          headers: admin,
        });
        if (res.status === 204) return 'revoked';
        if (res.status === 404) return 'already-gone';
        return adminFailure(res, 'delete key');
      },
    };
  },
};
