import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { type PaceLimits, Pacer, type PacerClock, TokenBucket } from '../../bin/commands/pacer.js';

/**
 * The fleet pacer under generated arrival patterns, on a virtual clock: whatever arrives when, with whatever
 * throttling, starts never exceed a lane's rate over any window, rotations in flight never exceed its
 * concurrency, and every waiter is granted in the end.
 */

/** Timers on virtual time: `run` fires them in order, letting each one's promise chain settle first. */
class VirtualClock implements PacerClock {
  private time = 0;
  private seq = 0;
  private timers: Array<{ at: number; seq: number; fire: () => void }> = [];

  now = (): number => this.time;

  sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
    new Promise((resolve) => {
      const timer = { at: this.time + Math.max(0, ms), seq: this.seq++, fire: resolve };
      this.timers.push(timer);
      signal?.addEventListener(
        'abort',
        () => {
          this.timers = this.timers.filter((t) => t !== timer);
          resolve();
        },
        { once: true },
      );
    });

  async run(): Promise<void> {
    for (;;) {
      await new Promise((resolve) => setImmediate(resolve));
      if (this.timers.length === 0) return;
      this.timers.sort((a, b) => a.at - b.at || a.seq - b.seq);
      const next = this.timers.shift()!;
      this.time = Math.max(this.time, next.at);
      next.fire();
    }
  }
}

interface Arrival {
  at: number;
  lane: number;
  holdMs: number;
  start: boolean;
  /** The start meets throttling (Secrets Manager's or, with `providerThrottle`, its provider's). */
  throttled: boolean;
  providerThrottle: boolean;
}

interface Scenario {
  fleet: PaceLimits;
  lanes: PaceLimits[];
  arrivals: Arrival[];
}

const limits = (maxRate: number, maxConcurrency: number) =>
  fc.record({
    ratePerSecond: fc.double({ min: 0.2, max: maxRate, noNaN: true }),
    concurrency: fc.integer({ min: 1, max: maxConcurrency }),
  });

const scenario: fc.Arbitrary<Scenario> = fc
  .record({ fleet: limits(50, 20), lanes: fc.array(limits(20, 8), { minLength: 1, maxLength: 4 }) })
  .chain(({ fleet, lanes }) =>
    fc
      .array(
        fc.record({
          at: fc.integer({ min: 0, max: 20_000 }),
          lane: fc.nat({ max: lanes.length - 1 }),
          holdMs: fc.integer({ min: 0, max: 5_000 }),
          start: fc.oneof({ weight: 5, arbitrary: fc.constant(true) }, fc.constant(false)),
          throttled: fc.oneof({ weight: 8, arbitrary: fc.constant(false) }, fc.constant(true)),
          providerThrottle: fc.boolean(),
        }),
        { minLength: 1, maxLength: 80 },
      )
      .map((arrivals) => ({ fleet, lanes, arrivals })),
  );

interface Grant {
  at: number;
  lane: number;
  start: boolean;
  fleetInFlight: number;
  laneInFlight: number;
}

/** Drives `pacer` through the arrivals as the fleet would: acquire, hold, signal throttling or success, release. */
async function drive(s: Scenario, pacer: Pacer, clock: VirtualClock): Promise<Grant[]> {
  const grants: Grant[] = [];
  const inFlight = { fleet: 0, lanes: s.lanes.map(() => 0) };
  const never = new AbortController().signal;
  const done = s.arrivals.map(async (a) => {
    await clock.sleep(a.at, never);
    const permit = await pacer.acquire(`lane-${a.lane}`, { start: a.start });
    assert.ok(permit, 'an open pacer grants every waiter');
    inFlight.fleet += 1;
    inFlight.lanes[a.lane]! += 1;
    grants.push({
      at: clock.now(),
      lane: a.lane,
      start: a.start,
      fleetInFlight: inFlight.fleet,
      laneInFlight: inFlight.lanes[a.lane]!,
    });
    if (a.start && a.throttled) pacer.throttled(a.providerThrottle ? `lane-${a.lane}` : undefined);
    else if (a.start) pacer.started(`lane-${a.lane}`);
    await clock.sleep(a.holdMs, never);
    inFlight.fleet -= 1;
    inFlight.lanes[a.lane]! -= 1;
    permit.release();
  });
  const settled = Promise.all(done);
  await clock.run();
  await settled;
  return grants;
}

/** The first window [t_i, t_j] holding more starts than 1 + rate·(t_j − t_i), if any. */
function rateBreach(times: number[], ratePerSecond: number): string | undefined {
  const sorted = [...times].sort((a, b) => a - b);
  for (let i = 0; i < sorted.length; i++)
    for (let j = i + 1; j < sorted.length; j++) {
      const allowed = 1 + (ratePerSecond * (sorted[j]! - sorted[i]!)) / 1000;
      // A millisecond's rounding of the wake-up timer is not a breach.
      if (j - i + 1 > allowed + 1e-6 + ratePerSecond / 1000)
        return `${j - i + 1} starts in ${sorted[j]! - sorted[i]!} ms at ${ratePerSecond.toFixed(3)}/s`;
    }
  return undefined;
}

function breaches(s: Scenario, grants: Grant[], checkedRates: Scenario = s): string[] {
  const problems: string[] = [];
  const starts = grants.filter((g) => g.start);
  const fleet = rateBreach(
    starts.map((g) => g.at),
    checkedRates.fleet.ratePerSecond,
  );
  if (fleet) problems.push(`fleet: ${fleet}`);
  s.lanes.forEach((lane, i) => {
    const breach = rateBreach(
      starts.filter((g) => g.lane === i).map((g) => g.at),
      checkedRates.lanes[i]!.ratePerSecond,
    );
    if (breach) problems.push(`lane ${i}: ${breach}`);
    const most = Math.max(0, ...grants.filter((g) => g.lane === i).map((g) => g.laneInFlight));
    if (most > lane.concurrency) problems.push(`lane ${i}: ${most} in flight of ${lane.concurrency}`);
  });
  const most = Math.max(...grants.map((g) => g.fleetInFlight));
  if (most > s.fleet.concurrency) problems.push(`fleet: ${most} in flight of ${s.fleet.concurrency}`);
  if (grants.length !== s.arrivals.length) problems.push(`${grants.length} of ${s.arrivals.length} granted`);
  return problems;
}

const pacerFor = (s: Scenario, clock: VirtualClock, scale = 1) =>
  new Pacer(
    { ...s.fleet, ratePerSecond: s.fleet.ratePerSecond * scale },
    (name) => {
      const lane = s.lanes[Number(name.slice('lane-'.length))]!;
      return { ...lane, ratePerSecond: lane.ratePerSecond * scale };
    },
    clock,
    () => 0.5,
  );

describe('properties: the fleet pacer', () => {
  it('never exceeds a lane’s rate over any window nor its concurrency, and grants every waiter', async () => {
    await fc.assert(
      fc.asyncProperty(scenario, async (s) => {
        const clock = new VirtualClock();
        const grants = await drive(s, pacerFor(s, clock), clock);
        assert.deepEqual(breaches(s, grants), []);
      }),
      { seed: 0x16_02_01, numRuns: 150 },
    );
  });

  it('the check catches a pacer that starts faster than its lanes allow (the property can fail)', async () => {
    const details = await fc.check(
      fc.asyncProperty(scenario, async (s) => {
        const clock = new VirtualClock();
        // Four times the rates it is held to.
        const grants = await drive(s, pacerFor(s, clock, 4), clock);
        assert.deepEqual(breaches(s, grants), []);
      }),
      { seed: 0x16_02_01, numRuns: 150, endOnFailure: true },
    );
    assert.equal(details.failed, true, 'a pacer four times too fast must be caught');
  });

  it('halves the fleet’s rate and drains its bucket on throttling, then creeps back to the configured rate', async () => {
    // Prepare
    const clock = new VirtualClock();
    const pacer = new Pacer(
      { ratePerSecond: 8, concurrency: 100 },
      () => ({ ratePerSecond: 100, concurrency: 100 }),
      clock,
    );
    const first = await pacer.acquire('a');
    // Act
    pacer.throttled();
    // Assess: the next start waits a whole interval at the halved rate (1 / 4 per s = 250 ms).
    const next = pacer.acquire('a');
    const granted = next.then(() => clock.now());
    await clock.run();
    assert.equal(await granted, 250);
    assert.equal(pacer.stats.ratePerSecond, 4);
    assert.equal(pacer.stats.throttles, 1);
    for (let i = 0; i < 10; i++) pacer.started('a');
    assert.equal(pacer.stats.ratePerSecond, 8, 'back to the configured rate, never above it');
    assert.equal(pacer.stats.lowestRatePerSecond, 4);
    first?.release();
  });

  it('backs off exponentially with jitter, capped at 20 s', () => {
    const low = new Pacer(
      { ratePerSecond: 1, concurrency: 1 },
      () => ({ ratePerSecond: 1, concurrency: 1 }),
      undefined,
      () => 0,
    );
    const high = new Pacer(
      { ratePerSecond: 1, concurrency: 1 },
      () => ({ ratePerSecond: 1, concurrency: 1 }),
      undefined,
      () => 1,
    );
    assert.deepEqual(
      [0, 1, 2, 3].map((n) => low.backoffMs(n)),
      [250, 500, 1000, 2000],
    );
    assert.deepEqual(
      [0, 1, 2, 3].map((n) => high.backoffMs(n)),
      [500, 1000, 2000, 4000],
    );
    assert.equal(high.backoffMs(30), 20_000);
  });

  it('a closed pacer grants nothing more and leaves no timer behind', async () => {
    const clock = new VirtualClock();
    const pacer = new Pacer(
      { ratePerSecond: 1, concurrency: 5 },
      () => ({ ratePerSecond: 1, concurrency: 5 }),
      clock,
    );
    assert.ok(await pacer.acquire('a'));
    const waiting = pacer.acquire('a');
    pacer.close();
    assert.equal(await waiting, undefined);
    assert.equal(await pacer.acquire('a'), undefined);
    await clock.run(); // returns only once no timer is left
  });

  it('a token bucket spaces takes 1/rate apart', () => {
    const bucket = new TokenBucket(4, 0);
    assert.equal(bucket.waitMs(0), 0);
    bucket.take(0);
    assert.equal(bucket.waitMs(0), 250);
    assert.equal(bucket.waitMs(100), 150);
    assert.equal(bucket.waitMs(250), 0);
  });
});
