import { twilio } from '../../lambdas/providers/twilio.js';
import { TwilioSandbox } from '../../local/sandboxes/twilio.js';
import type { SeededProvider } from './fixture.js';
import { providerContract } from './suite.js';

const APP_POLICY = { allow: ['/twilio/messaging/messages/create'] };
const twilioError = (body: unknown): boolean => {
  const b = body as { code?: unknown; message?: unknown; more_info?: unknown; status?: unknown };
  return (
    typeof b?.code === 'number' &&
    typeof b.message === 'string' &&
    typeof b.more_info === 'string' &&
    typeof b.status === 'number'
  );
};
const basic = (user: string, password: string) =>
  `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

providerContract({
  provider: twilio,
  listPageSize: 1000,
  keyIdCheck: 'full',
  async seed(now): Promise<SeededProvider> {
    const sandbox = new TwilioSandbox({ now });
    await sandbox.start();
    const admin = sandbox.seedKey('rekey-rotator', 'main');
    const standard = sandbox.seedKey('reporting', 'standard');
    const current = sandbox.seedKey('notification-service', 'restricted', APP_POLICY);
    const adminAuth = basic(admin.id, admin.value);
    return {
      sandbox,
      createRequest: (req) => req.method === 'POST' && req.path === '/v1/Keys',
      credential: { sid: admin.id, secret: admin.value },
      options: { accountSid: sandbox.accountSid },
      current,
      appKeys: () =>
        sandbox
          .listKeys()
          .filter((k) => k.id !== admin.id && k.id !== standard.id)
          .map(({ id, name }) => ({ id, name })),
      permissionsOf: (id) => {
        const key = sandbox.listKeys().find((k) => k.id === id);
        return key && { type: key.type, policy: key.policy };
      },
      accepts: (key) => sandbox.accepts(key.id, key.value),
      addOtherKeys(count) {
        for (let i = 0; i < count; i++) sandbox.seedKey(`other-${i}`, 'standard');
      },
      violations: [
        {
          what: 'bearer auth where Twilio documents basic auth',
          method: 'GET',
          path: `/v1/Keys?AccountSid=${sandbox.accountSid}`,
          headers: { authorization: `Bearer ${admin.value}` },
          status: 401,
          errorShape: twilioError,
        },
        {
          what: 'a JSON body where Twilio documents a form (its parameters are not read)',
          method: 'POST',
          path: '/v1/Keys',
          headers: { authorization: adminAuth, 'content-type': 'application/json' },
          body: JSON.stringify({ AccountSid: sandbox.accountSid, FriendlyName: 'x' }),
          status: 400,
          errorShape: twilioError,
        },
        {
          what: 'a create without the required AccountSid',
          method: 'POST',
          path: '/v1/Keys',
          headers: { authorization: adminAuth, 'content-type': 'application/x-www-form-urlencoded' },
          body: 'FriendlyName=x',
          status: 400,
          errorShape: twilioError,
        },
        {
          what: 'a standard key managing keys (only the auth token or a Main key may)',
          method: 'POST',
          path: '/v1/Keys',
          headers: {
            authorization: basic(standard.id, standard.value),
            'content-type': 'application/x-www-form-urlencoded',
          },
          body: `AccountSid=${sandbox.accountSid}&FriendlyName=x`,
          status: 401,
          errorShape: twilioError,
        },
      ],
    };
  },
});
