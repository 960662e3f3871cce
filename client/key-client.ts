import {
  BatchGetSecretValueCommand,
  DescribeSecretCommand,
  type DescribeSecretCommandOutput,
  GetSecretValueCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { parseDurationSeconds } from '../lambdas/duration.js';
import { emfRecord } from '../lambdas/emf.js';
import { parseManagedKey } from '../lambdas/secret-format.js';
import { TAGS, tagMap } from '../lambdas/tags.js';
import { DIMENSIONS, type KeyVersionLabel, METRICS, secretNameOf } from '../lambdas/telemetry.js';

/** A key as the client hands it to application code. `value` is the secret; the rest may be logged. */
export interface ApiKey {
  value: string;
  /** The provider's id of the key. */
  keyId: string;
  /** The Secrets Manager version holding it. */
  versionId: string;
  /** Whether the key was AWSCURRENT or AWSPREVIOUS when it was read. */
  label: KeyVersionLabel;
  provider: string;
}

export interface KeyClientOptions {
  /** Default: `new SecretsManagerClient({})` — standard AWS configuration, including AWS_ENDPOINT_URL. */
  secretsManager?: SecretsManagerClient;
  /**
   * How long a key is served from cache before Secrets Manager is asked again. Default: rotation-aware —
   * derived from the secret's grace period (its `rekey:grace-period` tag): 90–100% of the grace less
   * 5 minutes, at most `maxTtlMs`, and never past the close of the next scheduled rotation window
   * (`NextRotationDate`) by more than 5 minutes; 5 minutes (+ up to 1 min jitter) for a secret without a
   * valid grace tag. A refresh asks DescribeSecret whether AWSCURRENT moved and reads the value only when
   * it did.
   */
  ttlMs?: number;
  /** Random extra TTL, up to this many ms, so a fleet does not refresh in lock-step. Default 20% of ttlMs. */
  jitterMs?: number;
  /** The longest rotation-aware TTL (when `ttlMs` is not set). Default 6 hours. */
  maxTtlMs?: number;
  /** How long past its TTL a cached key may still be served while the vault cannot be read. Default 30 minutes. */
  maxStaleMs?: number;
  /** First wait before re-reading after a failed read; doubles up to `maxRetryDelayMs`. Default 1 s / 60 s. */
  retryDelayMs?: number;
  maxRetryDelayMs?: number;
  /**
   * After a provider refused a key, how long refusals of that key are answered from what the client learnt
   * (the refusal, or the known fallback key) before Secrets Manager is asked again; doubles per refresh up to
   * `maxRefusalBackoffMs`, and starts over once AWSCURRENT holds another key. Default 1 s / 60 s: a refused
   * key costs at most 6 refreshes in its first minute, then one a minute — each one DescribeSecret and at
   * most two GetSecretValue, shared by every concurrent caller.
   */
  refusalBackoffMs?: number;
  maxRefusalBackoffMs?: number;
  /**
   * Usage signals as CloudWatch EMF lines, counts aggregated per flush, written only when they carry
   * information: failures, stale serves and AWSPREVIOUS use always; KeyCalls of the current key while the
   * revoker may ask about it (a young version or a pending revocation), while the cache may be stale
   * (serving through an outage), and always when the TTL cannot be proven shorter than the grace period.
   * `false` turns them off. Default: stdout every 60 s.
   */
  metrics?: false | { sink?: (line: string) => void; flushIntervalMs?: number };
  /** Clock and randomness, injectable for tests. */
  now?: () => number;
  random?: () => number;
}

/** Thrown by application code (or recognised from a provider SDK error) when the provider refused a key. */
export class KeyRejectedError extends Error {
  constructor(
    readonly status: 401 | 403 | number,
    message = `the provider refused the key (HTTP ${status})`,
  ) {
    super(message);
    this.name = 'KeyRejectedError';
  }
}

/** No key can be served: the vault cannot be read and nothing (fresh enough) is cached. */
export class KeyUnavailableError extends Error {
  readonly code = 'KEY_UNAVAILABLE';
  readonly retryable = true;
  constructor(secretId: string, reason: string, options?: { cause?: unknown }) {
    super(
      `rekey client: cannot read ${secretId} from Secrets Manager (${reason}) and no cached key is fresh enough to serve; check the network path to Secrets Manager and the secretsmanager:GetSecretValue permission.`,
      options,
    );
    this.name = 'KeyUnavailableError';
  }
}

/** Why a secret can never yield a key as it is: retrying cannot help, a person must act. */
export type KeyConfigurationCode =
  | 'KEY_NOT_IMPORTED'
  | 'KEY_DOCUMENT_INVALID'
  | 'SECRET_NOT_FOUND'
  | 'ACCESS_DENIED';

/**
 * The secret cannot yield a key until a person fixes something: it holds the stack's placeholder (run
 * `rekey import`), a document that is not rekey's (the message names the version and the field), it does
 * not exist, or this role may not read it. Permanent: `retryable` is false.
 */
export class KeyConfigurationError extends Error {
  readonly retryable = false;
  readonly versionId?: string;
  readonly field?: string;
  constructor(
    readonly code: KeyConfigurationCode,
    readonly secretId: string,
    message: string,
    options: { cause?: unknown; versionId?: string; field?: string } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'KeyConfigurationError';
    if (options.versionId !== undefined) this.versionId = options.versionId;
    if (options.field !== undefined) this.field = options.field;
  }
}

/** AWS error names that mean the secret, its value or the permission is missing — not a passing failure. */
const NOT_FOUND = new Set(['ResourceNotFoundException']);
const DENIED = new Set([
  'AccessDeniedException',
  'AccessDenied',
  'KMSAccessDeniedException',
  'DecryptionFailure',
]);

/**
 * The permanent error for a failed read, or undefined when retrying may help (network, throttling, 5xx): a
 * malformed or placeholder document, a missing secret, a denied read.
 */
function configurationError(secretId: string, error: unknown): KeyConfigurationError | undefined {
  if (error instanceof KeyConfigurationError) return error;
  const name = error instanceof Error ? error.name : '';
  if (NOT_FOUND.has(name))
    return new KeyConfigurationError(
      'SECRET_NOT_FOUND',
      secretId,
      `rekey client: ${secretId} does not exist in Secrets Manager (or has no current value); deploy the rekey stack with this key in the inventory and run \`rekey import\`, or fix the secret name the app reads.`,
      { cause: { name } },
    );
  if (DENIED.has(name))
    return new KeyConfigurationError(
      'ACCESS_DENIED',
      secretId,
      `rekey client: this role may not read ${secretId} (${name}); grant it secretsmanager:GetSecretValue and DescribeSecret on the secret and kms:Decrypt via Secrets Manager (ManagedKey.grantRead), and list it in the key's readers if the inventory sets them.`,
      { cause: { name } },
    );
  return undefined;
}

/** Whether an error means the provider refused the key: 401/403 on the common error shapes. */
export function isAuthFailure(error: unknown): boolean {
  if (!error || typeof error !== 'object') return false;
  const e = error as {
    status?: unknown;
    statusCode?: unknown;
    $metadata?: { httpStatusCode?: unknown };
    response?: { status?: unknown };
  };
  const status = e.status ?? e.statusCode ?? e.$metadata?.httpStatusCode ?? e.response?.status;
  return status === 401 || status === 403;
}

interface Entry {
  key: ApiKey;
  /** Serve from cache until then. */
  freshUntil: number;
  /** Consecutive failed reads since the last success. */
  failures: number;
  /** When the TTL of the last successful refresh ran out: stale-on-error counts maxStaleMs from here. */
  expiresAt: number;
  /** The version's CreatedDate, ms (0 when Secrets Manager did not say). */
  createdAt: number;
  /** The secret's metadata at the last successful refresh; undefined when DescribeSecret is denied. */
  metadata: DescribeSecretCommandOutput | undefined;
  /** Count this key's uses as KeyCalls until then (Infinity: every use). */
  reportUntil: number;
}

/** Below the grace period: clock skew between hosts, a refresh in flight, CloudWatch's ingestion delay. */
const GRACE_MARGIN_MS = 5 * 60_000;
/** A version's use is reported this long past its grace: the revoker re-checks up to 8 × 15 min after it. */
const NEW_KEY_REPORT_MS = 2 * 3_600_000;
/** After a scheduled rotation window closes, the fleet's refreshes spread over this much. */
const WINDOW_SPREAD_MS = 5 * 60_000;
/** The TTL (and jitter) for a secret without a valid grace period, as before rotation-aware refresh. */
const LEGACY_TTL_MS = 300_000;
const LEGACY_JITTER_MS = 60_000;
/** A grace period shorter than this plus the margin leaves nothing to derive a TTL from. */
const MIN_DERIVED_TTL_MS = 60_000;
/** BatchGetSecretValue takes at most 20 secret ids. */
const BATCH_LIMIT = 20;

/**
 * The grace period a client may rely on, from the secret's tags: the inventory's, shortened by a pending
 * emergency's. Undefined when a tag is missing or not a duration — then nothing is derived from it.
 */
function graceMsOf(metadata: DescribeSecretCommandOutput | undefined): number | undefined {
  if (!metadata) return undefined;
  const tags = tagMap(metadata.Tags);
  const grace = parseDurationSeconds(tags[TAGS.gracePeriod] ?? '');
  if (!grace) return undefined;
  const emergency = tags[TAGS.emergencyGrace]?.split(' ')[0];
  const shorter = emergency === undefined ? undefined : parseDurationSeconds(emergency);
  return Math.min(grace, shorter ?? grace) * 1000;
}

/** What the client learnt after a provider refused a key; answers every refusal of it until `quietUntil`. */
interface Refusal {
  /** AWSCURRENT re-read after the refusal (the refused key when it could not be read), and the metadata. */
  learnt: Promise<{ current: ApiKey; metadata: DescribeSecretCommandOutput | undefined }>;
  /** The key id the re-read found; unset while it runs. */
  currentKeyId?: string;
  /** The last key worth a try after this one and AWSCURRENT, read by the first caller that needs it. */
  fallback?: Promise<ApiKey | undefined>;
  /** The fallback was refused too: later callers in the window skip it. */
  fallbackRefused: boolean;
  /** Refreshes for this key in a row while AWSCURRENT stayed the same; sets the window. */
  strikes: number;
  /** Refusals before then share this record; Infinity while the refresh runs. */
  quietUntil: number;
}

/**
 * Reads rekey-managed API keys from Secrets Manager with a TTL cache built for rotation:
 *
 * - `get()` serves AWSCURRENT from a cache whose TTL carries random jitter; concurrent callers on a missing
 *   or expired entry share one read (single-flight);
 * - when a refresh fails, the cached key keeps being served (stale-on-error) for up to `maxStaleMs`, with
 *   backoff between re-reads — only a cold start with nothing cached fails;
 * - `withKey()` runs a provider call and, when the provider refuses the key (401/403), refreshes and retries
 *   once with the new AWSCURRENT; if that is refused too and AWSPREVIOUS is still inside its grace period,
 *   it tries that once. It never loops and always rethrows the final error. Refusals of the same key share
 *   one refresh and then back off (`refusalBackoffMs`), so a revoked key cannot hammer Secrets Manager.
 *
 * ```ts
 * const keys = new KeyClient();
 * const res = await keys.withKey('prod/sendgrid/api-key', async (key) => {
 *   const r = await fetch(url, { headers: { authorization: `Bearer ${key.value}` } });
 *   if (r.status === 401 || r.status === 403) throw new KeyRejectedError(r.status);
 *   return r;
 * });
 * ```
 */
export class KeyClient {
  private readonly sm: SecretsManagerClient;
  private readonly entries = new Map<string, Entry>();
  /** Per secret, per refused key id. */
  private readonly refusals = new Map<string, Map<string, Refusal>>();
  private readonly counts = new Map<ApiKey, Map<string, { secret: string; count: number }>>();
  private readonly ttlMs: number | undefined;
  private readonly jitterMs: number | undefined;
  private readonly maxTtlMs: number;
  private readonly maxStaleMs: number;
  private readonly retryDelayMs: number;
  private readonly maxRetryDelayMs: number;
  private readonly refusalBackoffMs: number;
  private readonly maxRefusalBackoffMs: number;
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly sink: ((line: string) => void) | undefined;
  private readonly timer: NodeJS.Timeout | undefined;

  constructor(options: KeyClientOptions = {}) {
    this.sm = options.secretsManager ?? new SecretsManagerClient({});
    this.ttlMs = options.ttlMs;
    this.jitterMs =
      options.jitterMs ?? (options.ttlMs === undefined ? undefined : Math.round(options.ttlMs * 0.2));
    this.maxTtlMs = options.maxTtlMs ?? 6 * 3_600_000;
    this.maxStaleMs = options.maxStaleMs ?? 1_800_000;
    this.retryDelayMs = options.retryDelayMs ?? 1000;
    this.maxRetryDelayMs = options.maxRetryDelayMs ?? 60_000;
    this.refusalBackoffMs = options.refusalBackoffMs ?? 1000;
    this.maxRefusalBackoffMs = options.maxRefusalBackoffMs ?? 60_000;
    this.now = options.now ?? Date.now;
    this.random = options.random ?? Math.random;
    if (options.metrics !== false) {
      this.sink = options.metrics?.sink ?? ((line) => process.stdout.write(`${line}\n`));
      const interval = options.metrics?.flushIntervalMs ?? 60_000;
      if (interval > 0) {
        this.timer = setInterval(() => this.flush(), interval);
        this.timer.unref();
      }
    }
  }

  /** The current key of `secretId` (name or ARN). Counts one use of it for the usage metrics. */
  get(secretId: string, options?: { forceRefresh?: boolean }): Promise<ApiKey> {
    // The hot path: a cache hit is answered synchronously, with an already-resolved promise.
    const entry = this.entries.get(secretId);
    if (entry && !options?.forceRefresh) {
      const now = this.now();
      if (now < entry.freshUntil) {
        if (now < entry.reportUntil) this.count(secretId, entry.key, METRICS.keyCalls);
        return Promise.resolve(entry.key);
      }
    }
    return this.current(secretId, options?.forceRefresh ?? false).then((key) => {
      this.countUse(secretId, key);
      return key;
    });
  }

  /**
   * The current keys of several secrets: once any is due, all are refreshed in one BatchGetSecretValue per
   * 20 (one request instead of one per key), then DescribeSecret only for a secret whose version moved or
   * that this client has not described yet. A secret the batch cannot return is read on its own, with the
   * usual errors and stale-on-error. Counts one use of each.
   */
  async getMany(secretIds: readonly string[]): Promise<ApiKey[]> {
    const now = this.now();
    const ids = [...new Set(secretIds)].filter((id) => !this.inflight.has(id));
    // Once one is due, all are refreshed together: their jittered TTLs would otherwise drift apart and
    // every batch would carry one key. Each is refreshed at most its jitter early.
    const anyDue = ids.some((id) => {
      const entry = this.entries.get(id);
      return !(entry && now < entry.freshUntil);
    });
    if (anyDue && ids.length > 1)
      for (let i = 0; i < ids.length; i += BATCH_LIMIT) this.batchRefresh(ids.slice(i, i + BATCH_LIMIT));
    return Promise.all(secretIds.map((id) => this.get(id)));
  }

  /**
   * Runs `call` with the current key, recovering from a rotation the cache has not seen yet: on a provider
   * refusal it refreshes and retries once, then tries AWSPREVIOUS once if it is inside its grace period.
   */
  async withKey<T>(secretId: string, call: (key: ApiKey) => Promise<T>): Promise<T> {
    const first = await this.current(secretId, false);
    try {
      return await this.attempt(secretId, first, call);
    } catch (error) {
      if (!isAuthFailure(error)) throw error;
      return this.afterRefusal(secretId, first, error, call);
    }
  }

  /**
   * Tells the client the provider refused `key` (for code that does not use `withKey`): the next get() re-reads,
   * unless this key was already refused within its backoff window.
   */
  reportAuthFailure(secretId: string, key: ApiKey): void {
    this.count(secretId, key, METRICS.authFailures);
    // A key the cache has already moved past teaches nothing new.
    if (this.entries.get(secretId)?.key.keyId !== key.keyId) return;
    void this.refusal(secretId, key).learnt.then(({ metadata }) =>
      this.noteRefusals(secretId, [key], metadata),
    );
  }

  /** Writes the aggregated usage metrics now (Lambda: at the end of each invocation). */
  flush(): void {
    if (!this.sink || this.counts.size === 0) return;
    const at = new Date(this.now());
    for (const [key, byMetric] of this.counts) {
      for (const [metric, { secret, count }] of byMetric) {
        const record = emfRecord(
          [{ name: metric, value: count }],
          { [DIMENSIONS.secret]: secret, [DIMENSIONS.keyVersion]: key.label, [DIMENSIONS.keyId]: key.keyId },
          {},
          at,
          // KeyCalls by key id, which the revoker's usage check reads; the rest by secret, which the fleet
          // alarms group by. Each dimension set is a custom metric of its own: no set nobody reads.
          metric === METRICS.keyCalls ? [[DIMENSIONS.secret, DIMENSIONS.keyId]] : [[DIMENSIONS.secret]],
        );
        this.sink(JSON.stringify(record));
      }
    }
    this.counts.clear();
  }

  /** Flushes metrics and stops the flush timer. */
  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.flush();
  }

  private async attempt<T>(secretId: string, key: ApiKey, call: (key: ApiKey) => Promise<T>): Promise<T> {
    this.countUse(secretId, key);
    try {
      return await call(key);
    } catch (error) {
      if (isAuthFailure(error)) this.count(secretId, key, METRICS.authFailures);
      throw error;
    }
  }

  /** After `first` was refused: retry with AWSCURRENT if it moved, then the fallback, each at most once. */
  private async afterRefusal<T>(
    secretId: string,
    first: ApiKey,
    error: unknown,
    call: (key: ApiKey) => Promise<T>,
  ): Promise<T> {
    const refusal = this.refusal(secretId, first);
    const { current, metadata } = await refusal.learnt;
    const refused = [first];
    let lastError: unknown = error;
    if (current.keyId !== first.keyId) {
      try {
        const result = await this.attempt(secretId, current, call);
        this.noteRefusals(secretId, refused, metadata);
        return result;
      } catch (retryError) {
        if (!isAuthFailure(retryError)) throw retryError;
        lastError = retryError;
        refused.push(current);
      }
    }
    this.noteRefusals(secretId, refused, metadata);
    if (!metadata || refusal.fallbackRefused) throw lastError;
    refusal.fallback ??= this.fallback(secretId, [first, current], metadata).catch(() => undefined);
    const fallback = await refusal.fallback;
    if (!fallback || refused.some((key) => key.keyId === fallback.keyId)) throw lastError;
    try {
      return await this.attempt(secretId, fallback, call);
    } catch (fallbackError) {
      if (isAuthFailure(fallbackError)) refusal.fallbackRefused = true;
      throw fallbackError;
    }
  }

  /**
   * The record for a refusal of `key`: the one in its window (or still refreshing), else a new refresh —
   * DescribeSecret and a forced AWSCURRENT read — shared by every caller until the new window ends.
   */
  private refusal(secretId: string, key: ApiKey): Refusal {
    let records = this.refusals.get(secretId);
    if (!records) {
      records = new Map();
      this.refusals.set(secretId, records);
    }
    const entry = this.entries.get(secretId);
    // Records learnt against another AWSCURRENT are void: the key changed, so their backoff starts over.
    for (const [keyId, record] of records)
      if (record.currentKeyId !== undefined && record.currentKeyId !== entry?.key.keyId)
        records.delete(keyId);
    const known = records.get(key.keyId);
    if (known && this.now() < known.quietUntil) return known;
    const strikes = (known?.strikes ?? 0) + 1;
    const window = Math.min(this.maxRefusalBackoffMs, this.refusalBackoffMs * 2 ** (strikes - 1));
    // get() callers join the re-read instead of being served the refused key meanwhile.
    if (entry?.key.keyId === key.keyId) entry.freshUntil = 0;
    // The forced refresh's DescribeSecret is the metadata the refusal decides on (one call, not two).
    const learnt = this.current(secretId, true).then(
      (current) => ({ current, metadata: this.entries.get(secretId)?.metadata }),
      async () => ({ current: key, metadata: await this.describe(secretId).catch(() => undefined) }),
    );
    const record: Refusal = {
      strikes,
      quietUntil: Number.POSITIVE_INFINITY,
      fallbackRefused: false,
      learnt: learnt.then(({ current, metadata }) => {
        record.currentKeyId = current.keyId;
        record.quietUntil = this.now() + window;
        return { current, metadata };
      }),
    };
    records.set(key.keyId, record);
    return record;
  }

  private current(secretId: string, forceRefresh: boolean): Promise<ApiKey> {
    const entry = this.entries.get(secretId);
    if (entry && !forceRefresh && this.now() < entry.freshUntil) return Promise.resolve(entry.key);
    // Single-flight: every caller that finds the entry missing or expired shares one read.
    const running = this.inflight.get(secretId);
    if (running) return running;
    const read = this.refresh(secretId, entry).finally(() => this.inflight.delete(secretId));
    this.inflight.set(secretId, read);
    return read;
  }

  private readonly inflight = new Map<string, Promise<ApiKey>>();

  /**
   * Refreshes one entry: DescribeSecret (metadata, no KMS decrypt) says whether AWSCURRENT moved; the value
   * is read only then, or when DescribeSecret is denied.
   */
  private async refresh(secretId: string, entry: Entry | undefined): Promise<ApiKey> {
    try {
      const metadata = await this.describe(secretId);
      const currentVersion = metadata ? versionWith(metadata, 'AWSCURRENT') : undefined;
      const unchanged = entry && currentVersion !== undefined && currentVersion === entry.key.versionId;
      const read = unchanged
        ? { key: entry.key, createdAt: entry.createdAt }
        : await this.read(secretId, 'AWSCURRENT');
      this.store(secretId, read.key, read.createdAt, metadata);
      return read.key;
    } catch (error) {
      return this.failedRefresh(secretId, entry, error);
    }
  }

  /** Caches `key` with its rotation-aware TTL and reporting window. */
  private store(
    secretId: string,
    key: ApiKey,
    createdAt: number,
    metadata: DescribeSecretCommandOutput | undefined,
  ): void {
    const now = this.now();
    const graceMs = graceMsOf(metadata);
    const bound = graceMs === undefined ? undefined : graceMs - GRACE_MARGIN_MS;
    let ttl: number;
    let jitter: number;
    if (this.ttlMs !== undefined) {
      ttl = this.ttlMs;
      jitter = this.jitterMs ?? 0;
    } else if (bound !== undefined && bound >= MIN_DERIVED_TTL_MS) {
      const longest = Math.min(this.maxTtlMs, bound);
      ttl = Math.round(longest * 0.9);
      jitter = longest - ttl;
    } else {
      ttl = LEGACY_TTL_MS;
      jitter = this.jitterMs ?? LEGACY_JITTER_MS;
    }
    let freshUntil = now + ttl + Math.floor(this.random() * jitter);
    // A scheduled rotation has happened by the time its window closes: look again just after that.
    const windowCloses = metadata?.NextRotationDate?.getTime();
    if (windowCloses !== undefined && windowCloses > now && windowCloses + WINDOW_SPREAD_MS < freshUntil)
      freshUntil = windowCloses + 1000 + Math.floor(this.random() * WINDOW_SPREAD_MS);
    // Every instance holding an older key refreshes before the grace ends (the TTL is below it): the
    // revoker learns nothing from the current key's steady use, only while it asks about this version.
    let reportUntil = Number.POSITIVE_INFINITY;
    if (graceMs !== undefined && bound !== undefined && ttl + jitter <= bound) {
      const pending = revocationPending(metadata, key);
      reportUntil = Math.max(createdAt + graceMs + NEW_KEY_REPORT_MS, pending ? freshUntil : 0);
    }
    this.entries.set(secretId, {
      key,
      freshUntil,
      expiresAt: freshUntil,
      failures: 0,
      createdAt,
      metadata,
      reportUntil,
    });
  }

  /** Stale-on-error while the cached key is within maxStaleMs past its TTL; else the typed error. */
  private failedRefresh(secretId: string, entry: Entry | undefined, error: unknown): ApiKey {
    const now = this.now();
    if (entry && now - entry.expiresAt <= this.maxStaleMs) {
      // Stale-on-error: keep serving the cached key, and wait before hammering a struggling vault again.
      entry.failures += 1;
      const backoff = Math.min(this.maxRetryDelayMs, this.retryDelayMs * 2 ** (entry.failures - 1));
      entry.freshUntil = now + Math.floor(backoff * (0.5 + this.random() / 2));
      // The key may be stale now: every use of it is evidence the revoker must see.
      entry.reportUntil = Number.POSITIVE_INFINITY;
      this.count(secretId, entry.key, METRICS.staleServes);
      return entry.key;
    }
    const permanent = configurationError(secretId, error);
    if (permanent) throw permanent;
    const reason = error instanceof Error ? error.name : 'unknown error';
    throw new KeyUnavailableError(
      secretId,
      entry ? `${reason}; the cached key is more than maxStaleMs past its TTL` : reason,
      { cause: error instanceof Error ? { name: error.name } : undefined },
    );
  }

  /** Counts refused keys that were already revoked (RevokedKeyUse) or past their grace (PreviousKeyUseAfterGrace). */
  private noteRefusals(
    secretId: string,
    refused: ApiKey[],
    metadata: DescribeSecretCommandOutput | undefined,
  ): void {
    if (!metadata) return;
    const tags = tagMap(metadata.Tags);
    for (const key of refused) {
      if (key.keyId === tags[TAGS.lastRevokedKeyId]) this.count(secretId, key, METRICS.revokedKeyUse);
      else if (
        key.keyId === tags[TAGS.revokeKeyId] &&
        !(Date.parse(tags[TAGS.revokeDueAt] ?? '') > this.now())
      ) {
        this.count(secretId, key, METRICS.previousKeyUseAfterGrace);
      }
    }
  }

  /**
   * The last key worth one try after the current one was refused: AWSCURRENT again if it moved since our
   * read (a rotation or rollback just landed), else AWSPREVIOUS while rekey's record says its revocation is
   * still due in the future.
   */
  private async fallback(
    secretId: string,
    refused: ApiKey[],
    metadata: DescribeSecretCommandOutput,
  ): Promise<ApiKey | undefined> {
    const tags = tagMap(metadata.Tags);
    const currentVersion = versionWith(metadata, 'AWSCURRENT');
    if (currentVersion && !refused.some((key) => key.versionId === currentVersion))
      return this.current(secretId, true);
    const previousVersion = versionWith(metadata, 'AWSPREVIOUS');
    if (!previousVersion || tags[TAGS.lastRevokedVersion] === previousVersion) return undefined;
    // Worth one try unless rekey recorded its grace as over. No record yet happens in the instant between
    // promotion and finishSecret's bookkeeping, and for secrets rotated by other tools.
    const graceOver =
      tags[TAGS.revokeVersion] === previousVersion &&
      !(Date.parse(tags[TAGS.revokeDueAt] ?? '') > this.now());
    return graceOver ? undefined : (await this.read(secretId, 'AWSPREVIOUS', previousVersion)).key;
  }

  /** Reads AWSCURRENT, or a given previous version by id (labels may move between our reads). */
  private async read(
    secretId: string,
    stage: 'AWSCURRENT' | 'AWSPREVIOUS',
    versionId?: string,
  ): Promise<{ key: ApiKey; createdAt: number }> {
    const out = await this.sm.send(
      new GetSecretValueCommand({
        SecretId: secretId,
        ...(versionId ? { VersionId: versionId } : { VersionStage: stage }),
      }),
    );
    return { key: keyOf(out, secretId, stage), createdAt: out.CreatedDate?.getTime() ?? 0 };
  }

  /** The secret's metadata; undefined when this role may not DescribeSecret (then every refresh reads). */
  private async describe(secretId: string): Promise<DescribeSecretCommandOutput | undefined> {
    try {
      return await this.sm.send(new DescribeSecretCommand({ SecretId: secretId }));
    } catch (error) {
      if (error instanceof Error && DENIED.has(error.name)) return undefined;
      throw error;
    }
  }

  /**
   * One BatchGetSecretValue for `secretIds` (at most 20), shared by every caller on them meanwhile; a
   * secret whose version moved (or never described) is then described for its tags. Anything the batch
   * does not return is refreshed on its own.
   */
  private batchRefresh(secretIds: string[]): void {
    const batch = this.sm
      .send(new BatchGetSecretValueCommand({ SecretIdList: secretIds }))
      .then((out) => out.SecretValues ?? [])
      .catch(() => []);
    for (const secretId of secretIds) {
      const entry = this.entries.get(secretId);
      const read = batch
        .then(async (values) => {
          const out = values.find((v) => v.ARN === secretId || v.Name === secretNameOf(secretId));
          if (!out) return this.refresh(secretId, entry);
          const key = keyOf(out, secretId, 'AWSCURRENT');
          // The cached metadata serves while nothing is moving; a version change or a revocation pending
          // when it was read (which the revoker may since have recorded) is asked again.
          const unchanged =
            entry?.metadata &&
            entry.key.versionId === key.versionId &&
            !revocationPending(entry.metadata, key);
          const metadata = unchanged ? entry.metadata : await this.describe(secretId);
          this.store(secretId, key, out.CreatedDate?.getTime() ?? 0, metadata);
          return key;
        })
        .catch((error: unknown) => this.failedRefresh(secretId, entry, error))
        .finally(() => this.inflight.delete(secretId));
      this.inflight.set(secretId, read);
    }
  }

  /** Counts a use of `key` as KeyCalls, unless it is the cached current key outside its reporting window. */
  private countUse(secretId: string, key: ApiKey): void {
    const entry = this.entries.get(secretId);
    if (entry?.key === key && this.now() >= entry.reportUntil) return;
    this.count(secretId, key, METRICS.keyCalls);
  }

  private count(secretId: string, key: ApiKey, metric: string): void {
    if (!this.sink) return;
    // Keyed by the cached key object: no string building or regex on the hot path.
    let byMetric = this.counts.get(key);
    if (!byMetric) {
      byMetric = new Map();
      this.counts.set(key, byMetric);
    }
    const counter = byMetric.get(metric);
    if (counter) counter.count += 1;
    else byMetric.set(metric, { secret: secretNameOf(secretId), count: 1 });
  }
}

/**
 * A stored version as a key document. The stack's placeholder (deployed before `rekey import`) and any other
 * document that is not rekey's are permanent errors naming the secret, the version and the field — never
 * the value.
 */
function parseDocument(secretString: string | undefined, secretId: string, versionId: string | undefined) {
  const version = versionId ? ` (version ${versionId})` : '';
  try {
    return parseManagedKey(secretString, { secretId, ...(versionId ? { versionId } : {}) });
  } catch (error) {
    if (isPlaceholder(secretString))
      throw new KeyConfigurationError(
        'KEY_NOT_IMPORTED',
        secretId,
        `rekey client: ${secretId}${version} still holds the placeholder the stack created; store the key your app uses today with \`rekey import <name> --key-id <id> < key\`, then deploy with imported: true.`,
        { ...(versionId ? { versionId } : {}) },
      );
    const field = (error as { field?: string }).field;
    throw new KeyConfigurationError(
      'KEY_DOCUMENT_INVALID',
      secretId,
      `rekey client: ${error instanceof Error ? error.message : 'the stored value is not a rekey key document'}; store it again with \`rekey import <name>\`.`,
      { cause: error, ...(versionId ? { versionId } : {}), ...(field ? { field } : {}) },
    );
  }
}

/** Whether rekey's tags record a revocation of another key than `key` that is not done yet. */
function revocationPending(metadata: DescribeSecretCommandOutput | undefined, key: ApiKey): boolean {
  const tags = tagMap(metadata?.Tags);
  const revoking = tags[TAGS.revokeKeyId];
  return revoking !== undefined && revoking !== key.keyId && revoking !== tags[TAGS.lastRevokedKeyId];
}

/** The version carrying `stage` in DescribeSecret's VersionIdsToStages. */
function versionWith(metadata: DescribeSecretCommandOutput, stage: string): string | undefined {
  return Object.entries(metadata.VersionIdsToStages ?? {}).find(([, stages]) => stages.includes(stage))?.[0];
}

/** A GetSecretValue (or BatchGetSecretValue) answer as a key. */
function keyOf(
  out: { SecretString?: string | undefined; VersionId?: string | undefined },
  secretId: string,
  stage: 'AWSCURRENT' | 'AWSPREVIOUS',
): ApiKey {
  const doc = parseDocument(out.SecretString, secretId, out.VersionId);
  return {
    value: doc.key,
    keyId: doc.keyId,
    versionId: out.VersionId ?? '',
    label: stage === 'AWSCURRENT' ? 'current' : 'previous',
    provider: doc.provider,
  };
}

function isPlaceholder(secretString: string | undefined): boolean {
  try {
    return (JSON.parse(secretString ?? '') as { rekey?: unknown } | null)?.rekey === 'placeholder';
  } catch {
    return false;
  }
}
