import { randomBytes } from 'node:crypto';
import { type Clock, systemClock } from '../clock.js';
import {
  bearerToken,
  jsonBody,
  ProviderSandbox,
  type RateLimit,
  type SandboxRequest,
  type SandboxResponse,
} from './sandbox.js';

export interface CloudflarePolicy {
  effect: 'allow' | 'deny';
  resources: Record<string, string>;
  permission_groups: Array<{ id: string; name?: string }>;
}
export interface CloudflareCondition {
  request_ip?: { in?: string[]; not_in?: string[] };
}

interface CloudflareToken {
  id: string;
  name: string;
  value: string;
  /** "user" or the owning account's id. */
  owner: string;
  policies: Array<CloudflarePolicy & { id: string }>;
  condition: CloudflareCondition | undefined;
  /** The token's validity window (ISO 8601), when it has one. */
  window: CloudflareValidity;
  issuedOn: Date;
  lastUsedOn: Date | null;
}

/** When a token starts and stops being valid. */
export interface CloudflareValidity {
  not_before?: string;
  expires_on?: string;
}

/** Permission groups that let a token manage tokens (user-owned and account-owned). */
export const CLOUDFLARE_TOKEN_ADMIN_GROUPS = {
  user: { id: 'd1a8b5b3c7e24e6f9c0a1b2c3d4e5f60', name: 'API Tokens Write' },
  account: { id: 'e2b9c6c4d8f35f7a0d1b2c3d4e5f6071', name: 'Account API Tokens Write' },
};
export const CLOUDFLARE_USER_TOKEN_QUOTA = 50;
export const CLOUDFLARE_ACCOUNT_TOKEN_QUOTA = 500;
const PER_PAGE_MAX = 50;
/**
 * "Client API per user/account token: 1200/5 minutes" (developers.cloudflare.com, "Rate limits"); past it,
 * "all API calls for the next five minutes will be blocked, receiving a HTTP 429 response", with
 * `retry-after` (whole seconds) and the `Ratelimit` / `Ratelimit-Policy` headers.
 */
export const CLOUDFLARE_RATE_LIMIT: RateLimit = { limit: 1200, windowMs: 5 * 60_000 };

/**
 * Cloudflare's API tokens as documented (cloudflare/api-schemas, developers.cloudflare.com): user-owned
 * `/client/v4/user/tokens` and account-owned `/client/v4/accounts/{account_id}/tokens` (list, create with
 * policies and condition, get, delete, `…/tokens/verify`), bearer auth, every answer in the
 * `{success, errors, messages, result}` envelope; lists carry `result_info` with `count`, `page`, `per_page`
 * and `total_count` (no `total_pages`). Tokens may have `not_before`/`expires_on`; past `expires_on` a token
 * verifies with status "expired". Token values appear only at creation; `last_used_on` is reported. Quotas: 50 user tokens, 500 account tokens; 1,200 requests per 5 minutes per token (`rateLimit`). `GET /client/v4/zones` is the call simulated
 * applications make.
 */
export class CloudflareSandbox extends ProviderSandbox {
  readonly accountId = randomBytes(16).toString('hex');
  private readonly tokens = new Map<string, CloudflareToken>();
  /** Counted per API token; undefined turns it off. */
  rateLimit: RateLimit | undefined = CLOUDFLARE_RATE_LIMIT;

  constructor(private readonly clock: Clock = systemClock) {
    super();
  }

  protected override throttle(req: SandboxRequest): SandboxResponse | undefined {
    if (!this.rateLimit) return undefined;
    const window = this.rateWindows.take(bearerToken(req) ?? '', this.rateLimit, { blockOnExceed: true });
    if (!window.over) return undefined;
    const seconds = Math.ceil(window.resetMs / 1000);
    return {
      status: 429,
      headers: {
        'retry-after': String(seconds),
        ratelimit: `"default";r=0;t=${seconds}`,
        'ratelimit-policy': `"default";q=${window.limit};w=${this.rateLimit.windowMs / 1000}`,
      },
      body: this.errorBody(429, 'Rate limited. Please wait and consider throttling your request speed'),
    };
  }

  /** A token made in the dashboard. `owner` is "user" or this sandbox's account id. */
  seedToken(
    name: string,
    policies: CloudflarePolicy[],
    owner = 'user',
    condition?: CloudflareCondition,
    window: CloudflareValidity = {},
  ): { id: string; value: string } {
    const token = this.newToken(name, owner, policies, condition, window);
    return { id: token.id, value: token.value };
  }

  listTokens(): Array<{
    id: string;
    name: string;
    owner: string;
    policies: CloudflarePolicy[];
    condition?: CloudflareCondition;
    window: CloudflareValidity;
  }> {
    return [...this.tokens.values()].map((t) => ({
      id: t.id,
      name: t.name,
      owner: t.owner,
      // Policy ids and group names are assigned by Cloudflare; what a token may do is the rest.
      policies: t.policies.map(({ effect, resources, permission_groups }) => ({
        effect,
        resources,
        permission_groups: permission_groups.map(({ id }) => ({ id })),
      })),
      ...(t.condition ? { condition: t.condition } : {}),
      window: { ...t.window },
    }));
  }

  /** Deletes a token out of band (a token deleted in the dashboard). */
  deleteKey(id: string): void {
    this.tokens.delete(id);
  }

  accepts(value: string): boolean {
    return [...this.tokens.values()].some((t) => t.value === value);
  }

  protected errorBody(status: number, message: string): unknown {
    return {
      success: false,
      errors: [{ code: status === 429 ? 10000 : 10001, message }],
      messages: [],
      result: null,
    };
  }

  private fail(status: number, code: number, message: string): SandboxResponse {
    return { status, body: { success: false, errors: [{ code, message }], messages: [], result: null } };
  }

  private ok(result: unknown, extra: Record<string, unknown> = {}): SandboxResponse {
    return { status: 200, body: { success: true, errors: [], messages: [], result, ...extra } };
  }

  private newToken(
    name: string,
    owner: string,
    policies: CloudflarePolicy[],
    condition: CloudflareCondition | undefined,
    window: CloudflareValidity,
  ): CloudflareToken {
    const token: CloudflareToken = {
      id: randomBytes(16).toString('hex'),
      name,
      value: randomBytes(30).toString('base64url').slice(0, 40),
      owner,
      policies: policies.map((p) => ({ ...p, id: randomBytes(16).toString('hex') })),
      condition,
      window,
      issuedOn: this.clock.now(),
      lastUsedOn: null,
    };
    this.tokens.set(token.id, token);
    this.recordIssued(token.value);
    return token;
  }

  private status(t: CloudflareToken): 'active' | 'expired' {
    const expiresOn = t.window.expires_on === undefined ? undefined : Date.parse(t.window.expires_on);
    return expiresOn !== undefined && expiresOn <= this.clock.now().getTime() ? 'expired' : 'active';
  }

  private tokenJson(t: CloudflareToken, withValue: boolean): Record<string, unknown> {
    return {
      id: t.id,
      name: t.name,
      status: this.status(t),
      issued_on: t.issuedOn.toISOString(),
      modified_on: t.issuedOn.toISOString(),
      last_used_on: t.lastUsedOn?.toISOString() ?? null,
      policies: t.policies,
      ...(t.condition ? { condition: t.condition } : {}),
      ...t.window,
      ...(withValue ? { value: t.value } : {}),
    };
  }

  protected route(req: SandboxRequest): SandboxResponse {
    const bearer = bearerToken(req);
    const caller = bearer ? [...this.tokens.values()].find((t) => t.value === bearer) : undefined;
    if (!caller)
      return this.fail(
        401,
        1000,
        bearer ? 'Invalid API Token' : 'Missing or malformed Authorization header: use "Bearer <API token>"',
      );

    if (req.path === '/client/v4/zones' && req.method === 'GET') {
      caller.lastUsedOn = this.clock.now();
      return this.ok([], { result_info: { page: 1, per_page: 20, count: 0, total_count: 0 } });
    }
    const scope = /^\/client\/v4\/(?:user|accounts\/([0-9a-f]{32}))\/tokens(?:\/([^/]+))?$/.exec(req.path);
    if (!scope) return this.fail(404, 7003, 'Could not route to the requested path');
    if (scope[1] !== undefined && scope[1] !== this.accountId)
      return this.fail(404, 7003, 'Could not route to the requested path');
    const owner = scope[1] ?? 'user';
    const sub = scope[2];

    if (sub === 'verify' && req.method === 'GET') {
      // A token verifies only against its own owner's endpoint.
      if (caller.owner !== owner) return this.fail(401, 1000, 'Invalid API Token');
      // iam_token_verify_response_single_segment: the calling token's own id and status, and its validity
      // window where it has one.
      return this.ok({
        id: caller.id,
        status: this.status(caller),
        ...(caller.window.expires_on ? { expires_on: caller.window.expires_on } : {}),
        ...(caller.window.not_before ? { not_before: caller.window.not_before } : {}),
      });
    }
    const adminGroup =
      owner === 'user' ? CLOUDFLARE_TOKEN_ADMIN_GROUPS.user : CLOUDFLARE_TOKEN_ADMIN_GROUPS.account;
    const mayManage =
      caller.owner === owner &&
      caller.policies.some(
        (p) => p.effect === 'allow' && p.permission_groups.some((g) => g.id === adminGroup.id),
      );
    if (!mayManage)
      return this.fail(
        403,
        9109,
        `Unauthorized to access requested resource: the token needs "${adminGroup.name}"`,
      );
    const owned = [...this.tokens.values()].filter((t) => t.owner === owner);

    if (sub === undefined && req.method === 'GET') {
      const page = Number(req.query.get('page') ?? 1);
      const perPage = Number(req.query.get('per_page') ?? 20);
      if (
        !Number.isInteger(page) ||
        page < 1 ||
        !Number.isInteger(perPage) ||
        perPage < 5 ||
        perPage > PER_PAGE_MAX
      )
        return this.fail(400, 1001, `page must be >= 1 and per_page between 5 and ${PER_PAGE_MAX}`);
      const slice = owned.slice((page - 1) * perPage, page * perPage);
      return this.ok(
        slice.map((t) => this.tokenJson(t, false)),
        {
          result_info: {
            page,
            per_page: perPage,
            count: slice.length,
            total_count: owned.length,
          },
        },
      );
    }
    if (sub === undefined && req.method === 'POST') {
      if (!String(req.headers['content-type'] ?? '').startsWith('application/json'))
        return this.fail(400, 6003, 'Invalid request headers: Content-Type must be application/json');
      const body = jsonBody(req) as
        | {
            name?: unknown;
            policies?: unknown;
            condition?: unknown;
            not_before?: unknown;
            expires_on?: unknown;
          }
        | undefined;
      if (!body) return this.fail(400, 6007, 'Malformed JSON in request body');
      if (typeof body.name !== 'string' || body.name.length === 0)
        return this.fail(400, 1001, 'name: required');
      if (!Array.isArray(body.policies) || body.policies.length === 0 || !body.policies.every(validPolicy))
        return this.fail(
          400,
          1001,
          'policies: at least one policy with effect, resources and permission_groups is required',
        );
      const window: CloudflareValidity = {};
      for (const field of ['not_before', 'expires_on'] as const) {
        const value = body[field];
        if (value === undefined || value === null) continue;
        if (typeof value !== 'string' || Number.isNaN(Date.parse(value)))
          return this.fail(400, 1001, `${field}: must be an ISO 8601 date-time`);
        window[field] = value;
      }
      const quota = owner === 'user' ? CLOUDFLARE_USER_TOKEN_QUOTA : CLOUDFLARE_ACCOUNT_TOKEN_QUOTA;
      if (owned.length >= quota) return this.fail(400, 1002, `token quota reached: at most ${quota} tokens`);
      const token = this.newToken(
        body.name,
        owner,
        body.policies as CloudflarePolicy[],
        body.condition as CloudflareCondition | undefined,
        window,
      );
      return this.ok(this.tokenJson(token, true));
    }
    const token = sub === undefined ? undefined : this.tokens.get(sub);
    const mine = token && token.owner === owner ? token : undefined;
    if (sub !== undefined && req.method === 'GET')
      return mine ? this.ok(this.tokenJson(mine, false)) : this.fail(404, 1003, 'Token not found');
    if (sub !== undefined && req.method === 'DELETE') {
      if (!mine) return this.fail(404, 1003, 'Token not found');
      this.tokens.delete(mine.id);
      return this.ok({ id: mine.id });
    }
    return this.fail(405, 10405, 'Method not allowed');
  }
}

function validPolicy(policy: unknown): boolean {
  const p = policy as Partial<CloudflarePolicy> | null;
  return (
    !!p &&
    (p.effect === 'allow' || p.effect === 'deny') &&
    typeof p.resources === 'object' &&
    p.resources !== null &&
    Array.isArray(p.permission_groups) &&
    p.permission_groups.length > 0 &&
    p.permission_groups.every((g) => typeof g?.id === 'string')
  );
}
