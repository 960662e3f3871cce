import { randomBytes, randomUUID } from 'node:crypto';
import { type Clock, systemClock } from '../clock.js';
import {
  jsonBody,
  ProviderSandbox,
  type RateLimit,
  type SandboxRequest,
  type SandboxResponse,
  type StatusFault,
} from './sandbox.js';

interface DatadogApiKey {
  id: string;
  name: string;
  key: string;
  createdAt: Date;
  lastUsed: Date | null;
  remoteConfigReadEnabled: boolean;
  /** Whether GET /api/v2/api_keys/{id} includes `key` (FullAPIKeyAttributes' `key` is optional; `last4` is always shown). */
  keyShown: boolean;
}

export const DATADOG_MAX_API_KEYS = 50;
export const DATADOG_KEY_ADMIN_PERMISSIONS = ['api_keys_read', 'api_keys_write', 'api_keys_delete'];

/**
 * Datadog's v2 key management (`/api/v2/api_keys`, JSON:API bodies) and `GET /api/v1/validate`, as the
 * datadog-api-client schemas document them. Management calls authenticate with the `DD-API-KEY` and
 * `DD-APPLICATION-KEY` headers; the application key's owner needs api_keys_read to list and get keys,
 * api_keys_write to create and api_keys_delete to delete. Errors are `{errors: [string]}`, bad credentials
 * 403. A 429 carries `X-RateLimit-Limit/Period/Remaining/Reset/Name`, Reset being the seconds until the
 * limit resets (no Retry-After). An organization holds at most 50 API keys; a key's value is readable by
 * id (unless seeded with `keyShown: false`: then GetAPIKey answers only `last4`, as FullAPIKeyAttributes allows),
 * and its last use (`date_last_used`) is reported. `POST /api/v2/series` is the call simulated
 * applications make with their API key.
 */
export class DatadogSandbox extends ProviderSandbox {
  private readonly keys = new Map<string, DatadogApiKey>();
  private readonly appKeys = new Map<string, string[]>();
  /**
   * The key-management endpoints' limit per organization, when set. Datadog rate-limits "many API endpoints"
   * with limits that "vary" and are "included in the headers" (API reference, "Rate Limits"): it publishes no
   * number for /api/v2/api_keys, so none is enforced by default. Set one to see Datadog's 429, with
   * X-RateLimit-Limit/Period/Remaining/Reset (seconds until the period resets)/Name.
   */
  rateLimit: RateLimit | undefined;

  constructor(private readonly clock: Clock = systemClock) {
    super();
  }

  protected override throttle(req: SandboxRequest): SandboxResponse | undefined {
    if (!this.rateLimit || !req.path.startsWith('/api/v2/api_keys')) return undefined;
    const window = this.rateWindows.take('api_keys', this.rateLimit);
    if (!window.over) return undefined;
    return {
      status: 429,
      headers: {
        'x-ratelimit-limit': String(window.limit),
        'x-ratelimit-period': String(this.rateLimit.windowMs / 1000),
        'x-ratelimit-remaining': '0',
        'x-ratelimit-reset': String(Math.ceil(window.resetMs / 1000)),
        'x-ratelimit-name': 'api_keys',
      },
      body: this.errorBody(429, 'Too many requests'),
    };
  }

  /** An API key made in the Datadog UI; `keyShown: false` for one whose GET answers `last4` but not `key`. */
  seedApiKey(
    name: string,
    remoteConfigReadEnabled = false,
    { keyShown = true }: { keyShown?: boolean } = {},
  ): { id: string; value: string } {
    const key = this.newKey(name, remoteConfigReadEnabled);
    key.keyShown = keyShown;
    return { id: key.id, value: key.key };
  }

  /** An application key with the given permissions (the rotator's, typically). */
  seedApplicationKey(permissions: string[] = DATADOG_KEY_ADMIN_PERMISSIONS): string {
    const value = randomBytes(20).toString('hex');
    this.appKeys.set(value, [...permissions]);
    this.recordIssued(value);
    return value;
  }

  listKeys(): Array<{ id: string; name: string; remoteConfigReadEnabled: boolean }> {
    return [...this.keys.values()].map(({ id, name, remoteConfigReadEnabled }) => ({
      id,
      name,
      remoteConfigReadEnabled,
    }));
  }

  /** Deletes a key out of band (a key revoked in the Datadog UI). */
  deleteKey(id: string): void {
    this.keys.delete(id);
  }

  accepts(value: string): boolean {
    return [...this.keys.values()].some((k) => k.key === value);
  }

  protected errorBody(_status: number, message: string): unknown {
    return { errors: [message] };
  }

  protected override faultResponse(fault: StatusFault): SandboxResponse {
    const response = super.faultResponse(fault);
    if (fault.status !== 429 || fault.retryAfterSeconds === undefined) return response;
    return {
      ...response,
      headers: {
        'x-ratelimit-limit': '100',
        'x-ratelimit-period': '60',
        'x-ratelimit-remaining': '0',
        'x-ratelimit-reset': String(fault.retryAfterSeconds),
        'x-ratelimit-name': 'api_keys',
      },
    };
  }

  private fail(status: number, message: string): SandboxResponse {
    return { status, body: { errors: [message] } };
  }

  private newKey(name: string, remoteConfigReadEnabled: boolean): DatadogApiKey {
    const key: DatadogApiKey = {
      id: randomUUID(),
      name,
      key: randomBytes(16).toString('hex'),
      createdAt: this.clock.now(),
      lastUsed: null,
      remoteConfigReadEnabled,
      keyShown: true,
    };
    this.keys.set(key.id, key);
    this.recordIssued(key.key);
    return key;
  }

  private apiKey(req: SandboxRequest): DatadogApiKey | undefined {
    const value = req.headers['dd-api-key'];
    return typeof value === 'string' ? [...this.keys.values()].find((k) => k.key === value) : undefined;
  }

  private json(key: DatadogApiKey, full: boolean): Record<string, unknown> {
    return {
      id: key.id,
      type: 'api_keys',
      attributes: {
        created_at: key.createdAt.toISOString(),
        last4: key.key.slice(-4),
        modified_at: key.createdAt.toISOString(),
        name: key.name,
        remote_config_read_enabled: key.remoteConfigReadEnabled,
        ...(full
          ? {
              ...(key.keyShown ? { key: key.key } : {}),
              date_last_used: key.lastUsed?.toISOString() ?? null,
            }
          : {}),
      },
    };
  }

  protected route(req: SandboxRequest): SandboxResponse {
    const caller = this.apiKey(req);
    if (req.path === '/api/v1/validate' && req.method === 'GET')
      return caller ? { status: 200, body: { valid: true } } : this.fail(403, 'Forbidden');
    if (req.path === '/api/v2/series' && req.method === 'POST') {
      if (!caller) return this.fail(403, 'Forbidden');
      caller.lastUsed = this.clock.now();
      return { status: 202, body: { errors: [] } };
    }

    const item = /^\/api\/v2\/api_keys\/([^/]+)$/.exec(req.path);
    if (req.path !== '/api/v2/api_keys' && !item) return this.fail(404, 'Not found');
    const appKey = req.headers['dd-application-key'];
    const permissions = typeof appKey === 'string' ? this.appKeys.get(appKey) : undefined;
    if (!caller || !permissions) return this.fail(403, 'Forbidden');
    const need = (permission: string): SandboxResponse | undefined =>
      permissions.includes(permission)
        ? undefined
        : this.fail(403, `Forbidden: missing permission ${permission}`);

    if (req.path === '/api/v2/api_keys' && req.method === 'GET') {
      const denied = need('api_keys_read');
      if (denied) return denied;
      const size = Number(req.query.get('page[size]') ?? 10);
      const number = Number(req.query.get('page[number]') ?? 0);
      if (!Number.isInteger(size) || size < 1 || size > 100 || !Number.isInteger(number) || number < 0)
        return this.fail(400, 'page[size] must be 1..100 and page[number] a non-negative integer');
      const filter = req.query.get('filter') ?? '';
      const matching = [...this.keys.values()].filter((k) => k.name.includes(filter));
      return {
        status: 200,
        body: {
          data: matching.slice(number * size, (number + 1) * size).map((k) => this.json(k, false)),
          meta: { max_allowed: DATADOG_MAX_API_KEYS, page: { total_filtered_count: matching.length } },
        },
      };
    }
    if (req.path === '/api/v2/api_keys' && req.method === 'POST') {
      const denied = need('api_keys_write');
      if (denied) return denied;
      if (!String(req.headers['content-type'] ?? '').startsWith('application/json'))
        return this.fail(415, 'Unsupported Media Type: use application/json');
      const body = jsonBody(req) as
        | { data?: { type?: unknown; attributes?: { name?: unknown; remote_config_read_enabled?: unknown } } }
        | undefined;
      if (body?.data?.type !== 'api_keys') return this.fail(400, "data.type must be 'api_keys'");
      const { name, remote_config_read_enabled: remoteConfig } = body.data.attributes ?? {};
      if (typeof name !== 'string' || name.length === 0)
        return this.fail(400, "missing required attribute 'name'");
      if (this.keys.size >= DATADOG_MAX_API_KEYS)
        return this.fail(
          403,
          `API key limit reached: an organization may have at most ${DATADOG_MAX_API_KEYS} API keys`,
        );
      const key = this.newKey(name, remoteConfig === true);
      return { status: 201, body: { data: this.json(key, true) } };
    }
    const key = item ? this.keys.get(decodeURIComponent(item[1]!)) : undefined;
    if (item && req.method === 'GET') {
      const denied = need('api_keys_read');
      if (denied) return denied;
      return key
        ? { status: 200, body: { data: this.json(key, true) } }
        : this.fail(404, 'API key not found');
    }
    if (item && req.method === 'DELETE') {
      const denied = need('api_keys_delete');
      if (denied) return denied;
      if (!key) return this.fail(404, 'API key not found');
      this.keys.delete(key.id);
      return { status: 204 };
    }
    return this.fail(405, 'Method Not Allowed');
  }
}
