import { ArnFormat, Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import type * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as destinations from 'aws-cdk-lib/aws-lambda-destinations';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type { KeyRoute } from '../lambdas/routes.js';
import { RekeyFunction } from './function.js';
import { nagResource } from './nag.js';

export interface RevocationProps {
  /**
   * How long the dead-letter queue keeps revocations Scheduler could not deliver.
   * @default Duration.days(14) (the SQS maximum)
   */
  readonly deadLetterRetention?: Duration;
  /**
   * Every key of the stack: the revoker and rollback act on these only (their bundles' routes).
   * @default - none
   */
  readonly routes?: readonly KeyRoute[];
}

/**
 * The machinery that revokes an old key after its grace period: an EventBridge Scheduler group for the
 * one-shot revocation schedules, the role Scheduler assumes (it may invoke the revoker and nothing else),
 * an encrypted dead-letter queue for deliveries Scheduler gives up on, the revoker and the rollback function.
 *
 * Rotation functions, the revoker and rollback all read the wiring from `environment`.
 */
export class Revocation extends Construct {
  readonly scheduleGroup: scheduler.ScheduleGroup;
  /** ARN pattern of the schedules in the group: `…:schedule/<group>/*`. */
  readonly schedulesArn: string;
  readonly schedulerRole: iam.Role;
  readonly deadLetterQueue: sqs.Queue;
  readonly revoker: RekeyFunction;
  /** The revoker's ARN, known before the function exists (it re-schedules itself). */
  readonly revokerArn: string;
  readonly rollback: RekeyFunction;

  constructor(scope: Construct, id: string, props: RevocationProps = {}) {
    super(scope, id);
    const stack = Stack.of(this);
    const retention = props.deadLetterRetention ?? Duration.days(14);
    if (retention.toSeconds() < 60 || retention.toSeconds() > Duration.days(14).toSeconds()) {
      throw new Error(
        `\`deadLetterRetention\` must be between 1 minute and 14 days, got ${retention.toHumanString()}`,
      );
    }
    this.scheduleGroup = new scheduler.ScheduleGroup(this, 'Schedules', {
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.schedulesArn = stack.formatArn({
      service: 'scheduler',
      resource: 'schedule',
      resourceName: `${this.scheduleGroup.scheduleGroupName}/*`,
      arnFormat: ArnFormat.SLASH_RESOURCE_NAME,
    });
    this.deadLetterQueue = new sqs.Queue(this, 'DeadLetters', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: retention,
    });
    this.schedulerRole = new iam.Role(this, 'SchedulerRole', {
      description: 'rekey: EventBridge Scheduler invokes the revoker with this role',
      assumedBy: new iam.ServicePrincipal('scheduler.amazonaws.com', {
        conditions: {
          StringEquals: { 'aws:SourceAccount': stack.account },
          ArnEquals: { 'aws:SourceArn': this.scheduleGroup.scheduleGroupArn },
        },
      }),
    });
    const revokerName = `${stack.stackName}-revoker`;
    this.revokerArn = stack.formatArn({
      service: 'lambda',
      resource: 'function',
      resourceName: revokerName,
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });
    this.revoker = new RekeyFunction(this, 'Revoker', {
      handler: 'revoke',
      functionName: revokerName,
      description:
        'rekey revoker: revokes the previous key once its grace period is over and the new key is in use',
      timeout: Duration.minutes(2),
      routes: props.routes ?? [],
    });
    this.rollback = new RekeyFunction(this, 'Rollback', {
      handler: 'rollback',
      description: 'rekey rollback: restores the previous key as AWSCURRENT when the new one fails',
      timeout: Duration.minutes(2),
      routes: props.routes ?? [],
    });
    // Scheduler hands the event over asynchronously; its retry policy and DLQ cover only that hand-over.
    // An error the function throws is Lambda's to retry (twice), then its on-failure destination's: the same
    // queue, so a revocation or rollback that keeps failing is parked and alarmed, never dropped.
    for (const fn of [this.revoker, this.rollback])
      fn.function.configureAsyncInvoke({
        retryAttempts: 2,
        maxEventAge: Duration.hours(6),
        onFailure: new destinations.SqsDestination(this.deadLetterQueue),
      });
    // The Scheduler role's whole policy: invoke the revoker, park undeliverable revocations in the DLQ.
    this.schedulerRole.addToPrincipalPolicy(
      new iam.PolicyStatement({ actions: ['lambda:InvokeFunction'], resources: [this.revokerArn] }),
    );
    this.schedulerRole.addToPrincipalPolicy(
      new iam.PolicyStatement({ actions: ['sqs:SendMessage'], resources: [this.deadLetterQueue.queueArn] }),
    );
    for (const fn of [this.revoker, this.rollback])
      this.grantScheduling(fn.role, ['scheduler:DeleteSchedule']);
    Validations.of(this.deadLetterQueue).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason:
        'This queue is itself the dead-letter queue of the revocation schedules; nothing redrives from it.',
    });
  }

  /** The environment every function that schedules or cancels revocations reads. */
  environment(alertTopicArn: string): Record<string, string> {
    return {
      REKEY_SCHEDULE_GROUP: this.scheduleGroup.scheduleGroupName,
      REKEY_SCHEDULER_ROLE_ARN: this.schedulerRole.roleArn,
      REKEY_REVOKER_ARN: this.revokerArn,
      REKEY_DLQ_ARN: this.deadLetterQueue.queueArn,
      REKEY_ALERT_TOPIC_ARN: alertTopicArn,
    };
  }

  /**
   * Lets `grantee` create and read revocation schedules in the group (plus `extraActions`), list them, and
   * hand Scheduler its role — that role only.
   */
  grantScheduling(grantee: iam.IGrantable, extraActions: string[] = []): void {
    grantee.grantPrincipal.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['scheduler:CreateSchedule', 'scheduler:GetSchedule', ...extraActions],
        resources: [this.schedulesArn],
      }),
    );
    // ListSchedules has no resource type in IAM: it is granted on "*" or not at all.
    grantee.grantPrincipal.addToPrincipalPolicy(
      new iam.PolicyStatement({ actions: ['scheduler:ListSchedules'], resources: ['*'] }),
    );
    if (grantee instanceof iam.Role) {
      Validations.of(grantee).acknowledge(
        {
          id: `AwsSolutions-IAM5[Resource::${nagResource(this, this.schedulesArn)}]`,
          reason:
            "Revocation schedules get one-off names at rotation time; the pattern covers only schedules in rekey's own group.",
        },
        {
          id: 'AwsSolutions-IAM5[Resource::*]',
          reason:
            'scheduler:ListSchedules has no resource type in IAM (see the Service Authorization Reference); it can only be granted on "*". Other "*" statements of this role are documented where they are added.',
        },
      );
    }
    grantee.grantPrincipal.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['iam:PassRole'],
        resources: [this.schedulerRole.roleArn],
        conditions: { StringEquals: { 'iam:PassedToService': 'scheduler.amazonaws.com' } },
      }),
    );
  }

  /**
   * Messages in the dead-letter queue: revocations Scheduler could not deliver, and revocations or rollbacks
   * that failed through Lambda's asynchronous retries.
   */
  metricDeadLetters(): cloudwatch.Metric {
    return this.deadLetterQueue.metricApproximateNumberOfMessagesVisible({
      statistic: 'Maximum',
      period: Duration.minutes(5),
    });
  }
}
