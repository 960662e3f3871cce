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

/** One finished application call. */
export interface CallRecord {
  /** Real milliseconds since the fleet started, when the call started. */
  at: number;
  /** The instance that made the call. */
  instance: number;
  secret: string;
  /** Provider key id the successful (or last) attempt used; undefined when no key could be read. */
  keyId: string | undefined;
  ok: boolean;
  error?: string;
}

/** What the calls of a window (a scenario) add up to. */
export interface CallTally {
  calls: number;
  failed: number;
  /** The first few distinct failures ("<secret>: <error>"), for the reader. */
  failures: string[];
  /** Provider key ids the calls used. */
  keyIds: Set<string>;
}

/** A real second of the timeline: calls by "<provider>#<n>" (made with the n-th key of a secret of it). */
export interface CallBucket {
  second: number;
  byKey: Record<string, number>;
  failed: number;
  failedByKey: Record<string, number>;
}

const FAILURES_KEPT = 3;

export interface FleetOptions {
  instances: number;
  /** Calls per second across the whole fleet. */
  rps: number;
  /** A key source for one instance's key (an instance serving several keys is asked once per key). */
  sourceFor(instance: number, key: WorldKey): InstanceKeySource;
  /**
   * The application call made with a key, answering the HTTP status; default: the key's provider sandbox's
   * `appCall` (the staging rehearsal calls the real provider through its adapter instead).
   */
  appCall?: (key: WorldKey, material: RehearsalKey) => Promise<number>;
}

/** One key an instance serves, with its source and the instance's latest call with it. */
interface Slot {
  instance: number;
  key: WorldKey;
  source: InstanceKeySource;
  appCall: AppCall;
  latest?: { ok: boolean; keyId: string | undefined };
}

/**
 * Application instances making authenticated provider calls at a steady rate, each through its own key
 * sources. With more keys than instances an instance serves several keys (key k on instance k mod n) and
 * calls them in turn, as an app using several providers does; with more instances than keys, each key has
 * several instances. A call fails when the provider refused it after the source's retries, or when no key
 * could be had at all.
 *
 * Calls are not kept: each is added to per-second buckets by provider and key generation, to the open
 * windows' tallies and to the set of key ids used, so memory grows with the keys and the run's seconds, not
 * with the calls.
 */
export class Fleet {
  /** Real ms between the starts of two calls of one instance. */
  readonly intervalMs: number;
  /** Real ms between two calls with the same key on one instance (it calls its keys in turn). */
  readonly cycleMs: number;
  readonly totals = { calls: 0, failed: 0 };
  private readonly buckets: CallBucket[] = [];
  private readonly windows = new Set<{ openedAt: number; tally: CallTally }>();
  /** Key ids some call succeeded with. */
  private readonly succeededWith = new Set<string>();
  /** Key id → its label "<provider>#<n>", n counting the keys of its secret in the order calls met them. */
  private readonly labels = new Map<string, string>();
  private readonly generations = new Map<string, number>();
  private readonly slots: Slot[] = [];
  private readonly started = performance.now();
  private running = true;
  private readonly loops: Promise<void>[] = [];

  constructor(
    keys: WorldKey[],
    sandboxes: ReadonlyMap<string, Pick<RehearsalSandbox, 'appCall'>>,
    options: FleetOptions,
  ) {
    const intervalMs = (1000 * options.instances) / Math.max(1, options.rps);
    this.intervalMs = intervalMs;
    const perInstance = Array.from({ length: options.instances }, () => [] as Slot[]);
    const pairs = Math.max(options.instances, keys.length);
    for (let i = 0; i < pairs; i++) {
      const instance = i % options.instances;
      const key = keys[i % keys.length]!;
      const slot: Slot = {
        instance,
        key,
        source: options.sourceFor(instance, key),
        appCall: options.appCall
          ? (material) => options.appCall!(key, material)
          : (material) => sandboxes.get(key.provider)!.appCall(material),
      };
      this.slots.push(slot);
      perInstance[instance]!.push(slot);
    }
    this.cycleMs = intervalMs * Math.max(...perInstance.map((slots) => slots.length));
    for (const [instance, slots] of perInstance.entries()) {
      // Stagger starts so the fleet does not call in lock-step.
      this.loops.push(this.loop(slots, intervalMs, (intervalMs * instance) / options.instances));
    }
  }

  private async loop(slots: Slot[], intervalMs: number, offsetMs: number): Promise<void> {
    await sleep(offsetMs);
    for (let turn = 0; this.running; turn++) {
      const tick = performance.now();
      await this.callOnce(slots[turn % slots.length]!);
      await sleep(Math.max(0, intervalMs - (performance.now() - tick)));
    }
  }

  private async callOnce(slot: Slot): Promise<void> {
    let used: string | undefined;
    const at = performance.now() - this.started;
    let error: string | undefined;
    try {
      await slot.source.withKey(async (k) => {
        used = k.id;
        const status = await slot.appCall(k);
        if (status === 401 || status === 403) throw new AuthRejected(status);
        if (status >= 400) throw new Error(`provider answered ${status}`);
      });
    } catch (caught) {
      error = caught instanceof Error ? `${caught.name}: ${caught.message}` : String(caught);
    }
    const record: CallRecord = {
      at,
      instance: slot.instance,
      secret: slot.key.name,
      keyId: used,
      ok: error === undefined,
      ...(error === undefined ? {} : { error }),
    };
    slot.latest = { ok: record.ok, keyId: used };
    this.record(slot.key, record);
  }

  /** Adds a finished call to the totals, its second's bucket and the open windows. */
  private record(key: WorldKey, call: CallRecord): void {
    this.totals.calls += 1;
    this.finishedAt.push(this.elapsed());
    this.pruneFinished();
    if (!call.ok) this.totals.failed += 1;
    else if (call.keyId) this.succeededWith.add(call.keyId);
    const second = Math.floor(call.at / 1000);
    while (this.buckets.length <= second)
      this.buckets.push({ second: this.buckets.length, byKey: {}, failed: 0, failedByKey: {} });
    const bucket = this.buckets[second]!;
    const label = this.labelOf(key, call.keyId);
    bucket.byKey[label] = (bucket.byKey[label] ?? 0) + 1;
    if (!call.ok) {
      bucket.failed += 1;
      bucket.failedByKey[label] = (bucket.failedByKey[label] ?? 0) + 1;
    }
    for (const { openedAt, tally } of this.windows) {
      if (call.at < openedAt) continue;
      tally.calls += 1;
      if (call.keyId) tally.keyIds.add(call.keyId);
      if (call.ok) continue;
      tally.failed += 1;
      const failure = `${call.secret}: ${call.error}`;
      if (tally.failures.length < FAILURES_KEPT && !tally.failures.includes(failure))
        tally.failures.push(failure);
    }
  }

  private labelOf(key: WorldKey, keyId: string | undefined): string {
    if (!keyId) return `${key.provider}#?`;
    let label = this.labels.get(keyId);
    if (!label) {
      const n = (this.generations.get(key.name) ?? 0) + 1;
      this.generations.set(key.name, n);
      label = `${key.provider}#${n}`;
      this.labels.set(keyId, label);
    }
    return label;
  }

  /**
   * Starts tallying the calls that start from now; `close()` stops and returns the tally (calls still in
   * flight then are left out, as they have no outcome yet).
   */
  window(): { close(): CallTally } {
    const entry = {
      openedAt: this.elapsed(),
      tally: { calls: 0, failed: 0, failures: [], keyIds: new Set<string>() } as CallTally,
    };
    this.windows.add(entry);
    return {
      close: () => {
        this.windows.delete(entry);
        return entry.tally;
      },
    };
  }

  /** Whether some call succeeded with the provider key `keyId`. */
  used(keyId: string): boolean {
    return this.succeededWith.has(keyId);
  }

  /** Calls that finished in the last real second. */
  callsPerSecond(): number {
    this.pruneFinished();
    return this.finishedAt.length;
  }
  /** When the calls of the last second finished, oldest first. */
  private readonly finishedAt: number[] = [];
  private pruneFinished(): void {
    const since = this.elapsed() - 1000;
    while (this.finishedAt.length > 0 && this.finishedAt[0]! < since) this.finishedAt.shift();
  }

  /** Calls per real second by "<provider>#<n>" (the n-th key of a secret of that provider the fleet used). */
  timeline(): CallBucket[] {
    return this.buckets;
  }

  /**
   * Instances with a key whose latest call did not succeed with its secret's `currentKeyId`. A client
   * re-reads the vault only when called, so an instance that has not called with a key since it changed
   * still holds the old one, however short its TTL.
   */
  behind(currentKeyId: (secret: string) => string | undefined): number[] {
    const behind = new Set<number>();
    for (const slot of this.slots)
      if (!slot.latest?.ok || slot.latest.keyId !== currentKeyId(slot.key.name)) behind.add(slot.instance);
    return [...behind].sort((a, b) => a - b);
  }

  /** Real ms since the fleet started (the timeline's x axis). */
  elapsed(): number {
    return performance.now() - this.started;
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
    for (const slot of this.slots) slot.source.close?.();
  }
}

type AppCall = (material: RehearsalKey) => Promise<number>;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
