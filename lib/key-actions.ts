/*
 * The names of a key's two roles and what each may do to its secret, in IAM's words. No CDK here, so the
 * local playground names and grants its loopback roles exactly as the stack does.
 */
import { createHash } from 'node:crypto';
import type { KeyRoute } from '../lambdas/routes.js';

/**
 * Names of the two roles that may act on one key alone: `rotation` (assumed by its provider's rotation
 * function for the four steps) and `revocation` (assumed by the revoker and rollback). Fixed names, because
 * the functions find them from the routes in their bundle, which is written before CloudFormation names
 * anything: a readable slug of the key plus a hash of stack, key and purpose, within IAM's 64 characters.
 */
export function keyRoleNames(stackName: string, keyName: string): NonNullable<KeyRoute['roles']> {
  const name = (purpose: 'rotation' | 'revocation') => {
    const hash = createHash('sha256')
      .update(`${stackName}\0${keyName}\0${purpose}`)
      .digest('hex')
      .slice(0, 10);
    const slug = keyName.replace(/[^A-Za-z0-9+=,.@_-]+/g, '-').slice(0, 30);
    return `rekey-${purpose === 'rotation' ? 'rot' : 'rev'}-${slug}-${hash}`;
  };
  return { rotation: name('rotation'), revocation: name('revocation') };
}

/** What a rotation role does to its key's secret: the four steps, the revocation tags. */
export const ROTATION_ACTIONS = [
  'secretsmanager:DescribeSecret',
  'secretsmanager:GetSecretValue',
  'secretsmanager:PutSecretValue',
  'secretsmanager:UpdateSecretVersionStage',
  'secretsmanager:TagResource',
  'secretsmanager:UntagResource',
] as const;

/**
 * What a revocation role does to its key's secret (lambdas/revocation.ts, lambdas/rollback.ts): read the
 * versions, move or drop labels, record revocations in tags. Never PutSecretValue: neither writes a key.
 */
export const REVOCATION_ACTIONS = [
  'secretsmanager:DescribeSecret',
  'secretsmanager:GetSecretValue',
  'secretsmanager:UpdateSecretVersionStage',
  'secretsmanager:TagResource',
  'secretsmanager:UntagResource',
] as const;
