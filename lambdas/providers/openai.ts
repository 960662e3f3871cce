import * as z from 'zod/mini';
import { ProviderBadResponseError, ProviderNotFoundError, ProviderRejectedError } from '../errors.js';
import { ProviderHttp, type ProviderResponse } from './http.js';
import type { ProviderClient, ProviderDefinition } from './types.js';

/**
 * OpenAI, in one of two modes chosen by the key document's `options.projectId`.
 *
 * Without it: organization admin API keys (`/v1/organization/admin_api_keys`: list, create `{name}`,
 * retrieve, delete). Admin keys carry their owner's organization-wide admin rights; the API has no scopes
 * to copy. The value is returned only at creation, so a crashed attempt's key is revoked and replaced;
 * `last_used_at` is reported.
 *
 * With `projectId` (`proj_…`): project API keys of service accounts. A project API key cannot be created on
 * its own, but creating a service account (`POST /v1/organization/projects/{project_id}/service_accounts`
 * `{name}`) returns its one API key, value included, once. So each rekey key is one service account named
 * with rekey's key name: the key id rekey records is the **service account id**, and revoking the key is
 * deleting the service account (which deletes its key). `findKeysByName` pages the project's service
 * accounts; `lastUsed` reads the project API key listing (`last_used_at` of the key whose
 * `owner.service_account.id` is the service account); validation is `GET /v1/models` with the key (200
 * accepted, 401 rejected). Service accounts are created with the default project role (`member`) and keys
 * with all permissions: there is nothing to copy from the current key. The rotator credential is an admin
 * API key in both modes.
 */
const CredentialSchema = z.object({
  /** An admin API key of an organization owner. */
  adminKey: z.string().check(z.minLength(1)),
});

const OptionsSchema = z.strictObject({
  /** Rotate the project API keys of service accounts in this project (`proj_…`) instead of admin keys. */
  projectId: z.optional(
    z
      .string()
      .check(
        z.regex(
          /^proj_[A-Za-z0-9]+$/,
          'must be an OpenAI project id ("proj_" then letters and digits, as Settings → Projects shows it)',
        ),
      ),
  ),
});

/** openai-openapi's AdminApiKey: `name` may be null or absent (an unnamed key never matches a rekey name). */
const AdminKeySchema = z.object({
  id: z.string().check(z.minLength(1)),
  name: z.optional(z.nullable(z.string())),
  redacted_value: z.optional(z.string()),
  last_used_at: z.optional(z.nullable(z.number())),
});
const ListSchema = z.object({
  data: z.array(AdminKeySchema),
  last_id: z.optional(z.nullable(z.string())),
  has_more: z.boolean(),
});
/** ProjectServiceAccount, as list-project-service-accounts returns it. */
const ServiceAccountListSchema = z.object({
  data: z.array(z.object({ id: z.string().check(z.minLength(1)), name: z.optional(z.nullable(z.string())) })),
  last_id: z.optional(z.nullable(z.string())),
  has_more: z.boolean(),
});
/**
 * create-project-service-account's answer. `api_key` is optional in newer descriptions (absent when the
 * account is made with `create_service_account_only`, which rekey never sends): its absence is a bad answer.
 */
const CreatedServiceAccountSchema = z.object({
  id: z.string().check(z.minLength(1)),
  name: z.optional(z.nullable(z.string())),
  api_key: z.optional(
    z.nullable(z.object({ id: z.string().check(z.minLength(1)), value: z.string().check(z.minLength(1)) })),
  ),
});
/** ProjectApiKey, as list-project-api-keys returns it: owned by a user or a service account. */
const ProjectKeyListSchema = z.object({
  data: z.array(
    z.object({
      id: z.string().check(z.minLength(1)),
      redacted_value: z.optional(z.string()),
      last_used_at: z.optional(z.nullable(z.number())),
      owner: z.optional(
        z.nullable(
          z.object({
            type: z.optional(z.nullable(z.string())),
            service_account: z.optional(z.nullable(z.object({ id: z.string() }))),
          }),
        ),
      ),
    }),
  ),
  last_id: z.optional(z.nullable(z.string())),
  has_more: z.boolean(),
});
const PAGE_SIZE = 100;
/** Pages one listing may take (10,000 keys or service accounts) before it is taken for a loop. */
const MAX_PAGES = 100;

type Credential = z.infer<typeof CredentialSchema>;
type Options = z.infer<typeof OptionsSchema>;
type PageSchema = z.ZodMiniType<{ data: unknown[]; last_id?: string | null | undefined; has_more: boolean }>;

/**
 * Pages a cursor listing (`after=<last_id>` while `has_more`), handing each page to `onPage`. A listing
 * that does not advance would page until the function times out: an empty page that says has_more, a cursor
 * already seen, or more than MAX_PAGES pages is refused with ProviderBadResponseError.
 */
async function pageAll<S extends PageSchema>(
  http: ProviderHttp,
  call: string,
  path: string,
  headers: Record<string, string>,
  schema: S,
  failure: (res: ProviderResponse, call: string) => never,
  onPage: (page: z.infer<S>) => void,
): Promise<void> {
  const cursors = new Set<string>();
  let after: string | null | undefined;
  do {
    const res = await http.request({
      call,
      method: 'GET',
      path: `${path}?limit=${PAGE_SIZE}${after ? `&after=${encodeURIComponent(after)}` : ''}`,
      headers,
    });
    if (res.status !== 200) failure(res, call);
    const page = http.parse(schema, res, call);
    onPage(page);
    after = page.has_more ? page.last_id : undefined;
    if (after && (page.data.length === 0 || cursors.has(after) || cursors.size >= MAX_PAGES))
      throw new ProviderBadResponseError(
        'OpenAI',
        call,
        `the listing does not advance (page ${cursors.size + 1}: ${page.data.length} entries, has_more with a cursor already seen or past ${MAX_PAGES} pages)`,
      );
    if (after) cursors.add(after);
  } while (after);
}

const bearer = (key: string) => ({ authorization: `Bearer ${key}` });

/**
 * Whether a key's `redacted_value` agrees with a key value. The description calls it "the redacted value of
 * the API key" and its examples show the key's first and last characters around "..." ("sk-admin...def"):
 * agreeing means the value starts and ends with those. Undefined when it is in no such form.
 */
export function redactedAgrees(redacted: string | undefined, value: string): boolean | undefined {
  const match = redacted === undefined ? null : /^(.*?)(?:\.\.\.|…)(.+)$/s.exec(redacted);
  if (!match) return undefined;
  const head = match[1]!;
  const tail = match[2]!;
  return value.length >= head.length + tail.length && value.startsWith(head) && value.endsWith(tail);
}

function adminKeysClient(http: ProviderHttp, credential: Credential): ProviderClient {
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
        z.extend(AdminKeySchema, { value: z.string().check(z.minLength(1)) }),
        res,
        'create admin key',
      );
      return { id: created.id, name: created.name ?? name, value: created.value };
    },

    async findKeysByName(name) {
      const found: Array<{ id: string; name: string }> = [];
      await pageAll(http, 'list admin keys', keys, admin, ListSchema, adminFailure, (page) => {
        for (const key of page.data) if (key.name === name) found.push({ id: key.id, name });
      });
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

    async identifies(key) {
      // Retrieve admin key answers the key's redacted_value: the id names this key when it agrees with the
      // value. An id the organization does not hold answers 404. Where it does not agree, the listing's
      // redacted values say which key it is, when exactly one agrees.
      const call = 'read admin key by id';
      const find =
        "the key_… id in GET /v1/organization/admin_api_keys (the dashboard's Admin keys page), whose redacted_value shows the key's first and last characters";
      const differs = async () => {
        const agreeing: string[] = [];
        await pageAll(http, 'list admin keys', keys, admin, ListSchema, adminFailure, (page) => {
          for (const listed of page.data)
            if (redactedAgrees(listed.redacted_value, key.value)) agreeing.push(listed.id);
        });
        return {
          verdict: 'differs' as const,
          find,
          ...(agreeing.length === 1 ? { providerKeyId: agreeing[0]! } : {}),
        };
      };
      const res = await http.request({ call, method: 'GET', path: keyPath(key.id), headers: admin });
      if (res.status === 404) return differs();
      if (res.status !== 200) adminFailure(res, call);
      const agrees = redactedAgrees(http.parse(AdminKeySchema, res, call).redacted_value, key.value);
      if (agrees === undefined)
        return {
          verdict: 'unconfirmed',
          checked: `the organization holds admin key ${key.id}, but its redacted_value is in no form rekey can compare`,
          find,
        };
      return agrees ? { verdict: 'matches' } : differs();
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
}

function serviceAccountsClient(
  http: ProviderHttp,
  credential: Credential,
  projectId: string,
): ProviderClient {
  const admin = bearer(credential.adminKey);
  const project = `/v1/organization/projects/${encodeURIComponent(projectId)}`;
  const accounts = `${project}/service_accounts`;
  const accountPath = (id: string) => `${accounts}/${encodeURIComponent(id)}`;

  const projectFailure = (res: ProviderResponse, call: string): never => {
    throw new ProviderRejectedError(
      'OpenAI',
      call,
      res.status,
      res.status === 401 || res.status === 403
        ? `the rotator credential must be an admin API key (sk-admin-…) with permission "All", or "Restricted" with Organization Administration: Write (api.management.read and api.management.write); a project or service-account key cannot manage service accounts.`
        : res.status === 404
          ? `no project ${projectId} in the rotator key's organization; check options.projectId (Settings → Projects).`
          : res.status === 400
            ? `OpenAI refused the request for project ${projectId}; an archived project has no service accounts (unarchive it or point options.projectId at an active project).`
            : "unexpected status; check the request against OpenAI's project service account reference.",
    );
  };
  /** Every API key of the project, page after page (its owner, redacted value and last use). */
  const eachProjectKey = (visit: (key: z.infer<typeof ProjectKeyListSchema>['data'][number]) => void) =>
    pageAll(
      http,
      'list project API keys',
      `${project}/api_keys`,
      admin,
      ProjectKeyListSchema,
      projectFailure,
      (page) => {
        for (const key of page.data) visit(key);
      },
    );
  const deleteAccount = async (id: string, call: string) => {
    const res = await http.request({ call, method: 'DELETE', path: accountPath(id), headers: admin });
    if (res.status === 200 || res.status === 204) return 'revoked' as const;
    if (res.status === 404) return 'already-gone' as const;
    return projectFailure(res, call);
  };

  return {
    async createKey({ name }) {
      const call = 'create service account';
      const res = await http.request({
        call,
        method: 'POST',
        path: accounts,
        idempotent: false,
        headers: admin,
        json: { name },
      });
      if (res.status !== 200 && res.status !== 201) projectFailure(res, call);
      const created = http.parse(CreatedServiceAccountSchema, res, call);
      if (!created.api_key) {
        // A service account without its key is of no use; delete it so nothing is left under the name.
        const cleanup = await deleteAccount(created.id, 'delete keyless service account').then(
          (r) => `it was deleted (${r})`,
          () => `deleting it failed, so the next attempt finds it by name and revokes it`,
        );
        throw new ProviderBadResponseError(
          'OpenAI',
          call,
          `service account ${created.id} came back without api_key, so there is no key to store; ${cleanup}`,
        );
      }
      return { id: created.id, name: created.name ?? name, value: created.api_key.value };
    },

    async findKeysByName(name) {
      const found: Array<{ id: string; name: string }> = [];
      await pageAll(
        http,
        'list service accounts',
        accounts,
        admin,
        ServiceAccountListSchema,
        projectFailure,
        (page) => {
          for (const account of page.data) if (account.name === name) found.push({ id: account.id, name });
        },
      );
      return found;
    },

    async validateKey(key) {
      // A project-scoped read any service-account key may make; admin keys cannot call it.
      const call = 'validate project key';
      const res = await http.request({ call, method: 'GET', path: '/v1/models', headers: bearer(key.value) });
      if (res.status === 200) return 'accepted';
      if (res.status === 401) return 'rejected';
      throw new ProviderRejectedError(
        'OpenAI',
        call,
        res.status,
        res.status === 403
          ? 'OpenAI answers 403 to requests from a country, region or territory it does not support, which says nothing about the key; run the rotation from a supported region.'
          : 'unexpected status for GET /v1/models.',
      );
    },

    async identifies(key) {
      // The key id is the service account's id. List project API keys answers each key's owner and
      // redacted_value: the id names this key when a key the service account owns agrees with the value.
      // A service account that owns no key in the project (or does not exist) is no id of this key.
      const find = `the id (svc_acct_…) of the service account that owns the key: GET ${project}/api_keys lists each key's owner.service_account.id and redacted_value`;
      const owned: Array<boolean | undefined> = [];
      const agreeing = new Set<string>();
      await eachProjectKey((listed) => {
        const agrees = redactedAgrees(listed.redacted_value, key.value);
        const owner = listed.owner?.service_account?.id;
        if (owner === key.id) owned.push(agrees);
        if (agrees && owner) agreeing.add(owner);
      });
      if (owned.includes(true)) return { verdict: 'matches' };
      if (owned.length > 0 && owned.every((agrees) => agrees === undefined))
        return {
          verdict: 'unconfirmed',
          checked: `service account ${key.id} owns a key in project ${projectId}, but its redacted_value is in no form rekey can compare`,
          find,
        };
      return {
        verdict: 'differs',
        find,
        ...(agreeing.size === 1 ? { providerKeyId: [...agreeing][0]! } : {}),
      };
    },

    revokeKey(keyId) {
      return deleteAccount(keyId, 'delete service account');
    },

    async lastUsed(keyId) {
      let owned = false;
      let latest: number | null = null;
      await eachProjectKey((key) => {
        if (key.owner?.service_account?.id !== keyId) return;
        owned = true;
        if (typeof key.last_used_at === 'number' && (latest === null || key.last_used_at > latest))
          latest = key.last_used_at;
      });
      if (!owned)
        throw new ProviderNotFoundError(
          'OpenAI',
          `API key of service account ${keyId} in project ${projectId} (the service account is deleted or has no key)`,
        );
      return latest === null ? null : new Date(latest * 1000);
    },
  };
}

export const openai: ProviderDefinition<Credential, Options> = {
  name: 'openai',
  displayName: 'OpenAI',
  // The same in both modes: two keys (admin keys, or service accounts) at once, no documented cap,
  // last_used_at reported, the value shown only at creation.
  capabilities: { dualKey: true, maxActiveKeys: null, lastUsed: true, valueReadable: false },
  maxKeyNameLength: 64,
  credentialSchema: CredentialSchema,
  optionsSchema: OptionsSchema,
  connect({ credential, options, endpoint, http: httpOptions }): ProviderClient {
    const http = new ProviderHttp({
      provider: 'OpenAI',
      baseUrl: endpoint ?? 'https://api.openai.com',
      ...httpOptions,
    });
    return options.projectId
      ? serviceAccountsClient(http, credential, options.projectId)
      : adminKeysClient(http, credential);
  },
};
