import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import {
  ProviderBadResponseError,
  ProviderRateLimitedError,
  ProviderRejectedError,
  ProviderUnavailableError,
} from '../../lambdas/errors.js';
import { cloudflare } from '../../lambdas/providers/cloudflare.js';
import { datadog } from '../../lambdas/providers/datadog.js';
import { http as genericHttp, readPointer } from '../../lambdas/providers/generic-http.js';
import { ProviderHttp } from '../../lambdas/providers/http.js';
import { openai } from '../../lambdas/providers/openai.js';
import { sendgrid } from '../../lambdas/providers/sendgrid.js';
import { stripe } from '../../lambdas/providers/stripe.js';
import { twilio } from '../../lambdas/providers/twilio.js';
import type { ProviderClient, ProviderDefinition } from '../../lambdas/providers/types.js';
import {
  assertNoSecret,
  assertTypedRejection,
  asyncOutcomeOf,
  brief,
  CaseCounts,
  capturingLogger,
  fieldCase,
  hostileOrSecret,
  hostileValue,
  isoTimestamp,
  objectCase,
  parameters,
  SECRET_SLOT,
  SEEDS,
  secretBearing,
  secretValue,
  weakenedParameters,
  withSecret,
} from './support.js';

/**
 * Surface 6: what providers answer. Each adapter runs against a local HTTP server that answers with a
 * generated body — the documented shape broken field by field, other JSON, or not JSON at all — and must
 * come back with a well-formed result or a ProviderBadResponseError that names the field and never the
 * key the body carried; nothing but the call under test may be sent (a bad create answer is never re-sent,
 * and nothing is revoked).
 */

const counts = new CaseCounts();
after(() => counts.print());

const NAME = 'rekey-prod-sendgrid-api-key-0d9f';

interface Answer {
  status: number;
  body: string;
}
type Script = (request: { method: string; path: string; index: number }) => Answer;

/*
 * The AWS providers (aws-iam: IAM access keys; api-gateway: API keys and usage plans) are not surfaces here:
 * their answers are parsed by the AWS SDK's own deserializers (@aws-sdk/client-iam, client-api-gateway),
 * which build typed outputs from the protocol (query XML, REST JSON) before rekey's code sees them; a hostile
 * body there tests the SDK, not rekey. What rekey does with well-typed but hostile SDK output (a user or key
 * that is not the deployment's) is the routing tests' subject (test/integration/routing.test.ts).
 */

/** A provider whose answers a case scripts, recording what it was sent. */
class ScriptedProvider {
  requests: Array<{ method: string; path: string }> = [];
  private script: Script = () => ({ status: 500, body: '' });
  private server: Server | undefined;

  async start(): Promise<string> {
    this.server = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        const request = { method: req.method ?? '', path: req.url ?? '' };
        const answer = this.script({ ...request, index: this.requests.length });
        this.requests.push(request);
        res.writeHead(answer.status, { 'content-type': 'application/json' });
        res.end(answer.body);
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  reset(script: Script): void {
    this.requests = [];
    this.script = script;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

const provider = new ScriptedProvider();
let endpoint = '';
before(async () => {
  endpoint = await provider.start();
});
after(() => provider.stop());

// --- bodies ------------------------------------------------------------------------------------------------

/** A documented object broken field by field (the verdict is not needed: results are checked instead). */
const shaped = (fields: Parameters<typeof objectCase>[0]) =>
  objectCase(fields, {
    extras: fc.oneof(
      { weight: 2, arbitrary: fc.constant({}) },
      // Fields a provider might add — some holding a key, as list answers of some APIs do.
      fc.dictionary(
        fc.constantFrom('key', 'value', 'api_key', 'token', 'secret', 'object', 'extra'),
        hostileOrSecret,
        {
          minKeys: 1,
          maxKeys: 2,
        },
      ),
    ),
  }).map((c) => c.input);

const id = (valid: fc.Arbitrary<unknown>) => fieldCase(valid, () => undefined, { hostile: hostileValue });
const anyOf = (valid: fc.Arbitrary<unknown>, optional = false) =>
  fieldCase(valid, () => undefined, { optional, hostile: fc.oneof(hostileValue, secretBearing) });
const listOf = (item: fc.Arbitrary<unknown>) =>
  fieldCase(fc.array(item, { maxLength: 4 }), () => undefined, { hostile: hostileOrSecret });

/** The key value a create answer carries: the case's secret, or something that is not a usable key. */
const keyValue = fieldCase(fc.constant(SECRET_SLOT), () => undefined, {
  hostile: fc.oneof(hostileValue, secretBearing),
});

/** A body as text: JSON of a generated value (secret filled in), or text that is not JSON at all. */
const asBody = (value: fc.Arbitrary<unknown>) =>
  fc.oneof(
    { weight: 8, arbitrary: value.map((v) => ({ json: v })) },
    {
      weight: 1,
      arbitrary: fc
        .constantFrom('', `{"value":"${SECRET_SLOT}"`, SECRET_SLOT, '<html>502</html>')
        .map((text) => ({ text })),
    },
  );

/** A body (and, for a surface that is about statuses, the status it comes with). */
type BodyCase = ({ json: unknown } | { text: string }) & { status?: number };
const render = (body: BodyCase, secret: string): string =>
  'text' in body ? withSecret(body.text, secret) : (JSON.stringify(withSecret(body.json, secret)) ?? '');

const sendgridCreated = shaped({
  api_key: keyValue,
  api_key_id: id(fc.constantFrom('key-2', 'Yf3kz9Tq')),
  name: anyOf(fc.constant(NAME)),
  scopes: anyOf(fc.constant(['mail.send']), true),
});
const sendgridList = shaped({
  result: listOf(
    shaped({
      api_key_id: id(fc.constantFrom('key-1', 'key-2')),
      name: anyOf(fc.constantFrom(NAME, 'other')),
    }),
  ),
});

const openaiKey = (withValue: boolean) =>
  shaped({
    id: id(fc.constantFrom('key_abc', 'key_def')),
    name: anyOf(fc.constantFrom(NAME, 'other')),
    last_used_at: anyOf(fc.oneof(fc.integer({ min: 0, max: 2_000_000_000 }), fc.constant(null)), true),
    ...(withValue ? { value: keyValue } : {}),
  });
const openaiList = shaped({
  data: listOf(openaiKey(false)),
  last_id: anyOf(fc.oneof(fc.constant('key_def'), fc.constant(null)), true),
  has_more: anyOf(fc.boolean()),
});

const cloudflareToken = (withValue: boolean) =>
  shaped({
    id: id(fc.constantFrom('tok-1', 'ed17574386854bf78a67040be0a770b0')),
    name: anyOf(fc.constantFrom(NAME, 'other')),
    last_used_on: anyOf(fc.oneof(isoTimestamp, fc.constant(null)), true),
    policies: anyOf(
      fc.constant([
        {
          effect: 'allow',
          resources: { 'com.cloudflare.api.account.*': '*' },
          permission_groups: [{ id: 'pg-1' }],
        },
      ]),
      true,
    ),
    ...(withValue ? { value: keyValue } : {}),
  });
const cloudflareEnvelope = (result: fc.Arbitrary<unknown>, list = false) =>
  shaped({
    success: anyOf(fc.constant(true)),
    result: anyOf(result),
    ...(list ? { result_info: anyOf(fc.record({ total_pages: fc.integer({ min: 0, max: 3 }) }), true) } : {}),
    errors: anyOf(fc.constant([]), true),
  });
/** The current token as Cloudflare returns it, when the case is about the create answer. */
const CURRENT_TOKEN = JSON.stringify({
  success: true,
  result: {
    id: 'tok-1',
    name: 'notification-service',
    policies: [
      {
        effect: 'allow',
        resources: { 'com.cloudflare.api.account.*': '*' },
        permission_groups: [{ id: 'pg-1' }],
      },
    ],
  },
});

// --- the calls ---------------------------------------------------------------------------------------------

const NO_RETRY = { retry: { attempts: 1, baseDelayMs: 0, maxDelayMs: 0 }, timeoutMs: 5_000 };

interface Surface {
  name: string;
  definition: ProviderDefinition;
  credential: unknown;
  options: unknown;
  /** The generated answers: one per request the call makes, the last one repeating. */
  bodies: fc.Arbitrary<BodyCase[]>;
  /** The answer to every request after the scripted ones (a list's last page). */
  rest: Answer;
  /** The status of the scripted answers: one for all, or one per request. */
  status: number | number[];
  run(client: ProviderClient): Promise<unknown>;
  /** What an accepted result must be, checked without the adapter's schema. */
  check(result: unknown): void;
  /** Requests the call may send; anything else (a re-sent create, a revocation) fails the case. */
  allowed(requests: Array<{ method: string; path: string }>): boolean;
  /** Extra refusals this call may make besides ProviderBadResponseError. */
  alsoRefusedWith?: (error: unknown) => boolean;
  /** How the adapter reads bodies: a zod schema through ProviderHttp.parse (default), JSON pointers, or not at all. */
  reads?: 'schema' | 'pointers' | 'status';
  /** Where a refusal names the field, when the adapter words it its own way. */
  named?: (message: string) => string[];
  seed?: number;
}

const nonEmpty = (v: unknown): boolean => typeof v === 'string' && v.length > 0;

function assertCreated(result: unknown): void {
  const key = result as { id?: unknown; name?: unknown; value?: unknown };
  assert.ok(nonEmpty(key.id), `created key id ${brief(String(key.id))}`);
  assert.equal(typeof key.name, 'string', 'created key name');
  assert.ok(nonEmpty(key.value), 'created key value');
}

/** A listed key named like ours: the adapter filters by name; ids are strings (SendGrid's may be empty, see the todo). */
function assertFound(result: unknown, idNonEmpty = true): void {
  assert.ok(Array.isArray(result), 'findKeysByName returns a list');
  for (const key of result as Array<{ id?: unknown; name?: unknown }>) {
    assert.equal(key.name, NAME, 'only keys with the requested name');
    assert.ok(
      idNonEmpty ? nonEmpty(key.id) : typeof key.id === 'string',
      `listed key id ${brief(String(key.id))}`,
    );
  }
}

const only =
  (...allowed: Array<[string, RegExp]>) =>
  (requests: Array<{ method: string; path: string }>) =>
    requests.every((r) => allowed.some(([method, path]) => r.method === method && path.test(r.path)));

const surfaces: Surface[] = [
  {
    name: 'sendgrid create',
    definition: sendgrid,
    credential: { apiKey: 'SG.rotator' },
    options: {},
    bodies: asBody(sendgridCreated).map((b) => [b]),
    rest: { status: 500, body: '' },
    status: 201,
    run: (c) => c.createKey({ name: NAME, likeKeyId: 'key-1', permissions: ['mail.send'] }),
    check: assertCreated,
    allowed: (rs) => rs.length === 1 && only(['POST', /^\/v3\/api_keys$/])(rs),
  },
  {
    name: 'sendgrid list',
    definition: sendgrid,
    credential: { apiKey: 'SG.rotator' },
    options: {},
    bodies: asBody(sendgridList).map((b) => [b]),
    rest: { status: 500, body: '' },
    status: 200,
    run: (c) => c.findKeysByName(NAME),
    check: (r) => assertFound(r, false),
    allowed: (rs) => rs.length === 1 && only(['GET', /^\/v3\/api_keys\?/])(rs),
  },
  {
    name: 'openai create',
    definition: openai,
    credential: { adminKey: 'sk-admin-rotator' },
    options: {},
    bodies: asBody(openaiKey(true)).map((b) => [b]),
    rest: { status: 500, body: '' },
    status: 200,
    run: (c) => c.createKey({ name: NAME, likeKeyId: 'key_abc' }),
    check: assertCreated,
    allowed: (rs) => rs.length === 1 && only(['POST', /^\/v1\/organization\/admin_api_keys$/])(rs),
  },
  {
    name: 'openai list',
    definition: openai,
    credential: { adminKey: 'sk-admin-rotator' },
    options: {},
    bodies: asBody(openaiList).map((b) => [b]),
    // Later pages end the listing: the generated body is the first page of a provider that then stops.
    rest: { status: 200, body: JSON.stringify({ data: [], has_more: false }) },
    status: 200,
    run: (c) => c.findKeysByName(NAME),
    check: assertFound,
    allowed: only(['GET', /^\/v1\/organization\/admin_api_keys\?limit=100/]),
  },
  {
    name: 'cloudflare create',
    definition: cloudflare,
    credential: { apiToken: 'cf-rotator' },
    options: {},
    // First the current token (read to copy its policies), then the create answer.
    bodies: fc.tuple(
      fc.oneof(
        { weight: 3, arbitrary: fc.constant<BodyCase>({ text: CURRENT_TOKEN }) },
        asBody(cloudflareEnvelope(cloudflareToken(false))),
      ),
      asBody(cloudflareEnvelope(cloudflareToken(true))),
    ),
    rest: { status: 500, body: '' },
    status: 200,
    run: (c) => c.createKey({ name: NAME, likeKeyId: 'tok-1' }),
    check: assertCreated,
    allowed: (rs) =>
      rs.filter((r) => r.method === 'POST').length <= 1 &&
      only(['GET', /^\/client\/v4\/user\/tokens\/tok-1$/], ['POST', /^\/client\/v4\/user\/tokens$/])(rs),
    // A current token with no policies to copy is refused as such (the body itself parsed).
    alsoRefusedWith: (e) => e instanceof ProviderRejectedError && /lists no policies/.test(e.message),
  },
  {
    name: 'cloudflare list',
    definition: cloudflare,
    credential: { apiToken: 'cf-rotator' },
    options: {},
    bodies: asBody(cloudflareEnvelope(fc.array(cloudflareToken(false), { maxLength: 3 }), true)).map((b) => [
      b,
    ]),
    rest: {
      status: 200,
      body: JSON.stringify({ success: true, result: [], result_info: { total_pages: 1 } }),
    },
    status: 200,
    run: (c) => c.findKeysByName(NAME),
    check: assertFound,
    allowed: only(['GET', /^\/client\/v4\/user\/tokens\?page=\d+&per_page=50$/]),
  },
];

const HEX32 = '0123456789abcdef0123456789abcdef';
const TWILIO = {
  credential: { sid: `AC${HEX32}`, secret: 'twilio-rotator-token' },
  options: { accountSid: `AC${HEX32}` },
};
const twilioKey = (withSecret: boolean) =>
  shaped({
    sid: id(fc.constantFrom(`SK${HEX32}`, `SK${'f'.repeat(32)}`)),
    friendly_name: anyOf(fc.oneof(fc.constantFrom(NAME, 'other'), fc.constant(null))),
    policy: anyOf(fc.oneof(fc.constant({ allow: ['/twilio/messaging'] }), fc.constant(null)), true),
    ...(withSecret ? { secret: keyValue } : {}),
  });
const twilioList = shaped({
  keys: listOf(
    shaped({
      sid: id(fc.constantFrom(`SK${HEX32}`, 'SK1')),
      friendly_name: anyOf(fc.oneof(fc.constantFrom(NAME, 'other'), fc.constant(null))),
    }),
  ),
  meta: anyOf(
    fc.oneof(
      fc.constant({ next_page_url: null }),
      fc.constant({}),
      // A next page on another host: only its path is followed, on the configured origin.
      fc.constant({ next_page_url: 'https://evil.example/v1/Keys?Page=1' }),
    ),
  ),
});

const datadogKey = (withValue: boolean) =>
  shaped({
    data: anyOf(
      shaped({
        id: id(fc.constantFrom('dd-key-1', '00000000-0000-4000-8000-000000000001')),
        attributes: anyOf(
          shaped({
            name: anyOf(fc.constantFrom(NAME, 'other')),
            remote_config_read_enabled: anyOf(fc.boolean(), true),
            ...(withValue ? { key: keyValue } : { key: anyOf(fc.constant('0123abcd'.repeat(4))) }),
            date_last_used: anyOf(fc.oneof(isoTimestamp, fc.constant(null)), true),
          }),
        ),
      }),
    ),
  });
const datadogList = shaped({
  data: listOf(
    shaped({
      id: id(fc.constantFrom('dd-key-1', 'dd-key-2')),
      attributes: anyOf(shaped({ name: anyOf(fc.constantFrom(NAME, 'other')) })),
    }),
  ),
  meta: anyOf(fc.constant({ page: { total_filtered_count: 1 } }), true),
});
/** The current Datadog key, as read before a create (its remote-config flag is copied). */
const DATADOG_CURRENT = JSON.stringify({
  data: { id: 'dd-key-1', attributes: { name: 'notification-service', key: 'a'.repeat(32) } },
});

/** A generic HTTP key service, described the way an inventory does it (JSON pointers into its answers). */
const GENERIC_OPTIONS = {
  adminAuth: { scheme: 'bearer' },
  create: { method: 'POST', path: '/v1/keys', idPointer: '/key/id', valuePointer: '/key/value' },
  list: { path: '/v1/keys', itemsPointer: '/items', idPointer: '/id', namePointer: '/name' },
  validate: {
    method: 'GET',
    path: '/v1/whoami',
    keyAuth: { scheme: 'bearer' },
    acceptedStatuses: [200],
    rejectedStatuses: [401, 403],
  },
  revoke: { method: 'DELETE', path: '/v1/keys/{id}', goneStatuses: [404] },
};
const genericCreated = shaped({
  key: anyOf(
    shaped({
      id: id(fc.oneof(fc.constantFrom('k-1', 'key_2'), fc.integer({ min: 1, max: 1_000_000 }))),
      value: keyValue,
    }),
  ),
});
const genericList = shaped({
  items: listOf(
    shaped({
      id: id(fc.oneof(fc.constantFrom('k-1', 'k-2'), fc.integer({ min: 1, max: 1_000_000 }))),
      name: anyOf(fc.constantFrom(NAME, 'other')),
    }),
  ),
});
/** The generic adapter words its refusals by option: `nothing at create.idPointer "/key/id"; …`. */
const pointerFields = (message: string): string[] => [
  ...[...message.matchAll(/(?:nothing|no array) at ([\w.]+) "/g)].map((m) => m[1]!),
  ...(/a body that is not JSON/.test(message) ? ['(body)'] : []),
];

surfaces.push(
  {
    name: 'twilio create',
    definition: twilio,
    ...TWILIO,
    // First the current key (its policy is copied to the new one), then the create answer.
    bodies: fc.tuple(
      fc.oneof(
        { weight: 3, arbitrary: fc.constant<BodyCase>({ json: { sid: `SK${HEX32}`, friendly_name: 'x' } }) },
        asBody(twilioKey(false)),
      ),
      asBody(twilioKey(true)),
    ),
    rest: { status: 500, body: '' },
    status: [200, 201],
    run: (c) => c.createKey({ name: NAME, likeKeyId: `SK${HEX32}` }),
    // An empty sid is accepted today: see the FINDING below; everything else of a created key is checked.
    check: (r) =>
      assertCreated({
        ...(r as object),
        id: (r as { id?: unknown }).id === '' ? 'SK' : (r as { id?: unknown }).id,
      }),
    allowed: (rs) =>
      rs.filter((r) => r.method === 'POST').length <= 1 &&
      only(['GET', new RegExp(`^/v1/Keys/SK${HEX32}$`)], ['POST', /^\/v1\/Keys$/])(rs),
    seed: SEEDS.providerBodiesMore,
  },
  {
    name: 'twilio list',
    definition: twilio,
    ...TWILIO,
    bodies: asBody(twilioList).map((b) => [b]),
    rest: { status: 200, body: JSON.stringify({ keys: [], meta: { next_page_url: null } }) },
    status: 200,
    run: (c) => c.findKeysByName(NAME),
    check: (r) => assertFound(r, false),
    // Pages are followed by path on the configured origin (the server is that origin; a request elsewhere fails).
    allowed: only(['GET', /^\/v1\/Keys\?/]),
    seed: SEEDS.providerBodiesMore,
  },
  {
    name: 'datadog create',
    definition: datadog,
    credential: { apiKey: 'dd-rotator-api-key', applicationKey: 'dd-rotator-app-key' },
    options: { site: 'datadoghq.com' },
    bodies: fc.tuple(
      fc.oneof(
        { weight: 3, arbitrary: fc.constant<BodyCase>({ text: DATADOG_CURRENT }) },
        asBody(datadogKey(false)),
      ),
      asBody(datadogKey(true)),
    ),
    rest: { status: 500, body: '' },
    status: [200, 201],
    run: (c) => c.createKey({ name: NAME, likeKeyId: 'dd-key-1' }),
    check: assertCreated,
    allowed: (rs) =>
      rs.filter((r) => r.method === 'POST').length <= 1 &&
      only(['GET', /^\/api\/v2\/api_keys\/dd-key-1$/], ['POST', /^\/api\/v2\/api_keys$/])(rs),
    seed: SEEDS.providerBodiesMore,
  },
  {
    name: 'datadog list',
    definition: datadog,
    credential: { apiKey: 'dd-rotator-api-key', applicationKey: 'dd-rotator-app-key' },
    options: { site: 'datadoghq.com' },
    // The listing, then each match read by id (the list omits values).
    bodies: fc.tuple(asBody(datadogList), ...Array.from({ length: 4 }, () => asBody(datadogKey(true)))),
    rest: { status: 500, body: '' },
    status: 200,
    run: (c) => c.findKeysByName(NAME),
    check: (r) => {
      assertFound(r);
      for (const key of r as Array<{ value?: unknown }>)
        assert.ok(nonEmpty(key.value), 'a read key has a value');
    },
    allowed: only(['GET', /^\/api\/v2\/api_keys(\?|\/dd-key-[12]$)/]),
    seed: SEEDS.providerBodiesMore,
  },
  {
    // Stripe parses no body: createKey and revokeKey are manual (assisted), validateKey reads only the status.
    name: 'stripe validate',
    definition: stripe,
    credential: {},
    options: {},
    bodies: fc
      .tuple(fc.constantFrom(200, 401, 403, 404, 429), asBody(fc.oneof(hostileOrSecret, sendgridCreated)))
      .map(([status, b]): BodyCase[] => [{ ...b, status }]),
    rest: { status: 500, body: '' },
    status: 200,
    run: (c) => c.validateKey({ id: 'sk_live_old', value: 'sk_live_Validated0000000000000000' }),
    check: (r) => assert.ok(r === 'accepted' || r === 'rejected', `validateKey returned ${brief(String(r))}`),
    allowed: (rs) => rs.length === 1 && only(['GET', /^\/v1\/balance$/])(rs),
    // 429 is rate limiting (after the one attempt these cases allow), other statuses a rejection.
    alsoRefusedWith: (e) =>
      e instanceof ProviderRejectedError ||
      e instanceof ProviderRateLimitedError ||
      e instanceof ProviderUnavailableError,
    reads: 'status',
    seed: SEEDS.providerBodiesMore,
  },
  {
    name: 'generic-http create',
    definition: genericHttp,
    credential: { token: 'http-rotator-token' },
    options: GENERIC_OPTIONS,
    bodies: asBody(genericCreated).map((b) => [b]),
    rest: { status: 500, body: '' },
    status: 201,
    run: (c) => c.createKey({ name: NAME, likeKeyId: 'k-1' }),
    check: assertCreated,
    allowed: (rs) => rs.length === 1 && only(['POST', /^\/v1\/keys$/])(rs),
    reads: 'pointers',
    named: pointerFields,
    seed: SEEDS.providerBodiesMore,
  },
  {
    name: 'generic-http list',
    definition: genericHttp,
    credential: { token: 'http-rotator-token' },
    options: GENERIC_OPTIONS,
    bodies: asBody(genericList).map((b) => [b]),
    rest: { status: 500, body: '' },
    status: 200,
    run: (c) => c.findKeysByName(NAME),
    check: assertFound,
    allowed: (rs) => rs.length === 1 && only(['GET', /^\/v1\/keys$/])(rs),
    reads: 'pointers',
    named: pointerFields,
    seed: SEEDS.providerBodiesMore,
  },
);

/** Where a bad-body refusal says the problem is: a path, "(body)", or the body not being JSON. */
const bodyFields = (message: string): string[] => {
  const at = /unexpected body \((.*?): /s.exec(message)?.[1];
  return [
    ...(at !== undefined ? [at === '' ? '(body)' : at] : []),
    ...(/a body that is not JSON/.test(message) ? ['(body)'] : []),
  ];
};

function bodyProperty(surface: Surface, count: boolean) {
  return fc.asyncProperty(secretValue, surface.bodies, async (secret, bodies) => {
    if (count) counts.count('provider-bodies', surface.name);
    const answers = bodies.map((b) => ({ body: render(b, secret), status: b.status }));
    const statusOf = (index: number) =>
      typeof surface.status === 'number'
        ? surface.status
        : surface.status[Math.min(index, surface.status.length - 1)]!;
    provider.reset(({ index }) =>
      index < answers.length
        ? { status: answers[index]!.status ?? statusOf(index), body: answers[index]!.body }
        : surface.rest,
    );
    const { logger, logs } = capturingLogger();
    const client = surface.definition.connect({
      credential: surface.credential,
      options: surface.options,
      endpoint,
      logger,
      http: NO_RETRY,
    });
    const { outcome, output } = await asyncOutcomeOf(() => surface.run(client));
    assertNoSecret(logs.lines.join('\n') + output, [secret], 'the logs');
    assert.ok(surface.allowed(provider.requests), `sent ${brief(JSON.stringify(provider.requests))}`);
    if (outcome.accepted) return surface.check(outcome.value);
    if (surface.alsoRefusedWith?.(outcome.error))
      return assertNoSecret(String(outcome.error), [secret], 'the error');
    assertTypedRejection(outcome.error, {
      secrets: [secret],
      types: [ProviderBadResponseError],
      named: surface.named ?? bodyFields,
    });
  });
}

describe('properties: provider response bodies', () => {
  for (const surface of surfaces) {
    it(`${surface.name}: a hostile body is a well-formed result or a ProviderBadResponseError naming the field`, async () => {
      await fc.assert(bodyProperty(surface, true), parameters(surface.seed ?? SEEDS.providerBodies));
    });
  }

  it('a deliberately weakened validator (test-only) fails every property: ProviderHttp.parse without the schema', async () => {
    // ProviderHttp.parse that trusts the body: what an adapter reading res.body directly would do.
    const original = ProviderHttp.prototype.parse;
    ProviderHttp.prototype.parse = function parseWithoutSchema(_schema, res) {
      return res.body as never;
    };
    try {
      for (const surface of surfaces.filter((s) => (s.reads ?? 'schema') === 'schema')) {
        const details = await fc.check(
          bodyProperty(surface, false),
          weakenedParameters(surface.seed ?? SEEDS.providerBodies),
        );
        assert.equal(details.failed, true, `${surface.name}: the property must catch the weakened validator`);
        console.log(
          `weakened provider-body validator (${surface.name}): counterexample at case ${details.numRuns}`,
        );
      }
    } finally {
      ProviderHttp.prototype.parse = original;
    }
  });

  it('a deliberately weakened validator (test-only) fails the generic HTTP properties: pointers read without their type check', async () => {
    // The generic adapter reads JSON pointers, not a schema: its check is that a pointer finds a non-empty
    // string (or a number). A test-only adapter that reads the same pointers and trusts what they find is what
    // the adapter would be without that check; Stripe, which reads no body at all, has no validator to weaken.
    const trusting: ProviderDefinition = {
      ...genericHttp,
      connect: ({ endpoint: base }) => {
        const transport = new ProviderHttp({ provider: 'HTTP key service', baseUrl: base!, ...NO_RETRY });
        const auth = { authorization: 'Bearer http-rotator-token' };
        return {
          async createKey({ name }: { name: string }) {
            const res = await transport.request({
              call: 'create key',
              method: 'POST',
              path: '/v1/keys',
              idempotent: false,
              headers: auth,
              json: { name },
            });
            return {
              id: readPointer(res.body, '/key/id'),
              name,
              value: readPointer(res.body, '/key/value'),
            } as never;
          },
          async findKeysByName(name: string) {
            const res = await transport.request({
              call: 'list keys',
              method: 'GET',
              path: '/v1/keys',
              headers: auth,
            });
            const items = (readPointer(res.body, '/items') ?? []) as unknown[];
            return items
              .map((item) => ({ id: readPointer(item, '/id'), name: readPointer(item, '/name') }))
              .filter((k) => k.name === name) as never;
          },
          validateKey: async () => 'accepted',
          revokeKey: async () => 'revoked',
        } as unknown as ProviderClient;
      },
    };
    for (const surface of surfaces.filter((s) => s.reads === 'pointers')) {
      const details = await fc.check(
        bodyProperty({ ...surface, definition: trusting }, false),
        weakenedParameters(surface.seed ?? SEEDS.providerBodies),
      );
      assert.equal(details.failed, true, `${surface.name}: the property must catch the weakened reader`);
      console.log(
        `weakened provider-body validator (${surface.name}): counterexample at case ${details.numRuns}`,
      );
    }
  });

  it('a SendGrid list entry with an empty api_key_id is refused, not returned as a key to revoke', async () => {
    const emptyId = fc.constant<BodyCase[]>([{ json: { result: [{ api_key_id: '', name: NAME }] } }]);
    await fc.assert(
      bodyProperty({ ...surfaces[1]!, bodies: emptyId, check: (r) => assertFound(r, true) }, false),
      parameters(SEEDS.providerBodies, 1),
    );
  });

  it('a provider that repeats the same page is listed in a bounded number of requests', async () => {
    const repeating: Record<string, [Surface, string]> = {
      'openai list': [surfaces[3]!, JSON.stringify({ data: [], has_more: true, last_id: 'key_def' })],
      'cloudflare list': [
        surfaces[5]!,
        JSON.stringify({ success: true, result: [], result_info: { total_pages: 1_000_000 } }),
      ],
    };
    await repeatedPages(repeating);
  });

  const surfaceNamed = (name: string) => surfaces.find((s) => s.name === name)!;

  it('a Twilio or Datadog listing that never ends is refused in a bounded number of requests', async () => {
    const full = Array.from({ length: 100 }, (_, i) => ({
      id: `dd-${i}`,
      attributes: { name: `other-${i}` },
    }));
    await repeatedPages({
      'twilio list': [
        surfaceNamed('twilio list'),
        JSON.stringify({
          keys: [],
          meta: { next_page_url: 'https://iam.twilio.com/v1/Keys?PageSize=1000&Page=1' },
        }),
      ],
      'datadog list': [surfaceNamed('datadog list'), JSON.stringify({ data: full })],
    });
  });

  it('a Twilio key with an empty sid is refused, not returned as a created (or listed) key', async () => {
    const create = surfaceNamed('twilio create');
    const emptySid = fc.constant<BodyCase[]>([
      { json: { sid: `SK${HEX32}`, friendly_name: 'x' } },
      { json: { sid: '', friendly_name: NAME, secret: SECRET_SLOT } },
    ]);
    await fc.assert(
      bodyProperty({ ...create, bodies: emptySid, check: assertCreated }, false),
      parameters(SEEDS.providerBodiesMore, 1),
    );
    const list = surfaceNamed('twilio list');
    const listed = fc.constant<BodyCase[]>([
      { json: { keys: [{ sid: '', friendly_name: NAME }], meta: {} } },
    ]);
    await fc.assert(
      bodyProperty({ ...list, bodies: listed, check: (r) => assertFound(r, true) }, false),
      parameters(SEEDS.providerBodiesMore, 1),
    );
  });

  async function repeatedPages(repeating: Record<string, [Surface, string]>): Promise<void> {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...Object.keys(repeating)), async (name) => {
        const [surface, page] = repeating[name]!;
        // The same page every time; after 50 requests, a body that stops the loop so the test ends.
        provider.reset(({ index }) =>
          index < 50 ? { status: 200, body: page } : { status: 200, body: 'stop' },
        );
        const { logger } = capturingLogger();
        const client = surface.definition.connect({
          credential: surface.credential,
          options: surface.options,
          endpoint,
          logger,
          http: NO_RETRY,
        });
        await asyncOutcomeOf(() => client.findKeysByName(NAME));
        assert.ok(
          provider.requests.length <= 20,
          `${surface.name}: ${provider.requests.length} requests for one listing`,
        );
      }),
      parameters(SEEDS.providerBodies, Object.keys(repeating).length),
    );
  }
});
