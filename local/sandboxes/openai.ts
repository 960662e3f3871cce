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

const unix = (date: Date): number => Math.floor(date.getTime() / 1000);

/**
 * OpenAI's organization admin API keys as openai-openapi documents them: `/v1/organization/admin_api_keys`
 * (list with `after`/`limit`/`order`, create `{name, expires_in_seconds?}`, retrieve, delete), bearer auth
 * with an admin key, errors `{error: {message, type, param, code}}`. Every key carries `expires_at` (unix
 * seconds, null when it never expires) and a `name` that may be null. The value is returned only by create;
 * `last_used_at` (unix seconds) is reported; an expired key no longer authenticates. Any authenticated admin call counts as a use; `GET /v1/organization/projects`
 * is the call simulated automation makes.
 */
export class OpenAiSandbox extends ProviderSandbox {
  private readonly keys = new Map<string, AdminKey>();
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

  accepts(value: string): boolean {
    return this.live(value) !== undefined;
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

  protected route(req: SandboxRequest): SandboxResponse {
    const token = bearerToken(req);
    if (!token)
      return this.fail(
        401,
        "You didn't provide an API key. Provide it in an Authorization header using Bearer auth.",
        'invalid_request_error',
      );
    const caller = this.live(token);
    if (!caller)
      return this.fail(401, 'Incorrect API key provided.', 'invalid_request_error', null, 'invalid_api_key');
    caller.lastUsedAt = this.clock.now();

    if (req.path === '/v1/organization/projects' && req.method === 'GET')
      return {
        status: 200,
        body: { object: 'list', data: [], first_id: null, last_id: null, has_more: false },
      };
    const item = /^\/v1\/organization\/admin_api_keys\/([^/]+)$/.exec(req.path);
    if (req.path === '/v1/organization/admin_api_keys' && req.method === 'GET') {
      const limit = Number(req.query.get('limit') ?? 20);
      if (!Number.isInteger(limit) || limit < 1 || limit > 100)
        return this.fail(400, 'limit must be between 1 and 100', 'invalid_request_error', 'limit');
      const all = [...this.keys.values()];
      if (req.query.get('order') === 'desc') all.reverse();
      const after = req.query.get('after');
      const start = after ? all.findIndex((k) => k.id === after) + 1 : 0;
      const page = all.slice(start, start + limit);
      return {
        status: 200,
        body: {
          object: 'list',
          data: page.map((k) => this.keyJson(k, false)),
          first_id: page[0]?.id ?? null,
          last_id: page.at(-1)?.id ?? null,
          has_more: start + limit < all.length,
        },
      };
    }
    if (req.path === '/v1/organization/admin_api_keys' && req.method === 'POST') {
      if (!String(req.headers['content-type'] ?? '').startsWith('application/json'))
        return this.fail(
          400,
          'We could not parse the JSON body of your request. Send application/json.',
          'invalid_request_error',
        );
      const body = jsonBody(req) as { name?: unknown; expires_in_seconds?: unknown } | undefined;
      if (typeof body?.name !== 'string' || body.name.length === 0)
        return this.fail(
          400,
          "Missing required parameter: 'name'.",
          'invalid_request_error',
          'name',
          'missing_required_parameter',
        );
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
