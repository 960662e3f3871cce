import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { ProviderOutcomeUnknownError, ProviderRejectedError } from '../../../lambdas/errors.js';
import { Logger } from '../../../lambdas/logger.js';
import { awsIam } from '../../../lambdas/providers/aws-iam.js';
import type { ProviderClient } from '../../../lambdas/providers/types.js';
import { ManualClock } from '../../../local/clock.js';
import { AwsIamSandbox } from '../../../local/sandboxes/aws-iam.js';
import type { SandboxRequest } from '../../../local/sandboxes/sandbox.js';
import { signedHeaders } from '../../../local/sandboxes/sigv4.js';
import { rejection } from '../../support/assertions.js';
import { CapturedLogs } from '../../support/env.js';

const USER = 'billing-service';
const isCreate = (req: SandboxRequest): boolean =>
  new URLSearchParams(req.body).get('Action') === 'CreateAccessKey';

/** What the shared contract suite cannot see: the two-key flow, naming by tags, propagation, last use. */
describe('AWS IAM access keys adapter', () => {
  let sandbox: AwsIamSandbox;
  let clock: ManualClock;
  let client: ProviderClient;
  let current: { id: string; value: string };
  let waits: number[];
  const logs = new CapturedLogs();

  beforeEach(async () => {
    clock = new ManualClock(new Date());
    sandbox = new AwsIamSandbox(clock);
    await sandbox.start();
    const admin = sandbox.seedAdmin();
    current = sandbox.seedAccessKey(USER);
    waits = [];
    client = awsIam.connect({
      credential: awsIam.credentialSchema.parse(admin),
      options: awsIam.optionsSchema.parse({ userName: USER }),
      endpoint: sandbox.url,
      logger: new Logger(logs.sink, {}, 'debug'),
      http: {
        timeoutMs: 2000,
        retry: { attempts: 2, baseDelayMs: 1, maxDelayMs: 10 },
        retryHooks: {
          // Waiting moves the sandbox's clock, so IAM's propagation delay elapses without real time.
          sleep: async (ms) => {
            waits.push(ms);
            clock.advance(ms);
          },
        },
      },
    });
  });
  afterEach(async () => {
    assert.deepEqual(logs.leaks(sandbox.issuedSecrets()), [], 'no secret access key in any log line');
    await sandbox.stop();
  });

  it('names a new key with a user tag and clears the in-flight marker', async () => {
    // Act
    const created = await client.createKey({ name: 'rekey-billing-1', likeKeyId: current.id });
    // Assess
    assert.deepEqual(sandbox.userTags(USER), { [`rekey:${created.id}`]: 'rekey-billing-1' });
    assert.ok(sandbox.accepts(created.id, created.value));
  });

  it('finds the unnamed key of a create that crashed before tagging it, and never the keys that were there before', async () => {
    // Prepare: naming the new key fails for good after CreateAccessKey succeeded
    sandbox.injectFault({
      status: 503,
      times: 10,
      match: (req) => req.body.includes('Action=TagUser') && req.body.includes('rekey%3AAKIA'),
    });
    await assert.rejects(client.createKey({ name: 'rekey-billing-2', likeKeyId: current.id }));
    sandbox.clearFaults();
    const leftover = sandbox.listKeys().find((k) => k.id !== current.id);
    assert.ok(leftover, 'CreateAccessKey made a key before the crash');
    // Act
    const found = await client.findKeysByName('rekey-billing-2');
    const other = await client.findKeysByName('rekey-billing-3');
    // Assess
    assert.deepEqual(found, [{ id: leftover.id, name: 'rekey-billing-2' }]);
    assert.deepEqual(other, []);
  });

  it('never takes a key someone added by hand later for the key of a create that failed', async () => {
    // Prepare: CreateAccessKey keeps failing with 503 — a key may or may not exist, so the marker stays
    sandbox.injectFault({
      status: 503,
      times: 10,
      match: (req) => req.body.includes('Action=CreateAccessKey'),
    });
    await assert.rejects(client.createKey({ name: 'rekey-billing-9', likeKeyId: current.id }));
    sandbox.clearFaults();
    assert.match(sandbox.userTags(USER)['rekey:creating'] ?? '', /^rekey-billing-9 /);
    clock.advance(60 * 60_000);
    const byHand = sandbox.seedAccessKey(USER);
    // Act
    const found = await client.findKeysByName('rekey-billing-9');
    // Assess
    assert.deepEqual(found, []);
    assert.ok(sandbox.accepts(byHand.id, byHand.value));
  });

  it('keeps the in-flight marker when CreateAccessKey’s answer is lost, sends it once, and finds the unnamed key', async () => {
    // Prepare: IAM makes the key, then the answer is lost
    let creates = 0;
    sandbox.injectFault({
      status: 500,
      after: true,
      times: 1,
      match: (req) => {
        if (isCreate(req)) creates += 1;
        return isCreate(req);
      },
    });
    // Act
    const error = await rejection(client.createKey({ name: 'rekey-billing-10', likeKeyId: current.id }));
    const found = await client.findKeysByName('rekey-billing-10');
    // Assess
    assert.ok(error instanceof ProviderOutcomeUnknownError, `got ${error.name}: ${error.message}`);
    assert.equal(creates, 1, 'CreateAccessKey was not re-sent');
    assert.match(sandbox.userTags(USER)['rekey:creating'] ?? '', /^rekey-billing-10 /);
    const orphan = sandbox.listKeys().find((k) => k.id !== current.id);
    assert.ok(orphan, 'IAM made the key');
    assert.deepEqual(found, [{ id: orphan.id, name: 'rekey-billing-10' }]);
  });

  it('keeps the marker when a retried create meets the two-key limit because the lost key is not listed yet', async () => {
    // Prepare: the first attempt's key exists but ListAccessKeys does not show it for a while
    sandbox.listingLagMs = 10_000;
    sandbox.injectFault({ reset: true, times: 1, match: isCreate });
    await assert.rejects(
      client.createKey({ name: 'rekey-billing-11', likeKeyId: current.id }),
      ProviderOutcomeUnknownError,
    );
    // Act: the same version's create, tried again before IAM lists the key
    const error = await rejection(client.createKey({ name: 'rekey-billing-11', likeKeyId: current.id }));
    clock.advance(10_000);
    const found = await client.findKeysByName('rekey-billing-11');
    // Assess
    assert.ok(error instanceof ProviderOutcomeUnknownError, `got ${error.name}: ${error.message}`);
    assert.match(error.message, /limit of 2 access keys right after an attempt whose answer was lost/);
    assert.match(sandbox.userTags(USER)['rekey:creating'] ?? '', /^rekey-billing-11 /);
    const orphan = sandbox.listKeys().find((k) => k.id !== current.id);
    assert.ok(orphan);
    assert.deepEqual(found, [{ id: orphan.id, name: 'rekey-billing-11' }]);
  });

  it('drops the marker after CreateAccessKey is refused for good, and retries its throttling', async () => {
    // Prepare: a refused signature on the first create; throttling, then success, on the second
    sandbox.injectFault({ status: 403, times: 1, match: isCreate });
    // Act
    const refused = await rejection(client.createKey({ name: 'rekey-billing-12', likeKeyId: current.id }));
    const tagsAfterRefusal = sandbox.userTags(USER);
    sandbox.injectFault({ status: 429, times: 1, match: isCreate });
    const created = await client.createKey({ name: 'rekey-billing-13', likeKeyId: current.id });
    // Assess
    assert.ok(refused instanceof ProviderRejectedError, `got ${refused.name}: ${refused.message}`);
    assert.deepEqual(tagsAfterRefusal, {});
    assert.equal(waits.length, 1, 'the throttled create was retried once');
    assert.deepEqual(sandbox.userTags(USER), { [`rekey:${created.id}`]: 'rekey-billing-13' });
  });

  it('refuses a third key, naming both keys and never touching the current one', async () => {
    // Prepare: a second active key made outside rekey
    const second = sandbox.seedAccessKey(USER);
    // Act
    const error = await rejection(client.createKey({ name: 'rekey-billing-4', likeKeyId: current.id }));
    // Assess
    assert.ok(error instanceof ProviderRejectedError);
    assert.equal(error.retryable, false);
    assert.match(error.message, new RegExp(`current key ${current.id}`));
    assert.match(error.message, new RegExp(`${second.id} \\(Active, created [^)]+, not made by rekey\\)`));
    assert.match(error.message, /never deletes the current key/);
    assert.ok(sandbox.accepts(current.id, current.value));
    assert.ok(sandbox.accepts(second.id, second.value));
  });

  it('deletes an inactive key rekey had revoked, to make room under the two-key limit', async () => {
    // Prepare: a revocation that deactivated its key, then crashed before deleting it
    const old = await client.createKey({ name: 'rekey-billing-5', likeKeyId: current.id });
    sandbox.injectFault({
      status: 503,
      times: 10,
      match: (req) => req.body.includes('Action=DeleteAccessKey'),
    });
    await assert.rejects(client.revokeKey(old.id));
    sandbox.clearFaults();
    assert.equal(sandbox.listKeys().find((k) => k.id === old.id)?.status, 'Inactive');
    assert.equal(sandbox.accepts(old.id, old.value), false, 'deactivated first: it no longer authenticates');
    // Act
    const created = await client.createKey({ name: 'rekey-billing-6', likeKeyId: current.id });
    // Assess
    assert.deepEqual(
      sandbox
        .listKeys()
        .map((k) => k.id)
        .sort(),
      [current.id, created.id].sort(),
    );
    assert.ok(logs.lines.some((line) => line.includes('to make room under the two-key limit')));
  });

  it('counts a key rekey revoked but could not delete as room, not as a key, against the two-key limit', async () => {
    // Prepare: the same half-done revocation as above
    const old = await client.createKey({ name: 'rekey-billing-7', likeKeyId: current.id });
    assert.equal((await client.keyQuota!()).held, 2, 'two active keys: the user is full');
    sandbox.injectFault({
      status: 503,
      times: 10,
      match: (req) => req.body.includes('Action=DeleteAccessKey'),
    });
    await assert.rejects(client.revokeKey(old.id));
    sandbox.clearFaults();
    // Act
    const usage = await client.keyQuota!();
    // Assess: createKey deletes that key first, so a rotation is not refused for it
    assert.deepEqual(
      { held: usage.held, cap: usage.cap, account: usage.account },
      { held: 1, cap: 2, account: `IAM user "${USER}"` },
    );
    // Reactivated, it is a key again: then the user is full, and the fix says what to do.
    sandbox.setStatus(old.id, 'Active');
    const full = await client.keyQuota!();
    assert.equal(full.held, 2);
    assert.match(full.makeRoom, /grace period[\s\S]*deactivate and delete the key you do not need/);
  });

  it('waits for a new key to propagate, but rejects a deleted key at once', async () => {
    // Prepare
    sandbox.propagationMs = 5000;
    const created = await client.createKey({ name: 'rekey-billing-7', likeKeyId: current.id });
    // Act
    const fresh = await client.validateKey(created);
    const freshWaits = [...waits];
    waits.length = 0;
    await client.revokeKey(created.id);
    const deleted = await client.validateKey(created);
    // Assess
    assert.equal(fresh, 'accepted');
    assert.deepEqual(freshWaits, [1000, 2000, 4000]);
    assert.equal(deleted, 'rejected');
    assert.deepEqual(waits, []);
  });

  it('refuses a key that authenticates as another IAM user', async () => {
    // Prepare
    const stranger = sandbox.seedAccessKey('someone-else');
    // Act + Assess
    await assert.rejects(client.validateKey(stranger), (error: Error) => {
      assert.ok(error instanceof ProviderRejectedError);
      assert.match(
        error.message,
        /authenticates as arn:aws:iam::\d+:user\/someone-else, not IAM user "billing-service"/,
      );
      return true;
    });
  });

  it('does not count rekey’s own STS validation as use of the key, and reports an application’s call', async () => {
    // Prepare
    await client.validateKey(current);
    const afterValidation = await client.lastUsed!(current.id);
    clock.advance(60_000);
    const url = `${sandbox.url}/prod/invoices`;
    const res = await fetch(url, {
      headers: signedHeaders({
        method: 'GET',
        url,
        accessKeyId: current.id,
        secretAccessKey: current.value,
        region: 'eu-west-1',
        service: 'execute-api',
      }),
    });
    // Act
    const afterUse = await client.lastUsed!(current.id);
    // Assess
    assert.equal(res.status, 200);
    assert.equal(afterValidation, null);
    assert.deepEqual(afterUse, clock.now());
  });

  it('names the invalid field of a credential document', () => {
    const parsed = awsIam.credentialSchema.safeParse({ accessKeyId: 'AKIAEXAMPLEEXAMPLE12' });
    assert.equal(parsed.success, false);
    assert.deepEqual(parsed.error?.issues[0]?.path, ['secretAccessKey']);
  });
});
