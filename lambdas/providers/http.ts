import type { z } from 'zod';
import { ProviderBadResponseError, ProviderRateLimitedError, ProviderUnavailableError } from '../errors.js';
import { DEFAULT_RETRY_POLICY, type RetryHooks, type RetryPolicy, withRetry } from '../retry.js';

export interface ProviderHttpOptions {
  /** Provider name used in error messages. */
  provider: string;
  baseUrl: string;
  /** Per-attempt timeout. */
  timeoutMs?: number;
  retry?: RetryPolicy;
  retryHooks?: RetryHooks;
  fetch?: typeof fetch;
}

export interface ProviderRequest {
  /** What the call is, for messages: "create key", "list keys". */
  call: string;
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  path: string;
  headers?: Record<string, string>;
  /** A JSON body (sent as application/json) or a form (application/x-www-form-urlencoded). */
  json?: unknown;
  form?: Record<string, string | string[]>;
}

export interface ProviderResponse {
  status: number;
  headers: Headers;
  body: unknown;
}

/**
 * HTTP transport shared by the provider adapters: a timeout on every attempt, retries with backoff and
 * jitter on 429/5xx/network errors, Retry-After honoured. Other statuses come back to the adapter, which
 * knows what a 401 or 404 means for that call.
 */
export class ProviderHttp {
  private readonly timeoutMs: number;
  private readonly fetchImpl: typeof fetch;

  constructor(private readonly options: ProviderHttpOptions) {
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.fetchImpl = options.fetch ?? fetch;
  }

  get provider(): string {
    return this.options.provider;
  }

  request(req: ProviderRequest): Promise<ProviderResponse> {
    return withRetry(
      () => this.once(req),
      this.options.retry ?? DEFAULT_RETRY_POLICY,
      this.options.retryHooks,
    );
  }

  /** Parses a body against the provider's documented schema; a mismatch names the call, never the body. */
  parse<S extends z.ZodType>(schema: S, res: ProviderResponse, call: string): z.infer<S> {
    const parsed = schema.safeParse(res.body);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const where = issue ? `${issue.path.join('.') || '(body)'}: ${issue.message}` : 'invalid';
      throw new ProviderBadResponseError(this.provider, call, where);
    }
    return parsed.data;
  }

  private async once(req: ProviderRequest): Promise<ProviderResponse> {
    const headers: Record<string, string> = { accept: 'application/json', ...req.headers };
    let body: string | undefined;
    if (req.json !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(req.json);
    } else if (req.form !== undefined) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      const form = new URLSearchParams();
      for (const [name, value] of Object.entries(req.form)) {
        for (const v of Array.isArray(value) ? value : [value]) form.append(name, v);
      }
      body = form.toString();
    }
    let res: Response;
    try {
      res = await this.fetchImpl(new URL(req.path, this.options.baseUrl), {
        method: req.method,
        headers,
        ...(body === undefined ? {} : { body }),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (error) {
      const detail =
        error instanceof Error && error.name === 'TimeoutError'
          ? `no answer within ${this.timeoutMs} ms`
          : 'network error';
      throw new ProviderUnavailableError(this.provider, req.call, detail);
    }
    const text = await res.text().catch(() => '');
    if (res.status === 429) {
      throw new ProviderRateLimitedError(this.provider, req.call, retryAfterMs(res.headers));
    }
    if (res.status >= 500) {
      throw new ProviderUnavailableError(this.provider, req.call, `HTTP ${res.status}`);
    }
    let parsed: unknown;
    if (text.length > 0) {
      try {
        parsed = JSON.parse(text);
      } catch {
        throw new ProviderBadResponseError(
          this.provider,
          req.call,
          `HTTP ${res.status} with a body that is not JSON`,
        );
      }
    }
    return { status: res.status, headers: res.headers, body: parsed };
  }
}

/** Retry-After in seconds or as an HTTP date; X-RateLimit-Reset (epoch seconds) as SendGrid sends it. */
export function retryAfterMs(headers: Headers, now: number = Date.now()): number | undefined {
  const retryAfter = headers.get('retry-after');
  if (retryAfter) {
    const seconds = Number(retryAfter);
    if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
    const date = Date.parse(retryAfter);
    if (!Number.isNaN(date)) return Math.max(0, date - now);
  }
  const reset = Number(headers.get('x-ratelimit-reset'));
  if (headers.has('x-ratelimit-reset') && Number.isFinite(reset)) return Math.max(0, reset * 1000 - now);
  return undefined;
}
