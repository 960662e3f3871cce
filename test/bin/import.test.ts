import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { DescribeSecretCommand, GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { importCommand } from '../../bin/commands/import.js';
import { parseManagedKey } from '../../lambdas/secret-format.js';
import { CliEnv, captureIO } from './import-env.js';

describe('rekey import', () => {
  const env = new CliEnv({ keyIdProviders: true });
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
  const versions = async (secretArn = env.secretArn) =>
    Object.keys(
      (await env.sm.send(new DescribeSecretCommand({ SecretId: secretArn }))).VersionIdsToStages ?? {},
    ).length;
  const currentValue = async (secretArn: string) =>
    (await env.sm.send(new GetSecretValueCommand({ SecretId: secretArn, VersionStage: 'AWSCURRENT' })))
      .SecretString;
  /** `rekey import <entry> --key-id <keyId>` against the entry's sandbox. */
  const importTo = (
    setup: { entry: string; sandbox: { url: string } },
    keyId: string,
    io: ReturnType<typeof captureIO>,
  ) =>
    importCommand.run(
      [setup.entry, '--key-id', keyId, '--inventory', env.inventoryPath, '--endpoint', setup.sandbox.url],
      io,
    );
  const keyIdWarnings = (io: ReturnType<typeof captureIO>) =>
    io.stderr.filter((line) => /could not be (fully )?checked/.test(line));

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

  it('import refuses a valid key given with a wrong --key-id', async () => {
    // Prepare: a token Cloudflare accepts, given with another token's id; a SendGrid key with an id the
    // account does not hold
    const { cloudflare } = env;
    const cloudflareBefore = await versions(cloudflare.secretArn);
    const sendgridBefore = await versions();
    const cf = captureIO(`${cloudflare.current.value}\n`);
    const sg = captureIO(env.current.value);
    // Act
    const cfCode = await importTo(cloudflare, cloudflare.other.id, cf);
    const sgCode = await importTo(
      { entry: 'sendgrid-api-key', sandbox: env.sandbox },
      'unknownKeyId0000',
      sg,
    );
    // Assess: refused, naming the entry, the secret, the id given and the fix; nothing stored
    assert.equal(cfCode, 1, cf.all());
    assert.match(
      cf.all(),
      new RegExp(
        `Cloudflare says key id ${cloudflare.other.id} given for "cloudflare-dns-token" \\(secret prod/cloudflare/dns-token\\) is not the id of the key on standard input; its id is ${cloudflare.current.id}; nothing was stored\\. Run \`rekey import cloudflare-dns-token\` again with --key-id ${cloudflare.current.id}\\.`,
      ),
    );
    assert.equal(sgCode, 1, sg.all());
    assert.match(
      sg.all(),
      /SendGrid says key id unknownKeyId0000 given for "sendgrid-api-key" \(secret prod\/sendgrid\/api-key\) is not the id of the key on standard input; nothing was stored\. Find the key's id \(the key's API Key ID, in GET \/v3\/api_keys or the SendGrid app's Settings → API Keys\) and run `rekey import sendgrid-api-key` again with it as --key-id\./,
    );
    assert.equal(await versions(cloudflare.secretArn), cloudflareBefore);
    assert.equal(
      await currentValue(cloudflare.secretArn),
      env.placeholder,
      'the placeholder is still current',
    );
    assert.equal(await versions(), sendgridBefore);
    assert.equal(await currentValue(env.secretArn), env.placeholder);
    assert.ok(!cf.all().includes(cloudflare.current.value), 'the key value is not echoed');
    assert.ok(!sg.all().includes(env.current.value), 'the key value is not echoed');
  });

  it('stores a Cloudflare token given with its own id, without a key-id warning', async () => {
    // Act
    const io = captureIO(`${env.cloudflare.current.value}\n`);
    const code = await importTo(env.cloudflare, env.cloudflare.current.id, io);
    // Assess
    assert.equal(code, 0, io.all());
    const doc = parseManagedKey(await currentValue(env.cloudflare.secretArn), {
      secretId: env.cloudflare.secretArn,
    });
    assert.equal(doc.keyId, env.cloudflare.current.id);
    assert.equal(doc.key, env.cloudflare.current.value);
    assert.deepEqual(keyIdWarnings(io), []);
    assert.ok(!io.all().includes(env.cloudflare.current.value), 'the key value is not echoed');
  });

  it('imports with a one-line warning where the provider cannot tell a key’s id (the generic HTTP adapter)', async () => {
    // Act
    const io = captureIO(env.gateway.current.value);
    const code = await importTo(env.gateway, env.gateway.current.id, io);
    // Assess
    assert.equal(code, 0, io.all());
    assert.deepEqual(keyIdWarnings(io), [
      `rekey: warn: key id ${env.gateway.current.id} of "internal-gateway-key" could not be checked at HTTP key service, whose API cannot tell a key's id from its value; make sure it is the id of the key you imported. (secretId=prod/internal/gateway-key)`,
    ]);
    const doc = parseManagedKey(await currentValue(env.gateway.secretArn), {
      secretId: env.gateway.secretArn,
    });
    assert.equal(doc.keyId, env.gateway.current.id);
    assert.ok(!io.all().includes(env.gateway.current.value), 'the key value is not echoed');
  });

  it('refuses a --key-id that is the key itself, without echoing it', async () => {
    const io = captureIO(env.current.value);
    const code = await importTo({ entry: 'sendgrid-api-key', sandbox: env.sandbox }, env.current.value, io);
    assert.equal(code, 1);
    assert.match(io.all(), /--key-id for "sendgrid-api-key" holds the key itself/);
    assert.ok(!io.all().includes(env.current.value), 'the key value is not echoed');
    assert.equal(await currentValue(env.secretArn), env.placeholder);
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
    // SendGrid's API tells only that a key with the id exists (and its name): the import says so.
    assert.deepEqual(keyIdWarnings(io), [
      `rekey: warn: key id ${env.current.id} of "sendgrid-api-key" could not be fully checked at SendGrid: the account holds API key ${env.current.id} (named "notification-service"); SendGrid's API does not say which key a value belongs to; make sure it is the key's API Key ID, in GET /v3/api_keys or the SendGrid app's Settings → API Keys. (secretId=prod/sendgrid/api-key)`,
    ]);
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
