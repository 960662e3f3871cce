import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { stringify } from 'yaml';
import type { JournalDocument } from '../../bin/commands/journal.js';
import { Playground } from '../../local/playground.js';
import { gatewayEntries, sendgridEntries } from '../support/fleet-inventory.js';

/**
 * The bar for fleet rotation: `rekey rotate --all` on 1,000 loopback keys, run as the CLI in its own
 * process, killed (SIGKILL, no chance to save anything) about halfway and re-run with --resume. The loopback
 * enforces Secrets Manager's request quotas; every key must be rotated exactly once, no throttling may reach
 * the user, and the endpoint must have refused nothing the fleet sent.
 *
 * 960 keys of the internal gateway and 40 SendGrid keys (two keys each during the grace period stay within
 * SendGrid's 100 keys per account). `npm run test:scale` runs it; `npm test` does not (about 4 minutes,
 * which would take the suite past its 15-minute budget on 2 cores).
 */
const GATEWAY_KEYS = 960;
const SENDGRID_KEYS = 40;
const KEYS = GATEWAY_KEYS + SENDGRID_KEYS;
/** 10 starts/s: each rotation makes 2–3 of the 50 shared writes per second its functions may make. */
const PACE = ['--rate', '10', '--provider-rate', 'http=10', '--provider-rate', 'sendgrid=2'];

function inventoryYaml(): string {
  const gateway = gatewayEntries(GATEWAY_KEYS);
  const sendgrid = sendgridEntries(SENDGRID_KEYS);
  // Written out in full: a YAML alias per shared object would trip the loader's alias-count guard.
  return stringify({ api_keys: [...gateway, ...sendgrid] }, { aliasDuplicateObjects: false });
}

/** The CLI in a child process with the playground's environment. */
function cli(args: string[], env: Record<string, string>) {
  const child = spawn(process.execPath, ['--import', 'tsx', 'bin/rekey.ts', ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk) => {
    stdout += chunk;
  });
  child.stderr.on('data', (chunk) => {
    stderr += chunk;
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  return { child, exited, output: () => ({ stdout, stderr }) };
}

describe('rekey rotate --all on 1,000 loopback keys, killed halfway and resumed', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rekey-fleet-1000-'));
  const inventory = join(dir, 'rekey.yaml');
  const journal = join(dir, 'journal.json');
  const saved = { ...process.env };
  let playground: Playground;

  before(async () => {
    writeFileSync(inventory, inventoryYaml());
    playground = new Playground({ inventoryPath: inventory, dir: join(dir, 'local'), port: 0 });
    const deployed = await playground.start();
    assert.deepEqual(deployed.problems, []);
    assert.equal(deployed.keys.length, KEYS);
  });
  after(async () => {
    await playground.stop();
    process.env = { ...saved };
  });

  it('rotates every key exactly once, never throttled, across a SIGKILL and a --resume', async () => {
    // Prepare
    const env = playground.environment();
    const rotationsBefore = playground.aws.secretsManager.outcomes.length;
    const throttledBefore = new Map(playground.aws.quotas.throttled);
    const done = () => {
      if (!existsSync(journal)) return 0;
      try {
        const doc = JSON.parse(readFileSync(journal, 'utf8')) as JournalDocument;
        return doc.keys.filter((k) => k.status.state === 'done').length;
      } catch {
        return 0; // written atomically (rename), so only before the first write
      }
    };
    // Act: the first run, killed once about half the keys are done.
    const first = cli(['rotate', '--all', '--inventory', inventory, '--journal', journal, ...PACE], env);
    const killedAt = await new Promise<number>((resolve, reject) => {
      const timer = setInterval(() => {
        const n = done();
        if (n >= KEYS / 2) {
          clearInterval(timer);
          first.child.kill('SIGKILL');
          resolve(n);
        }
      }, 100);
      void first.exited.then(({ code }) => {
        clearInterval(timer);
        reject(new Error(`the first run ended by itself (exit ${code}): ${first.output().stderr}`));
      });
    });
    const firstExit = await first.exited;
    // ...and the re-run from its journal.
    const second = cli(['rotate', '--resume', journal, ...PACE], env);
    const secondExit = await second.exited;
    await playground.aws.secretsManager.settled();

    // Assess
    assert.equal(firstExit.signal, 'SIGKILL');
    assert.ok(killedAt < KEYS, `killed with ${killedAt} of ${KEYS} done`);
    const { stdout, stderr } = second.output();
    assert.equal(secondExit.code, 0, `${stdout}\n${stderr}`);
    const rotations = new Map<string, number>();
    for (const o of playground.aws.secretsManager.outcomes.slice(rotationsBefore)) {
      assert.ok(o.ok, `${o.secretName}: ${o.error}`);
      rotations.set(o.secretName, (rotations.get(o.secretName) ?? 0) + 1);
    }
    assert.equal(rotations.size, KEYS, 'every key rotated');
    const twice = [...rotations].filter(([, n]) => n !== 1);
    assert.deepEqual(twice, [], 'no key rotated twice');
    assert.deepEqual(
      new Map(playground.aws.quotas.throttled),
      throttledBefore,
      'the endpoint refused nothing over a quota',
    );
    const shown = `${first.output().stdout}${first.output().stderr}${stdout}${stderr}`;
    assert.doesNotMatch(shown, /Throttling|Rate exceeded/);
    assert.match(stdout, /^resuming \d+ key\(s\) \(--all\)/m);
    assert.match(stdout, /key\(s\): \d+ rotated, 0 failed, 0 skipped in [\dhms ]+; never throttled$/m);
    const final = JSON.parse(readFileSync(journal, 'utf8')) as JournalDocument;
    assert.equal(final.keys.filter((k) => k.status.state === 'done').length, KEYS);
  });
});
