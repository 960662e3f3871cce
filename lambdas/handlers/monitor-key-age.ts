import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import middy from '@middy/core';
import { monitoredSecretsOf, publishFromOf, publishKeyAges } from '../key-age.js';
import { rootLogger } from '../logger.js';
import { bundledRoutes } from '../routes.js';

const secretsManager = new SecretsManagerClient({});
const logger = rootLogger.child({ function: 'rekey-key-age' });
const secrets = monitoredSecretsOf(bundledRoutes().routes);
const publishFromSeconds = publishFromOf(process.env);

/** Scheduled hourly by the stack: publishes the age of every key old enough to matter for the "too old" alarm. */
export const handler = middy(async () => {
  await publishKeyAges(secrets, {
    secretsManager,
    logger,
    emit: (line) => process.stdout.write(`${line}\n`),
    publishFromSeconds,
  });
});
