import { createInterface } from 'node:readline/promises';
import { parseArgs } from 'node:util';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { STSClient } from '@aws-sdk/client-sts';
import { providerEndpointsFromEnv, providerNamed } from '../../lambdas/providers/index.js';
import { reportText, writeReport } from '../../local/rehearsal/report.js';
import {
  confirmStaging,
  formatStagingBanner,
  planStaging,
  runStagingRehearsal,
  STAGING_SCENARIOS,
  StagingRefused,
  type StagingReport,
  type StagingScenarioName,
} from '../../local/rehearsal/staging.js';
import { inventoryRoutes, reportPath, shownArg, usageError } from './runtime.js';
import type { CommandIO } from './types.js';

export const STAGING_USAGE = `Staging (the guide's "test rotation in staging first"): the same scenarios against a real account where the
rekey stack is deployed (or LocalStack), through the standard AWS configuration. It rotates REAL keys at REAL
providers (REKEY_PROVIDER_ENDPOINT_<PROVIDER> points a provider at its sandbox or test account) and waits for
your deployed revoker; it prints the account and every key first and proceeds only once confirmed.

  --target <local|staging>  where to rehearse                                 (default local)
  --secrets <list>          staging: comma-separated names/ARNs of managed keys (required)
  --endpoint <url>          staging: AWS endpoint (default AWS_ENDPOINT_URL, else AWS's own)
  --confirm <account-id>    staging: proceed without the prompt if it is the caller's account
  --grace-timeout <seconds> staging: wait for the revoker per key        (default the key's grace + 600)
  --inventory <file>        staging: the inventory the stack was deployed from (default rekey.yaml)
  staging also takes --instances (default 2 per key), --rps (default 1 per key), --scenario
  (${STAGING_SCENARIOS.map((s) => s.name).join(', ')}), --report and --json.`;

/** `rekey rehearse --target staging …`: plan, loud banner, confirmation, run, report. */
export async function rehearseStaging(
  args: string[],
  io: CommandIO,
  env: NodeJS.ProcessEnv = process.env,
): Promise<number> {
  let options: ReturnType<typeof parseStaging>;
  try {
    options = parseStaging(args);
  } catch (error) {
    return usageError(io, 'rehearse', error, STAGING_USAGE);
  }
  const config = options.endpoint ? { endpoint: options.endpoint } : {};
  const secretsManager = new SecretsManagerClient(config);
  const sts = new STSClient(config);
  const endpoint = options.endpoint ?? env.AWS_ENDPOINT_URL;
  try {
    const routes = inventoryRoutes(options.inventory);
    const plan = await planStaging(
      { secrets: options.secrets, ...(endpoint ? { endpoint } : {}) },
      { secretsManager, sts, providerNamed: (name) => providerNamed(name), routes },
    );
    io.err(formatStagingBanner(plan, options.scenarios));
    if (plan.problems.length > 0) {
      io.err('rekey rehearse: refusing to start; fix the problems above. Nothing was changed.');
      return 2;
    }
    const confirmation = await confirmStaging(plan, {
      confirm: options.confirm,
      isTTY: io.isTTY,
      ...(io.isTTY ? { ask: askOnTerminal } : {}),
    });
    if (!confirmation.ok) {
      io.err(`rekey rehearse: ${confirmation.message}`);
      return 2;
    }
    let report: StagingReport;
    try {
      report = await runStagingRehearsal(
        {
          secrets: plan.secrets.map((s) => s.arn),
          ...(options.instances === undefined ? {} : { instances: options.instances }),
          ...(options.rps === undefined ? {} : { rps: options.rps }),
          scenarios: options.scenarios,
          ...(options.graceTimeout === undefined ? {} : { graceTimeoutSeconds: options.graceTimeout }),
          endpoints: providerEndpointsFromEnv(env),
          confirmedAccountId: plan.accountId,
          ...(endpoint ? { endpoint } : {}),
        },
        {
          secretsManager,
          sts,
          providerNamed: (name) => providerNamed(name),
          routes,
          logSink: (line) => {
            if (/"level":"(warn|error)"/.test(line)) io.err(line);
          },
        },
      );
    } catch (error) {
      io.err(`rekey rehearse: ${error instanceof Error ? error.message : String(error)}`);
      return error instanceof StagingRefused ? 2 : 1;
    }
    await writeReport(report, options.report);
    io.out(
      reportText(
        report,
        options.report,
        options.json,
        `staging account ${report.target.accountId} (${report.target.region})`,
      ),
    );
    return report.verdict.ok ? 0 : 1;
  } catch (error) {
    io.err(`rekey rehearse: ${error instanceof Error ? error.message : String(error)}`);
    return 1;
  } finally {
    secretsManager.destroy();
    sts.destroy();
  }
}

async function askOnTerminal(question: string): Promise<string> {
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return await rl.question(question);
  } finally {
    rl.close();
  }
}

export function parseStaging(args: string[]) {
  const { values } = parseArgs({
    args,
    options: {
      target: { type: 'string' },
      secrets: { type: 'string' },
      endpoint: { type: 'string' },
      confirm: { type: 'string' },
      'grace-timeout': { type: 'string' },
      instances: { type: 'string' },
      rps: { type: 'string' },
      scenario: { type: 'string' },
      report: { type: 'string', default: 'rekey-report' },
      inventory: { type: 'string', default: 'rekey.yaml' },
      json: { type: 'boolean', default: false },
    },
  });
  const int = (name: 'instances' | 'rps' | 'grace-timeout', min: number): number | undefined => {
    const raw = values[name];
    if (raw === undefined) return undefined;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min)
      throw new Error(`--${name} must be an integer ≥ ${min}, got ${shownArg(raw)}`);
    return n;
  };
  const secrets = (values.secrets ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (secrets.length === 0)
    throw new Error('--target staging needs --secrets <list>: the managed keys to rotate, by name or ARN');
  const scenarios = (
    values.scenario ? values.scenario.split(',').map((s) => s.trim()) : STAGING_SCENARIOS.map((s) => s.name)
  ) as StagingScenarioName[];
  const unknown = scenarios.find((s) => !STAGING_SCENARIOS.some((k) => k.name === s));
  if (unknown)
    throw new Error(
      `--scenario: ${shownArg(unknown)} is not a staging scenario; known: ${STAGING_SCENARIOS.map((s) => s.name).join(', ')}`,
    );
  if (values.endpoint !== undefined && !/^https?:\/\//.test(values.endpoint))
    throw new Error(`--endpoint must be an http(s) URL, got ${shownArg(values.endpoint)}`);
  return {
    secrets,
    endpoint: values.endpoint,
    confirm: values.confirm,
    graceTimeout: int('grace-timeout', 0),
    instances: int('instances', 1),
    rps: int('rps', 1),
    scenarios,
    report: reportPath(values.report),
    inventory: values.inventory,
    json: values.json,
  };
}
