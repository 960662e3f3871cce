/**
 * Typed errors. Every error carries a stable `code`, says whether retrying can help, and names the secret,
 * the field or the provider call plus the fix. No message ever contains a key value: callers pass names,
 * ids and field paths, never values.
 */
export type ErrorCode =
  | 'INVALID_INPUT'
  | 'INVALID_SECRET'
  | 'INVALID_EVENT'
  | 'ROTATION_STATE'
  | 'UNKNOWN_PROVIDER'
  | 'PROVIDER_RATE_LIMITED'
  | 'PROVIDER_UNAVAILABLE'
  | 'PROVIDER_OUTCOME_UNKNOWN'
  | 'PROVIDER_REJECTED'
  | 'PROVIDER_ACCOUNT_FULL'
  | 'PROVIDER_NOT_FOUND'
  | 'PROVIDER_BAD_RESPONSE'
  | 'KEY_TEST_FAILED'
  | 'ROTATOR_CREDENTIAL'
  | 'REVOCATION_UNSAFE'
  | 'ROLLBACK_REFUSED'
  | 'LEASE_BUSY'
  | 'LEASE_LOST'
  | 'ROUTING_MISMATCH';

export interface RekeyErrorOptions {
  cause?: unknown;
  /** Secret name or ARN the error concerns. */
  secretId?: string;
  /** Dotted path of the offending field, when there is one. */
  field?: string;
}

export class RekeyError extends Error {
  readonly code: ErrorCode;
  readonly retryable: boolean;
  readonly secretId?: string;
  readonly field?: string;

  constructor(code: ErrorCode, message: string, retryable: boolean, options: RekeyErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.retryable = retryable;
    if (options.secretId !== undefined) this.secretId = options.secretId;
    if (options.field !== undefined) this.field = options.field;
  }
}

/** Input that can never succeed as given: a malformed inventory, secret document or event. */
export class InvalidInputError extends RekeyError {
  constructor(
    code: 'INVALID_INPUT' | 'INVALID_SECRET' | 'INVALID_EVENT' | 'UNKNOWN_PROVIDER' | 'ROTATOR_CREDENTIAL',
    message: string,
    options: RekeyErrorOptions = {},
  ) {
    super(code, message, false, options);
  }
}

/** The secret is not in a state the requested step can act on (wrong token, rotation disabled, …). */
export class RotationStateError extends RekeyError {
  constructor(message: string, options: RekeyErrorOptions = {}) {
    super('ROTATION_STATE', message, false, options);
  }
}

/** The provider asked us to slow down. `retryAfterMs` is what its Retry-After (or reset) header said. */
export class ProviderRateLimitedError extends RekeyError {
  readonly retryAfterMs: number | undefined;
  constructor(
    provider: string,
    call: string,
    retryAfterMs: number | undefined,
    options: RekeyErrorOptions = {},
  ) {
    super(
      'PROVIDER_RATE_LIMITED',
      `${provider} rate-limited ${call}${retryAfterMs === undefined ? '' : ` (retry after ${retryAfterMs} ms)`}; ` +
        'rekey retries with backoff; if this persists, rotate fewer keys at once or off-peak.',
      true,
      options,
    );
    this.retryAfterMs = retryAfterMs;
  }
}

/** The provider is down, timed out or answered 5xx. Retrying later may work. */
export class ProviderUnavailableError extends RekeyError {
  constructor(provider: string, call: string, detail: string, options: RekeyErrorOptions = {}) {
    super(
      'PROVIDER_UNAVAILABLE',
      `${provider} unavailable during ${call}: ${detail}; the stored keys were left as they were, retry later.`,
      true,
      options,
    );
  }
}

/**
 * A call that is not safe to repeat (creating a key) failed in a way that leaves its outcome unknown: the
 * provider may have committed it before the answer was lost (5xx, timeout, reset connection). The caller
 * must look for what the call may have made (by its deterministic name) before trying again — never resend.
 */
export class ProviderOutcomeUnknownError extends RekeyError {
  constructor(provider: string, call: string, detail: string, options: RekeyErrorOptions = {}) {
    super(
      'PROVIDER_OUTCOME_UNKNOWN',
      `${provider} ${call} may or may not have taken effect (${detail}); rekey looks for its result by name before trying again.`,
      true,
      options,
    );
  }
}

/** The provider refused the request for good (bad credential, missing permission, limit reached). */
export class ProviderRejectedError extends RekeyError {
  readonly status: number | undefined;
  constructor(
    provider: string,
    call: string,
    status: number | undefined,
    fix: string,
    options: RekeyErrorOptions = {},
  ) {
    super(
      'PROVIDER_REJECTED',
      `${provider} rejected ${call}${status ? ` (HTTP ${status})` : ''}: ${fix}`,
      false,
      options,
    );
    this.status = status;
  }
}

/**
 * The provider account new keys are made in already holds as many keys as the provider allows: refused before
 * any key is created or stored. Permanent until a person makes room, raises the cap or moves the key.
 */
export class ProviderAccountFullError extends RekeyError {
  readonly held: number;
  readonly cap: number;
  constructor(
    secretId: string,
    provider: string,
    usage: { held: number; cap: number; account: string; makeRoom: string },
    options: RekeyErrorOptions = {},
  ) {
    super(
      'PROVIDER_ACCOUNT_FULL',
      `${secretId}: ${provider} ${usage.account} holds ${usage.held} keys and allows at most ${usage.cap}, so rekey ` +
        `created no key and stored nothing; the current key is unchanged. ${usage.makeRoom}; or move this key to ` +
        'another account with room (a rotator credential and options for that account), then rotate again.',
      false,
      { secretId, ...options },
    );
    this.held = usage.held;
    this.cap = usage.cap;
  }
}

export class ProviderNotFoundError extends RekeyError {
  constructor(provider: string, what: string, options: RekeyErrorOptions = {}) {
    super('PROVIDER_NOT_FOUND', `${provider} has no ${what}`, false, options);
  }
}

/** The provider answered with a body that does not match its documented shape. */
export class ProviderBadResponseError extends RekeyError {
  constructor(provider: string, call: string, detail: string, options: RekeyErrorOptions = {}) {
    super(
      'PROVIDER_BAD_RESPONSE',
      `${provider} answered ${call} with an unexpected body (${detail}); nothing was stored, check the provider's API version.`,
      false,
      options,
    );
  }
}

/** testSecret: the pending key does not authenticate at the provider. */
export class KeyTestFailedError extends RekeyError {
  constructor(message: string, options: RekeyErrorOptions = {}) {
    super('KEY_TEST_FAILED', message, false, options);
  }
}

/** A rollback that would leave no working key, or that the secret's state does not allow. */
export class RollbackRefusedError extends RekeyError {
  constructor(message: string, options: RekeyErrorOptions = {}) {
    super('ROLLBACK_REFUSED', message, false, options);
  }
}

/** Another actor holds the secret's lease: nothing was changed; retrying later succeeds once it is free. */
export class LeaseBusyError extends RekeyError {
  readonly holder: string;
  constructor(
    secretArn: string,
    actor: string,
    holder: string,
    until: Date,
    options: RekeyErrorOptions = {},
  ) {
    super(
      'LEASE_BUSY',
      `${actor} did not start on ${secretArn}: ${holder} is changing it (lease until ${until.toISOString()}); nothing was changed — retry after that.`,
      true,
      { secretId: secretArn, ...options },
    );
    this.holder = holder;
  }
}

/** The actor lost the secret's lease before an irreversible call, so it did not make the call. */
export class LeaseLostError extends RekeyError {
  constructor(secretArn: string, actor: string, why: string, options: RekeyErrorOptions = {}) {
    super(
      'LEASE_LOST',
      `${actor} stopped before changing ${secretArn}: it no longer holds the secret's lease (${why}); retry to start over from the secret's current state.`,
      true,
      { secretId: secretArn, ...options },
    );
  }
}

/** Whether an unknown thrown value may succeed when retried. */
export function isRetryable(error: unknown): boolean {
  return error instanceof RekeyError ? error.retryable : false;
}

/**
 * A request, document or tag asks rekey to act otherwise than the deployer configured: a secret outside the
 * deployment, another rotator credential, IAM user, region, host or grace. Permanent: refused, alerted, and
 * nothing is changed until a person fixes the document or deploys the inventory that says so.
 */
export class RoutingMismatchError extends RekeyError {
  constructor(message: string, options: RekeyErrorOptions = {}) {
    super('ROUTING_MISMATCH', message, false, options);
  }
}
