import {
  DescribeSecretCommand,
  TagResourceCommand,
  UntagResourceCommand,
} from '@aws-sdk/client-secrets-manager';
import { rollbackKey } from '../../lambdas/rollback.js';
import { keyNameFor } from '../../lambdas/rotation.js';
import { type StartedRotation, startRotation } from '../../lambdas/start-rotation.js';
import { SINGLE_KEY_OPT_IN, TAGS, tagMap } from '../../lambdas/tags.js';
import type { RotationStep } from '../aws/secrets-manager.js';
import type { AwsFault } from '../aws/server.js';
import { inFlight } from '../in-flight.js';
import type { Fault, SandboxRequest } from '../sandboxes/sandbox.js';
import { FLEET_CLIENT } from './client-source.js';
import type { Fleet } from './fleet.js';
import type { InvariantMonitor } from './monitor.js';
import { REHEARSAL_PROVIDERS, type RehearsalKey } from './providers.js';
import type { RehearsalWorld, WorldKey } from './world.js';

export interface ScenarioContext {
  world: RehearsalWorld;
  fleet: Fleet;
  monitor: InvariantMonitor;
  /** Keys this scenario acts on (a slice of the world's keys). */
  keys: WorldKey[];
  /** The scenario's own random choices, seeded by the rehearsal's seed and the scenario's name. */
  random: () => number;
}

export interface ScenarioOutcome {
  /** Real ms from the command to the old key rejected by the provider, where the scenario revokes. */
  timeToRevokeMs?: number;
  /** Real ms during which no valid key existed (single-key rotation), as rekey measured it. */
  interruptionMs?: number;
  /** Checks specific to the scenario ("the other rotation was refused"), each with its result. */
  checks: Array<{ name: string; ok: boolean; detail?: string }>;
}

export interface Scenario {
  name: string;
  /** The item of the guide's "Testing and Validation" list it proves. */
  guide: string;
  /** The guide promises zero failed calls here. */
  zeroDowntime: boolean;
  /** Runs only when named with `--scenario`, not in the default set. */
  optIn?: boolean;
  run(ctx: ScenarioContext): Promise<ScenarioOutcome>;
}

/** Waits (real time) until `done` holds, checking every 20 ms; false after `timeoutMs`. */
export async function until(done: () => boolean | Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    if (await done()) return true;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return done();
}

function sandboxOf(ctx: ScenarioContext, key: WorldKey) {
  return ctx.world.sandboxes.get(key.provider)!;
}

/** Real ms the grace period, the Scheduler minute and a usage re-check take, with margin. */
function revocationWindowMs(ctx: ScenarioContext): number {
  const clock = ctx.world.clock;
  return clock.realMs(ctx.world.options.graceSeconds * 1000 + 2 * 60_000 + 6 * 300_000) + 3000;
}

/**
 * Waits until every instance's latest call succeeded with its secret's AWSCURRENT key, for up to
 * `timeoutMs`; returns the instances still behind.
 */
export async function fleetOnCurrentKeys(
  world: RehearsalWorld,
  fleet: Fleet,
  timeoutMs: number,
): Promise<number[]> {
  const behind = () => {
    const current = new Map(world.keys.map((key) => [key.name, world.keyAt(key)?.id]));
    return fleet.behind((secret) => current.get(secret));
  };
  await until(() => behind().length === 0, timeoutMs);
  return behind();
}

/**
 * Rotations a scenario runs at once. Many keys are rotated as `rekey rotate --all` paces them (about ten in
 * flight), not all at once: Secrets Manager allows 50 PutSecretValue + UpdateSecretVersionStage requests per
 * second for the whole account, and the loopback enforces it.
 */
const ROTATIONS_IN_FLIGHT = 8;
/**
 * Real ms a started rotation may take to promote its key: a few seconds on an idle machine, but a busy one
 * (a thousand keys, their fleet and every function in this one process) stretches it.
 */
const PROMOTION_TIMEOUT_MS = 60_000;

/**
 * Starts a rotation of each of `keys`, a few at a time, each waiting for its new key to be AWSCURRENT; per
 * key, whether it was promoted and whether old and new key both authenticated right after (the grace period).
 */
async function rotatePaced(
  ctx: ScenarioContext,
  keys: WorldKey[],
  emergency: boolean,
): Promise<Array<{ old: RehearsalKey; promoted: boolean; bothValid: boolean }>> {
  return inFlight(keys, ROTATIONS_IN_FLIGHT, async (key) => {
    const old = ctx.world.keyAt(key)!;
    ctx.monitor.note('rotate', emergency ? 'emergency rotation' : 'scheduled-style rotation', key.name);
    await startRotation(
      key.name,
      emergency ? { emergency: true, graceSeconds: 0 } : {},
      ctx.world.revocationDeps(),
    );
    const promoted = await until(() => ctx.world.keyAt(key)!.id !== old.id, PROMOTION_TIMEOUT_MS);
    const current = ctx.world.keyAt(key)!;
    const sandbox = sandboxOf(ctx, key);
    return { old, promoted, bothValid: promoted && sandbox.accepts(old) && sandbox.accepts(current) };
  });
}

/** Rotates `keys` (emergency or scheduled-style) and waits until each old key is rejected; returns the ms it took. */
async function rotateAndAwaitRevocation(
  ctx: ScenarioContext,
  keys: WorldKey[],
  emergency: boolean,
): Promise<{ ms: number; ok: boolean }> {
  const started = performance.now();
  const rotated = await rotatePaced(ctx, keys, emergency);
  const ok = await until(
    () => keys.every((key, i) => !sandboxOf(ctx, key).accepts(rotated[i]!.old)),
    revocationWindowMs(ctx),
  );
  return { ms: performance.now() - started, ok: ok && rotated.every((r) => r.promoted) };
}

export const SCENARIOS: Scenario[] = [
  {
    name: 'scheduled-rotation',
    guide: 'Happy-path rotation test + Grace period test',
    zeroDowntime: true,
    async run(ctx) {
      // Secrets Manager and Scheduler may deliver twice: make them, and expect one key per rotation.
      ctx.world.aws.secretsManager.deliverTwice('createSecret');
      ctx.world.aws.scheduler.deliverTwice();
      const started = performance.now();
      // Judge the grace period per key, right after its own promotion: with many keys, the first ones'
      // grace may rightly be over before the last one is promoted.
      const rotated = await rotatePaced(ctx, ctx.keys, false);
      const before = rotated.map((r) => r.old);
      const promoted = rotated.every((r) => r.promoted);
      const bothValid = rotated.every((r) => r.bothValid);
      const rotatedProviders = new Set(
        ctx.keys.filter((_, i) => rotated[i]!.promoted).map((k) => k.provider),
      );
      const revoked = await until(
        () => ctx.keys.every((key, i) => !sandboxOf(ctx, key).accepts(before[i]!)),
        revocationWindowMs(ctx),
      );
      const timeToRevokeMs = performance.now() - started;
      // The revoker logs its outcome just after the provider call; give the last line a moment.
      const oldIds = new Set(before.map((k) => k.id));
      const evidenceOf = () =>
        ctx.world.logs
          .records()
          .filter((r) => r.outcome === 'revoked' && oldIds.has(String(r.keyId)))
          .map((r) => String(r.evidence));
      await until(() => evidenceOf().length >= ctx.keys.length, 2000);
      const evidence = evidenceOf();
      return {
        timeToRevokeMs,
        checks: [
          {
            name: 'each revocation waited for usage evidence',
            ok: evidence.length === ctx.keys.length && evidence.every((e) => e !== 'undefined'),
            detail: `${evidence.length} revocations, evidence: ${[...new Set(evidence)].join(', ')}`,
          },
          { name: 'every key promoted', ok: promoted },
          {
            name: 'a key of every provider rotated',
            ok: new Set(ctx.keys.map((k) => k.provider)).size === rotatedProviders.size,
            detail: [...rotatedProviders].sort().join(', '),
          },
          { name: 'both keys valid right after promotion (grace period)', ok: bothValid },
          { name: 'old keys revoked after the grace period', ok: revoked },
        ],
      };
    },
  },
  {
    name: 'emergency-rotation',
    guide: 'Emergency rotation capability (single command)',
    zeroDowntime: true,
    async run(ctx) {
      const keys = ctx.keys.slice(0, Math.max(1, Math.ceil(ctx.keys.length / 3)));
      const { ms, ok } = await rotateAndAwaitRevocation(ctx, keys, true);
      return {
        timeToRevokeMs: ms,
        checks: [
          { name: 'old key rejected by the provider', ok, detail: `${Math.round(ms)} ms from command` },
        ],
      };
    },
  },
  {
    name: 'rollback',
    guide: 'Rollback test',
    zeroDowntime: true,
    async run(ctx) {
      const key = ctx.keys[0]!;
      const old = ctx.world.keyAt(key)!;
      ctx.monitor.note('rotate', 'rotation', key.name);
      await startRotation(key.name, {}, ctx.world.revocationDeps());
      await until(() => ctx.world.keyAt(key)!.id !== old.id, 5000);
      const bad = ctx.world.keyAt(key)!;
      // The new key goes bad at the provider; the fleet falls back to the previous key, then we roll back.
      ctx.monitor.injectedFault(bad.id);
      sandboxOf(ctx, key).breakKey(bad.id);
      ctx.monitor.note('fault', `new key ${bad.id} broken at the provider`, key.name);
      await new Promise((resolve) => setTimeout(resolve, 300));
      const report = await rollbackKey({ secretId: key.name, revokeNow: true }, ctx.world.revocationDeps());
      ctx.monitor.note('rollback', `key ${report.restoredKeyId} is AWSCURRENT again`, key.name);
      return {
        checks: [
          { name: 'previous key restored as AWSCURRENT', ok: ctx.world.keyAt(key)?.id === old.id },
          { name: 'restored key authenticates', ok: sandboxOf(ctx, key).accepts(old) },
          { name: 'rejected key revoked', ok: report.rejectedKey === 'revoked' },
        ],
      };
    },
  },
  {
    name: 'provider-outage',
    guide: 'Provider outage test',
    zeroDowntime: true,
    async run(ctx) {
      const key = ctx.keys[0]!;
      const sandbox = sandboxOf(ctx, key);
      const old = ctx.world.keyAt(key)!;
      const keysBefore = sandbox.appKeys().length;
      // The operator's recovery is what is rehearsed: Secrets Manager's own re-attempt of the failed
      // rotation would race the emergency rotation below (and, on a busy machine, win it). Restored by the
      // runner after the scenario.
      ctx.world.aws.secretsManager.reattemptDelaysMs = [];
      sandbox.failKeyManagement(true);
      ctx.monitor.note('fault', 'provider key-management API down (503)', key.name);
      const outcomesBefore = ctx.world.aws.secretsManager.outcomes.length;
      await startRotation(key.name, {}, ctx.world.revocationDeps());
      await ctx.world.aws.secretsManager.settled();
      const outcome = ctx.world.aws.secretsManager.outcomes.slice(outcomesBefore).at(-1);
      const stillCurrent = ctx.world.keyAt(key)?.id === old.id && sandbox.accepts(old);
      const keysAfter = sandbox.appKeys().length;
      sandbox.failKeyManagement(false);
      ctx.monitor.note('recover', 'provider key-management API back', key.name);
      // The failed run leaves AWSPENDING behind; an operator cleans it up with an emergency rotation.
      const recovered = await rotateAndAwaitRevocation(ctx, [key], true);
      return {
        checks: [
          {
            name: 'rotation failed cleanly at createSecret',
            ok: outcome?.ok === false && outcome.failedStep === 'createSecret',
            detail: outcome?.error,
          },
          { name: 'old key stayed AWSCURRENT and valid', ok: stillCurrent },
          {
            name: 'no key was created during the outage',
            ok: keysAfter === keysBefore,
            detail: `${keysBefore} → ${keysAfter}`,
          },
          { name: 'a later emergency rotation recovers', ok: recovered.ok },
        ],
      };
    },
  },
  {
    name: 'vault-outage',
    guide: 'Vault outage test',
    zeroDowntime: true,
    async run(ctx) {
      // "During normal operation": every instance on the current key first. One TTL does not ensure it: a client
      // re-reads only when called, and a revoked key it still holds can be replaced only from the vault.
      const behind = await fleetOnCurrentKeys(
        ctx.world,
        ctx.fleet,
        ctx.world.clock.realMs(FLEET_CLIENT.ttlMs + FLEET_CLIENT.jitterMs) + 2 * ctx.fleet.cycleMs + 1000,
      );
      const outageMs = Math.max(600, ctx.world.clock.realMs(15 * 60_000));
      ctx.world.aws.setOutage('unavailable');
      ctx.monitor.note('fault', `Secrets Manager unavailable for ${Math.round(outageMs)} ms`);
      await new Promise((resolve) => setTimeout(resolve, outageMs));
      ctx.world.aws.setOutage('none');
      ctx.monitor.note('recover', 'Secrets Manager back');
      await new Promise((resolve) => setTimeout(resolve, 300));
      return {
        checks: [
          {
            name: 'every instance on the current key before the outage',
            ok: behind.length === 0,
            detail:
              behind.length === 0 ? undefined : `instances still behind: ${behind.slice(0, 5).join(', ')}`,
          },
          {
            name: 'outage longer than the client cache TTL',
            ok: outageMs > ctx.world.clock.realMs(5 * 60_000),
          },
        ],
      };
    },
  },
  {
    name: 'concurrent-rotations',
    guide: 'Concurrent rotation test',
    zeroDowntime: true,
    async run(ctx) {
      const key = ctx.keys[0]!;
      const old = ctx.world.keyAt(key)!;
      ctx.monitor.note('rotate', 'two rotations at once', key.name);
      const results = await Promise.allSettled([
        startRotation(key.name, {}, ctx.world.revocationDeps()),
        startRotation(key.name, {}, ctx.world.revocationDeps()),
      ]);
      const refused = results.filter((r) => r.status === 'rejected') as PromiseRejectedResult[];
      const revoked = await until(
        () => !sandboxOf(ctx, key).accepts(old) && ctx.world.referencedKeyIds(key).size === 1,
        revocationWindowMs(ctx),
      );
      return {
        checks: [
          { name: 'exactly one rotation started', ok: results.length - refused.length === 1 },
          {
            name: 'the other refused cleanly',
            ok:
              refused.length === 1 &&
              /another rotation .* is in progress/.test(String(refused[0]!.reason?.message)),
            detail: String(refused[0]?.reason?.message ?? ''),
          },
          { name: 'old key revoked; one key remains', ok: revoked },
        ],
      };
    },
  },
  {
    name: 'stuck-rotation',
    guide: 'Emergency rotation of a stuck rotation (rotation fails silently → cleaned up)',
    zeroDowntime: true,
    async run(ctx) {
      const key = ctx.keys[ctx.keys.length - 1]!;
      const sandbox = sandboxOf(ctx, key);
      // Stuck: the failed rotation is not re-attempted (Secrets Manager has given up on it); the runner
      // restores the re-attempts after the scenario.
      ctx.world.aws.secretsManager.reattemptDelaysMs = [];
      sandbox.failNextValidation(ctx.world.keyAt(key)!.id);
      ctx.monitor.note('fault', 'the next key validation fails (testSecret)', key.name);
      await startRotation(key.name, {}, ctx.world.revocationDeps());
      await ctx.world.aws.secretsManager.settled();
      const stuck = ctx.world.keyAt(key, 'AWSPENDING');
      const refused = await startRotation(key.name, {}, ctx.world.revocationDeps()).then(
        () => false,
        (error: Error) => /is stuck/.test(error.message),
      );
      const old = ctx.world.keyAt(key)!;
      const { ms, ok } = await rotateAndAwaitRevocation(ctx, [key], true);
      return {
        timeToRevokeMs: ms,
        checks: [
          { name: 'rotation stuck at testSecret', ok: stuck !== undefined },
          { name: 'plain rotate refuses a stuck rotation', ok: refused },
          {
            name: 'stuck key revoked by the emergency rotation',
            ok: stuck !== undefined && !sandbox.accepts(stuck),
          },
          { name: 'old key revoked, new key current', ok: ok && ctx.world.keyAt(key)!.id !== old.id },
        ],
      };
    },
  },
  {
    name: 'single-key',
    guide: 'FAQ: a provider that allows one key — the announced, measured interruption',
    zeroDowntime: false,
    async run(ctx) {
      // Single-key rotation needs an adapter that reads permissions before revoking: SendGrid's does.
      const key = ctx.keys.find((k) => k.provider === 'sendgrid');
      if (!key) {
        return {
          checks: [
            {
              name: 'a SendGrid key to rotate single-key',
              ok: false,
              detail: 'run with --providers including sendgrid',
            },
          ],
        };
      }
      const old = ctx.world.keyAt(key)!;
      // What a deploy of an inventory entry with single_key_rotation: accept-interruption does.
      ctx.world.redeploy(key.name, { singleKey: true });
      await ctx.world.sm.send(
        new TagResourceCommand({
          SecretId: key.arn,
          Tags: [{ Key: TAGS.singleKey, Value: SINGLE_KEY_OPT_IN }],
        }),
      );
      ctx.monitor.injectedFault(old.id);
      ctx.monitor.note('rotate', 'single-key rotation (revoke, then create)', key.name);
      const alertsBefore = ctx.world.aws.sns.messagesTo(ctx.world.alertTopicArn).length;
      await startRotation(key.name, {}, ctx.world.revocationDeps());
      await ctx.world.aws.secretsManager.settled();
      const described = await ctx.world.sm.send(new DescribeSecretCommand({ SecretId: key.arn }));
      const interruptionMs = Number(tagMap(described.Tags)[TAGS.lastInterruptionMs]) / ctx.world.clock.scale;
      await ctx.world.sm.send(new UntagResourceCommand({ SecretId: key.arn, TagKeys: [TAGS.singleKey] }));
      ctx.world.redeploy(key.name, { singleKey: false });
      const announced = ctx.world.aws.sns
        .messagesTo(ctx.world.alertTopicArn)
        .slice(alertsBefore)
        .some((m) => m.message.includes('single-key-interruption'));
      return {
        interruptionMs,
        checks: [
          { name: 'the interruption was announced before it began', ok: announced },
          {
            name: 'old key revoked, new key current',
            ok: !ctx.world.sandboxes.get(key.provider)!.accepts(old) && ctx.world.keyAt(key)!.id !== old.id,
          },
          {
            name: 'the interruption was measured',
            ok: Number.isFinite(interruptionMs),
            detail: `${interruptionMs.toFixed(1)} ms`,
          },
        ],
      };
    },
  },
  {
    name: 'chaos',
    guide: 'Issue 12: rotations under lost answers, throttling and duplicate deliveries',
    zeroDowntime: true,
    // Not in the default set: it adds a grace period and several rotations to `npm start`'s time budget.
    optIn: true,
    run: chaos,
  },
];

/** The scenarios a rehearsal runs when none is named. */
export const DEFAULT_SCENARIOS: string[] = SCENARIOS.filter((s) => !s.optIn).map((s) => s.name);

const LOST_ANSWERS = ['after', 'reset'] as const;
const ROTATION_STEPS: RotationStep[] = ['createSecret', 'setSecret', 'testSecret', 'finishSecret'];

/** What a chaos run injected, and how to tell afterwards that each fault met rekey's calls. */
interface InjectedChaos {
  awsFaults: AwsFault[];
  /** Provider faults with the number of requests each took. */
  providerFaults: Array<{ provider: string; fault: string; met: number }>;
  /** The rotation step Secrets Manager delivers twice. */
  twiceStep: RotationStep;
  /** Whether Scheduler and Lambda were told to deliver the revoker's events twice. */
  revokerTwice: boolean;
}

/**
 * Rotations of up to seven keys and an emergency rotation of another, started at once under live traffic,
 * while the endpoint loses the answers to rekey's writes (PutSecretValue, UpdateSecretVersionStage, the
 * lease's PutItem) and throttles it, providers lose the answer to a key creation and throttle one, Secrets
 * Manager delivers a rotation step twice, and Scheduler and Lambda deliver the revoker's events twice.
 * Every choice (keys, faults, kinds, counts) comes from the seed; only the interleaving is the machine's.
 */
async function chaos(ctx: ScenarioContext): Promise<ScenarioOutcome> {
  const { world, monitor } = ctx;
  const order = shuffled(ctx.keys, ctx.random);
  const emergency = order[0]!;
  const rotated = order.slice(1, 8);
  const touched = [...rotated, emergency];
  const before = new Map(touched.map((key) => [key.name, world.keyAt(key)!]));
  const resentBefore = new Map(world.resent);
  const alertsBefore = world.aws.sns.messagesTo(world.alertTopicArn).length;
  const invocationsBefore = world.aws.lambdas.history().length;
  const injected = injectChaos(ctx, touched, rotated.length > 0);
  monitor.note('fault', describeChaos(injected));

  const started: Array<{ key: WorldKey; rotation: StartedRotation }> = [];
  const startedAt = performance.now();
  try {
    for (const key of rotated) {
      monitor.note('rotate', 'rotation under injected faults', key.name);
      started.push({ key, rotation: await startRotation(key.name, {}, world.revocationDeps()) });
    }
    monitor.note('rotate', 'emergency rotation under injected faults', emergency.name);
    const options = { emergency: true, graceSeconds: 0 };
    started.push({
      key: emergency,
      rotation: await startRotation(emergency.name, options, world.revocationDeps()),
    });
    const oldKeyGone = (key: WorldKey) => !sandboxOf(ctx, key).accepts(before.get(key.name)!);
    // Twice the revocation window: Secrets Manager's re-attempts of failed rotations may come first.
    await until(() => touched.every(oldKeyGone), 2 * revocationWindowMs(ctx));
    const timeToRevokeMs = performance.now() - startedAt;

    const promoted = touched.filter((key) => world.keyAt(key)!.id !== before.get(key.name)!.id);
    const extraKeys = started.flatMap(({ key, rotation }) => {
      const name = keyNameFor(
        key.name,
        rotation.versionId,
        REHEARSAL_PROVIDERS[key.provider]!.definition.maxKeyNameLength,
      );
      const live = sandboxOf(ctx, key)
        .appKeys()
        .filter((k) => k.name === name);
      const stored = world.keyAt(key)!.id;
      return live.length === 1 && live[0]!.id === stored
        ? []
        : [`${key.name} version ${rotation.versionId}: ${live.length} live key(s) named for it`];
    });
    const alerted = new Set(
      world.aws.sns
        .messagesTo(world.alertTopicArn)
        .slice(alertsBefore)
        .map((m) => String((JSON.parse(m.message) as { keyId?: unknown }).keyId)),
    );
    const kept = touched.filter((key) => !oldKeyGone(key));
    const unexplained = kept.filter((key) => !alerted.has(before.get(key.name)!.id));
    const invocations = world.aws.lambdas.history().slice(invocationsBefore);
    const unmet = unmetFaults(injected, world, resentBefore, invocations, started);
    return {
      timeToRevokeMs,
      checks: [
        {
          name: 'every rotation and the emergency rotation promoted',
          ok: promoted.length === touched.length,
          detail: `${promoted.length} of ${touched.length}`,
        },
        {
          name: 'exactly one provider key per version',
          ok: extraKeys.length === 0,
          detail: extraKeys.slice(0, 3).join('; ') || `${started.length} versions`,
        },
        {
          name: 'old keys revoked, or an alert says why not',
          ok: unexplained.length === 0,
          detail:
            `${touched.length - kept.length} revoked, ${kept.length - unexplained.length} kept with an alert` +
            (unexplained.length > 0
              ? `, kept without one: ${unexplained.map((k) => k.name).join(', ')}`
              : ''),
        },
        {
          name: 'every injected fault met rekey',
          ok: unmet.length === 0,
          detail:
            unmet.join('; ') ||
            `${injected.awsFaults.length} AWS faults, ${injected.providerFaults.length} provider faults, duplicate deliveries`,
        },
      ],
    };
  } finally {
    world.aws.clearFaults();
    for (const sandbox of world.sandboxes.values()) sandbox.sandbox.clearFaults();
  }
}

/** Arms every fault of a chaos run, drawn from the scenario's seeded random choices. */
function injectChaos(ctx: ScenarioContext, touched: WorldKey[], revocationsFire: boolean): InjectedChaos {
  const { world, random } = ctx;
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const awsFaults: AwsFault[] = [
    ...['secretsmanager.PutSecretValue', 'secretsmanager.UpdateSecretVersionStage', 'dynamodb.PutItem'].map(
      (operation) => ({ operation, kind: pick(LOST_ANSWERS), times: 1 + Math.floor(random() * 2) }),
    ),
    ...['dynamodb.PutItem', 'secretsmanager.RotateSecret', 'scheduler.CreateSchedule'].map((operation) => ({
      operation,
      kind: 'throttle' as const,
      times: 1,
    })),
  ];
  for (const fault of awsFaults) world.aws.injectFault(fault);
  const providerFaults: InjectedChaos['providerFaults'] = [];
  for (const provider of new Set(touched.map((key) => key.provider))) {
    const sandbox = world.sandboxes.get(provider)!;
    const lost = pick(LOST_ANSWERS);
    const faults: Array<[string, Fault]> = [];
    // The 429 first: refused unprocessed and retried, it still lets the lost answer come.
    if (random() < 0.5) faults.push(['create throttled', { status: 429, retryAfterSeconds: 1, times: 1 }]);
    faults.push([
      `create answer lost (${lost})`,
      lost === 'reset' ? { reset: true, times: 1 } : { status: 502, after: true, times: 1 },
    ]);
    for (const [name, fault] of faults) {
      const record = { provider, fault: name, met: 0 };
      providerFaults.push(record);
      // Counts the requests the fault took: the sandbox asks a fault's `match` only while it has times left.
      const match = (req: SandboxRequest) => sandbox.isCreate(req) && ++record.met > 0;
      sandbox.sandbox.injectFault({ ...fault, match });
    }
  }
  const twiceStep = pick(ROTATION_STEPS);
  world.aws.secretsManager.deliverTwice(twiceStep);
  // Only rotations' revocations fire a schedule (an emergency's is cancelled once it revoked at once).
  if (revocationsFire) {
    world.aws.scheduler.deliverTwice();
    world.aws.lambdas.deliverTwice();
  }
  return { awsFaults, providerFaults, twiceStep, revokerTwice: revocationsFire };
}

/** The faults of a chaos run in one line, for the timeline: what a seed chose. */
function describeChaos(injected: InjectedChaos): string {
  const aws = injected.awsFaults.map((f) => `${f.operation} ${f.kind}×${f.times}`);
  const providers = injected.providerFaults.map((f) => `${f.provider} ${f.fault}`);
  const twice = [injected.twiceStep, ...(injected.revokerTwice ? ['revoker events'] : [])];
  return `${[...aws, ...providers].join(', ')}; delivered twice: ${twice.join(', ')}`;
}

/** The injected faults no rekey call met: re-sent requests, requests a provider fault took, repeated events. */
function unmetFaults(
  injected: InjectedChaos,
  world: RehearsalWorld,
  resentBefore: ReadonlyMap<string, number>,
  invocations: ReadonlyArray<{ arn: string; event: unknown }>,
  started: ReadonlyArray<{ rotation: StartedRotation }>,
): string[] {
  const unmet: string[] = [];
  for (const operation of new Set(injected.awsFaults.map((f) => f.operation))) {
    const times = injected.awsFaults
      .filter((f) => f.operation === operation)
      .reduce((n, f) => n + f.times, 0);
    const resent = (world.resent.get(operation) ?? 0) - (resentBefore.get(operation) ?? 0);
    if (resent < times) unmet.push(`${operation}: ${resent} of ${times} re-sent`);
  }
  for (const f of injected.providerFaults) if (f.met === 0) unmet.push(`${f.provider}: ${f.fault}`);
  const seen = (events: unknown[]) => {
    const counts = new Map<string, number>();
    for (const event of events)
      counts.set(JSON.stringify(event), (counts.get(JSON.stringify(event)) ?? 0) + 1);
    return Math.max(0, ...counts.values());
  };
  const versions = new Set(started.map((s) => s.rotation.versionId));
  const steps = invocations
    .map((i) => i.event as { Step?: string; ClientRequestToken?: string })
    .filter((e) => e.Step === injected.twiceStep && versions.has(e.ClientRequestToken ?? ''))
    .map((e) => e.ClientRequestToken);
  if (seen(steps) < 2) unmet.push(`${injected.twiceStep} was delivered once per rotation`);
  const revoker = invocations.filter((i) => i.arn.endsWith(':function:rekey-revoker')).map((i) => i.event);
  if (injected.revokerTwice && seen(revoker) < 2) unmet.push('no revoker event was delivered twice');
  return unmet;
}

/** A copy of `items` in an order drawn from `random` (Fisher–Yates). */
function shuffled<T>(items: readonly T[], random: () => number): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}
