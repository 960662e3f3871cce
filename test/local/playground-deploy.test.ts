import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  GetSecretValueCommand,
  ListSecretsCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { PLACEHOLDER } from '../../lambdas/secret-format.js';
import { LOOPBACK_USER } from '../../local/aws/server.js';
import { type DeployResult, Playground } from '../../local/playground.js';

const ROOT = resolve(import.meta.dirname, '../..');

/** The playground's redeploys on inventory edits, driven in-process. */
describe('rekey local: redeploying when the inventory changes', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rekey-playground-deploy-'));
  const inventoryPath = join(dir, 'rekey.yaml');
  let playground: Playground;
  let sm: SecretsManagerClient;
  const heard: Array<DeployResult | Error> = [];
  const hear = async (n: number) => {
    for (let i = 0; i < 400 && heard.length < n; i++) await new Promise((r) => setTimeout(r, 25));
    assert.ok(heard.length >= n, `heard ${heard.length} of ${n} redeploys`);
    return heard[n - 1]!;
  };

  before(async () => {
    copyFileSync(join(ROOT, 'rekey.yaml'), inventoryPath);
    playground = new Playground({ inventoryPath, dir: join(dir, '.rekey-local'), port: 0 });
    await playground.start();
    playground.watchInventory((result) => heard.push(result));
    sm = new SecretsManagerClient({
      credentials: LOOPBACK_USER,
    });
  });
  after(async () => {
    sm.destroy();
    await playground.stop();
  });

  it('an edit the validator refuses is reported and changes nothing deployed', async () => {
    const before = await sm.send(new ListSecretsCommand({}));
    writeFileSync(inventoryPath, `${readFileSync(inventoryPath, 'utf8')}\nnot_a_field: 1\n`);
    const result = await hear(1);
    assert.ok(result instanceof Error, 'an error, not a deploy');
    assert.match(result.message, /not_a_field/);
    const after = await sm.send(new ListSecretsCommand({}));
    assert.deepEqual(
      after.SecretList?.map((s) => s.Name).sort(),
      before.SecretList?.map((s) => s.Name).sort(),
    );
  });

  it('a new entry gets its placeholder secret and sandbox key, and a later deploy keeps that one secret', async () => {
    const text = readFileSync(join(ROOT, 'rekey.yaml'), 'utf8');
    const added = text.replace(
      'rotation_schedules:',
      `  - name: "billing-key"
    provider: "SendGrid"
    vault_path: "prod/sendgrid/billing-key"
    rotation_frequency: "90d"
    rotator_secret: "rekey/rotator/sendgrid"

rotation_schedules:`,
    );
    writeFileSync(inventoryPath, added);
    await hear(2);
    // Another edit: the next deploy finds the secret and the sandbox key it made, and makes no second one.
    writeFileSync(
      inventoryPath,
      added.replace(/imported: false # set to true after `rekey import sendgrid-api-key`/, 'imported: false'),
    );
    const last = await hear(3);
    assert.ok(!(last instanceof Error), String(last));
    assert.deepEqual(
      last.keys.map((k) => k.name),
      ['sendgrid-api-key', 'sendgrid-marketing-key', 'internal-service-api-key', 'billing-key'],
    );
    const billing = await sm.send(new GetSecretValueCommand({ SecretId: 'prod/sendgrid/billing-key' }));
    assert.equal(billing.SecretString, PLACEHOLDER);
    const names = (await sm.send(new ListSecretsCommand({}))).SecretList?.map((s) => s.Name) ?? [];
    assert.equal(names.filter((n) => n === 'prod/sendgrid/billing-key').length, 1);
    const key = last.keys.find((k) => k.name === 'billing-key')!;
    assert.ok(
      playground.sandboxes
        .get('sendgrid')!
        .accepts({ id: key.keyId, value: readFileSync(key.keyFile, 'utf8').trim() }),
    );
  });
});
