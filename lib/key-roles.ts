import { Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import { Construct } from 'constructs';
import type { KeyRoute } from '../lambdas/routes.js';
import type { ManagedKeyPlan } from './inventory.js';
import { keyRoleNames, REVOCATION_ACTIONS, ROTATION_ACTIONS } from './key-actions.js';
import { grantProviderAccess, type KeyPurpose } from './provider-access.js';

export { keyRoleNames, REVOCATION_ACTIONS, ROTATION_ACTIONS };

/** The ARN of a role of this stack's account by name (no path), known before the role exists. */
export function roleArn(scope: Construct, name: string): string {
  const stack = Stack.of(scope);
  return `arn:${stack.partition}:iam::${stack.account}:role/${name}`;
}

export interface KeyRolesProps {
  /** The inventory entry, resolved. */
  readonly plan: ManagedKeyPlan;
  /**
   * The roles' names (`keyRoleNames` of the deployment's stack name and the key's name).
   * @default - keyRoleNames of this stack's name
   */
  readonly names?: NonNullable<KeyRoute['roles']>;
  /** The managed secret's ARN. */
  readonly secretArn: string;
  /** The managed secret's KMS key; none for aws/secretsmanager. */
  readonly secretKey?: kms.IKey;
  /** The rotator secret's ARN (or `-??????` pattern). */
  readonly rotatorSecretArn: string;
  /** The role of the key's provider rotation function: the only principal the rotation role trusts. */
  readonly rotationFunctionRole: iam.IRole;
  /** The roles of the revoker and rollback functions: the only principals the revocation role trusts. */
  readonly revocationFunctionRoles: readonly iam.IRole[];
}

/**
 * The two roles of one key (`keyRoleNames`), which hold everything that acts on that key alone — its secret,
 * its rotator secret, their KMS keys, its object at an AWS provider — so no role can act on two keys:
 * - `rotation`: assumed only by the key's provider rotation function; the four rotation steps.
 * - `revocation`: assumed only by the revoker and rollback; labels and tags, reads, and at the provider only
 *   what revocation, rollback, validation and last-use reports call (no create, no tag: finding 5).
 *
 * The trust policies name the function roles by ARN (IAM pins them to the roles' unique ids, so a role
 * deleted and re-created under the same name is not trusted); no wildcard principal, no other account. The
 * functions' own AssumeRole grants add `lambda:SourceFunctionArn` (identity side: resource policies cannot
 * use that key), so the functions' role credentials work for these roles only from inside their function.
 */
export class KeyRoles extends Construct {
  readonly rotation: iam.Role;
  readonly revocation: iam.Role;
  readonly names: NonNullable<KeyRoute['roles']>;

  constructor(scope: Construct, id: string, props: KeyRolesProps) {
    super(scope, id);
    const { plan } = props;
    const stack = Stack.of(this);
    this.names = props.names ?? keyRoleNames(stack.stackName, plan.name);
    const trust = (roles: readonly iam.IRole[]) =>
      new iam.CompositePrincipal(...roles.map((role) => new iam.ArnPrincipal(role.roleArn)));
    this.rotation = new iam.Role(this, 'Rotation', {
      roleName: this.names.rotation,
      description: `rekey: rotates "${plan.name}" (${plan.secretName}) alone; assumed by the ${plan.provider} rotation function`,
      assumedBy: trust([props.rotationFunctionRole]),
    });
    this.revocation = new iam.Role(this, 'Revocation', {
      roleName: this.names.revocation,
      description: `rekey: revokes and rolls back "${plan.name}" (${plan.secretName}) alone; assumed by the revoker and rollback`,
      assumedBy: trust(props.revocationFunctionRoles),
    });
    this.grant(this.rotation, props, ROTATION_ACTIONS, ['kms:Decrypt', 'kms:GenerateDataKey'], 'rotation');
    this.grant(this.revocation, props, REVOCATION_ACTIONS, ['kms:Decrypt'], 'revocation');
  }

  /** Both roles. */
  get all(): iam.Role[] {
    return [this.rotation, this.revocation];
  }

  private grant(
    role: iam.Role,
    props: KeyRolesProps,
    secretActions: readonly string[],
    kmsActions: string[],
    purpose: KeyPurpose,
  ): void {
    const region = Stack.of(this).region;
    const viaSecretsManager = {
      StringEquals: { 'kms:ViaService': `secretsmanager.${region}.amazonaws.com` },
    };
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({ actions: [...secretActions], resources: [props.secretArn] }),
    );
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['secretsmanager:GetSecretValue'],
        resources: [props.rotatorSecretArn],
      }),
    );
    if (props.secretKey)
      role.addToPrincipalPolicy(
        new iam.PolicyStatement({
          actions: kmsActions,
          resources: [props.secretKey.keyArn],
          conditions: viaSecretsManager,
        }),
      );
    // A rotator secret under a customer managed key: reading it needs Decrypt on that key (it failed closed).
    if (props.plan.rotatorKmsKeyArn)
      role.addToPrincipalPolicy(
        new iam.PolicyStatement({
          actions: ['kms:Decrypt'],
          resources: [props.plan.rotatorKmsKeyArn],
          conditions: viaSecretsManager,
        }),
      );
    grantProviderAccess(props.plan, role, purpose);
  }
}
