import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { type CfnElement, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { AwsSolutionsChecks } from 'cdk-nag';
import { createRekeyApp } from '../../lib/app.js';
import { InventoryError } from '../../lib/inventory.js';
import { keyRoleNames } from '../../lib/key-roles.js';
import { PROTECTED_SECRET_ACTIONS } from '../../lib/managed-key.js';
import { IAM_KEY_ACTIONS, IAM_REVOCATION_ACTIONS } from '../../lib/provider-access.js';
import type { RekeyStack } from '../../lib/rekey-stack.js';

const EXISTING_SECRET = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/legacy/key-AbCdEf';
const EXISTING_KEY = 'arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab';
const ROTATOR_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:rekey/rotator/legacy-XyZ123';
const ROTATOR_KEY = 'arn:aws:kms:eu-west-1:123456789012:key/abcd1234-12ab-34cd-56ef-1234567890ab';
const OPERATORS =
  'arn:aws:iam::123456789012:role/aws-reserved/sso.amazonaws.com/*/AWSReservedSSO_RekeyOperator_*';
const READERS = 'arn:aws:iam::123456789012:role/notification-service-*';

const INVENTORY = `
operators: ["${OPERATORS}"]
api_keys:
  - name: imported-key
    provider: SendGrid
    vault_path: prod/sendgrid/api-key
    rotation_frequency: 90d
    rotator_secret: rekey/rotator/sendgrid
    imported: true
    readers: ["${READERS}"]
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
    rotator_kms_key_arn: ${ROTATOR_KEY}
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

/** The identity-policy statements that apply to the role with logical id `roleId`. */
function statementsOfRole(resources: Resources, roleId: string): Array<{ id: string; statement: Statement }> {
  return identityStatements(resources).filter(({ id }) => {
    const roles = resources[id]!.Properties!.Roles ?? [{ Ref: id }];
    return roles.some((r: { Ref: string }) => r.Ref === roleId);
  });
}

/**
 * Finding 2 on a template: for every role, the keys whose managed secret or IAM user its policies name —
 * except the key-age monitor's read-only ListSecretVersionIds and the functions' sts:AssumeRole, which name
 * many keys by design. A role that can act on two keys' secrets or users shows two keys.
 */
function keysPerRole(stack: RekeyStack, resources: Resources): Map<string, Set<string>> {
  const needles = stack.keys.flatMap((key) => {
    const secret = key.plan.existingSecretArn
      ? `"${key.plan.existingSecretArn}"`
      : `"Ref":"${stack.getLogicalId(key.secret.node.defaultChild as never)}"`;
    const user = key.plan.provider === 'aws-iam' ? String(key.plan.options.userName) : undefined;
    return [
      { key: key.plan.name, needle: secret },
      ...(user
        ? [`:user/${user}"`, `:user/*/${user}"`].map((needle) => ({ key: key.plan.name, needle }))
        : []),
    ];
  });
  const byRole = new Map<string, Set<string>>();
  for (const [roleId, r] of Object.entries(resources)) {
    if (r.Type !== 'AWS::IAM::Role') continue;
    const keys = new Set<string>();
    for (const { statement } of statementsOfRole(resources, roleId)) {
      const actions = list(statement.Action);
      if (actions.every((a) => a === 'secretsmanager:ListSecretVersionIds' || a === 'sts:AssumeRole'))
        continue;
      const text = JSON.stringify(statement.Resource);
      for (const { key, needle } of needles) if (text.includes(needle)) keys.add(key);
    }
    byRole.set(roleId, keys);
  }
  return byRole;
}

/** Actions a role that revokes, rolls back, validates or reads last use never needs (finding 5). */
const CREATE_OR_TAG_ACTIONS = [
  'iam:CreateAccessKey',
  'iam:TagUser',
  'iam:ListUserTags',
  'apigateway:POST',
  'apigateway:PATCH',
  'secretsmanager:PutSecretValue',
];

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

  it('tells the key-age monitor every managed secret through its bundle, not its 4 KB environment', () => {
    assert.deepEqual(
      stack.keyAgeMonitor.routes.map((r) => [r.secretName, r.secretArn]),
      [
        ['prod/sendgrid/api-key', undefined],
        ['staging/sendgrid/key', undefined],
        ['prod/legacy/key', EXISTING_SECRET],
      ],
    );
    const fn = resources[logicalId(stack.keyAgeMonitor.function)]!;
    assert.equal(fn.Properties!.Environment?.Variables?.REKEY_MANAGED_SECRETS, undefined);
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
          ['dynamodb:DeleteItem', 'dynamodb:GetItem', 'dynamodb:PutItem'],
          `${fn.node.path}: lease and key-owner actions only`,
        );
        // Reading is for key-owner records only: a function cannot read a lease's holder.
        const read = statements.find((st) => [st.Action].flat().includes('dynamodb:GetItem'))!;
        assert.deepEqual([read.Action].flat(), ['dynamodb:GetItem']);
        assert.deepEqual(read.Condition, {
          'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['key:*'] },
        });
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
      const fn = stack.rotationFunctions.get('sendgrid')!;
      for (const needed of [
        fn.node.findChild('AssumeKeyRoles').node.defaultChild,
        key.roles.rotation.node.defaultChild,
        key.roles.rotation.node.findChild('DefaultPolicy').node.defaultChild,
      ])
        assert.ok(
          schedule.DependsOn?.includes(stack.getLogicalId(needed as never)),
          `depends on ${stack.getLogicalId(needed as never)}`,
        );
    });

    it('never rotates a key because a deploy changed its schedule (RotateImmediatelyOnUpdate: false)', () => {
      const schedules = Object.values(resources).filter(
        (r) => r.Type === 'AWS::SecretsManager::RotationSchedule',
      );
      assert.ok(schedules.length > 0);
      for (const s of schedules) assert.equal(s.Properties!.RotateImmediatelyOnUpdate, false);
    });

    it('creates not-yet-imported secrets with a placeholder and the grace-period tag', () => {
      const secrets = Object.values(resources).filter((r) => r.Type === 'AWS::SecretsManager::Secret');
      assert.equal(secrets.length, 2, 'the existing legacy secret is referenced, not created');
      for (const secret of secrets)
        assert.equal((secret as { DeletionPolicy?: string }).DeletionPolicy, 'Retain');
      const fresh = secrets.find((s) => s.Properties!.Name === 'staging/sendgrid/key')!;
      assert.match(fresh.Properties!.SecretString, /rekey import/);
      assert.deepEqual(fresh.Properties!.Tags, [
        { Key: 'rekey:deployment', Value: stack.stackName },
        { Key: 'rekey:grace-period', Value: '2h' },
      ]);
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

    it('lets each key role read only its own key and rotator credential; the functions read no secret', () => {
      for (const key of stack.keys) {
        for (const role of key.roles.all) {
          const reads = statementsOfRole(resources, logicalId(role)).filter(({ statement }) =>
            list(statement.Action).includes('secretsmanager:GetSecretValue'),
          );
          const read = JSON.stringify(reads.map(({ statement }) => statement.Resource));
          assert.ok(read.includes(key.plan.rotatorSecret), `${role.node.path} reads its rotator`);
          if (key.plan.existingSecretArn) assert.ok(read.includes(key.plan.existingSecretArn));
          else assert.ok(read.includes(logicalId(key.secret as never)));
          for (const other of stack.keys.filter((k) => k !== key)) {
            if (other.plan.existingSecretArn) assert.ok(!read.includes(other.plan.existingSecretArn));
            else assert.ok(!read.includes(`"${logicalId(other.secret as never)}"`));
          }
          assert.ok(!read.includes('"*"'));
        }
      }
      for (const fn of [
        ...stack.rotationFunctions.values(),
        stack.revocation.revoker,
        stack.revocation.rollback,
        stack.keyAgeMonitor,
      ]) {
        const actions = statementsOfRole(resources, logicalId(fn.role)).flatMap(({ statement }) =>
          list(statement.Action),
        );
        assert.deepEqual(
          actions.filter(
            (a) => a.startsWith('secretsmanager:') && a !== 'secretsmanager:ListSecretVersionIds',
          ),
          [],
          `${fn.node.path} acts on secrets only through key roles`,
        );
      }
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

  describe('per-key roles (issue 13, item 2)', () => {
    it("finding 2: no role can act on two keys' secrets or IAM users", () => {
      const shared = [...keysPerRole(stack, resources)].filter(([, keys]) => keys.size > 1);
      assert.deepEqual(
        shared.map(([role, keys]) => `${role}: ${[...keys].join(', ')}`),
        [],
      );
    });

    it('finding 5: revocation roles hold no create/tag actions, and the revoker and rollback roles nothing per key', () => {
      for (const key of stack.keys) {
        const actions = statementsOfRole(resources, logicalId(key.roles.revocation)).flatMap(
          ({ statement }) => list(statement.Action),
        );
        assert.deepEqual(
          actions.filter((a) => CREATE_OR_TAG_ACTIONS.includes(a)),
          [],
          key.plan.name,
        );
      }
      for (const fn of [stack.revocation.revoker, stack.revocation.rollback]) {
        const actions = statementsOfRole(resources, logicalId(fn.role)).flatMap(({ statement }) =>
          list(statement.Action),
        );
        assert.deepEqual(
          actions.filter((a) => /^(secretsmanager|apigateway|iam):/.test(a) && a !== 'iam:PassRole'),
          [],
          fn.node.path,
        );
      }
    });

    it("names each key's roles as the functions' routes say (keyRoleNames), one pair per key", () => {
      for (const key of stack.keys) {
        const names = keyRoleNames(stack.stackName, key.plan.name);
        assert.equal(resources[logicalId(key.roles.rotation)]!.Properties!.RoleName, names.rotation);
        assert.equal(resources[logicalId(key.roles.revocation)]!.Properties!.RoleName, names.revocation);
        for (const fn of [stack.rotationFunctions.get(key.plan.provider)!, stack.revocation.revoker]) {
          assert.deepEqual(fn.routes.find((r) => r.name === key.plan.name)?.roles, names);
        }
      }
    });

    it("lets a key role be assumed only by its functions' roles: no wildcard, no other principal", () => {
      const roleRef = (fn: { role: iam.Role }) => ({ 'Fn::GetAtt': [logicalId(fn.role), 'Arn'] });
      for (const key of stack.keys) {
        const trust = (role: iam.Role) =>
          (resources[logicalId(role)]!.Properties!.AssumeRolePolicyDocument.Statement as Statement[]).map(
            (st) => {
              assert.equal(st.Effect, 'Allow');
              assert.deepEqual(list(st.Action), ['sts:AssumeRole']);
              return (st.Principal as { AWS: unknown }).AWS;
            },
          );
        assert.deepEqual(trust(key.roles.rotation), [
          roleRef(stack.rotationFunctions.get(key.plan.provider)!),
        ]);
        assert.deepEqual(trust(key.roles.revocation), [
          roleRef(stack.revocation.revoker),
          roleRef(stack.revocation.rollback),
        ]);
      }
    });

    it("lets each function assume exactly its keys' roles, only from inside that function", () => {
      const assumable = (fn: { role: iam.Role }) => {
        const statements = statementsOfRole(resources, logicalId(fn.role)).filter(({ statement }) =>
          list(statement.Action).includes('sts:AssumeRole'),
        );
        assert.equal(statements.length, 1);
        const { statement } = statements[0]!;
        assert.ok(statement.Condition.ArnEquals['lambda:SourceFunctionArn'], 'pinned to the function');
        return JSON.stringify(statement.Resource);
      };
      // A name pattern, the same size for any number of keys; the key roles' trust policies decide.
      assert.match(assumable(stack.rotationFunctions.get('sendgrid')!), /:role\/rekey-rot-\*"/);
      for (const fn of [stack.revocation.revoker, stack.revocation.rollback])
        assert.match(assumable(fn), /:role\/rekey-rev-\*"/);
      for (const key of stack.keys) {
        const trust = (role: iam.Role) =>
          JSON.stringify(resources[logicalId(role)]!.Properties!.AssumeRolePolicyDocument);
        assert.match(
          trust(key.roles.rotation),
          new RegExp(logicalId(stack.rotationFunctions.get('sendgrid')!.role)),
        );
        assert.doesNotMatch(trust(key.roles.rotation), new RegExp(logicalId(stack.revocation.revoker.role)));
        assert.match(trust(key.roles.revocation), new RegExp(logicalId(stack.revocation.revoker.role)));
      }
      assert.equal(
        statementsOfRole(resources, logicalId(stack.keyAgeMonitor.role)).filter(({ statement }) =>
          list(statement.Action).includes('sts:AssumeRole'),
        ).length,
        0,
      );
    });

    it("grants kms:Decrypt on a customer managed rotator key, through Secrets Manager, to that key's roles only", () => {
      const holders = identityStatements(resources)
        .filter(({ statement }) => JSON.stringify(statement.Resource).includes(ROTATOR_KEY))
        .map(({ id, statement }) => {
          assert.deepEqual(list(statement.Action), ['kms:Decrypt']);
          assert.ok(statement.Condition.StringEquals['kms:ViaService']);
          return id;
        })
        .sort();
      const legacy = stack.keys.find((k) => k.plan.name === 'legacy-key')!;
      assert.deepEqual(
        holders,
        legacy.roles.all.map((r) => logicalId(r.node.findChild('DefaultPolicy') as never)).sort(),
      );
    });
  });

  describe('resource policies', () => {
    const policyOf = (secretId: unknown) =>
      Object.values(resources).filter(
        (r) =>
          r.Type === 'AWS::SecretsManager::ResourcePolicy' &&
          JSON.stringify(r.Properties!.SecretId) === JSON.stringify(secretId),
      );
    const exempt = (st: Statement) => JSON.stringify(st.Condition.ArnNotLike['aws:PrincipalArn']);

    it("lets only the key's roles, the CDK deploy roles and the operators change a secret the stack creates", () => {
      for (const key of stack.keys.filter((k) => !k.plan.existingSecretArn)) {
        const [policy, ...more] = policyOf({ Ref: logicalId(key.secret as never) });
        assert.ok(policy && more.length === 0, `${key.plan.name} has one resource policy`);
        assert.equal(policy.Properties!.BlockPublicPolicy, true);
        const statements = policy.Properties!.ResourcePolicy.Statement as Statement[];
        const writes = statements.find((st) => list(st.Action).includes('secretsmanager:PutSecretValue'))!;
        assert.equal(writes.Effect, 'Deny');
        assert.deepEqual(writes.Principal, { AWS: '*' });
        assert.deepEqual(list(writes.Action), [...PROTECTED_SECRET_ACTIONS]);
        for (const action of ['secretsmanager:PutResourcePolicy', 'secretsmanager:DeleteResourcePolicy'])
          assert.ok(!statements.some((st) => list(st.Action).includes(action)), `never denies ${action}`);
        const names = keyRoleNames(stack.stackName, key.plan.name);
        for (const needle of [
          `:role/${names.rotation}"`,
          `:role/${names.revocation}"`,
          ':role/cdk-*"',
          OPERATORS,
        ])
          assert.ok(exempt(writes).includes(needle), `${key.plan.name} exempts ${needle}`);
        for (const other of stack.keys.filter((k) => k !== key))
          assert.ok(!exempt(writes).includes(keyRoleNames(stack.stackName, other.plan.name).rotation));
      }
    });

    it("denies reads to everyone but readers, the key's roles and operators where readers are given", () => {
      const reads = (name: string) => {
        const key = stack.keys.find((k) => k.plan.name === name)!;
        return (
          policyOf({ Ref: logicalId(key.secret as never) })[0]!.Properties!.ResourcePolicy
            .Statement as Statement[]
        ).filter((st) => list(st.Action).includes('secretsmanager:GetSecretValue'));
      };
      const [deny, ...more] = reads('imported-key');
      assert.ok(deny && more.length === 0);
      assert.equal(deny.Effect, 'Deny');
      const names = keyRoleNames(stack.stackName, 'imported-key');
      for (const needle of [READERS, names.rotation, names.revocation, OPERATORS])
        assert.ok(exempt(deny).includes(needle), needle);
      assert.ok(!exempt(deny).includes('cdk-*'), 'the deploy roles read no key');
      assert.deepEqual(reads('fresh-key'), [], 'no readers: identity policies decide');
    });

    it('leaves the resource policy of an existing secret alone', () => {
      assert.deepEqual(policyOf(EXISTING_SECRET), []);
    });

    it('lets only the roles of the keys that use a rotator secret (and operators) read it', () => {
      const rotatorPolicies = Object.values(resources).filter(
        (r) => r.Type === 'AWS::SecretsManager::ResourcePolicy' && typeof r.Properties!.SecretId === 'string',
      );
      assert.deepEqual(
        rotatorPolicies.map((p) => p.Properties!.SecretId).sort(),
        [ROTATOR_ARN, 'rekey/rotator/sendgrid'].sort(),
        'one per distinct rotator secret',
      );
      for (const policy of rotatorPolicies) {
        assert.equal(policy.Properties!.BlockPublicPolicy, true);
        const [deny, ...more] = policy.Properties!.ResourcePolicy.Statement as Statement[];
        assert.ok(deny && more.length === 0);
        assert.equal(deny.Effect, 'Deny');
        assert.deepEqual(list(deny.Action), ['secretsmanager:GetSecretValue']);
        const users = stack.keys.filter((k) => k.plan.rotatorSecret === policy.Properties!.SecretId);
        for (const key of stack.keys) {
          const names = keyRoleNames(stack.stackName, key.plan.name);
          for (const name of [names.rotation, names.revocation])
            assert.equal(
              exempt(deny).includes(`:role/${name}"`),
              users.includes(key),
              `${key.plan.name} ${name}`,
            );
        }
        assert.ok(exempt(deny).includes(OPERATORS));
      }
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
    // The fleet alarm (Metrics Insights, grouped by SecretName) whose contributors include the secret.
    const alarmFor = (metric: string, secret: string) => {
      const index = stack.fleetAlarms.specs.findIndex(
        (spec) =>
          spec.query.startsWith(`SELECT ${metric === 'KeyAgeSeconds' ? 'MAX' : 'SUM'}(${metric}) `) &&
          (spec.secrets === 'all' || spec.secrets.includes(secret)),
      );
      return index < 0 ? undefined : resources[stack.getLogicalId(stack.fleetAlarms.alarms[index]!)];
    };

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
          assert.match(alarm.Properties!.Metrics[0].Expression, /FROM SCHEMA\(Rekey, .*GROUP BY SecretName/);
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

    it('has the key-age monitor publish ages from the shortest rotation_frequency (7 days here), below every threshold', () => {
      const monitor =
        resources[stack.getLogicalId(stack.keyAgeMonitor.function.node.defaultChild as CfnElement)];
      assert.equal(
        monitor!.Properties!.Environment.Variables.REKEY_KEY_AGE_PUBLISH_FROM_SECONDS,
        String(7 * 86_400),
      );
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
  - name: admin-key
    provider: AWS IAM
    vault_path: prod/iam/admin-b
    rotation_frequency: 30d
    rotator_secret: rekey/rotator/aws-iam
    options: { userName: admin-b }
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

  const keyNamed = (name: string) => stack.keys.find((k) => k.plan.name === name)!;
  const policyId = (role: iam.Role) =>
    stack.getLogicalId(role.node.findChild('DefaultPolicy').node.defaultChild as never);

  it('lets only the key’s own roles manage access keys of exactly the inventory’s IAM user', () => {
    const ci = keyNamed('ci-deployer');
    const admin = keyNamed('admin-key');
    assert.deepEqual(
      holders('iam:'),
      [...ci.roles.all, ...admin.roles.all].map((r) => policyId(r).replace(/[0-9A-F]{8}$/, '')).sort(),
    );
    for (const [key, user] of [
      [ci, 'ci-deployer'],
      [admin, 'admin-b'],
    ] as const) {
      for (const { id, statement } of statementsFor('iam:').filter(({ id }) =>
        key.roles.all.some((r) => policyId(r) === id),
      )) {
        const expected = id === policyId(key.roles.rotation) ? IAM_KEY_ACTIONS : IAM_REVOCATION_ACTIONS;
        assert.deepEqual(list(statement.Action).sort(), [...expected].sort());
        const arns = JSON.stringify(statement.Resource);
        assert.match(arns, new RegExp(`:user/${user}"`));
        assert.match(arns, new RegExp(`:user/\\*/${user}"`));
        assert.doesNotMatch(arns, /:user\/\*"/, 'never every user');
      }
    }
  });

  it('lets only the key’s own roles manage API keys, in the key’s region only; revocation reads and deletes', () => {
    const gateway = keyNamed('partner-gateway');
    assert.deepEqual(
      holders('apigateway:'),
      gateway.roles.all.map((r) => policyId(r).replace(/[0-9A-F]{8}$/, '')).sort(),
    );
    const byRole = (role: iam.Role) =>
      statementsFor('apigateway:')
        .filter(({ id }) => id === policyId(role))
        .flatMap(({ statement }) => list(statement.Action))
        .sort();
    assert.deepEqual(byRole(gateway.roles.revocation), ['apigateway:DELETE', 'apigateway:GET']);
    assert.deepEqual(byRole(gateway.roles.rotation), [
      'apigateway:DELETE',
      'apigateway:GET',
      'apigateway:PATCH',
      'apigateway:POST',
    ]);
    for (const { statement } of statementsFor('apigateway:')) {
      for (const arn of list(statement.Resource)) {
        assert.match(JSON.stringify(arn), /:apigateway:eu-west-1::\/(apikeys|usageplans)/);
      }
    }
  });

  it("finding 2: no role can act on two keys' secrets or IAM users (two IAM users of one provider)", () => {
    const shared = [...keysPerRole(stack, resources)].filter(([, keys]) => keys.size > 1);
    assert.deepEqual(
      shared.map(([role, keys]) => `${role}: ${[...keys].join(', ')}`),
      [],
    );
    // The check sees a role that names both users: the shape the stack had before per-key roles.
    const probe = structuredClone(resources);
    const ciPolicy = probe[policyId(keyNamed('ci-deployer').roles.rotation)]!;
    const adminUser = statementsFor('iam:').find(
      ({ id }) => id === policyId(keyNamed('admin-key').roles.rotation),
    )!;
    ciPolicy.Properties!.PolicyDocument.Statement.push(adminUser.statement);
    assert.ok([...keysPerRole(stack, probe).values()].some((keys) => keys.size > 1));
  });

  it('finding 5: revocation roles hold no create/tag actions (iam:CreateAccessKey, TagUser, apigateway:POST …)', () => {
    for (const key of stack.keys) {
      const actions = statementsOfRole(
        resources,
        stack.getLogicalId(key.roles.revocation.node.defaultChild as never),
      ).flatMap(({ statement }) => list(statement.Action));
      assert.deepEqual(
        actions.filter((a) => CREATE_OR_TAG_ACTIONS.includes(a)),
        [],
        key.plan.name,
      );
    }
    for (const fn of [stack.revocation.revoker, stack.revocation.rollback]) {
      const actions = statementsOfRole(
        resources,
        stack.getLogicalId(fn.role.node.defaultChild as never),
      ).flatMap(({ statement }) => list(statement.Action));
      assert.deepEqual(
        actions.filter((a) => /^(iam|apigateway|secretsmanager):/.test(a) && a !== 'iam:PassRole'),
        [],
        fn.node.path,
      );
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
