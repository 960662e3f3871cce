import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { DescribeSecretCommand } from '@aws-sdk/client-secrets-manager';
import { rotate } from '../../bin/commands/rotate.js';
import type { CommandIO } from '../../bin/commands/types.js';
import { stripe, stripeKeyId } from '../../lambdas/providers/stripe.js';
import { startRotation } from '../../lambdas/start-rotation.js';
import { TAGS, tagMap } from '../../lambdas/tags.js';
import { StripeSandbox } from '../../local/sandboxes/stripe.js';
import { ManagedKeyEnv } from '../support/managed-key-env.js';

const MINUTE = 60_000;

function stripeEnv() {
  return new ManagedKeyEnv(stripe, new StripeSandbox(), (sandbox) => {
    const value = sandbox.createKeyInDashboard();
    return { credential: {}, current: { id: stripeKeyId(value), value } };
  });
}

describe('Stripe: assisted rotation (no API to create or delete keys)', () => {
  let env: ReturnType<typeof stripeEnv>;
  beforeEach(async () => {
    env = await stripeEnv().start('prod/stripe/api-key');
  });
  afterEach(() => env.stop());

  it('a scheduled rotation alerts with the command to run instead of rotating, and leaves nothing stuck', async () => {
    const before = await env.read('AWSCURRENT');
    await env.rotate();
    assert.equal(env.lastOutcome()?.failedStep, 'createSecret');
    const alert = env.alerts().find((a) => a.message.event === 'assisted-rotation-due');
    assert.match(
      String(alert?.message.detail),
      /Create a new key at https:\/\/dashboard\.stripe\.com\/apikeys, then run: rekey rotate prod\/stripe\/api-key --provide-key/,
    );
    assert.equal((await env.read('AWSCURRENT')).versionId, before.versionId);
    assert.deepEqual(
      Object.values(env.aws.secretsManager.stagesOf(env.secretArn)),
      [['AWSCURRENT']],
      'no AWSPENDING left behind',
    );
  });

  it('stages a person-made key, tests and promotes it, then reminds until the old key stops working', async () => {
    // A person makes a new key in the Dashboard and pipes it in.
    const old = await env.read('AWSCURRENT');
    const made = env.sandbox.createKeyInDashboard();
    const rotation = await startRotation(env.secretName, { providedKey: made }, env.revocationDeps());
    await env.aws.secretsManager.settled();
    const current = await env.read('AWSCURRENT');
    assert.equal(current.versionId, rotation.versionId);
    assert.equal(current.key, made);
    assert.equal(current.keyId, stripeKeyId(made));
    assert.ok(env.sandbox.accepts(old.key), 'both keys work during the grace period');
    // The grace period ends: rekey cannot revoke; it reminds with the exact action and a deadline.
    await env.advanceAndFire(61 * MINUTE);
    const reminder = env.alerts().find((a) => a.message.event === 'revocation-reminder');
    assert.ok(reminder, 'a reminder was published');
    assert.match(
      String(reminder.subject),
      /^rekey: revoke the old Stripe key of prod\/stripe\/api-key by \d{4}-\d{2}-\d{2}T/,
    );
    assert.match(
      String(reminder.message.detail),
      new RegExp(
        `delete the key ${old.keyId.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} .*\\(https://dashboard.stripe.com/apikeys\\) by `,
      ),
    );
    assert.ok(env.sandbox.accepts(old.key), 'rekey revoked nothing itself');
    // The person deletes it; the next check records the revocation.
    env.sandbox.deleteKeyInDashboard(old.key);
    await env.advanceAndFire(11 * MINUTE);
    const tags = tagMap((await env.sm.send(new DescribeSecretCommand({ SecretId: env.secretArn }))).Tags);
    assert.equal(tags[TAGS.lastRevokedKeyId], old.keyId);
    assert.deepEqual(env.leakedLines(), []);
    for (const a of env.alerts())
      assert.ok(!JSON.stringify(a).includes(old.key) && !JSON.stringify(a).includes(made));
  });

  it('refuses a provided key Stripe rejects at testSecret, leaving the current key current', async () => {
    const before = await env.read('AWSCURRENT');
    await startRotation(
      env.secretName,
      { providedKey: 'sk_test_ThisKeyWasNeverIssuedByStripe0001' },
      env.revocationDeps(),
    );
    await env.aws.secretsManager.settled();
    assert.equal(env.lastOutcome()?.failedStep, 'testSecret');
    assert.equal((await env.read('AWSCURRENT')).versionId, before.versionId);
  });

  it('rekey rotate --provide-key reads the key from stdin and refuses one that is not a Stripe key', async () => {
    Object.assign(process.env, { REKEY_PROVIDER_ENDPOINT_STRIPE: env.sandbox.url });
    const made = env.sandbox.createKeyInDashboard();
    const io = (stdin: string) => {
      const out: string[] = [];
      const err: string[] = [];
      const value: CommandIO & { out_: string[]; err_: string[] } = {
        out: (t) => out.push(t),
        err: (t) => err.push(t),
        stdin: async () => stdin,
        isTTY: false,
        out_: out,
        err_: err,
      };
      return value;
    };
    const bad = io('not-a-key\n');
    assert.equal(
      await rotate.run(
        [env.secretName, '--inventory', env.writeInventory(), '--provide-key', '--no-wait'],
        bad,
      ),
      1,
    );
    assert.match(
      bad.err_.join('\n'),
      /the provided key does not look like a Stripe secret key \(sk_… or rk_…\); nothing was stored/,
    );
    const good = io(`${made}\n`);
    assert.equal(
      await rotate.run(
        [env.secretName, '--inventory', env.writeInventory(), '--provide-key', '--timeout', '10s'],
        good,
      ),
      0,
      good.err_.join('\n'),
    );
    assert.equal((await env.read('AWSCURRENT')).key, made);
    assert.ok(!good.out_.join('\n').includes(made), 'the key is not echoed');
    delete process.env.REKEY_PROVIDER_ENDPOINT_STRIPE;
  });
});
