import { randomUUID } from 'node:crypto';
import type { Clock } from '../clock.js';
import type { LambdaRegistry } from './lambda.js';
import { type AwsRequest, type AwsResponse, type AwsService, AwsServiceError } from './protocol.js';

const XMLNS = 'http://sns.amazonaws.com/doc/2010-03-31/';

export interface PublishedMessage {
  topicArn: string;
  subject: string | undefined;
  message: string;
  messageId: string;
  at: Date;
}

/**
 * SNS over its real wire protocol (AWS Query: form-encoded requests, XML responses): CreateTopic, Publish,
 * Subscribe with protocol `lambda` (delivered in-process with the SNS event shape). Other protocols,
 * filter policies and FIFO topics are out of scope.
 */
export class SnsService implements AwsService {
  readonly signingNames = ['sns'] as const;
  private readonly topics = new Map<string, Array<{ arn: string; lambdaArn: string }>>();
  readonly published: PublishedMessage[] = [];
  private readonly deliveries = new Set<Promise<unknown>>();

  constructor(
    private readonly clock: Clock,
    private readonly lambdas: LambdaRegistry,
    private readonly region: string,
    private readonly accountId: string,
  ) {}

  /** Creates a topic directly (what the stack would deploy); returns its ARN. */
  createTopic(name: string): string {
    const arn = `arn:aws:sns:${this.region}:${this.accountId}:${name}`;
    if (!this.topics.has(arn)) this.topics.set(arn, []);
    return arn;
  }

  messagesTo(topicArn: string): PublishedMessage[] {
    return this.published.filter((m) => m.topicArn === topicArn);
  }

  /** Resolves when every Lambda delivery started so far has finished. */
  async settled(): Promise<void> {
    while (this.deliveries.size > 0) await Promise.allSettled([...this.deliveries]);
  }

  async handle(request: AwsRequest): Promise<AwsResponse> {
    const form = new URLSearchParams(request.body);
    const action = form.get('Action') ?? '';
    try {
      switch (action) {
        case 'CreateTopic': {
          const name = required(form, 'Name');
          if (!/^[A-Za-z0-9_-]{1,256}$/.test(name))
            throw new AwsServiceError('InvalidParameter', 'Invalid parameter: Topic Name');
          return xml(action, `<TopicArn>${this.createTopic(name)}</TopicArn>`);
        }
        case 'Publish': {
          const topicArn = required(form, 'TopicArn');
          const subscriptions = this.topics.get(topicArn);
          if (!subscriptions) throw new AwsServiceError('NotFound', 'Topic does not exist', 404);
          const message = required(form, 'Message');
          const subject = form.get('Subject') ?? undefined;
          const messageId = randomUUID();
          const at = this.clock.now();
          this.published.push({ topicArn, subject, message, messageId, at });
          for (const sub of subscriptions)
            this.deliverToLambda(sub, { topicArn, subject, message, messageId, at });
          return xml(action, `<MessageId>${messageId}</MessageId>`);
        }
        case 'Subscribe': {
          const topicArn = required(form, 'TopicArn');
          const subscriptions = this.topics.get(topicArn);
          if (!subscriptions) throw new AwsServiceError('NotFound', 'Topic does not exist', 404);
          if (form.get('Protocol') !== 'lambda')
            throw new AwsServiceError(
              'InvalidParameter',
              'The loopback endpoint supports Protocol lambda only.',
            );
          const arn = `${topicArn}:${randomUUID()}`;
          subscriptions.push({ arn, lambdaArn: required(form, 'Endpoint') });
          return xml(action, `<SubscriptionArn>${arn}</SubscriptionArn>`);
        }
        default:
          throw new AwsServiceError(
            'InvalidAction',
            `The loopback endpoint does not implement SNS ${action || '(no Action)'}.`,
          );
      }
    } catch (error) {
      return this.errorResponse(
        error instanceof AwsServiceError
          ? error
          : new AwsServiceError(
              'InternalError',
              error instanceof Error ? error.message : 'internal error',
              500,
            ),
      );
    }
  }

  /** An error as the Query protocol sends it: `<ErrorResponse>` with the code and message. */
  errorResponse(e: AwsServiceError): AwsResponse {
    return {
      status: e.status,
      headers: { 'content-type': 'text/xml' },
      body: `<ErrorResponse xmlns="${XMLNS}"><Error><Type>Sender</Type><Code>${e.type}</Code><Message>${escapeXml(e.message)}</Message></Error><RequestId>${randomUUID()}</RequestId></ErrorResponse>`,
    };
  }

  private deliverToLambda(
    sub: { arn: string; lambdaArn: string },
    m: Omit<PublishedMessage, 'topicArn'> & { topicArn: string },
  ): void {
    const event = {
      Records: [
        {
          EventSource: 'aws:sns',
          EventVersion: '1.0',
          EventSubscriptionArn: sub.arn,
          Sns: {
            Type: 'Notification',
            MessageId: m.messageId,
            TopicArn: m.topicArn,
            Subject: m.subject ?? null,
            Message: m.message,
            Timestamp: m.at.toISOString(),
          },
        },
      ],
    };
    // SNS invokes Lambda asynchronously: Lambda's retries (and duplicates) apply, the publisher learns nothing.
    const delivery = this.lambdas
      .invokeAsync(sub.lambdaArn, event)
      .catch(() => undefined)
      .finally(() => this.deliveries.delete(delivery));
    this.deliveries.add(delivery);
  }
}

function required(form: URLSearchParams, name: string): string {
  const value = form.get(name);
  if (!value) throw new AwsServiceError('InvalidParameter', `Invalid parameter: ${name} is required`);
  return value;
}

function xml(action: string, result: string): AwsResponse {
  return {
    status: 200,
    headers: { 'content-type': 'text/xml' },
    body: `<${action}Response xmlns="${XMLNS}"><${action}Result>${result}</${action}Result><ResponseMetadata><RequestId>${randomUUID()}</RequestId></ResponseMetadata></${action}Response>`,
  };
}

function escapeXml(text: string): string {
  return text.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);
}
