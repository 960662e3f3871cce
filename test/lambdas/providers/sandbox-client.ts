import { Logger } from '../../../lambdas/logger.js';
import type { ProviderClient, ProviderDefinition } from '../../../lambdas/providers/types.js';
import type { ProviderSandbox } from '../../../local/sandboxes/sandbox.js';
import type { CapturedLogs } from '../../support/env.js';

export interface SandboxClient {
  client: ProviderClient;
  /** Every retry wait the client asked for, in ms (the sleep hook records instead of sleeping). */
  waits: number[];
  /** The origin of every request the adapter addressed, before it was sent to the sandbox. */
  origins: string[];
}

export interface SandboxClientOptions {
  /** Attempts per call (default 1: no retries). */
  attempts?: number;
  /**
   * Let the adapter pick its public base URL (the site or region an option names), and carry each request
   * to the sandbox instead, recording the origin it was meant for.
   */
  publicUrl?: boolean;
}

/** An adapter bound to a credential and options, its calls answered by `sandbox`; no real waiting. */
export function connectToSandbox<Credential, Options>(
  definition: ProviderDefinition<Credential, Options>,
  sandbox: ProviderSandbox,
  document: { credential: unknown; options: unknown },
  logs: CapturedLogs,
  { attempts = 1, publicUrl = false }: SandboxClientOptions = {},
): SandboxClient {
  const waits: number[] = [];
  const origins: string[] = [];
  const toSandbox: typeof fetch = (input, init) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    origins.push(url.origin);
    return fetch(new URL(`${url.pathname}${url.search}`, sandbox.url), init);
  };
  const client = definition.connect({
    credential: definition.credentialSchema.parse(document.credential),
    options: definition.optionsSchema.parse(document.options),
    ...(publicUrl ? {} : { endpoint: sandbox.url }),
    logger: new Logger(logs.sink, {}, 'debug'),
    http: {
      timeoutMs: 2000,
      retry: { attempts, baseDelayMs: 1, maxDelayMs: 20_000 },
      retryHooks: { sleep: async (ms) => void waits.push(ms), random: () => 0 },
      fetch: toSandbox,
    },
  });
  return { client, waits, origins };
}
