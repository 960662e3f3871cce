import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { twilio } from '../../../lambdas/providers/twilio.js';
import { TwilioSandbox } from '../../../local/sandboxes/twilio.js';
import { CapturedLogs } from '../../support/env.js';
import { connectToSandbox } from './sandbox-client.js';

/** Twilio keys as twilio-oai describes them (FetchBalance, FetchAccount, the IAM Keys API). */
describe('Twilio adapter against the documented API', () => {
  let sandbox: TwilioSandbox;
  const logs = new CapturedLogs();
  const start = async (subaccount: boolean) => {
    sandbox = new TwilioSandbox(undefined, { subaccount });
    await sandbox.start();
    const admin = sandbox.seedKey('rekey-rotator', 'main');
    const current = sandbox.seedKey('sms-sender', 'standard');
    const { client } = connectToSandbox(
      twilio,
      sandbox,
      { credential: { sid: admin.id, secret: admin.value }, options: { accountSid: sandbox.accountSid } },
      logs,
    );
    return { client, current };
  };

  afterEach(async () => {
    assert.deepEqual(logs.leaks(sandbox.issuedSecrets()), [], 'no secret in any log line');
    await sandbox.stop();
  });

  it('validates a subaccount’s key, though a subaccount has no balance to read', async () => {
    // Prepare
    const { client, current } = await start(true);
    // Act
    const verdict = await client.validateKey(current);
    // Assess
    assert.equal(verdict, 'accepted');
  });

  it('rejects a subaccount’s revoked key', async () => {
    // Prepare
    const { client, current } = await start(true);
    sandbox.deleteKey(current.id);
    // Act
    const verdict = await client.validateKey(current);
    // Assess
    assert.equal(verdict, 'rejected');
  });

  it('validates a main account’s key with the balance alone', async () => {
    // Prepare
    const { client, current } = await start(false);
    // Act
    const verdict = await client.validateKey(current);
    // Assess
    assert.equal(verdict, 'accepted');
    assert.deepEqual(
      sandbox.requests.map((r) => r.path),
      [`/2010-04-01/Accounts/${sandbox.accountSid}/Balance.json`],
    );
  });
});
