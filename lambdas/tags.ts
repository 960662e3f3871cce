/** The only value of `rekey:single-key` that lets rekey rotate a key with an interruption. */
export const SINGLE_KEY_OPT_IN = 'accept-interruption';

/** Tags rekey keeps on a managed secret: its configuration and its rotation/revocation history. */
export const TAGS = {
  /** Grace period before the previous key is revoked ("1h", "15m"); set by the stack from the inventory. */
  gracePeriod: 'rekey:grace-period',
  /** Set by `rekey rotate --emergency` before RotateSecret: the grace finishSecret uses once, then removes. */
  emergencyGrace: 'rekey:emergency-grace',
  /** `test-secret` makes testSecret the usage evidence for keys whose apps do not use the rekey client. */
  usageEvidence: 'rekey:usage-evidence',
  /** The pending revocation, written by finishSecret: when, which version, which provider key. */
  revokeDueAt: 'rekey:revoke-due-at',
  revokeVersion: 'rekey:revoke-version',
  revokeKeyId: 'rekey:revoke-key-id',
  /** The last revocation done, written by the revoker. */
  lastRevokedVersion: 'rekey:last-revoked-version',
  lastRevokedKeyId: 'rekey:last-revoked-key-id',
  lastRevokedAt: 'rekey:last-revoked-at',
  /**
   * `accept-interruption`: the key's provider (or policy) allows one valid key at a time, and the owner
   * accepts a short interruption per rotation (inventory: supports_dual_key: false + single_key_rotation).
   */
  singleKey: 'rekey:single-key',
  /** Set by a single-key createSecret when it revoked the current key; finishSecret measures from it. */
  interruptionStartedAt: 'rekey:interruption-started-at',
  /** The revoked key's permissions (base64url JSON), so a retried createSecret can still copy them. */
  singleKeyPermissions: 'rekey:single-key-permissions',
  /** How long the last single-key rotation left no valid key, in ms. */
  lastInterruptionMs: 'rekey:last-interruption-ms',
  /** The last rollback, written by rollback. */
  rolledBackAt: 'rekey:rolled-back-at',
  rolledBackFrom: 'rekey:rolled-back-from',
} as const;

/** A secret's tags as a plain map. */
export function tagMap(
  tags: Array<{ Key?: string | undefined; Value?: string | undefined }> | undefined,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const t of tags ?? []) if (t.Key !== undefined && t.Value !== undefined) out[t.Key] = t.Value;
  return out;
}
