import { ArnFormat, Duration, RemovalPolicy, SecretValue, Stack, Tags, Validations } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import type { KeyRoute } from '../lambdas/routes.js';
import { PLACEHOLDER } from '../lambdas/secret-format.js';
import { SINGLE_KEY_OPT_IN, TAGS } from '../lambdas/tags.js';
import { DIMENSIONS, METRIC_NAMESPACE, METRICS } from '../lambdas/telemetry.js';
import type { RekeyFunction } from './function.js';
import type { ManagedKeyPlan } from './inventory.js';
import { KeyRoles, keyRoleNames, ROTATION_ACTIONS, roleArn } from './key-roles.js';
import { grantProviderAccess } from './provider-access.js';

export { PLACEHOLDER, ROTATION_ACTIONS };

/**
 * What the resource policy of a secret the stack creates denies to everyone but the key's two roles, the CDK
 * deploy roles and the inventory's operators — everything that changes which key apps get, who rotates it
 * with what, or whether it exists:
 * - PutSecretValue, UpdateSecretVersionStage: a new version, or moved labels (which key is AWSCURRENT).
 * - TagResource, UntagResource: rekey's state lives in tags (pending revocations, emergencies, single-key).
 * - UpdateSecret: writes a new AWSCURRENT value too, and can swap the KMS key.
 * - RotateSecret, CancelRotateSecret: RotateSecret can point rotation at another Lambda function (and starts
 *   one); CancelRotateSecret turns rotation off. CloudFormation (a CDK deploy role) and `rekey rotate`
 *   (operators) are the legitimate callers; Secrets Manager's scheduled rotations call no API.
 * - DeleteSecret, RestoreSecret: deleting removes the key apps read (the stack retains its secrets); restoring
 *   undoes an administrator's decision to delete.
 * - ReplicateSecretToRegions: a replica is a copy of the key under a resource policy this stack does not set.
 * Never PutResourcePolicy or DeleteResourcePolicy: an administrator can always replace this policy to recover.
 */
export const PROTECTED_SECRET_ACTIONS = [
  'secretsmanager:PutSecretValue',
  'secretsmanager:UpdateSecretVersionStage',
  'secretsmanager:TagResource',
  'secretsmanager:UntagResource',
  'secretsmanager:UpdateSecret',
  'secretsmanager:RotateSecret',
  'secretsmanager:CancelRotateSecret',
  'secretsmanager:DeleteSecret',
  'secretsmanager:RestoreSecret',
  'secretsmanager:ReplicateSecretToRegions',
] as const;

/** The CDK bootstrap roles (CloudFormation's deploy and execution roles among them). */
export function cdkRolesPattern(scope: Construct): string {
  return roleArn(scope, 'cdk-*');
}

export interface ManagedKeyProps {
  /** The inventory entry, resolved. */
  readonly plan: ManagedKeyPlan;
  /** The rotation function of the key's provider: the only one that may assume the key's rotation role. */
  readonly rotationFunction: RekeyFunction;
  /** The revoker and rollback functions: the only ones that may assume the key's revocation role. */
  readonly revocationFunctions: readonly RekeyFunction[];
  /**
   * Encrypts the secret when the stack creates it. An existing secret (`plan.existingSecretArn`) keeps
   * its own key (`plan.existingKmsKeyArn`).
   */
  readonly encryptionKey: kms.IKey;
  /**
   * The name of the stack with rekey's machinery: the key's role names and its `rekey:deployment` tag
   * derive from it, wherever the key's own resources live.
   * @default - the name of the stack the key is in
   */
  readonly deployment?: string;
}

/**
 * One API key under rekey's management: its secret (created with a placeholder and a resource policy, or an
 * existing one by ARN), the invoke permission Secrets Manager needs — restricted to this account and this
 * secret — the key's two roles (`KeyRoles`: the only roles with access to this secret, its rotator
 * credential and its provider object), and, once the key is imported, the rotation schedule.
 *
 * The schedule waits for `imported: true` because creating it makes Secrets Manager invoke the function
 * (RotateImmediatelyOnUpdate is false, so only testSecret, as a configuration test — never a rotation
 * during a deploy); against a placeholder even that would fail.
 */
export class ManagedKey extends Construct {
  readonly plan: ManagedKeyPlan;
  readonly secret: secretsmanager.ISecret;
  /** Full ARN of the rotator-credential secret, or a `-??????` pattern when the inventory names it. */
  readonly rotatorSecretArn: string;
  /** Present once the key is imported. */
  readonly rotationSchedule?: secretsmanager.RotationSchedule;
  /** The key's rotation and revocation roles. */
  readonly roles: KeyRoles;

  constructor(scope: Construct, id: string, props: ManagedKeyProps) {
    super(scope, id);
    const { plan, rotationFunction } = props;
    this.plan = plan;
    const stack = Stack.of(this);
    const deployment = props.deployment ?? stack.stackName;
    const roleNames = keyRoleNames(deployment, plan.name);
    if (plan.existingSecretArn) {
      const encryptionKey = plan.existingKmsKeyArn
        ? kms.Key.fromKeyArn(this, 'ExistingKey', plan.existingKmsKeyArn)
        : undefined;
      this.secret = secretsmanager.Secret.fromSecretAttributes(this, 'Secret', {
        secretCompleteArn: plan.existingSecretArn,
        ...(encryptionKey ? { encryptionKey } : {}),
      });
    } else {
      const secret = new secretsmanager.Secret(this, 'Secret', {
        secretName: plan.secretName,
        description: `rekey: ${plan.providerLabel} key "${plan.name}"${plan.usedBy.length ? ` used by ${plan.usedBy.join(', ')}` : ''}`,
        encryptionKey: props.encryptionKey,
        secretStringValue: SecretValue.unsafePlainText(PLACEHOLDER),
        // Deleting the stack must not delete the keys applications use.
        removalPolicy: RemovalPolicy.RETAIN,
      });
      Tags.of(secret).add(TAGS.gracePeriod, plan.gracePeriod);
      // The key-age monitor may list the versions of the secrets that carry its deployment's name.
      Tags.of(secret).add(TAGS.deployment, deployment);
      this.protect(secret, roleNames);
      if (plan.singleKey) Tags.of(secret).add(TAGS.singleKey, SINGLE_KEY_OPT_IN);
      if (!plan.imported) {
        Validations.of(secret).acknowledge({
          id: 'AwsSolutions-SMG4',
          reason: `Rotation of "${plan.name}" is attached once \`rekey import\` stored its current key (inventory: imported: true); rotating the placeholder would fail and leave AWSPENDING behind.`,
        });
      }
      this.secret = secret;
    }
    this.rotatorSecretArn = plan.rotatorSecret.startsWith('arn:')
      ? plan.rotatorSecret
      : stack.formatArn({
          service: 'secretsmanager',
          resource: 'secret',
          resourceName: `${plan.rotatorSecret}-??????`,
          arnFormat: ArnFormat.COLON_RESOURCE_NAME,
        });

    const permission = new lambda.CfnPermission(this, 'SecretsManagerInvokes', {
      action: 'lambda:InvokeFunction',
      functionName: rotationFunction.functionArn,
      principal: 'secretsmanager.amazonaws.com',
      sourceAccount: stack.account,
      sourceArn: this.secret.secretArn,
    });
    this.roles = new KeyRoles(this, 'Roles', {
      plan,
      names: roleNames,
      secretArn: this.secret.secretArn,
      ...(this.secret.encryptionKey ? { secretKey: this.secret.encryptionKey } : {}),
      rotatorSecretArn: this.rotatorSecretArn,
      rotationFunctionRole: rotationFunction.role,
      revocationFunctionRoles: props.revocationFunctions.map((fn) => fn.role),
    });

    if (plan.imported) {
      // RotationSchedule is given a reference to the function, so it grants nothing itself: its own
      // grants are an invoke permission without conditions and secretsmanager:GetRandomPassword on "*".
      const reference = lambda.Function.fromFunctionAttributes(this, 'RotationFunctionRef', {
        functionArn: rotationFunction.functionArn,
        sameEnvironment: true,
        skipPermissions: true,
      });
      this.rotationSchedule = new secretsmanager.RotationSchedule(this, 'Rotation', {
        secret: this.secret,
        rotationLambda: reference,
        automaticallyAfter: Duration.seconds(plan.frequencySeconds),
        // A schedule change in the inventory must not rotate the key during a deploy.
        rotateImmediatelyOnUpdate: false,
      });
      const cfn = this.rotationSchedule.node.defaultChild as secretsmanager.CfnRotationSchedule;
      cfn.rotationRules = {
        scheduleExpression: plan.schedule.expression,
        ...(plan.window ? { duration: plan.window } : {}),
      };
      // Secrets Manager invokes the function when the schedule is created: the permission, the function's
      // policies (its AssumeRole grant lives in its construct) and the key's roles must exist by then.
      this.rotationSchedule.node.addDependency(permission, rotationFunction, this.roles);
    }
  }

  /**
   * The resource policy of a secret the stack creates: versions, labels, tags, the rotation configuration
   * and the secret's existence only for the key's roles, the CDK deploy roles (CloudFormation) and the
   * inventory's operators; with `readers`, reads only for them, the key's roles and operators. Deny
   * statements with `ArnNotLike aws:PrincipalArn` (a role session's principal ARN is its role's), so they
   * hold whatever identity policies elsewhere in the account say. BlockPublicPolicy refuses any later
   * policy that would open the secret to other accounts.
   */
  private protect(secret: secretsmanager.Secret, names: NonNullable<KeyRoute['roles']>): void {
    const { plan } = this;
    const keyRoles = [roleArn(this, names.rotation), roleArn(this, names.revocation)];
    const operators = plan.operators ?? [];
    secret.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'OnlyRekeyDeployAndOperatorsChangeTheKey',
        effect: iam.Effect.DENY,
        principals: [new iam.AnyPrincipal()],
        actions: [...PROTECTED_SECRET_ACTIONS],
        resources: ['*'],
        conditions: {
          ArnNotLike: { 'aws:PrincipalArn': [...keyRoles, cdkRolesPattern(this), ...operators] },
        },
      }),
    );
    if (plan.readers?.length)
      secret.addToResourcePolicy(
        new iam.PolicyStatement({
          sid: 'OnlyReadersRekeyAndOperatorsReadTheKey',
          effect: iam.Effect.DENY,
          principals: [new iam.AnyPrincipal()],
          actions: ['secretsmanager:GetSecretValue'],
          resources: ['*'],
          conditions: { ArnNotLike: { 'aws:PrincipalArn': [...plan.readers, ...keyRoles, ...operators] } },
        }),
      );
    const policy = secret.node.tryFindChild('Policy')?.node.defaultChild;
    if (policy instanceof secretsmanager.CfnResourcePolicy) policy.blockPublicPolicy = true;
  }

  /**
   * Lets a principal act on this key: `actions` on the secret, GetSecretValue on its rotator credential, and
   * the secret's KMS key (decrypt; encrypt too when it writes) through Secrets Manager only. The stack grants
   * this to the key's roles only (`KeyRoles`); kept for callers that add their own.
   */
  grantKeyAccess(grantee: iam.IGrantable, actions: readonly string[]): void {
    const principal = grantee.grantPrincipal;
    principal.addToPrincipalPolicy(
      new iam.PolicyStatement({ actions: [...actions], resources: [this.secret.secretArn] }),
    );
    principal.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['secretsmanager:GetSecretValue'],
        resources: [this.rotatorSecretArn],
      }),
    );
    const writes = actions.includes('secretsmanager:PutSecretValue');
    this.grantKeyUse(grantee, writes ? ['kms:Decrypt', 'kms:GenerateDataKey'] : ['kms:Decrypt']);
  }

  /**
   * Lets a rekey function manage this key at its provider where the provider is an AWS API (IAM access
   * keys, API Gateway API keys) and the function acts with its own role; nothing for other providers.
   */
  grantProviderAccess(role: iam.Role): void {
    grantProviderAccess(this.plan, role);
  }

  /** The key's rotation (`purpose` rotation) or revocation role's ARN. */
  roleArn(purpose: 'rotation' | 'revocation'): string {
    return this.roles[purpose].roleArn;
  }

  /** KMS actions on the secret's key, usable only through Secrets Manager in this region. */
  grantKeyUse(grantee: iam.IGrantable, actions: string[]): void {
    const key = this.secret.encryptionKey;
    if (!key) return; // the AWS managed key aws/secretsmanager needs no grant
    grantee.grantPrincipal.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions,
        resources: [key.keyArn],
        conditions: {
          StringEquals: { 'kms:ViaService': `secretsmanager.${Stack.of(this).region}.amazonaws.com` },
        },
      }),
    );
  }

  /**
   * Lets an application read the key (GetSecretValue, DescribeSecret and decryption through Secrets
   * Manager) — never the rotator credential.
   */
  grantRead(grantee: iam.IGrantable): void {
    grantee.grantPrincipal.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['secretsmanager:GetSecretValue', 'secretsmanager:DescribeSecret'],
        resources: [this.secret.secretArn],
      }),
    );
    this.grantKeyUse(grantee, ['kms:Decrypt']);
  }

  /** A rekey metric of this key (namespace `Rekey`, dimension `SecretName`). */
  metric(metricName: string, props: cloudwatch.MetricOptions = {}): cloudwatch.Metric {
    return new cloudwatch.Metric({
      namespace: METRIC_NAMESPACE,
      metricName,
      statistic: 'Sum',
      period: Duration.minutes(5),
      ...props,
      dimensionsMap: { [DIMENSIONS.secret]: this.plan.secretName, ...props.dimensionsMap },
    });
  }

  metricRotationFailures(): cloudwatch.Metric {
    return this.metric(METRICS.rotationFailures);
  }

  /** Age of the AWSCURRENT version (the key-age monitor publishes it hourly). */
  metricKeyAge(): cloudwatch.Metric {
    return this.metric(METRICS.keyAgeSeconds, { statistic: 'Maximum', period: Duration.hours(1) });
  }

  metricPreviousKeyUseAfterGrace(): cloudwatch.Metric {
    return this.metric(METRICS.previousKeyUseAfterGrace);
  }

  metricAuthFailures(): cloudwatch.Metric {
    return this.metric(METRICS.authFailures);
  }

  metricRevokedKeyUse(): cloudwatch.Metric {
    return this.metric(METRICS.revokedKeyUse);
  }

  /** Revocation attempts with the given outcome (`gave-up`, `revoked`, …). */
  metricRevocations(outcome: string): cloudwatch.Metric {
    return this.metric(METRICS.revocations, { dimensionsMap: { [DIMENSIONS.outcome]: outcome } });
  }
}
