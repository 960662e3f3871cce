import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  RotateSecretCommand,
  SecretsManagerClient,
  TagResourceCommand,
} from '@aws-sdk/client-secrets-manager';
import { importCommand } from '../../bin/commands/import.js';
import { rehearse } from '../../bin/commands/rehearse.js';
import { inventoryRoutes } from '../../bin/commands/runtime.js';
import { type KeyStatus, status } from '../../bin/commands/status.js';
import { Logger } from '../../lambdas/logger.js';
import { sendgrid } from '../../lambdas/providers/sendgrid.js';
import { runRotationStep } from '../../lambdas/rotation.js';
import { CliEnv, captureIO } from './import-env.js';

describe('rekey status', () => {
  const env = new CliEnv();
  before(() => env.start());
  after(() => env.stop());

  const json = async (): Promise<{ code: number; statuses: KeyStatus[]; text: string }> => {
    const io = captureIO();
    const code = await status.run(['--inventory', env.inventoryPath, '--json'], io);
    return { code, statuses: JSON.parse(io.stdout.join('\n')) as KeyStatus[], text: io.all() };
  };

  it('an unconfigured Region or an endpoint that does not answer is named with the fix, not the SDK’s bare words', async () => {
    const saved = { ...process.env };
    try {
      delete process.env.AWS_REGION;
      delete process.env.AWS_DEFAULT_REGION;
      const noRegion = captureIO();
      assert.equal(await status.run(['--inventory', env.inventoryPath], noRegion), 1);
      assert.match(noRegion.all(), /^rekey status: no AWS Region is configured: set AWS_REGION/);
      process.env.AWS_REGION = 'us-east-1';
      // A port nothing listens on: the endpoint of a playground that was stopped.
      process.env.AWS_ENDPOINT_URL = 'http://127.0.0.1:9';
      const down = captureIO();
      assert.equal(await status.run(['--inventory', env.inventoryPath], down), 1);
      assert.match(
        down.all(),
        /^rekey status: nothing answers at AWS_ENDPOINT_URL http:\/\/127\.0\.0\.1:9 \(connect ECONNREFUSED[^)]*\): start `rekey local` again/,
      );
    } finally {
      process.env = saved;
    }
  });

  it('reports a deployed key awaiting import and a key whose secret does not exist', async () => {
    const { code, statuses } = await json();
    assert.equal(code, 1, 'not every key is ok');
    assert.deepEqual(
      statuses.map((s) => [s.name, s.provider, s.health]),
      [
        ['sendgrid-api-key', 'sendgrid', 'awaiting-import'],
        ['never-deployed', 'sendgrid', 'missing'],
      ],
    );
    assert.equal(statuses[0]!.schedule, 'cron(0 2 1 */3 ? *)');
    assert.equal(statuses[0]!.frequencySeconds, 90 * 86_400);
    assert.ok(statuses[0]!.ageSeconds! >= 0);
  });

  it('after import and a rotation: versions and labels, last rotation, the pending revocation, health ok', async () => {
    // Prepare: import, then rotate once through Secrets Manager with the real rotation steps.
    assert.equal(
      await importCommand.run(
        [
          'sendgrid-api-key',
          '--key-id',
          env.current.id,
          '--inventory',
          env.inventoryPath,
          '--endpoint',
          env.sandbox.url,
        ],
        captureIO(env.current.value),
      ),
      0,
    );
    const lambdaArn = env.aws.lambdas.register('rotate-sendgrid', (event) =>
      runRotationStep(event, {
        secretsManager: new SecretsManagerClient({}),
        logger: new Logger(() => {}),
        provider: sendgrid,
        routes: inventoryRoutes(env.inventoryPath),
        endpoint: env.sandbox.url,
      }),
    );
    await env.sm.send(new RotateSecretCommand({ SecretId: env.secretArn, RotationLambdaARN: lambdaArn }));
    await env.aws.secretsManager.settled();
    await env.sm.send(
      new TagResourceCommand({
        SecretId: env.secretArn,
        Tags: [{ Key: 'rekey:revoke-due-at', Value: '2099-01-01T00:00:00.000Z' }],
      }),
    );
    // Act
    const { statuses, text } = await json();
    // Assess
    const key = statuses[0]!;
    assert.equal(key.health, 'ok', JSON.stringify(key));
    assert.equal(key.rotationEnabled, true);
    assert.ok(key.lastRotated, 'last rotation is reported');
    const labels = Object.values(key.versions)
      .map((s) => s.join('+'))
      .sort();
    assert.ok(labels.includes('AWSCURRENT') && labels.includes('AWSPREVIOUS'), labels.join(','));
    assert.equal(key.pendingRevocation?.dueAt, '2099-01-01T00:00:00.000Z');
    assert.equal(key.pendingRevocation?.keyId, env.current.id, 'the revocation concerns the imported key');
    assert.ok(!text.includes(env.current.value), 'status never prints a key');
  });

  it('prints one readable block per key without --json', async () => {
    const io = captureIO();
    await status.run(['--inventory', env.inventoryPath], io);
    const out = io.stdout.join('\n');
    assert.match(
      out,
      /^sendgrid-api-key {2}\[ok\]\n {2}provider sendgrid · secret prod\/sendgrid\/api-key · schedule cron\(0 2 1 \*\/3 \? \*\)/,
    );
    assert.match(out, /age \d+[smhd] of 90d · last rotation \d{4}-/);
    assert.match(out, /pending revocation revoke \S+ at 2099-01-01/);
    assert.match(out, /never-deployed {2}\[missing\]/);
  });

  it('rejects unknown options with the usage', async () => {
    const io = captureIO();
    assert.equal(await status.run(['--jsn'], io), 2);
    assert.match(io.all(), /Usage: rekey status/);
  });
});

describe('rekey rehearse --report', () => {
  it('refuses a directory that does not exist before running anything, and creates none', async () => {
    const err: string[] = [];
    const io = { out: () => {}, err: (t: string) => err.push(t), stdin: async () => '', isTTY: false };
    const missing = join(tmpdir(), `rekey-no-such-dir-${process.pid}`, 'nested');
    assert.equal(await rehearse.run(['--report', join(missing, 'report')], io), 2);
    assert.match(
      err.join('\n'),
      /--report: the directory "[^"]*rekey-no-such-dir-\d+\/nested" does not exist; create it first/,
    );
    assert.equal(existsSync(missing), false, 'no directory was created');
  });
});
