/**
 * Issue 13, item 1 ("routing comes from the deployer") and its Done-when bullet: a secret document that
 * names another IAM user, another rotator secret, another region or another host is refused, alerted, and
 * changes nothing — for every provider that has such a field. Each case writes the hostile document as the
 * key's AWSCURRENT (what whoever may PutSecretValue on it can do), then rotates through Secrets Manager's
 * RotateSecret on loopback. A control runs the same documents with routes that say what they say, so the
 * refusals are shown to come from routing and nothing else.
 *
 * Also here: the revoker under forged requests (finding 1) and the emergency-grace bound.
 */
import assert from 'node:assert/strict';
import { after, afterEach, beforeEach, describe, it } from 'node:test';
import {
  CreateSecretCommand,
  DescribeSecretCommand,
  PutSecretValueCommand,
  TagResourceCommand,
} from '@aws-sdk/client-secrets-manager';
import { RoutingMismatchError } from '../../lambdas/errors.js';
import type { RevocationRequest } from '../../lambdas/revocation.js';
import { type ManagedKey, PLACEHOLDER } from '../../lambdas/secret-format.js';
import { startRotation } from '../../lambdas/start-rotation.js';
import { TAGS, tagMap } from '../../lambdas/tags.js';
import type { AwsIamSandbox } from '../../local/sandboxes/aws-iam.js';
import type { StripeSandbox } from '../../local/sandboxes/stripe.js';
import { APP_SCOPES, SendGridRotationEnv } from '../support/managed-key-env.js';
import { testRoute } from '../support/rotation-env-base.js';
import { ROUTED_PROVIDERS, type RoutedProvider, RoutingEnv, routingCases } from '../support/routing-cases.js';

const reEscape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const label = (provider: RoutedProvider) => provider.definition.name;

/** Cases run per provider, printed at the end. */
const counts = new Map<string, number>();
after(() => {
  for (const [provider, count] of counts) console.log(`routing cases: ${provider}: ${count}`);
  console.log(`routing cases: total ${[...counts.values()].reduce((a, b) => a + b, 0)}`);
});

/** What the provider and the secret hold, for "changes nothing". */
async function snapshot(env: RoutingEnv) {
  const current = await env.read('AWSCURRENT');
  return {
    requests: env.seeded.sandbox.requests.length,
    issued: env.seeded.sandbox.issuedSecrets().length,
    keys: JSON.stringify(env.seeded.keys()),
    current: { versionId: current.versionId, key: current.key, keyId: current.keyId },
  };
}

describe('routing: a document that names what the deployment does not is refused, alerted, and changes nothing', () => {
  for (const provider of ROUTED_PROVIDERS) {
    describe(label(provider), () => {
      let env: RoutingEnv;
      beforeEach(async () => {
        env = await new RoutingEnv(provider).start();
      });
      afterEach(() => env.stop());

      const cases = routingCases(provider);
      counts.set(label(provider), cases.length);
      for (const c of cases) {
        it(`${label(provider)}: a document naming ${c.what} is refused, alerted, and changes nothing`, async () => {
          const hostile = c.hostile(env.honest, env);
          await env.writeDocument(hostile);
          const before = await snapshot(env);

          await env.rotate();

          const outcome = env.lastOutcome();
          assert.equal(outcome?.ok, false, 'the rotation failed');
          assert.equal(outcome?.failedStep, 'createSecret');
          const error = outcome?.error ?? '';
          assert.match(error, /^RoutingMismatchError: /);
          assert.match(error, new RegExp(`secret ${reEscape(env.secretArn)}`), 'names the secret');
          assert.match(error, new RegExp(`field "${reEscape(c.field)}"`), 'names the field');
          assert.match(error, /nothing was changed/);

          const alerts = env.alerts();
          assert.deepEqual(
            alerts.map((a) => a.message.event),
            ['routing-mismatch'],
            'exactly one alert: routing-mismatch',
          );
          assert.equal(alerts[0]!.message.secret, env.secretArn);
          assert.match(String(alerts[0]!.message.detail), new RegExp(`field "${reEscape(c.field)}"`));

          const afterwards = await snapshot(env);
          assert.equal(afterwards.requests, before.requests, 'no request reached the provider');
          assert.equal(afterwards.issued, before.issued, 'no key was issued');
          assert.equal(afterwards.keys, before.keys, "the provider's keys are unchanged");
          assert.deepEqual(afterwards.current, before.current, 'AWSCURRENT is unchanged');
          assert.ok(env.seeded.accepts(env.seeded.current), 'the current key still works');

          assert.deepEqual(env.leakedLines(), [], 'no secret value in the logs');
          const published = JSON.stringify(alerts);
          for (const value of env.secretValues) assert.ok(!published.includes(value), 'no secret in alerts');
        });
      }
    });
  }
});

describe('Stripe: a person-made key for a hostile document is refused before anything is stored', () => {
  let env: RoutingEnv;
  const stripe = ROUTED_PROVIDERS.find((p) => p.definition.name === 'stripe')!;
  beforeEach(async () => {
    env = await new RoutingEnv(stripe).start();
  });
  afterEach(() => env.stop());

  const cases = routingCases(stripe);
  counts.set('stripe (--provide-key)', cases.length);
  for (const c of cases) {
    it(`stripe: rekey rotate --provide-key for a document naming ${c.what} is refused, and changes nothing`, async () => {
      await env.writeDocument(c.hostile(env.honest, env));
      const before = await snapshot(env);
      const stages = env.aws.secretsManager.stagesOf(env.secretArn);
      const made = (env.seeded.sandbox as StripeSandbox).createKeyInDashboard();
      await assert.rejects(
        startRotation(
          env.secretName,
          { providedKey: made },
          {
            secretsManager: env.sm,
            logger: env.logger,
            routes: env.routes,
            endpoints: { stripe: env.seeded.sandbox.url },
            now: () => env.clock.now(),
          },
        ),
        (error: Error) =>
          error instanceof RoutingMismatchError &&
          error.message.includes(`secret ${env.secretArn}`) &&
          error.message.includes(`field "${c.field}"`) &&
          error.message.includes('nothing was changed') &&
          !error.message.includes(made),
      );
      assert.deepEqual(env.aws.secretsManager.stagesOf(env.secretArn), stages, 'nothing staged');
      assert.equal(env.aws.secretsManager.outcomes.length, 0, 'no rotation started');
      const afterwards = await snapshot(env);
      assert.equal(afterwards.requests, before.requests, 'no request reached Stripe');
      assert.deepEqual(afterwards.current, before.current, 'AWSCURRENT is unchanged');
      assert.deepEqual(env.leakedLines(), []);
    });
  }
});

describe('routing is what refuses them: with routes that say what the document says, rotation proceeds', () => {
  let env: RoutingEnv | undefined;
  afterEach(() => env?.stop());

  // The control for every provider with a key API: the same hostile rotator-secret document, deployed as
  // such, rotates — so each refusal above is routing's, not a broken environment's.
  for (const provider of ROUTED_PROVIDERS.filter((p) => p.automatic)) {
    const [otherRotator] = routingCases(provider);
    it(`${label(provider)}: the suite can fail — a document naming ${otherRotator!.what} rotates once the deployment names it too`, async () => {
      env = await new RoutingEnv(provider).start();
      await env.writeDocument(otherRotator!.hostile(env.honest, env));
      env.redeploy(otherRotator!.deployedAs(env.route(), env));
      const before = await snapshot(env);
      const versionId = await env.rotate();
      assert.equal(env.lastOutcome()?.ok, true, env.lastOutcome()?.error);
      const current = await env.read('AWSCURRENT');
      assert.equal(current.versionId, versionId, 'the new key is AWSCURRENT');
      assert.notEqual(current.keyId, before.current.keyId);
      assert.ok(env.seeded.sandbox.requests.length > before.requests, 'the provider was called');
      assert.ok(env.seeded.accepts({ id: current.keyId, value: current.key }));
      assert.deepEqual(
        env.alerts().filter((a) => a.message.event === 'routing-mismatch'),
        [],
      );
      assert.deepEqual(env.leakedLines(), []);
    });
  }

  it('aws-iam: the suite can fail — with routing that follows the document, a document naming admin-b mints admin-b a key into the app’s secret', async () => {
    // What issue 13 finding 2 describes, shown possible: only routing stands between it and the refusal.
    const awsIam = ROUTED_PROVIDERS.find((p) => p.definition.name === 'aws-iam')!;
    const other = routingCases(awsIam).find((c) => c.field === 'options.userName')!;
    env = await new RoutingEnv(awsIam).start();
    const iam = env.seeded.sandbox as AwsIamSandbox;
    const adminKeys = () => iam.listKeys().filter((k) => k.userName === 'admin-b').length;
    assert.equal(adminKeys(), 1);
    await env.writeDocument(other.hostile(env.honest, env));
    env.redeploy(other.deployedAs(env.route(), env));
    await env.rotate();
    assert.equal(env.lastOutcome()?.ok, true, env.lastOutcome()?.error);
    assert.equal(adminKeys(), 2, 'a new access key for admin-b');
    const current = await env.read('AWSCURRENT');
    assert.equal(iam.listKeys().find((k) => k.id === current.keyId)?.userName, 'admin-b');
  });
});

const MINUTE = 60_000;
const B_NAME = 'prod/sendgrid/billing-key';

/**
 * Secret A (the env's) and secret B share one SendGrid rotator: the same rotator_secret route, so the same
 * provider account. Returns B's ARN and key.
 */
async function addSiblingB(
  env: SendGridRotationEnv,
): Promise<{ arn: string; key: { id: string; value: string } }> {
  const key = env.sandbox.seedKey('billing-service', APP_SCOPES);
  env.secretValues.add(key.value);
  const doc: ManagedKey = {
    provider: 'sendgrid',
    key: key.value,
    keyId: key.id,
    createdAt: '2026-01-01T00:00:00.000Z',
    rotatorSecretArn: env.rotatorArn,
    options: {},
  };
  const arn = (
    await env.sm.send(new CreateSecretCommand({ Name: B_NAME, SecretString: JSON.stringify(doc) }))
  ).ARN!;
  env.redeploy(testRoute(B_NAME, 'sendgrid'));
  return { arn, key };
}

async function revoke(env: SendGridRotationEnv, request: RevocationRequest): Promise<{ outcome: string }> {
  return (await env.aws.lambdas.invoke(env.revokerArn, request)) as { outcome: string };
}

describe('the revoker verifies every request against stored state (issue 13, finding 1)', () => {
  let env: SendGridRotationEnv;
  beforeEach(async () => {
    env = await new SendGridRotationEnv().start();
  });
  afterEach(() => env.stop());

  it("finding 1 (revoker): a revocation request naming another secret's version/key is refused", async () => {
    const b = await addSiblingB(env);
    // A rotates: its old key is due for revocation; a forged request uses A's real versions.
    const oldA = await env.read('AWSCURRENT');
    const newVersion = await env.rotate();
    assert.equal(env.lastOutcome()?.ok, true);
    const schedules = env.aws.scheduler.list('rekey').length;
    const promotedAt = env.clock.now().toISOString();

    // 1. A's previous version with B's current key id: the version stores A's old key, not B's.
    const forged = await revoke(env, {
      secretArn: env.secretArn,
      previousVersionId: oldA.versionId,
      previousKeyId: b.key.id,
      newVersionId: newVersion,
      promotedAt,
      reason: 'emergency',
    });
    assert.equal(forged.outcome, 'aborted');
    assert.ok(env.sandbox.accepts(b.key.value), "B's key still works");
    assert.ok(env.sandbox.accepts(oldA.key), "A's old key is not revoked by a forged request either");
    const first = env.alerts().at(-1)!;
    assert.equal(first.message.event, 'revocation-aborted');
    assert.match(
      String(first.message.detail),
      new RegExp(`version ${oldA.versionId} stores key ${reEscape(oldA.keyId)}, not ${reEscape(b.key.id)}`),
    );

    // 2. A version written into A that stores B's key id: B holds that key as AWSCURRENT.
    const planted = await env.sm.send(
      new PutSecretValueCommand({
        SecretId: env.secretArn,
        SecretString: JSON.stringify({ ...oldA, versionId: undefined, keyId: b.key.id }),
        VersionStages: ['PLANTED'],
      }),
    );
    const viaPlanted = await revoke(env, {
      secretArn: env.secretArn,
      previousVersionId: planted.VersionId!,
      previousKeyId: b.key.id,
      newVersionId: newVersion,
      promotedAt,
      reason: 'emergency',
    });
    assert.equal(viaPlanted.outcome, 'aborted');
    assert.ok(env.sandbox.accepts(b.key.value), "B's key still works at SendGrid");
    const second = env.alerts().at(-1)!;
    assert.equal(second.message.event, 'revocation-aborted');
    assert.match(
      String(second.message.detail),
      new RegExp(`is AWSCURRENT of ${reEscape(B_NAME)}`),
      'names B',
    );
    assert.match(String(second.message.detail), /nothing was revoked/);

    assert.equal(env.aws.scheduler.list('rekey').length, schedules, 'no re-schedule of a forged request');
    const bTags = tagMap((await env.sm.send(new DescribeSecretCommand({ SecretId: b.arn }))).Tags);
    assert.equal(bTags[TAGS.lastRevokedKeyId], undefined, 'nothing recorded on B');
    assert.deepEqual(env.leakedLines(), []);
  });

  it('a sibling deployed but not imported yet (the stack’s placeholder) does not block the revocation', async () => {
    // Found in the local playground: two SendGrid entries, one imported; an emergency on it never revoked.
    const placeholder = await env.sm.send(
      new CreateSecretCommand({ Name: B_NAME, SecretString: PLACEHOLDER }),
    );
    env.redeploy(testRoute(B_NAME, 'sendgrid'));
    const old = await env.read('AWSCURRENT');
    await startRotation(env.secretName, { emergency: true }, env.revocationDeps());
    await env.aws.secretsManager.settled();
    await env.aws.runDue();
    assert.ok(!env.sandbox.accepts(old.key), 'the old key is revoked');
    assert.ok(env.sandbox.accepts((await env.read('AWSCURRENT')).key));
    const bTags = tagMap((await env.sm.send(new DescribeSecretCommand({ SecretId: placeholder.ARN }))).Tags);
    assert.equal(bTags[TAGS.lastRevokedKeyId], undefined, 'nothing recorded on the placeholder');
    assert.deepEqual(
      env
        .alerts()
        .map((a) => a.message.event)
        .filter((e) => e === 'revocation-failed'),
      [],
    );
  });

  it('a sibling holding something that is neither a key document nor the placeholder still fails closed', async () => {
    await env.sm.send(new CreateSecretCommand({ Name: B_NAME, SecretString: '{"apiKey":"not-a-document"}' }));
    env.redeploy(testRoute(B_NAME, 'sendgrid'));
    const old = await env.read('AWSCURRENT');
    await startRotation(env.secretName, { emergency: true }, env.revocationDeps());
    await env.aws.secretsManager.settled();
    await env.aws.runDue();
    assert.ok(env.sandbox.accepts(old.key), 'not revoked while a sibling might hold it');
    assert.ok(
      env.alerts().some((a) => /field "provider" is missing/.test(String(a.message.detail))),
      'the alert names the unreadable sibling document',
    );
  });

  it('the revoker refuses a request for a secret outside the deployment', async () => {
    // C exists, holds a live SendGrid key of the same account, and is in no route of this deployment.
    const key = env.sandbox.seedKey('unmanaged-service', APP_SCOPES);
    env.secretValues.add(key.value);
    const doc: ManagedKey = {
      provider: 'sendgrid',
      key: key.value,
      keyId: key.id,
      createdAt: '2026-01-01T00:00:00.000Z',
      rotatorSecretArn: env.rotatorArn,
      options: {},
    };
    const c = await env.sm.send(
      new CreateSecretCommand({ Name: 'prod/unmanaged/api-key', SecretString: JSON.stringify(doc) }),
    );
    const requests = env.sandbox.requests.length;
    const report = await revoke(env, {
      secretArn: c.ARN!,
      previousVersionId: c.VersionId!,
      previousKeyId: key.id,
      newVersionId: c.VersionId!,
      promotedAt: env.clock.now().toISOString(),
      reason: 'emergency',
    });
    assert.equal(report.outcome, 'aborted');
    assert.ok(env.sandbox.accepts(key.value), 'its key still works');
    assert.equal(env.sandbox.requests.length, requests, 'no request reached SendGrid');
    const alerts = env.alerts();
    assert.deepEqual(
      alerts.map((a) => a.message.event),
      ['revocation-aborted'],
    );
    assert.match(String(alerts[0]!.message.detail), /is not one of this deployment's keys/);
    assert.equal(env.aws.scheduler.list('rekey').length, 0, 'not re-scheduled');
    // Nothing fires later either.
    assert.equal(await env.advanceAndFire(24 * 60 * MINUTE), 0);
    assert.ok(env.sandbox.accepts(key.value));
    assert.deepEqual(env.leakedLines(), []);
  });
});

describe('tags may only repeat the deployment', () => {
  let env: SendGridRotationEnv;
  beforeEach(async () => {
    env = await new SendGridRotationEnv().start();
  });
  afterEach(() => env.stop());

  const TOKEN = '6a1c0b52-0000-4000-8000-000000000013';
  /** An emergency for version TOKEN asking for 48 h where the deployment says 1 h. */
  const longerEmergency = () =>
    env.sm.send(
      new TagResourceCommand({
        SecretId: env.secretArn,
        Tags: [{ Key: TAGS.emergencyGrace, Value: `48h ${TOKEN}` }],
      }),
    );

  it('an emergency tag asking for a longer grace than deployed is refused', async () => {
    await longerEmergency();
    const old = await env.read('AWSCURRENT');
    await env.rotate(TOKEN);
    const outcome = env.lastOutcome();
    assert.equal(outcome?.ok, false);
    assert.match(outcome?.error ?? '', /^RoutingMismatchError: /);
    assert.match(
      outcome?.error ?? '',
      /tag rekey:emergency-grace asks for a grace of "48h", but an emergency may only shorten the deployed grace_period "1h" of "api-key"; nothing was changed/,
    );
    assert.deepEqual(
      env.alerts().map((a) => a.message.event),
      ['routing-mismatch'],
    );
    assert.equal((await env.read('AWSCURRENT')).versionId, old.versionId, 'AWSCURRENT is unchanged');
    assert.ok(env.sandbox.accepts(old.key), 'the current key still works');
    assert.equal(env.aws.scheduler.list('rekey').length, 0, 'no revocation scheduled');
    const tags = tagMap((await env.sm.send(new DescribeSecretCommand({ SecretId: env.secretArn }))).Tags);
    assert.equal(tags[TAGS.revokeKeyId], undefined, 'no revocation recorded');
    assert.deepEqual(env.leakedLines(), []);
  });

  it('an emergency tag asking for a longer grace than deployed is refused before any key is made', async () => {
    await longerEmergency();
    const requests = env.sandbox.requests.length;
    await env.rotate(TOKEN);
    assert.equal(env.lastOutcome()?.failedStep, 'createSecret');
    assert.equal(env.appKeys().length, 1, 'no key was created');
    assert.equal(env.sandbox.requests.length, requests, 'no request reached SendGrid');
  });
});
