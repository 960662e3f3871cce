import {
  CreateSecretCommand,
  PutSecretValueCommand,
  RotateSecretCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { SNSClient } from '@aws-sdk/client-sns';
import { publishAlert } from '../../lambdas/alerts.js';
import { stripe, stripeKeyId } from '../../lambdas/providers/stripe.js';
import type { ProviderDefinition } from '../../lambdas/providers/types.js';
import { runRotationStep } from '../../lambdas/rotation.js';
import type { KeyRoute } from '../../lambdas/routes.js';
import type { ManagedKey } from '../../lambdas/secret-format.js';
import { type Clock, ManualClock } from '../../local/clock.js';
import { INTERNAL_GATEWAY_DESCRIPTION, REHEARSAL_PROVIDERS } from '../../local/rehearsal/providers.js';
import type { AwsIamSandbox } from '../../local/sandboxes/aws-iam.js';
import { CLOUDFLARE_TOKEN_ADMIN_GROUPS, CloudflareSandbox } from '../../local/sandboxes/cloudflare.js';
import type { ProviderSandbox } from '../../local/sandboxes/sandbox.js';
import { StripeSandbox } from '../../local/sandboxes/stripe.js';
import { startLoopbackAws } from './env.js';
import { alertsOn, RotationEnvBase, testRoute } from './rotation-env-base.js';

/**
 * Routing cases (issue 13, item 1): for every provider, each field of the key document that decides which
 * account object rekey touches or where a credential goes, and another value for it. The deployed route
 * says one thing, the stored document another: the rotation must be refused before any provider call.
 */

/** A provider's sandbox, seeded with the rotator credential and the application's current key. */
export interface RoutedSandbox {
  sandbox: ProviderSandbox;
  /** The rotator credential document (stored under two names: the deployed one and another). */
  credential: Record<string, unknown>;
  /** The options the deployment pins (and the honest document repeats). */
  options: Record<string, unknown>;
  current: { id: string; value: string };
  accepts(key: { id: string; value: string }): boolean;
  /** Everything at the provider an auditor would compare before and after: every key, with its owner. */
  keys(): unknown;
}

/** A document option that names another value than the deployment (`undefined`: the document drops it). */
export interface OptionCase {
  option: string;
  /** What the other value is, for the test name ("another IAM user"). */
  what: string;
  value: unknown;
}

export interface RoutedProvider {
  definition: ProviderDefinition;
  /** Scheduled rotation reaches the provider (false for Stripe, whose keys a person makes). */
  automatic: boolean;
  start(clock: Clock): Promise<RoutedSandbox>;
  /** The provider's routing options, each with another value. */
  optionCases: OptionCase[];
}

/** One routing case: how the hostile document differs, the field the refusal names, and the matching deploy. */
export interface RoutingCase {
  provider: RoutedProvider;
  /** "another IAM user": the test name says "a document naming another IAM user". */
  what: string;
  /** The field the RoutingMismatchError names. */
  field: string;
  /** The hostile document, from the honest one. */
  hostile(doc: ManagedKey, env: RoutingEnv): ManagedKey;
  /** The route a deploy of the document's values would pin (routing "off" for this field). */
  deployedAs(route: KeyRoute, env: RoutingEnv): KeyRoute;
}

const OTHER_ACCOUNT = '210987654321';
const OTHER_REGION = 'eu-west-1';

/** Another provider name for the document's `provider` field. */
const otherProvider = (name: string): string => (name === 'sendgrid' ? 'twilio' : 'sendgrid');

/** Every case of one provider: the fields every document has, then its own routing options. */
export function routingCases(provider: RoutedProvider): RoutingCase[] {
  const name = provider.definition.name;
  const universal: RoutingCase[] = [
    {
      provider,
      what: 'another rotator secret (a valid credential under another name)',
      field: 'rotatorSecretArn',
      hostile: (doc, env) => ({ ...doc, rotatorSecretArn: env.otherRotatorArn }),
      deployedAs: (route) => ({ ...route, rotatorSecret: `rekey/rotator/${name}-other` }),
    },
    {
      provider,
      what: 'the rotator secret of the same name in another region',
      field: 'rotatorSecretArn',
      hostile: (doc) => ({
        ...doc,
        rotatorSecretArn: doc.rotatorSecretArn.replace(
          /:secretsmanager:[a-z0-9-]+:/,
          `:secretsmanager:${OTHER_REGION}:`,
        ),
      }),
      deployedAs: (route, env) => ({
        ...route,
        rotatorSecret: env.rotatorArn.replace(
          /:secretsmanager:[a-z0-9-]+:/,
          `:secretsmanager:${OTHER_REGION}:`,
        ),
      }),
    },
    {
      provider,
      what: 'the rotator secret of the same name in another account',
      field: 'rotatorSecretArn',
      hostile: (doc) => ({
        ...doc,
        rotatorSecretArn: doc.rotatorSecretArn.replace(/:\d{12}:/, `:${OTHER_ACCOUNT}:`),
      }),
      deployedAs: (route, env) => ({
        ...route,
        rotatorSecret: env.rotatorArn.replace(/:\d{12}:/, `:${OTHER_ACCOUNT}:`),
      }),
    },
    {
      provider,
      what: `another provider ("${otherProvider(name)}")`,
      field: 'provider',
      hostile: (doc) => ({ ...doc, provider: otherProvider(name) }),
      deployedAs: (route) => ({ ...route, provider: otherProvider(name) }),
    },
  ];
  const options = provider.optionCases.map(
    (c): RoutingCase => ({
      provider,
      what: c.what,
      field: `options.${c.option}`,
      hostile: (doc) => ({ ...doc, options: withOption(doc.options, c.option, c.value) }),
      deployedAs: (route) => ({ ...route, options: withOption(route.options, c.option, c.value) }),
    }),
  );
  return [...universal, ...options];
}

function withOption(options: Record<string, unknown>, name: string, value: unknown): Record<string, unknown> {
  const { [name]: _dropped, ...rest } = options;
  return value === undefined ? rest : { ...rest, [name]: value };
}

/** A rehearsal provider's seeds, with the key its application uses. */
async function fromRehearsal(name: string, clock: Clock): Promise<RoutedSandbox> {
  const rehearsal = await REHEARSAL_PROVIDERS[name]!.start(clock);
  const { options: own, ...current } = rehearsal.seedAppKey('notification-service');
  return {
    sandbox: rehearsal.sandbox,
    credential: rehearsal.credential,
    options: own ?? rehearsal.options,
    current,
    accepts: (key) => rehearsal.accepts(key),
    keys: () => rehearsal.appKeys(),
  };
}

const rehearsed = (
  name: string,
  optionCases: OptionCase[],
  options?: (seeded: RoutedSandbox) => Record<string, unknown>,
): RoutedProvider => ({
  definition: REHEARSAL_PROVIDERS[name]!.definition,
  automatic: true,
  async start(clock) {
    const seeded = await fromRehearsal(name, clock);
    return options ? { ...seeded, options: options(seeded) } : seeded;
  },
  optionCases,
});

const EVIL = 'https://evil.example';
const GATEWAY = INTERNAL_GATEWAY_DESCRIPTION;

/** Every provider rekey ships, with its routing options. */
export const ROUTED_PROVIDERS: RoutedProvider[] = [
  rehearsed(
    'sendgrid',
    [
      { option: 'onBehalfOf', what: 'another subuser (onBehalfOf)', value: 'another-subuser' },
      { option: 'region', what: 'another region (eu)', value: 'eu' },
      {
        option: 'scopes',
        what: 'wider scopes (api_keys.*)',
        value: ['mail.send', 'api_keys.create', 'api_keys.delete'],
      },
    ],
    () => ({ scopes: ['mail.send'], region: 'global' }),
  ),
  rehearsed('twilio', [
    { option: 'accountSid', what: 'another Twilio account', value: `AC${'f'.repeat(32)}` },
  ]),
  rehearsed('datadog', [{ option: 'site', what: 'another Datadog site', value: 'datadoghq.com' }]),
  {
    definition: REHEARSAL_PROVIDERS.cloudflare!.definition,
    automatic: true,
    // Account-owned tokens: the deployment pins which account's tokens rekey manages.
    async start(clock) {
      const sandbox = new CloudflareSandbox(clock);
      await sandbox.start();
      const admin = sandbox.seedToken(
        'rekey-rotator',
        [
          {
            effect: 'allow',
            resources: { 'com.cloudflare.api.user.*': '*' },
            permission_groups: [CLOUDFLARE_TOKEN_ADMIN_GROUPS.account],
          },
        ],
        sandbox.accountId,
      );
      const current = sandbox.seedToken(
        'dns-updater',
        [
          {
            effect: 'allow',
            resources: { 'com.cloudflare.api.account.zone.22b1de5f1c0e4b3ea97bb1e963b06a43': '*' },
            permission_groups: [{ id: 'c8fed203ed3043cba015a93ad1616f1f', name: 'Zone Read' }],
          },
        ],
        sandbox.accountId,
      );
      return {
        sandbox,
        credential: { apiToken: admin.value },
        options: { accountId: sandbox.accountId },
        current,
        accepts: (key) => sandbox.accepts(key.value),
        keys: () => sandbox.listTokens().map(({ id, name }) => ({ id, name })),
      };
    },
    optionCases: [
      { option: 'accountId', what: 'another Cloudflare account', value: 'e'.repeat(32) },
      { option: 'accountId', what: "no account (the rotator user's own tokens)", value: undefined },
    ],
  },
  rehearsed('http', [
    {
      option: 'create',
      what: 'another host in create.path ("//evil.example/…")',
      value: { ...GATEWAY.create, path: '//evil.example/admin/keys' },
    },
    {
      option: 'list',
      what: 'another host in list.path (an absolute URL)',
      value: { ...GATEWAY.list, path: `${EVIL}/admin/keys` },
    },
    {
      option: 'validate',
      what: 'another host in validate.path (where new keys are sent)',
      value: { ...GATEWAY.validate, path: `${EVIL}/v1/whoami` },
    },
    {
      option: 'revoke',
      what: 'another path in revoke.path (another service’s keys)',
      value: { ...GATEWAY.revoke, path: '/admin/other-team/keys/{id}' },
    },
    { option: 'disable', what: 'no disable step (delete without disabling first)', value: undefined },
    {
      option: 'adminAuth',
      what: 'another header for the admin token',
      value: { scheme: 'header', name: 'X-Forwarded-Token' },
    },
    { option: 'baseUrl', what: 'another base URL among the options', value: EVIL },
  ]),
  rehearsed('openai', []),
  {
    definition: stripe,
    automatic: false,
    async start() {
      const sandbox = new StripeSandbox();
      await sandbox.start();
      const value = sandbox.createKeyInDashboard();
      return {
        sandbox,
        credential: {},
        options: {},
        current: { id: stripeKeyId(value), value },
        accepts: (key) => sandbox.accepts(key.value),
        keys: () => sandbox.keyCount(),
      };
    },
    optionCases: [],
  },
  {
    definition: REHEARSAL_PROVIDERS['aws-iam']!.definition,
    automatic: true,
    async start(clock) {
      const seeded = await fromRehearsal('aws-iam', clock);
      // Another IAM user the same rotation role could reach: an administrator with a key of its own.
      (seeded.sandbox as AwsIamSandbox).seedAccessKey('admin-b');
      return { ...seeded, keys: () => (seeded.sandbox as AwsIamSandbox).listKeys() };
    },
    optionCases: [
      { option: 'userName', what: 'another IAM user (admin-b)', value: 'admin-b' },
      { option: 'region', what: `another region (${OTHER_REGION})`, value: OTHER_REGION },
    ],
  },
  rehearsed('api-gateway', [
    { option: 'region', what: `another region (${OTHER_REGION})`, value: OTHER_REGION },
    {
      option: 'validateUrl',
      what: 'another host in validateUrl (where new keys are sent)',
      value: `${EVIL}/prod/health`,
    },
    {
      option: 'validateUrl',
      what: 'another execute-api host in validateUrl',
      value: `https://abcdefghij.execute-api.us-east-1.amazonaws.com/prod/health`,
    },
  ]),
];

/**
 * One managed key of `provider` on loopback, deployed with its route: the rotation function registered as a
 * Lambda, alerts published to SNS, the rotator credential stored twice (the deployed name and another).
 */
export class RoutingEnv extends RotationEnvBase {
  readonly clock = new ManualClock(new Date());
  sns!: SNSClient;
  alertTopicArn!: string;
  seeded!: RoutedSandbox;
  rotatorArn!: string;
  /** The same valid credential under another name: only routing can stop a document naming it. */
  otherRotatorArn!: string;
  /** The document rekey imported: provider, rotator secret and options as deployed. */
  honest!: ManagedKey;

  constructor(
    readonly provider: RoutedProvider,
    readonly secretName = `prod/${provider.definition.name}/api-key`,
  ) {
    super();
  }

  async start(): Promise<this> {
    const name = this.provider.definition.name;
    this.aws = await startLoopbackAws({ clock: this.clock });
    this.sm = new SecretsManagerClient({});
    this.sns = new SNSClient({});
    this.alertTopicArn = this.aws.sns.createTopic('rekey-alerts');
    this.seeded = await this.provider.start(this.clock);
    for (const value of Object.values(this.seeded.credential))
      if (typeof value === 'string') this.secretValues.add(value);
    this.secretValues.add(this.seeded.current.value);
    const credential = JSON.stringify(this.seeded.credential);
    this.rotatorArn = (
      await this.sm.send(new CreateSecretCommand({ Name: `rekey/rotator/${name}`, SecretString: credential }))
    ).ARN!;
    this.otherRotatorArn = (
      await this.sm.send(
        new CreateSecretCommand({ Name: `rekey/rotator/${name}-other`, SecretString: credential }),
      )
    ).ARN!;
    this.honest = {
      provider: name,
      key: this.seeded.current.value,
      keyId: this.seeded.current.id,
      createdAt: '2026-01-01T00:00:00.000Z',
      rotatorSecretArn: this.rotatorArn,
      options: this.seeded.options,
    };
    this.secretArn = (
      await this.sm.send(
        new CreateSecretCommand({ Name: this.secretName, SecretString: JSON.stringify(this.honest) }),
      )
    ).ARN!;
    this.redeploy(testRoute(this.secretName, name, { options: this.seeded.options }));
    this.lambdaArn = this.aws.lambdas.register(`rekey-rotate-${name}`, (event) =>
      runRotationStep(event, {
        secretsManager: this.sm,
        logger: this.logger,
        provider: this.provider.definition,
        routes: this.routes,
        endpoint: this.seeded.sandbox.url,
        http: { timeoutMs: 2000, retry: { attempts: 2, baseDelayMs: 1, maxDelayMs: 5 } },
        now: () => this.clock.now(),
        alert: (alert) => publishAlert(this.sns, this.alertTopicArn, alert, this.logger),
      }),
    );
    // As the deployed stack leaves it: a rotation function attached, no rotation running.
    await this.sm.send(
      new RotateSecretCommand({
        SecretId: this.secretArn,
        RotationLambdaARN: this.lambdaArn,
        RotateImmediately: false,
      }),
    );
    return this;
  }

  /** Writes `doc` as the new AWSCURRENT, as whoever may PutSecretValue on the key's secret can. */
  async writeDocument(doc: ManagedKey): Promise<string> {
    const out = await this.sm.send(
      new PutSecretValueCommand({ SecretId: this.secretArn, SecretString: JSON.stringify(doc) }),
    );
    return out.VersionId!;
  }

  /** The route deployed for this key. */
  route(): KeyRoute {
    return this.routes.find(this.secretName)!;
  }

  alerts(): Array<{ subject: string | undefined; message: Record<string, unknown> }> {
    return alertsOn(this.aws, this.alertTopicArn);
  }

  async stop(): Promise<void> {
    this.sm?.destroy();
    this.sns?.destroy();
    await this.aws?.stop();
    await this.seeded?.sandbox.stop();
  }

  protected issuedSecrets(): string[] {
    return this.seeded.sandbox.issuedSecrets();
  }
}
