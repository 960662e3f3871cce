/** A clock the loopback services and the rehearsal share, so time can be compressed or stepped in tests. */
export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };

/** A clock that moves only when told to (tests), starting at `start`. */
export class ManualClock implements Clock {
  private current: number;
  constructor(start: Date = new Date('2026-01-01T00:00:00Z')) {
    this.current = start.getTime();
  }
  now(): Date {
    return new Date(this.current);
  }
  advance(ms: number): void {
    this.current += ms;
  }
  set(to: Date): void {
    this.current = to.getTime();
  }
}

/**
 * A clock that runs `scale` times faster than real time from the moment it is made, so an hour of grace
 * period is rehearsed in seconds. Every rekey component in the rehearsal reads time from it.
 */
export class CompressedClock implements Clock {
  private readonly realStart = performance.now();
  private readonly simStart: number;
  constructor(
    readonly scale: number,
    start: Date = new Date(),
  ) {
    this.simStart = start.getTime();
  }
  now(): Date {
    return new Date(this.simStart + (performance.now() - this.realStart) * this.scale);
  }
  /** Real milliseconds that `simMs` of clock time take. */
  realMs(simMs: number): number {
    return simMs / this.scale;
  }
  /** Waits `simMs` of clock time. */
  sleep(simMs: number): Promise<void> {
    return new Promise((resolve) => setTimeout(resolve, Math.max(0, simMs / this.scale)));
  }
}
