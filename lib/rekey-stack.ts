import { createHash } from 'node:crypto';
import { ArnFormat, CfnOutput, Duration, Stack, type StackProps, Validations } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import type { Construct } from 'constructs';
import { formatDuration } from '../lambdas/duration.js';
import { InvalidInputError } from '../lambdas/errors.js';
import { providerEndpointVariable } from '../lambdas/providers/index.js';
import { AlertTopics, type Audience } from './alert-topics.js';
import { RekeyFunction } from './function.js';
import { KEY_AGE_FACTOR, keyRouteOf, type ManagedKeyPlan } from './inventory.js';
import { keyRoleNames, roleArn } from './key-roles.js';
import { LeaseTable } from './lease-table.js';
import { ManagedKey } from './managed-key.js';
import { Revocation } from './revocation.js';

export interface RekeyStackProps extends StackProps {
  /** The keys to manage: `resolveInventory` of the inventory. */
  readonly keys: readonly ManagedKeyPlan[];
  /**
   * Alert subscriptions per audience (e-mail addresses or https:// URLs).
   * @default - none
   */
  readonly subscriptions?: Partial<Record<Audience, readonly string[]>>;
  /**
   * Provider API base URLs by provider (a regional endpoint such as SendGrid's EU API).
   * @default - each provider's public API
   */
  readonly providerEndpoints?: Record<string, string>;
}

/**
 * Lets `fn` assume exactly `roles` (its keys' roles), and only from inside the function: the condition
 * `lambda:SourceFunctionArn` (which Lambda puts in the context of every call its execution environment
 * makes) keeps the function role's credentials from assuming them anywhere else. A policy of its own in the
 * function's construct: it names the function's ARN, which the function's default policy cannot (the
 * function depends on that policy), and resources that depend on the function construct wait for it.
 */
function grantAssumeKeyRoles(fn: RekeyFunction, functionArn: string, roles: readonly iam.IRole[]): void {
  if (roles.length === 0) return;
  new iam.Policy(fn, 'AssumeKeyRoles', {
    roles: [fn.role],
    statements: [
      new iam.PolicyStatement({
        actions: ['sts:AssumeRole'],
        resources: roles.map((role) => role.roleArn),
        conditions: { ArnEquals: { 'lambda:SourceFunctionArn': functionArn } },
      }),
    ],
  });
}

/** Secrets Manager reports these rotation outcomes through CloudTrail (best effort). */
const ROTATION_FAILURE_EVENTS = ['RotationFailed', 'RotationAbandoned', 'TestRotationFailed'];

/** Resources CloudFormation allows in one stack. */
export const CLOUDFORMATION_RESOURCE_LIMIT = 500;

/**
 * What one stack's template holds, at most: the machinery, per provider (its rotation function, role,
 * policies, log group, alarms), per key (secret, resource policy, invoke permission, two roles and their
 * policies, rotation schedule, alarms) and per distinct rotator secret (its resource policy). Exact for the
 * largest key (created secret, imported, alert_on_failure); test/lib/limits.test.ts checks it against synth.
 */
export const TEMPLATE_RESOURCES = { fixed: 42, perProvider: 7, perKey: 14, perRotatorSecret: 1 } as const;

/** The most resources `keys` can put in the template (see TEMPLATE_RESOURCES). */
export function estimatedResources(keys: readonly ManagedKeyPlan[]): number {
  const providers = new Set(keys.map((k) => k.provider)).size;
  const rotators = new Set(keys.map((k) => k.rotatorSecret)).size;
  const r = TEMPLATE_RESOURCES;
  return r.fixed + r.perProvider * providers + r.perKey * keys.length + r.perRotatorSecret * rotators;
}

/** The auth-failure alarm fires above this many times the key's baseline of failures per 5 minutes. */
export const AUTH_FAILURE_SPIKE_FACTOR = 3;

/**
 * rekey in one stack: from the resolved inventory to rotation functions per provider, managed secrets with
 * their rotation schedules, the revocation machinery, the key-age monitor, the guide's five monitoring
 * rules as alarms on SNS topics per audience, and a dashboard.
 */
export class RekeyStack extends Stack {
  readonly keyEncryption: kms.Key;
  readonly topics: AlertTopics;
  readonly revocation: Revocation;
  /** One owner per secret: the lease every mutating function takes. */
  readonly leases: LeaseTable;
  readonly rotationFunctions = new Map<string, RekeyFunction>();
  readonly keys: ManagedKey[] = [];
  readonly keyAgeMonitor: RekeyFunction;
  readonly dashboard: cloudwatch.Dashboard;

  constructor(scope: Construct, id: string, props: RekeyStackProps) {
    super(scope, id, props);
    if (props.keys.length === 0)
      throw new Error('`keys` must list at least one key; add entries to api_keys');
    // Refused before anything is built: CloudFormation would refuse the template only after a long synth.
    const estimate = estimatedResources(props.keys);
    if (estimate > CLOUDFORMATION_RESOURCE_LIMIT) {
      const r = TEMPLATE_RESOURCES;
      const providers = new Set(props.keys.map((k) => k.provider)).size;
      const rotators = new Set(props.keys.map((k) => k.rotatorSecret)).size;
      const fit = Math.floor(
        (CLOUDFORMATION_RESOURCE_LIMIT -
          r.fixed -
          r.perProvider * providers -
          r.perRotatorSecret * rotators) /
          r.perKey,
      );
      throw new InvalidInputError(
        'INVALID_INPUT',
        `the inventory's ${props.keys.length} keys need up to ${estimate} CloudFormation resources, and one stack holds ${CLOUDFORMATION_RESOURCE_LIMIT} (${r.fixed} for rekey's machinery, ${r.perProvider} per provider, ${r.perKey} per key, ${r.perRotatorSecret} per rotator secret): at most ${fit} of these keys fit in one stack. Split api_keys over several inventory files and deploy one stack per file: cdk deploy -c inventory=<file> -c stackName=<name>.`,
        { field: 'api_keys' },
      );
    }
    this.keyEncryption = new kms.Key(this, 'SecretsKey', {
      description: 'rekey: encrypts the managed API key secrets',
      enableKeyRotation: true,
    });
    this.topics = new AlertTopics(
      this,
      'Alerts',
      props.subscriptions ? { subscriptions: props.subscriptions } : {},
    );
    // What each function may act on, pinned from the inventory into its code bundle.
    const routes = props.keys.map((plan) => keyRouteOf(plan, keyRoleNames(this.stackName, plan.name)));
    this.revocation = new Revocation(this, 'Revocation', { routes });
    this.leases = new LeaseTable(this, 'Leases');
    const wiring = {
      ...this.revocation.environment(this.topics.security.topicArn),
      ...this.leases.environment(),
    };
    // The per-key roles' ARNs are this prefix and the role names in the routes.
    const roleArnPrefix = { REKEY_ROLE_ARN_PREFIX: `arn:${this.partition}:iam::${this.account}:role/` };
    // The CLI's rotate and rollback read the same wiring from their environment: one output per variable.
    for (const [name, value] of Object.entries(wiring)) {
      new CfnOutput(this, name.replace(/_/g, ''), { value, description: `export ${name}=<this value>` });
    }

    for (const provider of new Set(props.keys.map((k) => k.provider))) {
      const endpoint = props.providerEndpoints?.[provider];
      const fn = new RekeyFunction(this, `Rotate-${provider}`, {
        handler: `rotate-${provider}`,
        description: `rekey: rotates ${provider} API keys (Secrets Manager rotation steps)`,
        // Secrets Manager allows a rotation function 15 minutes per step.
        timeout: Duration.minutes(5),
        environment: {
          ...wiring,
          ...roleArnPrefix,
          ...(endpoint ? { REKEY_PROVIDER_ENDPOINT: endpoint } : {}),
        },
        routes: routes.filter((route) => route.provider === provider),
      });
      this.revocation.grantScheduling(fn.role);
      this.leases.grantLease(fn.role);
      this.topics.grantPublish(fn.role, 'security');
      this.rotationFunctions.set(provider, fn);
    }
    for (const fn of [this.revocation.revoker, this.revocation.rollback]) {
      for (const [name, value] of Object.entries({ ...wiring, ...roleArnPrefix }))
        fn.function.addEnvironment(name, value);
      // They serve every provider, so each configured endpoint gets its own variable.
      for (const [provider, endpoint] of Object.entries(props.providerEndpoints ?? {})) {
        fn.function.addEnvironment(providerEndpointVariable(provider), endpoint);
      }
      this.leases.grantLease(fn.role);
      this.topics.grantPublish(fn.role, 'security');
    }
    // The usage check reads the client's metrics; GetMetricData has no resource type in IAM.
    this.revocation.revoker.role.addToPrincipalPolicy(
      new iam.PolicyStatement({ actions: ['cloudwatch:GetMetricData'], resources: ['*'] }),
    );
    // Rollback believes an alarm's notification only after CloudWatch confirms it (state, actions, secret).
    const rollbackFn = this.revocation.rollback;
    rollbackFn.function.addEnvironment('REKEY_ROLLBACK_TOPIC_ARN', this.topics.rollback.topicArn);
    const alarmsArn = this.formatArn({
      service: 'cloudwatch',
      resource: 'alarm',
      resourceName: '*',
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });
    rollbackFn.role.addToPrincipalPolicy(
      new iam.PolicyStatement({ actions: ['cloudwatch:DescribeAlarms'], resources: [alarmsArn] }),
    );
    Validations.of(rollbackFn.role).acknowledge({
      id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:cloudwatch:<AWS::Region>:<AWS::AccountId>:alarm:*]`,
      reason:
        "Read-only: rollback reads the alarm a notification names to check its state, actions and secret; the stack's alarm names are generated at deploy time.",
    });
    Validations.of(this.revocation.revoker.role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'Only scheduler:ListSchedules and cloudwatch:GetMetricData are granted on "*": neither has a resource type in IAM, so AWS offers nothing narrower.',
    });

    // Everything that acts on one key is held by that key's two roles (KeyRoles); the functions hold only
    // what is not per key, and may assume exactly their keys' roles.
    for (const plan of props.keys) {
      const key = new ManagedKey(this, `Key-${plan.name}`, {
        plan,
        rotationFunction: this.rotationFunctions.get(plan.provider)!,
        revocationFunctions: [this.revocation.revoker, this.revocation.rollback],
        encryptionKey: this.keyEncryption,
      });
      this.keys.push(key);
    }
    for (const [provider, fn] of this.rotationFunctions) {
      const keys = this.keys.filter((k) => k.plan.provider === provider);
      grantAssumeKeyRoles(
        fn,
        fn.functionArn,
        keys.map((k) => k.roles.rotation),
      );
    }
    grantAssumeKeyRoles(
      this.revocation.revoker,
      this.revocation.revokerArn,
      this.keys.map((k) => k.roles.revocation),
    );
    grantAssumeKeyRoles(
      this.revocation.rollback,
      this.revocation.rollback.functionArn,
      this.keys.map((k) => k.roles.revocation),
    );
    this.addRotatorSecretPolicies();

    this.keyAgeMonitor = new RekeyFunction(this, 'KeyAgeMonitor', {
      handler: 'monitor-key-age',
      description: 'rekey: publishes the age of every managed key (KeyAgeSeconds)',
      environment: {
        REKEY_MANAGED_SECRETS: this.toJsonString(
          this.keys.map((k) => ({
            name: k.plan.secretName,
            ...(k.plan.existingSecretArn ? { arn: k.plan.existingSecretArn } : {}),
          })),
        ),
      },
    });
    this.keyAgeMonitor.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['secretsmanager:ListSecretVersionIds'],
        resources: this.keys.map((k) => k.secret.secretArn),
      }),
    );
    new events.Rule(this, 'KeyAgeSchedule', {
      description: 'rekey: hourly key-age audit',
      schedule: events.Schedule.rate(Duration.hours(1)),
      targets: [new targets.LambdaFunction(this.keyAgeMonitor.function, { retryAttempts: 2 })],
    });

    this.topics.rollback.addSubscription(
      new subscriptions.LambdaSubscription(this.revocation.rollback.function),
    );
    this.addAlarms();
    this.dashboard = this.addDashboard();
  }

  /**
   * One resource policy per distinct rotator secret (they hold provider admin credentials): GetSecretValue
   * denied to everyone but the rotation and revocation roles of the keys that use it and the inventory's
   * operators (`rekey import` checks a key with the rotator credential). Replaces any resource policy the
   * secret had; BlockPublicPolicy refuses a later one that would open it to other accounts.
   */
  private addRotatorSecretPolicies(): void {
    const byRotator = new Map<string, ManagedKey[]>();
    for (const key of this.keys) {
      byRotator.set(key.plan.rotatorSecret, [...(byRotator.get(key.plan.rotatorSecret) ?? []), key]);
    }
    for (const [rotator, keys] of byRotator) {
      const slug = rotator.replace(/^arn:.*:secret:/, '').replace(/[^A-Za-z0-9]+/g, '-');
      const hash = createHash('sha256').update(rotator).digest('hex').slice(0, 8);
      const operators = [...new Set(keys.flatMap((k) => k.plan.operators ?? []))];
      const readers = keys.flatMap((k) => [
        roleArn(this, k.roles.names.rotation),
        roleArn(this, k.roles.names.revocation),
      ]);
      // The condition names the roles by ARN string, so the policy need not wait for them.
      new secretsmanager.CfnResourcePolicy(this, `RotatorSecretPolicy-${slug}-${hash}`, {
        secretId: rotator,
        blockPublicPolicy: true,
        resourcePolicy: new iam.PolicyDocument({
          statements: [
            new iam.PolicyStatement({
              sid: 'OnlyTheKeysRolesAndOperatorsReadTheRotatorCredential',
              effect: iam.Effect.DENY,
              principals: [new iam.AnyPrincipal()],
              actions: ['secretsmanager:GetSecretValue'],
              resources: ['*'],
              conditions: { ArnNotLike: { 'aws:PrincipalArn': [...readers, ...operators] } },
            }),
          ],
        }),
      });
    }
  }

  private alarm(
    id: string,
    metric: cloudwatch.IMetric,
    threshold: number,
    description: string,
    audiences: Array<'onCall' | 'security' | 'appTeam' | 'rollback'>,
  ): cloudwatch.Alarm {
    const alarm = new cloudwatch.Alarm(this, id, {
      metric,
      threshold,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      alarmDescription: description,
    });
    for (const audience of audiences) {
      const topic = audience === 'rollback' ? this.topics.rollback : this.topics.topicFor(audience);
      alarm.addAlarmAction(new actions.SnsAction(topic));
    }
    return alarm;
  }

  /** The guide's five monitoring rules, per key and for the machinery they depend on. */
  private addAlarms(): void {
    // Rule 1, rotation failure → page on-call.
    for (const [provider, fn] of this.rotationFunctions) {
      this.alarm(
        `RotationErrors-${provider}`,
        fn.metricErrors(),
        0,
        `rekey: the ${provider} rotation function failed a step`,
        ['onCall'],
      );
      this.alarm(
        `RotationThrottles-${provider}`,
        fn.metricThrottles(),
        0,
        `rekey: the ${provider} rotation function was throttled`,
        ['onCall'],
      );
    }
    for (const [name, fn] of [
      ['Revoker', this.revocation.revoker],
      ['Rollback', this.revocation.rollback],
      ['KeyAgeMonitor', this.keyAgeMonitor],
    ] as const) {
      this.alarm(`${name}Errors`, fn.metricErrors(), 0, `rekey: the ${name} function failed`, ['onCall']);
    }
    this.alarm(
      'RevocationDeadLetters',
      this.revocation.metricDeadLetters(),
      0,
      'rekey: Scheduler could not deliver a revocation; an old key may stay valid',
      ['onCall'],
    );
    new events.Rule(this, 'RotationFailureEvents', {
      description: 'rekey: Secrets Manager rotation failures reported through CloudTrail',
      eventPattern: {
        source: ['aws.secretsmanager'],
        detailType: ['AWS Service Event via CloudTrail'],
        detail: { eventSource: ['secretsmanager.amazonaws.com'], eventName: ROTATION_FAILURE_EVENTS },
      },
      // A bare target: targets.SnsTopic would add its own unconditioned publish grant for EventBridge;
      // the topic policy already admits this account's rules.
      targets: [{ bind: () => ({ arn: this.topics.onCall.topicArn }) }],
    });

    for (const key of this.keys) {
      const { plan } = key;
      const name = plan.name;
      if (plan.alertOnFailure) {
        this.alarm(
          `RotationFailed-${name}`,
          key.metricRotationFailures(),
          0,
          `rekey: rotation of ${plan.secretName} failed`,
          ['onCall'],
        );
        this.alarm(
          `RevocationGaveUp-${name}`,
          key.metricRevocations('gave-up'),
          0,
          `rekey: revocation of the previous key of ${plan.secretName} gave up; revoke it by hand`,
          ['onCall'],
        );
      }
      // Rule 2, key older than 1.5 × rotation_frequency → security team.
      const maxAge = Math.round(plan.frequencySeconds * KEY_AGE_FACTOR);
      this.alarm(
        `KeyTooOld-${name}`,
        key.metricKeyAge(),
        maxAge,
        `rekey: the key in ${plan.secretName} is older than ${formatDuration(maxAge)} (1.5 × rotation_frequency)`,
        ['security'],
      );
      // Rule 3, old key still in use after the grace period → application team.
      this.alarm(
        `PreviousKeyAfterGrace-${name}`,
        key.metricPreviousKeyUseAfterGrace(),
        0,
        `rekey: apps still use the previous key of ${plan.secretName} after the ${plan.gracePeriod} grace period`,
        ['appTeam'],
      );
      // Rule 4, auth-failure spike → page on-call (and roll back, when the inventory says so).
      this.alarm(
        `AuthFailureSpike-${name}`,
        key.metricAuthFailures(),
        AUTH_FAILURE_SPIKE_FACTOR * plan.authFailureBaseline,
        `rekey: more than ${AUTH_FAILURE_SPIKE_FACTOR} × the baseline of ${plan.authFailureBaseline} auth failures per 5 minutes with ${plan.secretName}`,
        plan.rollbackOnFailure ? ['onCall', 'rollback'] : ['onCall'],
      );
      // Rule 5, a revoked key was used → security team.
      this.alarm(
        `RevokedKeyUse-${name}`,
        key.metricRevokedKeyUse(),
        0,
        `rekey: someone used a revoked key of ${plan.secretName}`,
        ['security'],
      );
    }
  }

  private addDashboard(): cloudwatch.Dashboard {
    const dashboard = new cloudwatch.Dashboard(this, 'Dashboard', { defaultInterval: Duration.days(7) });
    for (const key of this.keys) {
      const { plan } = key;
      const days = (m: cloudwatch.IMetric) =>
        new cloudwatch.MathExpression({
          expression: 'age / 86400',
          usingMetrics: { age: m },
          label: 'age (days)',
          period: Duration.hours(1),
        });
      dashboard.addWidgets(
        new cloudwatch.TextWidget({
          markdown: `### ${plan.name} — ${plan.secretName}\n${plan.providerLabel}, rotates ${plan.schedule.expression}, grace ${plan.gracePeriod}${plan.imported ? '' : ' — **not imported yet** (`rekey import`)'}. Next revocation: \`rekey status\`.`,
          width: 24,
          height: 2,
        }),
        new cloudwatch.SingleValueWidget({
          title: 'Key age / last rotation (days ago)',
          metrics: [days(key.metricKeyAge())],
          width: 6,
        }),
        new cloudwatch.GraphWidget({
          title: 'Rotation failures and give-ups',
          left: [key.metricRotationFailures(), key.metricRevocations('gave-up')],
          width: 6,
        }),
        new cloudwatch.GraphWidget({
          title: 'Auth failures',
          left: [key.metricAuthFailures()],
          leftAnnotations: [{ value: AUTH_FAILURE_SPIKE_FACTOR * plan.authFailureBaseline, label: 'alarm' }],
          width: 6,
        }),
        new cloudwatch.GraphWidget({
          title: 'Revocations, old and revoked key use',
          left: [
            key.metricRevocations('revoked'),
            key.metricPreviousKeyUseAfterGrace(),
            key.metricRevokedKeyUse(),
          ],
          width: 6,
        }),
      );
    }
    return dashboard;
  }
}
