import { existsSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { SchedulerClient } from '@aws-sdk/client-scheduler';
import {
  DescribeSecretCommand,
  type DescribeSecretCommandOutput,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { SNSClient } from '@aws-sdk/client-sns';
import { RekeyError } from '../../lambdas/errors.js';
import { type LeaseDeps, leaseFromEnv } from '../../lambdas/lease.js';
import { Logger } from '../../lambdas/logger.js';
import { PROVIDERS, providerEndpointsFromEnv } from '../../lambdas/providers/index.js';
import {
  type RevocationConfig,
  type RevocationDeps,
  revocationConfigFromEnv,
} from '../../lambdas/revocation.js';
import { KeyRoutes } from '../../lambdas/routes.js';
import { keyRouteOf, loadInventory } from '../../lib/inventory.js';
import type { CommandIO } from './types.js';

/**
 * What the operational commands share: SDK clients from the standard AWS configuration (AWS_PROFILE,
 * AWS_REGION, AWS_ENDPOINT_URL…), a logger that shows warnings on stderr, provider endpoint overrides
 * (REKEY_PROVIDER_ENDPOINT_<PROVIDER>, for sandboxes), and the revocation wiring of the deployed stack.
 */
export interface CliRuntime {
  secretsManager: SecretsManagerClient;
  scheduler: SchedulerClient;
  sns: SNSClient;
  logger: Logger;
  endpoints: Record<string, string>;
  /** The revocation wiring from REKEY_* variables; undefined when they are not set. */
  config: RevocationConfig | undefined;
  /** The per-secret lease (REKEY_LEASE_TABLE); undefined when it is not set. */
  lease?: LeaseDeps;
  /** The inventory's keys as deployed: the CLI acts on these only, as the inventory configures them. */
  routes: KeyRoutes;
}

/**
 * The CLI's routes: the inventory the stack was deployed from (`--inventory`, default rekey.yaml), so a
 * person's command is held to the same configuration as the functions.
 */
export function inventoryRoutes(path: string): KeyRoutes {
  return new KeyRoutes(loadInventory(path, Object.keys(PROVIDERS)).map((plan) => keyRouteOf(plan)));
}

export function cliRuntime(
  io: CommandIO,
  inventoryPath = 'rekey.yaml',
  env: NodeJS.ProcessEnv = process.env,
): CliRuntime {
  const logger = cliLogger(io);
  // A person waits a little for a busy secret (a rotation step, the revoker) rather than retrying by hand.
  const lease = leaseFromEnv(logger, { waitMs: 30_000 }, env);
  return {
    secretsManager: new SecretsManagerClient({}),
    scheduler: new SchedulerClient({}),
    sns: new SNSClient({}),
    logger,
    endpoints: providerEndpointsFromEnv(env),
    config: revocationConfigFromEnv(env),
    ...(lease ? { lease } : {}),
    routes: inventoryRoutes(inventoryPath),
  };
}

/**
 * The secret a command names: a secret name or ARN of the deployment as given, else the secret of the
 * inventory entry of that name (as `status` and `import` accept), else as given (to be refused by name).
 */
export function secretIdOf(routes: KeyRoutes, nameOrSecret: string): string {
  if (routes.find(nameOrSecret)) return nameOrSecret;
  const entry = routes.routes.find((route) => route.name === nameOrSecret);
  return entry ? (entry.secretArn ?? entry.secretName) : nameOrSecret;
}

/** The lease for a command that changes a secret; without REKEY_LEASE_TABLE, says what it cannot exclude. */
export function warnWithoutLease(io: CommandIO, runtime: Pick<CliRuntime, 'lease'>, command: string): void {
  if (!runtime.lease)
    io.err(
      `rekey ${command}: REKEY_LEASE_TABLE is not set, so this command does not wait for a rotation or revocation running on the same secret; set it from the stack output (see README, "CLI").`,
    );
}

/** Revocation dependencies for commands that schedule or perform revocations; a clear error without wiring. */
export function revocationDeps(runtime: CliRuntime): RevocationDeps {
  if (!runtime.config) {
    throw new RekeyError(
      'INVALID_INPUT',
      'this command needs the stack\'s revocation wiring: set REKEY_SCHEDULE_GROUP, REKEY_SCHEDULER_ROLE_ARN, REKEY_REVOKER_ARN (and REKEY_ALERT_TOPIC_ARN) from the stack outputs (see README, "CLI").',
      false,
    );
  }
  return { ...runtime, config: runtime.config };
}

export function destroy(runtime: CliRuntime): void {
  runtime.lease?.dynamodb.destroy();
  runtime.secretsManager.destroy();
  runtime.scheduler.destroy();
  runtime.sns.destroy();
}

/**
 * Polls DescribeSecret until `done` holds or `timeoutMs` passes; `signal` (a fleet run's Ctrl-C) ends the
 * wait early, as a timeout.
 */
export async function waitFor(
  sm: SecretsManagerClient,
  secretId: string,
  done: (metadata: DescribeSecretCommandOutput) => boolean,
  timeoutMs: number,
  intervalMs = 1000,
  signal?: AbortSignal,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (signal?.aborted) return false;
    if (done(await sm.send(new DescribeSecretCommand({ SecretId: secretId })))) return true;
    if (Date.now() >= deadline) return false;
    await delay(intervalMs, undefined, signal ? { signal } : {}).catch(() => {});
  }
}

/**
 * The CLI's logger: warnings and errors only, on stderr as a person reads them — "rekey: warning: <message>
 * (field=value, …)" — never the JSON lines the functions write for CloudWatch. Values are redacted as ever.
 */
export function cliLogger(io: CommandIO): Logger {
  return new Logger((line) => io.err(humanLine(line)), {}, 'warn');
}

function humanLine(line: string): string {
  let record: Record<string, unknown>;
  try {
    record = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line;
  }
  const { level, message, time: _time, error, ...fields } = record;
  const details = Object.entries(fields)
    .filter(([, v]) => v !== undefined && (typeof v !== 'object' || v === null))
    .map(([k, v]) => `${k}=${String(v)}`);
  const cause =
    error && typeof error === 'object' && 'message' in error
      ? ` — ${String((error as { message: unknown }).message)}`
      : '';
  return `rekey: ${String(level ?? 'info')}: ${String(message ?? '')}${cause}${details.length ? ` (${details.join(', ')})` : ''}`;
}

/**
 * Prints why a command that was understood did not succeed — a refusal, an AWS or provider answer — and
 * returns 1; 2 is for command lines that were not understood (`usageError`). Never a stack.
 */
export function reportError(io: CommandIO, command: string, error: unknown, json = false): number {
  const message = withFix(error instanceof Error ? error.message : String(error), error);
  if (json) io.out(JSON.stringify({ error: { code: errorCode(error), message } }, null, 2));
  else io.err(`rekey ${command}: ${message}`);
  return 1;
}

/**
 * The AWS SDK's own words for a missing configuration or an unreachable endpoint say nothing of the fix;
 * this adds it. Anything else is shown as it is.
 */
function withFix(message: string, error: unknown, env: NodeJS.ProcessEnv = process.env): string {
  const code = (error as { code?: unknown } | null)?.code;
  if (/^Region is missing$/.test(message))
    return 'no AWS Region is configured: set AWS_REGION (or a profile with a region via AWS_PROFILE); against `rekey local`, `source .rekey-local/env` first.';
  if ((error as Error | null)?.name === 'CredentialsProviderError')
    return `no AWS credentials were found (${message}): set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY; against \`rekey local\`, \`source .rekey-local/env\` first.`;
  if (code === 'ECONNREFUSED' && env.AWS_ENDPOINT_URL)
    return `nothing answers at AWS_ENDPOINT_URL ${env.AWS_ENDPOINT_URL} (${message}): start \`rekey local\` again (and source its env file), or unset AWS_ENDPOINT_URL to use AWS.`;
  return message;
}

/** A refusal's stable code (rekey's), else the AWS or Node error name. */
export function errorCode(error: unknown): string {
  if (error instanceof RekeyError) return error.code;
  return error instanceof Error ? error.name : 'Error';
}

/**
 * A `--report <path>`, checked before a run: its directory must exist (a typo must not create directories
 * or lose the report after the run).
 */
export function reportPath(path: string): string {
  const dir = dirname(resolve(path));
  // A path is shown as written, JSON-quoted so no control character reaches the terminal (it names where
  // the user meant to write); a single word, which might be a pasted key, only as shownArg shows it.
  const written = dirname(path);
  const shown = /[/\\]/.test(written) ? JSON.stringify(written) : shownArg(written);
  if (!existsSync(dir) || !statSync(dir).isDirectory())
    throw new Error(`--report: the directory ${shown} does not exist; create it first or give another path`);
  return path;
}

/**
 * A command-line value as a message may quote it: short plain text as written, anything else described by
 * its length — a key pasted into the wrong place must not reach a terminal or a CI log, nor control
 * characters the terminal.
 */
export function shownArg(value: string): string {
  return /^[\w.:/@,+=-]{1,24}$/.test(value) ? `"${value}"` : `a value of ${value.length} characters`;
}

/**
 * Prints a usage error and the usage, and returns 2. Node's parseArgs quotes an unknown option or an
 * unexpected argument as given; those messages are rebuilt with `shownArg` (its other messages quote only
 * the command's own option names).
 */
export function usageError(
  io: CommandIO,
  command: string,
  error: unknown,
  usage: string,
  json = false,
): number {
  const message = error instanceof Error ? error.message : String(error);
  const code = (error as { code?: unknown } | undefined)?.code;
  const option = /^Unknown option '([\s\S]*)'(?:\. To specify a positional argument[\s\S]*)?$/.exec(message);
  const positional =
    /^Unexpected argument '([\s\S]*)'\. This command does not take positional arguments$/.exec(message);
  const text =
    code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' && option
      ? `unknown option ${shownArg(option[1]!)}`
      : code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL' && positional
        ? `unexpected argument ${shownArg(positional[1]!)}`
        : message;
  // Machines get the error on stdout as JSON (with --json); people get the usage on stderr either way.
  if (json) io.out(JSON.stringify({ error: { code: 'USAGE', message: text } }, null, 2));
  io.err(`rekey ${command}: ${text}\n\n${usage}`);
  return 2;
}
