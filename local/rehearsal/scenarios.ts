import {
  DescribeSecretCommand,
  TagResourceCommand,
  UntagResourceCommand,
} from '@aws-sdk/client-secrets-manager';
import { rollbackKey } from '../../lambdas/rollback.js';
import { startRotation } from '../../lambdas/start-rotation.js';
import { SINGLE_KEY_OPT_IN, TAGS, tagMap } from '../../lambdas/tags.js';
import { FLEET_CLIENT } from './client-source.js';
import type { Fleet } from './fleet.js';
import type { InvariantMonitor } from './monitor.js';
import type { RehearsalWorld, WorldKey } from './world.js';

export interface ScenarioContext {
  world: RehearsalWorld;
  fleet: Fleet;
  monitor: InvariantMonitor;
  /** Keys this scenario acts on (a slice of the world's keys). */
  keys: WorldKey[];
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

/** Rotates `keys` (emergency or scheduled-style) and waits until each old key is rejected; returns the ms it took. */
async function rotateAndAwaitRevocation(
  ctx: ScenarioContext,
  keys: WorldKey[],
  emergency: boolean,
): Promise<{ ms: number; ok: boolean }> {
  const started = performance.now();
  const olds = keys.map((key) => ctx.world.keyAt(key)!);
  for (const key of keys) {
    ctx.monitor.note('rotate', emergency ? 'emergency rotation' : 'rotation', key.name);
    await startRotation(key.name, emergency ? { emergency: true, graceSeconds: 0 } : {}, {
      ...ctx.world.revocationDeps(),
    });
  }
  const ok = await until(
    () => keys.every((key, i) => !sandboxOf(ctx, key).accepts(olds[i]!)),
    revocationWindowMs(ctx),
  );
  return { ms: performance.now() - started, ok };
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
      const before = ctx.keys.map((key) => ctx.world.keyAt(key)!);
      const started = performance.now();
      // Judge the grace period per key, right after its own promotion: with many keys, the first ones'
      // grace may rightly be over before the last one is promoted.
      let promoted = true;
      let bothValid = true;
      const rotatedProviders = new Set<string>();
      for (const [i, key] of ctx.keys.entries()) {
        ctx.monitor.note('rotate', 'scheduled-style rotation', key.name);
        await startRotation(key.name, {}, ctx.world.revocationDeps());
        const moved = await until(() => ctx.world.keyAt(key)!.id !== before[i]!.id, 5000);
        promoted &&= moved;
        if (moved) rotatedProviders.add(key.provider);
        bothValid &&=
          moved &&
          sandboxOf(ctx, key).accepts(before[i]!) &&
          sandboxOf(ctx, key).accepts(ctx.world.keyAt(key)!);
      }
      const revoked = await until(
        () => ctx.keys.every((key, i) => !sandboxOf(ctx, key).accepts(before[i]!)),
        revocationWindowMs(ctx),
      );
      const timeToRevokeMs = performance.now() - started;
      // The revoker logs its outcome just after the provider call; give the last line a moment.
      const evidenceOf = () =>
        ctx.world.logs
          .records()
          .filter((r) => r.outcome === 'revoked' && before.some((k) => r.keyId === k.id))
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
      const keysBefore = sandbox.appKeyIds().length;
      sandbox.failKeyManagement(true);
      ctx.monitor.note('fault', 'provider key-management API down (503)', key.name);
      const outcomesBefore = ctx.world.aws.secretsManager.outcomes.length;
      await startRotation(key.name, {}, ctx.world.revocationDeps());
      await ctx.world.aws.secretsManager.settled();
      const outcome = ctx.world.aws.secretsManager.outcomes.slice(outcomesBefore).at(-1);
      const stillCurrent = ctx.world.keyAt(key)?.id === old.id && sandbox.accepts(old);
      const keysAfter = sandbox.appKeyIds().length;
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
      // "During normal operation": one client TTL (+ jitter) first, so no instance still holds a key an
      // earlier scenario revoked — that one could only be replaced by reading the vault.
      await new Promise((resolve) =>
        setTimeout(resolve, ctx.world.clock.realMs(FLEET_CLIENT.ttlMs + FLEET_CLIENT.jitterMs)),
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
      sandbox.failNextValidation();
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
      // What the stack does for an inventory entry with single_key_rotation: accept-interruption.
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
];
