import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { CreateSecretCommand } from '@aws-sdk/client-secrets-manager';
import { rollback } from '../../bin/commands/rollback.js';
import { outcomeOf, rotate } from '../../bin/commands/rotate.js';
import { cliLogger } from '../../bin/commands/runtime.js';
import { status as statusCommand } from '../../bin/commands/status.js';
import type { CommandIO } from '../../bin/commands/types.js';
import { SendGridRotationEnv } from '../support/managed-key-env.js';
import { testRoute } from '../support/rotation-env-base.js';

function captureIO(): CommandIO & { stdout: string[]; stderr: string[] } {
  const stdout: string[] = [];
  const stderr: string[] = [];
  return {
    stdout,
    stderr,
    out: (t) => stdout.push(t),
    err: (t) => stderr.push(t),
    stdin: async () => '',
    isTTY: false,
  };
}

describe('rekey rotate and rekey rollback against the loopback endpoint', () => {
  let env: SendGridRotationEnv;
  const saved = { ...process.env };
  beforeEach(async () => {
    env = await new SendGridRotationEnv().start();
    const { config } = env.revocationDeps();
    Object.assign(process.env, {
      REKEY_SCHEDULE_GROUP: config.scheduleGroup,
      REKEY_SCHEDULER_ROLE_ARN: config.schedulerRoleArn,
      REKEY_REVOKER_ARN: config.revokerArn,
      REKEY_ALERT_TOPIC_ARN: config.alertTopicArn,
      REKEY_PROVIDER_ENDPOINT_SENDGRID: env.sandbox.url,
    });
  });
  afterEach(async () => {
    await env.stop();
    process.env = { ...saved };
  });

  it('rotate --emergency waits until the old key is revoked and prints each moment', async () => {
    const old = await env.read('AWSCURRENT');
    const io = captureIO();
    const code = await rotate.run([env.secretName, '--inventory', env.writeInventory(), '--emergency'], io);
    assert.equal(code, 0, io.stderr.join('\n'));
    assert.match(
      io.stdout.join('\n'),
      /rotation of prod\/sendgrid\/api-key started: version [\w-]+ \(emergency\)\n.*new key is AWSCURRENT\n.*old key revoked at the provider/,
    );
    assert.ok(!env.sandbox.accepts(old.key));
    assert.ok(env.sandbox.accepts((await env.read('AWSCURRENT')).key));
  });

  it('rollback --revoke-now restores the previous key and revokes the rejected one', async () => {
    const old = await env.read('AWSCURRENT');
    assert.equal(await rotate.run([env.secretName, '--inventory', env.writeInventory()], captureIO()), 0);
    const rejected = await env.read('AWSCURRENT');
    const io = captureIO();
    const code = await rollback.run(
      [env.secretName, '--inventory', env.writeInventory(), '--revoke-now'],
      io,
    );
    assert.equal(code, 0, io.stderr.join('\n'));
    assert.match(
      io.stdout[0]!,
      new RegExp(
        `rolled back prod/sendgrid/api-key: key ${old.keyId} \\(version ${old.versionId}\\) is AWSCURRENT again`,
      ),
    );
    assert.ok(env.sandbox.accepts(old.key) && !env.sandbox.accepts(rejected.key));
  });

  it('after a rollback, rekey status shows the rejected key’s pending revocation (it said "none")', async () => {
    assert.equal(await rotate.run([env.secretName, '--inventory', env.writeInventory()], captureIO()), 0);
    const rejected = await env.read('AWSCURRENT');
    const io = captureIO();
    assert.equal(await rollback.run([env.secretName, '--inventory', env.writeInventory()], io), 0);
    const shown = captureIO();
    await statusCommand.run([env.secretName, '--inventory', env.writeInventory()], shown);
    assert.match(
      shown.stdout.join('\n'),
      new RegExp(`pending revocation revoke ${rejected.keyId.replace(/[-]/g, '\\-')} at \\d{4}-`),
    );
  });

  it('rollback after an emergency rotation refuses with exit 1 and says what to do', async () => {
    assert.equal(
      await rotate.run([env.secretName, '--inventory', env.writeInventory(), '--emergency'], captureIO()),
      0,
    );
    const io = captureIO();
    assert.equal(await rollback.run([env.secretName, '--inventory', env.writeInventory()], io), 1);
    assert.match(
      io.stderr.join('\n'),
      /rekey rollback: cannot roll back prod\/sendgrid\/api-key: the previous key \S+ \(version [\w-]+\) was already revoked at \S+; rotate instead: rekey rotate prod\/sendgrid\/api-key --emergency/,
    );
  });

  it('rotate --emergency says why the old key was not revoked instead of waiting out --timeout', async () => {
    // A sibling in the same provider account holds a document rekey cannot read: the revoker fails closed.
    await env.sm.send(
      new CreateSecretCommand({ Name: 'prod/sendgrid/billing-key', SecretString: '{"apiKey":"unreadable"}' }),
    );
    env.redeploy(testRoute('prod/sendgrid/billing-key', 'sendgrid'));
    const old = await env.read('AWSCURRENT');
    const io = captureIO();
    const started = Date.now();
    const code = await rotate.run(
      [env.secretName, '--inventory', env.writeInventory(), '--emergency', '--timeout', '120s'],
      io,
    );
    assert.equal(code, 1);
    assert.ok(Date.now() - started < 60_000, 'answered from the revoker’s record, not the timeout');
    assert.match(io.stdout.join('\n'), /new key is AWSCURRENT/);
    assert.match(
      io.stderr.join('\n'),
      /rekey rotate: the new key of prod\/sendgrid\/api-key is AWSCURRENT, but the old key was not revoked \(INVALID_SECRET\): secret prod\/sendgrid\/billing-key .*field provider is missing/,
    );
    assert.ok(env.sandbox.accepts(old.key), 'the old key still works, as the message says');
    const shown = captureIO();
    await statusCommand.run([env.secretName, '--inventory', env.writeInventory()], shown);
    assert.match(
      shown.stdout.join('\n'),
      new RegExp(
        `revocation of version ${old.versionId} failed \\(INVALID_SECRET\\): .*the revoker tries again`,
      ),
    );
  });

  it('rejects bad usage with exit 2 and the usage text', async () => {
    const io = captureIO();
    assert.equal(
      await rotate.run([env.secretName, '--inventory', env.writeInventory(), '--grace', '5m'], io),
      2,
    );
    assert.match(io.stderr[0]!, /--grace applies to --emergency rotations/);
    const io2 = captureIO();
    assert.equal(
      await rotate.run(
        [env.secretName, '--inventory', env.writeInventory(), '--emergency', '--grace', 'soon'],
        io2,
      ),
      2,
    );
    assert.match(io2.stderr[0]!, /--grace: "soon" is not a duration like 0s, 5m or 1h/);
  });

  it('--json answers errors as JSON too, and no raw JSON log line reaches the terminal', async () => {
    const usage = captureIO();
    assert.equal(await rotate.run([env.secretName, '--json', '--grace', '5m'], usage), 2);
    assert.deepEqual(JSON.parse(usage.stdout.join('\n')).error.code, 'USAGE');
    delete process.env.REKEY_SCHEDULE_GROUP;
    const refused = captureIO();
    assert.equal(
      await rollback.run([env.secretName, '--inventory', env.writeInventory(), '--json'], refused),
      1,
    );
    const answer = JSON.parse(refused.stdout.join('\n')) as { error: { code: string; message: string } };
    assert.equal(answer.error.code, 'INVALID_INPUT');
    assert.match(answer.error.message, /set REKEY_SCHEDULE_GROUP/);
    // The CLI's logger writes for people: level, message, the fields — never the functions' JSON lines.
    const logged = captureIO();
    cliLogger(logged).warn('lease is busy', { secretId: 'prod/x', holder: 'revoker' });
    assert.deepEqual(logged.stderr, ['rekey: warn: lease is busy (secretId=prod/x, holder=revoker)']);
    // A rollback that runs logs its warnings for people, not as JSON.
    const io = captureIO();
    await rotate.run([env.secretName, '--inventory', env.writeInventory()], captureIO());
    process.env.REKEY_SCHEDULE_GROUP = 'rekey';
    await rollback.run([env.secretName, '--inventory', env.writeInventory()], io);
    assert.deepEqual(
      io.stderr.filter((line) => line.trimStart().startsWith('{')),
      [],
      'no JSON log line on stderr',
    );
  });

  it('rollback without the stack wiring explains which variables to set', async () => {
    delete process.env.REKEY_SCHEDULE_GROUP;
    const io = captureIO();
    assert.equal(await rollback.run([env.secretName, '--inventory', env.writeInventory()], io), 1);
    assert.match(io.stderr[0]!, /set REKEY_SCHEDULE_GROUP, REKEY_SCHEDULER_ROLE_ARN, REKEY_REVOKER_ARN/);
  });
});

describe('rekey rotate follows the rotation it started', () => {
  let env: SendGridRotationEnv;
  const saved = { ...process.env };
  beforeEach(async () => {
    env = await new SendGridRotationEnv().start();
    process.env.REKEY_PROVIDER_ENDPOINT_SENDGRID = env.sandbox.url;
  });
  afterEach(async () => {
    await env.stop();
    process.env = { ...saved };
  });

  it('reports the failed step and why, at once, instead of waiting out --timeout', async () => {
    env.sandbox.injectFault({
      status: 400,
      times: 100,
      match: (req) => req.method === 'POST' && req.path === '/v3/api_keys',
    });
    const io = captureIO();
    const started = Date.now();
    const code = await rotate.run(
      [env.secretName, '--inventory', env.writeInventory(), '--timeout', '120s'],
      io,
    );
    assert.equal(code, 1);
    assert.ok(Date.now() - started < 30_000, 'it did not wait for the 120 s timeout');
    assert.match(
      io.stderr.join('\n'),
      /rotation of prod\/sendgrid\/api-key failed in createSecret \(PROVIDER_REJECTED\): .*The old key is still current; Secrets Manager re-attempts the rotation by itself — see `rekey status prod\/sendgrid\/api-key`/,
    );
    // `rekey status <secret>` shows the same failure.
    const status = captureIO();
    assert.equal(await statusCommand.run([env.secretName, '--inventory', env.writeInventory()], status), 1);
    assert.match(
      status.stdout.join('\n'),
      /\[rotation-pending\][\s\S]*failed in createSecret \(PROVIDER_REJECTED\)/,
    );
  });

  it('tells a rotation another one replaced from one still running', () => {
    const base = { $metadata: {} };
    const tags = (failure?: string) => (failure ? [{ Key: 'rekey:last-failure', Value: failure }] : []);
    assert.deepEqual(
      outcomeOf(
        { ...base, VersionIdsToStages: { old: ['AWSCURRENT'], mine: ['AWSPENDING'] } },
        'mine',
        'old',
      ),
      { status: 'running' },
    );
    assert.deepEqual(
      outcomeOf(
        { ...base, VersionIdsToStages: { old: ['AWSPREVIOUS'], other: ['AWSCURRENT'] } },
        'mine',
        'old',
      ),
      { status: 'superseded', currentVersionId: 'other' },
    );
    assert.deepEqual(
      outcomeOf(
        {
          ...base,
          VersionIdsToStages: { old: ['AWSCURRENT'], mine: ['AWSPENDING'] },
          Tags: tags('mine testSecret KEY_TEST_FAILED'),
        },
        'mine',
        'old',
      ),
      { status: 'failed', step: 'testSecret', code: 'KEY_TEST_FAILED', reason: '' },
    );
    assert.deepEqual(outcomeOf({ ...base, VersionIdsToStages: { mine: ['AWSCURRENT'] } }, 'mine', 'old'), {
      status: 'promoted',
    });
  });
});
