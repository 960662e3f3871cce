import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';

/**
 * README's "Try every command locally" walkthrough, followed as written: its ```sh blocks run in order in a
 * fresh directory holding a copy of rekey.yaml — the first (`npx rekey local`) in the background as the
 * first terminal, the others in bash as the second — and each ```text block must be what the block before
 * it printed (stdout and stderr as a terminal shows them), or, marked `<!-- output of rekey local -->`, what
 * the playground printed meanwhile. Ports, key ids, version ids, times and durations differ per run and are
 * compared as placeholders.
 */
const ROOT = resolve(import.meta.dirname, '../..');
const HEADING = '## Try every command locally (`rekey local`)';
// `npx rekey` in a directory without this package would ask the registry; run this checkout's bin instead.
const SHIM = `npx() { if [ "$1" = rekey ]; then shift; node ${JSON.stringify(join(ROOT, 'bin/rekey.mjs'))} "$@"; else command npx "$@"; fi; }`;

interface Block {
  lang: string;
  code: string;
  /** A text block showing what the playground printed, not the previous command. */
  fromPlayground: boolean;
}

function walkthrough(): Block[] {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const start = readme.indexOf(HEADING);
  assert.ok(start >= 0, `README has the section ${HEADING}`);
  const end = readme.indexOf('\n## ', start + HEADING.length);
  const section = readme.slice(start, end < 0 ? undefined : end);
  const blocks: Block[] = [];
  for (const m of section.matchAll(/(<!-- output of rekey local -->\s*)?```(\w+)\n([\s\S]*?)```/g))
    blocks.push({ lang: m[2]!, code: m[3]!, fromPlayground: Boolean(m[1]) });
  return blocks;
}

/** What differs per run, replaced by placeholders; trailing blanks dropped. */
export function normalize(text: string): string {
  return (
    text
      .replace(/127\.0\.0\.1:\d+/g, '127.0.0.1:<port>')
      .replace(/\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z/g, '<time>')
      .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, '<version>')
      .replace(/\b[0-9a-f]{8}:(AWS)/g, '<v>:$1')
      .replace(/^\d+\.\d+s {2}/gm, '<t>  ')
      .replace(/age \d+[smhd] of/g, 'age <age> of')
      .replace(/\bkey_[0-9a-f]{16}\b/g, '<key id>')
      // SendGrid's API key ids: 22 base64url characters, mixed case (unlike the entries' names).
      .replace(/(?<![\w-])(?=[\w-]*[A-Z])(?=[\w-]*[a-z])[\w-]{22}(?![\w-])/g, '<key id>')
      .split('\n')
      .map((line) => line.trimEnd())
      .join('\n')
      .trim()
  );
}

describe('README: the rekey local walkthrough, followed as written', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rekey-playground-'));
  const blocks = walkthrough();
  let playground: ChildProcess;
  let printed = '';
  const env = {
    ...process.env,
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    // The walkthrough's own environment comes from the file it sources, not from this test's.
    AWS_ENDPOINT_URL: '',
    AWS_REGION: '',
    AWS_ACCESS_KEY_ID: '',
    AWS_SECRET_ACCESS_KEY: '',
    // README's `npx rekey local` as written, on a free port: a playground someone runs meanwhile keeps 4599.
    REKEY_LOCAL_PORT: '0',
  };
  /** Waits until the playground has printed `marker`; returns what it printed from `from` on. */
  const waitForPlayground = async (marker: string, from: number): Promise<string> => {
    for (let i = 0; i < 600 && !printed.slice(from).includes(marker); i++)
      await new Promise((r) => setTimeout(r, 50));
    assert.ok(printed.slice(from).includes(marker), `rekey local printed ${JSON.stringify(marker)}`);
    return printed.slice(from);
  };

  before(() => {
    copyFileSync(join(ROOT, 'rekey.yaml'), join(dir, 'rekey.yaml'));
  });
  after(async () => {
    if (playground && playground.exitCode === null) {
      const exited = new Promise((r) => playground.once('exit', r));
      playground.kill('SIGINT');
      await exited;
    }
  });

  it('has the blocks the walkthrough needs', () => {
    assert.ok(blocks.length >= 6, `${blocks.length} blocks`);
    assert.equal(blocks[0]!.lang, 'sh');
    assert.equal(blocks[0]!.code.trim(), 'npx rekey local');
  });

  it('every step prints what README shows, and Ctrl-C removes the env and key files', async () => {
    const [first, startup, ...rest] = blocks;
    assert.equal(startup!.lang, 'text');
    // exec: the shell becomes the playground, so Ctrl-C (SIGINT) reaches it as a terminal's would.
    playground = spawn('bash', ['-c', `${SHIM.replace('node ', 'exec node ')}\n${first!.code}`], {
      cwd: dir,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    playground.stdout!.on('data', (chunk: Buffer) => {
      printed += chunk.toString();
    });
    let errors = '';
    playground.stderr!.on('data', (chunk: Buffer) => {
      errors += chunk.toString();
    });
    const shown = await waitForPlayground('Ctrl-C stops it.', 0);
    const banner = shown.slice(0, shown.indexOf('\n', shown.indexOf('Ctrl-C stops it.')));
    assert.equal(normalize(banner), normalize(startup!.code), errors);
    const keyFiles = join(dir, '.rekey-local/keys');
    const values = readdirSync(keyFiles)
      .filter((f) => f.endsWith('.key'))
      .map((f) => readFileSync(join(keyFiles, f), 'utf8').trim());
    assert.equal(values.length, 3, 'a key for each entry of rekey.yaml');
    let commandsPrinted = '';

    for (let i = 0; i < rest.length; i++) {
      const step = rest[i]!;
      assert.equal(step.lang, 'sh', `block ${i + 3} is a command`);
      const expected = rest[i + 1]?.lang === 'text' ? rest[++i]! : undefined;
      const mark = printed.length;
      const ran = spawnSync('bash', ['-c', `exec 2>&1\n${SHIM}\nsource .rekey-local/env\n${step.code}`], {
        cwd: dir,
        env,
        encoding: 'utf8',
        timeout: 120_000,
      });
      commandsPrinted += ran.stdout;
      if (!expected) continue;
      if (expected.fromPlayground) {
        const firstLine = expected.code.split('\n')[0]!;
        const out = await waitForPlayground(firstLine, mark);
        const lines = expected.code.trim().split('\n').length;
        const from = out.indexOf(firstLine);
        const got = out.slice(from).split('\n').slice(0, lines).join('\n');
        assert.equal(normalize(got), normalize(expected.code), `after: ${step.code}`);
      } else {
        assert.equal(normalize(ran.stdout), normalize(expected.code), `output of: ${step.code}`);
      }
    }

    const exited = new Promise<number | null>((r) => playground.once('exit', r));
    playground.kill('SIGINT');
    assert.equal(await exited, 0);
    assert.match(printed, /rekey local: stopped; its state was in memory and is gone\./);
    assert.ok(!existsSync(join(dir, '.rekey-local/env')), 'the env file is removed');
    assert.deepEqual(readdirSync(keyFiles), [], 'the key files are removed');
    // Invariant 5: the keys imported and rotated away never reached a terminal, the function logs included.
    for (const value of values)
      assert.ok(![printed, errors, commandsPrinted].some((t) => t.includes(value)), 'no key value printed');
  });
});
