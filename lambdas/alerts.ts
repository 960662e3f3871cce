import { PublishCommand, type SNSClient } from '@aws-sdk/client-sns';
import type { Logger } from './logger.js';

export interface Alert {
  /** Short subject line; SNS caps it at 100 characters. */
  subject: string;
  secret: string;
  event: string;
  detail: string;
  [field: string]: unknown;
}

/**
 * Publishes an alert to the operators' SNS topic. Alerts carry names, version ids and key ids only.
 * A failed publish is logged, never thrown: alerting must not turn a safe abort into a failed step.
 */
export async function publishAlert(
  sns: SNSClient | undefined,
  topicArn: string | undefined,
  alert: Alert,
  logger: Logger,
): Promise<void> {
  // The subject in the message too: a person reading the CLI's warnings sees what happened.
  logger.warn(`alert: ${alert.subject.replace(/^rekey: /, '')}`, { alert });
  if (!sns || !topicArn) return;
  try {
    await sns.send(
      new PublishCommand({
        TopicArn: topicArn,
        Subject: alert.subject.slice(0, 100),
        Message: logger.redact(JSON.stringify(alert)),
      }),
    );
  } catch (error) {
    logger.error('could not publish alert', { topicArn, error });
  }
}
