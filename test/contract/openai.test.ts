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
