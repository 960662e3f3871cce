import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvalidInputError } from '../../lambdas/errors.js';
import { keyNameFor } from '../../lambdas/rotation.js';
import { parseManagedKey, serializeManagedKey } from '../../lambdas/secret-format.js';

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
