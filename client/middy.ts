import type { MiddlewareObj } from '@middy/core';
import type { Context } from 'aws-lambda';
import { type ApiKey, KeyClient } from './key-client.js';

export interface RekeyMiddlewareOptions<Names extends string> {
  /** Context field → secret name or ARN, e.g. `{ sendgrid: 'prod/sendgrid/api-key' }`. */
  keys: Record<Names, string>;
  /** Default: one client per middleware, built at module scope with the defaults. */
  client?: KeyClient;
}

/**
 * Middy middleware: puts the current keys on `context.keys` before the handler runs and flushes the usage
 * metrics after it (Lambda freezes between invocations, so timers cannot be relied on).
 *
 * ```ts
 * export const handler = middy(async (event, context) => send(context.keys.sendgrid.value))
 *   .use(rekeyKeys({ keys: { sendgrid: 'prod/sendgrid/api-key' } }));
 * ```
 */
export function rekeyKeys<Names extends string>(
  options: RekeyMiddlewareOptions<Names>,
): MiddlewareObj<unknown, unknown, Error, Context & { keys: Record<Names, ApiKey> }> {
  const client = options.client ?? new KeyClient({ metrics: { flushIntervalMs: 0 } });
  const entries = Object.entries(options.keys) as Array<[Names, string]>;
  return {
    before: async (request) => {
      const keys = await Promise.all(
        entries.map(async ([field, secretId]) => [field, await client.get(secretId)] as const),
      );
      Object.assign(request.context, { keys: Object.fromEntries(keys) });
    },
    after: async () => client.flush(),
    onError: async () => client.flush(),
  };
}
