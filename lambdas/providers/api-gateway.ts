import {
  APIGatewayClient,
  CreateApiKeyCommand,
  CreateUsagePlanKeyCommand,
  DeleteApiKeyCommand,
  GetApiKeyCommand,
  type GetApiKeyCommandOutput,
  GetApiKeysCommand,
  GetUsagePlansCommand,
  UpdateApiKeyCommand,
  type UsagePlan,
} from '@aws-sdk/client-api-gateway';
import * as z from 'zod/mini';
import {
  InvalidInputError,
  ProviderBadResponseError,
  ProviderRateLimitedError,
  ProviderRejectedError,
  ProviderUnavailableError,
} from '../errors.js';
import { DEFAULT_RETRY_POLICY, sleep, withRetry } from '../retry.js';
import {
  type AwsCallOptions,
  type AwsCredential,
  AwsCredentialSchema,
  awsCall,
  awsClientConfig,
  awsErrorName,
  awsFailure,
  explicitCredentials,
} from './aws-api.js';
import { retryAfterMs } from './http.js';
import type { ProviderClient, ProviderDefinition } from './types.js';

/**
 * Amazon API Gateway (REST APIs) API keys, through the AWS SDK. A key authenticates as header `x-api-key`,
 * and API Gateway honours it only on the API stages of the usage plans it is attached to, so the key's
 * "permissions" are its usage plans: a new key is attached to every plan of the key it replaces.
 *
 * Crash safety rests on the order of createKey: the key is created DISABLED, attached to its plans, and
 * only then enabled. An enabled key is therefore complete; a disabled one is a half-built attempt
 * (findKeysByName withholds its value so the rotation core revokes and replaces it).
 */
const PROVIDER = 'Amazon API Gateway';

/** API keys per account per Region ("Quotas for configuring and running a REST API in API Gateway"; not increasable). */
export const API_GATEWAY_KEY_QUOTA = 10_000;

/** The largest page GetApiKeys and GetUsagePlans return (default 25, maximum 500). */
const PAGE_LIMIT = 500;

/**
 * Client-side pacing of control-plane mutations. AWS documents fixed, non-increasable per-account rates
 * ("Amazon API Gateway quotas", docs.aws.amazon.com/apigateway/latest/developerguide/limits.html):
 * CreateApiKey and DeleteApiKey 5 requests per second per account; every other operation (UpdateApiKey,
 * CreateUsagePlanKey) only within the total of 10 requests per second with a burst of 40. Pacing this
 * client's mutations at 4 per second with a burst of 4 keeps one rotation under all of them, with room to
 * spare: calls paced at exactly 5 reach API Gateway with the network's jitter (the first one slower, while
 * the client warms up), so the later ones arrive closer together than they were sent and one in a few was
 * refused (the sandbox, which enforces the quotas, showed it). Other callers sharing the account can still
 * cause a 429 TooManyRequestsException, which awsCall retries honouring Retry-After.
 */
export const MUTATIONS_PER_SECOND = 4;
export const MUTATION_BURST = 4;

/** A token bucket (GCRA) that reserves a slot per call, so waits add up even when `wait` is simulated. */
class MutationPacer {
  private readonly intervalMs = 1000 / MUTATIONS_PER_SECOND;
  private theoreticalArrival = 0;

  constructor(
    private readonly wait: (ms: number) => Promise<void>,
    private readonly clock: () => Date,
  ) {}

  async take(): Promise<void> {
    const now = this.clock().getTime();
    const arrival = Math.max(now, this.theoreticalArrival);
    const delay = Math.ceil(arrival - (MUTATION_BURST - 1) * this.intervalMs - now);
    this.theoreticalArrival = arrival + this.intervalMs;
    if (delay > 0) await this.wait(delay);
  }
}

const OptionsSchema = z.strictObject({
  /** The Region of the REST API and its keys, e.g. eu-west-1. */
  region: z.string().check(z.regex(/^[a-z]{2}(-[a-z]+)+-\d+$/, 'must be an AWS Region such as eu-west-1')),
  /**
   * A cheap GET on the protected API that requires an API key, e.g.
   * https://abc1234567.execute-api.eu-west-1.amazonaws.com/prod/health. Without it a key is checked on the
   * control plane only. Where it may point is checked before each use (see stageUrlRefusal).
   */
  validateUrl: z.optional(z.url({ protocol: /^https?$/ })),
});

/**
 * Why `validateUrl` may not receive a key (undefined when it may). The URL comes from the key's secret, so
 * whoever can write that secret chooses it: it must name an origin the deployer configured or one that
 * belongs to this account. Allowed are the configured endpoint's origin (the sandbox) and the default
 * `https://<apiId>.execute-api.<region>.amazonaws.com` host of a REST API in `accountApiIds` (the APIs of
 * this account's usage plans in the key's Region; a usage plan cannot name another account's API). An
 * execute-api host alone is not enough (anyone can create an API there), and custom domain names, which
 * could point anywhere, are refused.
 */
async function stageUrlRefusal(
  url: URL,
  region: string,
  endpoint: string | undefined,
  accountApiIds: () => Promise<ReadonlySet<string>>,
): Promise<string | undefined> {
  if (url.username !== '' || url.password !== '') return 'it carries "@" userinfo';
  if (endpoint !== undefined && url.origin === new URL(endpoint).origin) return undefined;
  const suffix = `.execute-api.${region}.${region.startsWith('cn-') ? 'amazonaws.com.cn' : 'amazonaws.com'}`;
  const apiId = url.hostname.endsWith(suffix) ? url.hostname.slice(0, -suffix.length) : '';
  if (url.protocol !== 'https:' || url.port !== '' || !/^[a-z0-9]+$/.test(apiId))
    return `it is not an https://<apiId>${suffix} URL${endpoint === undefined ? '' : ' nor on the configured endpoint'}`;
  if (!(await accountApiIds()).has(apiId))
    return `REST API ${apiId} is in none of this account's usage plans in ${region}`;
  return undefined;
}

const PermissionsSchema = z.array(z.string().check(z.minLength(1)));

const REQUIRED_ACTIONS =
  'the rotation role needs apigateway:GET on arn:aws:apigateway:<region>::/apikeys, /apikeys/*, /usageplans ' +
  'and /usageplans/*/keys; apigateway:POST on /apikeys and /usageplans/*/keys; apigateway:PATCH and ' +
  'apigateway:DELETE on /apikeys/*.';

const BAD_CREDENTIAL = new Set([
  'UnrecognizedClientException',
  'InvalidSignatureException',
  'IncompleteSignatureException',
  'MissingAuthenticationTokenException',
  'InvalidClientTokenId',
  'SignatureDoesNotMatch',
  'ExpiredTokenException',
]);

export const apiGateway: ProviderDefinition<AwsCredential, z.infer<typeof OptionsSchema>> = {
  name: 'api-gateway',
  displayName: PROVIDER,
  capabilities: {
    dualKey: true,
    maxActiveKeys: API_GATEWAY_KEY_QUOTA,
    lastUsed: false,
    valueReadable: true,
  },
  // API Gateway accepts names up to 1024 characters; rekey's derived names need far fewer.
  maxKeyNameLength: 128,
  credentialSchema: AwsCredentialSchema,
  optionsSchema: OptionsSchema,
  connect(context): ProviderClient {
    const { credential, options } = context;
    const client = new APIGatewayClient(
      awsClientConfig(context, options.region, explicitCredentials(credential)),
    );
    // Paced on the caller's clock, so a simulated sleep (tests, the rehearsal) is also simulated time.
    const pacer = new MutationPacer(
      context.http?.retryHooks?.sleep ?? sleep,
      context.now ?? (() => new Date()),
    );

    const read = <T>(call: string, send: () => Promise<T>): Promise<T> =>
      awsCall(PROVIDER, call, context, send);
    // Every attempt of a mutation, retries included, takes a slot from the pacer.
    const mutate = <T>(call: string, send: () => Promise<T>, options?: AwsCallOptions): Promise<T> =>
      awsCall(
        PROVIDER,
        call,
        context,
        async () => {
          await pacer.take();
          return send();
        },
        options,
      );

    const fixFor = (name: string | undefined): string => {
      if (name === 'AccessDeniedException' || name === 'UnauthorizedException' || name === 'AccessDenied')
        return REQUIRED_ACTIONS;
      if (name !== undefined && BAD_CREDENTIAL.has(name))
        return "the rotator credential is not valid for API Gateway: check accessKeyId and secretAccessKey in the rotator secret, or store {} to use the function's own role.";
      if (name === 'LimitExceededException')
        return `the account has reached API Gateway's limit of ${API_GATEWAY_KEY_QUOTA} API keys per Region (not increasable); delete unused API keys in ${options.region}, then rotate again.`;
      if (name === 'NotFoundException')
        return `the API key or usage plan does not exist in ${options.region}; check the key document's keyId and options.region.`;
      return `unexpected error; check options.region (${options.region}) and the request against the API Gateway REST API reference.`;
    };
    const failure = (call: string, error: unknown): never => {
      throw awsFailure(PROVIDER, call, error, (e) => fixFor(awsErrorName(e)));
    };

    /** The usage plans in the Region, or those a key is attached to. */
    const usagePlans = async (call: string, keyId?: string): Promise<UsagePlan[]> => {
      const plans: UsagePlan[] = [];
      let position: string | undefined;
      do {
        const page = await read(call, () =>
          client.send(new GetUsagePlansCommand({ keyId, limit: PAGE_LIMIT, position })),
        ).catch((error: unknown) => failure(call, error));
        plans.push(...(page.items ?? []));
        position = page.position;
      } while (position);
      return plans;
    };

    /** The usage plans a key is attached to, sorted. */
    const plansOf = async (keyId: string): Promise<string[]> => {
      const plans = await usagePlans('list usage plans of API key', keyId);
      return [...new Set(plans.flatMap((plan) => (plan.id ? [plan.id] : [])))].sort();
    };

    /** The REST APIs this account's usage plans cover in the Region. */
    const accountApiIds = async (): Promise<ReadonlySet<string>> => {
      const plans = await usagePlans('list usage plans');
      return new Set(
        plans.flatMap((plan) => (plan.apiStages ?? []).flatMap((s) => (s.apiId ? [s.apiId] : []))),
      );
    };

    const deleteKey = async (keyId: string): Promise<'revoked' | 'already-gone'> => {
      try {
        await mutate('delete API key', () => client.send(new DeleteApiKeyCommand({ apiKey: keyId })));
        return 'revoked';
      } catch (error) {
        if (awsErrorName(error) === 'NotFoundException') return 'already-gone';
        return failure('delete API key', error);
      }
    };

    /** GET validateUrl with the key: API Gateway answers 403 {"message":"Forbidden"} to a key it refuses. */
    const validateOnStage = async (url: URL, value: string): Promise<number> => {
      const timeoutMs = context.http?.timeoutMs ?? 10_000;
      const fetchImpl = context.http?.fetch ?? fetch;
      const call = 'validate API key (options.validateUrl)';
      return withRetry(
        async () => {
          let res: Response;
          try {
            res = await fetchImpl(url, {
              method: 'GET',
              headers: { 'x-api-key': value },
              // A redirect would re-send the key to wherever Location says; a 3xx already passed the key check.
              redirect: 'manual',
              signal: AbortSignal.timeout(timeoutMs),
            });
          } catch (error) {
            const detail =
              error instanceof Error && error.name === 'TimeoutError'
                ? `no answer within ${timeoutMs} ms`
                : 'network error';
            throw new ProviderUnavailableError(PROVIDER, call, detail);
          }
          await res.body?.cancel().catch(() => undefined);
          if (res.status === 429)
            throw new ProviderRateLimitedError(PROVIDER, call, retryAfterMs(res.headers));
          if (res.status >= 500) throw new ProviderUnavailableError(PROVIDER, call, `HTTP ${res.status}`);
          return res.status;
        },
        context.http?.retry ?? DEFAULT_RETRY_POLICY,
        context.http?.retryHooks,
      );
    };

    return {
      async createKey({ name, likeKeyId, permissions }) {
        let planIds: string[];
        if (permissions === undefined) {
          planIds = await plansOf(likeKeyId);
        } else {
          const parsed = PermissionsSchema.safeParse(permissions);
          if (!parsed.success)
            throw new InvalidInputError(
              'INVALID_INPUT',
              `${PROVIDER} permissions must be a list of usage plan ids.`,
            );
          planIds = [...new Set(parsed.data)].sort();
        }
        if (planIds.length === 0) {
          throw new ProviderRejectedError(
            PROVIDER,
            'create API key',
            undefined,
            `API key ${likeKeyId} belongs to no usage plan, so API Gateway accepts it on no stage that requires an API key and rekey cannot tell which plans its replacement needs. Add the key to the usage plans of the API stages it is used with (aws apigateway create-usage-plan-key --key-type API_KEY), then rotate again.`,
          );
        }

        // A repeat would make a second key of this name; ConflictException makes attaching one repeatable.
        const created = await mutate(
          'create API key',
          () =>
            client.send(
              new CreateApiKeyCommand({
                name,
                // Disabled until it is attached to every plan: enabled means complete.
                enabled: false,
                description: `rekey: replaces API key ${likeKeyId}`,
              }),
            ),
          { idempotent: false },
        ).catch((error: unknown) => failure('create API key', error));
        if (!created.id || !created.value)
          throw new ProviderBadResponseError(PROVIDER, 'create API key', 'id or value missing');
        const keyId = created.id;

        try {
          for (const usagePlanId of planIds) {
            try {
              await mutate('add API key to usage plan', () =>
                client.send(new CreateUsagePlanKeyCommand({ usagePlanId, keyId, keyType: 'API_KEY' })),
              );
            } catch (error) {
              // Already attached (a retried call that did succeed): nothing left to do for this plan.
              if (awsErrorName(error) !== 'ConflictException') failure('add API key to usage plan', error);
            }
          }
          await mutate('enable API key', () =>
            client.send(
              new UpdateApiKeyCommand({
                apiKey: keyId,
                patchOperations: [{ op: 'replace', path: '/enabled', value: 'true' }],
              }),
            ),
          ).catch((error: unknown) => failure('enable API key', error));
        } catch (error) {
          // Best effort: a half-built key is useless; if this fails too, the next attempt finds it
          // disabled under its name and revokes it.
          await deleteKey(keyId).catch(() => undefined);
          throw error;
        }
        return { id: keyId, name: created.name ?? name, value: created.value };
      },

      async describePermissions(keyId) {
        return plansOf(keyId);
      },

      async findKeysByName(name) {
        const found: Array<{ id: string; name: string; value?: string }> = [];
        let position: string | undefined;
        do {
          const page = await read('list API keys', () =>
            client.send(
              new GetApiKeysCommand({ nameQuery: name, includeValues: true, limit: PAGE_LIMIT, position }),
            ),
          ).catch((error: unknown) => failure('list API keys', error));
          // nameQuery matches name prefixes: keep exact names only.
          for (const key of page.items ?? []) {
            if (key.name !== name || !key.id) continue;
            // Only an enabled key is complete (see createKey). A disabled one is a crashed attempt that may
            // lack usage plan attachments: without its value the rotation core revokes it and creates a
            // fresh key instead of adopting one that API Gateway would refuse on some stage.
            found.push(
              key.enabled === true && key.value
                ? { id: key.id, name, value: key.value }
                : { id: key.id, name },
            );
          }
          position = page.position;
        } while (position);
        return found;
      },

      async keyQuota() {
        let held = 0;
        let position: string | undefined;
        do {
          const page = await read('count API keys', () =>
            client.send(new GetApiKeysCommand({ limit: PAGE_LIMIT, position })),
          ).catch((error: unknown) => failure('count API keys', error));
          held += page.items?.length ?? 0;
          position = page.position;
        } while (position);
        return {
          held,
          cap: API_GATEWAY_KEY_QUOTA,
          account: `account in ${options.region}`,
          makeRoom: `Delete unused API keys (aws apigateway get-api-keys / delete-api-key --region ${options.region}); the quota of ${API_GATEWAY_KEY_QUOTA} API keys per Region is not increasable`,
        };
      },

      async validateKey(key) {
        if (options.validateUrl !== undefined) {
          const url = new URL(options.validateUrl);
          const refusal = await stageUrlRefusal(url, options.region, context.endpoint, accountApiIds);
          if (refusal !== undefined)
            throw new InvalidInputError(
              'INVALID_SECRET',
              `${PROVIDER} options.validateUrl refused before any key was sent: ${refusal}. Set it to a GET on a stage of one of this account's REST APIs in a usage plan, at the API's execute-api URL (https://<apiId>.execute-api.<region>.amazonaws.com/<stage>/<path>; custom domain names are not accepted), or remove it to check keys on the control plane.`,
              { field: 'options.validateUrl' },
            );
          const status = await validateOnStage(url, key.value);
          // 403 is API Gateway's answer to a missing, unknown or disabled key (or one outside the stage's
          // plans); any other status means the key got past API Gateway's key check.
          return status === 403 ? 'rejected' : 'accepted';
        }
        // Control-plane fallback: proves the key is configured (exists, enabled, this value, in a usage
        // plan), not that a particular stage accepts it. Set options.validateUrl for the real check.
        let apiKey: GetApiKeyCommandOutput;
        try {
          apiKey = await read('read API key', () =>
            client.send(new GetApiKeyCommand({ apiKey: key.id, includeValue: true })),
          );
        } catch (error) {
          if (awsErrorName(error) === 'NotFoundException') return 'rejected';
          return failure('read API key', error);
        }
        if (apiKey.enabled !== true || apiKey.value !== key.value) return 'rejected';
        return (await plansOf(key.id)).length > 0 ? 'accepted' : 'rejected';
      },

      async identifies(key) {
        // GetApiKey with includeValue returns the key's value: the id names this key when that value is the
        // one given. NotFoundException is an id the account does not hold in the Region.
        const call = 'read API key value';
        const find = `the key's id in \`aws apigateway get-api-keys --include-values --region ${options.region}\` (the API Gateway console's API keys page shows it as the API key ID)`;
        let apiKey: GetApiKeyCommandOutput;
        try {
          apiKey = await read(call, () =>
            client.send(new GetApiKeyCommand({ apiKey: key.id, includeValue: true })),
          );
        } catch (error) {
          if (awsErrorName(error) === 'NotFoundException') return { verdict: 'differs', find };
          return failure(call, error);
        }
        if (apiKey.value === undefined)
          throw new ProviderBadResponseError(PROVIDER, call, 'value missing although includeValue was set');
        return apiKey.value === key.value ? { verdict: 'matches' } : { verdict: 'differs', find };
      },

      // Deleting a key also removes it from every usage plan.
      revokeKey: deleteKey,
    };
  },
};
