import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { SchedulerClient } from '@aws-sdk/client-scheduler';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SNSClient } from '@aws-sdk/client-sns';
import { STSClient } from '@aws-sdk/client-sts';
import middy from '@middy/core';
import { FUNCTION_AWS_RETRY } from '../aws-retry.js';
import { InvalidInputError } from '../errors.js';
import { assumedKeyScopes } from '../key-scope.js';
import { leaseFromEnv } from '../lease.js';
import { rootLogger } from '../logger.js';
import { providerEndpointsFromEnv } from '../providers/index.js';
import { revocationConfigFromEnv, revokePreviousKey } from '../revocation.js';
import { bundledRoutes } from '../routes.js';
import { cloudWatchUsageSource } from '../usage-metrics.js';

const config = revocationConfigFromEnv();
const logger = rootLogger.child({ function: 'rekey-revoker' });
// A busy secret re-schedules the revocation rather than waiting.
const lease = leaseFromEnv(logger);
const clients = {
  secretsManager: new SecretsManagerClient(FUNCTION_AWS_RETRY),
  scheduler: new SchedulerClient({}),
  sns: new SNSClient({}),
  // Usage evidence: the rekey client's KeyCalls by key id (a provider's last-used report comes first).
  usageSources: [cloudWatchUsageSource(new CloudWatchClient({}))],
  endpoints: providerEndpointsFromEnv(),
  // The keys of the stack, each acted on with a session of that key's revocation role.
  routes: bundledRoutes(),
  scopeFor: assumedKeyScopes({
    sts: new STSClient({}),
    roleArnPrefix: process.env.REKEY_ROLE_ARN_PREFIX,
    purpose: 'revocation',
    actor: 'revoker',
  }),
  ...(lease ? { lease } : {}),
};

/** The revoker: EventBridge Scheduler delivers a revocation request (at least once). */
export const handler = middy(async (event: unknown) => {
  if (!config)
    throw new InvalidInputError(
      'INVALID_INPUT',
      'the revoker needs REKEY_SCHEDULE_GROUP, REKEY_SCHEDULER_ROLE_ARN and REKEY_REVOKER_ARN; deploy it with the rekey stack.',
    );
  return revokePreviousKey(event, { ...clients, config, logger });
});
