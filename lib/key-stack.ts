import { createHash } from 'node:crypto';
import { Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';

/** What a key stack's template holds besides its keys: CDK's metadata resource. */
export const KEY_STACK_FIXED_RESOURCES = 1;

/**
 * Which of `count` key stacks holds the key `name`: a hash of the name, so a key stays in its stack
 * whatever else the inventory adds or removes (while `count` stays the same).
 */
export function keyStackIndex(name: string, count: number): number {
  return createHash('sha256').update(name).digest().readUInt32BE(0) % count;
}

export interface KeyStackProps extends StackProps {
  /** The stack with rekey's machinery (functions, topics, alarms) these keys are wired to. */
  readonly deployment: Stack;
}

/**
 * Per-key resources of one share of the inventory (`ManagedKey`s: secret, resource policy, invoke
 * permission, the two key roles, rotation schedule), beside the deployment's machinery stack so that any
 * number of keys stays within CloudFormation's 500 resources per stack. It depends on the machinery stack
 * (function and role ARNs, the KMS key); the machinery never references it — the functions find their keys
 * from the routes in their bundles and assume the key roles by name.
 */
export class KeyStack extends Stack {
  readonly deployment: Stack;

  constructor(scope: Construct, id: string, props: KeyStackProps) {
    super(scope, id, props);
    this.deployment = props.deployment;
    this.addDependency(props.deployment);
  }
}
