/**
 * Evidence the revoker requires before revoking an old key: the fleet has picked up the new key, and the old
 * key has gone quiet. Sources, in order of preference: the provider's last-used report, the client's KeyCalls
 * metric by key id, and — when neither exists for a key — the new key's successful testSecret.
 */
export type UsageEvidence = 'provider-last-used' | 'client-metrics' | 'test-secret';

/** A source's answer about the new key: was it used since promotion? */
export type NewKeyUse =
  /** The new key was used since promotion. */
  | { status: 'confirmed'; source: UsageEvidence; detail?: string }
  /** A source exists but shows no use yet: wait and check again. */
  | { status: 'not-confirmed'; source: 'provider-last-used' | 'client-metrics'; detail?: string };

/**
 * The usage gate's verdict. `source` is the new key's evidence, `quietEvidence` the old key's: where the
 * old key's last use came from, or `test-secret` when nothing reports it (the gate then rests on the new
 * key's evidence alone, as before quiet periods existed, and `detail` says so).
 */
export type UsageVerdict =
  /** The new key is in use and the old key has been quiet for the quiet period (or nothing reports it). */
  | { status: 'confirmed'; source: UsageEvidence; quietEvidence?: UsageEvidence; detail?: string }
  /** No use of the new key shown yet: wait and check again. */
  | { status: 'not-confirmed'; source: 'provider-last-used' | 'client-metrics'; detail?: string }
  /** The new key is in use, but the old one was used within the quiet period: wait until it goes quiet. */
  | {
      status: 'not-confirmed';
      source: UsageEvidence;
      quietEvidence: 'provider-last-used' | 'client-metrics';
      /** The old key's latest use seen (to the source's resolution). */
      lastUsedAt: Date;
      detail: string;
    };

/** What a source saw of the old key since the start of the quiet period. */
export interface PreviousKeyUse {
  /** The latest use seen since `quietSince` (to the source's resolution); null when none: it is quiet. */
  lastUsedAt: Date | null;
  /** Calls seen since `quietSince`, where the source counts them. */
  calls?: number;
  detail?: string;
}

export interface UsageQuery {
  secretName: string;
  /** When the new key became AWSCURRENT. */
  since: Date;
  /** Provider key id of the new (current) key. */
  newKeyId: string;
  /** The old key about to be revoked: was it used since `quietSince`, and when last? Unset: not asked. */
  previous?: { keyId: string; quietSince: Date };
}

/** A source's answer: the new key's use, and — when the query names the old key and it can tell — the old key's. */
export type UsageAnswer = NewKeyUse & { previous?: PreviousKeyUse };

/** One source of usage evidence; returns undefined when it has nothing to say about this key. */
export type UsageSource = (query: UsageQuery) => Promise<UsageAnswer | undefined>;
