import type { RehearsalKey, RehearsalSandbox } from './providers.js';
import type { WorldKey } from './world.js';

/** How one simulated application instance obtains keys: its own rekey client, with its own cache. */
export interface InstanceKeySource {
  /**
   * Runs `call` with the current key. `call` throws an {@link AuthRejected} when the provider answers
   * 401/403, so the source can refresh and retry as the rekey client does.
   */
  withKey<T>(call: (key: RehearsalKey) => Promise<T>): Promise<T>;
  close?(): void;
}

/** Thrown by an application call the provider refused (401/403). */
export class AuthRejected extends Error {
  constructor(readonly status: number) {
    super(`provider answered ${status}`);
    this.name = 'AuthRejected';
  }
}

export interface CallRecord {
  /** Real milliseconds since the fleet started. */
  at: number;
  /** The instance that made the call. */
  instance: number;
  secret: string;
  /** Provider key id the successful (or last) attempt used; undefined when no key could be read. */
  keyId: string | undefined;
  ok: boolean;
  error?: string;
}

export interface FleetOptions {
  instances: number;
  /** Calls per second across the whole fleet. */
  rps: number;
  /** A key source per instance; each instance serves one key (instances are spread over keys). */
  sourceFor(instance: number, key: WorldKey): InstanceKeySource;
  /**
   * The application call made with a key, answering the HTTP status; default: the key's provider sandbox's
   * `appCall` (the staging rehearsal calls the real provider through its adapter instead).
   */
  appCall?: (key: WorldKey, material: RehearsalKey) => Promise<number>;
}

/**
 * Application instances making authenticated provider calls at a steady rate, each through its own key
 * source. Every call is recorded; a call fails when the provider refused it after the source's retries,
 * or when no key could be had at all.
 */
export class Fleet {
  readonly calls: CallRecord[] = [];
  /** Real ms between the starts of two calls of one instance. */
  readonly intervalMs: number;
  /** Each instance's latest finished call. */
  private readonly latest = new Map<number, CallRecord>();
  private readonly started = performance.now();
  private running = true;
  private readonly loops: Promise<void>[] = [];
  private readonly sources: InstanceKeySource[] = [];

  constructor(
    keys: WorldKey[],
    sandboxes: ReadonlyMap<string, Pick<RehearsalSandbox, 'appCall'>>,
    options: FleetOptions,
  ) {
    const intervalMs = (1000 * options.instances) / Math.max(1, options.rps);
    this.intervalMs = intervalMs;
    for (let i = 0; i < options.instances; i++) {
      const key = keys[i % keys.length]!;
      const source = options.sourceFor(i, key);
      this.sources.push(source);
      const appCall: AppCall = options.appCall
        ? (material) => options.appCall!(key, material)
        : (material) => sandboxes.get(key.provider)!.appCall(material);
      // Stagger starts so the fleet does not call in lock-step.
      this.loops.push(this.loop(i, key, appCall, source, intervalMs, (intervalMs * i) / options.instances));
    }
  }

  private async loop(
    instance: number,
    key: WorldKey,
    appCall: AppCall,
    source: InstanceKeySource,
    intervalMs: number,
    offsetMs: number,
  ): Promise<void> {
    await sleep(offsetMs);
    while (this.running) {
      const tick = performance.now();
      await this.callOnce(instance, key, appCall, source);
      await sleep(Math.max(0, intervalMs - (performance.now() - tick)));
    }
  }

  private async callOnce(
    instance: number,
    key: WorldKey,
    appCall: AppCall,
    source: InstanceKeySource,
  ): Promise<void> {
    let used: string | undefined;
    const at = performance.now() - this.started;
    let record: CallRecord;
    try {
      await source.withKey(async (k) => {
        used = k.id;
        const status = await appCall(k);
        if (status === 401 || status === 403) throw new AuthRejected(status);
        if (status >= 400) throw new Error(`provider answered ${status}`);
      });
      record = { at, instance, secret: key.name, keyId: used, ok: true };
    } catch (error) {
      record = {
        at,
        instance,
        secret: key.name,
        keyId: used,
        ok: false,
        error: error instanceof Error ? `${error.name}: ${error.message}` : String(error),
      };
    }
    this.calls.push(record);
    this.latest.set(instance, record);
  }

  /**
   * Instances whose latest call did not succeed with their secret's `currentKeyId`. A client re-reads the
   * vault only when called, so an instance that has not called since a key changed still holds the old key,
   * however short its TTL.
   */
  behind(currentKeyId: (secret: string) => string | undefined): number[] {
    return this.sources
      .map((_, i) => i)
      .filter((i) => {
        const last = this.latest.get(i);
        return !last?.ok || last.keyId !== currentKeyId(last.secret);
      });
  }

  /** Real ms since the fleet started (the timeline's x axis). */
  elapsed(): number {
    return performance.now() - this.started;
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
    for (const source of this.sources) source.close?.();
  }
}

type AppCall = (material: RehearsalKey) => Promise<number>;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
