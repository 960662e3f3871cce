/**
 * `npm run bench`: rekey's key client against the libraries teams reach for, each configured as its own docs
 * recommend (bench/contenders.ts cites what was followed), on the same workload against the loopback AWS
 * endpoint and the SendGrid sandbox, in one run; then the cold start of rekey's functions against a
 * reference handler (bench/cold-start/). Ratios are computed from medians measured in this run.
 *
 * The project guide's rule: "`npm run bench` prints ratios against peers measured in the same run, each peer
 * configured as its own documentation recommends, with warm-up and ranges. A flattering comparison is a
 * defect."
 */
import { cpus, loadavg } from 'node:os';
import { KeyRejectedError } from '../client/index.js';
import { formatDuration, parseDurationSeconds } from '../lambdas/duration.js';
import { startRotation } from '../lambdas/start-rotation.js';
import { RehearsalWorld } from '../local/rehearsal/world.js';
import { coldStart } from './cold-start/cold-start.js';
import { type Contender, contenders, DESCRIPTIONS, MAX_AGE_S, type Send } from './contenders.js';
import { COST_HEADER, costTable, GOAL_DOLLARS, GOAL_FLEET, MONTH_MS, PRICES } from './cost-model.js';
import {
  CALL_EVERY_MS,
  DEFAULT_GRACE,
  peerInstance,
  type Run,
  rekeyInstance,
  simulate,
} from './cost-simulation.js';
import { compact, ratio, type Spread, showSpread, spread, table } from './stats.js';

// Short rounds, many of them, the contenders interleaved: the machine's speed drifts (other work on it), and
// fine interleaving lets every contender see the same drift.
const HOT = { warmup: 5, rounds: 25, roundMs: 60 };
const SCENARIO_ROUNDS = 5;
const OUTAGE_MS = 15_000;
const RATE_PER_S = 20;
const COLD = { warmup: 1, rounds: 7 };

const GROUPS = {
  client: {
    title: 'Client libraries — the library’s own read call',
    mine: 'rekey',
    peers: ['powertools', 'sdk+cache'],
  },
  middy: { title: 'middy middlewares — handler for handler', mine: 'rekey-middy', peers: ['middy'] },
} as const;

interface Figure {
  label: string;
  better: 'higher' | 'lower';
  /** Gated: the run exits non-zero when rekey's median is behind the better peer's (behaviour, not speed). */
  gate: boolean;
  values: Map<string, Spread>;
  /** What differs between the contenders on this figure. */
  differs: string;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Rejections nobody awaited (a library refreshing in the background while the vault is down). */
let unhandled = 0;
process.on('unhandledRejection', () => {
  unhandled += 1;
});

/** get() calls/s per contender: calibrated, warmed up, then measured rounds, contenders interleaved. */
async function hotPath(list: Contender[]): Promise<Map<string, Spread>> {
  const iterations = new Map<string, number>();
  const samples = new Map<string, number[]>(list.map((c) => [c.name, []]));
  for (const c of list) {
    // Calibrate: enough iterations for a round of ~HOT.roundMs.
    let n = 1000;
    for (;;) {
      const t0 = performance.now();
      await c.hot(n);
      const ms = performance.now() - t0;
      if (ms > 20) {
        iterations.set(c.name, Math.max(1000, Math.round((n * HOT.roundMs) / ms)));
        break;
      }
      n *= 4;
    }
  }
  for (let round = 0; round < HOT.warmup + HOT.rounds; round++) {
    for (let i = 0; i < list.length; i++) {
      const c = list[(i + round) % list.length]!;
      const n = iterations.get(c.name)!;
      const t0 = performance.now();
      await c.hot(n);
      const rate = n / ((performance.now() - t0) / 1000);
      if (round >= HOT.warmup) samples.get(c.name)!.push(rate);
    }
  }
  return new Map([...samples].map(([name, s]) => [name, spread(s)]));
}

/** Runs `call` for every contender RATE_PER_S times a second for `ms`, concurrently; per contender: results. */
async function steady(list: Contender[], ms: number, call: (c: Contender) => Promise<string | undefined>) {
  const results = new Map(
    list.map((c) => [c.name, [] as Array<{ at: number; keyId?: string; ok: boolean }>]),
  );
  const start = performance.now();
  await Promise.all(
    list.map(async (c) => {
      while (performance.now() - start < ms) {
        const at = performance.now() - start;
        const tick = performance.now();
        await call(c).then(
          (keyId) => results.get(c.name)!.push({ at, ok: true, ...(keyId ? { keyId } : {}) }),
          () => results.get(c.name)!.push({ at, ok: false }),
        );
        await sleep(Math.max(0, 1000 / RATE_PER_S - (performance.now() - tick)));
      }
    }),
  );
  return results;
}

const perContender = (rounds: Array<Map<string, number>>): Map<string, Spread> => {
  const names = [...rounds[0]!.keys()];
  return new Map(names.map((n) => [n, spread(rounds.map((r) => r.get(n)!))]));
};

async function clientFigures(world: RehearsalWorld): Promise<Figure[]> {
  const key = world.keys[0]!;
  const sandbox = world.sandboxes.get('sendgrid')!;
  const figures: Figure[] = [];
  const fresh = async () => {
    const list = contenders(key.arn);
    await Promise.all(list.map((c) => c.get()));
    return list;
  };
  const closeAll = (list: Contender[]) => {
    for (const c of list) c.close();
  };

  // 1. Hot path.
  let list = await fresh();
  figures.push({
    label: 'get() calls/s, warm cache',
    better: 'higher',
    gate: false,
    values: await hotPath(list),
    differs:
      'rekey counts one usage metric per call (its key is young here: in steady use a hit only compares two timestamps); Powertools builds its options and a cache-key string per call; sdk+cache compares one timestamp. rekey-middy also writes its usage counts as an EMF line at the end of every invocation (documented: Lambda freezes timers); middy copies its cached value onto the context. A refresh every 5 s falls inside the rounds for all.',
  });
  closeAll(list);

  // 2. Stampede: 100 callers on an expired entry, every contender at once (reads are counted per client).
  list = await fresh();
  const before = new Map(list.map((c) => [c.name, c.reads()]));
  // Counted from before the wait: a library that refreshes in the background reads during it.
  await sleep(MAX_AGE_S * 1000 + 100);
  await Promise.all(list.map((c) => Promise.all(Array.from({ length: 100 }, () => c.get()))));
  figures.push({
    label: 'Secrets Manager requests, 100 callers on an expired entry',
    better: 'lower',
    gate: true,
    values: new Map(list.map((c) => [c.name, spread([c.reads() - before.get(c.name)!])])),
    differs:
      'rekey (both forms) shares one in-flight refresh (single-flight: one DescribeSecret, the value unchanged); middy re-reads on a timer before the entry expires, so its callers find it fresh; Powertools and sdk+cache send one GetSecretValue per caller.',
  });
  closeAll(list);

  const send: Send = async (k) => {
    const status = await sandbox.appCall({ id: k.keyId, value: k.value });
    if (status === 401 || status === 403) throw new KeyRejectedError(status);
  };
  const callWithKey = (c: Contender) => {
    let used: string | undefined;
    return c
      .call(async (k) => {
        used = k.keyId;
        await send(k);
      })
      .then(() => used);
  };

  // 3. A vault outage under steady traffic (one round: a count set by the expiry times, not by noise).
  list = await fresh();
  world.aws.setOutage('unavailable');
  const outage = await steady(list, OUTAGE_MS, callWithKey);
  world.aws.setOutage('none');
  figures.push({
    label: `failed calls, ${OUTAGE_MS / 1000} s Secrets Manager outage`,
    better: 'lower',
    gate: true,
    values: new Map([...outage].map(([name, r]) => [name, spread([r.filter((x) => !x.ok).length])])),
    differs: `not the same maximum age here: rekey keeps serving the cached key past ${MAX_AGE_S} s (stale-on-error, up to maxStaleMs = 30 min by default past its TTL, re-reading with backoff); Powertools and sdk+cache throw once their ${MAX_AGE_S} s are up; middy drops its value when a timer re-read fails.`,
  });
  closeAll(list);

  // 4. Staleness: calls still made with the old key after a rotation made the new one current.
  const staleRounds: Array<Map<string, number>> = [];
  for (let round = 0; round < SCENARIO_ROUNDS; round++) {
    list = await fresh();
    const oldKey = world.keyAt(key)!;
    const rotation = steady(list, 8000, callWithKey);
    await sleep(1000);
    const rotateAt = performance.now();
    await startRotation(key.name, {}, world.revocationDeps());
    await world.aws.secretsManager.settled();
    const promotedAfter = performance.now() - rotateAt;
    const stale = await rotation;
    staleRounds.push(
      new Map(
        [...stale].map(([name, r]) => [
          name,
          r.filter((x) => x.at > 1000 + promotedAfter && x.keyId === oldKey.id).length,
        ]),
      ),
    );
    closeAll(list);
  }
  figures.push({
    label: 'calls with the old key once the new is current',
    better: 'lower',
    gate: true,
    values: perContender(staleRounds),
    differs: `every contender at a ${MAX_AGE_S} s maximum age (Secrets Manager answering): rekey's ${MAX_AGE_S - 1} s TTL + up to 1 s jitter re-reads a little sooner on average; middy re-reads on a fixed ${MAX_AGE_S} s timer; the old key stays valid (grace period), so these calls succeed.`,
  });

  // 5. A provider 401: an emergency rotation revokes the old key at once.
  const refusedRounds: Array<Map<string, number>> = [];
  for (let round = 0; round < SCENARIO_ROUNDS; round++) {
    list = await fresh();
    const emergency = steady(list, 8000, callWithKey);
    await sleep(1000);
    await startRotation(key.name, { emergency: true, graceSeconds: 0 }, world.revocationDeps());
    const refused = await emergency;
    refusedRounds.push(new Map([...refused].map(([name, r]) => [name, r.filter((x) => !x.ok).length])));
    closeAll(list);
  }
  figures.push({
    label: 'failed calls, provider refuses cached key (401)',
    better: 'lower',
    gate: true,
    values: perContender(refusedRounds),
    differs:
      "rekey's withKey refreshes and retries once; Powertools retries once with forceFetch (its documented way past the cache); sdk+cache has no refresh and fails until its 5 s are up; rekey-middy fails the refused invocation, reportAuthFailure makes the next one read the new key; middy has no refresh on a refusal and fails until its timer re-reads.",
  });
  return figures;
}

function printClientTables(figures: Figure[]): string[] {
  const out: string[] = [];
  let behind = false;
  for (const group of Object.values(GROUPS)) {
    const names = [group.mine, ...group.peers];
    const rows = figures.map((f, i) => {
      const mine = f.values.get(group.mine)!.median;
      const cells = names.map((n) => showSpread(f.values.get(n)!));
      const vs = group.peers.map((p) => {
        const peer = f.values.get(p)!.median;
        if (f.better === 'higher') return ratio(mine, peer);
        if (mine === peer) return 'same';
        if (mine === 0) return `0 vs ${compact(peer)}`;
        const times = (x: number) => `${x.toFixed(x >= 10 ? 0 : 2)}×`;
        return mine < peer ? `${times(peer / mine)} fewer` : `${times(mine / peer)} more`;
      });
      const peers = group.peers.map((p) => f.values.get(p)!.median);
      const best = f.better === 'higher' ? Math.max(...peers) : Math.min(...peers);
      const isBehind = f.better === 'higher' ? mine < best : mine > best;
      if (isBehind && f.gate) behind = true;
      return [`${i + 1}. ${f.label}`, ...cells, ...vs, isBehind ? `← ${group.mine} is behind` : ''];
    });
    out.push(
      '',
      `${group.title}: median (min–max)`,
      ...table(['figure', ...names, ...group.peers.map((p) => `${group.mine} vs ${p}`), ''], rows),
    );
  }
  out.push(
    '',
    `Rounds: 1. ${HOT.rounds} rounds of ~${HOT.roundMs} ms per contender, interleaved, after ${HOT.warmup} warm-up rounds; 2. and 3. one round`,
    `(counts set by the expiry times); 4. ${SCENARIO_ROUNDS} rotations; 5. ${SCENARIO_ROUNDS} emergency rotations (the old key revoked at once). 3.–5. at`,
    `${RATE_PER_S} provider calls/s per contender, all at once. 2.–5. gate the run (exit 1 if rekey is behind the better peer).`,
    '',
    'What differs, figure by figure:',
    ...figures.map((f, i) => `  ${i + 1}. ${f.differs}`),
  );
  if (behind) process.exitCode = 1;
  return out;
}

function printColdStart(cold: Awaited<ReturnType<typeof coldStart>>): string[] {
  type Measured = (typeof cold.bundles)[number];
  const documented = cold.bundles.find((b) => b.reference === 'documented')!;
  const asRekey = cold.bundles.find((b) => b.reference === 'as-rekey')!;
  const kb = (n: number) => `${(n / 1024).toFixed(0)} KB`;
  const ms = (n: number) => n.toFixed(0);
  // The ratio of the medians, and the range of the per-round ratios (each round measures every bundle in one
  // pass, so a busy moment on the machine weighs on both sides of a round's ratio).
  const vs = (b: Measured, ref: Measured) => {
    if (b === ref) return '1.00×';
    const rounds = spread(
      b.samples.deployed.map((round, i) => spread(round).median / spread(ref.samples.deployed[i]!).median),
    );
    return `${ratio(b.deployed.median, ref.deployed.median)} (${rounds.min.toFixed(2)}–${rounds.max.toFixed(2)})`;
  };
  const perRound = spread(documented.samples.deployed.map((r) => r.length));
  const refPerRound = perRound.min === perRound.max ? `${perRound.min}` : `${perRound.min}–${perRound.max}`;
  const rows = cold.bundles.map((b) => [
    b.name,
    kb(b.bytes),
    showSpread(b.deployed, ms),
    vs(b, documented),
    vs(b, asRekey),
    b.withMaps ? showSpread(b.withMaps, ms) : '',
    b.mapped ? kb(b.mapped.mapBytes) : '',
  ]);
  return [
    '',
    `Cold start — import() of each bundle in a fresh node process, ms: median (min–max) of ${cold.rounds} rounds after ${cold.warmup} warm-up import each`,
    ...table(
      [
        'bundle',
        'size',
        'ms, as deployed',
        'vs reference as AWS documents',
        'vs reference bundled as rekey',
        'ms, -c sourceMaps=true',
        '.map',
      ],
      rows,
    ),
    `  "vs reference": ratio of the medians (range of the ${cold.rounds} per-round ratios). Each reference imports only the`,
    `  Secrets Manager client and is imported ${refPerRound} times a round, spread through it. "As AWS documents": esbuild,`,
    '  minified, the SDK bundled from its ES module builds, CommonJS. "Bundled as rekey": lib/function.ts\'s options',
    '  (ES module output), so that ratio is what rekey\'s code and clients cost. "runtime SDK": @aws-sdk/* left out',
    '  of the bundle and loaded from node_modules, as from the runtime\'s copy. "-c sourceMaps=true": the opt-in',
    "  build, with its .map, run with NODE_OPTIONS=--enable-source-maps. Node's own start-up is not counted.",
  ];
}

/** rekey's freshness at the default grace: every instance has re-read within grace − 5 min of a promotion. */
const REKEY_FRESHNESS_S = parseDurationSeconds(DEFAULT_GRACE)! - 5 * 60;
const FRESHNESS = formatDuration(REKEY_FRESHNESS_S);
const HOUR_MS = 3_600_000;

/** The cost model's runs: rekey at its defaults, and each peer at its own default and at rekey's freshness. */
const COST_RUNS: Run[] = [
  {
    name: `rekey, defaults (grace ${DEFAULT_GRACE}, the inventory's default)`,
    instances: 4,
    windowMs: MONTH_MS,
    keys: 1,
    grace: DEFAULT_GRACE,
    stack: true,
    make: rekeyInstance,
  },
  {
    name: 'rekey, defaults but grace_period: 1h',
    instances: 4,
    windowMs: MONTH_MS,
    keys: 1,
    grace: '1h',
    stack: true,
    make: rekeyInstance,
  },
  {
    name: `rekey getMany, 10 keys an app (grace ${DEFAULT_GRACE})`,
    instances: 2,
    windowMs: MONTH_MS,
    keys: 10,
    grace: DEFAULT_GRACE,
    stack: true,
    make: rekeyInstance,
  },
  {
    name: 'powertools, its default maxAge 5 s (1 h scaled)',
    instances: 4,
    windowMs: HOUR_MS,
    keys: 1,
    grace: DEFAULT_GRACE,
    stack: false,
    make: peerInstance('powertools', 5),
  },
  {
    name: "sdk+cache, the bench's 5 s (1 h scaled)",
    instances: 4,
    windowMs: HOUR_MS,
    keys: 1,
    grace: DEFAULT_GRACE,
    stack: false,
    make: peerInstance('sdk+cache', 5),
  },
  {
    name: `powertools at rekey's freshness (maxAge ${FRESHNESS})`,
    instances: 4,
    windowMs: MONTH_MS,
    keys: 1,
    grace: DEFAULT_GRACE,
    stack: false,
    make: peerInstance('powertools', REKEY_FRESHNESS_S),
  },
  {
    name: `sdk+cache at rekey's freshness (${FRESHNESS})`,
    instances: 4,
    windowMs: MONTH_MS,
    keys: 1,
    grace: DEFAULT_GRACE,
    stack: false,
    make: peerInstance('sdk+cache', REKEY_FRESHNESS_S),
  },
  {
    name: `middy at rekey's freshness (cacheExpiry ${FRESHNESS})`,
    instances: 4,
    windowMs: MONTH_MS,
    keys: 1,
    grace: DEFAULT_GRACE,
    stack: false,
    make: peerInstance('middy', REKEY_FRESHNESS_S),
  },
];

async function costFigures(): Promise<string[]> {
  const measured = await simulate(COST_RUNS);
  const rows = COST_RUNS.map((run) => ({ name: run.name, measured: measured.get(run.name)! }));
  const batch = rows.find((r) => r.name.startsWith('rekey getMany'))!;
  const perSecret = costTable([{ ...batch, batchBilledPerSecret: true }])[0]!;
  return [
    '',
    `Cost per key per month, reading it — dollars, us-east-1 list prices read 2026-12-02 (bench/cost-model.ts cites them)`,
    ...table(COST_HEADER, costTable(rows)),
    `  Counted on the loopback: N instances each calling the provider every ${CALL_EVERY_MS / 1000} s, one rotation mid-month,`,
    '  the revocation recorded after the grace; "1 h scaled" rows ran a simulated hour (their reads do not depend on',
    '  the rotation), the others a simulated 730-hour month, ×N/instances simulated. SM: Secrets Manager API calls',
    `  ($${(PRICES.secretsManagerPerCall * 10_000).toFixed(2)}/10k); KMS: one Decrypt per value returned; metrics: custom metric-hours (fleet-wide: one metric`,
    "  whoever publishes it); alarms: metric-hours the fleet alarms' Metrics Insights queries analyze (ASSUMED $0.10 a",
    '  metric-month: the price could not be confirmed); logs: EMF bytes at $0.50/GB. The goal is the read cost',
    `  ≤ $${GOAL_DOLLARS} at N=${GOAL_FLEET}; "+ secret" adds the secret's own $${PRICES.secretPerMonth.toFixed(2)}. rekey's freshness: every instance has`,
    `  re-read within the grace less 5 min of a promotion (${FRESHNESS} at ${DEFAULT_GRACE}), within 5 min of a scheduled window's close,`,
    "  at once on a 401/403. The peers emit no usage metrics (the revoker has no evidence from them) and middy's",
    '  default (cacheExpiry −1: read once, never again) cannot pick up a rotation, so it has no row.',
    `  BatchGetSecretValue is billed here per request (not confirmed); billed per secret, the getMany row is ${perSecret[3]} at N=${GOAL_FLEET}.`,
  ];
}

async function main(): Promise<void> {
  const started = performance.now();
  const loadBefore = loadavg()[0]!;
  const world = new RehearsalWorld({ providers: ['sendgrid'], keys: 1, scale: 1, graceSeconds: 3600 });
  await world.start();
  let figures: Figure[];
  try {
    figures = await clientFigures(world);
  } finally {
    await world.stop();
  }
  const costs = await costFigures();
  const cold = await coldStart(COLD);

  const out = [
    `rekey client benchmark — node ${process.version}, ${cpus().length} CPUs; loopback Secrets Manager + SendGrid sandbox; every contender at a ${MAX_AGE_S} s maximum key age while Secrets Manager answers (not in an outage: figure 3)`,
    '',
    'Contenders (configured as their docs recommend; bench/contenders.ts cites what was followed):',
    ...Object.entries(DESCRIPTIONS).map(([name, d]) => `  ${name.padEnd(12)} ${d}`),
    ...printClientTables(figures),
    ...costs,
    ...printColdStart(cold),
    ...(unhandled > 0
      ? [
          '',
          `note: ${unhandled} promise rejection(s) went unhandled during the run (a library re-reading in the background while the vault was down)`,
        ]
      : []),
    '',
    `(${((performance.now() - started) / 1000).toFixed(0)} s; 1-minute load average ${loadBefore.toFixed(1)} at the start, ${loadavg()[0]!.toFixed(1)} at the end, on ${cpus().length} CPUs — other work on the machine widens the ranges)`,
  ];
  console.log(out.join('\n'));
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
