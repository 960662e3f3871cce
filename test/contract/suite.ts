import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, it } from 'node:test';
import {
  ProviderOutcomeUnknownError,
  ProviderRateLimitedError,
  ProviderRejectedError,
  ProviderUnavailableError,
} from '../../lambdas/errors.js';
import { Logger } from '../../lambdas/logger.js';
import type { KeyMaterial, ProviderClient } from '../../lambdas/providers/types.js';
import { keyNameFor } from '../../lambdas/rotation.js';
import type { Fault } from '../../local/sandboxes/sandbox.js';
import { rejection } from '../support/assertions.js';
import { CapturedLogs } from '../support/env.js';
import type { ContractFixture, SeededProvider } from './fixture.js';
import { ContractRotationEnv, recordedRetries } from './rotation-env.js';

/**
 * The instant every sandbox in the suite stamps events with, so last-used reports are exact: the suite's
 * start, to the second, so a provider's clock agrees with the rotator's (IAM's crash marker relies on it).
 */
const NOW = new Date(Math.floor(Date.now() / 1000) * 1000);

/** The same key id with a secret the provider never issued. */
function forged(key: KeyMaterial): KeyMaterial {
  const last = key.value.at(-1) === 'a' ? 'b' : 'a';
  return { id: key.id, value: `${key.value.slice(0, -1)}${last}` };
}

/** A JSON error body parsed; any other body (AWS Query protocol XML) as its text. */
function parsedBody(text: string): unknown {
  if (!text) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

/**
 * The shared provider contract: every adapter, run against its provider's sandbox, must pass this
 * unchanged. A provider joins by registering a fixture (test/contract/<provider>.test.ts).
 */
export function providerContract(fixture: ContractFixture): void {
  const { provider } = fixture;
  const label = fixture.variant ? `${provider.displayName} (${fixture.variant})` : provider.displayName;

  describe(`provider contract: ${label} adapter against its sandbox`, () => {
    let seeded: SeededProvider;
    let client: ProviderClient;
    let retries: ReturnType<typeof recordedRetries>;
    const logs = new CapturedLogs();

    const secrets = (): string[] => [
      seeded.current.value,
      ...Object.values(seeded.credential).filter((v): v is string => typeof v === 'string'),
      ...seeded.sandbox.issuedSecrets(),
    ];
    const assertNoSecretIn = (text: string): void => {
      for (const secret of secrets()) assert.ok(!text.includes(secret), 'no key value in an error message');
    };

    beforeEach(async () => {
      seeded = await fixture.seed(() => NOW);
      retries = recordedRetries();
      client = provider.connect({
        credential: provider.credentialSchema.parse(seeded.credential),
        options: provider.optionsSchema.parse(seeded.options),
        endpoint: seeded.sandbox.url,
        logger: new Logger(logs.sink, {}, 'debug'),
        http: { timeoutMs: 2000, retry: retries.policy, retryHooks: retries.hooks },
      });
    });
    afterEach(async () => {
      assert.deepEqual(logs.leaks(secrets()), [], 'no secret value in any log line');
      await seeded.sandbox.stop();
    });

    it('creates a key under the given name with the current key’s permissions, and the new key authenticates', async () => {
      // Act
      const created = await client.createKey({ name: 'rekey-contract-1', likeKeyId: seeded.current.id });
      // Assess
      assert.equal(created.name, 'rekey-contract-1');
      assert.ok(seeded.accepts(created), 'the provider accepts the new key');
      assert.deepEqual(seeded.permissionsOf(created.id), seeded.permissionsOf(seeded.current.id));
      assert.deepEqual(
        seeded
          .appKeys()
          .map((k) => k.id)
          .sort(),
        [seeded.current.id, created.id].sort(),
      );
      assert.equal(await client.validateKey(created), 'accepted');
    });

    it(`finds what a crashed attempt left under a name${provider.capabilities.valueReadable ? ', value included' : ', without the value the provider no longer shows'}`, async () => {
      // Prepare
      const created = await client.createKey({ name: 'rekey-contract-2', likeKeyId: seeded.current.id });
      // Act
      const found = await client.findKeysByName('rekey-contract-2');
      const none = await client.findKeysByName('rekey-contract-absent');
      // Assess
      assert.deepEqual(
        found.map((k) => ({ id: k.id, name: k.name })),
        [{ id: created.id, name: 'rekey-contract-2' }],
      );
      assert.equal(found[0]!.value, provider.capabilities.valueReadable ? created.value : undefined);
      assert.deepEqual(none, []);
    });

    it('finds a key that sits beyond the first page of the provider’s key list', {
      skip: fixture.listPageSize === undefined && `every ${provider.displayName} key fits one list page`,
    }, async () => {
      // Prepare
      assert.ok(seeded.addOtherKeys, 'a fixture with a list page size can add keys');
      seeded.addOtherKeys(fixture.listPageSize! + 1);
      const created = await client.createKey({ name: 'rekey-contract-paged', likeKeyId: seeded.current.id });
      // Act
      const found = await client.findKeysByName('rekey-contract-paged');
      // Assess
      assert.deepEqual(
        found.map((k) => k.id),
        [created.id],
      );
    });

    it('accepts the current key, rejects a forged secret and a revoked key', async () => {
      // Prepare
      const created = await client.createKey({ name: 'rekey-contract-3', likeKeyId: seeded.current.id });
      await client.revokeKey(created.id);
      // Act + Assess
      assert.equal(await client.validateKey(seeded.current), 'accepted');
      assert.equal(await client.validateKey(forged(seeded.current)), 'rejected');
      assert.equal(await client.validateKey(created), 'rejected');
    });

    it(`tells whether a key id is the provider’s id of a key (${fixture.keyIdCheck ?? 'cannot tell'})`, async () => {
      if (fixture.keyIdCheck === undefined) {
        // Import then warns that the id could not be checked; an adapter that gains the method must say so here.
        assert.equal(client.identifies, undefined, 'the fixture declares no keyIdCheck');
        return;
      }
      assert.ok(client.identifies, `the fixture declares keyIdCheck "${fixture.keyIdCheck}"`);
      // Prepare: another key of the account, whose id is then given with the current key's value
      const other = await client.createKey({ name: 'rekey-contract-id', likeKeyId: seeded.current.id });
      const withOtherId = { id: other.id, value: seeded.current.value };
      // Act
      const own = await client.identifies(seeded.current);
      const created = await client.identifies(other);
      const another = await client.identifies(withOtherId);
      await client.revokeKey(other.id);
      // An id the provider does not know (the revoked key's): `differs`, never an error.
      const unknown = await client.identifies(withOtherId);
      // Assess
      const expected =
        fixture.keyIdCheck === 'full'
          ? ['matches', 'matches', 'differs', 'differs']
          : ['unconfirmed', 'unconfirmed', 'unconfirmed', 'differs'];
      assert.deepEqual(
        [own, created, another, unknown].map((v) => v.verdict),
        expected,
      );
      for (const verdict of [another, unknown]) {
        // Where the provider's answer names the value's real id, it is the current key's.
        if (verdict.verdict === 'differs' && verdict.providerKeyId !== undefined)
          assert.equal(verdict.providerKeyId, seeded.current.id);
        if (verdict.verdict !== 'matches') assert.ok(verdict.find.length > 0, 'says where the id is found');
        assertNoSecretIn(JSON.stringify(verdict));
      }
    });

    it('revokes a key so it stops authenticating, and a second revocation reports it already gone', async () => {
      // Prepare
      const created = await client.createKey({ name: 'rekey-contract-4', likeKeyId: seeded.current.id });
      // Act
      const first = await client.revokeKey(created.id);
      const second = await client.revokeKey(created.id);
      // Assess
      assert.equal(first, 'revoked');
      assert.equal(second, 'already-gone');
      assert.equal(seeded.accepts(created), false);
      assert.ok(seeded.accepts(seeded.current), 'the current key is untouched');
      assert.deepEqual(
        seeded.appKeys().map((k) => k.id),
        [seeded.current.id],
      );
    });

    it('refuses to create beyond the provider’s key limit with a permanent error naming the limit, creating nothing', {
      skip: fixture.keyLimit === undefined && `${provider.displayName} documents no key limit`,
    }, async () => {
      // Prepare
      assert.ok(seeded.fillToLimit, 'a fixture with a key limit can fill the account');
      seeded.fillToLimit();
      const before = seeded.appKeys().length;
      // Act
      const error = await rejection(
        client.createKey({ name: 'rekey-contract-5', likeKeyId: seeded.current.id }),
      );
      // Assess
      assert.ok(error instanceof ProviderRejectedError, `got ${error.name}: ${error.message}`);
      assert.equal(error.retryable, false);
      assert.match(error.message, /limit|at most|maximum/i);
      assert.equal(seeded.appKeys().length, before);
      assertNoSecretIn(error.message);
    });

    it('reports how full the account is against the provider’s key limit, from its key list', {
      skip: fixture.keyLimit === undefined && `${provider.displayName} documents no key limit`,
    }, async () => {
      // Prepare
      assert.ok(
        client.keyQuota,
        'an adapter for a provider with a key limit reports the account’s use of it',
      );
      const before = await client.keyQuota();
      seeded.fillToLimit!();
      // Act
      const full = await client.keyQuota();
      // Assess
      assert.equal(before.cap, fixture.keyLimit);
      assert.ok(
        before.held < before.cap,
        `held ${before.held} of ${before.cap} before the account was filled`,
      );
      assert.equal(full.held, full.cap, 'the account filled to its limit is at its cap');
      assert.ok(full.account.length > 0 && full.makeRoom.length > 0);
      assertNoSecretIn(`${full.account} ${full.makeRoom}`);
    });

    it('waits as long as a 429’s Retry-After asks, then succeeds with exactly one new key', async () => {
      // Prepare
      seeded.sandbox.injectFault({ status: 429, times: 1, retryAfterSeconds: 7 });
      // Act
      const created = await client.createKey({ name: 'rekey-contract-6', likeKeyId: seeded.current.id });
      // Assess
      assert.ok(retries.waits.includes(7000), `waited ${retries.waits.join(', ')} ms`);
      assert.equal(seeded.appKeys().filter((k) => k.name === 'rekey-contract-6').length, 1);
      assert.ok(seeded.accepts(created));
    });

    it('retries a persistent 5xx on a call that is safe to repeat, then fails with a retryable error and nothing changed', async () => {
      // Prepare
      seeded.sandbox.injectFault({ status: 503, times: 100 });
      const before = seeded.appKeys();
      // Act
      const error = await rejection(client.revokeKey(seeded.current.id));
      // Assess
      assert.ok(error instanceof ProviderUnavailableError, `got ${error.name}: ${error.message}`);
      assert.equal(error.retryable, true);
      assert.equal(retries.waits.length, retries.policy.attempts - 1, 'every attempt was used');
      seeded.sandbox.clearFaults();
      assert.deepEqual(seeded.appKeys(), before);
      assert.ok(seeded.accepts(seeded.current));
      assertNoSecretIn(error.message);
    });

    it('sends a create that answers 5xx once: an unknown outcome, never re-sent', async () => {
      // Prepare: a 5xx before the provider processed the create, which the adapter cannot tell apart
      let creates = 0;
      seeded.sandbox.injectFault({
        status: 503,
        times: 100,
        match: (req) => {
          const create = seeded.createRequest(req);
          if (create) creates += 1;
          return create;
        },
      });
      const before = seeded.appKeys();
      // Act
      const error = await rejection(
        client.createKey({ name: 'rekey-contract-7', likeKeyId: seeded.current.id }),
      );
      // Assess
      assert.ok(error instanceof ProviderOutcomeUnknownError, `got ${error.name}: ${error.message}`);
      assert.equal(error.retryable, true);
      assert.equal(creates, 1, 'the create was sent once');
      assert.deepEqual(seeded.appKeys(), before);
      assertNoSecretIn(error.message);
    });

    const lostAnswers: Array<{ what: string; fault: Fault }> = [
      { what: 'a 5xx after the key was made', fault: { status: 503, after: true, times: 1 } },
      { what: 'a connection cut after the key was made', fault: { reset: true, times: 1 } },
    ];
    for (const { what, fault } of lostAnswers) {
      it(`finds by name the one key made by a create whose answer was lost (${what}), never re-sending it`, async () => {
        // Prepare
        const name = 'rekey-contract-lost';
        const before = new Set(seeded.appKeys().map((k) => k.id));
        seeded.sandbox.injectFault({ ...fault, match: seeded.createRequest });
        // Act
        const error = await rejection(client.createKey({ name, likeKeyId: seeded.current.id }));
        const found = await client.findKeysByName(name);
        // Assess
        assert.ok(error instanceof ProviderOutcomeUnknownError, `got ${error.name}: ${error.message}`);
        assert.equal(error.retryable, true);
        assert.deepEqual(retries.waits, [], 'nothing was retried');
        assertNoSecretIn(error.message);
        const made = seeded.appKeys().filter((k) => !before.has(k.id));
        assert.equal(made.length, 1, 'exactly one key was made');
        // An IAM access key has no name of its own: the in-flight marker names it until it is tagged.
        assert.ok(made[0]!.name === name || made[0]!.name === '', `made "${made[0]!.name}"`);
        assert.deepEqual(
          found.map((k) => ({ id: k.id, name: k.name })),
          [{ id: made[0]!.id, name }],
        );
      });
    }

    it('fails a persistent 429 with a retryable rate-limit error, and revokes nothing', async () => {
      // Prepare
      seeded.sandbox.injectFault({ status: 429, times: 100, retryAfterSeconds: 1 });
      // Act
      const error = await rejection(client.revokeKey(seeded.current.id));
      // Assess
      assert.ok(error instanceof ProviderRateLimitedError, `got ${error.name}: ${error.message}`);
      assert.equal(error.retryable, true);
      seeded.sandbox.clearFaults();
      assert.ok(seeded.accepts(seeded.current));
    });

    it('reports when a key was last used, and null before its first use', {
      skip: !provider.capabilities.lastUsed && `${provider.displayName} does not report key use`,
    }, async () => {
      assert.ok(client.lastUsed && seeded.use, 'lastUsed capability needs client.lastUsed and fixture.use');
      // Prepare
      const created = await client.createKey({ name: 'rekey-contract-8', likeKeyId: seeded.current.id });
      const before = await client.lastUsed(created.id);
      // Act
      await seeded.use(created);
      // Assess
      assert.equal(before, null);
      assert.deepEqual(await client.lastUsed(created.id), NOW);
    });

    it('sandbox refuses requests that break the documented API, with the provider’s error shape', async () => {
      assert.ok(
        seeded.violations.length >= 2,
        'each sandbox proves at least wrong auth and a malformed body',
      );
      const before = seeded.appKeys();
      for (const violation of seeded.violations) {
        // Act
        const res = await fetch(new URL(violation.path, seeded.sandbox.url), {
          method: violation.method,
          headers: violation.headers,
          ...(violation.body === undefined ? {} : { body: violation.body }),
        });
        const text = await res.text();
        // Assess
        assert.equal(res.status, violation.status, `${violation.what}: status`);
        assert.ok(violation.errorShape(parsedBody(text)), `${violation.what}: error shape`);
      }
      assert.deepEqual(seeded.appKeys(), before, 'nothing changed');
    });
  });

  describe(`provider contract: rotating a ${label} key through RotateSecret`, () => {
    let env: ContractRotationEnv;
    beforeEach(async () => {
      env = await new ContractRotationEnv(fixture).start();
    });
    afterEach(() => env.stop());

    it('rotates with both keys valid after, then revoking the old key leaves exactly the new one', async () => {
      // Prepare
      const before = await env.read('AWSCURRENT');
      // Act
      const versionId = await env.rotate();
      // Assess
      assert.equal(env.lastOutcome()?.ok, true, env.lastOutcome()?.error);
      const current = await env.read('AWSCURRENT');
      const previous = await env.read('AWSPREVIOUS');
      assert.equal(current.versionId, versionId);
      assert.equal(previous.versionId, before.versionId);
      assert.notEqual(current.keyId, previous.keyId);
      assert.ok(env.seeded.accepts({ id: current.keyId, value: current.key }), 'the new key authenticates');
      assert.ok(env.seeded.accepts({ id: previous.keyId, value: previous.key }), 'the old key still does');
      assert.deepEqual(env.seeded.permissionsOf(current.keyId), env.seeded.permissionsOf(previous.keyId));
      assert.equal(env.seeded.appKeys().length, 2);
      assert.deepEqual(env.aws.secretsManager.stagesOf(env.secretArn)[versionId], ['AWSCURRENT']);

      // Act: the revocation the scheduled revoker performs after the grace period
      const client = env.fixture.provider.connect({
        credential: env.fixture.provider.credentialSchema.parse(env.seeded.credential),
        options: env.fixture.provider.optionsSchema.parse(current.options),
        endpoint: env.seeded.sandbox.url,
        logger: env.logger,
      });
      const revoked = await client.revokeKey(previous.keyId);
      // Assess
      assert.equal(revoked, 'revoked');
      assert.equal(env.seeded.accepts({ id: previous.keyId, value: previous.key }), false);
      assert.ok(env.seeded.accepts({ id: current.keyId, value: current.key }));
      assert.deepEqual(
        env.seeded.appKeys().map((k) => k.id),
        [current.keyId],
        'no key is orphaned',
      );
      assert.deepEqual(env.leakedLines(), []);
    });

    it('meets a full account with a permanent error naming the secret, the account, the cap and the fix, before it creates or stores anything', {
      skip: fixture.keyLimit === undefined && `${provider.displayName} documents no key limit`,
    }, async () => {
      // Prepare
      env.seeded.fillToLimit!();
      const keysBefore = env.seeded.appKeys();
      let creates = 0;
      // A fault that never fires, to see every request: how many would have created a key.
      env.seeded.sandbox.injectFault({
        status: 500,
        times: 1,
        match: (req) => {
          if (env.seeded.createRequest(req)) creates += 1;
          return false;
        },
      });
      // Act
      const versionId = await env.rotate();
      // Assess
      const outcome = env.lastOutcome();
      assert.equal(outcome?.ok, false);
      assert.equal(outcome?.failedStep, 'createSecret');
      assert.match(outcome?.error ?? '', /^ProviderAccountFullError: /);
      assert.ok(outcome?.error?.includes(env.secretName), outcome?.error);
      assert.match(outcome?.error ?? '', new RegExp(`allows at most ${fixture.keyLimit}\\b`));
      assert.match(outcome?.error ?? '', /delete|revoke/i);
      assert.equal(creates, 0, 'no create request reached the provider');
      assert.deepEqual(env.seeded.appKeys(), keysBefore);
      assert.deepEqual(env.aws.secretsManager.stagesOf(env.secretArn)[versionId], ['AWSPENDING']);
      await assert.rejects(env.read('AWSPENDING'), 'the pending version holds no value');
      assert.deepEqual(env.leakedLines(), []);
    });

    it(`after a crash between create and store, ${provider.capabilities.valueReadable ? 'adopts the key left behind' : 'revokes the unrecoverable key and creates one fresh key'}`, async () => {
      // Prepare: the key a crashed createSecret created for this version, never stored
      const token = randomUUID();
      const name = keyNameFor(env.secretName, token, env.fixture.provider.maxKeyNameLength);
      const client = env.fixture.provider.connect({
        credential: env.fixture.provider.credentialSchema.parse(env.seeded.credential),
        options: env.fixture.provider.optionsSchema.parse(env.seeded.options),
        endpoint: env.seeded.sandbox.url,
        logger: env.logger,
      });
      const leftover = await client.createKey({ name, likeKeyId: env.seeded.current.id });
      env.secretValues.add(leftover.value);
      // Act
      await env.rotate(token);
      // Assess
      assert.equal(env.lastOutcome()?.ok, true, env.lastOutcome()?.error);
      const current = await env.read('AWSCURRENT');
      assert.equal(current.keyName, name);
      assert.equal(
        env.seeded.appKeys().filter((k) => k.name === name).length,
        1,
        'exactly one key for the version',
      );
      if (env.fixture.provider.capabilities.valueReadable) {
        assert.equal(current.keyId, leftover.id);
      } else {
        assert.notEqual(current.keyId, leftover.id);
        assert.equal(env.seeded.accepts(leftover), false, 'the unrecoverable key was revoked');
      }
      assert.ok(env.seeded.accepts({ id: current.keyId, value: current.key }));
      assert.deepEqual(env.leakedLines(), []);
    });
  });
}
