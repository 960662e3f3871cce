import { randomBytes } from 'node:crypto';
import { ProviderSandbox, type RateLimit, type SandboxRequest, type SandboxResponse } from './sandbox.js';

/**
 * Stripe's global API rate limit per account ("Rate limits", docs.stripe.com): 100 requests per second in
 * live mode, 25 in a sandbox (test mode); past it, 429.
 */
export const STRIPE_RATE_LIMITS: Readonly<Record<'live' | 'test', RateLimit>> = {
  live: { limit: 100, windowMs: 1000 },
  test: { limit: 25, windowMs: 1000 },
};

/**
 * Stripe as far as rekey can touch it: secret keys authenticate API calls (Bearer, or HTTP Basic with the
 * key as the username), `GET /v1/balance` is the cheapest authenticated read, an unknown or revoked key gets
 * 401 with Stripe's `{error:{type,message}}` shape. There is no API to create or delete keys: the
 * "Dashboard" methods stand for what a person does at dashboard.stripe.com/apikeys.
 */
export class StripeSandbox extends ProviderSandbox {
  private readonly keys = new Set<string>();
  /** Per mode (a key's `sk_live_` or `sk_test_`); undefined turns them off. */
  rateLimits: Readonly<Record<'live' | 'test', RateLimit>> | undefined = STRIPE_RATE_LIMITS;

  protected override throttle(req: SandboxRequest): SandboxResponse | undefined {
    if (!this.rateLimits) return undefined;
    const mode = /\bsk_live_/.test(keyOf(req) ?? '') ? 'live' : 'test';
    if (!this.rateWindows.take(mode, this.rateLimits[mode]).over) return undefined;
    return {
      status: 429,
      body: this.errorBody(
        429,
        'Request rate limit exceeded. Learn more about rate limits here https://stripe.com/docs/rate-limits.',
      ),
    };
  }

  /** A person creates (or rolls to) a new secret key in the Dashboard. */
  createKeyInDashboard(mode: 'test' | 'live' = 'test'): string {
    const value = `sk_${mode}_${randomBytes(36).toString('base64url').replace(/[-_]/g, 'x').slice(0, 48)}`;
    this.keys.add(value);
    this.recordIssued(value);
    return value;
  }

  /** A person deletes (or expires) a key in the Dashboard. */
  deleteKeyInDashboard(value: string): void {
    this.keys.delete(value);
  }

  accepts(value: string): boolean {
    return this.keys.has(value);
  }

  keyCount(): number {
    return this.keys.size;
  }

  protected errorBody(status: number, message: string): unknown {
    return {
      error: {
        type: status === 429 ? 'rate_limit_error' : status >= 500 ? 'api_error' : 'invalid_request_error',
        message,
      },
    };
  }

  protected route(req: SandboxRequest): SandboxResponse {
    const key = keyOf(req);
    if (!key || !this.keys.has(key)) {
      const shown = key
        ? `${key.slice(0, 8)}${'*'.repeat(Math.max(0, key.length - 12))}${key.slice(-4)}`
        : '';
      return {
        status: 401,
        body: this.errorBody(
          401,
          key
            ? `Invalid API Key provided: ${shown}`
            : "You did not provide an API key. You need to provide your API key in the Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY').",
        ),
      };
    }
    if (req.path === '/v1/balance' && req.method === 'GET') {
      return {
        status: 200,
        body: {
          object: 'balance',
          available: [{ amount: 0, currency: 'usd', source_types: { card: 0 } }],
          livemode: key.startsWith('sk_live_'),
          pending: [],
        },
      };
    }
    return {
      status: 404,
      body: this.errorBody(404, `Unrecognized request URL (${req.method}: ${req.path}).`),
    };
  }
}

/** The secret key a request authenticates with: Bearer, or HTTP Basic with the key as the username. */
function keyOf(req: SandboxRequest): string | undefined {
  const auth = String(req.headers.authorization ?? '');
  const bearer = /^Bearer (\S+)$/.exec(auth)?.[1];
  const basic = /^Basic (\S+)$/.exec(auth)?.[1];
  return bearer ?? (basic ? Buffer.from(basic, 'base64').toString('utf8').split(':')[0] : undefined);
}
