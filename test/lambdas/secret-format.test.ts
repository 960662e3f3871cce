import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as z from 'zod/mini';
import { InvalidInputError } from '../../lambdas/errors.js';
import { sendgrid } from '../../lambdas/providers/sendgrid.js';
import { keyNameFor } from '../../lambdas/rotation.js';
import { describeIssue, parseManagedKey, serializeManagedKey } from '../../lambdas/secret-format.js';

const valid = {
  provider: 'sendgrid',
  key: 'SG.secret-value-123',
  keyId: 'abc',
  createdAt: '2026-11-25T06:00:00.000Z',
  rotatorSecretArn: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:rekey/rotator-AbCdEf',
};

function failure(text: string): InvalidInputError {
  try {
    parseManagedKey(text, { secretId: 'prod/key', versionId: 'v1' });
  } catch (error) {
    assert.ok(error instanceof InvalidInputError);
    assert.ok(!error.message.includes('SG.secret-value-123'), 'no key value in the message');
    return error;
  }
  assert.fail('expected a failure');
}

describe('the key document', () => {
  it('parses a valid document and defaults options', () => {
    const doc = parseManagedKey(JSON.stringify(valid), { secretId: 'prod/key' });
    assert.deepEqual(doc, { ...valid, options: {} });
    assert.deepEqual(JSON.parse(serializeManagedKey(doc)), { ...valid, options: {} });
  });

  const cases: Array<[string, Record<string, unknown>, string, RegExp]> = [
    ['a missing key id', { ...valid, keyId: undefined }, 'keyId', /field "keyId" is missing/],
    ['an empty key', { ...valid, key: '' }, 'key', /field "key" must not be empty/],
    [
      'a timestamp that is not ISO 8601',
      { ...valid, createdAt: 'yesterday' },
      'createdAt',
      /must be an ISO 8601 timestamp/,
    ],
    [
      'a rotator reference that is not a secret ARN',
      { ...valid, rotatorSecretArn: 'rekey/rotator' },
      'rotatorSecretArn',
      /must be the ARN of a Secrets Manager secret/,
    ],
    [
      'an unknown field',
      { ...valid, previous_key: 'SG.secret-value-123' },
      'previous_key',
      /is not part of the format/,
    ],
    ['a key that is not a string', { ...valid, key: 42 }, 'key', /must be string/],
  ];
  for (const [what, doc, field, message] of cases) {
    it(`refuses ${what}, naming the secret, version and field`, () => {
      const error = failure(JSON.stringify(doc));
      assert.equal(error.field, field);
      assert.equal(error.code, 'INVALID_SECRET');
      assert.match(error.message, /^secret prod\/key \(version v1\): field/);
      assert.match(error.message, message);
    });
  }

  it('refuses text that is not JSON without echoing it', () => {
    assert.match(failure('SG.secret-value-123').message, /is not JSON; store the rekey key document/);
  });
});

describe('describeIssue: a problem in words, with no locale loaded (zod/mini) and no value echoed', () => {
  const words = (schema: z.ZodMiniType, input: unknown) => {
    const parsed = schema.safeParse(input);
    assert.ok(!parsed.success, 'the input is refused');
    return describeIssue(parsed.error.issues[0]!, input);
  };

  it('names the accepted values of an enum', () => {
    assert.equal(words(sendgrid.optionsSchema, { region: 'moon' }), 'must be one of "global", "eu"');
  });

  it('gives a bound other than "not empty" with its unit', () => {
    assert.equal(
      words(z.object({ id: z.string().check(z.minLength(16)) }), { id: 'AKIA' }),
      'must be at least 16 characters',
    );
    assert.equal(words(z.object({ n: z.number().check(z.gte(100)) }), { n: 7 }), 'must be at least 100');
    assert.equal(words(z.object({ n: z.number().check(z.lte(599)) }), { n: 700 }), 'must be at most 599');
  });

  it('tells a missing field from a mistyped one, at any depth', () => {
    const nested = z.object({ a: z.object({ b: z.string() }) });
    assert.equal(words(nested, { a: {} }), 'is missing');
    assert.equal(words(nested, { a: { b: 5 } }), 'must be string');
  });

  it("keeps a schema's own message (refinements, regexes)", () => {
    const checked = z.string().check(z.refine((v) => v.startsWith('/'), 'must start with "/"'));
    assert.equal(words(z.object({ path: checked }), { path: 'x' }), 'must start with "/"');
  });
});

describe('provider-side key names', () => {
  const token = '3f2c1d0e-8a9b-4c7d-9e8f-0a1b2c3d4e5f';
  it('derive from secret and version, deterministically', () => {
    assert.equal(
      keyNameFor('secret/prod/sendgrid/api-key', token, 100),
      `rekey-secret-prod-sendgrid-api-key-${token}`,
    );
    assert.equal(
      keyNameFor('secret/prod/sendgrid/api-key', token, 100),
      keyNameFor('secret/prod/sendgrid/api-key', token, 100),
    );
  });
  it("fit the provider's length limit while keeping the whole version", () => {
    const name = keyNameFor('a'.repeat(300), token, 64);
    assert.ok(name.length <= 64);
    assert.ok(name.endsWith(token));
  });
  it('hash tokens that are long or carry unusual characters', () => {
    const name = keyNameFor('k', 'x'.repeat(64), 64);
    assert.match(name, /^rekey-k-[0-9a-f]{32}$/);
  });
});
