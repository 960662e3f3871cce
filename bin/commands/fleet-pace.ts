import type { JournalKey } from './journal.js';
import type { PaceLimits } from './pacer.js';

/**
 * The fleet's default pace. Secrets Manager allows PutSecretValue, UpdateSecretVersionStage and UpdateSecret
 * 50 requests per second per account and Region, shared (its quotas page), and each rotation makes 2–4 of
 * them in its function (createSecret's PutSecretValue, finishSecret's one or two UpdateSecretVersionStage, one
 * more when a step is retried). 5 starts/s × 4 = 20/s: under half the bucket, the rest left to scheduled
 * rotations, imports and other tools of the account; RotateSecret's own 50/s is then far off. 10 in flight
 * sustain that rate at the 2 s a rotation takes (four Lambda steps and the provider's calls), and bound how
 * many rotations a systematic failure (a provider refusing every new key) reaches before the first reports.
 */
export const DEFAULT_FLEET_PACE: PaceLimits = { ratePerSecond: 5, concurrency: 10 };

/**
 * Per provider: how fast rotations start and how many run at once. A rotation makes about four calls to the
 * provider's key API (create, a list when adopting, testSecret's validation, the revocation later), and the
 * account's other users share its limits, so rekey plans on about half of a documented limit.
 */
export const PROVIDER_PACE: Readonly<Record<string, PaceLimits>> = {
  // 1,200 requests per 5 minutes per user or account token (Cloudflare API docs, "Rate limits") = 4/s.
  cloudflare: { ratePerSecond: 0.5, concurrency: 2 },
  // 600 requests per minute per user on the v3 API (Twilio SendGrid changelog, 2019-10-10; the API reference
  // documents the X-RateLimit-* headers, not the numbers) = 10/s.
  sendgrid: { ratePerSecond: 1, concurrency: 4 },
  // CreateApiKey: 5 requests per second per account, not adjustable (API Gateway quotas) — one per rotation.
  'api-gateway': { ratePerSecond: 2, concurrency: 4 },
  // Twilio limits concurrent REST requests per account without publishing the number (error 20429): fewer at once.
  twilio: { ratePerSecond: 2, concurrency: 3 },
};

/**
 * Providers that document no rate for their key APIs (Datadog, OpenAI's admin API, IAM, the generic HTTP
 * adapter's in-house services): a conservative default, `--provider-rate p=n` to change it.
 */
export const DEFAULT_PROVIDER_PACE: PaceLimits = { ratePerSecond: 2, concurrency: 5 };

export interface FleetPace {
  ratePerSecond: number;
  concurrency: number;
  /** `--provider-rate`: starts per second by provider adapter name. */
  providers: Record<string, number>;
}

/** A provider's pace: `--provider-rate` if given, else its documented one, else the default. */
export function providerPace(provider: string, pace: FleetPace): PaceLimits {
  const documented = PROVIDER_PACE[provider] ?? DEFAULT_PROVIDER_PACE;
  const rate = pace.providers[provider];
  return rate === undefined ? documented : { ...documented, ratePerSecond: rate };
}

/** The pace a run goes at, for the plan and the reports. */
export function paceReport(keys: readonly JournalKey[], pace: FleetPace) {
  const providers = [...new Set(keys.map((k) => k.provider))];
  return {
    ratePerSecond: pace.ratePerSecond,
    concurrency: pace.concurrency,
    providers: Object.fromEntries(providers.map((p) => [p, providerPace(p, pace)])),
  };
}
