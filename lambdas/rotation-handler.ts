import { SchedulerClient } from '@aws-sdk/client-scheduler';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SNSClient } from '@aws-sdk/client-sns';
import { STSClient } from '@aws-sdk/client-sts';
import middy from '@middy/core';
import { publishAlert } from './alerts.js';
import { FUNCTION_AWS_RETRY } from './aws-retry.js';
import { emfRecord } from './emf.js';
import { RekeyError } from './errors.js';
import { assumedKeyScopes } from './key-scope.js';
import { leaseFromEnv } from './lease.js';
import { type Logger, rootLogger } from './logger.js';
import type { ProviderDefinition } from './providers/types.js';
import { revocationConfigFromEnv, revocationHandOver } from './revocation.js';
import { type RotationDeps, runRotationStep } from './rotation.js';
import { bundledRoutes } from './routes.js';
import { DIMENSIONS, METRICS, secretNameOf } from './telemetry.js';

/**
 * Builds the Lambda handler of one provider's rotation function. Clients are built once per container; it
 * rotates only the keys in its bundle's routes, each with a session of that key's rotation role.
 * `REKEY_PROVIDER_ENDPOINT` points the adapter at a sandbox or regional API (never read from the secret,
 * so whoever can write a secret cannot redirect the admin credential); the REKEY_* revocation variables
 * (see revocationConfigFromEnv) make finishSecret schedule the revoker.
 */
export function rotationHandler(provider: ProviderDefinition) {
  const endpoint = process.env.REKEY_PROVIDER_ENDPOINT;
  const config = revocationConfigFromEnv();
  const sns = new SNSClient({});
  const logger = rootLogger.child({ function: `rotate-${provider.name}` });
  // A step that finds the secret busy waits a little (an emergency's preparation), then fails for a retry.
  const lease = leaseFromEnv(logger, { waitMs: 30_000 });
  const deps: RotationDeps = {
    // Each step swaps in its key's scoped client (scopeFor); the function's own role holds no secret grants.
    secretsManager: new SecretsManagerClient(FUNCTION_AWS_RETRY),
    logger,
    provider,
    routes: bundledRoutes(),
    scopeFor: assumedKeyScopes({
      sts: new STSClient({}),
      roleArnPrefix: process.env.REKEY_ROLE_ARN_PREFIX,
      purpose: 'rotation',
      actor: `rotate-${provider.name}`,
    }),
    alert: (alert) => publishAlert(sns, process.env.REKEY_ALERT_TOPIC_ARN, alert, logger),
    ...(endpoint ? { endpoint } : {}),
    ...(lease ? { lease } : {}),
    ...(config
      ? {
          handOver: revocationHandOver({
            scheduler: new SchedulerClient({}),
            sns,
            config,
            ...(endpoint ? { endpoints: { [provider.name]: endpoint } } : {}),
          }),
        }
      : {}),
  };
  return middy(async (event: unknown) => {
    try {
      await runRotationStep(event, deps);
    } catch (error) {
      const secretId = (event as { SecretId?: unknown } | undefined)?.SecretId;
      deps.logger.error(
        'rotation step failed',
        emfRecord([{ name: METRICS.rotationFailures, value: 1 }], {
          [DIMENSIONS.secret]: secretNameOf(typeof secretId === 'string' ? secretId : 'unknown'),
        }),
      );
      throw logAndSanitize(error, deps.logger);
    }
  });
}

/** Logs a failed step once and rethrows an error whose message went through redaction. */
export function logAndSanitize(error: unknown, logger: Logger): Error {
  logger.error('step failed', { error });
  if (error instanceof RekeyError) {
    // Ours are built from names and ids, but a provider's error text may ride along: redact anyway.
    error.message = logger.redact(error.message);
    return error;
  }
  const name = error instanceof Error ? error.name : 'Error';
  const safe = new Error(logger.redact(error instanceof Error ? error.message : String(error)));
  safe.name = name;
  return safe;
}
