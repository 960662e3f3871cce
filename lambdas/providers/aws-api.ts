import * as z from 'zod/mini';
import {
  ProviderRateLimitedError,
  ProviderRejectedError,
  ProviderUnavailableError,
  RekeyError,
} from '../errors.js';
import { DEFAULT_RETRY_POLICY } from '../retry.js';
import { unanswered, withRetryUnlessUnknown } from './http.js';
import type { ConnectContext } from './types.js';

/**
 * What the AWS-backed providers (IAM access keys, API Gateway API keys) share: SDK v3 clients configured
 * like ProviderHttp (one attempt per SDK call, a timeout per attempt) and retried by rekey's own policy,
 * so throttling and 5xx behave the same as for every other provider and the SDK's own retries do not
 * multiply ours.
 */

/**
 * The rotator credential of an AWS provider: `{}` to act with the function's own role (recommended), or
 * the access key pair of a dedicated rotator user.
 */
export const AwsCredentialSchema = z
  .strictObject({
    accessKeyId: z.optional(z.string().check(z.minLength(16))),
    secretAccessKey: z.optional(z.string().check(z.minLength(1))),
  })
  .check(
    z.refine((c) => (c.accessKeyId === undefined) === (c.secretAccessKey === undefined), {
      message: "set both accessKeyId and secretAccessKey, or neither to use the function's own IAM role",
      path: ['secretAccessKey'],
    }),
  );
export type AwsCredential = z.infer<typeof AwsCredentialSchema>;

/** The explicit key pair of a rotator credential, or undefined for the SDK's default chain (the role). */
export function explicitCredentials(
  credential: AwsCredential,
): { accessKeyId: string; secretAccessKey: string } | undefined {
  const { accessKeyId, secretAccessKey } = credential;
  return accessKeyId && secretAccessKey ? { accessKeyId, secretAccessKey } : undefined;
}

/** Throttling error names across AWS's protocols (Query, REST-JSON). */
const THROTTLING = new Set([
  'Throttling',
  'ThrottlingException',
  'TooManyRequestsException',
  'RequestLimitExceeded',
]);

export interface AwsErrorShape {
  name: string;
  $metadata?: { httpStatusCode?: number };
  $response?: { headers?: Record<string, string | undefined> };
}

export function isAwsError(error: unknown): error is Error & AwsErrorShape {
  return error instanceof Error && '$metadata' in error;
}

/** The AWS error name of a failed SDK call (`NoSuchEntity`, `NotFoundException`…), or undefined. */
export function awsErrorName(error: unknown): string | undefined {
  return isAwsError(error) ? error.name : undefined;
}

/**
 * Whether a failed SDK call is the AWS error `code`. Modeled errors carry the SDK's class name
 * (`NoSuchEntityException` for the wire code `NoSuchEntity`), unmodeled ones the wire code itself.
 */
export function awsErrorIs(error: unknown, code: string): boolean {
  const name = awsErrorName(error);
  return name === code || name === `${code}Exception`;
}

/** SDK client configuration for an AWS provider: the sandbox endpoint, a timeout, no SDK retries. */
export function awsClientConfig(
  context: Pick<ConnectContext<unknown, unknown>, 'endpoint' | 'http' | 'awsCredentials'>,
  region: string,
  credentials?: { accessKeyId: string; secretAccessKey: string },
) {
  const timeoutMs = context.http?.timeoutMs ?? 10_000;
  // An explicit key pair wins; `{}` acts with the key's own role where the caller assumed one.
  const acting = credentials ?? context.awsCredentials;
  return {
    region,
    maxAttempts: 1,
    requestHandler: { requestTimeout: timeoutMs, connectionTimeout: timeoutMs },
    ...(context.endpoint === undefined ? {} : { endpoint: context.endpoint }),
    ...(acting === undefined ? {} : { credentials: acting }),
  };
}

function retryAfterMs(error: AwsErrorShape): number | undefined {
  const header = error.$response?.headers?.['retry-after'];
  const seconds = Number(header);
  return header !== undefined && Number.isFinite(seconds) ? Math.max(0, seconds * 1000) : undefined;
}

/** Why a call got no HTTP answer (timeout, refused or reset connection), or undefined if it got one. */
function networkFailure(error: unknown): string | undefined {
  if (!(error instanceof Error)) return undefined;
  if (error.name === 'TimeoutError' || error.name === 'AbortError') return 'no answer in time';
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' && /^E[A-Z]+$/.test(code) ? `network error (${code})` : undefined;
}

export interface AwsCallOptions {
  /**
   * False for a call a repeat would duplicate (CreateAccessKey, CreateApiKey). It is re-sent only after
   * throttling or a refused connection; a 5xx, timeout or cut connection becomes
   * ProviderOutcomeUnknownError at once. Default true.
   */
  idempotent?: boolean;
}

/**
 * Runs one SDK call under rekey's retry policy: throttling becomes ProviderRateLimitedError (honouring
 * Retry-After), 5xx and network failures ProviderUnavailableError (ProviderOutcomeUnknownError for a
 * non-idempotent call the provider may have received); any other AWS error is returned to the adapter
 * unchanged, since only it knows what NoSuchEntity or LimitExceeded means for that call.
 */
export function awsCall<T>(
  provider: string,
  call: string,
  context: Pick<ConnectContext<unknown, unknown>, 'http'>,
  send: () => Promise<T>,
  options: AwsCallOptions = {},
): Promise<T> {
  const unavailable = (detail: string) => unanswered(provider, call, detail, options.idempotent);
  return withRetryUnlessUnknown(
    async () => {
      try {
        return await send();
      } catch (error) {
        const network = networkFailure(error);
        if (network) {
          // A refused connection never sent the request: safe to repeat whatever the call.
          if ((error as { code?: unknown }).code === 'ECONNREFUSED')
            throw new ProviderUnavailableError(provider, call, network);
          throw unavailable(network);
        }
        if (!isAwsError(error)) throw error;
        if (THROTTLING.has(error.name))
          throw new ProviderRateLimitedError(provider, call, retryAfterMs(error));
        const status = error.$metadata?.httpStatusCode ?? 0;
        if (status >= 500) throw unavailable(`HTTP ${status} ${error.name}`);
        throw error;
      }
    },
    context.http?.retry ?? DEFAULT_RETRY_POLICY,
    context.http?.retryHooks,
  );
}

/**
 * What an adapter throws for a failed AWS call: rekey's typed errors (throttling, outages after retries)
 * as they are; an AWS refusal, or no credential in the SDK's chain, as a permanent error with the fix;
 * anything else (a bug) unchanged.
 */
export function awsFailure(
  provider: string,
  call: string,
  error: unknown,
  fix: (error: unknown) => string,
): Error {
  if (error instanceof RekeyError) return error;
  if (error instanceof Error && error.name === 'CredentialsProviderError') {
    return awsRejected(
      provider,
      call,
      error,
      'no AWS credentials were found: give the function an IAM role, or store accessKeyId and secretAccessKey in the rotator secret.',
    );
  }
  if (isAwsError(error)) return awsRejected(provider, call, error, fix(error));
  return error instanceof Error ? error : new Error(String(error));
}

/** A permanent failure of an AWS call, naming the AWS error and the fix — never the request. */
export function awsRejected(
  provider: string,
  call: string,
  error: unknown,
  fix: string,
): ProviderRejectedError {
  const name = awsErrorName(error) ?? (error instanceof Error ? error.name : 'error');
  const status = isAwsError(error) ? error.$metadata?.httpStatusCode : undefined;
  return new ProviderRejectedError(provider, call, status, `${name}: ${fix}`);
}
