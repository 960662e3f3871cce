/**
 * Evidence that the fleet has picked up a new key, which the revoker requires before revoking the old one.
 * Sources, in order of preference: the provider's last-used report, the client's KeyCalls metric for the
 * current version since promotion, and — when neither exists for a key — the new key's successful testSecret.
 */
export type UsageVerdict =
  /** The new key was used since promotion. */
  | { status: 'confirmed'; source: 'provider-last-used' | 'client-metrics' | 'test-secret'; detail?: string }
  /** A source exists but shows no use yet: wait and check again. */
  | { status: 'not-confirmed'; source: 'provider-last-used' | 'client-metrics'; detail?: string };

export interface UsageQuery {
  secretName: string;
  /** When the new key became AWSCURRENT. */
  since: Date;
  /** Provider key id of the new (current) key. */
  newKeyId: string;
}

/** One source of usage evidence; returns undefined when it has nothing to say about this key. */
export type UsageSource = (query: UsageQuery) => Promise<UsageVerdict | undefined>;
