import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { DescribeSecretCommand, GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { importCommand } from '../../bin/commands/import.js';
import { parseManagedKey } from '../../lambdas/secret-format.js';
import { CliEnv, captureIO } from './import-env.js';

describe('rekey import', () => {
  const env = new CliEnv();
  before(() => env.start());
  after(() => env.stop());

  const args = (...extra: string[]) => [
    'sendgrid-api-key',
    '--key-id',
    env.current.id,
    '--inventory',
    env.inventoryPath,
    '--endpoint',
    env.sandbox.url,
    ...extra,
  ];
  const versions = async () =>
    Object.keys(
      (await env.sm.send(new DescribeSecretCommand({ SecretId: env.secretArn }))).VersionIdsToStages ?? {},
    ).length;

  it('refuses a key the provider rejects and stores nothing', async () => {
    // Prepare
    const before = await versions();
    const io = captureIO('SG.not-a-real-key.at-all-000000000000000000000000');
    // Act
    const code = await importCommand.run(args(), io);
    // Assess
    assert.equal(code, 1);
    assert.match(
      io.all(),
      /SendGrid does not accept the key given for "sendgrid-api-key".*nothing was stored/,
    );
    assert.ok(!io.all().includes('SG.not-a-real-key'), 'the key value is not echoed');
    assert.equal(await versions(), before);
  });

  it('refuses an empty stdin: the key never comes from the command line', async () => {
    const io = captureIO('');
    assert.equal(await importCommand.run(args(), io), 2);
    assert.match(io.all(), /pipe exactly one key on standard input/);
  });

  it('stores the key in the rekey format as AWSCURRENT after the provider accepts it, and tags the grace period', async () => {
    // Act
    const io = captureIO(`${env.current.value}\n`);
    const code = await importCommand.run(args('--created-at', '2026-01-31T00:00:00Z'), io);
    // Assess
    assert.equal(code, 0, io.all());
    const stored = await env.sm.send(
      new GetSecretValueCommand({ SecretId: env.secretArn, VersionStage: 'AWSCURRENT' }),
    );
    const doc = parseManagedKey(stored.SecretString, { secretId: env.secretArn });
    const rotatorArn = (await env.sm.send(new DescribeSecretCommand({ SecretId: 'rekey/rotator/sendgrid' })))
      .ARN;
    assert.deepEqual(doc, {
      provider: 'sendgrid',
      key: env.current.value,
      keyId: env.current.id,
      createdAt: '2026-01-31T00:00:00.000Z',
      rotatorSecretArn: rotatorArn,
      options: { scopes: ['mail.send'] },
    });
    const meta = await env.sm.send(new DescribeSecretCommand({ SecretId: env.secretArn }));
    assert.deepEqual(
      meta.Tags?.find((t) => t.Key === 'rekey:grace-period'),
      { Key: 'rekey:grace-period', Value: '4h' },
    );
    assert.match(io.all(), /is now AWSCURRENT of prod\/sendgrid\/api-key.*\n.*set `imported: true`/);
    assert.ok(!io.all().includes(env.current.value), 'the key value is not echoed');
  });

  it('changes nothing when the same key is imported again', async () => {
    const before = await versions();
    const io = captureIO(env.current.value);
    assert.equal(await importCommand.run(args(), io), 0);
    assert.match(io.all(), /already the current version/);
    assert.equal(await versions(), before);
  });

  it('honours REKEY_PROVIDER_ENDPOINT_<PROVIDER> as the other commands do, without --endpoint', async () => {
    const io = captureIO(`${env.current.value}\n`);
    process.env.REKEY_PROVIDER_ENDPOINT_SENDGRID = env.sandbox.url;
    try {
      const code = await importCommand.run(
        ['sendgrid-api-key', '--key-id', env.current.id, '--inventory', env.inventoryPath],
        io,
      );
      assert.equal(code, 0, io.all());
      assert.match(io.all(), /already the current version|is now AWSCURRENT/);
    } finally {
      delete process.env.REKEY_PROVIDER_ENDPOINT_SENDGRID;
    }
  });

  it('refuses to replace a different managed key without --force', async () => {
    const other = env.sandbox.seedKey('other-app', ['mail.send']);
    const io = captureIO(other.value);
    const code = await importCommand.run(
      [
        'sendgrid-api-key',
        '--key-id',
        other.id,
        '--inventory',
        env.inventoryPath,
        '--endpoint',
        env.sandbox.url,
      ],
      io,
    );
    assert.equal(code, 1);
    assert.match(
      io.all(),
      new RegExp(
        `already holds managed key ${env.current.id}; rotate it with \`rekey rotate\`, or pass --force`,
      ),
    );
  });

  it('names the entries when the name is unknown, and the missing secret when the stack is not deployed', async () => {
    const unknown = captureIO(env.current.value);
    assert.equal(
      await importCommand.run(['nope', '--key-id', 'x', '--inventory', env.inventoryPath], unknown),
      2,
    );
    assert.match(
      unknown.all(),
      /no inventory entry "nope" in \S+rekey\.yaml; entries: sendgrid-api-key, never-deployed/,
    );
    const missing = captureIO(env.current.value);
    assert.equal(
      await importCommand.run(
        [
          'never-deployed',
          '--key-id',
          env.current.id,
          '--inventory',
          env.inventoryPath,
          '--endpoint',
          env.sandbox.url,
        ],
        missing,
      ),
      1,
    );
    assert.match(
      missing.all(),
      /secret of "never-deployed" prod\/sendgrid\/other does not exist; deploy the stack first/,
    );
  });

  it('takes a key id that starts with a dash (SendGrid ids are base64url)', async () => {
    const io = captureIO('SG.whatever-value-for-a-dash-id-000000000000');
    const code = await importCommand.run(
      [
        'sendgrid-api-key',
        '--key-id',
        '-dashed-id',
        '--force',
        '--inventory',
        env.inventoryPath,
        '--endpoint',
        env.sandbox.url,
      ],
      io,
    );
    assert.doesNotMatch(io.all(), /ambiguous/);
    assert.match(io.all(), /key id -dashed-id/);
    assert.equal(code, 1, 'rejected by the provider, not by the argument parser');
  });

  it('requires --key-id', async () => {
    const io = captureIO(env.current.value);
    assert.equal(await importCommand.run(['sendgrid-api-key', '--inventory', env.inventoryPath], io), 2);
    assert.match(io.all(), /--key-id is required/);
  });
});
