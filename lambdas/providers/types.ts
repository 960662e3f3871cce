import type { AwsCredentialIdentityProvider } from '@aws-sdk/types';
import type * as z from 'zod/mini';
import type { Logger } from '../logger.js';
import type { RetryHooks, RetryPolicy } from '../retry.js';

/** What a provider can do; rekey's flows branch on these, never on a provider's name. */
export interface ProviderCapabilities {
  /** Two keys can be valid at once (the dual-key overlap). */
  dualKey: boolean;
  /**
   * Most keys that may be active at once under the rotator credential's account; null if unbounded. Where the
   * cap depends on the key document's options, this is the cap without them, and
   * `ProviderDefinition.maxActiveKeysFor` gives the one that applies (read both through `maxActiveKeysOf`).
   */
  maxActiveKeys: number | null;
  /** The provider reports when a key was last used (the revoker's first choice of usage evidence). */
  lastUsed: boolean;
  /** The provider returns a key's value after creation, so a crashed createSecret can adopt its key. */
  valueReadable: boolean;
}

/** A key as listed by the provider. `value` is present only where the provider returns it. */
export interface ProviderKeyRef {
  id: string;
  name: string;
  value?: string;
}

export interface CreatedKey {
  id: string;
  name: string;
  value: string;
}

/** The part of a stored key document a provider needs to authenticate with that key. */
export interface KeyMaterial {
  id: string;
  value: string;
}

export type ValidationResult = 'accepted' | 'rejected';
export type RevocationResult = 'revoked' | 'already-gone';

/**
 * What a provider's API says of a key's id (`ProviderClient.identifies`):
 * - `matches`: `key.id` is the provider's id of `key.value` — the provider named that id for the value,
 *   authenticated the id and the value together, or shows under that id a value (whole, or redacted to its
 *   first and last characters, where that is all it shows) that agrees with `key.value`;
 * - `differs`: it is not — the id names another key, or no key at all (an unknown id is `differs`, not an
 *   error); `providerKeyId` is the value's real id where the provider's answer names it;
 * - `unconfirmed`: the provider's API never relates a value to its id; `checked` says what was verified
 *   instead (that a key with that id exists).
 * `find` says where a person finds the right id: the provider's list endpoint or dashboard. Neither it nor
 * `checked` ever holds a key value.
 */
export type KeyIdVerdict =
  | { verdict: 'matches' }
  | { verdict: 'differs'; find: string; providerKeyId?: string }
  | { verdict: 'unconfirmed'; checked: string; find: string };

/**
 * How full the account new keys are made in is, as the provider's key list shows it
 * (`ProviderClient.keyQuota`). Never holds a key value.
 */
export interface KeyQuotaUsage {
  /** Keys the account holds now, counted as the provider counts them against `cap`. */
  held: number;
  /** The most keys the provider lets the account hold. */
  cap: number;
  /** The account, as a person finds it: "the SendGrid account of the rotator key", "IAM user \"app\"". */
  account: string;
  /** How a person makes room: where unused keys are deleted, and whether and how the cap can be raised. */
  makeRoom: string;
}

/**
 * One provider's key API, bound to a rotator credential. Every call retries transient failures
 * (429 honouring Retry-After, 5xx, timeouts) with backoff and jitter before it throws a typed error.
 */
export interface ProviderClient {
  /**
   * Creates a key named `name` with the same scopes/permissions as the key `likeKeyId`.
   * Names are derived from secret and version, so `findKeysByName` finds what a crashed attempt made.
   */
  createKey(input: { name: string; likeKeyId: string; permissions?: unknown }): Promise<CreatedKey>;
  /**
   * The permissions (scopes, policy…) of a key, in the form `createKey` accepts as `permissions`. Single-key
   * rotation reads them before it revokes the key they would otherwise be copied from.
   */
  describePermissions?(keyId: string): Promise<unknown>;
  findKeysByName(name: string): Promise<ProviderKeyRef[]>;
  /** The provider's cheapest authenticated call, made with `key`: does the provider accept it? */
  validateKey(key: KeyMaterial): Promise<ValidationResult>;
  /**
   * Whether `key.id` is the provider's id of `key.value`, from the provider's documented API, for a key
   * `validateKey` accepted (`rekey import` checks `--key-id` with it before storing anything). Absent where
   * the provider's API cannot tell (the generic HTTP adapter). Failures of the call itself throw the usual
   * typed errors; an id the provider does not know is `differs`.
   */
  identifies?(key: KeyMaterial): Promise<KeyIdVerdict>;
  /**
   * How many keys the account holds against the provider's cap on them, from its key list; present where the
   * provider caps keys. createSecret asks before it creates a key, so a full account is refused up front.
   */
  keyQuota?(): Promise<KeyQuotaUsage>;
  /** Revokes a key; a key that is already gone counts as done. */
  revokeKey(keyId: string): Promise<RevocationResult>;
  /** When the key was last used, where `capabilities.lastUsed`; null when never used. */
  lastUsed?(keyId: string): Promise<Date | null>;
  /** setSecret hook for providers that must be told about a staged key before it is tested. */
  setKey?(key: KeyMaterial): Promise<void>;
}

export interface ConnectContext<Credential, Options> {
  credential: Credential;
  options: Options;
  /** Base URL override (a sandbox, a regional endpoint); undefined means the provider's public API. */
  endpoint?: string;
  logger: Logger;
  http?: ProviderHttpSettings;
  /** The caller's clock, for what an adapter compares with the provider's timestamps; default the system's. */
  now?: () => Date;
  /**
   * What an AWS provider's `{}` rotator credential acts with: the key's own role, assumed by the function
   * (default: the SDK's chain, i.e. the caller's own credentials).
   */
  awsCredentials?: AwsCredentialIdentityProvider;
}

/** How a provider adapter makes its HTTP calls: per-attempt timeout, retry policy, and (tests) the fetch. */
export interface ProviderHttpSettings {
  timeoutMs?: number;
  retry?: RetryPolicy;
  retryHooks?: RetryHooks;
  fetch?: typeof fetch;
}

/** A provider adapter: its schemas, capabilities and how to bind it to a credential. */
export interface ProviderDefinition<Credential = unknown, Options = unknown> {
  /** Name used in key documents and the inventory, e.g. "sendgrid". */
  readonly name: string;
  readonly displayName: string;
  readonly capabilities: ProviderCapabilities;
  /**
   * The cap of active keys for the keys these (parsed) options select, where it depends on them: Cloudflare
   * allows 500 account-owned tokens (`options.accountId`) but 50 user-owned ones. Null if unbounded. Omitted:
   * `capabilities.maxActiveKeys` applies whatever the options. Read it through `maxActiveKeysOf`.
   */
  maxActiveKeysFor?(options: Options): number | null;
  /** Longest key name the provider accepts. */
  readonly maxKeyNameLength: number;
  /** Shape of the rotator credential secret's JSON. */
  readonly credentialSchema: z.ZodMiniType<Credential>;
  /** Shape of the key document's `options`. */
  readonly optionsSchema: z.ZodMiniType<Options>;
  /**
   * Set for providers with no API to create or delete keys (Stripe): a person makes the new key and
   * revokes the old one; rekey stages, tests and promotes it, then reminds and verifies the revocation.
   */
  readonly assisted?: {
    /** Where the person acts. */
    dashboardUrl: string;
    /** The exact action that revokes a key, with `{keyId}` for the key to act on. */
    revokeAction: string;
    /** The id rekey records for a key the person provides (what the dashboard shows of it). */
    keyIdOf(value: string): string;
    /** Whether `value` looks like one of this provider's keys (checked before anything is stored). */
    looksLikeKey(value: string): boolean;
  };
  connect(context: ConnectContext<Credential, Options>): ProviderClient;
}

/** The cap of active keys that applies to keys with these (parsed) options: `maxActiveKeysFor`, else the static one. */
export function maxActiveKeysOf<Credential, Options>(
  definition: ProviderDefinition<Credential, Options>,
  options: Options,
): number | null {
  return definition.maxActiveKeysFor
    ? definition.maxActiveKeysFor(options)
    : definition.capabilities.maxActiveKeys;
}
