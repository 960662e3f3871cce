import { resolve } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import type { DescribeSecretCommandOutput, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { PROVIDERS } from '../../lambdas/providers/index.js';
import {
  AWSCURRENT,
  AWSPENDING,
  describeSecret,
  isAwsError,
  versionWithStage,
} from '../../lambdas/secrets.js';
import { startRotation } from '../../lambdas/start-rotation.js';
import { tagMap } from '../../lambdas/tags.js';
import { loadInventory, type ManagedKeyPlan } from '../../lib/inventory.js';
import { type FleetPace, paceReport, providerPace } from './fleet-pace.js';
import { describeFollowed, type FollowedRotation, followRotation } from './follow.js';
import {
  defaultJournalPath,
  JOURNAL_FORMAT,
  Journal,
  type JournalDocument,
  type JournalKey,
  type KeyState,
  newRunId,
} from './journal.js';
import { Pacer } from './pacer.js';
import {
  type FleetPlan,
  FleetProgress,
  type FleetRun,
  fleetReport,
  formatPlan,
  formatSummary,
} from './progress.js';
import { type CliRuntime, cliRuntime, destroy, errorCode, reportError, warnWithoutLease } from './runtime.js';
import type { CommandIO } from './types.js';

/** What a rotation is assumed to take, for the estimates: four Lambda steps and the provider's calls. */
const TYPICAL_ROTATION_SECONDS = 2;

/** How often a rotation in flight is looked at (DescribeSecret's quota, 10,000/s, leaves room to spare). */
const POLL_MS = 500;

export interface FleetSelection {
  all: boolean;
  tags: Array<{ key: string; value: string }>;
  /** Adapter names. */
  providers: string[];
  /** The selection as written, for the plan and the journal. */
  given: string[];
}

/** `rekey rotate --all | --tag | --provider …` and `rekey rotate --resume <journal>`, as parsed. */
export type FleetRequest =
  | {
      mode: 'fleet';
      selection: FleetSelection;
      emergency: boolean;
      graceSeconds: number;
      dryRun: boolean;
      inventory: string;
      pace: FleetPace;
      journal?: string;
      timeoutMs: number;
      json: boolean;
    }
  | { mode: 'resume'; resume: string; pace: FleetPace; timeoutMs: number; json: boolean };

/** Why a selected entry is not rotated by a fleet run, or undefined. */
function skipReason(plan: ManagedKeyPlan): string | undefined {
  if (PROVIDERS[plan.provider]?.assisted)
    return `a person makes ${plan.providerLabel} keys: rekey rotate ${plan.name} --provide-key`;
  if (!plan.imported)
    return 'imported: false — its rotation is not attached yet (rekey import it, set imported: true, deploy)';
  return undefined;
}

/**
 * The keys a selection names, in the order they start: round-robin over the providers (each in inventory
 * order), so one slow provider's lane does not hold the others' keys back at the end; skipped ones last. The inventory has no
 * tags of its own, so `--tag` matches the secrets' tags (DescribeSecret, read-only).
 */
export async function selectKeys(
  plans: ManagedKeyPlan[],
  selection: FleetSelection,
  sm: SecretsManagerClient,
): Promise<JournalKey[]> {
  let chosen = plans.filter(
    (p) => selection.providers.length === 0 || selection.providers.includes(p.provider),
  );
  if (selection.tags.length) {
    const matches: boolean[] = [];
    // A few at a time: DescribeSecret's quota is generous, the person is waiting.
    for (let i = 0; i < chosen.length; i += 10) {
      const batch = await Promise.all(
        chosen.slice(i, i + 10).map(async (plan) => {
          let metadata: DescribeSecretCommandOutput;
          try {
            metadata = await describeSecret(sm, secretOf(plan));
          } catch (error) {
            // An entry whose secret is not deployed carries no tags: not selected.
            if (isAwsError(error, 'ResourceNotFoundException')) return false;
            throw error;
          }
          const tags = tagMap(metadata.Tags);
          return selection.tags.every((t) => tags[t.key] === t.value);
        }),
      );
      matches.push(...batch);
    }
    chosen = chosen.filter((_, i) => matches[i]);
  }
  const key = (plan: ManagedKeyPlan): JournalKey => {
    const skip = skipReason(plan);
    return {
      name: plan.name,
      secret: secretOf(plan),
      provider: plan.provider,
      status: skip ? { state: 'skipped', reason: skip } : { state: 'planned' },
    };
  };
  const keys = chosen.map(key);
  const rotating = keys.filter((k) => k.status.state === 'planned');
  const byProvider = new Map<string, JournalKey[]>();
  for (const k of rotating) byProvider.set(k.provider, [...(byProvider.get(k.provider) ?? []), k]);
  const ordered: JournalKey[] = [];
  for (let i = 0; ordered.length < rotating.length; i++)
    for (const list of byProvider.values()) if (list[i]) ordered.push(list[i]!);
  // The skipped ones last: they never start.
  return [...ordered, ...keys.filter((k) => k.status.state === 'skipped')];
}

const secretOf = (plan: ManagedKeyPlan) => plan.existingSecretArn ?? plan.secretName;

/**
 * How long starting and finishing `keys` takes at `pace`, at best: the slowest of the fleet's and each
 * provider's bounds — starts at their rate, rotations through their concurrency — plus the last rotation.
 */
export function estimateSeconds(keys: readonly JournalKey[], pace: FleetPace): number {
  const rotating = keys.filter((k) => k.status.state !== 'skipped' && k.status.state !== 'done');
  if (rotating.length === 0) return 0;
  const bounds = [
    rotating.length / pace.ratePerSecond,
    (rotating.length * TYPICAL_ROTATION_SECONDS) / pace.concurrency,
  ];
  const counts = new Map<string, number>();
  for (const key of rotating) counts.set(key.provider, (counts.get(key.provider) ?? 0) + 1);
  for (const [provider, n] of counts) {
    const lane = providerPace(provider, pace);
    bounds.push(n / lane.ratePerSecond, (n * TYPICAL_ROTATION_SECONDS) / lane.concurrency);
  }
  return Math.max(...bounds) + TYPICAL_ROTATION_SECONDS;
}

/** Throttling, as the SDK names Secrets Manager's and as a rotation function records a provider's. */
const THROTTLING = ['ThrottlingException', 'TooManyRequestsException'];
const isThrottling = (error: unknown) => isAwsError(error, ...THROTTLING);

export interface FleetDeps {
  runtime: CliRuntime;
  pacer: Pacer;
  journal: Journal;
  /** Aborted on Ctrl-C: no rotation starts any more, and following the running ones stops. */
  interrupt: AbortSignal;
  emergency: boolean;
  graceSeconds: number;
  timeoutMs: number;
  /** Hears every change a key's journal entry goes through. */
  onChange?: (key: JournalKey) => void;
}

/** Raised by a journal write that failed, to unwind the key's work: nothing may happen that is not recorded. */
class JournalFailed extends Error {}

/**
 * Rotates every `planned` key of the journal, follows every `started` one, and first settles each `starting`
 * one from the secret's state (a crash between RotateSecret and the journal write leaves one). Each key is
 * started through the pacer, and every change of its state is written to the journal before the next step.
 */
export async function runFleet(deps: FleetDeps): Promise<FleetRun> {
  const { runtime, pacer, journal } = deps;
  const sm = runtime.secretsManager;
  const stop = new AbortController();
  const run: FleetRun = { interrupted: false, unsettled: [] };
  const halt = () => {
    pacer.close();
    stop.abort();
  };
  const onInterrupt = () => {
    run.interrupted = true;
    halt();
  };
  if (deps.interrupt.aborted) onInterrupt();
  deps.interrupt.addEventListener('abort', onInterrupt, { once: true });
  const record = (key: JournalKey, status: KeyState) => {
    if (run.fatal) throw new JournalFailed();
    try {
      journal.set(key, status);
    } catch (error) {
      run.fatal = error;
      halt();
      throw new JournalFailed();
    }
    deps.onChange?.(key);
  };
  const secondsSince = (at: string | undefined) =>
    at === undefined ? undefined : Math.round((Date.now() - Date.parse(at)) / 100) / 10;

  /** A `starting` key: did its RotateSecret get through? Then the rotation it started is followed, not redone. */
  const settleStarting = async (key: JournalKey) => {
    const status = key.status;
    if (status.state !== 'starting') return;
    const started = rotationSince(await describeSecret(sm, key.secret), status);
    record(key, started ? { state: 'started', ...started, at: status.at } : { state: 'planned' });
  };

  /** One attempt at starting `key`'s rotation; `throttled`: nothing started, try again later. */
  const startOnce = async (key: JournalKey): Promise<'started' | 'throttled' | 'failed'> => {
    let before: Extract<KeyState, { state: 'starting' }> | undefined;
    try {
      before = {
        state: 'starting',
        at: new Date().toISOString(),
        ...beforeVersions(await describeSecret(sm, key.secret)),
      };
      record(key, before);
      const rotation = await startRotation(
        key.secret,
        { emergency: deps.emergency, graceSeconds: deps.graceSeconds },
        runtime,
      );
      record(key, {
        state: 'started',
        versionId: rotation.versionId,
        ...(rotation.previousVersionId ? { previousVersionId: rotation.previousVersionId } : {}),
        at: before.at,
      });
      pacer.started(key.provider);
      return 'started';
    } catch (error) {
      if (error instanceof JournalFailed) throw error;
      if (before) {
        // The call may have got through before it failed (a lost answer, then a throttled retry): the
        // secret says; a rotation it started is followed like any other.
        const started = rotationSince(await describeSecret(sm, key.secret), before);
        if (started) {
          record(key, { state: 'started', ...started, at: before.at });
          return 'started';
        }
      }
      if (isThrottling(error)) {
        record(key, { state: 'planned' }); // a throttled request changes nothing
        return 'throttled';
      }
      record(key, {
        state: 'failed',
        code: errorCode(error),
        reason: error instanceof Error ? error.message : String(error),
        ...(before ? { seconds: secondsSince(before.at) } : {}),
      });
      return 'failed';
    }
  };

  const start = async (key: JournalKey): Promise<void> => {
    for (let attempt = 0; ; attempt++) {
      const permit = await pacer.acquire(key.provider);
      if (!permit) return; // interrupted: the key stays planned
      try {
        const outcome = await startOnce(key);
        if (outcome === 'started') await follow(key);
        if (outcome !== 'throttled') return;
      } finally {
        permit.release();
      }
      // Throttled: slower (the pacer heard it), later, again.
      await delay(pacer.backoffMs(attempt), undefined, { signal: stop.signal }).catch(() => {});
    }
  };

  const follow = async (key: JournalKey): Promise<void> => {
    const status = key.status;
    if (status.state !== 'started') return;
    let slowedDown = false;
    const rotation = {
      arn: key.secret,
      versionId: status.versionId,
      previousVersionId: status.previousVersionId,
    };
    const followed: FollowedRotation = await followRotation(sm, rotation, {
      emergency: deps.emergency,
      graceSeconds: deps.graceSeconds,
      timeoutMs: deps.timeoutMs,
      intervalMs: POLL_MS,
      signal: stop.signal,
      // A step that failed on throttling is re-attempted by Secrets Manager itself: slow down, keep waiting.
      waitPast: (failure) => {
        const throttled = THROTTLING.includes(failure.code) || failure.code === 'PROVIDER_RATE_LIMITED';
        if (throttled && !slowedDown) {
          slowedDown = true;
          pacer.throttled(failure.code === 'PROVIDER_RATE_LIMITED' ? key.provider : undefined);
        }
        return throttled;
      },
    });
    if (stop.signal.aborted && followed.status === 'running') return; // stays started: a resume follows it
    if (followed.status === 'promoted' || followed.status === 'old-key-revoked') {
      record(key, {
        ...status,
        state: 'done',
        status: followed.status,
        seconds: secondsSince(status.at) ?? 0,
      });
      return;
    }
    record(key, {
      state: 'failed',
      versionId: status.versionId,
      code: 'code' in followed ? followed.code : FOLLOW_CODES[followed.status],
      reason: describeFollowed(followed, { secret: key.name, versionId: status.versionId }, deps.timeoutMs),
      ...(status.at === undefined ? {} : { seconds: secondsSince(status.at) }),
    });
  };

  const rotateKey = async (key: JournalKey): Promise<void> => {
    try {
      await settleStarting(key);
      if (key.status.state === 'started') {
        const permit = await pacer.acquire(key.provider, { start: false });
        if (!permit) return;
        try {
          await follow(key);
        } finally {
          permit.release();
        }
      } else if (key.status.state === 'planned') await start(key);
    } catch (error) {
      if (error instanceof JournalFailed) return;
      // AWS did not answer about this key (after the SDK's retries): its entry stays as it is — a rotation
      // may be running — and a resume looks again.
      run.unsettled.push({ name: key.name, reason: error instanceof Error ? error.message : String(error) });
    }
  };

  try {
    await Promise.all(journal.keys.map(rotateKey));
  } finally {
    deps.interrupt.removeEventListener('abort', onInterrupt);
    pacer.close();
  }
  return run;
}

/** The code a fleet run records for a rotation that ended without a failure of its own. */
const FOLLOW_CODES = {
  running: 'ROTATION_TIMEOUT',
  superseded: 'ROTATION_SUPERSEDED',
  'revocation-timeout': 'REVOCATION_TIMEOUT',
} as const;

/** What the secret held before a start: AWSCURRENT's version, and a pending one left by another run. */
function beforeVersions(metadata: DescribeSecretCommandOutput) {
  const current = versionWithStage(metadata, AWSCURRENT);
  const pending = versionWithStage(metadata, AWSPENDING);
  return {
    ...(current ? { previousVersionId: current } : {}),
    ...(pending && pending !== current ? { pendingVersionId: pending } : {}),
  };
}

/**
 * The rotation a start got going, judged from the secret: a version pending that was not pending before,
 * else a new AWSCURRENT (it already finished). Undefined: the start did not get through.
 */
function rotationSince(
  metadata: DescribeSecretCommandOutput,
  before: { previousVersionId?: string | undefined; pendingVersionId?: string | undefined },
): { versionId: string; previousVersionId?: string } | undefined {
  const current = versionWithStage(metadata, AWSCURRENT);
  const pending = versionWithStage(metadata, AWSPENDING);
  const previous = before.previousVersionId ? { previousVersionId: before.previousVersionId } : {};
  if (pending && pending !== current && pending !== before.pendingVersionId)
    return { versionId: pending, ...previous };
  if (current && before.previousVersionId && current !== before.previousVersionId)
    return { versionId: current, ...previous };
  return undefined;
}

/** `rekey rotate --all | --tag | --provider …` and `--resume`: plan (or read) the run, pace it, report it. */
export async function rotateFleet(request: FleetRequest, io: CommandIO): Promise<number> {
  let resumed: Journal | undefined;
  try {
    if (request.mode === 'resume') resumed = Journal.read(request.resume);
  } catch (error) {
    return reportError(io, 'rotate', error, request.json);
  }
  const planned = request.mode === 'fleet' ? request : resumed!.document;
  let runtime: CliRuntime;
  try {
    runtime = cliRuntime(io, planned.inventory);
  } catch (error) {
    return reportError(io, 'rotate', error, request.json);
  }
  const pacer = new Pacer(
    { ratePerSecond: request.pace.ratePerSecond, concurrency: request.pace.concurrency },
    (provider) => providerPace(provider, request.pace),
  );
  // Every throttled answer Secrets Manager gives the CLI, retried by the SDK or not, slows the fleet down.
  runtime.secretsManager.middlewareStack.add(
    (next) => async (args) => {
      try {
        return await next(args);
      } catch (error) {
        if (isThrottling(error)) pacer.throttled();
        throw error;
      }
    },
    { step: 'deserialize', priority: 'high', name: 'rekeyFleetThrottling' },
  );
  try {
    const journal =
      resumed ?? (await planRun(request as Extract<FleetRequest, { mode: 'fleet' }>, runtime, io));
    if (typeof journal === 'number') return journal;
    if (planned.emergency) warnWithoutLease(io, runtime, 'rotate');
    return await runWithProgress(journal, request, runtime, pacer, io);
  } catch (error) {
    return reportError(io, 'rotate', error, request.json);
  } finally {
    pacer.close();
    destroy(runtime);
  }
}

/** Selects the keys and writes the new run's journal — or prints the dry run's plan: its exit code. */
async function planRun(
  request: Extract<FleetRequest, { mode: 'fleet' }>,
  runtime: CliRuntime,
  io: CommandIO,
): Promise<Journal | number> {
  const plans = loadInventory(request.inventory, Object.keys(PROVIDERS));
  const keys = await selectKeys(plans, request.selection, runtime.secretsManager);
  if (keys.length === 0)
    return reportError(
      io,
      'rotate',
      new Error(
        `${request.selection.given.join(' ')} selects no key of ${request.inventory}; see \`rekey status\` for the keys it holds`,
      ),
      request.json,
    );
  const runId = newRunId();
  const document: JournalDocument = {
    format: JOURNAL_FORMAT,
    runId,
    createdAt: new Date().toISOString(),
    inventory: resolve(request.inventory),
    selection: request.selection.given,
    emergency: request.emergency,
    graceSeconds: request.graceSeconds,
    keys,
  };
  if (request.dryRun) {
    const plan: FleetPlan = {
      ...document,
      pace: paceReport(keys, request.pace),
      estimatedSeconds: estimateSeconds(keys, request.pace),
    };
    io.out(request.json ? JSON.stringify({ dryRun: true, ...planJson(plan) }, null, 2) : formatPlan(plan));
    return 0;
  }
  // The account answers before anything is written or started (credentials, Region, endpoint).
  const first = keys.find((k) => k.status.state === 'planned');
  if (first) await describeSecret(runtime.secretsManager, first.secret);
  return Journal.create(request.journal ?? defaultJournalPath(runId), document);
}

async function runWithProgress(
  journal: Journal,
  request: FleetRequest,
  runtime: CliRuntime,
  pacer: Pacer,
  io: CommandIO,
): Promise<number> {
  const started = Date.now();
  const { emergency, graceSeconds } = journal.document;
  const progress = new FleetProgress(io, journal, request.pace, {
    json: request.json,
    estimateSeconds: estimateSeconds(journal.keys, request.pace),
    rate: () => pacer.stats.ratePerSecond,
  });
  // Ctrl-C: no new rotation starts; the running ones go on in AWS and a resume follows them. A second
  // Ctrl-C is Node's default again (the journal is consistent at every write).
  const interrupt = new AbortController();
  const onSigint = () => interrupt.abort();
  process.once('SIGINT', onSigint);
  let run: FleetRun;
  try {
    run = await runFleet({
      runtime,
      pacer,
      journal,
      interrupt: interrupt.signal,
      emergency,
      graceSeconds,
      timeoutMs: request.timeoutMs,
      onChange: (key) => progress.changed(key),
    });
  } finally {
    process.removeListener('SIGINT', onSigint);
    progress.end();
  }
  const report = fleetReport(journal, pacer.stats, (Date.now() - started) / 1000, run);
  io.out(request.json ? JSON.stringify(report, null, 2) : formatSummary(report));
  const resumeHint = `rekey rotate --resume ${journal.path}`;
  for (const { name, reason } of run.unsettled)
    io.err(`rekey rotate: ${name}: could not be followed to the end (${reason}); ${resumeHint} looks again`);
  if (run.fatal) {
    const reason = run.fatal instanceof Error ? run.fatal.message : String(run.fatal);
    io.err(
      `rekey rotate: could not write the journal ${journal.path} (${reason}); stopped starting rotations — those already started go on in AWS. Fix it, then resume with: ${resumeHint}`,
    );
    return 1;
  }
  if (run.interrupted) {
    io.err(
      `rekey rotate: interrupted — no new rotation was started; those already started go on in AWS. To finish, resume with: ${resumeHint}`,
    );
    return 130;
  }
  const { keys, rotated, skipped } = report.totals;
  return rotated + skipped === keys ? 0 : 1;
}

function planJson(plan: FleetPlan) {
  return {
    selection: plan.selection,
    inventory: plan.inventory,
    emergency: plan.emergency,
    pace: plan.pace,
    estimatedSeconds: plan.estimatedSeconds,
    keys: plan.keys.map((k, i) => ({
      order: i + 1,
      name: k.name,
      secret: k.secret,
      provider: k.provider,
      ...(k.status.state === 'skipped' ? { skipped: k.status.reason } : {}),
    })),
  };
}
