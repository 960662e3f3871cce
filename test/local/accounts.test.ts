import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { CompressedClock } from '../../local/clock.js';
import { startAccounts } from '../../local/rehearsal/accounts.js';
import { rekeyClientFleet } from '../../local/rehearsal/client-source.js';
import {
  REHEARSAL_PROVIDERS,
  type RehearsalKey,
  type RehearsalSandbox,
} from '../../local/rehearsal/providers.js';
import { runRehearsal } from '../../local/rehearsal/rehearsal.js';

/** SendGrid with room for `keysPerAccount` managed keys an account, as though its cap were that low. */
const sendgridWithRoomFor = (keysPerAccount: number) => ({
  ...REHEARSAL_PROVIDERS.sendgrid!,
  keysPerAccount,
});

describe('several accounts of a provider behind one endpoint', () => {
  let front: RehearsalSandbox;
  let keys: Array<RehearsalKey & { credential?: Record<string, unknown> }>;
  before(async () => {
    front = await startAccounts(sendgridWithRoomFor(2), new CompressedClock(1), 5);
    keys = Array.from({ length: 5 }, (_, i) => front.seedAppKey(`app-${i + 1}`));
  });
  after(() => front.sandbox.stop());

  it('seeds keys account by account, each with its account’s rotator credential', () => {
    // Assess: 2, 2 and 1 keys in three accounts.
    const credentials = keys.map((k) => JSON.stringify(k.credential));
    assert.equal(credentials[0], credentials[1]);
    assert.equal(credentials[2], credentials[3]);
    assert.equal(new Set(credentials).size, 3);
    assert.equal(front.appKeys().length, 5);
  });

  it('answers each request from the account its credential belongs to', async () => {
    // Act: list the keys with each account's rotator credential, through the one endpoint.
    const listed = [];
    for (const key of [keys[0]!, keys[2]!, keys[4]!]) {
      const res = await fetch(new URL('/v3/api_keys', front.sandbox.url), {
        headers: { authorization: `Bearer ${String(key.credential!.apiKey)}` },
      });
      assert.equal(res.status, 200);
      const body = (await res.json()) as { result: Array<{ name: string }> };
      listed.push(
        body.result
          .map((k) => k.name)
          .filter((n) => n.startsWith('app-'))
          .sort(),
      );
    }
    // Assess
    assert.deepEqual(listed, [['app-1', 'app-2'], ['app-3', 'app-4'], ['app-5']]);
    const stranger = await fetch(new URL('/v3/api_keys', front.sandbox.url), {
      headers: { authorization: 'Bearer SG.not-a-key-of-any-account' },
    });
    assert.equal(stranger.status, 401, 'a credential no account issued is refused');
  });

  it('calls, accepts and breaks a key in the account that holds it', async () => {
    // Act
    const status = await front.appCall(keys[4]!);
    front.breakKey(keys[2]!.id);
    // Assess
    assert.ok(status < 300, `app call answered ${status}`);
    assert.equal(front.accepts(keys[2]!), false);
    assert.equal(front.accepts(keys[3]!), true);
    assert.equal(await front.appCall(keys[2]!), 401);
  });
});

describe('accounts full', () => {
  it('refuses a key past the room the accounts were started with, naming it', async () => {
    // Prepare
    const two = await startAccounts(sendgridWithRoomFor(1), new CompressedClock(1), 2);
    try {
      two.seedAppKey('app-1');
      two.seedAppKey('app-2');
      // Act, assess
      assert.throws(() => two.seedAppKey('app-3'), /2 account\(s\) with room for 1 key\(s\) each are full/);
    } finally {
      await two.sandbox.stop();
    }
  });
});

describe('a rehearsal whose keys need several accounts', () => {
  it('rotates and revokes every key, each in its own account, with every invariant held', async () => {
    // Prepare: one managed key an account, so the rehearsal's three SendGrid keys take three accounts.
    const original = REHEARSAL_PROVIDERS.sendgrid!;
    REHEARSAL_PROVIDERS.sendgrid = sendgridWithRoomFor(1);
    try {
      // Act
      const report = await runRehearsal({
        keys: 3,
        instances: 3,
        rps: 30,
        providers: ['sendgrid'],
        scenarios: ['scheduled-rotation', 'emergency-rotation'],
        seed: 5,
        scale: 1200,
        graceSeconds: 3600,
        ...rekeyClientFleet(),
      });
      // Assess
      assert.deepEqual(report.verdict.breaches, []);
      assert.equal(report.scenarios[0]!.versionsSeen, 6, 'three keys, each rotated once');
    } finally {
      REHEARSAL_PROVIDERS.sendgrid = original;
    }
  });
});
