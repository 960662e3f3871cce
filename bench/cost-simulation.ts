/**
 * The cost model's counts: a fleet of app instances reading a key through each library on the loopback
 * endpoint, on a manual clock, for a simulated month (or, for a library that reads every few seconds, a
 * simulated hour scaled to the month — the row says so). Every instance calls its provider every
 * CALL_EVERY_MS; a rotation lands halfway, the revoker records the revocation once the grace is over, and
 * the key-age monitor runs hourly as the stack schedules it. What the loopback answered (GetSecretValue,
 * DescribeSecret, BatchGetSecretValue) and the EMF lines the client and the monitor wrote are the counts.
 *
 * Each peer's library reads time through Date (Powertools' cache, middy's expiry, the SDK cache): Date is
 * pointed at the manual clock while a run lasts. middy re-reads on a timer as well as on an expired
 * access; with the timer in real time, the expired access does the re-read — one per expiry either way.
 */
import {
  CreateSecretCommand,
  PutSecretValueCommand,
  SecretsManagerClient,
  TagResourceCommand,
} from '@aws-sdk/client-secrets-manager';
import { KeyClient } from '../client/index.js';
import { parseDurationSeconds } from '../lambdas/duration.js';
import { publishKeyAges } from '../lambdas/key-age.js';
import { Logger } from '../lambdas/logger.js';
import { TAGS } from '../lambdas/tags.js';
import { FLEET_ALARM_METRICS } from '../lib/fleet-alarms.js';
import { DEFAULT_GRACE_PERIOD } from '../lib/inventory.js';
import { startLoopbackAws } from '../local/aws/server.js';
import { ManualClock } from '../local/clock.js';
import { contenders } from './contenders.js';
import { type Measured, metricHoursOf } from './cost-model.js';

const HOUR = 3_600_000;
/** Each instance's provider calls: a busy service, and at least one per maximum age of every library. */
export const CALL_EVERY_MS = 5_000;
/** The rekey client's default flush interval (KeyClientOptions.metrics). */
const FLUSH_EVERY_MS = 60_000;
/** The inventory's default grace period, and a rotation_frequency of 30 days (the monitor's threshold). */
export const DEFAULT_GRACE = DEFAULT_GRACE_PERIOD;
const ROTATION_FREQUENCY_S = 30 * 86_400;

/** One simulated app instance: reads its keys the library's way. */
interface Instance {
  read(): Promise<unknown>;
  flush(): void;
  close(): void;
}

export interface Run {
  /** Row label. */
  name: string;
  instances: number;
  windowMs: number;
  keys: number;
  /** The grace tag of the keys. */
  grace: string;
  /** rekey's stack runs beside it (the hourly key-age monitor). */
  stack: boolean;
  make: (secretIds: string[], sink: (line: string) => void, now: () => number) => Instance;
}

const alarmed = (metric: string, dimensions: string[]) =>
  FLEET_ALARM_METRICS.some(
    (m) => m.metric === metric && [...m.dimensions].sort().join() === [...dimensions].sort().join(),
  );

/** rekey's KeyClient at its defaults (rotation-aware TTL from the grace tag), `get()` or `getMany()`. */
export function rekeyInstance(
  secretIds: string[],
  sink: (line: string) => void,
  now: () => number,
): Instance {
  const client = new KeyClient({ now, metrics: { sink, flushIntervalMs: 0 } });
  return {
    read: () => (secretIds.length === 1 ? client.get(secretIds[0]!) : client.getMany(secretIds)),
    flush: () => client.flush(),
    close: () => client.close(),
  };
}

/** A peer from bench/contenders.ts at `maxAgeS`, on one key. */
export function peerInstance(name: string, maxAgeS: number): Run['make'] {
  return (secretIds) => {
    const [peer] = contenders(secretIds[0]!, maxAgeS, name);
    if (!peer) throw new Error(`no contender named ${name}`);
    return { read: () => peer.get(), flush: () => {}, close: () => peer.close() };
  };
}

const RealDate = Date;

/**
 * Date on the manual clock: `new Date()` and `Date.now()` are the simulated time (Powertools' cache sets its
 * expiry with `new Date()` and checks it with `Date.now()`; middy and the SDK cache use `Date.now()`).
 */
function simulatedDate(clock: ManualClock): DateConstructor {
  const at = () => clock.now().getTime();
  class SimulatedDate extends RealDate {
    constructor(...args: [] | [string | number | Date]) {
      if (args.length === 0) super(at());
      else super(args[0]);
    }
    static override now(): number {
      return at();
    }
  }
  return SimulatedDate as DateConstructor;
}

/** The key document rekey stores (README "Secret format"), for key `n`. */
const documentFor = (n: number, at: Date) =>
  JSON.stringify({
    provider: 'sendgrid',
    key: `SG.cost-model-key-${n}`,
    keyId: `key-${n}`,
    createdAt: at.toISOString(),
    rotatorSecretArn: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:rekey/rotator/sendgrid-AbCdEf',
    options: {},
  });

/** Runs every `run` on one loopback endpoint, each from the same start on fresh secrets. */
export async function simulate(runs: Run[]): Promise<Map<string, Measured>> {
  const start = new Date('2026-01-01T00:00:00Z');
  const clock = new ManualClock(start);
  const aws = await startLoopbackAws({ clock });
  const sm = new SecretsManagerClient({});
  const logger = new Logger(() => {}, {}, 'error');
  const results = new Map<string, Measured>();
  try {
    for (const [index, run] of runs.entries()) {
      clock.set(start);
      const names = Array.from({ length: run.keys }, (_, k) => `cost/${index}/key-${k}`);
      for (const name of names)
        await sm.send(
          new CreateSecretCommand({
            Name: name,
            SecretString: documentFor(1, clock.now()),
            Tags: [{ Key: TAGS.gracePeriod, Value: run.grace }],
          }),
        );
      const lines: string[] = [];
      const sink = (line: string) => lines.push(line);
      const count = () => ({
        getSecretValue: aws.count('secretsmanager.GetSecretValue'),
        describeSecret: aws.count('secretsmanager.DescribeSecret'),
        batchGetSecretValue: aws.count('secretsmanager.BatchGetSecretValue'),
      });
      globalThis.Date = simulatedDate(clock);
      const instances = Array.from({ length: run.instances }, () =>
        run.make(names, sink, () => clock.now().getTime()),
      );
      const before = count();
      const rotateAt = run.windowMs / 2;
      const graceMs = (parseDurationSeconds(run.grace) ?? 0) * 1000;
      let rotated = false;
      let revoked = false;
      let batchSecrets = 0;
      const batchesBefore = before.batchGetSecretValue;
      for (let t = CALL_EVERY_MS; t <= run.windowMs; t += CALL_EVERY_MS) {
        clock.set(new Date(start.getTime() + t));
        if (!rotated && t >= rotateAt) {
          rotated = true;
          for (const name of names) {
            await sm.send(
              new PutSecretValueCommand({ SecretId: name, SecretString: documentFor(2, clock.now()) }),
            );
            await sm.send(
              new TagResourceCommand({
                SecretId: name,
                Tags: [
                  { Key: TAGS.revokeDueAt, Value: new Date(clock.now().getTime() + graceMs).toISOString() },
                  { Key: TAGS.revokeKeyId, Value: 'key-1' },
                ],
              }),
            );
          }
        }
        if (rotated && !revoked && t >= rotateAt + graceMs) {
          revoked = true;
          for (const name of names)
            await sm.send(
              new TagResourceCommand({
                SecretId: name,
                Tags: [{ Key: TAGS.lastRevokedKeyId, Value: 'key-1' }],
              }),
            );
        }
        for (const instance of instances) await instance.read();
        if (t % FLUSH_EVERY_MS === 0) for (const instance of instances) instance.flush();
        if (run.stack && t % HOUR === 0)
          await publishKeyAges(
            names.map((name) => ({ name })),
            {
              secretsManager: sm,
              logger,
              emit: sink,
              now: () => clock.now(),
              publishFromSeconds: ROTATION_FREQUENCY_S,
            },
          );
      }
      for (const instance of instances) instance.close();
      globalThis.Date = RealDate;
      const after = count();
      // A batch returns every secret it names (the loopback's Errors stay empty here).
      batchSecrets = (after.batchGetSecretValue - batchesBefore) * run.keys;
      const hours = metricHoursOf(lines, alarmed);
      results.set(run.name, {
        instances: run.instances,
        windowMs: run.windowMs,
        keys: run.keys,
        getSecretValue: after.getSecretValue - before.getSecretValue,
        describeSecret: after.describeSecret - before.describeSecret,
        batchGetSecretValue: after.batchGetSecretValue - before.batchGetSecretValue,
        batchSecrets,
        emfBytes: lines.reduce((n, l) => n + Buffer.byteLength(l) + 1, 0),
        metricHours: hours.metricHours,
        alarmMetricHours: hours.alarmMetricHours,
      });
    }
  } finally {
    globalThis.Date = RealDate;
    sm.destroy();
    await aws.stop();
  }
  return results;
}
