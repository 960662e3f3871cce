import { DATADOG_MAX_KEYS, datadog } from '../../lambdas/providers/datadog.js';
import { DatadogSandbox } from '../../local/sandboxes/datadog.js';
import type { SeededProvider } from './fixture.js';
import { providerContract } from './suite.js';

const datadogError = (body: unknown): boolean => {
  const errors = (body as { errors?: unknown })?.errors;
  return Array.isArray(errors) && errors.length > 0 && errors.every((e) => typeof e === 'string');
};

providerContract({
  provider: datadog,
  keyLimit: DATADOG_MAX_KEYS,
  keyIdCheck: 'full',
  async seed(now): Promise<SeededProvider> {
    const sandbox = new DatadogSandbox({ now });
    await sandbox.start();
    const admin = sandbox.seedApiKey('rekey-rotator');
    const applicationKey = sandbox.seedApplicationKey();
    const current = sandbox.seedApiKey('checkout-service', true);
    const adminHeaders = { 'dd-api-key': admin.value, 'dd-application-key': applicationKey };
    return {
      sandbox,
      createRequest: (req) => req.method === 'POST' && req.path === '/api/v2/api_keys',
      credential: { apiKey: admin.value, applicationKey },
      options: { site: 'datadoghq.eu' },
      current,
      appKeys: () =>
        sandbox
          .listKeys()
          .filter((k) => k.id !== admin.id)
          .map(({ id, name }) => ({ id, name })),
      permissionsOf: (id) => sandbox.listKeys().find((k) => k.id === id)?.remoteConfigReadEnabled,
      accepts: (key) => sandbox.accepts(key.value),
      fillToLimit() {
        for (let i = sandbox.listKeys().length; i < DATADOG_MAX_KEYS; i++) sandbox.seedApiKey(`filler-${i}`);
      },
      async use(key) {
        const res = await fetch(new URL('/api/v2/series', sandbox.url), {
          method: 'POST',
          headers: { 'dd-api-key': key.value, 'content-type': 'application/json' },
          body: JSON.stringify({ series: [] }),
        });
        await res.body?.cancel();
      },
      violations: [
        {
          what: 'a bearer token where Datadog documents DD-API-KEY and DD-APPLICATION-KEY headers',
          method: 'GET',
          path: '/api/v2/api_keys',
          headers: { authorization: `Bearer ${admin.value}` },
          status: 403,
          errorShape: datadogError,
        },
        {
          what: 'key management without the application key',
          method: 'GET',
          path: '/api/v2/api_keys',
          headers: { 'dd-api-key': admin.value },
          status: 403,
          errorShape: datadogError,
        },
        {
          what: 'a form body where Datadog documents JSON',
          method: 'POST',
          path: '/api/v2/api_keys',
          headers: { ...adminHeaders, 'content-type': 'application/x-www-form-urlencoded' },
          body: 'name=x',
          status: 415,
          errorShape: datadogError,
        },
        {
          what: 'a flat body where Datadog documents {data: {type: "api_keys", attributes}}',
          method: 'POST',
          path: '/api/v2/api_keys',
          headers: { ...adminHeaders, 'content-type': 'application/json' },
          body: JSON.stringify({ name: 'x' }),
          status: 400,
          errorShape: datadogError,
        },
        {
          what: 'a create without the required name',
          method: 'POST',
          path: '/api/v2/api_keys',
          headers: { ...adminHeaders, 'content-type': 'application/json' },
          body: JSON.stringify({ data: { type: 'api_keys', attributes: {} } }),
          status: 400,
          errorShape: datadogError,
        },
      ],
    };
  },
});
