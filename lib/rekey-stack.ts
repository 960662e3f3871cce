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
import { InvalidInputError } from '../lambdas/errors.js';
import { PUBLISH_FROM_ENV } from '../lambdas/key-age.js';
import { providerEndpointVariable } from '../lambdas/providers/index.js';
import { TAGS } from '../lambdas/tags.js';
import { DIMENSIONS, METRIC_NAMESPACE, METRICS } from '../lambdas/telemetry.js';
import { AlertTopics, type Audience } from './alert-topics.js';
import { FleetAlarms, fleetAlarmSpecs, MetricsInsightsWidget } from './fleet-alarms.js';
import { RekeyFunction } from './function.js';
import { keyRouteOf, type ManagedKeyPlan } from './inventory.js';
import { keyRoleNames, roleArn } from './key-roles.js';
import { KEY_STACK_FIXED_RESOURCES, KeyStack, keyStackIndex } from './key-stack.js';
import { LeaseTable } from './lease-table.js';
import { ManagedKey } from './managed-key.js';
import { Revocation } from './revocation.js';

export { AUTH_FAILURE_SPIKE_FACTOR } from './fleet-alarms.js';

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
  /**
   * How many stacks hold the keys. 1: the keys live in this stack, beside the machinery. More: each key's
   * resources go to one of `keyStacks` sibling stacks (`<stack>-Keys-01`…), chosen by a hash of the key's
   * name — stable while the count stays the same; changing it moves keys between stacks, which CloudFormation
   * cannot do in place (a retained secret blocks its re-creation), so pick a count with room to grow.
   * @default 1
   */
  readonly keyStacks?: number;
}

/**
 * Lets `fn` assume the key roles named `pattern` (`rekey-rot-*` or `rekey-rev-*`), and only from inside the
 * function: the condition `lambda:SourceFunctionArn` (which Lambda puts in the context of every call its
 * execution environment makes) keeps the function role's credentials from assuming them anywhere else. A
 * pattern, not a list, so the policy stays the same size for any number of keys (a role's inline policies
 * hold 10,240 characters: about 130 role ARNs); which key roles a function may really assume is what their
 * trust policies say — each names only its own function roles (KeyRoles). A policy of its own in the
 * function's construct: it names the function's ARN, which the function's default policy cannot (the
 * function depends on that policy), and resources that depend on the function construct wait for it.
 */
function grantAssumeKeyRoles(fn: RekeyFunction, functionArn: string, pattern: string): void {
  const resource = roleArn(fn, pattern);
  new iam.Policy(fn, 'AssumeKeyRoles', {
    roles: [fn.role],
    statements: [
      new iam.PolicyStatement({
        actions: ['sts:AssumeRole'],
        resources: [resource],
        conditions: { ArnEquals: { 'lambda:SourceFunctionArn': functionArn } },
      }),
    ],
  });
  Validations.of(fn).acknowledge({
    id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:iam::<AWS::AccountId>:role/${pattern}]`,
    reason:
      "The key roles' name pattern, so the grant stays one statement for any number of keys; each key role's trust policy names only this stack's function roles, and lambda:SourceFunctionArn keeps the grant inside the function.",
  });
}

/** Secrets Manager reports these rotation outcomes through CloudTrail (best effort). */
const ROTATION_FAILURE_EVENTS = ['RotationFailed', 'RotationAbandoned', 'TestRotationFailed'];

/** Characters of role names a rotator secret's resource policy spends before it names patterns instead. */
const ROTATOR_POLICY_NAMES_BUDGET = 12_000;

/** Resources CloudFormation allows in one stack. */
export const CLOUDFORMATION_RESOURCE_LIMIT = 500;

/**
 * What one stack's template holds, at most: the machinery (fleet alarms among it), per provider (its
 * rotation function, role, policies, log group, alarms), per key (secret, resource policy, invoke
 * permission, two roles and their policies, rotation schedule) and per distinct rotator secret (its
 * resource policy). Exact for the largest key (created secret, imported); test/lib/limits.test.ts checks it
 * against synth. The fleet alarms (lib/fleet-alarms.ts) come on top: one per rule and distinct setting.
 */
export const TEMPLATE_RESOURCES = { fixed: 42, perProvider: 7, perKey: 8, perRotatorSecret: 1 } as const;

/** The most resources `keys` can put in the template of a stack that holds them and the machinery. */
export function estimatedResources(keys: readonly ManagedKeyPlan[], keysHere = keys.length): number {
  const providers = new Set(keys.map((k) => k.provider)).size;
  const rotators = new Set(keys.map((k) => k.rotatorSecret)).size;
  const r = TEMPLATE_RESOURCES;
  const alarms = fleetAlarmSpecs(keys).length;
  return r.fixed + alarms + r.perProvider * providers + r.perKey * keysHere + r.perRotatorSecret * rotators;
}

/** How many keys a stack of their own holds within CloudFormation's limit. */
export const KEYS_PER_KEY_STACK = Math.floor(
  (CLOUDFORMATION_RESOURCE_LIMIT - KEY_STACK_FIXED_RESOURCES) / TEMPLATE_RESOURCES.perKey,
);

/**
 * The `key_stacks` to suggest for `keys` keys: enough that a hash spread (which is uneven) stays within
 * KEYS_PER_KEY_STACK per stack, with room to grow by half.
 */
export function suggestedKeyStacks(keys: number): number {
  return Math.max(2, Math.ceil((keys * 1.5) / (KEYS_PER_KEY_STACK * 0.8)));
}

/**
 * rekey's deployment: from the resolved inventory to rotation functions per provider, managed secrets with
 * their rotation schedules (here, or spread over `keyStacks` sibling stacks), the revocation machinery, the
 * key-age monitor, the guide's five monitoring rules as fleet alarms on SNS topics per audience, and a
 * dashboard. Nothing here grows with the number of keys but what must (routes in the functions' bundles,
 * one alarm per distinct alarm setting); per-key resources live with their keys.
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
  /** The stacks that hold the keys when `keyStacks` is more than 1. */
  readonly keyStacks: KeyStack[] = [];
  readonly fleetAlarms: FleetAlarms;
  readonly dashboard: cloudwatch.Dashboard;

  constructor(scope: Construct, id: string, props: RekeyStackProps) {
    super(scope, id, props);
    if (props.keys.length === 0)
      throw new Error('`keys` must list at least one key; add entries to api_keys');
    const keyStacks = props.keyStacks ?? 1;
    if (!Number.isInteger(keyStacks) || keyStacks < 1 || keyStacks > 100)
      throw new InvalidInputError(
        'INVALID_INPUT',
        `key_stacks is ${keyStacks}; it must be a whole number from 1 to 100.`,
        { field: 'key_stacks' },
      );
    // Refused before anything is built: CloudFormation would refuse the template only after a long synth.
    this.checkCapacity(props.keys, keyStacks);
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
    // what is not per key, and may assume their keys' roles.
    const keyProps = (plan: ManagedKeyPlan) => ({
      plan,
      rotationFunction: this.rotationFunctions.get(plan.provider)!,
      revocationFunctions: [this.revocation.revoker, this.revocation.rollback],
      encryptionKey: this.keyEncryption,
      deployment: this.stackName,
    });
    if (keyStacks === 1) {
      for (const plan of props.keys) this.keys.push(new ManagedKey(this, `Key-${plan.name}`, keyProps(plan)));
    } else {
      const byStack = Array.from({ length: keyStacks }, () => [] as ManagedKeyPlan[]);
      for (const plan of props.keys) byStack[keyStackIndex(plan.name, keyStacks)]!.push(plan);
      byStack.forEach((plans, i) => {
        const suffix = `Keys-${String(i + 1).padStart(2, '0')}`;
        const stack = new KeyStack(scope, `${id}-${suffix}`, {
          ...(props.env ? { env: props.env } : {}),
          stackName: `${this.stackName}-${suffix}`,
          description: `rekey: managed keys ${i + 1} of ${keyStacks} of ${this.stackName}`,
          deployment: this,
        });
        for (const plan of plans) this.keys.push(new ManagedKey(stack, `Key-${plan.name}`, keyProps(plan)));
        this.keyStacks.push(stack);
      });
    }
    for (const [provider, fn] of this.rotationFunctions) {
      if (props.keys.some((k) => k.provider === provider))
        grantAssumeKeyRoles(fn, fn.functionArn, 'rekey-rot-*');
    }
    grantAssumeKeyRoles(this.revocation.revoker, this.revocation.revokerArn, 'rekey-rev-*');
    grantAssumeKeyRoles(this.revocation.rollback, this.revocation.rollback.functionArn, 'rekey-rev-*');
    this.addRotatorSecretPolicies();

    // The monitored keys ride in its bundle (an environment variable holds 4 KB: about 60 keys). It reads
    // version metadata only, of the secrets this deployment tagged, and of the existing ones it names.
    this.keyAgeMonitor = new RekeyFunction(this, 'KeyAgeMonitor', {
      handler: 'monitor-key-age',
      description: 'rekey: publishes the age of every managed key (KeyAgeSeconds)',
      routes,
      environment: { [PUBLISH_FROM_ENV]: String(Math.min(...props.keys.map((k) => k.frequencySeconds))) },
    });
    this.keyAgeMonitor.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['secretsmanager:ListSecretVersionIds'],
        resources: [
          this.formatArn({
            service: 'secretsmanager',
            resource: 'secret',
            resourceName: '*',
            arnFormat: ArnFormat.COLON_RESOURCE_NAME,
          }),
        ],
        conditions: { StringEquals: { [`aws:ResourceTag/${TAGS.deployment}`]: this.stackName } },
      }),
    );
    const existing = props.keys.flatMap((k) => (k.existingSecretArn ? [k.existingSecretArn] : []));
    if (existing.length)
      this.keyAgeMonitor.role.addToPrincipalPolicy(
        new iam.PolicyStatement({ actions: ['secretsmanager:ListSecretVersionIds'], resources: existing }),
      );
    Validations.of(this.keyAgeMonitor.role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:secretsmanager:<AWS::Region>:<AWS::AccountId>:secret:*]',
      reason: `Version metadata only (ListSecretVersionIds, never a value), of secrets tagged ${TAGS.deployment} = this stack's name: one statement for any number of keys.`,
    });
    new events.Rule(this, 'KeyAgeSchedule', {
      description: 'rekey: hourly key-age audit',
      schedule: events.Schedule.rate(Duration.hours(1)),
      targets: [new targets.LambdaFunction(this.keyAgeMonitor.function, { retryAttempts: 2 })],
    });

    this.topics.rollback.addSubscription(
      new subscriptions.LambdaSubscription(this.revocation.rollback.function),
    );
    this.addAlarms();
    this.fleetAlarms = new FleetAlarms(this, 'FleetAlarms', { keys: props.keys, topics: this.topics });
    this.dashboard = this.addDashboard(props.keys);
  }

  /** Refuses an inventory whose stacks would exceed CloudFormation's 500 resources, naming the fix. */
  private checkCapacity(keys: readonly ManagedKeyPlan[], keyStacks: number): void {
    const r = TEMPLATE_RESOURCES;
    const suggestion = suggestedKeyStacks(keys.length);
    if (keyStacks === 1) {
      const estimate = estimatedResources(keys);
      if (estimate <= CLOUDFORMATION_RESOURCE_LIMIT) return;
      const fit = Math.floor((CLOUDFORMATION_RESOURCE_LIMIT - estimatedResources(keys, 0)) / r.perKey);
      throw new InvalidInputError(
        'INVALID_INPUT',
        `the inventory's ${keys.length} keys need up to ${estimate} CloudFormation resources, and one stack holds ${CLOUDFORMATION_RESOURCE_LIMIT} (${r.fixed} for rekey's machinery, ${r.perProvider} per provider, ${r.perKey} per key, ${r.perRotatorSecret} per rotator secret): at most ${fit} of these keys fit beside the machinery. Spread the keys over stacks of their own: set key_stacks: ${suggestion} in the inventory (up to ${KEYS_PER_KEY_STACK} keys each; choose it once, with room to grow — changing it moves keys between stacks).`,
        { field: 'key_stacks' },
      );
    }
    const counts = new Array<number>(keyStacks).fill(0);
    for (const plan of keys) counts[keyStackIndex(plan.name, keyStacks)]!++;
    const fullest = Math.max(...counts);
    if (fullest > KEYS_PER_KEY_STACK)
      throw new InvalidInputError(
        'INVALID_INPUT',
        `key_stacks: ${keyStacks} puts up to ${fullest} of the inventory's ${keys.length} keys in one stack, and a stack holds ${KEYS_PER_KEY_STACK} (${r.perKey} CloudFormation resources per key, ${CLOUDFORMATION_RESOURCE_LIMIT} per stack). Set key_stacks: ${Math.max(suggestion, keyStacks + 1)} — changing it moves keys between stacks, so before the keys are deployed, or by redeploying them.`,
        { field: 'key_stacks' },
      );
  }

  /**
   * One resource policy per distinct rotator secret (they hold provider admin credentials): GetSecretValue
   * denied to everyone but the rotation and revocation roles of the keys that use it and the inventory's
   * operators (`rekey import` checks a key with the rotator credential). Replaces any resource policy the
   * secret had; BlockPublicPolicy refuses a later one that would open it to other accounts. A resource
   * policy holds 20,480 characters: past about 120 keys on one rotator secret the roles are named by
   * their name patterns instead (`rekey-rot-*`, `rekey-rev-*`), which also admits other rekey key roles of
   * the account — each of which may read only its own rotator secret by its identity policy.
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
      const named = keys.flatMap((k) => [k.roles.names.rotation, k.roles.names.revocation]);
      const readers = (
        named.join('').length > ROTATOR_POLICY_NAMES_BUDGET ? ['rekey-rot-*', 'rekey-rev-*'] : named
      ).map((name) => roleArn(this, name));
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
  }

  /**
   * The fleet at a glance: the fleet alarms' states and, per rule, the keys that stand out (Metrics
   * Insights, top 10) — widgets that do not grow with the number of keys. One key's story is `rekey status`.
   */
  private addDashboard(keys: readonly ManagedKeyPlan[]): cloudwatch.Dashboard {
    const dashboard = new cloudwatch.Dashboard(this, 'Dashboard', { defaultInterval: Duration.days(7) });
    const providers = [...new Set(keys.map((k) => k.providerLabel))].sort();
    const top = (metric: string, statistic: 'SUM' | 'MAX', dimensions: string[] = [DIMENSIONS.secret]) =>
      `SELECT ${statistic}(${metric}) FROM SCHEMA(${[METRIC_NAMESPACE, ...dimensions].join(', ')}) GROUP BY ${DIMENSIONS.secret} ORDER BY ${statistic}() DESC LIMIT 10`;
    dashboard.addWidgets(
      new cloudwatch.TextWidget({
        markdown: `### rekey — ${keys.length} keys (${providers.join(', ')})\nFleet alarms: one per rule and setting; each key in breach is a contributor. One key's rotations, revocations and failures: \`rekey status <key>\`.`,
        width: 24,
        height: 2,
      }),
      new cloudwatch.AlarmStatusWidget({
        title: 'Fleet alarms',
        alarms: this.fleetAlarms.asAlarms(),
        width: 24,
        height: 4,
      }),
    );
    dashboard.addWidgets(
      new MetricsInsightsWidget({
        title: 'Oldest keys (age in seconds)',
        query: top(METRICS.keyAgeSeconds, 'MAX'),
        periodSeconds: 3600,
        label: 'age',
      }),
      new MetricsInsightsWidget({
        title: 'Auth failures per 5 minutes, top keys',
        query: top(METRICS.authFailures, 'SUM'),
        periodSeconds: 300,
        label: 'auth failures',
      }),
      new MetricsInsightsWidget({
        title: 'Rotation failures, top keys',
        query: top(METRICS.rotationFailures, 'SUM'),
        periodSeconds: 300,
        label: 'rotation failures',
      }),
      new MetricsInsightsWidget({
        title: 'Previous key used after grace, top keys',
        query: top(METRICS.previousKeyUseAfterGrace, 'SUM'),
        periodSeconds: 300,
        label: 'previous key after grace',
      }),
      new MetricsInsightsWidget({
        title: 'Revoked key used, top keys',
        query: top(METRICS.revokedKeyUse, 'SUM'),
        periodSeconds: 300,
        label: 'revoked key use',
      }),
      new MetricsInsightsWidget({
        title: 'Revocations by outcome',
        query: `SELECT SUM(${METRICS.revocations}) FROM SCHEMA(${METRIC_NAMESPACE}, ${DIMENSIONS.outcome}, ${DIMENSIONS.secret}) GROUP BY ${DIMENSIONS.outcome}`,
        periodSeconds: 3600,
        label: 'revocations',
      }),
    );
    return dashboard;
  }
}
