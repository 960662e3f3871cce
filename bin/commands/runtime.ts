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
  const logger = new Logger((line) => io.err(line), { tool: 'rekey-cli' }, 'warn');
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

/** Polls DescribeSecret until `done` holds or `timeoutMs` passes. */
export async function waitFor(
  sm: SecretsManagerClient,
  secretId: string,
  done: (metadata: DescribeSecretCommandOutput) => boolean,
  timeoutMs: number,
  intervalMs = 1000,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (done(await sm.send(new DescribeSecretCommand({ SecretId: secretId })))) return true;
    if (Date.now() >= deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** Prints a rekey error's message (never a stack) and returns the exit code for it. */
export function reportError(io: CommandIO, command: string, error: unknown): number {
  io.err(`rekey ${command}: ${error instanceof Error ? error.message : String(error)}`);
  return error instanceof RekeyError ? 1 : 2;
}
