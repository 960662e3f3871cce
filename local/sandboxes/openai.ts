import { randomBytes } from 'node:crypto';
import { type Clock, systemClock } from '../clock.js';
import {
  bearerToken,
  jsonBody,
  ProviderSandbox,
  type SandboxRequest,
  type SandboxResponse,
} from './sandbox.js';

interface AdminKey {
  id: string;
  /** Null for a key made without a name (the spec's AdminApiKey.name is nullable). */
  name: string | null;
  value: string;
  createdAt: Date;
  lastUsedAt: Date | null;
  /** When the key stops authenticating; null for a key that never expires. */
  expiresAt: Date | null;
  owner: { type: 'user'; object: 'organization.user'; id: string; name: string; role: 'owner' };
}

/** A project API key: a service account's one key, or a key a project member made in the dashboard. */
interface ProjectKey {
  id: string;
  name: string;
  value: string;
  createdAt: Date;
  lastUsedAt: Date | null;
  expiresAt: Date | null;
  owner:
    | { type: 'service_account'; serviceAccountId: string }
    | { type: 'user'; user: { id: string; name: string; email: string; role: 'owner' | 'member' } };
}

interface ServiceAccount {
  id: string;
  name: string;
  /** `member` by default; `none` for an account made with create_service_account_only (it has no key). */
  role: 'owner' | 'member' | 'none';
  createdAt: Date;
}

interface Project {
  id: string;
  name: string;
  archived: boolean;
  serviceAccounts: Map<string, ServiceAccount>;
  keys: Map<string, ProjectKey>;
}

const unix = (date: Date): number => Math.floor(date.getTime() / 1000);
const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const alnum = (n: number): string => [...randomBytes(n)].map((b) => ALNUM[b % ALNUM.length]).join('');

/**
 * OpenAI's organization admin API keys as openai-openapi documents them: `/v1/organization/admin_api_keys`
 * (list with `after`/`limit`/`order`, create `{name, expires_in_seconds?}`, retrieve, delete), bearer auth
 * with an admin key, errors `{error: {message, type, param, code}}`. Every key carries `expires_at` (unix
 * seconds, null when it never expires) and a `name` that may be null. The value is returned only by create;
 * `last_used_at` (unix seconds) is reported; an expired key no longer authenticates. Any authenticated admin call counts as a use; `GET /v1/organization/projects`
 * is the call simulated automation makes.
 *
 * Projects (`proj_…`) hold service accounts and project API keys, as the Administration API documents them:
 * `…/projects/{project_id}/service_accounts` (list with `after`/`limit`, create `{name,
 * create_service_account_only?, expires_in_seconds?}` answering the account with its one `api_key` value,
 * retrieve, delete — which deletes the account's key), `…/projects/{project_id}/api_keys` (list, each with
 * `owner` — a user or a service account — and `last_used_at`). An archived project answers 400. Listings omit
 * `first_id`/`last_id` on an empty page (the description makes them optional strings). Project keys
 * (`sk-proj-…`, `sk-svcacct-…`) authenticate model endpoints (`GET /v1/models`), not the Administration
 * API; admin keys cannot be used for non-administration endpoints (both 401). OpenAI publishes rate limits
 * for model endpoints, not for the Administration API, so the sandbox enforces none.
 */
export class OpenAiSandbox extends ProviderSandbox {
  private readonly keys = new Map<string, AdminKey>();
  private readonly projects = new Map<string, Project>();
  private readonly owner = {
    type: 'user' as const,
    object: 'organization.user' as const,
    id: `user_${randomBytes(6).toString('hex')}`,
    name: 'Org Owner',
    role: 'owner' as const,
  };

  constructor(private readonly clock: Clock = systemClock) {
    super();
  }

  /** An admin key an organization owner made in the dashboard (unnamed with `null`). */
  seedAdminKey(name: string | null, expiresAt: Date | null = null): { id: string; value: string } {
    const key = this.newKey(name, expiresAt);
    return { id: key.id, value: key.value };
  }

  /** Keys present now; an unnamed key's name is empty, as the dashboard shows it. */
  listKeys(): Array<{ id: string; name: string; ownerId: string }> {
    return [...this.keys.values()].map((k) => ({ id: k.id, name: k.name ?? '', ownerId: k.owner.id }));
  }

  /** Deletes a key out of band (a key deleted in the dashboard). */
  deleteKey(id: string): void {
    this.keys.delete(id);
  }

  /** A project; `archived` for one that was archived (it answers 400 and has no service accounts). */
  seedProject(name = 'Default project', { archived = false }: { archived?: boolean } = {}): string {
    const id = `proj_${alnum(24)}`;
    this.projects.set(id, { id, name, archived, serviceAccounts: new Map(), keys: new Map() });
    return id;
  }

  /** A service account made in the dashboard, with its one key; `withKey: false` as create_service_account_only makes it. */
  seedServiceAccount(
    projectId: string,
    name: string,
    { withKey = true }: { withKey?: boolean } = {},
  ): { id: string; value: string; keyId: string } {
    const { account, key } = this.newServiceAccount(this.project(projectId), name, withKey, null);
    return { id: account.id, value: key?.value ?? '', keyId: key?.id ?? '' };
  }

  /** A project API key a project member made for themselves (owner type `user`). */
  seedUserProjectKey(projectId: string, name: string): { id: string; value: string } {
    const project = this.project(projectId);
    const key: ProjectKey = {
      id: `key_${randomBytes(8).toString('hex')}`,
      name,
      value: `sk-proj-${randomBytes(36).toString('base64url')}`,
      createdAt: this.clock.now(),
      lastUsedAt: null,
      expiresAt: null,
      owner: {
        type: 'user',
        user: { id: this.owner.id, name: this.owner.name, email: 'owner@example.com', role: 'owner' },
      },
    };
    project.keys.set(key.id, key);
    this.recordIssued(key.value);
    return { id: key.id, value: key.value };
  }

  /** The project's service accounts now, with their role and the id of their key (if any). */
  listServiceAccounts(projectId: string): Array<{ id: string; name: string; role: string; keyId?: string }> {
    const project = this.project(projectId);
    return [...project.serviceAccounts.values()].map((a) => {
      const key = this.keyOf(project, a.id);
      return { id: a.id, name: a.name, role: a.role, ...(key ? { keyId: key.id } : {}) };
    });
  }

  /** Deletes a service account out of band (deleted in the dashboard), with its key. */
  deleteServiceAccount(projectId: string, id: string): void {
    const project = this.project(projectId);
    project.serviceAccounts.delete(id);
    for (const key of project.keys.values())
      if (key.owner.type === 'service_account' && key.owner.serviceAccountId === id)
        project.keys.delete(key.id);
  }

  accepts(value: string): boolean {
    return this.live(value) !== undefined || this.liveProjectKey(value) !== undefined;
  }

  private project(id: string): Project {
    const project = this.projects.get(id);
    if (!project) throw new Error(`no project ${id} in the sandbox`);
    return project;
  }

  private keyOf(project: Project, serviceAccountId: string): ProjectKey | undefined {
    return [...project.keys.values()].find(
      (k) => k.owner.type === 'service_account' && k.owner.serviceAccountId === serviceAccountId,
    );
  }

  /** The unexpired project key with this value, in an active project. */
  private liveProjectKey(value: string): ProjectKey | undefined {
    const now = this.clock.now().getTime();
    for (const project of this.projects.values()) {
      if (project.archived) continue;
      for (const key of project.keys.values())
        if (key.value === value && (key.expiresAt === null || key.expiresAt.getTime() > now)) return key;
    }
    return undefined;
  }

  private newServiceAccount(
    project: Project,
    name: string,
    withKey: boolean,
    expiresAt: Date | null,
  ): { account: ServiceAccount; key: ProjectKey | undefined } {
    const account: ServiceAccount = {
      id: `svc_acct_${randomBytes(8).toString('hex')}`,
      name,
      role: withKey ? 'member' : 'none',
      createdAt: this.clock.now(),
    };
    project.serviceAccounts.set(account.id, account);
    if (!withKey) return { account, key: undefined };
    const key: ProjectKey = {
      id: `key_${randomBytes(8).toString('hex')}`,
      name: 'Secret Key',
      value: `sk-svcacct-${randomBytes(36).toString('base64url')}`,
      createdAt: this.clock.now(),
      lastUsedAt: null,
      expiresAt,
      owner: { type: 'service_account', serviceAccountId: account.id },
    };
    project.keys.set(key.id, key);
    this.recordIssued(key.value);
    return { account, key };
  }

  /** The unexpired key with this value. */
  private live(value: string): AdminKey | undefined {
    const now = this.clock.now().getTime();
    return [...this.keys.values()].find(
      (k) => k.value === value && (k.expiresAt === null || k.expiresAt.getTime() > now),
    );
  }

  protected errorBody(status: number, message: string): unknown {
    return {
      error: {
        message,
        type: status === 429 ? 'rate_limit_exceeded' : 'server_error',
        param: null,
        code: null,
      },
    };
  }

  private fail(
    status: number,
    message: string,
    type: string,
    param: string | null = null,
    code: string | null = null,
  ): SandboxResponse {
    return { status, body: { error: { message, type, param, code } } };
  }

  private newKey(name: string | null, expiresAt: Date | null): AdminKey {
    const key: AdminKey = {
      id: `key_${randomBytes(8).toString('hex')}`,
      name,
      value: `sk-admin-${randomBytes(36).toString('base64url')}`,
      createdAt: this.clock.now(),
      lastUsedAt: null,
      expiresAt,
      owner: this.owner,
    };
    this.keys.set(key.id, key);
    this.recordIssued(key.value);
    return key;
  }

  private keyJson(k: AdminKey, withValue: boolean): Record<string, unknown> {
    return {
      object: 'organization.admin_api_key',
      id: k.id,
      name: k.name,
      redacted_value: `${k.value.slice(0, 9)}...${k.value.slice(-4)}`,
      ...(withValue ? { value: k.value } : {}),
      created_at: unix(k.createdAt),
      expires_at: k.expiresAt ? unix(k.expiresAt) : null,
      last_used_at: k.lastUsedAt ? unix(k.lastUsedAt) : null,
      owner: { ...k.owner, created_at: unix(k.createdAt) },
    };
  }

  private accountJson(a: ServiceAccount): Record<string, unknown> {
    return {
      object: 'organization.project.service_account',
      id: a.id,
      name: a.name,
      role: a.role,
      created_at: unix(a.createdAt),
    };
  }

  private projectKeyJson(project: Project, k: ProjectKey): Record<string, unknown> {
    const account =
      k.owner.type === 'service_account' ? project.serviceAccounts.get(k.owner.serviceAccountId) : undefined;
    return {
      object: 'organization.project.api_key',
      redacted_value: `${k.value.slice(0, 8)}...${k.value.slice(-4)}`,
      name: k.name,
      created_at: unix(k.createdAt),
      last_used_at: k.lastUsedAt ? unix(k.lastUsedAt) : null,
      expires_at: k.expiresAt ? unix(k.expiresAt) : null,
      id: k.id,
      owner:
        k.owner.type === 'user'
          ? { type: 'user', user: { ...k.owner.user, created_at: unix(k.createdAt) } }
          : {
              type: 'service_account',
              service_account: {
                id: k.owner.serviceAccountId,
                name: account?.name ?? '',
                role: account?.role ?? 'member',
                created_at: unix(account?.createdAt ?? k.createdAt),
              },
            },
      owner_project_access: 'active',
    };
  }

  /** A create's JSON body with its required, non-empty `name`, or the documented 400. */
  private namedBody<T>(req: SandboxRequest): { body: T & { name: string } } | { refused: SandboxResponse } {
    if (!String(req.headers['content-type'] ?? '').startsWith('application/json'))
      return {
        refused: this.fail(
          400,
          'We could not parse the JSON body of your request. Send application/json.',
          'invalid_request_error',
        ),
      };
    const body = jsonBody(req) as (T & { name?: unknown }) | undefined;
    if (typeof body?.name !== 'string' || body.name.length === 0)
      return {
        refused: this.fail(
          400,
          "Missing required parameter: 'name'.",
          'invalid_request_error',
          'name',
          'missing_required_parameter',
        ),
      };
    return { body: body as T & { name: string } };
  }

  /**
   * A cursor page (`after`, `limit` 1–100, default 20). On an empty page first_id/last_id are omitted, or
   * null where the listing says so (the admin key list).
   */
  private page<T extends { id: string }>(
    req: SandboxRequest,
    all: T[],
    json: (item: T) => Record<string, unknown>,
    { nullIds = false }: { nullIds?: boolean } = {},
  ): SandboxResponse {
    const limit = Number(req.query.get('limit') ?? 20);
    if (!Number.isInteger(limit) || limit < 1 || limit > 100)
      return this.fail(400, 'limit must be between 1 and 100', 'invalid_request_error', 'limit');
    const after = req.query.get('after');
    const start = after ? all.findIndex((k) => k.id === after) + 1 : 0;
    const page = all.slice(start, start + limit);
    return {
      status: 200,
      body: {
        object: 'list',
        data: page.map(json),
        ...(page.length > 0
          ? { first_id: page[0]!.id, last_id: page.at(-1)!.id }
          : nullIds
            ? { first_id: null, last_id: null }
            : {}),
        has_more: start + limit < all.length,
      },
    };
  }

  /** The Administration API's project service accounts and project API keys. */
  private projectRoute(req: SandboxRequest, match: RegExpExecArray): SandboxResponse {
    const [, projectId, collection, itemId] = match;
    const project = this.projects.get(decodeURIComponent(projectId!));
    if (!project)
      return this.fail(
        404,
        `No such project: ${projectId}`,
        'invalid_request_error',
        'project_id',
        'not_found',
      );
    if (project.archived)
      return this.fail(
        400,
        `Project ${project.id} is archived; archived projects have no service accounts or API keys.`,
        'invalid_request_error',
        'project_id',
      );
    if (collection === 'api_keys' && itemId === undefined && req.method === 'GET')
      return this.page(req, [...project.keys.values()], (k) => this.projectKeyJson(project, k));
    if (collection !== 'service_accounts')
      return this.fail(404, `Invalid URL (${req.method} ${req.path})`, 'invalid_request_error');
    if (itemId === undefined && req.method === 'GET')
      return this.page(req, [...project.serviceAccounts.values()], (a) => this.accountJson(a));
    if (itemId === undefined && req.method === 'POST') {
      const named = this.namedBody<{ create_service_account_only?: unknown; expires_in_seconds?: unknown }>(
        req,
      );
      if ('refused' in named) return named.refused;
      const { body } = named;
      const only = body.create_service_account_only === true;
      const lifetime = body.expires_in_seconds ?? null;
      if (lifetime !== null && (!Number.isInteger(lifetime) || (lifetime as number) < 1 || only))
        return this.fail(
          400,
          only
            ? 'expires_in_seconds cannot be used when create_service_account_only is true'
            : 'expires_in_seconds must be a positive integer',
          'invalid_request_error',
          'expires_in_seconds',
        );
      const expiresAt =
        lifetime === null ? null : new Date(this.clock.now().getTime() + (lifetime as number) * 1000);
      const { account, key } = this.newServiceAccount(project, body.name, !only, expiresAt);
      return {
        status: 200,
        body: {
          ...this.accountJson(account),
          api_key: key
            ? {
                object: 'organization.project.service_account.api_key',
                value: key.value,
                name: key.name,
                created_at: unix(key.createdAt),
                id: key.id,
              }
            : null,
        },
      };
    }
    const id = itemId === undefined ? undefined : decodeURIComponent(itemId);
    const account = id === undefined ? undefined : project.serviceAccounts.get(id);
    const missing = () =>
      this.fail(
        404,
        `No such service account: ${id}`,
        'invalid_request_error',
        'service_account_id',
        'not_found',
      );
    if (id !== undefined && req.method === 'GET')
      return account ? { status: 200, body: this.accountJson(account) } : missing();
    if (id !== undefined && req.method === 'DELETE') {
      if (!account) return missing();
      this.deleteServiceAccount(project.id, account.id);
      return {
        status: 200,
        body: { object: 'organization.project.service_account.deleted', id: account.id, deleted: true },
      };
    }
    return this.fail(404, `Invalid URL (${req.method} ${req.path})`, 'invalid_request_error');
  }

  protected route(req: SandboxRequest): SandboxResponse {
    const token = bearerToken(req);
    if (!token)
      return this.fail(
        401,
        "You didn't provide an API key. Provide it in an Authorization header using Bearer auth.",
        'invalid_request_error',
      );
    if (!req.path.startsWith('/v1/organization/')) {
      // Model endpoints: project keys only; admin keys cannot be used for non-administration endpoints.
      const key = this.liveProjectKey(token);
      if (!key)
        return this.fail(
          401,
          this.live(token)
            ? 'Admin API keys cannot be used for non-administration endpoints. Use a project API key.'
            : 'Incorrect API key provided.',
          'invalid_request_error',
          null,
          'invalid_api_key',
        );
      key.lastUsedAt = this.clock.now();
      if (req.path === '/v1/models' && req.method === 'GET')
        return {
          status: 200,
          body: {
            object: 'list',
            data: [
              { id: 'gpt-4o-mini', object: 'model', created: 1721172741, owned_by: 'system' },
              { id: 'text-embedding-3-small', object: 'model', created: 1705948997, owned_by: 'system' },
            ],
          },
        };
      return this.fail(404, `Invalid URL (${req.method} ${req.path})`, 'invalid_request_error');
    }
    const caller = this.live(token);
    if (!caller)
      return this.fail(401, 'Incorrect API key provided.', 'invalid_request_error', null, 'invalid_api_key');
    caller.lastUsedAt = this.clock.now();

    const inProject = /^\/v1\/organization\/projects\/([^/]+)\/([^/]+)(?:\/([^/]+))?$/.exec(req.path);
    if (inProject) return this.projectRoute(req, inProject);

    if (req.path === '/v1/organization/projects' && req.method === 'GET')
      return {
        status: 200,
        body: { object: 'list', data: [], first_id: null, last_id: null, has_more: false },
      };
    const item = /^\/v1\/organization\/admin_api_keys\/([^/]+)$/.exec(req.path);
    if (req.path === '/v1/organization/admin_api_keys' && req.method === 'GET') {
      const all = [...this.keys.values()];
      if (req.query.get('order') === 'desc') all.reverse();
      return this.page(req, all, (k) => this.keyJson(k, false), { nullIds: true });
    }
    if (req.path === '/v1/organization/admin_api_keys' && req.method === 'POST') {
      const named = this.namedBody<{ expires_in_seconds?: unknown }>(req);
      if ('refused' in named) return named.refused;
      const { body } = named;
      const lifetime = body.expires_in_seconds;
      if (lifetime !== undefined && (!Number.isInteger(lifetime) || (lifetime as number) < 1))
        return this.fail(
          400,
          'expires_in_seconds must be a positive integer',
          'invalid_request_error',
          'expires_in_seconds',
        );
      const expiresAt =
        lifetime === undefined ? null : new Date(this.clock.now().getTime() + (lifetime as number) * 1000);
      return { status: 200, body: this.keyJson(this.newKey(body.name, expiresAt), true) };
    }
    const key = item ? this.keys.get(decodeURIComponent(item[1]!)) : undefined;
    const missing = () =>
      this.fail(404, `No such admin API key: ${item?.[1]}`, 'invalid_request_error', 'key_id', 'not_found');
    if (item && req.method === 'GET')
      return key ? { status: 200, body: this.keyJson(key, false) } : missing();
    if (item && req.method === 'DELETE') {
      if (!key) return missing();
      this.keys.delete(key.id);
      return {
        status: 200,
        body: { id: key.id, object: 'organization.admin_api_key.deleted', deleted: true },
      };
    }
    return this.fail(404, `Invalid URL (${req.method} ${req.path})`, 'invalid_request_error');
  }
}
