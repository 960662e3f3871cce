import { apiGateway } from '../../lambdas/providers/api-gateway.js';
import { awsIam } from '../../lambdas/providers/aws-iam.js';
import { cloudflare } from '../../lambdas/providers/cloudflare.js';
import { datadog } from '../../lambdas/providers/datadog.js';
import { http } from '../../lambdas/providers/generic-http.js';
import { openai } from '../../lambdas/providers/openai.js';
import { sendgrid } from '../../lambdas/providers/sendgrid.js';
import { twilio } from '../../lambdas/providers/twilio.js';
import type { ProviderDefinition } from '../../lambdas/providers/types.js';
import type { Clock } from '../clock.js';
import { ApiGatewaySandbox } from '../sandboxes/api-gateway.js';
import { AwsIamSandbox } from '../sandboxes/aws-iam.js';
import {
  CLOUDFLARE_TOKEN_ADMIN_GROUPS,
  CLOUDFLARE_USER_TOKEN_QUOTA,
  CloudflareSandbox,
} from '../sandboxes/cloudflare.js';
import { DATADOG_MAX_API_KEYS, DatadogSandbox } from '../sandboxes/datadog.js';
import { HttpKeysSandbox } from '../sandboxes/http-keys.js';
import { OpenAiSandbox } from '../sandboxes/openai.js';
import type { ProviderSandbox, SandboxRequest } from '../sandboxes/sandbox.js';
import { SendGridSandbox } from '../sandboxes/sendgrid.js';
import { signedHeaders, sigV4Scope } from '../sandboxes/sigv4.js';
import { TwilioSandbox } from '../sandboxes/twilio.js';

/** SendGrid's cap on API keys per account (its API reference, "Create API keys"; local/sandboxes/sendgrid.ts). */
const SENDGRID_MAX_API_KEYS = 100;

/** A key as the rehearsal's fleet and invariant monitors use it. */
export interface RehearsalKey {
  id: string;
  value: string;
}

/** What the rehearsal uses of a sandbox's server: its endpoint, faults, and every secret value it issued. */
export type RehearsalSandboxServer = Pick<
  ProviderSandbox,
  'url' | 'stop' | 'issuedSecrets' | 'injectFault' | 'clearFaults' | 'keepRequests'
>;

/** A provider's sandbox as the rehearsal drives it: seeds, the app's call, and what an auditor would see. */
export interface RehearsalSandbox<Server extends RehearsalSandboxServer = RehearsalSandboxServer> {
  readonly sandbox: Server;
  /** The rotator credential document. */
  readonly credential: Record<string, unknown>;
  /** The key document's `options` for keys of this provider. */
  readonly options: Record<string, unknown>;
  /**
   * Creates the key an application uses before rekey manages it, with the key's own `options` where they
   * differ per key (an IAM access key belongs to its own user).
   */
  seedAppKey(
    name: string,
  ): RehearsalKey & { options?: Record<string, unknown>; credential?: Record<string, unknown> };
  accepts(key: RehearsalKey): boolean;
  /** Every key at the provider except the rotator's credential, with its name (rekey names the keys it makes). */
  appKeys(): Array<{ id: string; name: string | undefined }>;
  /** Whether a request is the key-management API's create call (where a lost answer hides a new key). */
  isCreate(req: SandboxRequest): boolean;
  /** The authenticated call an application makes with a key; the HTTP status. */
  appCall(key: RehearsalKey): Promise<number>;
  /** Deletes a key out of band (a key that "went bad"). */
  breakKey(keyId: string): void;
  /** Makes the key-management API answer 503 (true) or work again (false); app calls keep working. */
  failKeyManagement(down: boolean): void;
  /** Makes the next key validation (testSecret's call) in the account holding `keyId` answer 401. */
  failNextValidation(keyId: string): void;
}

export interface RehearsalProvider {
  definition: ProviderDefinition;
  /** Starts the sandbox on the world's clock (last-used stamps must compare with promotion times). */
  start(clock: Clock): Promise<RehearsalSandbox<ProviderSandbox>>;
  /**
   * Managed keys one account can hold, where the provider caps keys per account: the cap less the rotator's
   * own key, halved, as each managed key holds two provider keys during its grace period.
   */
  keysPerAccount?: number;
}

const sendgridRehearsal: RehearsalProvider = {
  definition: sendgrid,
  // SendGrid: 100 API keys per account, the rotator's admin key among them.
  keysPerAccount: Math.floor((SENDGRID_MAX_API_KEYS - 1) / 2),
  async start() {
    const sandbox = new SendGridSandbox();
    await sandbox.start();
    const admin = sandbox.seedKey('rekey-rotator');
    return {
      sandbox,
      credential: { apiKey: admin.value },
      options: {},
      seedAppKey: (name) => sandbox.seedKey(name, ['mail.send']),
      accepts: (key) => sandbox.accepts(key.value),
      appKeys: () =>
        sandbox
          .listKeys()
          .filter((k) => k.id !== admin.id)
          .map(({ id, name }) => ({ id, name })),
      appCall: (key) =>
        appStatus(new URL('/v3/mail/send', sandbox.url), {
          method: 'POST',
          headers: { authorization: `Bearer ${key.value}`, 'content-type': 'application/json' },
          body: '{}',
        }),
      isCreate: (req) => req.method === 'POST' && req.path === '/v3/api_keys',
      breakKey: (keyId) => sandbox.deleteKey(keyId),
      failKeyManagement: keyManagementFault(sandbox, (req) => req.path.startsWith('/v3/api_keys')),
      failNextValidation: () => sandbox.rejectNextValidation(),
    };
  },
};

/** Faults on a sandbox's key-management calls: 503 for every matching request while down. */
function keyManagementFault(sandbox: ProviderSandbox, match: (req: SandboxRequest) => boolean) {
  return (down: boolean) => {
    if (down) sandbox.injectFault({ status: 503, times: Number.MAX_SAFE_INTEGER, match });
    else sandbox.clearFaults();
  };
}

async function appStatus(url: URL, init: RequestInit): Promise<number> {
  const res = await fetch(url, init);
  await res.arrayBuffer();
  return res.status;
}

const twilioRehearsal: RehearsalProvider = {
  definition: twilio,
  async start(clock) {
    const sandbox = new TwilioSandbox(clock);
    await sandbox.start();
    const admin = sandbox.seedKey('rekey-rotator', 'main');
    const basic = (key: RehearsalKey) => `Basic ${Buffer.from(`${key.id}:${key.value}`).toString('base64')}`;
    return {
      sandbox,
      credential: { sid: admin.id, secret: admin.value },
      options: { accountSid: sandbox.accountSid },
      seedAppKey: (name) =>
        sandbox.seedKey(name, 'restricted', { allow: ['/twilio/messaging/messages/create'] }),
      accepts: (key) => sandbox.accepts(key.id, key.value),
      appKeys: () =>
        sandbox
          .listKeys()
          .filter((k) => k.id !== admin.id)
          .map(({ id, name }) => ({ id, name })),
      appCall: (key) =>
        appStatus(new URL(`/2010-04-01/Accounts/${sandbox.accountSid}/Messages.json`, sandbox.url), {
          method: 'POST',
          headers: { authorization: basic(key), 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({ To: '+15005550006', Body: 'rekey rehearsal' }).toString(),
        }),
      isCreate: (req) => req.method === 'POST' && req.path === '/v1/Keys',
      breakKey: (keyId) => sandbox.deleteKey(keyId),
      failKeyManagement: keyManagementFault(sandbox, (req) => req.path.startsWith('/v1/Keys')),
      failNextValidation: () =>
        sandbox.injectFault({ status: 401, times: 1, match: (req) => req.path.endsWith('/Balance.json') }),
    };
  },
};

const datadogRehearsal: RehearsalProvider = {
  definition: datadog,
  // Datadog: 50 API keys per organization, the rotator's among them.
  keysPerAccount: Math.floor((DATADOG_MAX_API_KEYS - 1) / 2),
  async start(clock) {
    const sandbox = new DatadogSandbox(clock);
    await sandbox.start();
    const admin = sandbox.seedApiKey('rekey-rotator');
    const applicationKey = sandbox.seedApplicationKey();
    return {
      sandbox,
      credential: { apiKey: admin.value, applicationKey },
      options: { site: 'datadoghq.eu' },
      seedAppKey: (name) => sandbox.seedApiKey(name),
      accepts: (key) => sandbox.accepts(key.value),
      appKeys: () =>
        sandbox
          .listKeys()
          .filter((k) => k.id !== admin.id)
          .map(({ id, name }) => ({ id, name })),
      appCall: (key) =>
        appStatus(new URL('/api/v2/series', sandbox.url), {
          method: 'POST',
          headers: { 'dd-api-key': key.value, 'content-type': 'application/json' },
          body: JSON.stringify({ series: [] }),
        }),
      isCreate: (req) => req.method === 'POST' && req.path === '/api/v2/api_keys',
      breakKey: (keyId) => sandbox.deleteKey(keyId),
      failKeyManagement: keyManagementFault(sandbox, (req) => req.path.startsWith('/api/v2/api_keys')),
      failNextValidation: () =>
        sandbox.injectFault({ status: 403, times: 1, match: (req) => req.path === '/api/v1/validate' }),
    };
  },
};

const cloudflareRehearsal: RehearsalProvider = {
  definition: cloudflare,
  // Cloudflare: 50 user tokens per user, the rotator's among them.
  keysPerAccount: Math.floor((CLOUDFLARE_USER_TOKEN_QUOTA - 1) / 2),
  async start(clock) {
    const sandbox = new CloudflareSandbox(clock);
    await sandbox.start();
    const admin = sandbox.seedToken('rekey-rotator', [
      {
        effect: 'allow',
        resources: { 'com.cloudflare.api.user.*': '*' },
        permission_groups: [CLOUDFLARE_TOKEN_ADMIN_GROUPS.user],
      },
    ]);
    return {
      sandbox,
      credential: { apiToken: admin.value },
      options: {},
      seedAppKey: (name) =>
        sandbox.seedToken(name, [
          {
            effect: 'allow',
            resources: { 'com.cloudflare.api.account.zone.22b1de5f1c0e4b3ea97bb1e963b06a43': '*' },
            permission_groups: [{ id: 'c8fed203ed3043cba015a93ad1616f1f', name: 'Zone Read' }],
          },
        ]),
      accepts: (key) => sandbox.accepts(key.value),
      appKeys: () =>
        sandbox
          .listTokens()
          .filter((t) => t.id !== admin.id)
          .map(({ id, name }) => ({ id, name })),
      appCall: (key) =>
        appStatus(new URL('/client/v4/zones', sandbox.url), {
          headers: { authorization: `Bearer ${key.value}` },
        }),
      isCreate: (req) => req.method === 'POST' && req.path === '/client/v4/user/tokens',
      breakKey: (keyId) => sandbox.deleteKey(keyId),
      failKeyManagement: keyManagementFault(
        sandbox,
        (req) => req.path.startsWith('/client/v4/user/tokens') && !req.path.endsWith('/verify'),
      ),
      failNextValidation: () =>
        sandbox.injectFault({ status: 401, times: 1, match: (req) => req.path.endsWith('/tokens/verify') }),
    };
  },
};

const openaiRehearsal: RehearsalProvider = {
  definition: openai,
  async start(clock) {
    const sandbox = new OpenAiSandbox(clock);
    await sandbox.start();
    const admin = sandbox.seedAdminKey('rekey-rotator');
    // The adapter validates with `GET …/admin_api_keys?limit=1`; everything else there is key management.
    const isValidation = (req: SandboxRequest) => req.method === 'GET' && req.query.get('limit') === '1';
    return {
      sandbox,
      credential: { adminKey: admin.value },
      options: {},
      seedAppKey: (name) => sandbox.seedAdminKey(name),
      accepts: (key) => sandbox.accepts(key.value),
      appKeys: () =>
        sandbox
          .listKeys()
          .filter((k) => k.id !== admin.id)
          .map(({ id, name }) => ({ id, name })),
      appCall: (key) =>
        appStatus(new URL('/v1/organization/projects?limit=1', sandbox.url), {
          headers: { authorization: `Bearer ${key.value}` },
        }),
      isCreate: (req) => req.method === 'POST' && req.path === '/v1/organization/admin_api_keys',
      breakKey: (keyId) => sandbox.deleteKey(keyId),
      failKeyManagement: keyManagementFault(
        sandbox,
        (req) => req.path.startsWith('/v1/organization/admin_api_keys') && !isValidation(req),
      ),
      failNextValidation: () =>
        sandbox.injectFault({
          status: 401,
          times: 1,
          match: (req) => req.path === '/v1/organization/admin_api_keys' && isValidation(req),
        }),
    };
  },
};

const awsIamRehearsal: RehearsalProvider = {
  definition: awsIam,
  async start(clock) {
    const sandbox = new AwsIamSandbox(clock);
    await sandbox.start();
    const admin = sandbox.seedAdmin();
    const service = (name: string) => (req: SandboxRequest) => sigV4Scope(req)?.service === name;
    return {
      sandbox,
      credential: admin,
      options: { region: 'us-east-1' },
      // IAM allows two access keys per user, so every application key gets a user of its own.
      seedAppKey: (name) => ({
        ...sandbox.seedAccessKey(name),
        options: { userName: name, region: 'us-east-1' },
      }),
      accepts: (key) => sandbox.accepts(key.id, key.value),
      appKeys: () => sandbox.listKeys().map(({ id, name }) => ({ id, name })),
      // An application API behind IAM authorization, signed with the key (STS is rekey's validation).
      appCall(key) {
        const url = `${sandbox.url}/prod/orders`;
        return appStatus(new URL(url), {
          headers: signedHeaders({
            method: 'GET',
            url,
            accessKeyId: key.id,
            secretAccessKey: key.value,
            region: 'us-east-1',
            service: 'execute-api',
          }),
        });
      },
      isCreate: (req) =>
        service('iam')(req) && new URLSearchParams(req.body).get('Action') === 'CreateAccessKey',
      breakKey: (keyId) => sandbox.deleteKey(keyId),
      failKeyManagement: keyManagementFault(sandbox, service('iam')),
      failNextValidation: () => sandbox.injectFault({ status: 403, times: 1, match: service('sts') }),
    };
  },
};

const apiGatewayRehearsal: RehearsalProvider = {
  definition: apiGateway,
  async start(clock) {
    const sandbox = new ApiGatewaySandbox(clock);
    await sandbox.start();
    const admin = sandbox.seedAdmin();
    const plan = sandbox.seedUsagePlan('partners');
    const health = `/${sandbox.stage}/health`;
    return {
      sandbox,
      credential: admin,
      options: { region: sandbox.region, validateUrl: `${sandbox.url}${health}` },
      seedAppKey: (name) => sandbox.seedKey(name, { usagePlanIds: [plan] }),
      accepts: (key) => sandbox.accepts(key.id, key.value),
      appKeys: () => sandbox.listKeys().map(({ id, name }) => ({ id, name })),
      appCall: (key) =>
        appStatus(new URL(`/${sandbox.stage}/orders`, sandbox.url), { headers: { 'x-api-key': key.value } }),
      isCreate: (req) => req.method === 'POST' && req.path === '/apikeys',
      breakKey: (keyId) => sandbox.deleteKey(keyId),
      failKeyManagement: keyManagementFault(sandbox, (req) => /^\/(apikeys|usageplans)(\/|$)/.test(req.path)),
      failNextValidation: () =>
        sandbox.injectFault({ status: 403, times: 1, match: (req) => req.path === health }),
    };
  },
};

/** The guide's internal gateway, described to the generic HTTP provider as an inventory would. */
export const INTERNAL_GATEWAY_DESCRIPTION = {
  description: 'gateway.internal',
  adminAuth: { scheme: 'bearer' },
  create: {
    path: '/admin/keys',
    body: { name: '{name}', copy_from: '{likeKeyId}' },
    idPointer: '/key/id',
    valuePointer: '/secret',
  },
  list: { path: '/admin/keys', itemsPointer: '/items', idPointer: '/id', namePointer: '/name' },
  validate: { path: '/v1/whoami', keyAuth: { scheme: 'header', name: 'X-Api-Key' } },
  revoke: { path: '/admin/keys/{id}' },
  disable: { path: '/admin/keys/{id}/disable' },
};

const httpRehearsal: RehearsalProvider = {
  definition: http,
  async start() {
    const sandbox = new HttpKeysSandbox({ requireDisableBeforeDelete: true });
    await sandbox.start();
    return {
      sandbox,
      credential: { baseUrl: 'https://gateway.internal', token: sandbox.adminToken },
      options: INTERNAL_GATEWAY_DESCRIPTION,
      seedAppKey: (name) => sandbox.seedKey(name, ['orders:read']),
      accepts: (key) => sandbox.accepts(key.value),
      appKeys: () => sandbox.listKeys().map(({ id, name }) => ({ id, name })),
      // The apps' own call; `/v1/whoami` is the validation the description names.
      appCall: (key) =>
        appStatus(new URL('/v1/orders', sandbox.url), { headers: { 'x-api-key': key.value } }),
      isCreate: (req) => req.method === 'POST' && req.path === '/admin/keys',
      breakKey: (keyId) => sandbox.deleteKey(keyId),
      failKeyManagement: keyManagementFault(sandbox, (req) => req.path.startsWith('/admin/keys')),
      failNextValidation: () =>
        sandbox.injectFault({ status: 401, times: 1, match: (req) => req.path === '/v1/whoami' }),
    };
  },
};

/** Providers the rehearsal can rotate, by adapter name: every provider rekey rotates automatically. */
export const REHEARSAL_PROVIDERS: Record<string, RehearsalProvider> = {
  sendgrid: sendgridRehearsal,
  twilio: twilioRehearsal,
  datadog: datadogRehearsal,
  cloudflare: cloudflareRehearsal,
  openai: openaiRehearsal,
  'aws-iam': awsIamRehearsal,
  'api-gateway': apiGatewayRehearsal,
  http: httpRehearsal,
};
