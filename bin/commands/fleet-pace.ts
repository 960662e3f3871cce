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
 * Per provider: how fast rotations start and how many run at once. A rotation makes its calls to the
 * provider's key API one after another — createSecret's list by name, the count against the key cap, the
 * read of the current key, the create; testSecret's validation; the revocation after the grace — and the
 * account's other users share its limits, so rekey plans on about half of a documented limit. These are the
 * limits the sandboxes enforce (local/sandboxes/), so a fleet run on the loopback meets them as it would the
 * providers.
 */
export const PROVIDER_PACE: Readonly<Record<string, PaceLimits>> = {
  // 1,200 requests per 5 minutes per token (Cloudflare API docs, "Rate limits") = 4/s, and past it every call
  // of the token is blocked for five minutes. The rotator token makes about 5 calls a rotation (the list,
  // which also counts the tokens against the quota, the read, the create, and later the revocation's read
  // and delete; testSecret's verify counts against the new token): 0.25 rotations/s × 5 = 1.25 calls/s,
  // under half of 4/s.
  cloudflare: { ratePerSecond: 0.25, concurrency: 2 },
  // 600 requests per minute per endpoint on the v3 API (Twilio SendGrid changelog, 2019-10-10; the API
  // reference documents the X-RateLimit-* headers, not the numbers). Each endpoint is called about once a
  // rotation (GET /v3/api_keys lists by name and counts against the 100-key cap in one call): 1/s of 10/s.
  sendgrid: { ratePerSecond: 1, concurrency: 4 },
  // CreateApiKey and DeleteApiKey 5 requests per second per account, every operation within a total of 10/s
  // with a burst of 40, none adjustable (API Gateway quotas). A rotation makes about 8 control-plane calls
  // (usage plans, list by name, count, create, attach to each plan, enable, the validation's plan lookup, the
  // delete later; the adapter paces its own mutations at 4/s): 0.5/s × 8 = 4/s of the total's 10/s.
  'api-gateway': { ratePerSecond: 0.5, concurrency: 4 },
  // Twilio limits the REST requests an account has in flight, without publishing the number (error 20429;
  // the sandbox holds 100, the figure integrators report). A rotation has one request in flight at a time, so
  // concurrency bounds them: 3 of 100, and 2 starts/s leave the account's own traffic its room.
  twilio: { ratePerSecond: 2, concurrency: 3 },
};

/**
 * Providers that document no rate for rekey's calls (Datadog's key-management endpoints, OpenAI's admin API,
 * IAM, the generic HTTP adapter's in-house services), and Stripe, whose 25 requests/s in test mode and 100 in
 * live mode (its "Rate limits" page) are far above an assisted rotation's two calls: a conservative default,
 * `--provider-rate p=n` to change it.
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
