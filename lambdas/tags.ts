/** The only value of `rekey:single-key` that lets rekey rotate a key with an interruption. */
export const SINGLE_KEY_OPT_IN = 'accept-interruption';

/** Tags rekey keeps on a managed secret: its configuration and its rotation/revocation history. */
export const TAGS = {
  /** Grace period before the previous key is revoked ("1h", "15m"); set by the stack from the inventory. */
  gracePeriod: 'rekey:grace-period',
  /** The rekey deployment (its machinery stack's name) that created the secret; set by the stack. */
  deployment: 'rekey:deployment',
  /**
   * Set by `rekey rotate --emergency` before RotateSecret, as "<grace> <version id>": the grace the
   * finishSecret of that version — and only that one — uses, then removes.
   */
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
  /**
   * The last failed rotation step, written by the rotation function: "<version> <step> <code>", and its reason
   * (the error's message, redacted, in the characters tags generally allow). `rekey rotate` and `rekey
   * status` read them; a later step of the same version that succeeds leaves them in place as history.
   */
  lastFailure: 'rekey:last-failure',
  lastFailureReason: 'rekey:last-failure-reason',
  /** The last rollback, written by rollback. */
  rolledBackAt: 'rekey:rolled-back-at',
  rolledBackFrom: 'rekey:rolled-back-from',
  /**
   * Versions a rollback rejected, newest first (space-separated, bounded): rollback never restores one, so
   * a rollback delivered twice cannot undo itself.
   */
  rejectedVersions: 'rekey:rejected-versions',
  /**
   * Versions whose key was declared compromised by an emergency rotation, newest first: rollback never
   * restores one, whatever grace the emergency left.
   */
  compromisedVersions: 'rekey:compromised-versions',
} as const;

/** A secret's tags as a plain map. */
export function tagMap(
  tags: Array<{ Key?: string | undefined; Value?: string | undefined }> | undefined,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const t of tags ?? []) if (t.Key !== undefined && t.Value !== undefined) out[t.Key] = t.Value;
  return out;
}

/** Tag values hold at most 256 characters. */
const TAG_VALUE_MAX = 256;

/** The version ids a version-list tag holds, newest first. */
export function versionList(tags: Record<string, string>, key: string): string[] {
  return (tags[key] ?? '').split(' ').filter(Boolean);
}

/** The tag value with `versionId` first, keeping as many of the newest earlier entries as fit. */
export function withVersion(tags: Record<string, string>, key: string, versionId: string): string {
  const ids = [versionId, ...versionList(tags, key).filter((v) => v !== versionId)];
  while (ids.length > 1 && ids.join(' ').length > TAG_VALUE_MAX) ids.pop();
  return ids.join(' ');
}

/** Text as a tag value: the characters tags generally allow across AWS, at most 256 of them. */
export function tagText(text: string): string {
  const safe = text
    .replace(/[^\p{L}\p{Z}\p{N}_.:/=+\-@]+/gu, ' ')
    .replace(/\s+/g, ' ')
    .trim();
  return safe.length <= TAG_VALUE_MAX ? safe : `${safe.slice(0, TAG_VALUE_MAX - 1)}…`;
}

/** The failure the rotation function recorded for `versionId`, if the last recorded one is that version's. */
export function failureOf(
  tags: Record<string, string>,
  versionId: string,
): { step: string; code: string; reason: string } | undefined {
  const [version, step, code] = (tags[TAGS.lastFailure] ?? '').split(' ');
  return version === versionId && step && code
    ? { step, code, reason: tags[TAGS.lastFailureReason] ?? '' }
    : undefined;
}

/** The emergency an `emergencyGrace` tag declares for version `versionId`, if it is that version's. */
export function emergencyFor(tags: Record<string, string>, versionId: string): { grace: string } | undefined {
  const [grace, version] = (tags[TAGS.emergencyGrace] ?? '').split(' ');
  return grace && version === versionId ? { grace } : undefined;
}
