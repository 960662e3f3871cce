import { Stack, Token, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type { Construct } from 'constructs';
import type { ManagedKeyPlan } from './inventory.js';

/** The IAM actions the AWS IAM adapter calls in a rotation, all on the user whose keys rotate. */
export const IAM_KEY_ACTIONS = [
  'iam:CreateAccessKey',
  'iam:ListAccessKeys',
  'iam:UpdateAccessKey',
  'iam:DeleteAccessKey',
  'iam:GetAccessKeyLastUsed',
  'iam:ListUserTags',
  'iam:TagUser',
  'iam:UntagUser',
] as const;

/**
 * The IAM actions revocation, rollback, validation and last-use reports call (lambdas/providers/aws-iam.ts:
 * revokeKey deactivates, deletes and untags the name tag; validateKey lists keys while a new key propagates;
 * lastUsed). Never CreateAccessKey, TagUser or ListUserTags: those only create and name keys (finding 5).
 */
export const IAM_REVOCATION_ACTIONS = [
  'iam:ListAccessKeys',
  'iam:UpdateAccessKey',
  'iam:DeleteAccessKey',
  'iam:GetAccessKeyLastUsed',
  'iam:UntagUser',
] as const;

/** What a key role is for: the four rotation steps, or revocation and rollback (with validation and last use). */
export type KeyPurpose = 'rotation' | 'revocation';

/**
 * What a key role needs at a provider that is itself an AWS API, when it acts with its own role (the
 * rotator credential `{}`); nothing for providers reached over HTTP with a stored credential.
 * - AWS IAM: the key actions on exactly the inventory's user (any IAM path; user names are unique);
 *   revocation only deactivates, deletes, lists, reads last use and drops the name tag.
 * - API Gateway: API keys and usage-plan keys in the key's region. New keys' ids are unknown in advance,
 *   so `/apikeys/*` is as narrow as API Gateway's resource model allows. Revocation reads a key and the
 *   usage plans (validation) and deletes keys: no POST, no PATCH (lambdas/providers/api-gateway.ts).
 */
export function providerAccess(plan: ManagedKeyPlan, purpose: KeyPurpose = 'rotation'): ProviderAccess[] {
  if (plan.provider === 'aws-iam') {
    const user = String(plan.options.userName);
    return [
      {
        actions: purpose === 'rotation' ? [...IAM_KEY_ACTIONS] : [...IAM_REVOCATION_ACTIONS],
        resources: [
          `arn:{partition}:iam::{account}:user/${user}`,
          `arn:{partition}:iam::{account}:user/*/${user}`,
        ],
        why: `"user/*/${user}" matches the one user named ${user} at any IAM path (user names are unique in an account).`,
      },
    ];
  }
  if (plan.provider === 'api-gateway') {
    const region = String(plan.options.region);
    const path = (p: string) => `arn:{partition}:apigateway:${region}::${p}`;
    const why =
      'API Gateway names API keys and usage plans by generated ids; a key rekey is about to create has no id yet, so "/apikeys/*" and "/usageplans/*/keys" are the narrowest resources API Gateway offers.';
    if (purpose === 'revocation') {
      const revocationWhy =
        'API Gateway names API keys by generated ids, given when rekey creates a key (after the deploy), so "/apikeys/*" is the narrowest resource for reading and deleting them.';
      return [
        // GetApiKey and GetUsagePlans (with keyId, and for validateUrl's account check); DeleteApiKey.
        {
          actions: ['apigateway:GET'],
          resources: [path('/apikeys/*'), path('/usageplans')],
          why: revocationWhy,
        },
        { actions: ['apigateway:DELETE'], resources: [path('/apikeys/*')], why: revocationWhy },
      ];
    }
    return [
      {
        actions: ['apigateway:GET'],
        resources: [path('/apikeys'), path('/apikeys/*'), path('/usageplans'), path('/usageplans/*/keys')],
        why,
      },
      { actions: ['apigateway:POST'], resources: [path('/apikeys'), path('/usageplans/*/keys')], why },
      { actions: ['apigateway:PATCH', 'apigateway:DELETE'], resources: [path('/apikeys/*')], why },
    ];
  }
  return [];
}

/** One grant at an AWS provider: ARN templates with `{partition}` and `{account}`, and why any `*`. */
export interface ProviderAccess {
  actions: string[];
  resources: string[];
  why: string;
}

/**
 * Adds the provider access of `plan` for `purpose` to `role`'s policy, acknowledging each wildcard resource
 * for cdk-nag with its reason (the finding names the resource as CloudFormation would: tokens as `<AWS::…>`).
 */
export function grantProviderAccess(
  plan: ManagedKeyPlan,
  role: iam.IRole & Construct,
  purpose: KeyPurpose = 'rotation',
): void {
  const stack = Stack.of(role);
  const fill = (template: string, partition: string, account: string) =>
    template.replace('{partition}', partition).replace('{account}', account);
  const nagPartition = Token.isUnresolved(stack.partition) ? '<AWS::Partition>' : stack.partition;
  const nagAccount = Token.isUnresolved(stack.account) ? '<AWS::AccountId>' : stack.account;
  for (const access of providerAccess(plan, purpose)) {
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: access.actions,
        resources: access.resources.map((r) => fill(r, stack.partition, stack.account)),
      }),
    );
    for (const resource of access.resources.filter((r) => r.includes('*'))) {
      Validations.of(role).acknowledge({
        id: `AwsSolutions-IAM5[Resource::${fill(resource, nagPartition, nagAccount)}]`,
        reason: access.why,
      });
    }
  }
}
