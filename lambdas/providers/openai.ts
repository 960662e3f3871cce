import { z } from 'zod';
import { ProviderBadResponseError, ProviderRejectedError } from '../errors.js';
import { ProviderHttp, type ProviderResponse } from './http.js';
import type { ProviderClient, ProviderDefinition } from './types.js';

/**
 * OpenAI organization admin API keys (`/v1/organization/admin_api_keys`: list, create `{name}`,
 * retrieve, delete). Admin keys carry their owner's organization-wide admin rights; the API has no scopes
 * to copy. The value is returned only at creation, so a crashed attempt's key is revoked and replaced;
 * `last_used_at` is reported. Project API keys cannot be created through the API at all (list, retrieve
 * and delete only), so they are not rotated by this adapter.
 */
const CredentialSchema = z.object({
  /** An admin API key of an organization owner. */
  adminKey: z.string().min(1),
});

const OptionsSchema = z.object({}).strict();

/** openai-openapi's AdminApiKey: `name` may be null or absent (an unnamed key never matches a rekey name). */
const AdminKeySchema = z.object({
  id: z.string().min(1),
  name: z.string().nullable().optional(),
  last_used_at: z.number().nullable().optional(),
});
const ListSchema = z.object({
  data: z.array(AdminKeySchema),
  last_id: z.string().nullable().optional(),
  has_more: z.boolean(),
});
const PAGE_SIZE = 100;
/** Pages one listing may take (10,000 admin keys) before it is taken for a loop. */
const MAX_PAGES = 100;

export const openai: ProviderDefinition<z.infer<typeof CredentialSchema>, z.infer<typeof OptionsSchema>> = {
  name: 'openai',
  displayName: 'OpenAI',
  capabilities: { dualKey: true, maxActiveKeys: null, lastUsed: true, valueReadable: false },
  maxKeyNameLength: 64,
  credentialSchema: CredentialSchema,
  optionsSchema: OptionsSchema,
  connect({ credential, endpoint, http: httpOptions }): ProviderClient {
    const http = new ProviderHttp({
      provider: 'OpenAI',
      baseUrl: endpoint ?? 'https://api.openai.com',
      ...httpOptions,
    });
    const bearer = (key: string) => ({ authorization: `Bearer ${key}` });
    const admin = bearer(credential.adminKey);
    const keys = '/v1/organization/admin_api_keys';
    const keyPath = (id: string) => `${keys}/${encodeURIComponent(id)}`;

    const adminFailure = (res: ProviderResponse, call: string): never => {
      throw new ProviderRejectedError(
        'OpenAI',
        call,
        res.status,
        res.status === 401 || res.status === 403
          ? 'the rotator credential must be an admin API key of an organization owner (project keys cannot manage admin keys).'
          : "unexpected status; check the request against OpenAI's admin API key reference.",
      );
    };
    const getKey = async (id: string, call: string) => {
      const res = await http.request({ call, method: 'GET', path: keyPath(id), headers: admin });
      if (res.status !== 200) adminFailure(res, call);
      return http.parse(AdminKeySchema, res, call);
    };

    return {
      async createKey({ name }) {
        const res = await http.request({
          call: 'create admin key',
          method: 'POST',
          path: keys,
          idempotent: false,
          headers: admin,
          json: { name },
        });
        if (res.status !== 200 && res.status !== 201) adminFailure(res, 'create admin key');
        const created = http.parse(
          AdminKeySchema.extend({ value: z.string().min(1) }),
          res,
          'create admin key',
        );
        return { id: created.id, name: created.name ?? name, value: created.value };
      },

      async findKeysByName(name) {
        const found: Array<{ id: string; name: string }> = [];
        const cursors = new Set<string>();
        let after: string | null | undefined;
        do {
          const res = await http.request({
            call: 'list admin keys',
            method: 'GET',
            path: `${keys}?limit=${PAGE_SIZE}${after ? `&after=${encodeURIComponent(after)}` : ''}`,
            headers: admin,
          });
          if (res.status !== 200) adminFailure(res, 'list admin keys');
          const page = http.parse(ListSchema, res, 'list admin keys');
          for (const key of page.data) if (key.name === name) found.push({ id: key.id, name });
          after = page.has_more ? page.last_id : undefined;
          // A listing that does not advance would page until the function times out: refuse it.
          if (after && (page.data.length === 0 || cursors.has(after) || cursors.size >= MAX_PAGES))
            throw new ProviderBadResponseError(
              'OpenAI',
              'list admin keys',
              `the listing does not advance (page ${cursors.size + 1}: ${page.data.length} keys, has_more with a cursor already seen or past ${MAX_PAGES} pages)`,
            );
          if (after) cursors.add(after);
        } while (after);
        return found;
      },

      async validateKey(key) {
        // The cheapest read an admin key can make: one entry of the admin key list.
        const res = await http.request({
          call: 'validate admin key',
          method: 'GET',
          path: `${keys}?limit=1`,
          headers: bearer(key.value),
        });
        if (res.status === 200) return 'accepted';
        if (res.status === 401 || res.status === 403) return 'rejected';
        throw new ProviderRejectedError(
          'OpenAI',
          'validate admin key',
          res.status,
          `unexpected status for GET ${keys}.`,
        );
      },

      async revokeKey(keyId) {
        const res = await http.request({
          call: 'delete admin key',
          method: 'DELETE',
          path: keyPath(keyId),
          headers: admin,
        });
        if (res.status === 200 || res.status === 204) return 'revoked';
        if (res.status === 404) return 'already-gone';
        return adminFailure(res, 'delete admin key');
      },

      async lastUsed(keyId) {
        const key = await getKey(keyId, 'read admin key last use');
        return typeof key.last_used_at === 'number' ? new Date(key.last_used_at * 1000) : null;
      },
    };
  },
};
