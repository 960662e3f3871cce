import * as z from 'zod/mini';
import { ProviderBadResponseError, ProviderRejectedError } from '../errors.js';
import { ProviderHttp, type ProviderResponse } from './http.js';
import type { ProviderClient, ProviderDefinition } from './types.js';

/**
 * Datadog API keys through the v2 key-management API (`/api/v2/api_keys`). The site (US1, EU1, …) is an
 * option, never a URL from the secret. API keys carry no scopes; the one per-key setting, remote config
 * read, is copied from the current key. Values are readable by id (so a crashed attempt's key is adopted)
 * and Datadog reports each key's last use. A 429's `X-RateLimit-Reset` is the seconds until the limit
 * resets (Datadog's rate-limit documentation), not a time.
 */
export const DATADOG_SITES = [
  'datadoghq.com',
  'us3.datadoghq.com',
  'us5.datadoghq.com',
  'datadoghq.eu',
  'ap1.datadoghq.com',
  'ap2.datadoghq.com',
  'uk1.datadoghq.com',
  'ddog-gov.com',
  'us2.ddog-gov.com',
] as const;
export const DATADOG_MAX_KEYS = 50;
/**
 * What the application key's owner needs, per operation, as Datadog documents it: ListAPIKeys and
 * GetAPIKey `api_keys_read`, CreateAPIKey `api_keys_write`, DeleteAPIKey `api_keys_delete`.
 */
export const DATADOG_ROTATOR_PERMISSIONS = ['api_keys_read', 'api_keys_write', 'api_keys_delete'] as const;

const CredentialSchema = z.object({
  /** An API key of the organization (sent as DD-API-KEY). */
  apiKey: z.string().check(z.minLength(1)),
  /** An application key whose owner holds api_keys_read, api_keys_write and api_keys_delete (DD-APPLICATION-KEY). */
  applicationKey: z.string().check(z.minLength(1)),
});

const OptionsSchema = z.strictObject({
  /** The Datadog site the organization lives on (US1 is datadoghq.com, EU1 datadoghq.eu, UK1 uk1.datadoghq.com). */
  site: z._default(z.enum(DATADOG_SITES), 'datadoghq.com'),
});

const KeyAttributes = z.object({
  name: z.string(),
  remote_config_read_enabled: z.optional(z.boolean()),
});
const FullKeySchema = z.object({
  data: z.object({
    id: z.string().check(z.minLength(1)),
    attributes: z.extend(KeyAttributes, {
      key: z.string().check(z.minLength(1)),
      date_last_used: z.optional(z.nullable(z.iso.datetime({ offset: true }))),
    }),
  }),
});
/** GetAPIKey's answer as identifies reads it: FullAPIKeyAttributes' `key` and `last4` are both optional. */
const ShownKeySchema = z.object({
  data: z.object({
    id: z.string().check(z.minLength(1)),
    attributes: z.object({
      key: z.optional(z.string().check(z.minLength(1))),
      last4: z.optional(z.string().check(z.minLength(1))),
    }),
  }),
});
const ListSchema = z.object({
  data: z.array(z.object({ id: z.string(), attributes: KeyAttributes })),
  meta: z.optional(
    z.object({
      // APIKeysResponseMeta: the organization's cap and, unfiltered, how many keys it holds.
      max_allowed: z.optional(z.number()),
      page: z.optional(z.object({ total_filtered_count: z.number() })),
    }),
  ),
});
const PAGE_SIZE = 100;
/** Full pages one listing may take (10,000 keys of one name) before it is taken for a loop. */
const MAX_PAGES = 100;

export const datadog: ProviderDefinition<z.infer<typeof CredentialSchema>, z.infer<typeof OptionsSchema>> = {
  name: 'datadog',
  displayName: 'Datadog',
  capabilities: { dualKey: true, maxActiveKeys: DATADOG_MAX_KEYS, lastUsed: true, valueReadable: true },
  maxKeyNameLength: 100,
  credentialSchema: CredentialSchema,
  optionsSchema: OptionsSchema,
  connect({ credential, options, endpoint, http: httpOptions }): ProviderClient {
    const http = new ProviderHttp({
      provider: 'Datadog',
      baseUrl: endpoint ?? `https://api.${options.site}`,
      rateLimitReset: 'seconds-until-reset',
      ...httpOptions,
    });
    const admin = { 'dd-api-key': credential.apiKey, 'dd-application-key': credential.applicationKey };
    const keyPath = (id: string) => `/api/v2/api_keys/${encodeURIComponent(id)}`;

    const adminFailure = (res: ProviderResponse, call: string): never => {
      throw new ProviderRejectedError(
        'Datadog',
        call,
        res.status,
        res.status === 403 && call === 'create key'
          ? `the organization may already hold ${DATADOG_MAX_KEYS} API keys (Datadog's limit), or the application key lacks api_keys_write; delete unused keys or grant the permission.`
          : res.status === 403 && call === 'delete key'
            ? "the application key's owner lacks api_keys_delete (Datadog's permission for DeleteAPIKey); grant it to the rotator credential's role, or the old key stays live."
            : res.status === 403
              ? `the rotator credential must be an API key plus an application key whose owner holds ${DATADOG_ROTATOR_PERMISSIONS.join(', ')}, on site ${options.site}.`
              : "unexpected status; check the request against Datadog's key management API.",
      );
    };
    const getKey = async (id: string, call: string) => {
      const res = await http.request({ call, method: 'GET', path: keyPath(id), headers: admin });
      if (res.status !== 200) adminFailure(res, call);
      return http.parse(FullKeySchema, res, call).data;
    };

    return {
      async createKey({ name, likeKeyId }) {
        const current = await getKey(likeKeyId, 'read current key');
        const res = await http.request({
          call: 'create key',
          method: 'POST',
          path: '/api/v2/api_keys',
          idempotent: false,
          headers: admin,
          json: {
            data: {
              type: 'api_keys',
              attributes: {
                name,
                ...(current.attributes.remote_config_read_enabled
                  ? { remote_config_read_enabled: true }
                  : {}),
              },
            },
          },
        });
        if (res.status !== 201) adminFailure(res, 'create key');
        const created = http.parse(FullKeySchema, res, 'create key').data;
        return { id: created.id, name: created.attributes.name, value: created.attributes.key };
      },

      async findKeysByName(name) {
        const matches: Array<{ id: string; name: string }> = [];
        for (let page = 0; ; page++) {
          const res = await http.request({
            call: 'list keys',
            method: 'GET',
            path: `/api/v2/api_keys?page[size]=${PAGE_SIZE}&page[number]=${page}&filter=${encodeURIComponent(name)}`,
            headers: admin,
          });
          if (res.status !== 200) adminFailure(res, 'list keys');
          const listed = http.parse(ListSchema, res, 'list keys');
          for (const key of listed.data) if (key.attributes.name === name) matches.push({ id: key.id, name });
          if (listed.data.length < PAGE_SIZE) break;
          // A listing that never ends would page until the function times out: refuse it.
          if (page + 1 >= MAX_PAGES)
            throw new ProviderBadResponseError(
              'Datadog',
              'list keys',
              `the listing does not end (more than ${MAX_PAGES} full pages of ${PAGE_SIZE} keys named ${name})`,
            );
        }
        // The list omits values; reading each key by id returns it, so the caller can adopt the key.
        const found = [];
        for (const match of matches) {
          const key = await getKey(match.id, 'read key');
          found.push({ id: key.id, name: key.attributes.name, value: key.attributes.key });
        }
        return found;
      },

      async keyQuota() {
        const call = 'count keys';
        const res = await http.request({
          call,
          method: 'GET',
          path: '/api/v2/api_keys?page[size]=1&page[number]=0',
          headers: admin,
        });
        if (res.status !== 200) adminFailure(res, call);
        const { meta } = http.parse(ListSchema, res, call);
        const held = meta?.page?.total_filtered_count;
        if (held === undefined)
          throw new ProviderBadResponseError('Datadog', call, 'meta.page.total_filtered_count missing');
        return {
          held,
          cap: meta?.max_allowed ?? DATADOG_MAX_KEYS,
          account: `organization on ${options.site}`,
          makeRoom:
            'Delete unused API keys (Organization Settings → API Keys, or DELETE /api/v2/api_keys/{api_key_id}); Datadog allows an organization at most 50',
        };
      },

      async validateKey(key) {
        const res = await http.request({
          call: 'validate key',
          method: 'GET',
          path: '/api/v1/validate',
          headers: { 'dd-api-key': key.value },
        });
        if (res.status === 200) return 'accepted';
        if (res.status === 403 || res.status === 401) return 'rejected';
        throw new ProviderRejectedError(
          'Datadog',
          'validate key',
          res.status,
          'unexpected status for GET /api/v1/validate.',
        );
      },

      async identifies(key) {
        // GetAPIKey returns FullAPIKeyAttributes: the key itself (`key`) and its last four characters (`last4`).
        // The id names this key when what Datadog shows under it agrees with the value; 404 is an id the
        // organization does not hold.
        const call = 'read key by id';
        const find =
          'the id of the key whose attributes.last4 are its last four characters, in GET /api/v2/api_keys (Organization Settings → API Keys)';
        const res = await http.request({ call, method: 'GET', path: keyPath(key.id), headers: admin });
        if (res.status === 404) return { verdict: 'differs', find };
        if (res.status !== 200) adminFailure(res, call);
        const shown = http.parse(ShownKeySchema, res, call).data.attributes;
        const agrees =
          shown.key !== undefined
            ? shown.key === key.value
            : shown.last4 !== undefined
              ? key.value.endsWith(shown.last4)
              : undefined;
        if (agrees === undefined)
          return {
            verdict: 'unconfirmed',
            checked: `the organization holds API key ${key.id}, but Datadog showed neither its key nor its last4`,
            find,
          };
        return agrees ? { verdict: 'matches' } : { verdict: 'differs', find };
      },

      async revokeKey(keyId) {
        const res = await http.request({
          call: 'delete key',
          method: 'DELETE',
          path: keyPath(keyId),
          headers: admin,
        });
        if (res.status === 204) return 'revoked';
        if (res.status === 404) return 'already-gone';
        return adminFailure(res, 'delete key');
      },

      async lastUsed(keyId) {
        const key = await getKey(keyId, 'read key last use');
        return key.attributes.date_last_used ? new Date(key.attributes.date_last_used) : null;
      },
    };
  },
};
