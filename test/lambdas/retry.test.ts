import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  ProviderRateLimitedError,
  ProviderRejectedError,
  ProviderUnavailableError,
} from '../../lambdas/errors.js';
import { retryAfterMs } from '../../lambdas/providers/http.js';
import { backoffDelay, withRetry } from '../../lambdas/retry.js';

const policy = { attempts: 5, baseDelayMs: 100, maxDelayMs: 1000 };

describe('backoff with full jitter', () => {
  it('stays under base·2^(attempt-1), capped by maxDelayMs', () => {
    const unavailable = new ProviderUnavailableError('X', 'call', 'HTTP 503');
    assert.equal(
      backoffDelay(1, policy, unavailable, () => 0.999),
      99,
    );
    assert.equal(
      backoffDelay(3, policy, unavailable, () => 0.999),
      399,
    );
    assert.equal(
      backoffDelay(10, policy, unavailable, () => 0.999),
      999,
    );
    assert.equal(
      backoffDelay(3, policy, unavailable, () => 0),
      0,
    );
  });

  it("treats a provider's Retry-After as a floor, within maxDelayMs", () => {
    assert.equal(
      backoffDelay(1, policy, new ProviderRateLimitedError('X', 'call', 700), () => 0),
      700,
    );
    assert.equal(
      backoffDelay(1, policy, new ProviderRateLimitedError('X', 'call', 60_000), () => 0),
      1000,
    );
  });
});

describe('withRetry', () => {
  it('retries retryable errors and returns the first success', async () => {
    const waits: number[] = [];
    let calls = 0;
    const result = await withRetry(
      async () => {
        calls += 1;
        if (calls < 3) throw new ProviderUnavailableError('X', 'call', 'HTTP 502');
        return 'ok';
      },
      policy,
      { sleep: async (ms) => void waits.push(ms), random: () => 0.5 },
    );
    assert.equal(result, 'ok');
    assert.equal(calls, 3);
    assert.deepEqual(waits, [50, 100]);
  });

  it('does not retry a permanent error', async () => {
    let calls = 0;
    await assert.rejects(
      withRetry(async () => {
        calls += 1;
        throw new ProviderRejectedError('X', 'call', 401, 'fix the credential');
      }, policy),
      ProviderRejectedError,
    );
    assert.equal(calls, 1);
  });

  it('gives up after the configured attempts with the last error', async () => {
    let calls = 0;
    await assert.rejects(
      withRetry(
        async () => {
          calls += 1;
          throw new ProviderUnavailableError('X', 'call', `attempt ${calls}`);
        },
        policy,
        { sleep: async () => {} },
      ),
      /attempt 5/,
    );
    assert.equal(calls, 5);
  });
});

describe('retryAfterMs', () => {
  const now = Date.parse('2026-11-25T10:00:00Z');
  it('reads Retry-After seconds, an HTTP date, or X-RateLimit-Reset', () => {
    assert.equal(retryAfterMs(new Headers({ 'retry-after': '3' }), now), 3000);
    assert.equal(retryAfterMs(new Headers({ 'retry-after': 'Wed, 25 Nov 2026 10:00:05 GMT' }), now), 5000);
    assert.equal(retryAfterMs(new Headers({ 'x-ratelimit-reset': String(now / 1000 + 2) }), now), 2000);
    assert.equal(retryAfterMs(new Headers({}), now), undefined);
  });
});
