import type { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { SchedulerClient } from '@aws-sdk/client-scheduler';
import {
  DescribeSecretCommand,
  ListSecretVersionIdsCommand,
  RotateSecretCommand,
  type SecretsManagerClient,
  TagResourceCommand,
} from '@aws-sdk/client-secrets-manager';
import type { SNSClient } from '@aws-sdk/client-sns';
import { publishAlert } from '../../lambdas/alerts.js';
import type { LeaseDeps } from '../../lambdas/lease.js';
import type { ProviderDefinition } from '../../lambdas/providers/types.js';
import { type RevocationDeps, revocationHandOver, revokePreviousKey } from '../../lambdas/revocation.js';
import { rollbackFromEvent } from '../../lambdas/rollback.js';
import { type RotationDeps, runRotationStep } from '../../lambdas/rotation.js';
import { parseManagedKey } from '../../lambdas/secret-format.js';
import { startRotation } from '../../lambdas/start-rotation.js';
import { SINGLE_KEY_OPT_IN, TAGS, tagMap } from '../../lambdas/tags.js';
import type { ManagedKeyPlan } from '../../lib/inventory.js';
import { rateFromFrequency } from '../../lib/schedule.js';
import { seededRandom } from '../../local/rehearsal/rehearsal.js';
import { SendGridRotationEnv } from '../support/managed-key-env.js';
import { testRoute } from '../support/rotation-env-base.js';

/**
 * The fault harness (issue 12): for every actor that changes a managed key and every external call it
 * makes, it crashes the actor's process right after the call, loses the call's response (the server
 * committed; the caller sees a 500 and its SDK or transport decides what to do), or delivers the actor's
 * invocation twice — then lets the system's own retries run (Secrets Manager's re-attempts, Lambda's
 * asynchronous retries, the revoker's re-schedules, lease expiry) and checks the invariants. It also runs
 * pairs of actors on one secret concurrently, interleaved at their calls by seeded schedules.
 *
 * Everything goes through the public surfaces: real SDK clients against the loopback endpoint, the SendGrid
 * sandbox over HTTP (SendGrid shows a key's value only at creation — the hardest case for crash recovery).
 */

export type FaultKind = 'crash-after' | 'lose-response' | 'deliver-twice';
export const FAULT_KINDS: readonly FaultKind[] = ['crash-after', 'lose-response', 'deliver-twice'];

export type ActorName = 'rotation' | 'revoker' | 'rollback' | 'emergency' | 'import' | 'single-key';
export const ACTORS: readonly ActorName[] = [
  'rotation',
  'revoker',
  'rollback',
  'emergency',
  'import',
  'single-key',
];

/**
 * One fault: for crash-after and lose-response `at` is the actor's call index; for deliver-twice its process
 * index, and `seed` the schedule that interleaves the two deliveries.
 */
export interface Fault {
  actor: ActorName;
  kind: FaultKind;
  at: number;
  seed?: number;
}

/** A test-only switch that turns one protection off, to prove the harness catches its absence. */
export type Disabled = 'lease' | 'create-lookup';

export interface RunResult {
  label: string;
  breaches: string[];
  /** The calls each actor made, in order (the enumeration's source). */
  calls: Array<{ actor: string; label: string }>;
  processes: Record<string, number>;
}

const MINUTE = 60_000;

interface Process {
  actor: string;
  crashed: boolean;
  onCrash: Promise<never>;
  crash(): void;
}

/**
 * Interleaves concurrent processes at their external calls: each call is a turn; when a process asks for its
 * next call it gives up its turn, and once every live process is waiting the seeded random picks which one
 * goes. So a schedule is a sequence of choices at call boundaries — every interleaving of two actors is some
 * seed's schedule.
 */
class TurnScheduler {
  private readonly live = new Set<Process>();
  private readonly waiting = new Map<Process, () => void>();
  private holder: Process | undefined;

  constructor(private readonly random: () => number) {}

  enter(process: Process): void {
    this.live.add(process);
  }

  leave(process: Process): void {
    this.live.delete(process);
    if (this.holder === process) this.holder = undefined;
    this.pick();
  }

  turn(process: Process): Promise<void> {
    if (this.holder === process) this.holder = undefined;
    return new Promise((resolve) => {
      this.waiting.set(process, resolve);
      this.pick();
    });
  }

  private pick(): void {
    if (this.holder || this.waiting.size === 0) return;
    // Wait for every live process to reach its next call (a crashed one never will).
    for (const process of this.live) if (!this.waiting.has(process) && !process.crashed) return;
    const choices = [...this.waiting.keys()];
    const chosen = choices[Math.floor(this.random() * choices.length)]!;
    this.holder = chosen;
    const resolve = this.waiting.get(chosen)!;
    this.waiting.delete(chosen);
    resolve();
  }
}

/** Records calls, applies the planned fault, interleaves by seed, and checks the live invariants after each call. */
class Tracer {
  readonly calls: Array<{ actor: string; label: string }> = [];
  readonly counts = new Map<string, number>();
  readonly processes = new Map<string, number>();
  readonly breaches: string[] = [];
  readonly turns: TurnScheduler | undefined;
  constructor(
    readonly fault: Fault | undefined,
    seed: number | undefined,
    readonly check: (after: string) => Promise<void>,
  ) {
    this.turns = seed === undefined ? undefined : new TurnScheduler(seededRandom(seed));
  }

  process(actor: string): { process: Process; index: number } {
    const index = this.processes.get(actor) ?? 0;
    this.processes.set(actor, index + 1);
    let crash!: () => void;
    const onCrash = new Promise<never>((_, reject) => {
      crash = () => reject(new Error('Task timed out after 300.00 seconds'));
    });
    onCrash.catch(() => undefined);
    const process: Process = {
      actor,
      crashed: false,
      onCrash,
      crash: () => {
        process.crashed = true;
        crash();
        this.turns?.leave(process);
      },
    };
    this.turns?.enter(process);
    return { process, index };
  }

  /** The process's invocation is over: it takes no more turns. */
  ended(process: Process): void {
    this.turns?.leave(process);
  }

  /** Runs one external call of `process` with the planned fault, if it is this call's. */
  async call<T>(
    process: Process,
    label: string,
    send: () => Promise<T>,
    loseResponse: () => void,
  ): Promise<T> {
    if (process.crashed) return new Promise<T>(() => {});
    await this.turns?.turn(process);
    const index = this.counts.get(process.actor) ?? 0;
    this.counts.set(process.actor, index + 1);
    this.calls.push({ actor: process.actor, label });
    const mine = this.fault?.actor === process.actor && this.fault.at === index ? this.fault.kind : undefined;
    if (mine === 'lose-response') loseResponse();
    try {
      return await send();
    } finally {
      await this.check(`${process.actor} ${label}`);
      if (mine === 'crash-after') process.crash();
    }
  }
}

/** One run: a fresh world, a setup, the actors (one or a concurrent pair), the system's own retries, the checks. */
export class FaultRun {
  readonly env = new SendGridRotationEnv();
  private tracer!: Tracer;
  private readonly exempt = new Set<string>();
  private rollbackArn!: string;
  private originalKeyId!: string;

  constructor(private readonly options: { fault?: Fault; seed?: number; disabled?: Disabled } = {}) {}

  /** The interleaving schedule: the run's seed, or a deliver-twice fault's. */
  private seed(): number | undefined {
    return this.options.seed ?? this.options.fault?.seed;
  }

  async run(actors: ActorName[]): Promise<RunResult> {
    const label = this.options.fault
      ? `${this.options.fault.actor} × ${this.options.fault.kind} @${this.options.fault.at}${this.options.fault.seed ? ` seed ${this.options.fault.seed}` : ''}`
      : `${actors.join(' × ')} seed ${this.options.seed ?? 0}`;
    await this.env.start('prod/faults/api-key');
    try {
      this.tracer = new Tracer(this.options.fault, this.seed(), (after) => this.liveCheck(after));
      if (this.options.disabled === 'lease') this.env.lease = undefined;
      this.registerFunctions(actors.includes('single-key') ? 'single-key' : 'rotation');
      await this.setup(actors);
      this.originalKeyId = (await this.env.read('AWSCURRENT')).keyId;
      // An actor may be refused (a second RotateSecret while one runs, a rollback with nothing to undo):
      // that is an answer, not a breach — the invariants judge what it left behind.
      await Promise.all(actors.map((actor) => this.act(actor).catch(() => undefined)));
      await this.settle();
      await this.finalCheck(actors);
      return {
        label,
        breaches: [...new Set(this.tracer.breaches)],
        calls: this.tracer.calls,
        processes: Object.fromEntries(this.tracer.processes),
      };
    } finally {
      await this.env.stop();
    }
  }

  // ── the world, with every client of an actor's process wrapped ────────────────────────────────────

  private wrap<C extends { send: (command: never) => Promise<unknown> }>(
    client: C,
    service: string,
    process: Process,
  ): C {
    const tracer = this.tracer;
    const aws = this.env.aws;
    return new Proxy(client, {
      get(target, prop, receiver) {
        if (prop !== 'send') return Reflect.get(target, prop, receiver);
        return (command: object) => {
          const operation = `${service}.${command.constructor.name.replace(/Command$/, '')}`;
          return tracer.call(
            process,
            operation,
            () => target.send(command as never),
            () => aws.injectFault({ operation, kind: 'after', times: 1 }),
          );
        };
      },
    });
  }

  private fetchFor(process: Process): typeof fetch {
    return (input, init) => {
      const url = new URL(input instanceof Request ? input.url : String(input));
      const method = init?.method ?? 'GET';
      return this.tracer.call(
        process,
        `sendgrid ${method} ${url.pathname.replace(/\/[^/]{16,}$/, '/{id}')}`,
        () => fetch(input, init),
        () =>
          this.env.sandbox.injectFault({
            status: 500,
            after: true,
            times: 1,
            match: (req) => req.method === method && req.path === url.pathname,
          }),
      );
    };
  }

  private clientsOf(process: Process) {
    const env = this.env;
    return {
      sm: this.wrap(env.sm, 'secretsmanager', process) as SecretsManagerClient,
      scheduler: this.wrap(env.scheduler, 'scheduler', process) as SchedulerClient,
      sns: this.wrap(env.sns, 'sns', process) as SNSClient,
      dynamodb: this.wrap(env.dynamodb, 'dynamodb', process) as DynamoDBClient,
      fetch: this.fetchFor(process),
    };
  }

  /** The deps an actor's process uses: the environment's, through its wrapped clients. */
  private revocationDepsOf(process: Process): RevocationDeps {
    const env = this.env;
    const c = this.clientsOf(process);
    const lease: LeaseDeps | undefined = env.lease ? { ...env.lease, dynamodb: c.dynamodb } : undefined;
    const { lease: _lease, ...base } = env.revocationDeps();
    return {
      ...base,
      secretsManager: c.sm,
      scheduler: c.scheduler,
      sns: c.sns,
      http: { ...env.http, fetch: c.fetch },
      providerFor: () => this.provider(),
      ...(lease ? { lease } : {}),
    };
  }

  private rotationDepsOf(process: Process): RotationDeps {
    const env = this.env;
    const revocation = this.revocationDepsOf(process);
    const { secretsManager, logger: _logger, ...forPromotion } = revocation;
    const { lease: _lease, ...base } = env.deps();
    return {
      ...base,
      provider: this.provider(),
      secretsManager,
      http: revocation.http!,
      handOver: revocationHandOver(forPromotion),
      alert: (alert) => publishAlert(revocation.sns, env.alertTopicArn, alert, env.logger),
      ...(revocation.lease ? { lease: revocation.lease } : {}),
    };
  }

  /** The provider adapter, or (test-only switch) one whose lookup by name finds nothing. */
  private provider(): ProviderDefinition {
    const real = this.env.provider;
    if (this.options.disabled !== 'create-lookup') return real;
    return {
      ...real,
      connect: (context) => ({ ...real.connect(context), findKeysByName: async () => [] }),
    } as ProviderDefinition;
  }

  /** Runs an actor's invocation as Lambda would: a crash looks like a timeout; a planned duplicate runs alongside. */
  private invocation(actor: string, work: (process: Process) => Promise<unknown>): Promise<unknown> {
    const tracer = this.tracer;
    const { process, index } = tracer.process(actor);
    const once = (p: Process) => Promise.race([work(p), p.onCrash]).finally(() => tracer.ended(p));
    const fault = this.tracer.fault;
    if (fault?.actor === actor && fault.kind === 'deliver-twice' && fault.at === index) {
      const twin = tracer.process(actor).process;
      return Promise.all([once(process), once(twin)]);
    }
    return once(process);
  }

  private registerFunctions(rotationActor: string): void {
    const env = this.env;
    env.aws.lambdas.register(env.lambdaArn, (event) =>
      this.invocation(rotationActor, (p) => runRotationStep(event, this.rotationDepsOf(p))),
    );
    env.aws.lambdas.register(env.revokerArn, (event) =>
      this.invocation('revoker', (p) => revokePreviousKey(event, this.revocationDepsOf(p))),
    );
    // The key's auth-failure alarm, rollback-enabled and in ALARM, as CloudWatch would report it.
    const rollbackTopicArn = env.aws.sns.createTopic('rekey-rollback');
    env.aws.cloudWatch.putAlarm({
      name: ROLLBACK_ALARM,
      dimensions: { SecretName: env.secretName },
      actions: [rollbackTopicArn],
      state: 'ALARM',
    });
    this.rollbackArn = env.aws.lambdas.register('rekey-rollback', (event) =>
      this.invocation('rollback', (p) =>
        rollbackFromEvent(event, {
          ...this.revocationDepsOf(p),
          cloudWatch: this.wrap(env.cloudWatch, 'monitoring', p) as CloudWatchClient,
          rollbackTopicArn,
        }),
      ),
    );
  }

  // ── setups and actors ─────────────────────────────────────────────────────────────────────────────

  private async setup(actors: ActorName[]): Promise<void> {
    const env = this.env;
    if (actors.includes('single-key')) {
      env.redeploy(testRoute(env.secretName, 'sendgrid', { singleKey: true }));
      await env.sm.send(
        new TagResourceCommand({
          SecretId: env.secretArn,
          Tags: [{ Key: TAGS.singleKey, Value: SINGLE_KEY_OPT_IN }],
        }),
      );
    }
    // Revoker and rollback act on a rotation that already happened (unfaulted: the rotation actor's own
    // faults are their own runs).
    if (actors.includes('revoker') || actors.includes('rollback')) {
      const fault = this.tracer.fault;
      this.tracer = new Tracer(undefined, undefined, (after) => this.liveCheck(after));
      await env.rotate();
      this.tracer = new Tracer(fault, this.seed(), (after) => this.liveCheck(after));
    }
  }

  private async act(actor: ActorName): Promise<void> {
    const env = this.env;
    switch (actor) {
      case 'rotation':
      case 'single-key':
        await env.sm.send(new RotateSecretCommand({ SecretId: env.secretArn }));
        await env.aws.secretsManager.settled();
        return;
      case 'revoker':
        env.clock.advance(61 * MINUTE);
        await env.aws.runDue();
        return;
      case 'rollback':
        await env.aws.lambdas.invokeAsync(this.rollbackArn, alarmEvent(env.secretName));
        return;
      case 'emergency': {
        await this.byPerson('emergency', (p) =>
          startRotation(env.secretName, { emergency: true }, this.revocationDepsOf(p)),
        );
        await env.aws.secretsManager.settled();
        return;
      }
      case 'import':
        return this.importActor();
    }
  }

  /** import: the app's key made by hand is stored into the managed secret as its new current version. */
  private async importActor(): Promise<void> {
    const env = this.env;
    const { importKey } = await import('../../bin/commands/import.js');
    const made = env.sandbox.seedKey('made-by-hand', ['mail.send']);
    env.secretValues.add(made.value);
    // The key it replaces was the app's until now: the person revokes it by hand, not rekey.
    this.exempt.add(this.originalKeyId);
    await this.byPerson('import', (p) => {
      const c = this.clientsOf(p);
      return importKey(
        c.sm,
        {
          plan: importPlan(env),
          value: made.value,
          keyId: made.id,
          endpoint: env.sandbox.url,
          force: true,
        },
        env.lease ? { ...env.lease, dynamodb: c.dynamodb } : undefined,
      );
    });
  }

  /**
   * A command a person runs: if it dies or is refused, they wait a few minutes (a crashed run's lease
   * expires meanwhile) and run it once more — what an operator does.
   */
  private async byPerson(actor: string, work: (process: Process) => Promise<unknown>): Promise<void> {
    try {
      await this.invocation(actor, work);
    } catch {
      await this.env.aws.secretsManager.settled();
      this.env.clock.advance(5 * MINUTE);
      await this.env.aws.runDue();
      await this.invocation(actor, work).catch(() => undefined);
    }
  }

  /** Lets the system's own retries run: lease expiry, Lambda's async retries, re-attempts, re-schedules. */
  private async settle(): Promise<void> {
    const aws = this.env.aws;
    for (let step = 0; step < 240; step++) {
      await aws.secretsManager.settled();
      await aws.lambdas.settled();
      const busy =
        aws.scheduler.list().length > 0 ||
        aws.lambdas.pendingRetries() > 0 ||
        aws.secretsManager.pendingReattempts().length > 0;
      if (!busy && step > 0) return;
      this.env.clock.advance(5 * MINUTE);
      await aws.runDue();
    }
    this.tracer.breaches.push('the system did not settle within 20 simulated hours');
  }

  // ── invariants ────────────────────────────────────────────────────────────────────────────────────

  /** Invariants 1 and 2 at every instant: the key labelled AWSCURRENT is one SendGrid accepts. */
  private async liveCheck(after: string): Promise<void> {
    const env = this.env;
    const value = env.aws.secretsManager.peekValue(env.secretArn);
    if (value === undefined) return;
    const doc = tryParse(value, env.secretName);
    if (!doc) return;
    const tags = tagMap((await env.sm.send(new DescribeSecretCommand({ SecretId: env.secretArn }))).Tags);
    // A single-key rotation revokes the current key on purpose; its interruption is measured, not a breach.
    if (tags[TAGS.interruptionStartedAt] !== undefined) return;
    if (!env.sandbox.accepts(doc.key))
      this.tracer.breaches.push(
        `invariant 1/2: AWSCURRENT key ${doc.keyId} is not accepted (after ${after})`,
      );
  }

  private async finalCheck(actors: ActorName[]): Promise<void> {
    const env = this.env;
    const breaches = this.tracer.breaches;
    const current = await env.read('AWSCURRENT');
    if (!env.sandbox.accepts(current.key))
      breaches.push(`invariant 1: AWSCURRENT key ${current.keyId} is not accepted at the end`);
    // Invariant 3: exactly one provider key per version.
    const versions = await env.sm.send(
      new ListSecretVersionIdsCommand({ SecretId: env.secretArn, IncludeDeprecated: true }),
    );
    for (const v of versions.Versions ?? []) {
      const named = env.appKeys().filter((k) => k.name.endsWith(v.VersionId!));
      if (named.length > 1)
        breaches.push(
          `invariant 3: version ${v.VersionId} has ${named.length} provider keys (${named.map((k) => k.id).join(', ')})`,
        );
    }
    // Invariant 4: no orphan — every key at SendGrid is one a labelled version holds (or the person's).
    const labelled = new Set(
      env.aws.secretsManager
        .labelledValues(env.secretArn)
        .map((value) => tryParse(value, env.secretName)?.keyId)
        .filter((id): id is string => id !== undefined),
    );
    for (const key of env.appKeys())
      if (!labelled.has(key.id) && !this.exempt.has(key.id))
        breaches.push(
          `invariant 4: provider key ${key.id} (${key.name}) is orphaned — no labelled version holds it`,
        );
    // Invariant 5: no secret value in any log line, alert or schedule input.
    if (env.leakedLines().length > 0)
      breaches.push(`invariant 5: ${env.leakedLines().length} log line(s) carry a secret value`);
    const secrets = [...env.secretValues, ...env.sandbox.issuedSecrets()];
    const published = JSON.stringify(env.alerts());
    if (secrets.some((s) => published.includes(s)))
      breaches.push('invariant 5: an alert carries a secret value');
    // The old key is eventually revoked, or an alert says why not.
    const rotated = current.keyId !== this.originalKeyId && !actors.includes('import');
    if (rotated && env.appKeys().some((k) => k.id === this.originalKeyId)) {
      const explained = env
        .alerts()
        .some((a) =>
          ['revocation-gave-up', 'revocation-failed', 'revocation-aborted', 'rolled-back'].includes(
            String(a.message.event),
          ),
        );
      if (!explained) breaches.push(`the old key ${this.originalKeyId} is still valid and no alert says why`);
    }
  }
}

function tryParse(value: string, secretId: string) {
  try {
    return parseManagedKey(value, { secretId });
  } catch {
    return undefined;
  }
}

const ROLLBACK_ALARM = 'rekey-AuthFailureSpike-faults';

/** The SNS notification a per-key auth-failure alarm sends the rollback function. */
function alarmEvent(secretName: string) {
  return {
    Records: [
      {
        Sns: {
          Message: JSON.stringify({
            AlarmName: ROLLBACK_ALARM,
            NewStateValue: 'ALARM',
            Trigger: { Dimensions: [{ name: 'SecretName', value: secretName }] },
          }),
        },
      },
    ],
  };
}

function importPlan(env: SendGridRotationEnv): ManagedKeyPlan {
  return {
    name: 'faults',
    provider: 'sendgrid',
    providerLabel: 'SendGrid',
    secretName: env.secretName,
    rotatorSecret: env.rotatorArn,
    options: {},
    imported: true,
    singleKey: false,
    schedule: rateFromFrequency('30d'),
    frequencySeconds: 30 * 86_400,
    gracePeriod: '1h',
    graceSeconds: 3600,
    alertOnFailure: true,
    rollbackOnFailure: false,
    authFailureBaseline: 0,
    usedBy: [],
  };
}

/** Interleaved pairs the harness runs under seeded schedules. */
export const PAIRS: ReadonlyArray<[ActorName, ActorName]> = [
  ['rotation', 'rollback'],
  ['revoker', 'rollback'],
  ['rollback', 'rollback'],
  ['revoker', 'revoker'],
  ['emergency', 'rotation'],
  ['emergency', 'revoker'],
  ['rotation', 'rotation'],
];

/** Schedules that interleave each duplicated delivery with its twin. */
const DUPLICATE_SCHEDULES = 8;

/** Every single-actor fault: first a clean run of each actor to learn its calls and processes. */
export async function enumerateFaults(actors: readonly ActorName[] = ACTORS): Promise<{
  faults: Fault[];
  clean: RunResult[];
}> {
  const faults: Fault[] = [];
  const clean: RunResult[] = [];
  for (const actor of actors) {
    const result = await new FaultRun().run([actor]);
    clean.push(result);
    const calls = result.calls.filter((c) => c.actor === actor).length;
    for (let at = 0; at < calls; at++) {
      faults.push({ actor, kind: 'crash-after', at });
      faults.push({ actor, kind: 'lose-response', at });
    }
    for (let at = 0; at < (result.processes[actor] ?? 0); at++)
      for (let seed = 1; seed <= DUPLICATE_SCHEDULES; seed++)
        faults.push({ actor, kind: 'deliver-twice', at, seed });
  }
  return { faults, clean };
}
