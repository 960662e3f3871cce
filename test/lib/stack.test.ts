import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { AwsSolutionsChecks } from 'cdk-nag';
import { createRekeyApp } from '../../lib/app.js';
import { InventoryError } from '../../lib/inventory.js';
import { IAM_KEY_ACTIONS } from '../../lib/provider-access.js';
import type { RekeyStack } from '../../lib/rekey-stack.js';

const EXISTING_SECRET = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/legacy/key-AbCdEf';
const EXISTING_KEY = 'arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab';
const ROTATOR_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:rekey/rotator/legacy-XyZ123';

const INVENTORY = `
api_keys:
  - name: imported-key
    provider: SendGrid
    vault_path: prod/sendgrid/api-key
    rotation_frequency: 90d
    rotator_secret: rekey/rotator/sendgrid
    imported: true
  - name: fresh-key
    provider: SendGrid
    vault_path: staging/sendgrid/key
    rotation_frequency: 30d
    rotator_secret: rekey/rotator/sendgrid
  - name: legacy-key
    provider: SendGrid
    vault_path: prod/legacy/key
    rotation_frequency: 7d
    rotator_secret: ${ROTATOR_ARN}
    secret_arn: ${EXISTING_SECRET}
    kms_key_arn: ${EXISTING_KEY}
    imported: true
rotation_schedules:
  - secret: prod/sendgrid/api-key
    schedule: "0 2 1 */3 *"
    grace_period: 4h
    rollback_on_failure: true
    rotation_window: 2h
  - secret: staging/sendgrid/key
    schedule: "0 3 * * 0"
    rollback_on_failure: false
notifications:
  on_call: [oncall@example.com]
  security: ["https://hooks.example.com/security"]
`;

// biome-ignore lint/suspicious/noExplicitAny: CloudFormation JSON, inspected field by field
type Json = any;
type Resources = Record<string, { Type: string; Properties?: Record<string, Json>; DependsOn?: string[] }>;
type Statement = {
  Effect: string;
  Action: string | string[];
  Resource?: unknown;
  Principal?: unknown;
  Condition?: Json;
};

const list = <T>(v: T | T[] | undefined): T[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);

/** Every statement of identity policies (AWS::IAM::Policy, inline role policies), with where it is. */
function identityStatements(resources: Resources): Array<{ id: string; statement: Statement }> {
  const out: Array<{ id: string; statement: Statement }> = [];
  for (const [id, r] of Object.entries(resources)) {
    if (r.Type === 'AWS::IAM::Policy' || r.Type === 'AWS::IAM::ManagedPolicy') {
      for (const s of r.Properties?.PolicyDocument.Statement ?? []) out.push({ id, statement: s });
    }
    if (r.Type === 'AWS::IAM::Role') {
      for (const p of r.Properties?.Policies ?? [])
        for (const s of p.PolicyDocument.Statement) out.push({ id, statement: s });
    }
  }
  return out;
}

/** Actions that have no resource type in IAM, so "*" is the only resource AWS accepts for them. */
const NO_RESOURCE_TYPE = new Set(['scheduler:ListSchedules', 'cloudwatch:GetMetricData']);

function wildcardResourceStatements(resources: Resources): string[] {
  return identityStatements(resources)
    .filter(({ statement }) => list(statement.Resource).includes('*'))
    .flatMap(({ id, statement }) =>
      list(statement.Action)
        .filter((a) => !NO_RESOURCE_TYPE.has(a))
        .map((a) => `${id}: ${a}`),
    );
}

/** Lambda permissions lacking confused-deputy conditions. */
function unconditionedInvokePermissions(resources: Resources): string[] {
  return Object.entries(resources)
    .filter(([, r]) => r.Type === 'AWS::Lambda::Permission')
    .filter(([, r]) => {
      const p = r.Properties!;
      if (p.Principal === 'secretsmanager.amazonaws.com') return !p.SourceAccount || !p.SourceArn;
      return !p.SourceArn && !p.SourceAccount;
    })
    .map(([id]) => id);
}

describe('the synthesized rekey stack', () => {
  let stack: RekeyStack;
  let template: Template;
  let resources: Resources;
  const logicalId = (construct: { node: { defaultChild?: unknown } }) =>
    stack.getLogicalId(construct.node.defaultChild as never);

  before(() => {
    const dir = mkdtempSync(join(tmpdir(), 'rekey-stack-'));
    const path = join(dir, 'rekey.yaml');
    writeFileSync(path, INVENTORY);
    // Bundling is skipped here (esbuild output is not under test); `npx cdk synth` bundles for real.
    ({ stack } = createRekeyApp({ context: { inventory: path, 'aws:cdk:bundling-stacks': [] } }));
    template = Template.fromStack(stack);
    resources = template.toJSON().Resources;
  });

  describe('rotation functions', () => {
    it('builds one rotation function per provider in use, on the newest Node.js runtime, arm64, JSON logs', () => {
      assert.deepEqual([...stack.rotationFunctions.keys()], ['sendgrid']);
      const fn = resources[logicalId(stack.rotationFunctions.get('sendgrid')!.function)]!;
      assert.equal(fn.Properties!.Runtime, 'nodejs24.x');
      assert.deepEqual(fn.Properties!.Architectures, ['arm64']);
      assert.equal(fn.Properties!.LoggingConfig.LogFormat, 'JSON');
      assert.ok(fn.Properties!.LoggingConfig.LogGroup, 'writes to its own log group');
      assert.ok(fn.Properties!.Timeout <= 900, 'fits Secrets Manager 15-minute step limit');
      for (const name of [
        'REKEY_SCHEDULE_GROUP',
        'REKEY_SCHEDULER_ROLE_ARN',
        'REKEY_REVOKER_ARN',
        'REKEY_DLQ_ARN',
        'REKEY_ALERT_TOPIC_ARN',
        'REKEY_LEASE_TABLE',
      ]) {
        assert.ok(fn.Properties!.Environment.Variables[name], `${name} is set`);
      }
    });

    it('gives every function log group a retention', () => {
      const groups = Object.values(resources).filter((r) => r.Type === 'AWS::Logs::LogGroup');
      assert.equal(
        groups.length,
        4,
        'one each: the sendgrid rotation function, revoker, rollback, key-age monitor',
      );
      for (const g of groups) assert.ok(g.Properties?.RetentionInDays > 0);
    });
  });

  it('tells the key-age monitor every managed secret by name, and the ARN of an existing one', () => {
    const fn = resources[logicalId(stack.keyAgeMonitor.function)]!;
    assert.deepEqual(JSON.parse(fn.Properties!.Environment.Variables.REKEY_MANAGED_SECRETS), [
      { name: 'prod/sendgrid/api-key' },
      { name: 'staging/sendgrid/key' },
      { name: 'prod/legacy/key', arn: EXISTING_SECRET },
    ]);
  });

  it('outputs the revocation wiring the CLI reads from its environment', () => {
    const outputs = template.toJSON().Outputs as Record<string, { Description: string }>;
    const described = Object.values(outputs).map((o) => o.Description);
    for (const name of [
      'REKEY_SCHEDULE_GROUP',
      'REKEY_SCHEDULER_ROLE_ARN',
      'REKEY_REVOKER_ARN',
      'REKEY_DLQ_ARN',
      'REKEY_ALERT_TOPIC_ARN',
      'REKEY_LEASE_TABLE',
    ]) {
      assert.ok(described.includes(`export ${name}=<this value>`), name);
    }
  });

  describe('one owner per secret', () => {
    const tableId = () => stack.getLogicalId(stack.leases.table.node.defaultChild as never);

    it('deploys the lease table on demand, encrypted, keyed by secret, swept by TTL', () => {
      const table = resources[tableId()]!;
      assert.equal(table.Type, 'AWS::DynamoDB::Table');
      assert.deepEqual(table.Properties!.KeySchema, [{ AttributeName: 'secret', KeyType: 'HASH' }]);
      assert.equal(table.Properties!.BillingMode, 'PAY_PER_REQUEST');
      assert.equal(table.Properties!.SSESpecification.SSEEnabled, true);
      assert.deepEqual(table.Properties!.TimeToLiveSpecification, { AttributeName: 'ttl', Enabled: true });
    });

    it('lets every mutating function take and give back leases on that table, and nothing else there', () => {
      const fns = [
        stack.rotationFunctions.get('sendgrid')!,
        stack.revocation.revoker,
        stack.revocation.rollback,
      ];
      for (const fn of fns) {
        const f = resources[logicalId(fn.function)]!;
        assert.deepEqual(f.Properties!.Environment.Variables.REKEY_LEASE_TABLE, { Ref: tableId() });
        const statements = Object.values(resources)
          .filter(
            (r) =>
              r.Type === 'AWS::IAM::Policy' &&
              (r.Properties!.Roles as Array<{ Ref: string }>).some(
                (role) => role.Ref === stack.getLogicalId(fn.role.node.defaultChild as never),
              ),
          )
          .flatMap((r) => r.Properties!.PolicyDocument.Statement as Statement[])
          .filter((st) => JSON.stringify(st.Resource).includes(tableId()));
        assert.deepEqual(
          statements.flatMap((st) => [st.Action].flat()).sort(),
          ['dynamodb:DeleteItem', 'dynamodb:PutItem'],
          `${fn.node.path}: lease actions only`,
        );
      }
    });

    it('lets rollback check the alarm a notification names: the rollback topic and cloudwatch:DescribeAlarms', () => {
      const fn = resources[logicalId(stack.revocation.rollback.function)]!;
      assert.deepEqual(fn.Properties!.Environment.Variables.REKEY_ROLLBACK_TOPIC_ARN, {
        Ref: stack.getLogicalId(stack.topics.rollback.node.defaultChild as never),
      });
      const roleRef = stack.getLogicalId(stack.revocation.rollback.role.node.defaultChild as never);
      const describe = Object.values(resources)
        .filter(
          (r) =>
            r.Type === 'AWS::IAM::Policy' &&
            (r.Properties!.Roles as Array<{ Ref: string }>).some((role) => role.Ref === roleRef),
        )
        .flatMap((r) => r.Properties!.PolicyDocument.Statement as Statement[])
        .filter((st) => [st.Action].flat().includes('cloudwatch:DescribeAlarms'));
      assert.equal(describe.length, 1);
      assert.match(JSON.stringify(describe[0]!.Resource), /:alarm:\*/);
    });

    it('never drops a revocation or rollback: two async retries, then the dead-letter queue', () => {
      const configs = Object.values(resources).filter((r) => r.Type === 'AWS::Lambda::EventInvokeConfig');
      const dlq = stack.getLogicalId(stack.revocation.deadLetterQueue.node.defaultChild as never);
      for (const fn of [stack.revocation.revoker, stack.revocation.rollback]) {
        const config = configs.find(
          (c) =>
            JSON.stringify(c.Properties!.FunctionName) === JSON.stringify({ Ref: logicalId(fn.function) }),
        );
        assert.ok(config, `${fn.node.path} has an asynchronous invocation config`);
        assert.equal(config.Properties!.MaximumRetryAttempts, 2);
        assert.deepEqual(config.Properties!.DestinationConfig.OnFailure.Destination, {
          'Fn::GetAtt': [dlq, 'Arn'],
        });
      }
    });
  });

  describe('invoke permissions (confused deputy)', () => {
    it('lets Secrets Manager invoke a rotation function only from this account and for one secret each', () => {
      const perms = Object.values(resources).filter(
        (r) =>
          r.Type === 'AWS::Lambda::Permission' && r.Properties!.Principal === 'secretsmanager.amazonaws.com',
      );
      assert.equal(perms.length, 3, 'one per managed secret');
      for (const p of perms) {
        assert.deepEqual(p.Properties!.SourceAccount, { Ref: 'AWS::AccountId' });
        assert.ok(p.Properties!.SourceArn, 'restricted to one secret');
      }
      assert.ok(perms.some((p) => p.Properties!.SourceArn === EXISTING_SECRET));
    });

    it('admits services to the topics only with an aws:SourceAccount condition', () => {
      for (const [id, r] of Object.entries(resources)) {
        if (r.Type !== 'AWS::SNS::TopicPolicy') continue;
        for (const s of r.Properties!.PolicyDocument.Statement as Statement[]) {
          if (s.Effect !== 'Allow') continue;
          assert.ok(
            s.Condition?.StringEquals?.['aws:SourceAccount'],
            `${id} admits ${JSON.stringify(s.Principal)} unconditioned`,
          );
        }
      }
    });

    it('has no invoke permission without SourceAccount/SourceArn conditions (RotationSchedule’s own is gone)', () => {
      assert.deepEqual(unconditionedInvokePermissions(resources), []);
    });

    it('the condition check catches the unconditioned permission RotationSchedule would add', () => {
      const probe = new Stack();
      const fn = new lambda.Function(probe, 'Fn', {
        runtime: lambda.Runtime.NODEJS_24_X,
        handler: 'index.handler',
        code: lambda.Code.fromInline('exports.handler = async () => {}'),
      });
      fn.grantInvoke(new iam.ServicePrincipal('secretsmanager.amazonaws.com'));
      assert.equal(unconditionedInvokePermissions(Template.fromStack(probe).toJSON().Resources).length, 1);
    });
  });

  describe('rotation schedules', () => {
    it('attaches a rotation schedule only to imported keys, with the converted cron and the window', () => {
      const schedules = Object.values(resources).filter(
        (r) => r.Type === 'AWS::SecretsManager::RotationSchedule',
      );
      assert.equal(schedules.length, 2, 'imported-key and legacy-key, not fresh-key');
      const rules = schedules.map((s) => s.Properties!.RotationRules);
      assert.deepEqual(
        rules.find((r) => r.ScheduleExpression.startsWith('cron')),
        {
          ScheduleExpression: 'cron(0 2 1 */3 ? *)',
          Duration: '2h',
        },
      );
      assert.deepEqual(
        rules.find((r) => r.ScheduleExpression.startsWith('rate')),
        { ScheduleExpression: 'rate(7 days)' },
      );
    });

    it('creates a schedule only after its invoke permission and the function policy exist', () => {
      const key = stack.keys.find((k) => k.plan.name === 'imported-key')!;
      const schedule = resources[logicalId(key.rotationSchedule!)]!;
      const perm = Object.entries(resources).find(
        ([, r]) =>
          r.Type === 'AWS::Lambda::Permission' &&
          JSON.stringify(r.Properties!.SourceArn).includes(logicalId(key.secret as never)),
      )![0];
      assert.ok(schedule.DependsOn?.includes(perm), 'depends on the invoke permission');
      assert.ok(
        schedule.DependsOn?.some((d) => resources[d]?.Type === 'AWS::IAM::Policy'),
        'depends on the rotation function policy',
      );
    });

    it('creates not-yet-imported secrets with a placeholder and the grace-period tag', () => {
      const secrets = Object.values(resources).filter((r) => r.Type === 'AWS::SecretsManager::Secret');
      assert.equal(secrets.length, 2, 'the existing legacy secret is referenced, not created');
      for (const secret of secrets)
        assert.equal((secret as { DeletionPolicy?: string }).DeletionPolicy, 'Retain');
      const fresh = secrets.find((s) => s.Properties!.Name === 'staging/sendgrid/key')!;
      assert.match(fresh.Properties!.SecretString, /rekey import/);
      assert.deepEqual(fresh.Properties!.Tags, [{ Key: 'rekey:grace-period', Value: '1h' }]);
    });

    it('grants nothing on "*" for secretsmanager:GetRandomPassword (RotationSchedule’s default)', () => {
      assert.ok(!JSON.stringify(resources).includes('GetRandomPassword'));
    });
  });

  describe('least privilege', () => {
    it('grants "*" resources only for actions that have no resource type in IAM', () => {
      assert.deepEqual(wildcardResourceStatements(resources), []);
    });

    it('the wildcard check catches a "*" where a narrower resource exists', () => {
      assert.deepEqual(
        wildcardResourceStatements({
          P: {
            Type: 'AWS::IAM::Policy',
            Properties: {
              PolicyDocument: {
                Statement: [
                  {
                    Effect: 'Allow',
                    Action: ['secretsmanager:GetSecretValue', 'scheduler:ListSchedules'],
                    Resource: '*',
                  },
                ],
              },
            },
          },
        }),
        ['P: secretsmanager:GetSecretValue'],
      );
    });

    it('lets the rotation function read only its own keys and rotator credentials', () => {
      const policy = identityStatements(resources).filter(({ id }) => id.startsWith('Rotatesendgrid'));
      const reads = policy.filter(({ statement }) =>
        list(statement.Action).includes('secretsmanager:GetSecretValue'),
      );
      const resourcesRead = JSON.stringify(reads.map(({ statement }) => statement.Resource));
      assert.ok(resourcesRead.includes('rekey/rotator/sendgrid-??????'));
      assert.ok(resourcesRead.includes(ROTATOR_ARN));
      assert.ok(resourcesRead.includes(EXISTING_SECRET));
      assert.ok(!resourcesRead.includes('"*"'));
    });

    it('uses KMS keys only through Secrets Manager or SNS', () => {
      for (const { id, statement } of identityStatements(resources)) {
        if (!list(statement.Action).some((a) => a.startsWith('kms:'))) continue;
        assert.ok(
          statement.Condition?.StringEquals?.['kms:ViaService'],
          `${id} uses KMS without kms:ViaService`,
        );
      }
    });

    it('lets the Scheduler role invoke the revoker and nothing else', () => {
      const roleId = logicalId(stack.revocation.schedulerRole);
      const role = resources[roleId]!;
      const trust = role.Properties!.AssumeRolePolicyDocument.Statement[0];
      assert.deepEqual(trust.Principal, { Service: 'scheduler.amazonaws.com' });
      assert.ok(trust.Condition.StringEquals['aws:SourceAccount']);
      assert.ok(trust.Condition.ArnEquals['aws:SourceArn']);
      const statements = identityStatements(resources).filter(({ id }) => {
        const roles = resources[id]!.Properties!.Roles ?? [{ Ref: id }];
        return roles.some((r: { Ref: string }) => r.Ref === roleId);
      });
      const actions = statements.flatMap(({ statement }) => list(statement.Action)).sort();
      assert.deepEqual(actions, ['lambda:InvokeFunction', 'sqs:SendMessage']);
      const invoke = statements.find(({ statement }) =>
        list(statement.Action).includes('lambda:InvokeFunction'),
      )!;
      const resolved = JSON.stringify(invoke.statement.Resource);
      assert.ok(resolved.includes(`:function:${stack.stackName}-revoker`), resolved);
      assert.equal(list(invoke.statement.Resource).length, 1);
    });

    it('is the only role allowed to invoke the revoker', () => {
      const invokers = identityStatements(resources).filter(({ statement }) =>
        list(statement.Action).some((a) => a.startsWith('lambda:')),
      );
      assert.equal(new Set(invokers.map(({ id }) => id)).size, 1);
    });
  });

  describe('encryption', () => {
    it('encrypts every secret the stack creates with its KMS key, every topic and every queue', () => {
      for (const [id, r] of Object.entries(resources)) {
        if (r.Type === 'AWS::SecretsManager::Secret') assert.ok(r.Properties!.KmsKeyId, `${id} unencrypted`);
        if (r.Type === 'AWS::SNS::Topic') assert.ok(r.Properties!.KmsMasterKeyId, `${id} unencrypted`);
        if (r.Type === 'AWS::SQS::Queue') {
          assert.ok(
            r.Properties!.KmsMasterKeyId || r.Properties!.SqsManagedSseEnabled === true,
            `${id} unencrypted`,
          );
        }
        if (r.Type === 'AWS::KMS::Key')
          assert.equal(r.Properties!.EnableKeyRotation, true, `${id} not rotated`);
      }
    });

    it('refuses plain-HTTP publishing on every topic and queue', () => {
      const policies = Object.values(resources).filter(
        (r) => r.Type === 'AWS::SNS::TopicPolicy' || r.Type === 'AWS::SQS::QueuePolicy',
      );
      assert.equal(policies.length, 5, 'four topics and the dead-letter queue');
      for (const p of policies) {
        const deny = p.Properties!.PolicyDocument.Statement.find((s: Statement) => s.Effect === 'Deny');
        assert.deepEqual(deny.Condition, { Bool: { 'aws:SecureTransport': 'false' } });
      }
    });
  });

  describe("the guide's five monitoring rules", () => {
    const topicRef = (audience: 'onCall' | 'security' | 'appTeam' | 'rollback') => ({
      Ref: logicalId(stack.topics[audience]),
    });
    const alarmFor = (metric: string, secret: string) =>
      Object.values(resources).find(
        (r) =>
          r.Type === 'AWS::CloudWatch::Alarm' &&
          r.Properties!.MetricName === metric &&
          r.Properties!.Dimensions?.some(
            (d: { Name: string; Value: string }) => d.Name === 'SecretName' && d.Value === secret,
          ),
      );

    for (const secret of ['prod/sendgrid/api-key', 'staging/sendgrid/key', 'prod/legacy/key']) {
      it(`alarms for ${secret}: failure → on-call, age → security, old key → app team, spike → on-call, revoked → security`, () => {
        const expected: Array<[string, string]> = [
          ['RotationFailures', 'onCall'],
          ['KeyAgeSeconds', 'security'],
          ['PreviousKeyUseAfterGrace', 'appTeam'],
          ['AuthFailures', 'onCall'],
          ['RevokedKeyUse', 'security'],
        ];
        for (const [metric, audience] of expected) {
          const alarm = alarmFor(metric, secret);
          assert.ok(alarm, `no ${metric} alarm for ${secret}`);
          assert.equal(alarm.Properties!.Namespace, 'Rekey');
          assert.ok(
            alarm.Properties!.AlarmActions.some(
              (a: unknown) => JSON.stringify(a) === JSON.stringify(topicRef(audience as never)),
            ),
            `${metric} alarm of ${secret} does not notify ${audience}`,
          );
        }
      });
    }

    it('sets the key-age threshold at 1.5 × rotation_frequency', () => {
      assert.equal(
        alarmFor('KeyAgeSeconds', 'prod/sendgrid/api-key')!.Properties!.Threshold,
        1.5 * 90 * 86_400,
      );
      assert.equal(alarmFor('KeyAgeSeconds', 'prod/legacy/key')!.Properties!.Threshold, 1.5 * 7 * 86_400);
    });

    it('wires the auth-failure alarm to rollback only where rollback_on_failure is true', () => {
      const rollback = JSON.stringify(topicRef('rollback'));
      const actions = (secret: string) =>
        alarmFor('AuthFailures', secret)!.Properties!.AlarmActions.map((a: unknown) => JSON.stringify(a));
      assert.ok(actions('prod/sendgrid/api-key').includes(rollback));
      assert.ok(!actions('staging/sendgrid/key').includes(rollback));
      template.hasResourceProperties('AWS::SNS::Subscription', {
        Protocol: 'lambda',
        TopicArn: topicRef('rollback'),
        Endpoint: { 'Fn::GetAtt': [logicalId(stack.revocation.rollback.function), 'Arn'] },
      });
    });

    it('pages on-call for rotation-function errors, throttles, dead letters and Secrets Manager failure events', () => {
      const onCall = JSON.stringify(topicRef('onCall'));
      const alarms = Object.values(resources).filter((r) => r.Type === 'AWS::CloudWatch::Alarm');
      for (const metric of ['Errors', 'Throttles', 'ApproximateNumberOfMessagesVisible']) {
        const alarm = alarms.find((a) => a.Properties!.MetricName === metric);
        assert.ok(alarm, `no ${metric} alarm`);
        assert.ok(alarm.Properties!.AlarmActions.map((a: unknown) => JSON.stringify(a)).includes(onCall));
      }
      template.hasResourceProperties('AWS::Events::Rule', {
        EventPattern: {
          source: ['aws.secretsmanager'],
          detail: { eventName: ['RotationFailed', 'RotationAbandoned', 'TestRotationFailed'] },
        },
        Targets: [{ Arn: topicRef('onCall') }],
      });
    });

    it('subscribes the audiences the inventory lists', () => {
      template.hasResourceProperties('AWS::SNS::Subscription', {
        Protocol: 'email',
        Endpoint: 'oncall@example.com',
        TopicArn: topicRef('onCall'),
      });
      template.hasResourceProperties('AWS::SNS::Subscription', {
        Protocol: 'https',
        TopicArn: topicRef('security'),
      });
    });
  });

  describe('cdk-nag', () => {
    it('reports no unacknowledged AwsSolutions finding', () => {
      const report = new AwsSolutionsChecks().validateScope(stack);
      assert.deepEqual(
        report.violations.map(
          (v) => `${v.ruleName}: ${v.violatingResources.map((r) => r.resourceLogicalId).join(', ')}`,
        ),
        [],
      );
    });

    it('catches an unacknowledged finding', () => {
      const probe = new Stack();
      new iam.Role(probe, 'Wide', {
        assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      }).addToPolicy(new iam.PolicyStatement({ actions: ['s3:GetObject'], resources: ['*'] }));
      assert.ok(new AwsSolutionsChecks().validateScope(probe).violations.length > 0);
    });
  });
});

describe('the CDK app', () => {
  it('gives the revoker and rollback functions, which serve every provider, each configured provider endpoint', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rekey-app-'));
    const path = join(dir, 'rekey.yaml');
    writeFileSync(
      path,
      `${INVENTORY}\nproviders:\n  sendgrid: { endpoint: "https://sendgrid.internal-proxy.example" }\n`,
    );
    const { stack } = createRekeyApp({ context: { inventory: path, 'aws:cdk:bundling-stacks': [] } });
    const resources = Template.fromStack(stack).toJSON().Resources as Resources;
    for (const fn of [stack.revocation.revoker, stack.revocation.rollback]) {
      const props = resources[stack.getLogicalId(fn.function.node.defaultChild as never)]!.Properties!;
      assert.equal(
        props.Environment.Variables.REKEY_PROVIDER_ENDPOINT_SENDGRID,
        'https://sendgrid.internal-proxy.example',
      );
    }
  });

  it('adds subscriptions from the notifications context to those of the inventory', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rekey-app-'));
    const path = join(dir, 'rekey.yaml');
    writeFileSync(path, INVENTORY);
    const { stack } = createRekeyApp({
      context: {
        inventory: path,
        'aws:cdk:bundling-stacks': [],
        notifications: '{"app_team": ["apps@example.com"], "on_call": ["second@example.com"]}',
      },
    });
    const subscriptions = Object.values(Template.fromStack(stack).toJSON().Resources as Resources)
      .filter((r) => r.Type === 'AWS::SNS::Subscription' && r.Properties!.Protocol === 'email')
      .map((r) => r.Properties!.Endpoint)
      .sort();
    assert.deepEqual(subscriptions, ['apps@example.com', 'oncall@example.com', 'second@example.com']);
  });

  it('refuses a malformed notifications context, naming it and the field', () => {
    assert.throws(
      () =>
        createRekeyApp({
          context: {
            inventory: 'rekey.yaml',
            'aws:cdk:bundling-stacks': [],
            notifications: '{"on_call": ["pager"]}',
          },
        }),
      /context "notifications" is invalid:\n {2}- notifications: field "on_call.0" must be an e-mail address or an https:\/\/ URL/,
    );
  });

  it('refuses an inventory provider that has no rotation handler, listing the known ones', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rekey-app-'));
    const path = join(dir, 'rekey.yaml');
    writeFileSync(
      path,
      'api_keys:\n  - name: mail\n    provider: Mailgun\n    vault_path: prod/mailgun\n    rotation_frequency: 30d\n    rotator_secret: rekey/rotator/mailgun\n',
    );
    assert.throws(
      () => createRekeyApp({ context: { inventory: path, 'aws:cdk:bundling-stacks': [] } }),
      (error: Error) =>
        error instanceof InventoryError &&
        /api_keys\[0\] \(mail\): field "provider" is "Mailgun", which rekey cannot rotate; known providers: .*sendgrid/.test(
          error.message,
        ),
    );
  });
});

describe('the synthesized rekey stack for keys at AWS providers (IAM access keys, API Gateway keys)', () => {
  let stack: RekeyStack;
  let resources: Resources;

  before(() => {
    const dir = mkdtempSync(join(tmpdir(), 'rekey-aws-providers-'));
    const path = join(dir, 'rekey.yaml');
    writeFileSync(
      path,
      `
api_keys:
  - name: ci-deployer
    provider: AWS IAM
    vault_path: prod/iam/ci-deployer
    rotation_frequency: 30d
    rotator_secret: rekey/rotator/aws-iam
    options: { userName: ci-deployer }
    imported: true
  - name: partner-gateway
    provider: Amazon API Gateway
    vault_path: prod/gateway/partner
    rotation_frequency: 7d
    rotator_secret: rekey/rotator/api-gateway
    options: { region: eu-west-1 }
    imported: true
`,
    );
    ({ stack } = createRekeyApp({ context: { inventory: path, 'aws:cdk:bundling-stacks': [] } }));
    resources = Template.fromStack(stack).toJSON().Resources;
  });

  // iam:PassRole (the Scheduler role, every rotation function) is not access to a provider.
  const statementsFor = (prefix: string) =>
    identityStatements(resources).filter(({ statement }) =>
      list(statement.Action).some((a) => a.startsWith(prefix) && a !== 'iam:PassRole'),
    );
  const holders = (prefix: string) =>
    [...new Set(statementsFor(prefix).map(({ id }) => id.replace(/[0-9A-F]{8}$/, '')))].sort();

  it('builds a rotation function for each AWS provider, named after its adapter', () => {
    const functions = Object.values(resources)
      .filter((r) => r.Type === 'AWS::Lambda::Function')
      .map((r) => String(r.Properties?.Description));
    assert.ok(functions.some((d) => d.includes('rotates aws-iam')));
    assert.ok(functions.some((d) => d.includes('rotates api-gateway')));
  });

  it('lets the rotation, revoker and rollback functions manage access keys of exactly the inventory’s IAM user', () => {
    assert.deepEqual(holders('iam:'), [
      'RevocationRevokerRoleDefaultPolicy',
      'RevocationRollbackRoleDefaultPolicy',
      'RotateawsiamRoleDefaultPolicy',
    ]);
    for (const { statement } of statementsFor('iam:')) {
      assert.deepEqual(list(statement.Action).sort(), [...IAM_KEY_ACTIONS].sort());
      const arns = JSON.stringify(statement.Resource);
      assert.match(arns, /:user\/ci-deployer"/);
      assert.match(arns, /:user\/\*\/ci-deployer"/);
      assert.doesNotMatch(arns, /:user\/\*"/, 'never every user');
    }
  });

  it('lets them manage API keys and usage-plan keys in the key’s region only', () => {
    assert.deepEqual(holders('apigateway:'), [
      'RevocationRevokerRoleDefaultPolicy',
      'RevocationRollbackRoleDefaultPolicy',
      'RotateapigatewayRoleDefaultPolicy',
    ]);
    for (const { statement } of statementsFor('apigateway:')) {
      for (const arn of list(statement.Resource)) {
        assert.match(JSON.stringify(arn), /:apigateway:eu-west-1::\/(apikeys|usageplans)/);
      }
    }
  });

  it('reports no unacknowledged AwsSolutions finding: each wildcard is acknowledged with its reason', () => {
    const report = new AwsSolutionsChecks().validateScope(stack);
    assert.deepEqual(
      report.violations.map(
        (v) => `${v.ruleName}: ${v.violatingResources.map((r) => r.resourceLogicalId).join(', ')}`,
      ),
      [],
    );
  });
});
