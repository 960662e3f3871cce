import { Logger } from '../../lambdas/logger.js';
import type { ProviderClient, ProviderDefinition } from '../../lambdas/providers/types.js';
import type { ProviderSandbox } from '../../local/sandboxes/sandbox.js';
import type { CapturedLogs } from '../support/env.js';
import type { RecordedEvent, RecordedRequest } from './check.js';

function headersOf(init: RequestInit | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  new Headers(init?.headers).forEach((value, name) => {
    out[name.toLowerCase()] = value;
  });
  return out;
}

function parsed(text: string): unknown {
  if (text.length === 0) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

/**
 * Connects adapters to sandboxes through the adapters' own `http.fetch` hook, recording every request as the
 * adapter addressed it and every answer the sandbox gave, and every retry wait the adapter asked for (the
 * sleep hook records instead of sleeping), in order.
 */
export class Recorder {
  readonly events: RecordedEvent[] = [];

  constructor(private readonly logs: CapturedLogs) {}

  /** A fetch that carries each request to `sandbox` (whatever origin it was addressed to) and records it. */
  fetchTo(sandbox: ProviderSandbox): typeof fetch {
    return async (input, init) => {
      const url = new URL(input instanceof Request ? input.url : String(input));
      const request: RecordedRequest = {
        method: init?.method ?? 'GET',
        url,
        headers: headersOf(init),
        ...(typeof init?.body === 'string' ? { body: init.body } : {}),
      };
      const res = await fetch(new URL(`${url.pathname}${url.search}`, sandbox.url), init);
      const text = await res.text();
      const headers: Record<string, string> = {};
      res.headers.forEach((value, name) => {
        headers[name] = value;
      });
      this.events.push({
        kind: 'exchange',
        request,
        response: { status: res.status, headers, body: parsed(text), at: Date.now() },
      });
      const empty = res.status === 204 || res.status === 304 || text.length === 0;
      return new Response(empty ? null : text, { status: res.status, headers: res.headers });
    };
  }

  /** The adapter bound to a key document, its calls answered by `sandbox`; `attempts` per call (default 2). */
  connect<C, O>(
    definition: ProviderDefinition<C, O>,
    sandbox: ProviderSandbox,
    document: { credential: unknown; options: unknown },
    { attempts = 2, publicUrl = false }: { attempts?: number; publicUrl?: boolean } = {},
  ): ProviderClient {
    return definition.connect({
      credential: definition.credentialSchema.parse(document.credential),
      options: definition.optionsSchema.parse(document.options),
      ...(publicUrl ? {} : { endpoint: sandbox.url }),
      logger: new Logger(this.logs.sink, {}, 'debug'),
      http: {
        timeoutMs: 2000,
        retry: { attempts, baseDelayMs: 1, maxDelayMs: 60_000 },
        retryHooks: {
          sleep: async (ms) => void this.events.push({ kind: 'wait', ms }),
          random: () => 0,
        },
        fetch: this.fetchTo(sandbox),
      },
    });
  }
}
