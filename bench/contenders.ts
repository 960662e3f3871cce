/**
 * The contenders of `npm run bench`, each configured as its own documentation (the installed version, read
 * from node_modules) recommends, at the same maximum key age. Two groups, compared only within a group:
 *
 * - client libraries, the library's own read call: rekey's `KeyClient`, Powertools' `SecretsProvider`, and a
 *   hand-written SDK cache as the floor (not a library);
 * - middy middlewares, handler for handler: `middy(handler).use(rekeyKeys(…))` (client/middy.ts) against
 *   `middy(handler).use(secretsManager(…))` — the same handler body, each reading the key off the context.
 *
 * Not modelled: AWS's Parameters and Secrets Lambda Extension. It is a Lambda layer (a binary serving
 * localhost:2773 inside the execution environment), not an npm package; an imitation written here would
 * benchmark the imitation, not the extension.
 */
import { SecretsProvider } from '@aws-lambda-powertools/parameters/secrets';
import {
  GetSecretValueCommand,
  SecretsManagerClient,
  type SecretsManagerClientConfig,
} from '@aws-sdk/client-secrets-manager';
import middy from '@middy/core';
import secretsManager from '@middy/secrets-manager';
import { clearCache as clearMiddyCache } from '@middy/util';
import type { Context } from 'aws-lambda';
import { KeyClient, KeyRejectedError } from '../client/index.js';
import { rekeyKeys } from '../client/middy.js';

/** The maximum key age every contender is configured to (Powertools' default `maxAge`). */
export const MAX_AGE_S = 5;

export type Key = { value: string; keyId: string };
export type Send = (key: Key) => Promise<void>;

export interface Contender {
  name: string;
  group: 'client' | 'middy';
  /**
   * The hot path: `n` sequential reads with the library's own call (a middy handler invocation for the middy
   * group). A loop of its own per contender, so no call site is shared (and made polymorphic) between them.
   */
  hot(n: number): Promise<void>;
  /** Reads the key (value + provider id) the library's way. */
  get(): Promise<Key>;
  /** Makes a provider call with the key, with the library's documented handling of a refusal. */
  call(send: Send): Promise<void>;
  /** Secrets Manager requests this contender sent (GetSecretValue, and rekey's DescribeSecret refreshes). */
  reads(): number;
  close(): void;
}

/** What each contender is, printed above the tables: what differs between them. */
export const DESCRIPTIONS: Record<string, string> = {
  rekey: `KeyClient.get() / withKey(): TTL ${MAX_AGE_S - 1} s + up to 1 s jitter (max age ${MAX_AGE_S} s while Secrets Manager answers; its default derives the TTL from the grace), a refresh is DescribeSecret and GetSecretValue only when AWSCURRENT moved, single-flight, stale-on-error up to maxStaleMs (30 min default) past the TTL with backoff, 401/403 → refresh and retry once (then AWSPREVIOUS inside its grace), usage metrics counted per call here (its key is young; steady use of a current key is not reported)`,
  powertools: `SecretsProvider.get(arn, { maxAge: ${MAX_AGE_S}, transform: 'json' }): parsed once and cached ${MAX_AGE_S} s; on a 401 get(…, { forceFetch: true }) and retry once; no single-flight, no stale-on-error`,
  'sdk+cache': `hand-written floor, not a library: GetSecretValue, JSON.parse, a module-scope { key, expiresAt } for ${MAX_AGE_S} s — no single-flight, no stale-on-error, no refresh on a 401`,
  'rekey-middy': `middy(handler).use(rekeyKeys({ keys, client })): the KeyClient above under middy, keys on context.keys, usage metrics flushed as EMF at the end of every invocation; on a 401 the handler calls client.reportAuthFailure(), that invocation fails, the next reads the new key`,
  middy: `middy(handler).use(secretsManager({ fetchData, cacheExpiry: ${MAX_AGE_S * 1000}, setToContext: true })): parsed once, prefetched at init, re-read on a ${MAX_AGE_S} s timer; a failed re-read drops the value; no refresh on a 401`,
};

/** The event of the middy handlers: the provider call to make with the key, if any. */
type CallEvent = { send?: Send };

/** A Lambda context as middy sees one (getRemainingTimeInMillis arms middy's timeoutEarly, as in Lambda). */
const lambdaContext = <C extends Context>() => ({ getRemainingTimeInMillis: () => 60_000 }) as unknown as C;

/** Every contender's SDK client: the same configuration (one attempt, so an outage fails fast for all), counted. */
const CLIENT_CONFIG: SecretsManagerClientConfig = { maxAttempts: 1 };

function countReads(client: SecretsManagerClient, counter: { reads: number }): SecretsManagerClient {
  client.middlewareStack.add(
    (next) => async (args) => {
      // Every request counts: rekey refreshes with DescribeSecret and reads a value only when it moved.
      counter.reads += 1;
      return next(args);
    },
    { step: 'initialize', name: 'benchCountReads' },
  );
  return client;
}

/** The key document rekey stores (README "Secret format"): the fields every contender hands on. */
type KeyDocument = { key: string; keyId: string };
const toKey = (d: KeyDocument | undefined): Key => {
  if (!d) throw new Error('no secret value');
  return { value: d.key, keyId: d.keyId };
};

let instances = 0;

/**
 * Fresh contenders (empty caches) on one secret, each at a `maxAgeS` maximum key age; `only` builds just the
 * one named (middy reads at construction: the others' reads would be counted too).
 */
export function contenders(secretArn: string, maxAgeS = MAX_AGE_S, only?: string): Contender[] {
  const n = instances++;
  const list: Contender[] = [];
  const want = (name: string) => only === undefined || only === name;

  // rekey: README "Using keys in your app (client)". Usage metrics stay on (into a sink that drops them) at
  // the default flush interval, so the hot path pays what it pays in production.
  if (want('rekey')) {
    const counter = { reads: 0 };
    const client = new KeyClient({
      secretsManager: countReads(new SecretsManagerClient(CLIENT_CONFIG), counter),
      ttlMs: (maxAgeS - 1) * 1000,
      jitterMs: 1000,
      metrics: { sink: () => {} },
    });
    list.push({
      name: 'rekey',
      group: 'client',
      hot: async (n) => {
        for (let i = 0; i < n; i++) await client.get(secretArn);
      },
      get: () => client.get(secretArn),
      call: (send) => client.withKey(secretArn, send),
      reads: () => counter.reads,
      close: () => client.close(),
    });
  }

  // Powertools Parameters 2.35.0, as its installed docs show (node_modules/@aws-lambda-powertools/parameters,
  // lib/esm/secrets/SecretsProvider.d.ts): "For parameters stored in JSON …, you can use the transform
  // argument for deserialization" → `transform: 'json'` (the parsed value is what it caches); "By default, the
  // provider will cache parameters retrieved in-memory for 5 seconds … `maxAge`"; "If instead you'd like to
  // always ensure you fetch the latest parameter from the store regardless if already available in cache,
  // use the `forceFetch` parameter" → the retry after a provider's 401. `awsSdkV3Client` ("Customize AWS SDK
  // v3 for JavaScript client") passes the same client configuration as the others.
  if (want('powertools')) {
    const counter = { reads: 0 };
    const provider = new SecretsProvider({
      awsSdkV3Client: countReads(new SecretsManagerClient(CLIENT_CONFIG), counter),
    });
    const read = async (forceFetch = false) =>
      toKey(
        await provider.get<KeyDocument>(secretArn, {
          maxAge: maxAgeS,
          transform: 'json',
          ...(forceFetch ? { forceFetch } : {}),
        }),
      );
    list.push({
      name: 'powertools',
      group: 'client',
      hot: async (n) => {
        for (let i = 0; i < n; i++)
          await provider.get<KeyDocument>(secretArn, { maxAge: maxAgeS, transform: 'json' });
      },
      get: () => read(),
      call: async (send) => {
        try {
          await send(await read());
        } catch (error) {
          if (!(error instanceof KeyRejectedError)) throw error;
          await send(await read(true));
        }
      },
      reads: () => counter.reads,
      close: () => provider.clearCache(),
    });
  }

  // The floor: the SDK README's `client.send(new GetSecretValueCommand(…))`
  // (node_modules/@aws-sdk/client-secrets-manager/README.md, "Usage") with the smallest cache that gives a
  // 5 s maximum age.
  if (want('sdk+cache')) {
    const counter = { reads: 0 };
    const sm = countReads(new SecretsManagerClient(CLIENT_CONFIG), counter);
    let cached: { key: Key; expiresAt: number } | undefined;
    const get = async (): Promise<Key> => {
      if (cached && Date.now() < cached.expiresAt) return cached.key;
      const out = await sm.send(new GetSecretValueCommand({ SecretId: secretArn }));
      cached = {
        key: toKey(JSON.parse(out.SecretString ?? 'null')),
        expiresAt: Date.now() + maxAgeS * 1000,
      };
      return cached.key;
    };
    list.push({
      name: 'sdk+cache',
      group: 'client',
      hot: async (n) => {
        for (let i = 0; i < n; i++) await get();
      },
      get,
      call: async (send) => send(await get()),
      reads: () => counter.reads,
      close: () => sm.destroy(),
    });
  }

  // rekey's middy middleware (client/middy.ts, README "In Lambda, with middy"), given a client so it reads
  // through the counted SDK client at the same TTL; flushIntervalMs 0 as the middleware's own default client
  // (it flushes after every invocation). On a refusal the handler reports it — README: "reportAuthFailure for
  // code that calls the provider itself".
  if (want('rekey-middy')) {
    const counter = { reads: 0 };
    const client = new KeyClient({
      secretsManager: countReads(new SecretsManagerClient(CLIENT_CONFIG), counter),
      ttlMs: (maxAgeS - 1) * 1000,
      jitterMs: 1000,
      metrics: { sink: () => {}, flushIntervalMs: 0 },
    });
    const handler = middy<CallEvent>()
      .use(rekeyKeys({ keys: { apiKey: secretArn }, client }))
      .handler(async ({ send }, context): Promise<Key> => {
        const { value, keyId } = context.keys.apiKey;
        if (send) {
          try {
            await send({ value, keyId });
          } catch (error) {
            if (error instanceof KeyRejectedError) client.reportAuthFailure(secretArn, context.keys.apiKey);
            throw error;
          }
        }
        return { value, keyId };
      });
    list.push(
      middyContender(
        'rekey-middy',
        (event) => handler(event, lambdaContext()),
        counter,
        () => client.close(),
      ),
    );
  }

  // @middy/secrets-manager 6.4.5: its installed README points to https://middy.js.org/docs/middlewares/secrets-manager,
  // whose options (matching node_modules/@middy/secrets-manager/index.js defaults) are followed: `fetchData`
  // maps the context field to the SecretId, `setToContext: true` puts it on the context, `cacheExpiry` "n:
  // cache for n ms" (the default -1 caches forever, which a rotated key cannot use), `cacheKey` "must be
  // unique across all middleware", prefetch left at its default (on). `AwsClient` — "SecretsManagerClient
  // class constructor (i.e. that has been instrumented …)" — is the counted client, `awsClientOptions` the
  // same configuration as the others. `fetchRotationDate` (default false) is left off: it ties the expiry to
  // the rotation schedule, not to the 5 s maximum age compared here. The value is JSON-parsed once
  // (jsonSafeParse) and cached.
  if (want('middy')) {
    const counter = { reads: 0 };
    class CountedClient extends SecretsManagerClient {
      constructor(config: SecretsManagerClientConfig) {
        super(config);
        countReads(this, counter);
      }
    }
    const cacheKey = `bench-middy-${n}`;
    const handler = middy(async ({ send }: CallEvent, context: Context & { apiKey?: KeyDocument }) => {
      const key = toKey(context.apiKey);
      if (send) await send(key);
      return key;
    }).use(
      secretsManager({
        AwsClient: CountedClient,
        awsClientOptions: CLIENT_CONFIG,
        fetchData: { apiKey: secretArn },
        cacheKey,
        cacheExpiry: maxAgeS * 1000,
        setToContext: true,
      }),
    );
    // Closing stops its refresh timer.
    list.push(
      middyContender(
        'middy',
        (event) => handler(event, lambdaContext()),
        counter,
        () => clearMiddyCache([cacheKey]),
      ),
    );
  }
  return list;
}

/** A contender that is a middy handler: every call is one invocation. */
function middyContender(
  name: string,
  handle: (event: CallEvent) => Promise<Key>,
  counter: { reads: number },
  close: () => void,
): Contender {
  const invoke = (event: CallEvent = {}) => handle(event);
  return {
    name,
    group: 'middy',
    hot: async (n) => {
      for (let i = 0; i < n; i++) await invoke();
    },
    get: invoke,
    call: async (send) => {
      await invoke({ send });
    },
    reads: () => counter.reads,
    close,
  };
}
