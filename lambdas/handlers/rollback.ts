import { SchedulerClient } from '@aws-sdk/client-scheduler';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SNSClient } from '@aws-sdk/client-sns';
import middy from '@middy/core';
import { publishAlert } from '../alerts.js';
import { InvalidInputError, RollbackRefusedError } from '../errors.js';
import { leaseFromEnv } from '../lease.js';
import { rootLogger } from '../logger.js';
import { providerEndpointsFromEnv } from '../providers/index.js';
import { revocationConfigFromEnv } from '../revocation.js';
import { type RollbackReport, rollbackKey, rollbackRequestFromEvent } from '../rollback.js';

const config = revocationConfigFromEnv();
const logger = rootLogger.child({ function: 'rekey-rollback' });
// A rollback waits for a busy secret (a revocation in progress), within the function's 2-minute timeout.
const lease = leaseFromEnv(logger, { waitMs: 60_000 });
const sns = new SNSClient({});
const clients = {
  secretsManager: new SecretsManagerClient({}),
  scheduler: new SchedulerClient({}),
  sns,
  endpoints: providerEndpointsFromEnv(),
  ...(lease ? { lease } : {}),
};

/**
 * Rollback: invoked directly with `{ secretId, revokeNow? }`, or by SNS carrying a CloudWatch alarm whose
 * SecretName dimension names the key (the stack wires `rollback_on_failure` keys' auth-failure alarms here).
 */
export const handler = middy(async (event: unknown): Promise<RollbackReport | undefined> => {
  if (!config)
    throw new InvalidInputError(
      'INVALID_INPUT',
      'the rollback function needs REKEY_SCHEDULE_GROUP, REKEY_SCHEDULER_ROLE_ARN and REKEY_REVOKER_ARN; deploy it with the rekey stack.',
    );
  const request = rollbackRequestFromEvent(event);
  if (!request) {
    logger.info('event is not an alarm entering ALARM; nothing to roll back');
    return undefined;
  }
  try {
    return await rollbackKey(request, { ...clients, config, logger });
  } catch (error) {
    // An alarm's rollback that is refused is final — SNS delivers at least once and Lambda would retry
    // it: alert instead of failing. A direct invoker gets the refusal.
    const fromAlarm = Array.isArray((event as { Records?: unknown } | undefined)?.Records);
    if (!(error instanceof RollbackRefusedError) || !fromAlarm) throw error;
    logger.warn('rollback refused', { secretId: request.secretId, reason: error.message });
    await publishAlert(
      sns,
      config.alertTopicArn,
      {
        subject: `rekey: rollback of ${request.secretId} refused`,
        secret: request.secretId,
        event: 'rollback-refused',
        detail: error.message,
      },
      logger,
    );
    return undefined;
  }
});
