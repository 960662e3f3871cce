import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface SandboxRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: IncomingMessage['headers'];
  /** Raw body text. */
  body: string;
}

export interface SandboxResponse {
  status: number;
  headers?: Record<string, string>;
  /** JSON-serialized when an object; sent as-is when a string; omitted when undefined. */
  body?: unknown;
}

interface FaultScope {
  /** How many matching requests the fault applies to. */
  times: number;
  /** Only requests for which this holds; default every request. */
  match?: (req: SandboxRequest) => boolean;
}

/**
 * The next `times` matching requests get `status` (and Retry-After, if set). By default the request is
 * refused before it is processed; with `after` it is processed and committed first, and only its answer is
 * replaced — a provider that made the key but whose response was lost.
 */
export interface StatusFault extends FaultScope {
  status: number;
  retryAfterSeconds?: number;
  after?: boolean;
  reset?: never;
}

/** The next `times` matching requests are processed and committed, then the connection is cut unanswered. */
export interface ResetFault extends FaultScope {
  reset: true;
  status?: never;
  after?: never;
}

export type Fault = StatusFault | ResetFault;

/** A logged request's status when the connection was cut without an answer. */
export const NO_ANSWER = 0;

/** A documented request-rate limit: at most `limit` requests in each window of `windowMs` of real time. */
export interface RateLimit {
  limit: number;
  windowMs: number;
}

/** Where a caller stands in its current window, as the rate-limit headers report it. */
export interface WindowState {
  /** This request is over the limit (refused, not counted). */
  over: boolean;
  limit: number;
  remaining: number;
  /** Milliseconds until the window ends and the count starts again. */
  resetMs: number;
}

/**
 * Fixed windows of real time per caller: a caller's first request opens its window, which counts `limit`
 * requests and refuses the rest until it ends. With `blockOnExceed`, the first refused request starts a
 * full window in which everything is refused (Cloudflare blocks all calls for the next five minutes).
 */
export class RateWindows {
  private readonly windows = new Map<string, { openedAt: number; count: number; blocked: boolean }>();
  constructor(private readonly now: () => number) {}

  take(caller: string, limit: RateLimit, { blockOnExceed = false } = {}): WindowState {
    const now = this.now();
    let window = this.windows.get(caller);
    if (!window || now - window.openedAt >= limit.windowMs) {
      window = { openedAt: now, count: 0, blocked: false };
      this.windows.set(caller, window);
    }
    if (window.count >= limit.limit) {
      if (blockOnExceed && !window.blocked) {
        window.openedAt = now;
        window.blocked = true;
      }
      return {
        over: true,
        limit: limit.limit,
        remaining: 0,
        resetMs: window.openedAt + limit.windowMs - now,
      };
    }
    window.count += 1;
    return {
      over: false,
      limit: limit.limit,
      remaining: limit.limit - window.count,
      resetMs: window.openedAt + limit.windowMs - now,
    };
  }
}

/**
 * The base of every provider sandbox: a stateful HTTP server on 127.0.0.1 with fault injection
 * (429 with Retry-After, 5xx, latency, a full outage, an answer lost after the request took effect) and a
 * request log. Subclasses implement `route` following their provider's documented API and error shapes, and
 * `throttle` where the provider documents request-rate limits: those are on by default, per window of real
 * time (`rateClock`), and each sandbox has a setting to change or drop them.
 */
export abstract class ProviderSandbox {
  private server: Server | undefined;
  private readonly faults: Fault[] = [];
  /** Added before every answer. */
  latencyMs = 0;
  private down = false;
  /** Every request with the status its client got (NO_ANSWER when the connection was cut). */
  readonly requests: Array<{ method: string; path: string; status: number }> = [];
  /**
   * Whether `requests` is kept. A long run that never reads it (the rehearsal: hundreds of thousands of
   * calls) turns it off, so the sandbox's memory does not grow with every call.
   */
  keepRequests = true;
  private readonly issued = new Set<string>();
  /** The real-time clock of the rate limits, in ms (tests may stop it); default performance.now. */
  rateClock: () => number = () => performance.now();
  protected readonly rateWindows = new RateWindows(() => this.rateClock());
  /** Requests being answered right now (a concurrency limit counts them). */
  protected inFlight = 0;
  /** Requests refused by the provider's rate limits (not injected faults). */
  rateLimited = 0;

  protected abstract route(req: SandboxRequest): SandboxResponse | Promise<SandboxResponse>;
  /**
   * The provider's answer to a request over its documented rate limits (429 in its shape, with its headers),
   * or undefined; asked before anything else, and a refused request is not processed. Default: no limit.
   */
  protected throttle(_req: SandboxRequest): SandboxResponse | undefined {
    return undefined;
  }
  /** The provider's error body for a status and message. */
  protected abstract errorBody(status: number, message: string): unknown;

  /** The answer an injected status fault (or the outage) gives, in the provider's error shape. */
  protected faultResponse(fault: StatusFault): SandboxResponse {
    return {
      status: fault.status,
      ...(fault.retryAfterSeconds === undefined
        ? {}
        : { headers: { 'retry-after': String(fault.retryAfterSeconds) } }),
      body: this.errorBody(fault.status, fault.status === 429 ? 'too many requests' : 'service unavailable'),
    };
  }

  get url(): string {
    const address = this.server?.address() as AddressInfo | null | undefined;
    if (!address) throw new Error('sandbox not started');
    return `http://127.0.0.1:${address.port}`;
  }

  async start(port = 0): Promise<string> {
    const server = createServer((req, res) => void this.serve(req, res));
    server.keepAliveTimeout = 1000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', resolve);
    });
    this.server = server;
    return this.url;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Every secret value this sandbox ever issued, for scans of logs and reports. */
  issuedSecrets(): string[] {
    return [...this.issued];
  }

  protected recordIssued(value: string): void {
    this.issued.add(value);
  }

  injectFault(fault: Fault): void {
    this.faults.push({ ...fault });
  }

  clearFaults(): void {
    this.faults.length = 0;
  }

  /** While down, every request is answered 503 — a provider outage. */
  setOutage(down: boolean): void {
    this.down = down;
  }

  private takeFault(req: SandboxRequest): Fault | undefined {
    const fault = this.faults.find((f) => f.times > 0 && (!f.match || f.match(req)));
    if (fault) fault.times -= 1;
    return fault;
  }

  /** Runs the route; a route that throws answers 500 like a provider's unhandled error. */
  private async process(request: SandboxRequest): Promise<SandboxResponse> {
    try {
      return await this.route(request);
    } catch (error) {
      return {
        status: 500,
        body: this.errorBody(500, error instanceof Error ? error.message : 'internal error'),
      };
    }
  }

  private async serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const request: SandboxRequest = {
      method: req.method ?? 'GET',
      path: url.pathname,
      query: url.searchParams,
      headers: req.headers,
      body: Buffer.concat(chunks).toString('utf8'),
    };
    this.inFlight += 1;
    try {
      await this.answer(request, res);
    } finally {
      this.inFlight -= 1;
    }
  }

  private async answer(request: SandboxRequest, res: ServerResponse): Promise<void> {
    const throttled = this.down ? undefined : this.throttle(request);
    if (throttled) this.rateLimited += 1;
    if (this.latencyMs > 0) await new Promise((resolve) => setTimeout(resolve, this.latencyMs));
    const fault: Fault | undefined = throttled
      ? undefined
      : this.down
        ? { status: 503, times: 1 }
        : this.takeFault(request);
    const refused = fault !== undefined && !fault.reset && !fault.after ? fault : undefined;
    let response = throttled ?? (refused ? this.faultResponse(refused) : await this.process(request));
    if (fault?.reset) {
      if (this.keepRequests)
        this.requests.push({ method: request.method, path: request.path, status: NO_ANSWER });
      res.destroy();
      return;
    }
    if (fault?.after) response = this.faultResponse(fault);
    if (this.keepRequests)
      this.requests.push({ method: request.method, path: request.path, status: response.status });
    const headers: Record<string, string> = { ...response.headers };
    let body: string | undefined;
    if (typeof response.body === 'string') body = response.body;
    else if (response.body !== undefined) {
      body = JSON.stringify(response.body);
      headers['content-type'] ??= 'application/json';
    }
    res.writeHead(response.status, headers);
    res.end(body);
  }
}

/** Reads a JSON body, or undefined when the body is not JSON. */
export function jsonBody(req: SandboxRequest): unknown {
  try {
    return JSON.parse(req.body) as unknown;
  } catch {
    return undefined;
  }
}

export function bearerToken(req: SandboxRequest): string | undefined {
  const match = /^Bearer (\S+)$/.exec(String(req.headers.authorization ?? ''));
  return match?.[1];
}
