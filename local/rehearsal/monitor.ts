import type { RehearsalWorld, WorldKey } from './world.js';

export type TimelineEventKind =
  | 'rotate'
  | 'promote'
  | 'revoke'
  | 'rollback'
  | 'fault'
  | 'recover'
  | 'scenario';

export interface TimelineEvent {
  /** Real ms since the fleet started. */
  at: number;
  kind: TimelineEventKind;
  secret?: string;
  detail: string;
}

export interface Breach {
  at: number;
  invariant: string;
  secret: string;
  detail: string;
}

/**
 * Watches every managed key many times a second and records what a security reviewer needs: the moments
 * keys were promoted and revoked, and any instant at which invariant (1)/(2) broke — no AWSCURRENT key, or
 * an AWSCURRENT key the provider refuses (which is what revoking a current key looks like from outside).
 */
export class InvariantMonitor {
  readonly events: TimelineEvent[] = [];
  readonly breaches: Breach[] = [];
  private readonly current = new Map<string, string>();
  private readonly live = new Map<string, Set<string>>();
  /** Key ids seen refused after being live: noted as revoked once. */
  private readonly revoked = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  /** Keys a scenario broke on purpose (a fault it injects): their rejection is the fault, not a breach. */
  private readonly injected = new Set<string>();
  samples = 0;

  constructor(
    private readonly world: RehearsalWorld,
    private readonly elapsed: () => number,
  ) {
    for (const key of world.keys) {
      const k = world.keyAt(key);
      if (k) {
        this.current.set(key.name, k.id);
        this.live.set(key.name, new Set([k.id]));
      }
    }
  }

  /**
   * Samples every `intervalMs` real ms; by default every 25 ms up to 100 keys, then less often in proportion
   * (250 ms for 1,000 keys), so sampling costs the same share of the machine at any size. What it catches
   * persists until someone repairs it (a revoked key stays revoked, a missing label stays missing), so a
   * slower sample finds it later, not never.
   */
  start(intervalMs = 25 * Math.max(1, this.world.keys.length / 100)): void {
    this.timer = setInterval(() => this.sample(), intervalMs);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.sample();
  }

  /** Declares that the scenario itself made the provider refuse `keyId` (e.g. a key that "went bad"). */
  injectedFault(keyId: string): void {
    this.injected.add(keyId);
  }

  note(kind: TimelineEventKind, detail: string, secret?: string): void {
    this.events.push({ at: this.elapsed(), kind, detail, ...(secret ? { secret } : {}) });
  }

  /** Samples every key once: checks (1)/(2) and records promotions and revocations. */
  sample(): void {
    this.samples += 1;
    for (const key of this.world.keys) this.check(key);
  }

  private check(key: WorldKey): void {
    const sandbox = this.world.sandboxes.get(key.provider)!;
    const current = this.world.keyAt(key);
    if (!current) {
      this.breach('1: a valid key is always AWSCURRENT', key.name, 'no AWSCURRENT value');
      return;
    }
    if (!sandbox.accepts(current) && !this.injected.has(current.id)) {
      this.breach(
        '2: an AWSCURRENT key is never revoked',
        key.name,
        `AWSCURRENT key ${current.id} is refused by the provider`,
      );
    }
    if (this.current.get(key.name) !== current.id) {
      this.note('promote', `key ${current.id} is AWSCURRENT`, key.name);
      this.current.set(key.name, current.id);
    }
    const live = this.live.get(key.name) ?? new Set<string>();
    live.add(current.id);
    this.values.set(current.id, current.value);
    // A revoked key may stay labelled (AWSPREVIOUS) for a while: it is noted once, not at every sample.
    for (const labelled of this.world.labelledKeys(key)) {
      this.values.set(labelled.id, labelled.value);
      if (!this.revoked.has(labelled.id)) live.add(labelled.id);
    }
    for (const id of live) {
      if (id !== current.id && !sandbox.accepts({ id, value: this.values.get(id) ?? '' })) {
        this.note('revoke', `key ${id} no longer authenticates`, key.name);
        live.delete(id);
        this.revoked.add(id);
      }
    }
    this.live.set(key.name, live);
  }

  /** The value of every key id this monitor has seen stored (kept so revocation shows after unlabelling). */
  private readonly values = new Map<string, string>();

  private breach(invariant: string, secret: string, detail: string): void {
    const last = this.breaches.at(-1);
    if (last && last.secret === secret && last.invariant === invariant && this.elapsed() - last.at < 1000)
      return;
    this.breaches.push({ at: this.elapsed(), invariant, secret, detail });
  }
}
