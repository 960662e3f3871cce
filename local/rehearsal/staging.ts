import {
  DescribeSecretCommand,
  type DescribeSecretCommandOutput,
  GetSecretValueCommand,
  type SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { GetCallerIdentityCommand, type STSClient } from '@aws-sdk/client-sts';
import { KeyClient } from '../../client/index.js';
import { Logger } from '../../lambdas/logger.js';
import type {
  ProviderClient,
  ProviderDefinition,
  ProviderHttpSettings,
} from '../../lambdas/providers/types.js';
import { type KeyRoute, type KeyRoutes, routeGraceSeconds } from '../../lambdas/routes.js';
import type { ManagedKey } from '../../lambdas/secret-format.js';
import { AWSCURRENT, connectProvider, readManagedKey, versionWithStage } from '../../lambdas/secrets.js';
import { startRotation } from '../../lambdas/start-rotation.js';
import { TAGS, tagMap } from '../../lambdas/tags.js';
import { CapturedLogs } from '../captured-logs.js';
import { AuthRejected, Fleet } from './fleet.js';
import type { TimelineEvent, TimelineEventKind } from './monitor.js';
import type { InvariantResult, RehearsalReport, ScenarioResult } from './rehearsal.js';
import type { WorldKey } from './world.js';

/**
 * `rekey rehearse --target staging`: the rehearsal's rotation scenarios against a real account (or
 * LocalStack, or the loopback endpoint in tests) where rekey's stack is deployed. Only public APIs: STS to
 * name the account, Secrets Manager through the SDK (RotateSecret runs the DEPLOYED rotation function, the
 * DEPLOYED revoker revokes the old key on its schedule), and the providers through rekey's own adapters,
 * bound to each key's rotator credential exactly as the rotation function binds them.
 */

export const STAGING_SCENARIOS = [
  {
    name: 'rotation',
    guide:
      'Test rotation in staging first: a real rotation, both keys valid in the grace period, old key revoked by the deployed revoker',
    zeroDowntime: true,
  },
  {
    name: 'emergency-rotation',
    guide: 'Emergency rotation capability (single command), grace 0: time until the old key is rejected',
    zeroDowntime: true,
  },
] as const;

export type StagingScenarioName = (typeof STAGING_SCENARIOS)[number]['name'];

export interface StagingOptions {
  /** Names or ARNs of managed keys already deployed and imported. */
  secrets: string[];
  /** Application instances, spread over the secrets. Default 2 per secret. */
  instances?: number;
  /** Calls per second across the fleet. Default 1 per secret (real providers rate-limit). */
  rps?: number;
  /** Default both, in this order. */
  scenarios?: StagingScenarioName[];
  /** How long to wait for the deployed revoker, per key. Default: the key's grace period + 10 min. */
  graceTimeoutSeconds?: number;
  /** How long to wait for a started rotation to move AWSCURRENT. Default 300 s. */
  rotationTimeoutSeconds?: number;
  /** Provider API base URLs (provider sandboxes, test accounts); default each provider's public API. */
  endpoints?: Record<string, string>;
  /** Invariant sampling interval. Default 5000 ms. */
  monitorIntervalMs?: number;
  /** Polling interval while waiting for promotion and revocation. Default 2000 ms. */
  pollIntervalMs?: number;
  /** The account id the operator confirmed; the run refuses unless it is the caller's account. */
  confirmedAccountId: string;
  /** AWS endpoint the clients use, for the banner and report (default: AWS_ENDPOINT_URL, else AWS's). */
  endpoint?: string;
  /** The fleet's rekey client settings (real time). */
  client?: { ttlMs?: number; jitterMs?: number; retryDelayMs?: number };
  http?: ProviderHttpSettings;
}

export interface StagingDeps {
  secretsManager: SecretsManagerClient;
  sts: STSClient;
  /** Where the runner's log lines go besides the capture the secret scan reads (e.g. stderr). */
  logSink?: (line: string) => void;
  /** The capture the secret scan reads; default a fresh one. */
  logs?: CapturedLogs;
  now?: () => Date;
  sleep?: (ms: number) => Promise<void>;
  providerNamed: (name: string) => ProviderDefinition;
  /** The inventory the stack was deployed from: only its keys are rehearsed, as it configures them. */
  routes: KeyRoutes;
}

export interface StagingSecretPlan {
  /** As given on the command line. */
  input: string;
  name: string;
  arn: string;
  provider: string;
  keyId: string;
  keyName: string | undefined;
  versionId: string;
  graceSeconds: number;
  rotationFunction: string | undefined;
  /** What the deployed inventory pins for the secret. */
  route: KeyRoute;
}

export interface StagingPlan {
  accountId: string;
  callerArn: string;
  region: string;
  endpoint: string;
  secrets: StagingSecretPlan[];
  /** Reasons the run cannot start (no rotation function, not a rekey document…); empty when it can. */
  problems: string[];
}

export interface StagingReport extends RehearsalReport {
  target: {
    kind: 'staging';
    accountId: string;
    callerArn: string;
    region: string;
    endpoint: string;
    secrets: Array<{ name: string; provider: string; keyIdBefore: string }>;
  };
}

/** The run was refused before anything changed. */
export class StagingRefused extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StagingRefused';
  }
}

/**
 * What the run would touch, read-only: STS GetCallerIdentity, and DescribeSecret + GetSecretValue
 * (AWSCURRENT) of every secret. No value leaves this function; only ids, names and providers.
 */
export async function planStaging(
  options: { secrets: string[]; endpoint?: string },
  deps: Pick<StagingDeps, 'secretsManager' | 'sts' | 'providerNamed' | 'routes'>,
): Promise<StagingPlan> {
  const identity = await deps.sts.send(new GetCallerIdentityCommand({}));
  const region = await deps.secretsManager.config.region();
  const quiet = new Logger(() => {}, {}, 'error');
  const problems: string[] = [];
  const secrets: StagingSecretPlan[] = [];
  for (const input of options.secrets) {
    let metadata: DescribeSecretCommandOutput;
    try {
      metadata = await deps.secretsManager.send(new DescribeSecretCommand({ SecretId: input }));
    } catch (error) {
      problems.push(`${input}: cannot describe the secret (${error instanceof Error ? error.name : error})`);
      continue;
    }
    const name = metadata.Name ?? input;
    const route = deps.routes.find(metadata.ARN ?? input);
    if (!route) {
      problems.push(`${name}: not a key of the inventory; rehearse only keys the stack was deployed with.`);
      continue;
    }
    let current: { doc: ManagedKey; versionId: string } | undefined;
    try {
      current = await readManagedKey(deps.secretsManager, quiet, {
        SecretId: metadata.ARN ?? input,
        VersionStage: AWSCURRENT,
      });
    } catch (error) {
      problems.push(`${name}: ${error instanceof Error ? error.message : String(error)}`);
      continue;
    }
    if (!current) {
      problems.push(`${name}: no AWSCURRENT value; import the key first (rekey import).`);
      continue;
    }
    try {
      deps.providerNamed(current.doc.provider);
    } catch (error) {
      problems.push(`${name}: ${error instanceof Error ? error.message : String(error)}`);
    }
    if (!metadata.RotationEnabled || !metadata.RotationLambdaARN)
      problems.push(`${name}: no rotation function attached; deploy the rekey stack for it first.`);
    secrets.push({
      input,
      name,
      arn: metadata.ARN ?? input,
      provider: current.doc.provider,
      keyId: current.doc.keyId,
      keyName: current.doc.keyName,
      versionId: current.versionId,
      graceSeconds: routeGraceSeconds(route, metadata, name),
      rotationFunction: metadata.RotationLambdaARN,
      route,
    });
  }
  return {
    accountId: identity.Account ?? '(unknown)',
    callerArn: identity.Arn ?? '(unknown)',
    region,
    endpoint: options.endpoint ?? process.env.AWS_ENDPOINT_URL ?? `AWS public endpoints (${region})`,
    secrets,
    problems,
  };
}

/** The loud banner printed before anything real is touched. Ids and names only, never a value. */
export function formatStagingBanner(plan: StagingPlan, scenarios: readonly string[]): string {
  const bar = '!'.repeat(78);
  const rows = plan.secrets.map(
    (s) =>
      `    ${s.name}  provider ${s.provider}  current key ${s.keyId}  grace ${s.graceSeconds}s  rotation function ${s.rotationFunction ?? '(none)'}`,
  );
  return [
    bar,
    '!! rekey rehearse --target staging: this rotates REAL keys at REAL providers.',
    `!! Old keys are revoked by your deployed revoker. Scenarios: ${scenarios.join(', ')}`,
    bar,
    `  account   ${plan.accountId}`,
    `  caller    ${plan.callerArn}`,
    `  region    ${plan.region}`,
    `  endpoint  ${plan.endpoint}`,
    `  secrets (${plan.secrets.length}):`,
    ...rows,
    ...(plan.problems.length > 0 ? ['  cannot run:', ...plan.problems.map((p) => `    ✗ ${p}`)] : []),
    bar,
  ].join('\n');
}

export type ConfirmationResult = { ok: true } | { ok: false; message: string };

/**
 * Proceeds only when `--confirm` names the plan's account exactly, or a person types it at a TTY prompt.
 * Without a TTY and without `--confirm`, it refuses.
 */
export async function confirmStaging(
  plan: StagingPlan,
  input: { confirm?: string | undefined; isTTY: boolean; ask?: (question: string) => Promise<string> },
): Promise<ConfirmationResult> {
  if (input.confirm !== undefined) {
    return input.confirm === plan.accountId
      ? { ok: true }
      : {
          ok: false,
          message: `--confirm ${input.confirm} does not match the account these credentials reach (${plan.accountId}); nothing was changed.`,
        };
  }
  if (!input.isTTY || !input.ask) {
    return {
      ok: false,
      message: `refusing to touch account ${plan.accountId} without confirmation: not a terminal; pass --confirm ${plan.accountId} to proceed. Nothing was changed.`,
    };
  }
  const answer = (await input.ask(`Type the account id (${plan.accountId}) to proceed: `)).trim();
  return answer === plan.accountId
    ? { ok: true }
    : {
        ok: false,
        message: `typed "${answer}", not the account id ${plan.accountId}; nothing was changed.`,
      };
}

interface Tracked {
  plan: StagingSecretPlan;
  provider: ProviderClient;
}

interface Breach {
  invariant: string;
  secret: string;
  detail: string;
}

/**
 * Runs the staging rehearsal after confirmation: a fleet of application instances (rekey's KeyClient on
 * the real Secrets Manager, the provider's cheapest authenticated call as the application call) under
 * steady traffic, the chosen scenarios on every secret, and an invariant monitor sampling AWSCURRENT.
 */
export async function runStagingRehearsal(
  options: StagingOptions,
  deps: StagingDeps,
): Promise<StagingReport> {
  const startedAt = new Date();
  const now = deps.now ?? (() => new Date());
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const logs = deps.logs ?? new CapturedLogs();
  const logger = new Logger(
    (line) => {
      logs.sink(line);
      deps.logSink?.(line);
    },
    { tool: 'rekey-rehearse-staging' },
    'info',
  );
  const sm = deps.secretsManager;
  const scenarios = options.scenarios ?? STAGING_SCENARIOS.map((s) => s.name);
  const unknown = scenarios.filter((name) => !STAGING_SCENARIOS.some((s) => s.name === name));
  if (unknown.length > 0)
    throw new Error(
      `unknown staging scenario ${unknown.join(', ')}; known: ${STAGING_SCENARIOS.map((s) => s.name).join(', ')}`,
    );

  const plan = await planStaging(options, deps);
  if (plan.accountId !== options.confirmedAccountId)
    throw new StagingRefused(
      `confirmed account ${options.confirmedAccountId} is not the account these credentials reach (${plan.accountId}); nothing was changed.`,
    );
  if (plan.problems.length > 0)
    throw new StagingRefused(`cannot rehearse: ${plan.problems.join('; ')}. Nothing was changed.`);

  const pollMs = options.pollIntervalMs ?? 2000;
  const rotationTimeoutMs = (options.rotationTimeoutSeconds ?? 300) * 1000;
  const endpoints = options.endpoints ?? {};
  const http = options.http;
  /** Every secret value the run saw: keys, documents, rotator credential values. */
  const secretValues = new Set<string>();
  const note = (doc: ManagedKey | undefined) => {
    if (doc) secretValues.add(doc.key);
  };
  const readCurrent = async (arn: string) => {
    const current = await readManagedKey(sm, logger, { SecretId: arn, VersionStage: AWSCURRENT });
    note(current?.doc);
    return current;
  };

  // Bind each secret's provider to its rotator credential, as the rotation function does.
  const tracked: Tracked[] = [];
  for (const secret of plan.secrets) {
    const current = await readCurrent(secret.arn);
    if (!current) throw new StagingRefused(`${secret.name} lost its AWSCURRENT value; nothing was changed.`);
    const definition = deps.providerNamed(secret.route.provider);
    const endpoint = endpoints[definition.name];
    const provider = await connectProvider(sm, logger, secret.arn, current.doc, secret.route, {
      provider: definition,
      ...(endpoint ? { endpoint } : {}),
      ...(http ? { http } : {}),
    });
    const credential = await sm.send(new GetSecretValueCommand({ SecretId: current.doc.rotatorSecretArn }));
    collectStrings(JSON.parse(credential.SecretString ?? '{}'), secretValues);
    tracked.push({ plan: secret, provider });
  }
  const byArn = new Map(tracked.map((t) => [t.plan.arn, t]));

  const keys: WorldKey[] = plan.secrets.map((s) => ({ name: s.name, provider: s.provider, arn: s.arn }));
  const instances = options.instances ?? 2 * keys.length;
  const rps = options.rps ?? keys.length;
  const clientLines: string[] = [];
  const fleet = new Fleet(keys, new Map(), {
    instances,
    rps,
    sourceFor: (_instance, key) => {
      const client = new KeyClient({
        secretsManager: sm,
        ttlMs: options.client?.ttlMs ?? 60_000,
        jitterMs: options.client?.jitterMs ?? 10_000,
        retryDelayMs: options.client?.retryDelayMs ?? 1000,
        now: () => now().getTime(),
        metrics: { sink: (line) => clientLines.push(line), flushIntervalMs: 0 },
      });
      return {
        withKey: (call) =>
          client.withKey(key.arn, (k) => {
            secretValues.add(k.value);
            return call({ id: k.keyId, value: k.value });
          }),
        close: () => client.close(),
      };
    },
    async appCall(key, material) {
      const result = await byArn.get(key.arn)!.provider.validateKey(material);
      if (result === 'rejected') throw new AuthRejected(401);
      return 200;
    },
  });

  // The invariant monitor: AWSCURRENT of every secret, validated at the provider, at a modest interval.
  const events: TimelineEvent[] = [];
  const event = (kind: TimelineEventKind, detail: string, secret?: string) =>
    events.push({ at: fleet.elapsed(), kind, detail, ...(secret ? { secret } : {}) });
  const breaches: Breach[] = [];
  const accepted = new Map<string, Set<string>>(tracked.map((t) => [t.plan.name, new Set<string>()]));
  /** Provider-side names of revoked keys, per secret: findKeysByName must find nothing (invariant 4). */
  const revokedNames = new Map<string, Set<string>>(tracked.map((t) => [t.plan.name, new Set<string>()]));
  let samples = 0;
  let sampleErrors = 0;
  const sample = async () => {
    samples += 1;
    for (const t of tracked) {
      try {
        const current = await readCurrent(t.plan.arn);
        if (!current) {
          breaches.push({ invariant: '1', secret: t.plan.name, detail: 'no AWSCURRENT value' });
          continue;
        }
        const result = await t.provider.validateKey({ id: current.doc.keyId, value: current.doc.key });
        const seen = accepted.get(t.plan.name)!;
        if (result === 'accepted') seen.add(current.doc.keyId);
        else if (seen.has(current.doc.keyId))
          breaches.push({
            invariant: '2',
            secret: t.plan.name,
            detail: `AWSCURRENT key ${current.doc.keyId} was revoked (the provider now rejects it)`,
          });
        else
          breaches.push({
            invariant: '1',
            secret: t.plan.name,
            detail: `AWSCURRENT key ${current.doc.keyId} is rejected by the provider`,
          });
        for (const name of revokedNames.get(t.plan.name)!) {
          const found = await t.provider.findKeysByName(name);
          if (found.length > 0)
            breaches.push({
              invariant: '4',
              secret: t.plan.name,
              detail: `revoked key name ${name} still finds key(s) ${found.map((k) => k.id).join(', ')}`,
            });
        }
      } catch (error) {
        sampleErrors += 1;
        logger.warn('invariant sample failed', {
          secretId: t.plan.name,
          error: error instanceof Error ? `${error.name}: ${error.message}` : String(error),
        });
      }
    }
  };
  let monitoring = true;
  let stopMonitor: () => void = () => {};
  const stopped = new Promise<void>((resolve) => {
    stopMonitor = resolve;
  });
  const monitorLoop = (async () => {
    while (monitoring) {
      await sample();
      await Promise.race([sleep(options.monitorIntervalMs ?? 5000), stopped]);
    }
  })();

  const waitUntil = async (done: () => Promise<boolean>, timeoutMs: number): Promise<boolean> => {
    const deadline = now().getTime() + timeoutMs;
    for (;;) {
      if (await done()) return true;
      if (now().getTime() >= deadline) return false;
      await sleep(pollMs);
    }
  };

  const results: ScenarioResult[] = [];
  try {
    // Let every instance read its key and make a first call.
    await sleep(Math.min(2000, pollMs));
    for (const name of scenarios) {
      const scenario = STAGING_SCENARIOS.find((s) => s.name === name)!;
      const windowStart = fleet.elapsed();
      const window = fleet.window();
      const breachesBefore = breaches.length;
      event('scenario', name);
      const perSecret = await Promise.all(
        tracked.map((t) =>
          runOnSecret(name, t, {
            readCurrent,
            waitUntil,
            event,
            logger,
            sm,
            providerNamed: deps.providerNamed,
            routes: deps.routes,
            endpoints,
            http,
            now,
            rotationTimeoutMs,
            graceTimeoutMs:
              (options.graceTimeoutSeconds ??
                (name === 'emergency-rotation' ? 0 : t.plan.graceSeconds) + 600) * 1000,
            fleetUsed: (keyId) => fleet.used(keyId),
            onRevoked: (keyName) => {
              if (keyName) revokedNames.get(t.plan.name)!.add(keyName);
            },
          }).catch((error: unknown) => ({
            checks: [
              {
                name: `${t.plan.name}: scenario ran to the end`,
                ok: false,
                detail: error instanceof Error ? error.message : String(error),
              },
            ],
            timeToRevokeMs: undefined,
            keys: [] as Array<{ id: string; value: string }>,
          })),
        ),
      );
      // One more sample on the settled state, and let the fleet call on it.
      await sample();
      await sleep(Math.min(pollMs, 1000));
      const windowEnd = fleet.elapsed();
      const calls = window.close();
      const scenarioBreaches = breaches.slice(breachesBefore);
      const first = (n: string) => scenarioBreaches.find((b) => b.invariant === n);
      const describe = (b: Breach | undefined, fallback: string) =>
        b ? `${b.secret}: ${b.detail}` : fallback;
      const invariants: InvariantResult[] = [
        {
          invariant: '1: a valid key is AWSCURRENT at every instant',
          ok: !first('1'),
          detail: describe(first('1'), `${samples} samples, ${sampleErrors} sample error(s)`),
        },
        {
          invariant: '2: an AWSCURRENT key is never revoked',
          ok: !first('2'),
          detail: describe(first('2'), 'every sampled AWSCURRENT key was accepted'),
        },
        {
          invariant: '4: no revoked key left at the provider',
          ok: !first('4'),
          detail: describe(first('4'), 'findKeysByName finds no revoked key'),
        },
        {
          invariant: 'zero failed calls (zero downtime)',
          ok: calls.failed === 0,
          detail: `${calls.failed} of ${calls.calls} calls failed`,
        },
      ];
      const checks = perSecret.flatMap((r) => r.checks);
      const stillAccepted = await countAccepted(
        tracked,
        perSecret.map((r) => r.keys),
      );
      const revokeTimes = perSecret
        .map((r) => r.timeToRevokeMs)
        .filter((ms): ms is number => ms !== undefined);
      results.push({
        name,
        guide: scenario.guide,
        zeroDowntime: scenario.zeroDowntime,
        startedAt: windowStart,
        endedAt: windowEnd,
        calls: calls.calls,
        failed: calls.failed,
        failures: calls.failures,
        versionsSeen: calls.keyIds.size,
        providerKeysAtEnd: stillAccepted,
        ...(revokeTimes.length > 0 ? { timeToRevokeMs: Math.round(Math.max(...revokeTimes)) } : {}),
        checks,
        invariants,
        ok: invariants.every((i) => i.ok) && checks.every((c) => c.ok),
      });
    }
  } finally {
    monitoring = false;
    stopMonitor();
    await monitorLoop;
    await fleet.stop();
  }

  const report: StagingReport = {
    tool: 'rekey rehearse',
    target: {
      kind: 'staging',
      accountId: plan.accountId,
      callerArn: plan.callerArn,
      region: plan.region,
      endpoint: plan.endpoint,
      secrets: plan.secrets.map((s) => ({ name: s.name, provider: s.provider, keyIdBefore: s.keyId })),
    },
    startedAt: startedAt.toISOString(),
    options: {
      keys: keys.length,
      instances,
      rps,
      providers: [...new Set(plan.secrets.map((s) => s.provider))],
      scenarios,
      seed: 0,
      scale: 1,
      graceSeconds: Math.max(0, ...plan.secrets.map((s) => s.graceSeconds)),
    },
    durationMs: Date.now() - startedAt.getTime(),
    scenarios: results,
    timeline: { buckets: fleet.timeline(), events },
    verdict: { ok: true, breaches: [] },
  };

  // Invariant 5: no secret value in any captured line (runner, provider adapters, clients) or the report.
  const lines = [...logs.lines, ...clientLines];
  const values = [...secretValues].filter((v) => v.length >= 8);
  const leaked = lines.filter((line) => values.some((v) => line.includes(v)));
  const reportText = JSON.stringify(report);
  const inReport = values.some((v) => reportText.includes(v));
  const leak: InvariantResult = {
    invariant: '5: no secret value in any log line or the report',
    ok: leaked.length === 0 && !inReport,
    detail:
      leaked.length > 0
        ? `${leaked.length} line(s) carry a secret value`
        : inReport
          ? 'the report carries a secret value'
          : `${lines.length} lines and the report scanned for ${values.length} secret values`,
  };
  for (const result of results) {
    result.invariants.push(leak);
    result.ok &&= leak.ok;
  }
  const verdictBreaches = results.flatMap((r) => [
    ...r.invariants
      .filter((i) => !i.ok)
      .map((i) => `${r.name}: invariant ${i.invariant} — ${i.detail ?? 'breached'}`),
    ...r.checks.filter((c) => !c.ok).map((c) => `${r.name}: ${c.name}${c.detail ? ` — ${c.detail}` : ''}`),
  ]);
  report.verdict = { ok: verdictBreaches.length === 0, breaches: verdictBreaches };
  report.durationMs = Date.now() - startedAt.getTime();
  return report;
}

interface SecretRunContext {
  readCurrent: (arn: string) => Promise<{ doc: ManagedKey; versionId: string } | undefined>;
  waitUntil: (done: () => Promise<boolean>, timeoutMs: number) => Promise<boolean>;
  event: (kind: TimelineEventKind, detail: string, secret?: string) => void;
  logger: Logger;
  sm: SecretsManagerClient;
  providerNamed: (name: string) => ProviderDefinition;
  routes: KeyRoutes;
  endpoints: Record<string, string>;
  http: StagingOptions['http'];
  now: () => Date;
  rotationTimeoutMs: number;
  graceTimeoutMs: number;
  onRevoked: (keyName: string | undefined) => void;
  /** Whether an application instance made a successful call with this provider key. */
  fleetUsed: (keyId: string) => boolean;
}

interface SecretOutcome {
  checks: Array<{ name: string; ok: boolean; detail?: string }>;
  timeToRevokeMs: number | undefined;
  /** Provider keys this scenario involved (old and new); values stay in memory, never in the report. */
  keys: Array<{ id: string; value: string }>;
}

/** One scenario on one secret: start the rotation, watch AWSCURRENT move, wait for the revoker. */
async function runOnSecret(
  scenario: StagingScenarioName,
  t: Tracked,
  ctx: SecretRunContext,
): Promise<SecretOutcome> {
  const name = t.plan.name;
  const emergency = scenario === 'emergency-rotation';
  const before = await ctx.readCurrent(t.plan.arn);
  if (!before) throw new Error('no AWSCURRENT value before the rotation');
  const old = { id: before.doc.keyId, value: before.doc.key };
  const commandAt = ctx.now().getTime();
  ctx.event('rotate', emergency ? 'emergency rotation, grace 0' : 'rotation', name);
  const started = await startRotation(t.plan.arn, emergency ? { emergency: true, graceSeconds: 0 } : {}, {
    secretsManager: ctx.sm,
    logger: ctx.logger,
    providerFor: ctx.providerNamed,
    routes: ctx.routes,
    endpoints: ctx.endpoints,
    ...(ctx.http ? { http: ctx.http } : {}),
  });
  const checks: SecretOutcome['checks'] = [];
  const moved = await ctx.waitUntil(async () => {
    const metadata = await ctx.sm.send(new DescribeSecretCommand({ SecretId: t.plan.arn }));
    return versionWithStage(metadata, AWSCURRENT) === started.versionId;
  }, ctx.rotationTimeoutMs);
  const promotedAt = ctx.now().getTime();
  checks.push({
    name: `${name}: new key promoted to AWSCURRENT`,
    ok: moved,
    detail: moved
      ? `version ${started.versionId} in ${promotedAt - commandAt} ms`
      : `AWSCURRENT did not move to ${started.versionId} within ${ctx.rotationTimeoutMs / 1000} s; check the rotation function's logs`,
  });
  if (!moved) return { checks, timeToRevokeMs: undefined, keys: [old] };
  const after = await ctx.readCurrent(t.plan.arn);
  ctx.event('promote', `key ${after?.doc.keyId}`, name);
  const fresh = after ? { id: after.doc.keyId, value: after.doc.key } : undefined;
  // The fleet must pick up the new key (its clients' TTL) — the point of the overlap.
  const pickedUp =
    fresh !== undefined && (await ctx.waitUntil(async () => ctx.fleetUsed(fresh.id), ctx.rotationTimeoutMs));
  checks.push({
    name: `${name}: the fleet picked up the new key`,
    ok: pickedUp,
    detail: pickedUp
      ? `key ${fresh?.id}`
      : `no successful call with key ${fresh?.id ?? '?'} within ${ctx.rotationTimeoutMs / 1000} s; check the clients' cache TTL`,
  });
  if (!emergency) {
    const oldOk = (await t.provider.validateKey(old)) === 'accepted';
    const newOk = fresh !== undefined && (await t.provider.validateKey(fresh)) === 'accepted';
    checks.push({
      name: `${name}: both keys valid during the grace period`,
      ok: oldOk && newOk,
      detail: `old ${old.id} ${oldOk ? 'accepted' : 'rejected'}, new ${fresh?.id ?? '?'} ${newOk ? 'accepted' : 'rejected'}`,
    });
  }
  const revoked = await ctx.waitUntil(
    async () => (await t.provider.validateKey(old)) === 'rejected',
    ctx.graceTimeoutMs + (emergency ? ctx.rotationTimeoutMs : 0),
  );
  const revokedAt = ctx.now().getTime();
  const timeToRevokeMs = revoked ? revokedAt - (emergency ? commandAt : promotedAt) : undefined;
  checks.push({
    name: `${name}: old key rejected by the provider${emergency ? '' : ' after the grace period'}`,
    ok: revoked,
    detail: revoked
      ? `${timeToRevokeMs} ms from ${emergency ? 'command' : 'promotion'}`
      : `old key ${old.id} still accepted after ${Math.round((revokedAt - promotedAt) / 1000)} s; the revoker may have deferred (usage evidence) — check its logs and rekey status ${name}`,
  });
  if (revoked) {
    ctx.event('revoke', `key ${old.id}`, name);
    ctx.onRevoked(before.doc.keyName);
    const recorded = await ctx.waitUntil(async () => {
      const metadata = await ctx.sm.send(new DescribeSecretCommand({ SecretId: t.plan.arn }));
      return tagMap(metadata.Tags)[TAGS.lastRevokedKeyId] === old.id;
    }, ctx.rotationTimeoutMs);
    checks.push({
      name: `${name}: the revoker recorded the revocation`,
      ok: recorded,
      detail: recorded ? `${TAGS.lastRevokedKeyId} = ${old.id}` : `${TAGS.lastRevokedKeyId} is not ${old.id}`,
    });
    if (before.doc.keyName) {
      const left = await t.provider.findKeysByName(before.doc.keyName);
      checks.push({
        name: `${name}: no key left under the revoked key's name`,
        ok: left.length === 0,
        detail: left.length === 0 ? before.doc.keyName : `found ${left.map((k) => k.id).join(', ')}`,
      });
    }
  }
  return { checks, timeToRevokeMs, keys: [old, ...(fresh ? [fresh] : [])] };
}

/** Keys the scenario involved that the provider still accepts (after revocation: one per secret). */
async function countAccepted(
  tracked: Tracked[],
  keys: Array<Array<{ id: string; value: string }>>,
): Promise<number> {
  let n = 0;
  for (const [i, t] of tracked.entries()) {
    for (const key of keys[i] ?? []) {
      const result = await t.provider.validateKey(key).catch(() => 'unknown');
      if (result === 'accepted') n += 1;
    }
  }
  return n;
}

function collectStrings(value: unknown, into: Set<string>): void {
  if (typeof value === 'string') into.add(value);
  else if (value && typeof value === 'object') for (const v of Object.values(value)) collectStrings(v, into);
}
