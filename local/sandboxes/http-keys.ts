import { randomBytes } from 'node:crypto';
import {
  bearerToken,
  jsonBody,
  ProviderSandbox,
  type SandboxRequest,
  type SandboxResponse,
} from './sandbox.js';

interface InternalKey {
  id: string;
  name: string;
  secret: string;
  scopes: string[];
  status: 'active' | 'disabled';
}

export interface HttpKeysSandboxOptions {
  /** Refuse to delete an active key (409) until it is disabled, as many gateways do. */
  requireDisableBeforeDelete?: boolean;
  /** Most keys the service holds (409 beyond). */
  maxKeys?: number;
}

/**
 * A typical in-house key service — the guide's `provider_api: https://gateway.internal/admin/keys` —
 * for the generic HTTP provider. Its API, documented here because it is ours:
 * - admin calls authenticate with `Authorization: Bearer <admin token>` and send JSON;
 * - `POST /admin/keys {name, copy_from?}` → 201 `{key: {id, name, status, scopes}, secret}` (secret shown once;
 *   `copy_from` copies that key's scopes);
 * - `GET /admin/keys` → `{items: [{id, name, status, scopes}]}`;
 * - `POST /admin/keys/{id}/disable` → 200; `DELETE /admin/keys/{id}` → 204 (409 while active when
 *   disable-before-delete is on), 404 for an unknown key;
 * - `GET /v1/whoami` with `X-Api-Key: <secret>` → 200 `{id, name}` (the validation call), and every other
 *   `GET /v1/…` (the apps' own calls) → 200; 401 for an unknown or disabled key;
 * - errors are `{error: {code, message}}`.
 */
export class HttpKeysSandbox extends ProviderSandbox {
  readonly adminToken = `adm_${randomBytes(24).toString('base64url')}`;
  private readonly keys = new Map<string, InternalKey>();

  constructor(private readonly options: HttpKeysSandboxOptions = {}) {
    super();
    this.recordIssued(this.adminToken);
  }

  seedKey(name: string, scopes: string[]): { id: string; value: string } {
    const key = this.newKey(name, scopes);
    return { id: key.id, value: key.secret };
  }

  listKeys(): Array<{ id: string; name: string; scopes: string[]; status: InternalKey['status'] }> {
    return [...this.keys.values()].map(({ id, name, scopes, status }) => ({
      id,
      name,
      scopes: [...scopes],
      status,
    }));
  }

  /** Deletes a key out of band (an operator removed it). */
  deleteKey(id: string): void {
    this.keys.delete(id);
  }

  accepts(secret: string): boolean {
    return [...this.keys.values()].some((k) => k.secret === secret && k.status === 'active');
  }

  protected errorBody(status: number, message: string): unknown {
    return { error: { code: status === 429 ? 'rate_limited' : 'unavailable', message } };
  }

  private fail(status: number, code: string, message: string): SandboxResponse {
    return { status, body: { error: { code, message } } };
  }

  private newKey(name: string, scopes: string[]): InternalKey {
    const key: InternalKey = {
      id: `key_${randomBytes(8).toString('hex')}`,
      name,
      secret: `ik_${randomBytes(24).toString('base64url')}`,
      scopes: [...scopes],
      status: 'active',
    };
    this.keys.set(key.id, key);
    this.recordIssued(key.secret);
    return key;
  }

  private keyJson({ id, name, status, scopes }: InternalKey) {
    return { id, name, status, scopes };
  }

  protected route(req: SandboxRequest): SandboxResponse {
    if (req.path.startsWith('/v1/') && req.method === 'GET') {
      const secret = req.headers['x-api-key'];
      const key = [...this.keys.values()].find((k) => k.secret === secret && k.status === 'active');
      return key
        ? { status: 200, body: { id: key.id, name: key.name } }
        : this.fail(401, 'unauthenticated', 'unknown or disabled API key');
    }
    const item = /^\/admin\/keys\/([^/]+)(\/disable)?$/.exec(req.path);
    if (req.path !== '/admin/keys' && !item) return this.fail(404, 'not_found', 'no such route');
    if (bearerToken(req) !== this.adminToken)
      return this.fail(401, 'unauthenticated', 'admin calls need "Authorization: Bearer <admin token>"');

    if (req.path === '/admin/keys' && req.method === 'GET')
      return { status: 200, body: { items: [...this.keys.values()].map((k) => this.keyJson(k)) } };
    if (req.path === '/admin/keys' && req.method === 'POST') {
      if (!String(req.headers['content-type'] ?? '').startsWith('application/json'))
        return this.fail(415, 'unsupported_media_type', 'send application/json');
      const body = jsonBody(req) as { name?: unknown; copy_from?: unknown } | undefined;
      if (typeof body?.name !== 'string' || body.name.length === 0)
        return this.fail(400, 'invalid_request', 'name is required');
      let scopes: string[] = [];
      if (body.copy_from !== undefined) {
        const source = typeof body.copy_from === 'string' ? this.keys.get(body.copy_from) : undefined;
        if (!source) return this.fail(400, 'invalid_request', 'copy_from names no key');
        scopes = source.scopes;
      }
      if (this.options.maxKeys !== undefined && this.keys.size >= this.options.maxKeys)
        return this.fail(409, 'key_limit', `at most ${this.options.maxKeys} keys`);
      const key = this.newKey(body.name, scopes);
      return { status: 201, body: { key: this.keyJson(key), secret: key.secret } };
    }
    const key = item ? this.keys.get(decodeURIComponent(item[1]!)) : undefined;
    if (item?.[2] && req.method === 'POST') {
      if (!key) return this.fail(404, 'not_found', 'no such key');
      key.status = 'disabled';
      return { status: 200, body: this.keyJson(key) };
    }
    if (item && !item[2] && req.method === 'DELETE') {
      if (!key) return this.fail(404, 'not_found', 'no such key');
      if (this.options.requireDisableBeforeDelete && key.status === 'active')
        return this.fail(409, 'key_active', 'disable the key before deleting it');
      this.keys.delete(key.id);
      return { status: 204 };
    }
    return this.fail(405, 'method_not_allowed', 'method not allowed');
  }
}
