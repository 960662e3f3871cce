import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { local } from '../../bin/commands/local.js';
import { captureIO } from './import-env.js';

const ROOT = resolve(import.meta.dirname, '../..');

describe('rekey local refuses what it cannot start, saying why', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rekey-local-cli-'));
  let busy: Server;
  let busyPort: number;
  before(async () => {
    busy = createServer();
    await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r));
    busyPort = (busy.address() as { port: number }).port;
  });
  after(() => new Promise((r) => busy.close(r)));

  it('an inventory the validator refuses: exit 1 with its messages, nothing started', async () => {
    const path = join(dir, 'bad.yaml');
    writeFileSync(path, 'api_keys:\n  - name: x\n    provider: SendGrid\n');
    const io = captureIO();
    assert.equal(await local.run(['--inventory', path, '--port', '0', '--dir', join(dir, 'a')], io), 1);
    assert.match(io.all(), /^rekey local: .*vault_path/s);
  });

  it('a port in use: exit 1 naming the port and the fix', async () => {
    const path = join(dir, 'rekey.yaml');
    copyFileSync(join(ROOT, 'rekey.yaml'), path);
    const io = captureIO();
    const code = await local.run(
      ['--inventory', path, '--port', String(busyPort), '--dir', join(dir, 'b')],
      io,
    );
    assert.equal(code, 1);
    assert.match(
      io.all(),
      new RegExp(
        `^rekey local: port ${busyPort} on 127\\.0\\.0\\.1 is in use \\(another rekey local\\?\\); pass --port <n>, or --port 0`,
      ),
    );
  });

  it('a port that is not one: exit 2 with the usage', async () => {
    const io = captureIO();
    assert.equal(await local.run(['--port', 'http'], io), 2);
    assert.match(io.all(), /--port must be a port number 0–65535/);
    assert.match(io.all(), /Usage: rekey local/);
  });
});
