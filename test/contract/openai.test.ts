import { openai } from '../../lambdas/providers/openai.js';
import { OpenAiSandbox } from '../../local/sandboxes/openai.js';
import type { SeededProvider } from './fixture.js';
import { providerContract } from './suite.js';

const openAiError = (body: unknown): boolean => {
  const error = (body as { error?: Record<string, unknown> })?.error;
  return (
    typeof error?.message === 'string' &&
    typeof error.type === 'string' &&
    'param' in error &&
    'code' in error
  );
};

providerContract({
  provider: openai,
  listPageSize: 100,
  keyIdCheck: 'full',
  async seed(now): Promise<SeededProvider> {
    const sandbox = new OpenAiSandbox({ now });
    await sandbox.start();
    const admin = sandbox.seedAdminKey('rekey-rotator');
    const current = sandbox.seedAdminKey('finops-automation');
    const bearer = { authorization: `Bearer ${admin.value}` };
    return {
      sandbox,
      createRequest: (req) => req.method === 'POST' && req.path === '/v1/organization/admin_api_keys',
      credential: { adminKey: admin.value },
      options: {},
      current,
      appKeys: () =>
        sandbox
          .listKeys()
          .filter((k) => k.id !== admin.id)
          .map(({ id, name }) => ({ id, name })),
      // Admin keys carry their owner's rights; the owner is what a copy must keep.
      permissionsOf: (id) => sandbox.listKeys().find((k) => k.id === id)?.ownerId,
      accepts: (key) => sandbox.accepts(key.value),
      addOtherKeys(count) {
        for (let i = 0; i < count; i++) sandbox.seedAdminKey(`other-${i}`);
      },
      async use(key) {
        const res = await fetch(new URL('/v1/organization/projects?limit=1', sandbox.url), {
          headers: { authorization: `Bearer ${key.value}` },
        });
        await res.body?.cancel();
      },
      violations: [
        {
          what: 'an x-api-key header where OpenAI documents bearer auth',
          method: 'GET',
          path: '/v1/organization/admin_api_keys',
          headers: { 'x-api-key': admin.value },
          status: 401,
          errorShape: openAiError,
        },
        {
          what: 'a form body where OpenAI documents JSON',
          method: 'POST',
          path: '/v1/organization/admin_api_keys',
          headers: { ...bearer, 'content-type': 'application/x-www-form-urlencoded' },
          body: 'name=x',
          status: 400,
          errorShape: openAiError,
        },
        {
          what: 'a create without the required name',
          method: 'POST',
          path: '/v1/organization/admin_api_keys',
          headers: { ...bearer, 'content-type': 'application/json' },
          body: '{}',
          status: 400,
          errorShape: openAiError,
        },
      ],
    };
  },
});

/** Project API keys of service accounts (options.projectId): one service account per key. */
providerContract({
  provider: openai,
  variant: 'project service accounts',
  listPageSize: 100,
  keyIdCheck: 'full',
  async seed(now): Promise<SeededProvider> {
    const sandbox = new OpenAiSandbox({ now });
    await sandbox.start();
    const admin = sandbox.seedAdminKey('rekey-rotator');
    const projectId = sandbox.seedProject('production');
    // Keys the adapter did not make: a project member's own key, an account made without a key.
    sandbox.seedUserProjectKey(projectId, 'alice-laptop');
    const current = sandbox.seedServiceAccount(projectId, 'billing-service');
    const bearer = { authorization: `Bearer ${admin.value}` };
    const accounts = `/v1/organization/projects/${projectId}/service_accounts`;
    return {
      sandbox,
      createRequest: (req) => req.method === 'POST' && req.path === accounts,
      credential: { adminKey: admin.value },
      options: { projectId },
      current: { id: current.id, value: current.value },
      appKeys: () => sandbox.listServiceAccounts(projectId).map(({ id, name }) => ({ id, name })),
      // A service account's key has the account's project role; every account rekey makes is a member.
      permissionsOf: (id) => sandbox.listServiceAccounts(projectId).find((a) => a.id === id)?.role,
      accepts: (key) => sandbox.accepts(key.value),
      addOtherKeys(count) {
        for (let i = 0; i < count; i++) sandbox.seedServiceAccount(projectId, `other-${i}`);
      },
      async use(key) {
        const res = await fetch(new URL('/v1/models', sandbox.url), {
          headers: { authorization: `Bearer ${key.value}` },
        });
        await res.body?.cancel();
      },
      violations: [
        {
          what: 'an x-api-key header where OpenAI documents bearer auth',
          method: 'GET',
          path: accounts,
          headers: { 'x-api-key': admin.value },
          status: 401,
          errorShape: openAiError,
        },
        {
          what: 'a service-account key on the Administration API, which needs an admin key',
          method: 'GET',
          path: accounts,
          headers: { authorization: `Bearer ${current.value}` },
          status: 401,
          errorShape: openAiError,
        },
        {
          what: 'an admin key on a model endpoint (admin keys cannot be used for non-administration endpoints)',
          method: 'GET',
          path: '/v1/models',
          headers: bearer,
          status: 401,
          errorShape: openAiError,
        },
        {
          what: 'a form body where OpenAI documents JSON',
          method: 'POST',
          path: accounts,
          headers: { ...bearer, 'content-type': 'application/x-www-form-urlencoded' },
          body: 'name=x',
          status: 400,
          errorShape: openAiError,
        },
        {
          what: 'a create without the required name',
          method: 'POST',
          path: accounts,
          headers: { ...bearer, 'content-type': 'application/json' },
          body: '{}',
          status: 400,
          errorShape: openAiError,
        },
      ],
    };
  },
});
