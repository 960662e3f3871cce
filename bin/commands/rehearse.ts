import { parseArgs } from 'node:util';
import { rekeyClientFleet } from '../../local/rehearsal/client-source.js';
import { REHEARSAL_PROVIDERS } from '../../local/rehearsal/providers.js';
import {
  type RehearsalProgress,
  type RehearsalReport,
  runRehearsal,
} from '../../local/rehearsal/rehearsal.js';
import { reportText, writeReport } from '../../local/rehearsal/report.js';
import { DEFAULT_SCENARIOS, SCENARIOS } from '../../local/rehearsal/scenarios.js';
import { rehearseStaging, STAGING_USAGE } from './rehearse-staging.js';
import { reportPath, shownArg, usageError } from './runtime.js';
import type { Command, CommandIO } from './types.js';

const DEFAULTS = {
  keys: 8,
  instances: 24,
  rps: 120,
  seed: 1,
  scale: 1200,
  grace: 3600,
  report: 'rekey-report',
};

const USAGE = `Usage: rekey rehearse [options]      (npm start runs it with the defaults)

The whole key lifecycle under live traffic, offline: a loopback AWS endpoint (Secrets Manager, Scheduler,
SNS, CloudWatch), provider sandboxes, the rotation functions and
the revoker, and a fleet of application instances — each with its own rekey client — calling the provider
while keys are rotated, revoked, rolled back and rotated in an emergency, with faults injected. Ends with a
table, a verdict (exit 0 only if every invariant held) and a JSON + HTML report.

  --keys <n>          managed keys, spread over the providers          (default ${DEFAULTS.keys})
  --instances <n>     application instances, each with its own client  (default ${DEFAULTS.instances})
  --rps <n>           calls per second across the fleet                (default ${DEFAULTS.rps})
  --providers <list>  comma-separated: ${Object.keys(REHEARSAL_PROVIDERS).join(', ')}   (default all)
  --scenario <list>   comma-separated, run in this order               (default all but chaos, in the order below)
  --seed <n>          seed for every random choice; same seed, same run (default ${DEFAULTS.seed})
  --scale <n>         clock compression: simulated ms per real ms      (default ${DEFAULTS.scale}: 1 h of grace = 3 s,
                      compressed less above 12 keys, so a grace period outlasts the work of rotating them all)
  --grace <seconds>   grace period of every key, simulated             (default ${DEFAULTS.grace})
  --report <path>     report files <path>.json and <path>.html          (default ./${DEFAULTS.report})
  --json              print the JSON report instead of the table

Scenarios (each maps to an item of the guide's testing list):
${SCENARIOS.map((s) => `  ${s.name.padEnd(22)} ${s.guide}${s.optIn ? ' (only when named)' : ''}`).join('\n')}

${STAGING_USAGE}`;

export const rehearse: Command = {
  name: 'rehearse',
  summary: 'rehearse rotation under live traffic, offline, and print a verdict',
  usage: USAGE,
  async run(args, io) {
    const target = targetOf(args);
    if (target === 'staging') return rehearseStaging(args, io);
    if (target !== 'local') {
      return usageError(io, 'rehearse', `--target must be local or staging, got ${shownArg(target)}`, USAGE);
    }
    let options: ReturnType<typeof parse>;
    try {
      options = parse(args);
    } catch (error) {
      return usageError(io, 'rehearse', error, USAGE);
    }
    const progress = progressPrinter(io);
    let report: RehearsalReport;
    try {
      report = await runRehearsal({
        ...options,
        ...rekeyClientFleet(),
        onProgress: progress.update,
      });
    } catch (error) {
      progress.done();
      io.err(`rekey rehearse: ${error instanceof Error ? error.message : String(error)}`);
      return 1;
    }
    progress.done();
    await writeReport(report, options.report);
    io.out(reportText(report, options.report, options.json));
    return report.verdict.ok ? 0 : 1;
  },
};

function parse(args: string[]) {
  const { values } = parseArgs({
    args,
    options: {
      keys: { type: 'string' },
      instances: { type: 'string' },
      rps: { type: 'string' },
      providers: { type: 'string' },
      scenario: { type: 'string' },
      seed: { type: 'string' },
      scale: { type: 'string' },
      grace: { type: 'string' },
      report: { type: 'string', default: DEFAULTS.report },
      json: { type: 'boolean', default: false },
      target: { type: 'string', default: 'local' },
    },
  });
  const int = (name: keyof typeof values, fallback: number, min: number) => {
    const raw = values[name];
    if (raw === undefined) return fallback;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min)
      throw new Error(`--${name} must be an integer ≥ ${min}, got ${shownArg(String(raw))}`);
    return n;
  };
  const providers = values.providers
    ? values.providers.split(',').map((p) => p.trim())
    : Object.keys(REHEARSAL_PROVIDERS);
  const unknownProvider = providers.find((p) => !REHEARSAL_PROVIDERS[p]);
  if (unknownProvider)
    throw new Error(
      `--providers: unknown provider ${shownArg(unknownProvider)}; known: ${Object.keys(REHEARSAL_PROVIDERS).join(', ')}`,
    );
  const scenarios = values.scenario ? values.scenario.split(',').map((s) => s.trim()) : DEFAULT_SCENARIOS;
  const unknownScenario = scenarios.find((s) => !SCENARIOS.some((k) => k.name === s));
  if (unknownScenario)
    throw new Error(
      `--scenario: unknown scenario ${shownArg(unknownScenario)}; known: ${SCENARIOS.map((s) => s.name).join(', ')}`,
    );
  const keys = int('keys', Math.max(DEFAULTS.keys, providers.length), 1);
  return {
    keys,
    instances: int('instances', Math.max(DEFAULTS.instances, keys), 1),
    rps: int('rps', DEFAULTS.rps, 1),
    providers,
    scenarios,
    seed: int('seed', DEFAULTS.seed, 0),
    scale: int('scale', defaultScale(keys), 1),
    graceSeconds: int('grace', DEFAULTS.grace, 0),
    report: reportPath(values.report),
    json: values.json,
  };
}

/** The `--target` among `args` (either `--target x` or `--target=x`); default local. */
function targetOf(args: string[]): string {
  let target = 'local';
  for (const [i, arg] of args.entries()) {
    if (arg === '--target' && args[i + 1] !== undefined) target = args[i + 1]!;
    else if (arg.startsWith('--target=')) target = arg.slice('--target='.length);
  }
  return target;
}

/** Live progress: one rewritten line on a terminal, else plain lines on stderr per scenario (and every 5 s). */
function progressPrinter(io: CommandIO) {
  let lastPlain = 0;
  let lastScenario = '';
  return {
    update(p: RehearsalProgress) {
      const text = `[${p.index}/${p.total}] ${p.scenario.padEnd(22)} keys ${p.keys}  ${String(p.callsPerSecond).padStart(4)} calls/s  ${p.calls} calls  ${p.failed} failed`;
      if (io.isTTY) {
        process.stdout.write(`\r${text}\u001b[K`);
      } else if (p.scenario !== lastScenario || Date.now() - lastPlain > 5000) {
        io.err(text);
        lastPlain = Date.now();
      }
      lastScenario = p.scenario;
    },
    done() {
      if (io.isTTY) process.stdout.write('\r\u001b[K');
    },
  };
}

/**
 * The default compression: ×1200 up to 12 keys; beyond, proportionally less, so that a simulated hour of
 * grace still outlasts rotating every key and the fleet's refreshes on a small machine.
 */
export function defaultScale(keys: number): number {
  return keys <= 12 ? DEFAULTS.scale : Math.max(60, Math.floor((DEFAULTS.scale * 12) / keys));
}
