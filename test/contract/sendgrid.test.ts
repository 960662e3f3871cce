import { SENDGRID_MAX_KEYS, sendgrid } from '../../lambdas/providers/sendgrid.js';
import { SendGridSandbox } from '../../local/sandboxes/sendgrid.js';
import type { SeededProvider } from './fixture.js';
import { providerContract } from './suite.js';

const APP_SCOPES = ['mail.send'];
const sendGridError = (body: unknown): boolean =>
  Array.isArray((body as { errors?: unknown })?.errors) &&
  (body as { errors: Array<{ message?: unknown }> }).errors.every((e) => typeof e.message === 'string');

providerContract({
  provider: sendgrid,
  keyLimit: SENDGRID_MAX_KEYS,
  keyIdCheck: 'existence',
  async seed(): Promise<SeededProvider> {
    const sandbox = new SendGridSandbox();
    await sandbox.start();
    const admin = sandbox.seedKey('rekey-rotator');
    const current = sandbox.seedKey('notification-service', APP_SCOPES);
    const bearer = { authorization: `Bearer ${admin.value}` };
    return {
      sandbox,
      createRequest: (req) => req.method === 'POST' && req.path === '/v3/api_keys',
      credential: { apiKey: admin.value },
      options: {},
      current,
      appKeys: () =>
        sandbox
          .listKeys()
          .filter((k) => k.id !== admin.id)
          .map(({ id, name }) => ({ id, name })),
      permissionsOf: (id) => sandbox.listKeys().find((k) => k.id === id)?.scopes,
      accepts: (key) => sandbox.accepts(key.value),
      fillToLimit() {
        for (let i = sandbox.listKeys().length; i < SENDGRID_MAX_KEYS; i++)
          sandbox.seedKey(`filler-${i}`, APP_SCOPES);
      },
      violations: [
        {
          what: 'basic auth where SendGrid documents a bearer API key',
          method: 'GET',
          path: '/v3/api_keys',
          headers: { authorization: `Basic ${Buffer.from(`apikey:${admin.value}`).toString('base64')}` },
          status: 401,
          errorShape: sendGridError,
        },
        {
          what: 'a form body where SendGrid documents JSON',
          method: 'POST',
          path: '/v3/api_keys',
          headers: { ...bearer, 'content-type': 'application/x-www-form-urlencoded' },
          body: 'name=x',
          status: 415,
          errorShape: sendGridError,
        },
        {
          what: 'a create without the required name',
          method: 'POST',
          path: '/v3/api_keys',
          headers: { ...bearer, 'content-type': 'application/json' },
          body: JSON.stringify({ scopes: APP_SCOPES }),
          status: 400,
          errorShape: sendGridError,
        },
      ],
    };
  },
});
