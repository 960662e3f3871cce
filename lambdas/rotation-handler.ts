import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import middy from '@middy/core';
import { RekeyError } from './errors.js';
import { type Logger, rootLogger } from './logger.js';
import type { ProviderDefinition } from './providers/types.js';
import { type RotationDeps, runRotationStep } from './rotation.js';

/**
 * Builds the Lambda handler of one provider's rotation function. Clients are built once per container;
 * `REKEY_PROVIDER_ENDPOINT` points the adapter at a sandbox or regional API (never read from the secret,
 * so whoever can write a secret cannot redirect the admin credential).
 */
export function rotationHandler(provider: ProviderDefinition, overrides: Partial<RotationDeps> = {}) {
  const endpoint = process.env.REKEY_PROVIDER_ENDPOINT;
  const deps: RotationDeps = {
    secretsManager: new SecretsManagerClient({}),
    logger: rootLogger.child({ function: `rotate-${provider.name}` }),
    provider,
    ...(endpoint ? { endpoint } : {}),
    ...overrides,
  };
  return middy(async (event: unknown) => {
    try {
      await runRotationStep(event, deps);
    } catch (error) {
      throw logAndSanitize(error, deps.logger);
    }
  });
}

/** Logs a failed step once and rethrows an error whose message went through redaction. */
export function logAndSanitize(error: unknown, logger: Logger): Error {
  logger.error('step failed', { error });
  if (error instanceof RekeyError) return error;
  const name = error instanceof Error ? error.name : 'Error';
  const safe = new Error(logger.redact(error instanceof Error ? error.message : String(error)));
  safe.name = name;
  return safe;
}
