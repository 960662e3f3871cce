import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { ProviderBadResponseError, ProviderRejectedError } from '../../lambdas/errors.js';
import { cloudflare } from '../../lambdas/providers/cloudflare.js';
import { ProviderHttp } from '../../lambdas/providers/http.js';
import { openai } from '../../lambdas/providers/openai.js';
import { sendgrid } from '../../lambdas/providers/sendgrid.js';
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

type BodyCase = { json: unknown } | { text: string };
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
  status: number;
  run(client: ProviderClient): Promise<unknown>;
  /** What an accepted result must be, checked without the adapter's schema. */
  check(result: unknown): void;
  /** Requests the call may send; anything else (a re-sent create, a revocation) fails the case. */
  allowed(requests: Array<{ method: string; path: string }>): boolean;
  /** Extra refusals this call may make besides ProviderBadResponseError. */
  alsoRefusedWith?: (error: unknown) => boolean;
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
    const answers = bodies.map((b) => render(b, secret));
    provider.reset(({ index }) =>
      index < answers.length ? { status: surface.status, body: answers[index]! } : surface.rest,
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
      named: bodyFields,
    });
  });
}

describe('properties: provider response bodies', () => {
  for (const surface of surfaces) {
    it(`${surface.name}: a hostile body is a well-formed result or a ProviderBadResponseError naming the field`, async () => {
      await fc.assert(bodyProperty(surface, true), parameters(SEEDS.providerBodies));
    });
  }

  it('a deliberately weakened validator (test-only) fails every property: ProviderHttp.parse without the schema', async () => {
    // ProviderHttp.parse that trusts the body: what an adapter reading res.body directly would do.
    const original = ProviderHttp.prototype.parse;
    ProviderHttp.prototype.parse = function parseWithoutSchema(_schema, res) {
      return res.body as never;
    };
    try {
      for (const surface of surfaces) {
        const details = await fc.check(
          bodyProperty(surface, false),
          weakenedParameters(SEEDS.providerBodies),
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
          options: {},
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
      parameters(SEEDS.providerBodies, 2),
    );
  });
});
