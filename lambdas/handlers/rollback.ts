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
import { revocationConfigFromEnv } from '../revocation.js';
import { type RollbackReport, rollbackFromEvent } from '../rollback.js';
import { bundledRoutes } from '../routes.js';

const config = revocationConfigFromEnv();
const logger = rootLogger.child({ function: 'rekey-rollback' });
// A rollback waits for a busy secret (a revocation in progress), within the function's 2-minute timeout.
const lease = leaseFromEnv(logger, { waitMs: 60_000 });
const clients = {
  secretsManager: new SecretsManagerClient(FUNCTION_AWS_RETRY),
  scheduler: new SchedulerClient({}),
  sns: new SNSClient({}),
  endpoints: providerEndpointsFromEnv(),
  // The keys of the stack, each acted on with a session of that key's revocation role.
  routes: bundledRoutes(),
  scopeFor: assumedKeyScopes({
    sts: new STSClient({}),
    roleArnPrefix: process.env.REKEY_ROLE_ARN_PREFIX,
    purpose: 'revocation',
    actor: 'rollback',
  }),
  ...(lease ? { lease } : {}),
  // An alarm's notification is checked against CloudWatch before anything is rolled back.
  cloudWatch: new CloudWatchClient({}),
  ...(process.env.REKEY_ROLLBACK_TOPIC_ARN ? { rollbackTopicArn: process.env.REKEY_ROLLBACK_TOPIC_ARN } : {}),
};

/**
 * Rollback: invoked directly with `{ secretId, revokeNow? }`, or by SNS carrying a CloudWatch alarm — a
 * per-key alarm whose SecretName dimension names the key, or the stack's fleet auth-failure alarm of the
 * `rollback_on_failure` keys, whose contributors in ALARM are the keys.
 */
export const handler = middy(
  async (event: unknown): Promise<RollbackReport | RollbackReport[] | undefined> => {
    if (!config)
      throw new InvalidInputError(
        'INVALID_INPUT',
        'the rollback function needs REKEY_SCHEDULE_GROUP, REKEY_SCHEDULER_ROLE_ARN and REKEY_REVOKER_ARN; deploy it with the rekey stack.',
      );
    return rollbackFromEvent(event, { ...clients, config, logger });
  },
);
