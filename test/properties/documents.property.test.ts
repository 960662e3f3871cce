import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import fc from 'fast-check';
import { InvalidInputError, type RekeyError } from '../../lambdas/errors.js';
import { PROVIDERS } from '../../lambdas/providers/index.js';
import { sendgrid } from '../../lambdas/providers/sendgrid.js';
import { type ManagedKey, parseManagedKey } from '../../lambdas/secret-format.js';
import { connectProvider } from '../../lambdas/secrets.js';
import { testRoute } from '../support/rotation-env-base.js';
import {
  assertNoSecret,
  assertTypedRejection,
  asyncOutcomeOf,
  brief,
  CaseCounts,
  capturingLogger,
  fieldCase,
  fieldsNamed,
  hostileOrSecret,
  isoTimestamp,
  judge,
  type ObjectCase,
  objectCase,
  outcomeOf,
  parameters,
  SECRET_SLOT,
  SEEDS,
  secretBearing,
  secretValue,
  WHOLE,
  weakenedParameters,
  withSecret,
} from './support.js';

/**
 * Surface 2: the documents rekey keeps in Secrets Manager — the managed key document (its `key` is the
 * secret) and the rotator credential document (its value is the admin key) — as whatever text a person or
 * a bad write left in the SecretString.
 */

const counts = new CaseCounts();
after(() => counts.print());

const WHERE = { secretId: 'prod/sendgrid/api-key', versionId: 'v-hostile' };
const ARNS = [
  'arn:aws:secretsmanager:us-east-1:123456789012:secret:rekey/rotator/sendgrid-AbCdEf',
  'arn:aws-us-gov:secretsmanager:us-gov-west-1:123456789012:secret:x-123456',
];

/** The key document, field by field; the contract in one line each, written without the schema. */
const keyDocument: fc.Arbitrary<ObjectCase> = objectCase(
  {
    provider: fieldCase(fc.constantFrom(...Object.keys(PROVIDERS)), judge.nonEmptyString),
    // The secret itself, where it belongs — or a wrong type that still carries it.
    key: fieldCase(fc.constant(SECRET_SLOT), judge.nonEmptyString, {
      hostile: fc.oneof(hostileOrSecret, secretBearing),
    }),
    keyId: fieldCase(fc.oneof(fc.uuid(), fc.constant('abc')), judge.nonEmptyString),
    keyName: fieldCase(fc.constant('rekey-prod-sendgrid-api-key-1'), judge.nonEmptyString, {
      optional: true,
    }),
    createdAt: fieldCase(isoTimestamp, judge.isoTimestamp),
    rotatorSecretArn: fieldCase(fc.constantFrom(...ARNS), (v) =>
      typeof v === 'string' && v.startsWith('arn:') ? undefined : false,
    ),
    options: fieldCase(
      fc.constantFrom({}, { scopes: ['mail.send'] }),
      (v) => v !== null && typeof v === 'object' && !Array.isArray(v),
      { optional: true },
    ),
  },
  { extrasAllowed: false },
);

interface DocumentCase {
  text: string | undefined;
  /** The generated document (secret filled in), when it is one. */
  input: unknown;
  secret: string;
  bad: string[];
  unsure: string[];
}

/** What is stored: a generated document (as JSON), raw text that is not JSON, or no SecretString at all. */
type Stored = { document: ObjectCase } | { text: string } | { absent: true };

const NOT_JSON = [
  SECRET_SLOT,
  `{"key":"${SECRET_SLOT}"`,
  `key=${SECRET_SLOT}`,
  `{'key': '${SECRET_SLOT}'}`,
  '',
];

const documentCase: fc.Arbitrary<DocumentCase> = fc
  .tuple(
    secretValue,
    fc.oneof(
      { weight: 8, arbitrary: keyDocument.map((document): Stored => ({ document })) },
      { weight: 1, arbitrary: fc.constantFrom(...NOT_JSON).map((text): Stored => ({ text })) },
      { weight: 1, arbitrary: fc.constant<Stored>({ absent: true }) },
    ),
  )
  .map(([secret, stored]): DocumentCase => {
    if ('absent' in stored) return { text: undefined, input: undefined, secret, bad: [WHOLE], unsure: [] };
    if ('text' in stored) {
      const text = withSecret(stored.text, secret);
      return { text, input: text, secret, bad: [WHOLE], unsure: [] };
    }
    // The secret is substituted before serializing: JSON would escape the slot's NUL characters.
    const input = withSecret(stored.document.input, secret);
    return {
      text: JSON.stringify(input),
      input,
      secret,
      bad: stored.document.bad,
      unsure: stored.document.unsure,
    };
  });

/** The field a key-document refusal is about: its `field`, or the document when it is not one. */
function refusedField(error: RekeyError): string {
  if (error.field !== undefined) {
    assert.ok(
      error.message.includes(`field "${error.field}"`),
      `the message names another field than ${brief(error.field)}`,
    );
    return error.field === '(document)' ? WHOLE : error.field;
  }
  assert.match(error.message, /is not JSON|has no SecretString/, `no field named: ${brief(error.message)}`);
  return WHOLE;
}

type Parse = (text: string | undefined) => ManagedKey;
const realParse: Parse = (text) => parseManagedKey(text, WHERE);

/** Accepted iff the contract accepts; a refusal is an InvalidInputError naming a broken field, never the key. */
function documentProperty(parse: Parse, count: boolean) {
  return fc.property(documentCase, ({ text, input, secret, bad, unsure }) => {
    if (count) counts.count('secret-document');
    const { outcome, output } = outcomeOf(() => parse(text));
    assert.equal(output, '', 'parsing wrote to stdout/stderr');
    if (outcome.accepted) {
      assert.deepEqual(bad, [], `accepted a document with a bad ${bad.join(', ')}`);
      const doc = outcome.value;
      assert.equal(doc.key, (input as { key?: unknown }).key, 'the parsed key is the stored one');
      assert.ok(typeof doc.keyId === 'string' && doc.keyId.length > 0);
      assert.ok(doc.options !== null && typeof doc.options === 'object' && !Array.isArray(doc.options));
      return;
    }
    assert.ok(bad.length + unsure.length > 0, `refused a valid document: ${brief(String(outcome.error))}`);
    // The field check reads error.field (set with the message), since unknown keys may hold quotes.
    const error = assertTypedRejection(outcome.error, {
      secrets: [secret],
      types: [InvalidInputError],
      named: (message) => [message],
      expectField: () => true,
    });
    assert.equal(error.code, 'INVALID_SECRET');
    const field = refusedField(error);
    assert.ok(
      [...bad, ...unsure].some((b) => field === b || field.includes(b)),
      `refused for ${brief(field)}, not one of the broken fields ${brief([...bad, ...unsure].join(', '))}`,
    );
  });
}

/** The rotator credential document for SendGrid ({ apiKey }), read the way every rotation reads it. */
const credentialCase = fc
  .tuple(
    secretValue,
    fc.oneof(
      {
        weight: 8,
        arbitrary: objectCase(
          {
            apiKey: fieldCase(fc.constant(SECRET_SLOT), judge.nonEmptyString, {
              hostile: fc.oneof(hostileOrSecret, secretBearing),
            }),
          },
          { nonObjects: false },
        ).map((c) => ({ ...c, text: undefined as string | undefined })),
      },
      {
        weight: 1,
        arbitrary: fc
          .constantFrom(SECRET_SLOT, `apiKey=${SECRET_SLOT}`, `{"apiKey":"${SECRET_SLOT}"`)
          .map((text) => ({
            input: text as unknown,
            text: text as string | undefined,
            bad: [WHOLE],
            unsure: [] as string[],
          })),
      },
    ),
  )
  .map(([secret, c]) => ({
    secret,
    text: c.text === undefined ? JSON.stringify(withSecret(c.input, secret)) : withSecret(c.text, secret),
    bad: c.bad,
  }));

/** A credential refusal names its field, or the document when the text is not JSON. */
const credentialFields = (message: string): string[] => [
  ...fieldsNamed(message),
  ...(/is not JSON/.test(message) ? ['(document)'] : []),
];

const DOC: ManagedKey = {
  provider: 'sendgrid',
  key: 'SG.current-key-value-0000000000',
  keyId: 'key-1',
  createdAt: '2026-11-25T06:00:00.000Z',
  rotatorSecretArn: ARNS[0]!,
  options: {},
};

/** What the deployment pins for DOC's secret: DOC repeats it, so only the credential decides. */
const ROUTE = testRoute(WHERE.secretId, 'sendgrid', { rotatorSecret: 'rekey/rotator/sendgrid' });

/** A Secrets Manager that answers every GetSecretValue with `text` and records the calls. */
function storedCredential(text: string | undefined): { sm: SecretsManagerClient; calls: string[] } {
  const calls: string[] = [];
  const sm = {
    send: async (command: object) => {
      calls.push(command.constructor.name);
      return { SecretString: text, VersionId: 'v1' };
    },
  } as unknown as SecretsManagerClient;
  return { sm, calls };
}

describe('properties: secret documents', () => {
  it('hostile key documents are parsed exactly when valid, or refused naming the field, never echoing the key', () => {
    fc.assert(documentProperty(realParse, true), parameters(SEEDS.secretDocument));
  });

  it('hostile rotator credentials connect or are refused naming the field, never echoing the admin key', async () => {
    await fc.assert(
      fc.asyncProperty(credentialCase, async ({ secret, text, bad }) => {
        counts.count('rotator-credential');
        const { sm, calls } = storedCredential(text);
        const { logger, logs } = capturingLogger();
        const { outcome, output } = await asyncOutcomeOf(() =>
          connectProvider(sm, logger, WHERE.secretId, DOC, ROUTE, { provider: sendgrid }),
        );
        assert.deepEqual(calls, ['GetSecretValueCommand'], 'only the credential is read');
        assertNoSecret(logs.lines.join('\n') + output, [secret], 'the logs');
        if (outcome.accepted) {
          assert.deepEqual(bad, [], `connected with a bad ${bad.join(', ')}`);
          return;
        }
        const error = assertTypedRejection(outcome.error, {
          secrets: [secret],
          types: [InvalidInputError],
          named: credentialFields,
        });
        assert.equal(error.code, 'ROTATOR_CREDENTIAL');
      }),
      parameters(SEEDS.secretDocument),
    );
  });

  it('a deliberately weakened validator (test-only) fails the property: JSON.parse without the schema', () => {
    // A reader that trusts the stored text: whatever JSON is there becomes a key document.
    const weakened: Parse = (text) => JSON.parse(text ?? 'null') as ManagedKey;
    const details = fc.check(documentProperty(weakened, false), weakenedParameters(SEEDS.secretDocument));
    assert.equal(details.failed, true, 'the property must catch the weakened validator');
    console.log(`weakened secret-document validator: counterexample at case ${details.numRuns}`);
  });

  it('a rotator credential that is JSON but not an object is refused naming the document', async () => {
    await fc.assert(
      fc.asyncProperty(
        secretValue,
        fc.constantFrom('"<s>"', '["<s>"]', 'null', '5', 'true'),
        async (secret, shape) => {
          const { sm } = storedCredential(shape.replace('<s>', secret));
          const { logger } = capturingLogger();
          const { outcome } = await asyncOutcomeOf(() =>
            connectProvider(sm, logger, WHERE.secretId, DOC, ROUTE, { provider: sendgrid }),
          );
          assert.ok(!outcome.accepted);
          assertTypedRejection(outcome.error, { secrets: [secret] });
        },
      ),
      parameters(SEEDS.secretDocument, 20),
    );
  });
});
