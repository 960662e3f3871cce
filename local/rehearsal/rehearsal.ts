import { type LeakScan, linesContaining } from '../captured-logs.js';
import { type CallBucket, Fleet, type InstanceKeySource } from './fleet.js';
import { InvariantMonitor, type TimelineEvent } from './monitor.js';
import { fleetOnCurrentKeys, SCENARIOS, type Scenario, until } from './scenarios.js';
import { RehearsalWorld, type WorldKey, type WorldOptions } from './world.js';

export interface RehearsalOptions extends Omit<WorldOptions, 'usageSources'> {
  instances: number;
  /** Calls per second across the fleet. */
  rps: number;
  /** Scenario names to run, in order. */
  scenarios: string[];
  /** Seed of every random choice the rehearsal makes (jitter, key spread), so a run can be repeated. */
  seed: number;
  /** A key source for one application instance (the rekey client, in the CLI). */
  sourceFor: (
    world: RehearsalWorld,
    instance: number,
    key: WorldKey,
    random: () => number,
  ) => InstanceKeySource;
  /** What other components logged (the fleet's clients), scanned for secret values as they wrote it. */
  extraLogs?: Pick<LeakScan, 'scanned' | 'leaks'>;
  onProgress?: (progress: RehearsalProgress) => void;
  /** Wires usage evidence for the revoker once the world exists (client metrics on the loopback endpoint). */
  configureWorld?: (world: RehearsalWorld) => WorldOptions['usageSources'];
}

export interface RehearsalProgress {
  scenario: string;
  index: number;
  total: number;
  keys: number;
  callsPerSecond: number;
  calls: number;
  failed: number;
}

export interface InvariantResult {
  invariant: string;
  ok: boolean;
  detail?: string;
}

export interface ScenarioResult {
  name: string;
  guide: string;
  zeroDowntime: boolean;
  /** Real ms since the fleet started. */
  startedAt: number;
  endedAt: number;
  calls: number;
  failed: number;
  /** First few failures, for the reader. */
  failures: string[];
  /** Provider key ids the fleet used during the scenario. */
  versionsSeen: number;
  /** Keys held at the providers (all managed secrets) when the scenario ended. */
  providerKeysAtEnd: number;
  timeToRevokeMs?: number;
  /** Real ms with no valid key (single-key rotation only). */
  interruptionMs?: number;
  checks: Array<{ name: string; ok: boolean; detail?: string }>;
  invariants: InvariantResult[];
  ok: boolean;
}

export interface RehearsalReport {
  tool: 'rekey rehearse';
  startedAt: string;
  options: {
    keys: number;
    instances: number;
    rps: number;
    providers: string[];
    scenarios: string[];
    seed: number;
    scale: number;
    graceSeconds: number;
  };
  /** The managed keys' providers, for the report's per-provider charts (a staging report has target.secrets). */
  keys?: Array<{ secret: string; provider: string }>;
  durationMs: number;
  /**
   * The process's peak resident set size at the end, in bytes: the loopback endpoint, the sandboxes and the
   * fleet all run in it. Absent where it was not measured.
   */
  peakRssBytes?: number;
  scenarios: ScenarioResult[];
  timeline: {
    /**
     * Calls per real second, by key label ("<provider>#<n>": made with the n-th key of a secret of that
     * provider); failed calls in all and by key label (labels without failures left out).
     */
    buckets: CallBucket[];
    events: TimelineEvent[];
  };
  verdict: { ok: boolean; breaches: string[] };
}

/** A small deterministic PRNG (mulberry32), so `--seed` repeats a run's random choices. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A 32-bit FNV-1a hash of `text`. */
function hashOf(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193);
  return hash >>> 0;
}

/**
 * The rehearsal: starts the world and a fleet under steady traffic, runs the scenarios in sequence, and
 * judges every invariant of DEVELOPERS.md in each — zero failed calls where the guide promises zero
 * downtime, a valid AWSCURRENT key at every sampled instant, no AWSCURRENT key revoked, no duplicate or
 * orphaned provider key, no secret value in any captured log line.
 */
export async function runRehearsal(options: RehearsalOptions): Promise<RehearsalReport> {
  const unknown = options.scenarios.filter((name) => !SCENARIOS.some((s) => s.name === name));
  if (unknown.length > 0)
    throw new Error(
      `unknown scenario ${unknown.join(', ')}; known: ${SCENARIOS.map((s) => s.name).join(', ')}`,
    );
  const random = seededRandom(options.seed);
  const world = new RehearsalWorld(options);
  const startedAt = new Date();
  try {
    await world.start();
  } catch (error) {
    // A world that failed to start still holds its endpoint and sandboxes open: release them, or the
    // command never exits.
    await world.stop().catch(() => undefined);
    throw error;
  }
  const usageSources = options.configureWorld?.(world);
  if (usageSources) Object.assign(world.options, { usageSources });
  const fleet = new Fleet(world.keys, world.sandboxes, {
    instances: options.instances,
    rps: options.rps,
    sourceFor: (instance, key) => options.sourceFor(world, instance, key, random),
  });
  const monitor = new InvariantMonitor(world, () => fleet.elapsed());
  monitor.start();
  const results: ScenarioResult[] = [];
  const selected = options.scenarios.map((name) => SCENARIOS.find((s) => s.name === name)!);
  let current = { name: 'warm-up', index: 0 };
  const progressTimer = setInterval(() => {
    options.onProgress?.({
      scenario: current.name,
      index: current.index,
      total: selected.length,
      keys: world.keys.length,
      callsPerSecond: fleet.callsPerSecond(),
      calls: fleet.totals.calls,
      failed: fleet.totals.failed,
    });
  }, 250);
  try {
    // Let every instance warm its cache before the first scenario: a fixed pause is not enough when a large
    // fleet takes longer than it to make its first calls, and a rotation would then meet that burst.
    await fleetOnCurrentKeys(world, fleet, Math.max(5000, 3 * fleet.cycleMs));
    for (const [index, scenario] of selected.entries()) {
      current = { name: scenario.name, index: index + 1 };
      results.push(await runScenario(scenario, world, fleet, monitor, options.seed));
    }
  } finally {
    clearInterval(progressTimer);
    await fleet.stop();
    monitor.stop();
    await world.stop();
  }

  const secrets = world.issuedSecrets();
  const leaked = [...linesContaining(world.logs.lines, secrets), ...(options.extraLogs?.leaks() ?? [])];
  const scanned = world.logs.lines.length + (options.extraLogs?.scanned() ?? 0);
  const leakResult: InvariantResult = {
    invariant: '5: no secret value in any log line',
    ok: leaked.length === 0,
    detail:
      leaked.length === 0
        ? `${scanned} lines scanned for ${secrets.length} secret values`
        : `${leaked.length} line(s) carry a secret value`,
  };
  for (const result of results) {
    result.invariants.push(leakResult);
    result.ok = result.ok && leakResult.ok;
  }
  const breaches = results.flatMap((r) => [
    ...r.invariants
      .filter((i) => !i.ok)
      .map((i) => `${r.name}: invariant ${i.invariant} — ${i.detail ?? 'breached'}`),
    ...r.checks.filter((c) => !c.ok).map((c) => `${r.name}: ${c.name}${c.detail ? ` — ${c.detail}` : ''}`),
  ]);
  return {
    tool: 'rekey rehearse',
    startedAt: startedAt.toISOString(),
    options: {
      keys: options.keys,
      instances: options.instances,
      rps: options.rps,
      providers: options.providers,
      scenarios: options.scenarios,
      seed: options.seed,
      scale: options.scale,
      graceSeconds: options.graceSeconds,
    },
    keys: world.keys.map((key) => ({ secret: key.name, provider: key.provider })),
    durationMs: Date.now() - startedAt.getTime(),
    peakRssBytes: process.resourceUsage().maxRSS * 1024,
    scenarios: results,
    timeline: timeline(fleet, monitor),
    verdict: { ok: breaches.length === 0, breaches },
  };
}

async function runScenario(
  scenario: Scenario,
  world: RehearsalWorld,
  fleet: Fleet,
  monitor: InvariantMonitor,
  seed: number,
): Promise<ScenarioResult> {
  const startedAt = fleet.elapsed();
  const window = fleet.window();
  // Its own generator: a scenario makes the same choices whichever scenarios ran before it.
  const random = seededRandom(seed ^ hashOf(scenario.name));
  const breachesBefore = monitor.breaches.length;
  monitor.note('scenario', scenario.name);
  let outcome: Awaited<ReturnType<Scenario['run']>>;
  // A scenario may change how Secrets Manager re-attempts failed rotations; the next one starts as AWS is.
  const reattemptDelaysMs = world.aws.secretsManager.reattemptDelaysMs;
  try {
    outcome = await scenario.run({ world, fleet, monitor, keys: world.keys, random });
  } catch (error) {
    outcome = {
      checks: [
        {
          name: 'scenario ran to the end',
          ok: false,
          detail: error instanceof Error ? error.message : String(error),
        },
      ],
    };
  }
  world.aws.secretsManager.reattemptDelaysMs = reattemptDelaysMs;
  // Let revocations and rotations the scenario started finish before judging orphans.
  const settled = await until(
    () => world.aws.scheduler.list('rekey').length === 0,
    Math.max(15_000, 30 * world.keys.length),
  );
  await world.aws.secretsManager.settled();
  // Let every instance make calls on the settled state before the window closes.
  await new Promise((resolve) => setTimeout(resolve, 300));
  const endedAt = fleet.elapsed();
  const calls = window.close();
  const breaches = monitor.breaches.slice(breachesBefore);
  const orphans = orphanedKeys(world);
  const invariants: InvariantResult[] = [
    {
      invariant: '1: a valid key is AWSCURRENT at every instant',
      ok: !breaches.some((b) => b.invariant.startsWith('1')),
      detail: breaches.find((b) => b.invariant.startsWith('1'))?.detail ?? `${monitor.samples} samples`,
    },
    {
      invariant: '2: an AWSCURRENT key is never revoked',
      ok: !breaches.some((b) => b.invariant.startsWith('2')),
      detail: breaches.filter((b) => b.invariant.startsWith('2')).map((b) => `${b.secret}: ${b.detail}`)[0],
    },
    {
      invariant: '3/4: no duplicate or orphaned key at a provider',
      ok: orphans.length === 0 && settled,
      detail:
        orphans.length > 0
          ? `orphaned: ${orphans.join(', ')}`
          : settled
            ? 'every provider key is referenced by a labelled version'
            : 'revocations did not settle in time',
    },
  ];
  if (scenario.zeroDowntime) {
    invariants.push({
      invariant: 'zero failed calls (zero downtime)',
      ok: calls.failed === 0,
      detail: `${calls.failed} of ${calls.calls} calls failed`,
    });
  }
  const ok = invariants.every((i) => i.ok) && outcome.checks.every((c) => c.ok);
  return {
    name: scenario.name,
    guide: scenario.guide,
    zeroDowntime: scenario.zeroDowntime,
    startedAt,
    endedAt,
    calls: calls.calls,
    failed: calls.failed,
    failures: calls.failures,
    versionsSeen: calls.keyIds.size,
    providerKeysAtEnd: [...world.sandboxes.values()].reduce((n, s) => n + s.appKeys().length, 0),
    ...(outcome.timeToRevokeMs === undefined ? {} : { timeToRevokeMs: Math.round(outcome.timeToRevokeMs) }),
    ...(outcome.interruptionMs === undefined
      ? {}
      : { interruptionMs: Math.round(outcome.interruptionMs * 10) / 10 }),
    checks: outcome.checks,
    invariants,
    ok,
  };
}

/** Provider keys (besides rotator credentials) that no labelled version of any managed key refers to. */
function orphanedKeys(world: RehearsalWorld): string[] {
  const referenced = new Set(world.keys.flatMap((key) => [...world.referencedKeyIds(key)]));
  return [...world.sandboxes.entries()].flatMap(([provider, sandbox]) =>
    sandbox
      .appKeys()
      .filter(({ id }) => !referenced.has(id))
      .map(({ id }) => `${provider}:${id}`),
  );
}

function timeline(fleet: Fleet, monitor: InvariantMonitor): RehearsalReport['timeline'] {
  return { buckets: fleet.timeline(), events: monitor.events };
}
