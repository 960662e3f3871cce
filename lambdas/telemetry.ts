/**
 * The one definition of rekey's metric namespace, names and dimensions. The client emits them (EMF),
 * the revoker reads them, the CDK stack alarms on them; all three import this file, which has no
 * dependencies so the client can ship it.
 */
export const METRIC_NAMESPACE = 'Rekey';

export const DIMENSIONS = {
  /** The managed secret's name (the inventory's vault_path). */
  secret: 'SecretName',
  /** Which key a call used: "current" or "previous". */
  keyVersion: 'KeyVersion',
  /** Provider key id a call used: what the revoker asks about ("was the new key used since promotion?"). */
  keyId: 'KeyId',
  /** Outcome of a revocation attempt (see REVOCATION_OUTCOMES). */
  outcome: 'Outcome',
} as const;

export const METRICS = {
  /** Client: authenticated provider calls, by SecretName + KeyVersion (current|previous) and by SecretName + KeyId. */
  keyCalls: 'KeyCalls',
  /** Client: provider answered 401/403 to a call with a managed key, by SecretName. */
  authFailures: 'AuthFailures',
  /** Client: a call used the previous key after its grace period ended, by SecretName. */
  previousKeyUseAfterGrace: 'PreviousKeyUseAfterGrace',
  /** Client: a call was made with a key already revoked at the provider, by SecretName. */
  revokedKeyUse: 'RevokedKeyUse',
  /** Client: a cached key was served because the vault could not be read, by SecretName. */
  staleServes: 'StaleServes',
  /** Rotation function: a rotation step failed, by SecretName. */
  rotationFailures: 'RotationFailures',
  /** Key-age monitor: age of the AWSCURRENT key in seconds, by SecretName. */
  keyAgeSeconds: 'KeyAgeSeconds',
  /** Rotation function: how long a single-key rotation left no valid key, by SecretName. */
  interruptionSeconds: 'InterruptionSeconds',
  /** Revoker: one datapoint per revocation attempt, by SecretName and Outcome. */
  revocations: 'Revocations',
} as const;

export const KEY_VERSIONS = ['current', 'previous'] as const;
export type KeyVersionLabel = (typeof KEY_VERSIONS)[number];

export const REVOCATION_OUTCOMES = [
  'revoked',
  'already-revoked',
  'deferred',
  'aborted',
  'gave-up',
  'failed',
] as const;
export type RevocationOutcome = (typeof REVOCATION_OUTCOMES)[number];

/** "arn:aws:secretsmanager:…:secret:prod/key-AbCdEf" → "prod/key": the SecretName dimension the alarms use. */
export function secretNameOf(secretId: string): string {
  const match = /^arn:aws[a-z-]*:secretsmanager:[^:]+:\d{12}:secret:(.+)-[A-Za-z0-9]{6}$/.exec(secretId);
  return match?.[1] ?? secretId;
}
