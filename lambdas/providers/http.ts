import type * as z from 'zod/mini';
import {
  InvalidInputError,
  ProviderBadResponseError,
  ProviderOutcomeUnknownError,
  ProviderRateLimitedError,
  ProviderUnavailableError,
} from '../errors.js';
import { DEFAULT_RETRY_POLICY, type RetryHooks, type RetryPolicy, withRetry } from '../retry.js';
import { describeIssue } from '../secret-format.js';

export interface ProviderHttpOptions {
  /** Provider name used in error messages. */
  provider: string;
  baseUrl: string;
  /** Per-attempt timeout. */
  timeoutMs?: number;
  retry?: RetryPolicy;
  retryHooks?: RetryHooks;
  fetch?: typeof fetch;
  /** What the provider's X-RateLimit-Reset counts. Default 'epoch-seconds' (SendGrid, GitHub). */
  rateLimitReset?: RateLimitReset;
}

/**
 * The unit of an X-RateLimit-Reset header: a Unix time in seconds (SendGrid) or the seconds left until
 * the limit resets (Datadog).
 */
export type RateLimitReset = 'epoch-seconds' | 'seconds-until-reset';

export interface ProviderRequest {
  /** What the call is, for messages: "create key", "list keys". */
  call: string;
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  path: string;
  headers?: Record<string, string>;
  /** A JSON body (sent as application/json) or a form (application/x-www-form-urlencoded). */
  json?: unknown;
  form?: Record<string, string | string[]>;
  /**
   * False for a call a repeat would duplicate (creating a key). It is re-sent only after failures that
   * prove it had no effect (429, a refused connection); a 5xx, timeout or cut connection becomes
   * ProviderOutcomeUnknownError at once. Default true.
   */
  idempotent?: boolean;
}

export interface ProviderResponse {
  status: number;
  headers: Headers;
  body: unknown;
}

/**
 * A request whose URL would leave the configured base URL's origin (scheme, host and port), refused before
 * any network call: a path from a provider description or a provider's answer must never carry the
 * credential elsewhere. The message names the reason, never the path, which may hold userinfo.
 */
export class ForeignOriginError extends InvalidInputError {
  constructor(provider: string, call: string, origin: string, reason: string) {
    super(
      'INVALID_SECRET',
      `${provider} ${call} refused before sending: ${reason}, so the request would not stay on ${origin}, ` +
        'the configured base URL\'s origin. Use a path on that origin such as "/v1/keys" (no "//host", other ' +
        'scheme or host, "@" userinfo, backslash, whitespace or control character); for a described service, ' +
        "fix this call's path in options.",
    );
  }
}

/** A scheme at the start of a path ("http:", "javascript:"): then it must be an absolute URL. */
const SCHEME = /^[A-Za-z][A-Za-z0-9+.-]*:/;
/** Characters the URL parser drops or reads as "/", so the string would not say where it goes. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are exactly what it refuses
const AMBIGUOUS = /[\\\s\x00-\x1f\x7f]/;

/**
 * The URL `path` resolves to against `base`, or why it is refused. Relative paths and paths starting with
 * one "/" (which replace the base URL's path) resolve on the base's origin; an absolute URL must name that
 * origin with "//" and no userinfo; anything else whose meaning depends on the parser is refused outright.
 */
export function resolveOnOrigin(path: string, base: URL): URL | { refused: string } {
  if (AMBIGUOUS.test(path))
    return { refused: 'the path contains a backslash, whitespace or control character' };
  if (path.startsWith('//')) return { refused: 'the path starts with "//", which names another host' };
  const scheme = SCHEME.exec(path)?.[0];
  if (scheme !== undefined && !path.startsWith(`${scheme}//`))
    return { refused: `the path starts with "${scheme}" but is not an absolute URL` };
  let url: URL;
  try {
    url = new URL(path, base);
  } catch {
    return { refused: 'the path is not a valid URL' };
  }
  if (url.username !== '' || url.password !== '') return { refused: 'the URL carries "@" userinfo' };
  if (url.origin !== base.origin) return { refused: `the URL is on ${url.origin}` };
  return url;
}

/**
 * HTTP transport shared by the provider adapters: a timeout on every attempt, retries with backoff and
 * jitter on 429/5xx/network errors (for a non-idempotent call only where it certainly had no effect),
 * Retry-After honoured, and every request kept on the base URL's origin (redirects are not followed). Other
 * statuses come back to the adapter, which knows what a 401 or 404 means for that call.
 */
export class ProviderHttp {
  private readonly timeoutMs: number;
  private readonly fetchImpl: typeof fetch;
  private readonly base: URL;

  constructor(private readonly options: ProviderHttpOptions) {
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.fetchImpl = options.fetch ?? fetch;
    this.base = new URL(options.baseUrl);
  }

  get provider(): string {
    return this.options.provider;
  }

  async request(req: ProviderRequest): Promise<ProviderResponse> {
    const url = resolveOnOrigin(req.path, this.base);
    if (!(url instanceof URL))
      throw new ForeignOriginError(this.provider, req.call, this.base.origin, url.refused);
    return withRetryUnlessUnknown(
      () => this.once(req, url),
      this.options.retry ?? DEFAULT_RETRY_POLICY,
      this.options.retryHooks,
    );
  }

  /** Parses a body against the provider's documented schema; a mismatch names the call, never the body. */
  parse<S extends z.ZodMiniType>(schema: S, res: ProviderResponse, call: string): z.infer<S> {
    const parsed = schema.safeParse(res.body);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const where = issue
        ? `${issue.path.join('.') || '(body)'}: ${describeIssue(issue, res.body)}`
        : 'invalid';
      throw new ProviderBadResponseError(this.provider, call, where);
    }
    return parsed.data;
  }

  private async once(req: ProviderRequest, url: URL): Promise<ProviderResponse> {
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
    const unavailable = (detail: string) => unanswered(this.provider, req.call, detail, req.idempotent);
    let res: Response;
    try {
      res = await this.fetchImpl(url, {
        method: req.method,
        headers,
        // A redirect would re-send the headers (the credential) to wherever Location says.
        redirect: 'manual',
        ...(body === undefined ? {} : { body }),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (error) {
      if (connectionRefused(error)) {
        throw new ProviderUnavailableError(this.provider, req.call, 'connection refused');
      }
      throw unavailable(
        error instanceof Error && error.name === 'TimeoutError'
          ? `no answer within ${this.timeoutMs} ms`
          : 'network error',
      );
    }
    const text = await res.text().catch(() => '');
    if (res.status === 429) {
      throw new ProviderRateLimitedError(
        this.provider,
        req.call,
        retryAfterMs(res.headers, Date.now(), this.options.rateLimitReset),
      );
    }
    if (res.status >= 500) throw unavailable(`HTTP ${res.status}`);
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

/**
 * The error for a failure after the request may have reached the provider (5xx, timeout, cut connection):
 * retryable, or for a non-idempotent call an unknown outcome that must not be re-sent.
 */
export function unanswered(
  provider: string,
  call: string,
  detail: string,
  idempotent = true,
): ProviderUnavailableError | ProviderOutcomeUnknownError {
  return idempotent
    ? new ProviderUnavailableError(provider, call, detail)
    : new ProviderOutcomeUnknownError(provider, call, detail);
}

/**
 * withRetry, except that an unknown outcome is thrown at once: the call may have taken effect, so only the
 * caller, after looking for its result, may decide to make it again.
 */
export async function withRetryUnlessUnknown<T>(
  call: () => Promise<T>,
  policy: RetryPolicy,
  hooks: RetryHooks | undefined,
): Promise<T> {
  const result = await withRetry(
    async (): Promise<{ value: T } | { unknown: ProviderOutcomeUnknownError }> => {
      try {
        return { value: await call() };
      } catch (error) {
        if (error instanceof ProviderOutcomeUnknownError) return { unknown: error };
        throw error;
      }
    },
    policy,
    hooks,
  );
  if ('unknown' in result) throw result.unknown;
  return result.value;
}

/**
 * Whether a failed fetch never connected (ECONNREFUSED, on every address tried), so the request was not
 * sent. Undici puts the socket error in `cause`, an AggregateError when several addresses were tried.
 */
function connectionRefused(error: unknown): boolean {
  const cause = error instanceof Error ? error.cause : undefined;
  if (cause instanceof AggregateError && cause.errors.length > 0) {
    return cause.errors.every((e) => (e as { code?: unknown }).code === 'ECONNREFUSED');
  }
  return (cause as { code?: unknown } | undefined)?.code === 'ECONNREFUSED';
}

/** Retry-After in seconds or as an HTTP date; else X-RateLimit-Reset in the provider's unit. */
export function retryAfterMs(
  headers: Headers,
  now: number = Date.now(),
  rateLimitReset: RateLimitReset = 'epoch-seconds',
): number | undefined {
  const retryAfter = headers.get('retry-after');
  if (retryAfter) {
    const seconds = Number(retryAfter);
    if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
    const date = Date.parse(retryAfter);
    if (!Number.isNaN(date)) return Math.max(0, date - now);
  }
  const reset = Number(headers.get('x-ratelimit-reset'));
  if (!headers.has('x-ratelimit-reset') || !Number.isFinite(reset)) return undefined;
  return Math.max(0, rateLimitReset === 'seconds-until-reset' ? reset * 1000 : reset * 1000 - now);
}
