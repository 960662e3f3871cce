import { isRetryable, ProviderRateLimitedError } from './errors.js';

export interface RetryPolicy {
  /** Total attempts including the first. */
  attempts: number;
  /** First backoff ceiling in ms; doubles each attempt (full jitter below it). */
  baseDelayMs: number;
  /** Upper bound for any single wait, including a provider's Retry-After. */
  maxDelayMs: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = { attempts: 4, baseDelayMs: 200, maxDelayMs: 20_000 };

export interface RetryHooks {
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
  onRetry?: (attempt: number, delayMs: number, error: unknown) => void;
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Backoff before retry number `attempt` (1-based): full jitter under base·2^(attempt-1), so a fleet of
 * rotators does not retry in lock-step. A provider's Retry-After is a floor, not a suggestion.
 */
export function backoffDelay(
  attempt: number,
  policy: RetryPolicy,
  error: unknown,
  random: () => number,
): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
  const jittered = Math.floor(random() * ceiling);
  const retryAfter = error instanceof ProviderRateLimitedError ? (error.retryAfterMs ?? 0) : 0;
  return Math.min(policy.maxDelayMs, Math.max(jittered, retryAfter));
}

/** Runs `call`, retrying only errors marked retryable, and rethrows the last error unchanged. */
export async function withRetry<T>(
  call: () => Promise<T>,
  policy: RetryPolicy = DEFAULT_RETRY_POLICY,
  hooks: RetryHooks = {},
): Promise<T> {
  const wait = hooks.sleep ?? sleep;
  const random = hooks.random ?? Math.random;
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (error) {
      if (!isRetryable(error) || attempt >= policy.attempts) throw error;
      const delay = backoffDelay(attempt, policy, error, random);
      hooks.onRetry?.(attempt, delay, error);
      await wait(delay);
    }
  }
}
