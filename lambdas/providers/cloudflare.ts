import * as z from 'zod/mini';
import { ProviderBadResponseError, ProviderRejectedError } from '../errors.js';
import { ProviderHttp, type ProviderResponse } from './http.js';
import type { ProviderClient, ProviderDefinition } from './types.js';

/**
 * Cloudflare API tokens, user-owned (`/user/tokens`) or account-owned (`/accounts/{id}/tokens`, when
 * `options.accountId` is set). New tokens copy the current token's policies, IP condition and validity
 * window (`not_before`, `expires_on`), so a replacement never outlives the token it replaces. The value
 * is shown only at creation, so a crashed attempt's token is revoked and replaced. `last_used_on` is
 * reported. Quotas (developers.cloudflare.com/fundamentals/api/reference/limits): 50 user-owned tokens, 500
 * account-owned tokens — `maxActiveKeysFor` gives the one the options select. Listings page by `page`/`per_page`;
 * `result_info` reports `count`, `page`, `per_page` and `total_count` (cloudflare/api-schemas).
 */
export const CLOUDFLARE_USER_TOKEN_QUOTA = 50;
export const CLOUDFLARE_ACCOUNT_TOKEN_QUOTA = 500;

const CredentialSchema = z.object({
  /** A token with "API Tokens Write" (user-owned) or "Account API Tokens Write" (account-owned). */
  apiToken: z.string().check(z.minLength(1)),
});

const OptionsSchema = z.strictObject({
  /** Manage account-owned tokens of this account; omitted: the rotator's user-owned tokens. */
  accountId: z.optional(
    z.string().check(z.regex(/^[0-9a-f]{32}$/, 'must be a Cloudflare account id (32 hex digits)')),
  ),
});

const ErrorEnvelope = z.object({
  errors: z.optional(z.array(z.object({ code: z.number(), message: z.string() }))),
});
const PolicySchema = z.object({
  effect: z.enum(['allow', 'deny']),
  resources: z.record(z.string(), z.unknown()),
  permission_groups: z.array(
    z.object({ id: z.string(), meta: z.optional(z.record(z.string(), z.unknown())) }),
  ),
});
const TokenSchema = z.object({
  id: z.string().check(z.minLength(1)),
  name: z.string(),
  last_used_on: z.optional(z.nullable(z.iso.datetime({ offset: true }))),
  policies: z.optional(z.array(PolicySchema)),
  condition: z.optional(z.record(z.string(), z.unknown())),
  not_before: z.optional(z.nullable(z.iso.datetime({ offset: true }))),
  expires_on: z.optional(z.nullable(z.iso.datetime({ offset: true }))),
});
const Envelope = <S extends z.ZodMiniType>(result: S) => z.object({ success: z.literal(true), result });
const ListEnvelope = z.object({
  success: z.literal(true),
  result: z.array(TokenSchema),
  result_info: z.optional(
    z.object({ per_page: z.optional(z.number()), total_count: z.optional(z.number()) }),
  ),
});
const PER_PAGE = 50;
/** Pages one listing may take (5,000 tokens, ten times the account quota) before it is taken for a loop. */
const MAX_PAGES = 100;

export const cloudflare: ProviderDefinition<
  z.infer<typeof CredentialSchema>,
  z.infer<typeof OptionsSchema>
> = {
  name: 'cloudflare',
  displayName: 'Cloudflare',
  capabilities: {
    dualKey: true,
    // Without options.accountId rekey manages user-owned tokens; maxActiveKeysFor gives the account's quota.
    maxActiveKeys: CLOUDFLARE_USER_TOKEN_QUOTA,
    lastUsed: true,
    valueReadable: false,
  },
  /** Account-owned tokens (options.accountId): the account's quota of 500; user-owned tokens: the user's 50. */
  maxActiveKeysFor: (options) =>
    options.accountId ? CLOUDFLARE_ACCOUNT_TOKEN_QUOTA : CLOUDFLARE_USER_TOKEN_QUOTA,
  maxKeyNameLength: 120,
  credentialSchema: CredentialSchema,
  optionsSchema: OptionsSchema,
  connect({ credential, options, endpoint, http: httpOptions }): ProviderClient {
    const http = new ProviderHttp({
      provider: 'Cloudflare',
      baseUrl: endpoint ?? 'https://api.cloudflare.com',
      ...httpOptions,
    });
    const admin = { authorization: `Bearer ${credential.apiToken}` };
    const tokens = options.accountId
      ? `/client/v4/accounts/${encodeURIComponent(options.accountId)}/tokens`
      : '/client/v4/user/tokens';
    const tokenPath = (id: string) => `${tokens}/${encodeURIComponent(id)}`;

    const adminFailure = (res: ProviderResponse, call: string): never => {
      // Cloudflare's error codes and messages never carry token values.
      const detail = ErrorEnvelope.safeParse(res.body)
        .data?.errors?.map((e) => `${e.code} ${e.message}`)
        .join('; ');
      const fix =
        res.status === 401 || res.status === 403
          ? `the rotator token needs "${options.accountId ? 'Account API Tokens Write' : 'API Tokens Write'}"${options.accountId ? ` on account ${options.accountId}` : ''}.`
          : call === 'create token' && res.status === 400
            ? `check the quota (at most ${options.accountId ? CLOUDFLARE_ACCOUNT_TOKEN_QUOTA : CLOUDFLARE_USER_TOKEN_QUOTA} ${options.accountId ? 'account' : 'user'} tokens) and the copied policies.`
            : "check the request against Cloudflare's API token reference.";
      throw new ProviderRejectedError('Cloudflare', call, res.status, `${detail ? `${detail}; ` : ''}${fix}`);
    };
    /** Verify Token (`…/tokens/verify`), made with the token itself. */
    const verify = (value: string, call: string) =>
      http.request({
        call,
        method: 'GET',
        path: `${tokens}/verify`,
        headers: { authorization: `Bearer ${value}` },
      });
    const getToken = async (id: string, call: string) => {
      const res = await http.request({ call, method: 'GET', path: tokenPath(id), headers: admin });
      if (res.status !== 200) adminFailure(res, call);
      return http.parse(Envelope(TokenSchema), res, call).result;
    };

    /** Visits every token of the owner, page by page (one page per call). */
    const eachToken = async (visit: (token: z.infer<typeof TokenSchema>) => void): Promise<void> => {
      for (let page = 1; ; page++) {
        const res = await http.request({
          call: 'list tokens',
          method: 'GET',
          path: `${tokens}?page=${page}&per_page=${PER_PAGE}`,
          headers: admin,
        });
        if (res.status !== 200) adminFailure(res, 'list tokens');
        const listed = http.parse(ListEnvelope, res, 'list tokens');
        for (const token of listed.result) visit(token);
        // An empty or short page ends the listing, as does reaching total_count; past the cap it is a loop.
        const count = listed.result.length;
        const perPage = listed.result_info?.per_page ?? PER_PAGE;
        const total = listed.result_info?.total_count;
        if (count === 0 || count < perPage || (total !== undefined && page * perPage >= total)) return;
        if (page >= MAX_PAGES)
          throw new ProviderBadResponseError(
            'Cloudflare',
            'list tokens',
            `the listing has not ended after ${MAX_PAGES} pages of ${PER_PAGE} tokens, above any token quota`,
          );
      }
    };

    /** How many tokens the owner holds: one smallest page's result_info.total_count, else every page. */
    const countTokens = async (): Promise<number> => {
      const res = await http.request({
        call: 'count tokens',
        method: 'GET',
        path: `${tokens}?page=1&per_page=5`,
        headers: admin,
      });
      if (res.status !== 200) adminFailure(res, 'count tokens');
      const total = http.parse(ListEnvelope, res, 'count tokens').result_info?.total_count;
      if (total !== undefined) return total;
      let count = 0;
      await eachToken(() => {
        count += 1;
      });
      return count;
    };
    /**
     * The tokens findKeysByName just paged through, less those revoked since, until a create: the count
     * against the quota createSecret asks for next (the rate limit counts every call).
     */
    let lastListed: Set<string> | undefined;

    return {
      async createKey({ name, likeKeyId }) {
        lastListed = undefined;
        const current = await getToken(likeKeyId, 'read current token');
        if (!current.policies?.length) {
          throw new ProviderRejectedError(
            'Cloudflare',
            'read current token',
            200,
            'the current token lists no policies to copy; the rotator token may lack read access to it.',
          );
        }
        const res = await http.request({
          call: 'create token',
          method: 'POST',
          path: tokens,
          idempotent: false,
          headers: admin,
          json: {
            name,
            // Policy ids and group names are Cloudflare's; the new token gets the same effect, resources and groups.
            policies: current.policies.map(({ effect, resources, permission_groups }) => ({
              effect,
              resources,
              permission_groups: permission_groups.map(({ id, meta }) => ({ id, ...(meta ? { meta } : {}) })),
            })),
            ...(current.condition ? { condition: current.condition } : {}),
            ...(current.not_before ? { not_before: current.not_before } : {}),
            ...(current.expires_on ? { expires_on: current.expires_on } : {}),
          },
        });
        if (res.status !== 200) adminFailure(res, 'create token');
        const created = http.parse(
          Envelope(z.extend(TokenSchema, { value: z.string().check(z.minLength(1)) })),
          res,
          'create token',
        ).result;
        return { id: created.id, name: created.name, value: created.value };
      },

      async findKeysByName(name) {
        const found: Array<{ id: string; name: string }> = [];
        const listed = new Set<string>();
        await eachToken((token) => {
          listed.add(token.id);
          if (token.name === name) found.push({ id: token.id, name });
        });
        lastListed = listed;
        return found;
      },

      async keyQuota() {
        const held = lastListed?.size ?? (await countTokens());
        lastListed = undefined;
        const cap = options.accountId ? CLOUDFLARE_ACCOUNT_TOKEN_QUOTA : CLOUDFLARE_USER_TOKEN_QUOTA;
        return {
          held,
          cap,
          account: options.accountId ? `account ${options.accountId}` : "the rotator token's user",
          makeRoom: `Delete unused ${options.accountId ? 'account-owned API tokens (Manage Account → Account API Tokens' : 'user-owned API tokens (My Profile → API Tokens'} in the dashboard), or, on an Enterprise plan, ask Cloudflare Support to raise the token quota`,
        };
      },

      async validateKey(key) {
        const res = await verify(key.value, 'verify token');
        // A disabled or expired token still verifies (200) but reports its status.
        if (res.status === 200)
          return http.parse(Envelope(z.object({ status: z.string() })), res, 'verify token').result.status ===
            'active'
            ? 'accepted'
            : 'rejected';
        if (res.status === 401 || res.status === 403) return 'rejected';
        throw new ProviderRejectedError(
          'Cloudflare',
          'verify token',
          res.status,
          `unexpected status for GET ${tokens}/verify.`,
        );
      },

      async identifies(key) {
        // Verify Token answers, for the token that makes the call, that token's own id (result.id, required in
        // iam_token_verify_response_single_segment): Cloudflare names the id of the value itself.
        const call = 'verify token id';
        const res = await verify(key.value, call);
        if (res.status !== 200)
          throw new ProviderRejectedError(
            'Cloudflare',
            call,
            res.status,
            `the token does not verify at GET ${tokens}/verify; it must be ${options.accountId ? `an account-owned token of account ${options.accountId}` : 'a user-owned token'}.`,
          );
        const { id } = http.parse(
          Envelope(z.object({ id: z.string().check(z.minLength(1)) })),
          res,
          call,
        ).result;
        if (id === key.id) return { verdict: 'matches' };
        return {
          verdict: 'differs',
          providerKeyId: id,
          find: `GET ${tokens}/verify made with the token answers its id (result.id)`,
        };
      },

      async revokeKey(keyId) {
        const listed = lastListed;
        lastListed = undefined;
        const res = await http.request({
          call: 'delete token',
          method: 'DELETE',
          path: tokenPath(keyId),
          headers: admin,
        });
        if (res.status !== 200 && res.status !== 404) return adminFailure(res, 'delete token');
        listed?.delete(keyId);
        lastListed = listed;
        return res.status === 404 ? 'already-gone' : 'revoked';
      },

      async lastUsed(keyId) {
        const token = await getToken(keyId, 'read token last use');
        return token.last_used_on ? new Date(token.last_used_on) : null;
      },
    };
  },
};
