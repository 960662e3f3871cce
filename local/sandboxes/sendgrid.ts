import { randomBytes } from 'node:crypto';
import {
  bearerToken,
  jsonBody,
  ProviderSandbox,
  type RateLimit,
  type SandboxRequest,
  type SandboxResponse,
  type StatusFault,
} from './sandbox.js';

interface SendGridKey {
  id: string;
  name: string;
  value: string;
  scopes: string[];
  /** Made without scopes: every scope of the account except billing. */
  fullAccess: boolean;
  /** Whether GET /v3/api_keys/{id} includes the scopes (GetApiKey's `scopes` is optional). */
  scopesShown: boolean;
  /** Whether GET /v3/scopes lists this key's scopes; false: it answers ListScope's documented 401. */
  listsScopes: boolean;
}

export const SENDGRID_ADMIN_SCOPES = [
  'api_keys.create',
  'api_keys.read',
  'api_keys.update',
  'api_keys.delete',
  'mail.send',
  'scopes.read',
];
/** What a Full Access key may do here: the admin scopes and the rest of a sandbox account's. */
export const SENDGRID_FULL_ACCESS_SCOPES = [
  ...SENDGRID_ADMIN_SCOPES,
  'alerts.read',
  'stats.read',
  'suppression.read',
  'templates.read',
  'user.profile.read',
];
const MAX_KEYS = 100;

/**
 * SendGrid's v3 rate limits ("Rate Limits", SendGrid API reference): each endpoint allows a number of
 * requests per refresh period, reported in X-RateLimit-Limit/Remaining/Reset (Reset a Unix time); past it a
 * 429 `{errors:[{field:null,message:"too many requests"}]}` until the period ends. The page gives no number:
 * 600 per minute is the v3 default (Twilio SendGrid changelog, 2019-10-10), and Mail Send carries no rate
 * limit headers (it is metered by the plan's email volume instead).
 */
export const SENDGRID_RATE_LIMIT: RateLimit = { limit: 600, windowMs: 60_000 };

export interface SendGridSandboxOptions {
  /**
   * Whether a 429 also carries Retry-After (default true, as the suites' fault tests expect). SendGrid documents
   * only X-RateLimit-Limit/Remaining/Reset, Reset a Unix time in seconds: with false a 429 carries only those.
   */
  retryAfter?: boolean;
}

/**
 * SendGrid's `/v3/api_keys` API as documented (twilio/sendgrid-oai): bearer-key auth, JSON bodies,
 * `{errors:[{field,message}]}` error shape, keys shown only at creation, 100 keys per account, deleted keys
 * answered 401. CreateApiKey without `scopes` makes a Full Access key; GetApiKey's `scopes` is optional,
 * and a key seeded with `scopesShown: false` is returned without them. A key seeded with `listsScopes: false`
 * is live but answers GET /v3/scopes with ListScope's documented 401 (it may not view the list of scopes).
 * `POST /v3/mail/send` (scope mail.send) is the call simulated applications make. A 429 carries SendGrid's
 * X-RateLimit-* headers (Reset a Unix time), and Retry-After unless `retryAfter: false`.
 */
export class SendGridSandbox extends ProviderSandbox {
  private readonly keys = new Map<string, SendGridKey>();
  /** Per endpoint and account; undefined turns it off. */
  rateLimit: RateLimit | undefined = SENDGRID_RATE_LIMIT;

  constructor(private readonly options: SendGridSandboxOptions = {}) {
    super();
  }

  protected override throttle(req: SandboxRequest): SandboxResponse | undefined {
    if (!this.rateLimit || req.path === '/v3/mail/send') return undefined;
    const endpoint = `${req.method} ${req.path.replace(/^\/v3\/api_keys\/[^/]+$/, '/v3/api_keys/{api_key_id}')}`;
    const window = this.rateWindows.take(endpoint, this.rateLimit);
    if (!window.over) return undefined;
    return {
      status: 429,
      headers: {
        'x-ratelimit-limit': String(window.limit),
        'x-ratelimit-remaining': '0',
        'x-ratelimit-reset': String(Math.ceil((Date.now() + window.resetMs) / 1000)),
      },
      body: this.errorBody(429, 'too many requests'),
    };
  }

  protected override faultResponse(fault: StatusFault): SandboxResponse {
    const response = super.faultResponse(fault);
    if (fault.status !== 429 || fault.retryAfterSeconds === undefined) return response;
    const reset = Math.ceil(Date.now() / 1000) + fault.retryAfterSeconds;
    return {
      ...response,
      headers: {
        ...(this.options.retryAfter === false ? {} : response.headers),
        'x-ratelimit-limit': '600',
        'x-ratelimit-remaining': '0',
        'x-ratelimit-reset': String(reset),
      },
    };
  }

  /** Creates a key directly (a key made in SendGrid's UI): the rotator credential or an app's first key. */
  seedKey(
    name: string,
    scopes: string[] = SENDGRID_ADMIN_SCOPES,
    { scopesShown = true, listsScopes = true }: { scopesShown?: boolean; listsScopes?: boolean } = {},
  ): { id: string; value: string } {
    const key = this.newKey(name, scopes, false, scopesShown);
    key.listsScopes = listsScopes;
    return { id: key.id, value: key.value };
  }

  /** Keys present now (what an auditor would list in the SendGrid UI). */
  listKeys(): Array<{ id: string; name: string; scopes: string[] }> {
    return [...this.keys.values()].map(({ id, name, scopes }) => ({ id, name, scopes: [...scopes] }));
  }

  /** Ids of the Full Access keys (made without scopes). */
  fullAccessKeys(): string[] {
    return [...this.keys.values()].filter((k) => k.fullAccess).map((k) => k.id);
  }

  accepts(value: string): boolean {
    return [...this.keys.values()].some((k) => k.value === value);
  }

  /**
   * SendGrid refuses the next key validation rekey makes — GET /v3/scopes, and the GetApiKey of the key's own
   * id that follows its 401 — as it refuses a dead key: what tests use to make testSecret fail.
   */
  rejectNextValidation(): void {
    this.injectFault({
      status: 401,
      times: 2,
      match: (req) => {
        if (req.path === '/v3/scopes') return true;
        const own = /^\/v3\/api_keys\/([^/]+)$/.exec(req.path)?.[1];
        const token = bearerToken(req);
        return req.method === 'GET' && own !== undefined && this.keys.get(own)?.value === token;
      },
    });
  }

  /** Revokes a key out of band (a key deleted in the UI), for rollback-refusal tests. */
  deleteKey(id: string): void {
    this.keys.delete(id);
  }

  protected errorBody(_status: number, message: string): unknown {
    return { errors: [{ field: null, message }] };
  }

  private newKey(name: string, scopes: string[], fullAccess: boolean, scopesShown: boolean): SendGridKey {
    const id = randomBytes(16).toString('base64url').slice(0, 22);
    const value = `SG.${id}.${randomBytes(32).toString('base64url').slice(0, 43)}`;
    const key = { id, name, value, scopes: [...scopes], fullAccess, scopesShown, listsScopes: true };
    this.keys.set(id, key);
    this.recordIssued(value);
    return key;
  }

  private fail(status: number, message: string, field: string | null = null): SandboxResponse {
    return { status, body: { errors: [{ field, message }] } };
  }

  protected route(req: SandboxRequest): SandboxResponse {
    const token = bearerToken(req);
    const caller = token ? [...this.keys.values()].find((k) => k.value === token) : undefined;
    if (!caller)
      return this.fail(
        401,
        token ? 'authorization required' : 'authorization required: use "Authorization: Bearer <API key>"',
      );
    const need = (scope: string): SandboxResponse | undefined =>
      caller.scopes.includes(scope) ? undefined : this.fail(403, 'access forbidden');

    const item = /^\/v3\/api_keys\/([^/]+)$/.exec(req.path);
    if (req.path === '/v3/scopes' && req.method === 'GET')
      // ListScope's 401 is documented as "the caller may not view the list of scopes", with this body.
      return caller.listsScopes
        ? { status: 200, body: { scopes: caller.scopes } }
        : this.fail(401, 'authorization required');
    if (req.path === '/v3/mail/send' && req.method === 'POST') return need('mail.send') ?? { status: 202 };
    if (req.path === '/v3/api_keys' && req.method === 'GET') {
      const denied = need('api_keys.read');
      if (denied) return denied;
      const limit = req.query.has('limit') ? Number(req.query.get('limit')) : undefined;
      if (limit !== undefined && (!Number.isInteger(limit) || limit < 1))
        return this.fail(400, 'limit must be a positive integer', 'limit');
      const result = [...this.keys.values()].slice(0, limit).map((k) => ({ api_key_id: k.id, name: k.name }));
      return { status: 200, body: { result } };
    }
    if (req.path === '/v3/api_keys' && req.method === 'POST') {
      const denied = need('api_keys.create');
      if (denied) return denied;
      if (!String(req.headers['content-type'] ?? '').startsWith('application/json'))
        return this.fail(415, 'content-type must be application/json');
      const body = jsonBody(req) as { name?: unknown; scopes?: unknown } | undefined;
      if (!body || typeof body.name !== 'string' || body.name.length === 0)
        return this.fail(400, 'missing required argument', 'name');
      if (
        body.scopes !== undefined &&
        (!Array.isArray(body.scopes) || body.scopes.some((s) => typeof s !== 'string'))
      ) {
        return this.fail(400, 'scopes must be an array of strings', 'scopes');
      }
      const requested = body.scopes as string[] | undefined;
      if (requested?.some((s) => !caller.scopes.includes(s)))
        return this.fail(403, 'cannot grant scopes the caller does not hold', 'scopes');
      if (this.keys.size >= MAX_KEYS) return this.fail(403, `you may have at most ${MAX_KEYS} API keys`);
      const key = this.newKey(
        body.name,
        requested ?? SENDGRID_FULL_ACCESS_SCOPES,
        requested === undefined,
        true,
      );
      return {
        status: 201,
        body: { api_key: key.value, api_key_id: key.id, name: key.name, scopes: key.scopes },
      };
    }
    if (item && req.method === 'GET') {
      const denied = need('api_keys.read');
      if (denied) return denied;
      const key = this.keys.get(decodeURIComponent(item[1]!));
      if (!key) return this.fail(404, 'unable to find API key');
      return {
        status: 200,
        body: {
          result: [
            { api_key_id: key.id, name: key.name, ...(key.scopesShown ? { scopes: key.scopes } : {}) },
          ],
        },
      };
    }
    if (item && req.method === 'DELETE') {
      const denied = need('api_keys.delete');
      if (denied) return denied;
      const id = decodeURIComponent(item[1]!);
      if (!this.keys.delete(id)) return this.fail(404, 'unable to find API key');
      return { status: 204 };
    }
    return this.fail(404, 'not found');
  }
}
