import { existsSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { parseDurationSeconds } from '../../lambdas/duration.js';
import { PROVIDERS } from '../../lambdas/providers/index.js';
import { startRotation } from '../../lambdas/start-rotation.js';
import { adapterNameOf } from '../../lib/inventory.js';
import { type FleetRequest, rotateFleet } from './fleet.js';
import { DEFAULT_FLEET_PACE, type FleetPace } from './fleet-pace.js';
import { describeFollowed, followRotation } from './follow.js';
import {
  type CliRuntime,
  cliRuntime,
  destroy,
  reportError,
  secretIdOf,
  shownArg,
  usageError,
  warnWithoutLease,
} from './runtime.js';
import type { Command } from './types.js';

export { outcomeOf, type RotationOutcome } from './follow.js';

const USAGE = `Usage: rekey rotate <secret> [--emergency [--grace 0s|5m]] [--provide-key < key] [--no-wait] [--timeout 300s]
                    [--inventory rekey.yaml] [--json]
       rekey rotate --all | --tag k=v ... | --provider p ... [--emergency [--grace 0s|5m]] [--dry-run]
                    [--rate 5] [--concurrency 10] [--provider-rate p=n ...] [--journal file] [--timeout 300s]
                    [--inventory rekey.yaml] [--json]
       rekey rotate --resume <journal> [--rate 5] [--concurrency 10] [--provider-rate p=n ...] [--timeout 300s] [--json]

Starts a rotation now through Secrets Manager's RotateSecret, then waits until the new key is AWSCURRENT.

  <secret>         the inventory entry's name, or its secret's name (vault_path) or ARN
  --emergency      the key is compromised: cancel a stuck rotation first (revoking the keys it created),
                   and revoke the old key as soon as the new one is current instead of after the grace period
  --grace <d>      with --emergency: keep the old key valid this long (e.g. 5m) — default 0s
  --provide-key    for providers without a key API (Stripe): read the key a person made from stdin, then
                   stage, test and promote it; the old key's revocation becomes a reminder and a check
  --no-wait        return once Secrets Manager accepted the request
  --timeout <d>    how long to wait for the rotation (and, with --emergency, the revocation) — default 300s;
                   in a fleet rotation, for each key
  --inventory <f>  the inventory the stack was deployed from — default rekey.yaml; rekey acts on its keys
                   only, as it configures them (an emergency's --grace may only shorten grace_period)
  --json           print the result as JSON (a fleet rotation: one document at the end, no progress)

Fleet rotation — many keys, paced under Secrets Manager's quotas and each provider's rate limits:
  --all            every key of the inventory
  --tag k=v        the keys whose secret carries tag k with value v (repeat: all must match)
  --provider p     the keys of provider p, e.g. sendgrid or "AWS IAM" (repeat: any of them)
  --dry-run        print the plan — which keys, in which order, at what rate, how long — and change nothing
  --rate <n>       rotations started per second across the fleet — default ${DEFAULT_FLEET_PACE.ratePerSecond} (at most 50, RotateSecret's quota)
  --concurrency <n>  rotations in flight at once — default ${DEFAULT_FLEET_PACE.concurrency}
  --provider-rate p=n  rotations started per second for provider p, instead of its documented pace
  --journal <file> where the run records each key's progress — default .rekey/rotate-<run id>.json
  --resume <file>  continue a stopped run from its journal: done keys are skipped, started ones followed to
                   the end, only keys never started are started — no key is rotated twice
Keys not yet imported (imported: false) and keys a person makes (Stripe) are skipped, saying why. Throttling
slows the fleet down (and is retried); Ctrl-C stops starting rotations and prints how to resume (exit 130).

A plain \`rekey rotate\` is a scheduled-style rotation: the old key is revoked after the key's grace period,
once the fleet is seen using the new one. Credentials and region come from the standard AWS configuration.`;

interface OneKeyRequest {
  mode: 'one';
  secret: string;
  emergency: boolean;
  graceSeconds: number;
  wait: boolean;
  provideKey: boolean;
  inventory: string;
  timeoutMs: number;
  json: boolean;
}

export const rotate: Command = {
  name: 'rotate',
  summary: 'rotate a key now (--emergency: revoke the old key at once; --all, --tag, --provider: many keys)',
  usage: USAGE,
  async run(args, io) {
    let parsed: ReturnType<typeof parse>;
    try {
      parsed = parse(args);
    } catch (error) {
      return usageError(io, 'rotate', error, USAGE, args.includes('--json'));
    }
    if (parsed.mode !== 'one') return rotateFleet(parsed, io);
    const { secret, emergency, graceSeconds, wait, timeoutMs, json, provideKey, inventory } = parsed;
    let runtime: CliRuntime;
    try {
      runtime = cliRuntime(io, inventory);
    } catch (error) {
      return reportError(io, 'rotate', error, json);
    }
    if (emergency || provideKey) warnWithoutLease(io, runtime, 'rotate');
    const started = Date.now();
    const elapsed = () => `${((Date.now() - started) / 1000).toFixed(1)}s`;
    try {
      // The key comes from stdin, never argv (which lands in shell history and process lists).
      const providedKey = provideKey ? (await io.stdin()).trim() : undefined;
      const rotation = await startRotation(
        secretIdOf(runtime.routes, secret),
        { emergency, graceSeconds, ...(providedKey === undefined ? {} : { providedKey }) },
        runtime,
      );
      if (rotation.cancelled) {
        io.out(
          `cancelled stuck rotation ${rotation.cancelled.versionId}; revoked its keys: ${rotation.cancelled.revokedKeyIds.join(', ') || 'none'}`,
        );
      }
      if (!json)
        io.out(
          `${elapsed()}  rotation of ${rotation.secret} started: version ${rotation.versionId}${emergency ? ' (emergency)' : ''}`,
        );
      const result: Record<string, unknown> = { ...rotation, emergency, status: 'started' };
      if (wait) {
        const followed = await followRotation(runtime.secretsManager, rotation, {
          emergency,
          graceSeconds,
          timeoutMs,
          onPromoted: () => {
            if (!json) io.out(`${elapsed()}  new key is AWSCURRENT`);
          },
        });
        if (followed.status !== 'promoted' && followed.status !== 'old-key-revoked') {
          io.err(`rekey rotate: ${describeFollowed(followed, rotation, timeoutMs)}`);
          if (json && followed.status !== 'revocation-timeout')
            io.out(JSON.stringify({ ...result, ...followed }, null, 2));
          return 1;
        }
        result.status = followed.status;
        if (!json && followed.status === 'old-key-revoked')
          io.out(`${elapsed()}  old key revoked at the provider`);
      }
      result.elapsedSeconds = (Date.now() - started) / 1000;
      if (json) io.out(JSON.stringify(result, null, 2));
      return 0;
    } catch (error) {
      return reportError(io, 'rotate', error, json);
    } finally {
      destroy(runtime);
    }
  },
};

function parse(args: string[]): FleetRequest | OneKeyRequest {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      emergency: { type: 'boolean', default: false },
      grace: { type: 'string' },
      'no-wait': { type: 'boolean', default: false },
      'provide-key': { type: 'boolean', default: false },
      timeout: { type: 'string', default: '300s' },
      inventory: { type: 'string' },
      json: { type: 'boolean', default: false },
      all: { type: 'boolean', default: false },
      tag: { type: 'string', multiple: true, default: [] },
      provider: { type: 'string', multiple: true, default: [] },
      'dry-run': { type: 'boolean', default: false },
      rate: { type: 'string' },
      concurrency: { type: 'string' },
      'provider-rate': { type: 'string', multiple: true, default: [] },
      journal: { type: 'string' },
      resume: { type: 'string' },
    },
  });
  if (values.grace !== undefined && !values.emergency)
    throw new Error(
      "--grace applies to --emergency rotations; a scheduled rotation uses the key's own grace period",
    );
  const graceSeconds = values.grace === undefined ? 0 : parseDurationSeconds(values.grace);
  if (graceSeconds === undefined)
    throw new Error(`--grace: ${shownArg(values.grace ?? '')} is not a duration like 0s, 5m or 1h`);
  const timeoutSeconds = parseDurationSeconds(values.timeout);
  if (timeoutSeconds === undefined)
    throw new Error(`--timeout: ${shownArg(values.timeout)} is not a duration like 300s or 10m`);
  const common = { timeoutMs: timeoutSeconds * 1000, json: values.json };
  const selectors = [
    ...(values.all ? ['--all'] : []),
    ...values.tag.map((t) => `--tag ${t}`),
    ...values.provider.map((p) => `--provider ${p}`),
  ];
  // The fleet-only flags this command line gives, as written.
  const fleetFlags = [
    ...(values['dry-run'] ? ['--dry-run'] : []),
    ...(values.rate === undefined ? [] : ['--rate']),
    ...(values.concurrency === undefined ? [] : ['--concurrency']),
    ...(values['provider-rate'].length ? ['--provider-rate'] : []),
    ...(values.journal === undefined ? [] : ['--journal']),
  ];
  if (values.resume !== undefined) {
    const refused = [
      ...(positionals.length ? ['<secret>'] : []),
      ...(selectors.length ? [selectors[0]!.split(' ')[0]!] : []),
      ...(values.emergency ? ['--emergency'] : []),
      ...(values['provide-key'] ? ['--provide-key'] : []),
      ...(values['no-wait'] ? ['--no-wait'] : []),
      ...(values.inventory === undefined ? [] : ['--inventory']),
      ...fleetFlags.filter((f) => f === '--dry-run' || f === '--journal'),
    ];
    if (refused.length)
      throw new Error(
        `--resume continues a run as its journal planned it (the keys, the inventory, --emergency); drop ${refused.join(', ')}`,
      );
    return { mode: 'resume', resume: values.resume, pace: parsePace(values), ...common };
  }
  if (selectors.length === 0) {
    const fleetOnly = fleetFlags[0];
    if (positionals.length === 1 && fleetOnly)
      throw new Error(
        `${fleetOnly} applies to a fleet rotation; select keys with --all, --tag k=v or --provider p instead of naming one secret`,
      );
    if (positionals.length !== 1)
      throw new Error(
        'name exactly one secret (or inventory entry), or select keys with --all, --tag k=v or --provider p',
      );
    return {
      mode: 'one',
      secret: positionals[0]!,
      emergency: values.emergency,
      graceSeconds,
      wait: !values['no-wait'],
      provideKey: values['provide-key'],
      inventory: values.inventory ?? 'rekey.yaml',
      ...common,
    };
  }
  if (positionals.length)
    throw new Error(
      `name one secret or select keys with ${selectors[0]!.split(' ')[0]}, not both (${shownArg(positionals[0]!)} was also given)`,
    );
  if (values.all && selectors.length > 1)
    throw new Error('--all selects every key of the inventory; drop it, or drop --tag and --provider');
  if (values['provide-key'])
    throw new Error(
      '--provide-key reads one key from stdin for one secret; rotate the keys a person makes one at a time',
    );
  if (values['no-wait'])
    throw new Error(
      '--no-wait: a fleet rotation follows every rotation it starts (that is how it paces them)',
    );
  const tags = values.tag.map((tag) => {
    const at = tag.indexOf('=');
    if (at < 1) throw new Error(`--tag: ${shownArg(tag)} is not key=value (e.g. --tag team=payments)`);
    return { key: tag.slice(0, at), value: tag.slice(at + 1) };
  });
  const providers = values.provider.map((p) => providerOption('--provider', p));
  if (values.journal !== undefined) {
    const dir = dirname(resolve(values.journal));
    if (!existsSync(dir) || !statSync(dir).isDirectory())
      throw new Error(
        `--journal: the directory of ${shownArg(values.journal)} does not exist; create it first`,
      );
  }
  return {
    mode: 'fleet',
    selection: { all: values.all, tags, providers, given: selectors },
    emergency: values.emergency,
    graceSeconds,
    dryRun: values['dry-run'],
    inventory: values.inventory ?? 'rekey.yaml',
    pace: parsePace(values),
    ...(values.journal === undefined ? {} : { journal: values.journal }),
    ...common,
  };
}

/** A provider as the inventory may write it ("SendGrid", "AWS IAM"), as its adapter's name. */
function providerOption(flag: string, value: string): string {
  const adapter = adapterNameOf(value);
  if (!Object.hasOwn(PROVIDERS, adapter))
    throw new Error(
      `${flag}: ${shownArg(value)} is not a provider rekey rotates; known: ${Object.keys(PROVIDERS).join(', ')}`,
    );
  return adapter;
}

function parsePace(values: {
  rate?: string | undefined;
  concurrency?: string | undefined;
  'provider-rate': string[];
}): FleetPace {
  const rate = values.rate === undefined ? DEFAULT_FLEET_PACE.ratePerSecond : Number(values.rate);
  // RotateSecret itself allows 50 per second per account and Region: a faster start rate is throttled by design.
  if (!(rate > 0 && rate <= 50))
    throw new Error(
      `--rate: ${shownArg(values.rate ?? '')} is not a number of rotations per second from 0 to 50`,
    );
  const concurrency =
    values.concurrency === undefined ? DEFAULT_FLEET_PACE.concurrency : Number(values.concurrency);
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 1000)
    throw new Error(
      `--concurrency: ${shownArg(values.concurrency ?? '')} is not a whole number from 1 to 1000`,
    );
  const providers: Record<string, number> = {};
  for (const entry of values['provider-rate']) {
    const at = entry.lastIndexOf('=');
    const perSecond = Number(entry.slice(at + 1));
    if (at < 1 || !(perSecond > 0 && perSecond <= 50))
      throw new Error(
        `--provider-rate: ${shownArg(entry)} is not provider=rotations per second (e.g. sendgrid=2)`,
      );
    providers[providerOption('--provider-rate', entry.slice(0, at))] = perSecond;
  }
  return { ratePerSecond: rate, concurrency, providers };
}
