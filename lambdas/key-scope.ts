import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { AssumeRoleCommand, type STSClient } from '@aws-sdk/client-sts';
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from '@aws-sdk/types';
import { FUNCTION_AWS_RETRY } from './aws-retry.js';
import { InvalidInputError } from './errors.js';
import type { KeyRoute, KeyScope, ScopeFor } from './routes.js';

/** A session is renewed this long before it expires, so no call is signed with one about to lapse. */
const RENEW_BEFORE_MS = 5 * 60_000;
const SESSION_SECONDS = 3600;

export interface AssumedKeyScopesOptions {
  sts: STSClient;
  /** `arn:<partition>:iam::<account>:role/` — the stack's REKEY_ROLE_ARN_PREFIX. */
  roleArnPrefix: string | undefined;
  /** Which of the key's roles: the rotation function's, or the revoker's and rollback's. */
  purpose: keyof NonNullable<KeyRoute['roles']>;
  /** Names the function in CloudTrail (the session name, with the key's). */
  actor: string;
  now?: () => Date;
}

/**
 * Scopes for a deployed function: for each key, a session of that key's own role (its route's
 * `roles[purpose]`) and a Secrets Manager client signed with it, built once per key per container, the
 * session renewed before it expires. IAM then keeps every call for a key on that key's secret, rotator
 * credential and provider objects, whatever a document says. A key without a role is refused.
 */
export function assumedKeyScopes(options: AssumedKeyScopesOptions): ScopeFor {
  const now = options.now ?? (() => new Date());
  const scopes = new Map<string, KeyScope>();
  return (route) => {
    const roleName = route.roles?.[options.purpose];
    if (!roleName || !options.roleArnPrefix)
      throw new InvalidInputError(
        'INVALID_INPUT',
        `${route.secretName}: no ${options.purpose} role is deployed for "${route.name}" (REKEY_ROLE_ARN_PREFIX and the bundle's routes); deploy the function with the rekey stack.`,
        { secretId: route.secretName },
      );
    const roleArn = `${options.roleArnPrefix}${roleName}`;
    const known = scopes.get(roleArn);
    if (known) return known;
    const sessionName = `${options.actor}-${route.name}`.replace(/[^\w+=,.@-]+/g, '-').slice(0, 64);
    const credentials = sessionCredentials(options.sts, roleArn, sessionName, now);
    const scope: KeyScope = {
      secretsManager: new SecretsManagerClient({ ...FUNCTION_AWS_RETRY, credentials }),
      awsCredentials: credentials,
    };
    scopes.set(roleArn, scope);
    return scope;
  };
}

/** A credential provider that assumes `roleArn`, caches the session and renews it before it expires. */
function sessionCredentials(
  sts: STSClient,
  roleArn: string,
  sessionName: string,
  now: () => Date,
): AwsCredentialIdentityProvider {
  let session: AwsCredentialIdentity | undefined;
  let renewing: Promise<AwsCredentialIdentity> | undefined;
  const fresh = () =>
    session?.expiration !== undefined && session.expiration.getTime() - RENEW_BEFORE_MS > now().getTime();
  return async () => {
    if (fresh()) return session!;
    renewing ??= sts
      .send(
        new AssumeRoleCommand({
          RoleArn: roleArn,
          RoleSessionName: sessionName,
          DurationSeconds: SESSION_SECONDS,
        }),
      )
      .then((out) => {
        const c = out.Credentials;
        if (!c?.AccessKeyId || !c.SecretAccessKey || !c.SessionToken || !c.Expiration)
          throw new InvalidInputError('INVALID_INPUT', `STS returned no credentials for ${roleArn}`);
        session = {
          accessKeyId: c.AccessKeyId,
          secretAccessKey: c.SecretAccessKey,
          sessionToken: c.SessionToken,
          expiration: c.Expiration,
        };
        return session;
      })
      .finally(() => {
        renewing = undefined;
      });
    return renewing;
  };
}
