import { setTimeout as delay } from 'node:timers/promises';

/**
 * Pacing for `rekey rotate --all`: when a rotation may start. A token bucket per lane (the whole fleet, and
 * each provider) caps the start rate, a count per lane caps the rotations in flight, and throttling lowers a
 * bucket's rate AIMD-style — halved at once, crept back up with every start that goes through — so a fleet
 * that meets a busier account than planned slows down instead of failing.
 */

/** Time as the pacer sees it (tests drive a virtual one). `sleep` resolves early, quietly, on abort. */
export interface PacerClock {
  now(): number;
  sleep(ms: number, signal: AbortSignal): Promise<void>;
}

export const REAL_CLOCK: PacerClock = {
  now: () => performance.now(),
  sleep: (ms, signal) => delay(ms, undefined, { signal }).catch(() => {}),
};

/** A lane's limits: starts per second and rotations in flight at once. */
export interface PaceLimits {
  ratePerSecond: number;
  concurrency: number;
}

/**
 * A token bucket holding at most one token: starts are spaced 1/rate apart and a window of any length T
 * holds at most 1 + rate·T of them — no burst that a quota sized per second could not absorb.
 */
export class TokenBucket {
  private tokens = 1;
  private refilledAt: number;

  constructor(
    private ratePerSecond: number,
    now: number,
  ) {
    this.refilledAt = now;
  }

  get rate(): number {
    return this.ratePerSecond;
  }

  /** Milliseconds until a token is there at `now`; 0 when one is. */
  waitMs(now: number): number {
    this.refill(now);
    return this.tokens >= 1 ? 0 : Math.ceil(((1 - this.tokens) / this.ratePerSecond) * 1000);
  }

  /** Takes the token `waitMs` said is there. */
  take(now: number): void {
    this.refill(now);
    this.tokens -= 1;
  }

  /** A new rate from `now` on; `drain` also empties the bucket, so the next start waits a whole interval. */
  setRate(ratePerSecond: number, now: number, drain = false): void {
    this.refill(now);
    this.ratePerSecond = ratePerSecond;
    if (drain) this.tokens = Math.min(this.tokens, 0);
  }

  private refill(now: number): void {
    this.tokens = Math.min(1, this.tokens + ((now - this.refilledAt) / 1000) * this.ratePerSecond);
    this.refilledAt = now;
  }
}

/** A granted slot: release it when the rotation it admitted has settled (or was never started). */
export interface Permit {
  release(): void;
}

interface Lane {
  limits: PaceLimits;
  bucket: TokenBucket;
  inFlight: number;
  /** AIMD never lowers a rate below this (a sixteenth of the configured one). */
  floor: number;
}

interface Waiter {
  lane: string;
  /** Whether the slot starts a rotation (takes a token) or only follows one already started. */
  start: boolean;
  grant: (permit: Permit | undefined) => void;
}

export interface PacerStats {
  /** Throttling signals the pacer heard (each throttled request, and each throttled rotation). */
  throttles: number;
  /** The fleet's start rate now, and the lowest it was lowered to. */
  ratePerSecond: number;
  lowestRatePerSecond: number;
}

/**
 * Grants slots in arrival order, skipping waiters whose provider lane is full so one slow provider does not
 * hold up the rest; the fleet lane's token goes to the first waiter that can use it.
 *
 * @example
 * const pacer = new Pacer({ ratePerSecond: 5, concurrency: 10 }, () => ({ ratePerSecond: 1, concurrency: 4 }));
 * const permit = await pacer.acquire('sendgrid');
 * try { await rotate(); pacer.started('sendgrid'); } finally { permit?.release(); }
 */
export class Pacer {
  private readonly fleet: Lane;
  private readonly lanes = new Map<string, Lane>();
  private readonly waiting: Waiter[] = [];
  private timerAt: number | undefined;
  private closed = false;
  /** Cancels the wake-up timer on close, so a closed pacer keeps no process alive. */
  private readonly stop = new AbortController();
  private throttles = 0;
  private lowest: number;

  constructor(
    fleet: PaceLimits,
    private readonly laneLimits: (lane: string) => PaceLimits,
    private readonly clock: PacerClock = REAL_CLOCK,
    private readonly random: () => number = Math.random,
  ) {
    this.fleet = this.lane(fleet);
    this.lowest = fleet.ratePerSecond;
  }

  /**
   * Waits for a slot in `lane` (and the fleet's); `start` slots also wait for a token of both buckets.
   * Resolves undefined, granting nothing, once the pacer is closed.
   */
  acquire(lane: string, { start = true }: { start?: boolean } = {}): Promise<Permit | undefined> {
    if (this.closed) return Promise.resolve(undefined);
    return new Promise((grant) => {
      this.waiting.push({ lane, start, grant });
      this.pump();
    });
  }

  /**
   * A throttling signal: Secrets Manager's (no lane: the fleet's rate) or a provider's (its lane). The rate
   * is halved and the bucket drained at once — the quota the fleet met is a per-second bucket that must
   * refill — down to a floor.
   */
  throttled(lane?: string): void {
    this.throttles += 1;
    const target = lane === undefined ? this.fleet : this.laneOf(lane);
    const now = this.clock.now();
    target.bucket.setRate(Math.max(target.floor, target.bucket.rate / 2), now, true);
    this.lowest = Math.min(this.lowest, this.fleet.bucket.rate);
    this.pump();
  }

  /** A start went through: both rates creep back up by a tenth of their configured value. */
  started(lane: string): void {
    const now = this.clock.now();
    for (const target of [this.fleet, this.laneOf(lane)]) {
      const { ratePerSecond } = target.limits;
      if (target.bucket.rate < ratePerSecond)
        target.bucket.setRate(Math.min(ratePerSecond, target.bucket.rate + ratePerSecond / 10), now);
    }
  }

  /**
   * How long a throttled request waits before it is tried again: exponential from 500 ms (the AWS SDKs'
   * base delay for throttling), capped at 20 s, with "equal jitter" — half fixed, half random — so the
   * retries of many keys do not arrive together.
   */
  backoffMs(attempt: number): number {
    const capped = Math.min(20_000, 500 * 2 ** attempt);
    return capped / 2 + this.random() * (capped / 2);
  }

  /** Grants nothing more: every waiter, and every later acquire, gets undefined. */
  close(): void {
    this.closed = true;
    this.stop.abort();
    for (const waiter of this.waiting.splice(0)) waiter.grant(undefined);
  }

  get stats(): PacerStats {
    return {
      throttles: this.throttles,
      ratePerSecond: this.fleet.bucket.rate,
      lowestRatePerSecond: this.lowest,
    };
  }

  private lane(limits: PaceLimits): Lane {
    return {
      limits,
      bucket: new TokenBucket(limits.ratePerSecond, this.clock.now()),
      inFlight: 0,
      floor: limits.ratePerSecond / 16,
    };
  }

  private laneOf(name: string): Lane {
    let lane = this.lanes.get(name);
    if (!lane) {
      lane = this.lane(this.laneLimits(name));
      this.lanes.set(name, lane);
    }
    return lane;
  }

  /** Grants every slot that can be granted now, and wakes itself when the next token is due. */
  private pump(): void {
    const now = this.clock.now();
    let wake = Number.POSITIVE_INFINITY;
    for (let i = 0; i < this.waiting.length; ) {
      const waiter = this.waiting[i]!;
      const lane = this.laneOf(waiter.lane);
      if (this.fleet.inFlight >= this.fleet.limits.concurrency) return; // a release pumps again
      if (lane.inFlight >= lane.limits.concurrency) {
        i += 1;
        continue;
      }
      if (waiter.start) {
        const fleetWait = this.fleet.bucket.waitMs(now);
        const laneWait = lane.bucket.waitMs(now);
        if (laneWait > 0 || fleetWait > 0) {
          wake = Math.min(wake, Math.max(laneWait, fleetWait));
          i += 1;
          continue;
        }
        this.fleet.bucket.take(now);
        lane.bucket.take(now);
      }
      this.waiting.splice(i, 1);
      this.fleet.inFlight += 1;
      lane.inFlight += 1;
      let released = false;
      waiter.grant({
        release: () => {
          if (released) return;
          released = true;
          this.fleet.inFlight -= 1;
          lane.inFlight -= 1;
          this.pump();
        },
      });
    }
    if (wake !== Number.POSITIVE_INFINITY) this.wakeAt(now + wake);
  }

  private wakeAt(at: number): void {
    if (this.timerAt !== undefined && this.timerAt <= at) return;
    this.timerAt = at;
    void this.clock.sleep(at - this.clock.now(), this.stop.signal).then(() => {
      if (this.timerAt === at) this.timerAt = undefined;
      if (!this.closed) this.pump();
    });
  }
}
