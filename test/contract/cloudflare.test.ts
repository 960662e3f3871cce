import { cloudflare } from '../../lambdas/providers/cloudflare.js';
import {
  CLOUDFLARE_ACCOUNT_TOKEN_QUOTA,
  CLOUDFLARE_TOKEN_ADMIN_GROUPS,
  CLOUDFLARE_USER_TOKEN_QUOTA,
  CloudflareSandbox,
} from '../../local/sandboxes/cloudflare.js';
import type { ContractFixture, SeededProvider } from './fixture.js';
import { providerContract } from './suite.js';

const cloudflareError = (body: unknown): boolean => {
  const b = body as {
    success?: unknown;
    errors?: Array<{ code?: unknown; message?: unknown }>;
    result?: unknown;
  };
  return (
    b?.success === false &&
    Array.isArray(b.errors) &&
    b.errors.length > 0 &&
    b.errors.every((e) => typeof e.code === 'number' && typeof e.message === 'string') &&
    b.result === null
  );
};

/** A fixture for user-owned tokens, or account-owned ones when `accountOwned`. */
function cloudflareFixture(accountOwned: boolean): ContractFixture {
  return {
    provider: cloudflare,
    variant: accountOwned ? 'account-owned tokens' : 'user-owned tokens',
    ...(accountOwned ? { listPageSize: 50 } : {}),
    keyLimit: accountOwned ? CLOUDFLARE_ACCOUNT_TOKEN_QUOTA : CLOUDFLARE_USER_TOKEN_QUOTA,
    keyIdCheck: 'full',
    async seed(now): Promise<SeededProvider> {
      const sandbox = new CloudflareSandbox({ now });
      await sandbox.start();
      const owner = accountOwned ? sandbox.accountId : 'user';
      const adminGroup = accountOwned
        ? CLOUDFLARE_TOKEN_ADMIN_GROUPS.account
        : CLOUDFLARE_TOKEN_ADMIN_GROUPS.user;
      const admin = sandbox.seedToken(
        'rekey-rotator',
        [
          {
            effect: 'allow',
            resources: { 'com.cloudflare.api.user.*': '*' },
            permission_groups: [adminGroup],
          },
        ],
        owner,
      );
      const current = sandbox.seedToken(
        'dns-updater',
        [
          {
            effect: 'allow',
            resources: { 'com.cloudflare.api.account.zone.22b1de5f1c0e4b3ea97bb1e963b06a43': '*' },
            permission_groups: [
              { id: 'c8fed203ed3043cba015a93ad1616f1f', name: 'Zone Read' },
              { id: '4755a26eedb94da69e1066d98aa820be', name: 'DNS Write' },
            ],
          },
        ],
        owner,
        { request_ip: { in: ['192.0.2.0/24'] } },
      );
      const tokens = accountOwned
        ? `/client/v4/accounts/${sandbox.accountId}/tokens`
        : '/client/v4/user/tokens';
      const bearer = { authorization: `Bearer ${admin.value}` };
      const appTokens = () => sandbox.listTokens().filter((t) => t.id !== admin.id);
      return {
        sandbox,
        createRequest: (req) => req.method === 'POST' && req.path === tokens,
        credential: { apiToken: admin.value },
        options: accountOwned ? { accountId: sandbox.accountId } : {},
        current,
        appKeys: () => appTokens().map(({ id, name }) => ({ id, name })),
        permissionsOf: (id) => {
          const token = sandbox.listTokens().find((t) => t.id === id);
          return token && { policies: token.policies, condition: token.condition };
        },
        accepts: (key) => sandbox.accepts(key.value),
        addOtherKeys(count) {
          for (let i = 0; i < count; i++)
            sandbox.seedToken(
              `other-${i}`,
              [{ effect: 'allow', resources: {}, permission_groups: [{ id: 'x' }] }],
              owner,
            );
        },
        fillToLimit() {
          const quota = accountOwned ? CLOUDFLARE_ACCOUNT_TOKEN_QUOTA : CLOUDFLARE_USER_TOKEN_QUOTA;
          for (let i = appTokens().length + 1; i < quota; i++)
            sandbox.seedToken(
              `filler-${i}`,
              [{ effect: 'allow', resources: {}, permission_groups: [{ id: 'x' }] }],
              owner,
            );
        },
        async use(key) {
          const res = await fetch(new URL('/client/v4/zones', sandbox.url), {
            headers: { authorization: `Bearer ${key.value}` },
          });
          await res.body?.cancel();
        },
        violations: [
          {
            what: 'the legacy X-Auth-Key header where a bearer API token is documented',
            method: 'GET',
            path: tokens,
            headers: { 'x-auth-key': admin.value, 'x-auth-email': 'ops@example.com' },
            status: 401,
            errorShape: cloudflareError,
          },
          {
            what: 'a form body where Cloudflare documents JSON',
            method: 'POST',
            path: tokens,
            headers: { ...bearer, 'content-type': 'application/x-www-form-urlencoded' },
            body: 'name=x',
            status: 400,
            errorShape: cloudflareError,
          },
          {
            what: 'a create without policies',
            method: 'POST',
            path: tokens,
            headers: { ...bearer, 'content-type': 'application/json' },
            body: JSON.stringify({ name: 'x' }),
            status: 400,
            errorShape: cloudflareError,
          },
          {
            what: 'an application token managing tokens',
            method: 'GET',
            path: tokens,
            headers: { authorization: `Bearer ${current.value}` },
            status: 403,
            errorShape: cloudflareError,
          },
        ],
      };
    },
  };
}

providerContract(cloudflareFixture(false));
providerContract(cloudflareFixture(true));
