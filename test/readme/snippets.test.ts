/**
 * README true (issue 15 item 8): what README.md shows runs as written.
 *
 * - Every ```ts / ```typescript block compiles in strict mode as a module of a user's project that imports
 *   `rekey/client` and `rekey/cdk` — mapped to the sources package.json `exports` compiles from, in one
 *   in-process TypeScript program (seconds; test/package/tarball.test.ts checks the packed package itself).
 *   A block may be exempted only by `<!-- snippet: fragment — <why> -->` right before it.
 * - Every `npx rekey …` / `npm run …` in a ```sh / ```bash block (and the CLI's synopsis) names a real command
 *   or script, with flags that command's usage names.
 * - The drift issue 15 listed stays fixed: the scenario table, the inventory tables' required fields, Stripe,
 *   the client's permissions, the commented-out examples in rekey.yaml.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { COMMANDS } from '../../bin/commands/index.js';
import { PROVIDERS } from '../../lambdas/providers/index.js';
import { ManagedKeySchema } from '../../lambdas/secret-format.js';
import {
  ApiKeySchema,
  InventoryError,
  parseInventory,
  RotationScheduleEntrySchema,
  readInventory,
  resolveInventory,
} from '../../lib/inventory.js';
import { SCENARIOS } from '../../local/rehearsal/scenarios.js';
import { type CliFacts, commandProblems, synopsisCommands } from './commands.js';
import { type Block, blocksOf, sectionOf, shellCommands, tableRows } from './markdown.js';
import {
  packageEntryPoints,
  REPO,
  type Snippet,
  type SnippetDiagnostic,
  typecheckSnippets,
} from './typecheck.js';

const README = readFileSync(join(REPO, 'README.md'), 'utf8');
const REKEY_YAML = readFileSync(join(REPO, 'rekey.yaml'), 'utf8');
const BLOCKS = blocksOf(README);
const ALL_PROVIDERS = Object.keys(PROVIDERS);

const isTypeScript = (block: Block) => block.lang === 'ts' || block.lang === 'typescript';
const isShell = (block: Block) => ['sh', 'bash', 'shell', 'console'].includes(block.lang);
/** The CLI's synopsis: a bare fence whose every line is a `rekey …` command line. */
const isSynopsis = (block: Block) =>
  block.lang === '' && block.code.trim() !== '' && block.code.split('\n').every((l) => /^rekey \S/.test(l));

/**
 * Why a block is exempt from compiling: the reason in `<!-- snippet: fragment — <why> -->`, or undefined
 * when it is not marked. A mark without a reason (at least a few words) is an error.
 */
function fragmentReason(block: Pick<Block, 'marker' | 'line'>): string | undefined {
  const mark = /^snippet:\s*fragment\b\s*[—:-]?\s*([\s\S]*)$/.exec(block.marker ?? '');
  if (!mark) return undefined;
  const reason = mark[1]!.trim();
  if (reason.split(/\s+/).length < 3) {
    throw new Error(
      `README.md:${block.line}: <!-- snippet: fragment --> must say why the block cannot be complete, e.g. <!-- snippet: fragment — continues the block above -->`,
    );
  }
  return reason;
}

const format = (d: SnippetDiagnostic) => `README.md:${d.line}: TS${d.code}: ${d.message}`;

/**
 * Snippets that must NOT compile, checked in the same program as the README's (one program, one cost): the
 * drift issue 15 found, as it was. Their "README lines" lie far past the file's end.
 */
const BROKEN: Array<{ snippet: Snippet; expect: RegExp }> = [
  {
    // A variable the snippet never declares (the client snippet's `body`).
    snippet: {
      line: 1_000_001,
      code: "import { KeyClient } from 'rekey/client';\nconst keys = new KeyClient();\nawait keys.withKey('s', async (key) => fetch('https://x', { body, headers: { a: key.value } }));\n",
    },
    expect: /^README\.md:1000003: TS18004: .*'body'/,
  },
  {
    // Strict mode: the middy snippet's untyped handler, whose context knows no `keys`.
    snippet: {
      line: 1_000_101,
      code: "import middy from '@middy/core';\nimport { rekeyKeys } from 'rekey/client';\n\nexport const handler = middy(async (event, context) => context.keys.sendgrid.value).use(\n  rekeyKeys({ keys: { sendgrid: 's' } }),\n);\n",
    },
    expect: /^README\.md:1000104: TS7006: Parameter 'event' implicitly has an 'any' type/,
  },
  {
    // The real types, not `any`: a field rekey/client's ApiKey does not have.
    snippet: {
      line: 1_000_201,
      code: "import { KeyClient } from 'rekey/client';\nexport const secret: string = (await new KeyClient().get('s')).secret;\n",
    },
    expect: /^README\.md:1000202: TS2339: Property 'secret' does not exist on type 'ApiKey'/,
  },
];

describe('README.md: every TypeScript snippet compiles in strict mode', () => {
  const typescript = BLOCKS.filter(isTypeScript);
  const checked = typescript.filter((block) => fragmentReason(block) === undefined);
  let result: ReturnType<typeof typecheckSnippets>;

  before(() => {
    result = typecheckSnippets([...checked, ...BROKEN.map((b) => b.snippet)]);
  });

  it('finds the snippets: the client, the middy handler and the CDK app, none of them exempt', () => {
    assert.ok(checked.length >= 3, `README.md has ${checked.length} TypeScript blocks to check`);
    const imports = checked.flatMap((block) => [...result.resolved.get(block)!.keys()]);
    for (const entry of ['rekey/client', 'rekey/cdk', '@middy/core']) {
      assert.ok(imports.includes(entry), `a README snippet imports ${entry}`);
    }
  });

  it("resolves rekey/client and rekey/cdk to the sources of package.json's exports, not to a dist/ build", () => {
    const entries = packageEntryPoints();
    assert.deepEqual(Object.keys(entries).sort(), ['rekey/cdk', 'rekey/client']);
    for (const block of checked) {
      for (const [specifier, file] of result.resolved.get(block)!) {
        assert.ok(file, `README.md:${block.line}: "${specifier}" resolves`);
        if (specifier.startsWith('rekey/')) assert.equal(file, entries[specifier], specifier);
      }
    }
  });

  it('every ts/typescript block typechecks (strict, noUncheckedIndexedAccess) as a module of its own', () => {
    const readme = result.diagnostics.filter((d) => d.line < 1_000_000);
    assert.deepEqual(readme.map(format), []);
  });

  it('the check fails on a snippet that does not compile, naming its README line (the drift it caught)', () => {
    for (const { snippet, expect } of BROKEN) {
      const errors = result.diagnostics.filter((d) => d.line >= snippet.line && d.line < snippet.line + 100);
      assert.ok(
        errors.map(format).some((text) => expect.test(text)),
        `${expect} among: ${errors.map(format).join('; ') || 'no errors'}`,
      );
    }
  });

  it('a block is exempt only with <!-- snippet: fragment — why -->, and a mark without a reason is refused', () => {
    assert.equal(fragmentReason({ line: 1 }), undefined);
    assert.equal(fragmentReason({ line: 1, marker: 'tarball-test: app.ts' }), undefined);
    assert.equal(
      fragmentReason({ line: 1, marker: 'snippet: fragment — continues the block above' }),
      'continues the block above',
    );
    assert.throws(
      () => fragmentReason({ line: 7, marker: 'snippet: fragment' }),
      /README\.md:7: .*must say why/,
    );
    for (const block of typescript) {
      const reason = fragmentReason(block);
      if (reason !== undefined) console.log(`README.md:${block.line}: fragment, not compiled: ${reason}`);
    }
  });
});

describe('README.md: every rekey command and npm script in a shell block exists, with its flags', () => {
  const facts: CliFacts = {
    usage: new Map(COMMANDS.map((c) => [c.name, c.usage])),
    scripts: (
      JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { scripts: Record<string, string> }
    ).scripts,
    root: REPO,
  };
  const commands = [
    ...BLOCKS.filter(isShell).flatMap(shellCommands),
    ...BLOCKS.filter(isSynopsis).flatMap(synopsisCommands),
  ];

  it('npx rekey <command> names a command of bin/commands/index.ts and only flags its usage names', () => {
    const rekey = commands.filter(
      (c) => c.words[0] === 'rekey' || c.words.slice(0, 2).join(' ') === 'npx rekey',
    );
    assert.ok(rekey.length >= 7, `README.md shows ${rekey.length} rekey command lines`);
    const flags = rekey.flatMap((c) => c.words.filter((w) => w.startsWith('--')));
    assert.ok(flags.length >= 20, `the rekey command lines pass ${flags.length} flags to check`);
    assert.deepEqual(
      rekey.flatMap((c) => commandProblems(c, facts)),
      [],
    );
  });

  it("the CLI section's synopsis has a line for every command", () => {
    const synopsis = BLOCKS.filter(isSynopsis).flatMap(synopsisCommands);
    assert.deepEqual(
      [...new Set(synopsis.map((c) => c.words[1]))].sort(),
      COMMANDS.map((c) => c.name).sort(),
    );
  });

  it('npm run <script> / npm start / npm test name a script of package.json, and flags after -- exist', () => {
    const npm = commands.filter((c) => c.words[0] === 'npm');
    assert.ok(npm.length >= 8, `README.md shows ${npm.length} npm commands`);
    assert.deepEqual(
      npm.flatMap((c) => commandProblems(c, facts)),
      [],
    );
  });

  it('the check refuses an unknown command, flag or script (and passes what exists)', () => {
    const problems = (text: string) =>
      shellCommands({ code: text, line: 10 }).flatMap((command) => commandProblems(command, facts));
    assert.match(problems('npx rekey rotat prod/key').join(), /"rotat" is not a rekey command/);
    assert.match(problems('npx rekey rotate prod/key --emergncy').join(), /rekey rotate has no --emergncy/);
    assert.match(problems('rekey status --jsn').join(), /rekey status has no --jsn/);
    assert.match(problems('npm run fault').join(), /no script "fault"/);
    assert.match(problems('npm run faults -- --seed 3').join(), /npm run faults has no --seed/);
    assert.match(problems('npm start -- --kyes 5').join(), /rekey rehearse has no --kyes/);
    assert.match(problems('npm ci && npm run rekey -- rotat').join(), /"rotat" is not a rekey command/);
    assert.match(
      synopsisCommands({
        code: 'rekey rotate <secret> [--emergency [--grac 0s|5m]] [--provide-key < key]',
        line: 3,
      })
        .flatMap((command) => commandProblems(command, facts))
        .join(),
      /README\.md:3: .*rekey rotate has no --grac\b/,
    );
    assert.deepEqual(
      problems(
        [
          'npm ci && npm start   # the rehearsal',
          'npx rekey rotate prod/key --emergency --grace=5m < key.txt',
          'npx rekey import k --key-id "$(cat id.txt)" < k.key | tee out.txt',
          'npm run faults -- --seeds 70 --actor rollback',
          'npm start -- --keys 50 --instances 200 --rps 400',
          'npx rekey --help',
        ].join('\n'),
      ),
      [],
    );
  });
});

/** The rows of the table under `heading` whose first column is `first`, keyed by that column's code text. */
function table(heading: string, first: string): Map<string, Record<string, string>> {
  const rows = tableRows(sectionOf(README, heading), first);
  assert.ok(rows.length, `README.md's "${heading}" has a table headed "${first}"`);
  return new Map(rows.map((row) => [row[first]!.replace(/`/g, ''), row]));
}

/** Whether the inventory is refused, and with which problems. */
function problemsOf(raw: unknown): string[] {
  try {
    resolveInventory(parseInventory(raw, 'test.yaml'), ALL_PROVIDERS, 'test.yaml');
    return [];
  } catch (error) {
    if (error instanceof InventoryError) return error.problems;
    throw error;
  }
}

describe('README.md: the drift issue 15 listed stays fixed', () => {
  it('the rehearsal scenario table lists every scenario of local/rehearsal/scenarios.ts, in order', () => {
    const documented = [...table('The rehearsal', 'scenario').keys()];
    assert.deepEqual(
      documented,
      SCENARIOS.map((s) => s.name),
    );
  });

  it('the api_keys table lists every field, and says "yes" exactly where the validator requires one', () => {
    const rows = table('Inventory', '`api_keys` field');
    assert.deepEqual([...rows.keys()].sort(), Object.keys(ApiKeySchema.shape).sort());
    for (const [field, row] of rows) {
      assert.ok(
        ['yes', 'no'].includes(row.required!),
        `${field}: required is "${row.required}", not yes or no`,
      );
    }
    const sample: Record<string, unknown> = {
      name: 'k',
      provider: 'SendGrid',
      vault_path: 'prod/k',
      rotation_frequency: '90d',
      rotator_secret: 'rekey/rotator/sendgrid',
    };
    const required = [...rows].filter(([, row]) => row.required === 'yes').map(([field]) => field);
    const entry = Object.fromEntries(
      required.map((field) => {
        assert.ok(field in sample, `a sample value for the required field ${field}`);
        return [field, sample[field]];
      }),
    );
    assert.deepEqual(
      problemsOf({ api_keys: [entry] }),
      [],
      'an entry of the required fields alone is accepted',
    );
    for (const field of required) {
      const { [field]: _, ...without } = entry;
      const problems = problemsOf({ api_keys: [without] });
      assert.ok(
        problems.some((p) => p.includes(`"${field}"`)),
        `without ${field} the entry is refused naming it: ${problems.join('; ')}`,
      );
    }
  });

  it('the rotation_schedules table lists every field, marks secret and schedule required, and its defaults are the validator’s', () => {
    const rows = table('Inventory', '`rotation_schedules` field');
    const shape = RotationScheduleEntrySchema.in.shape;
    assert.deepEqual([...rows.keys()].sort(), Object.keys(shape).sort());
    const full = { secret: 'prod/k', provider: 'sendgrid', schedule: '0 2 1 * *', grace_period: '4h' };
    const required = [...rows].filter(([, row]) => row.required === 'yes').map(([field]) => field);
    for (const [field, row] of rows) {
      assert.ok(
        ['yes', 'no'].includes(row.required!),
        `${field}: required is "${row.required}", not yes or no`,
      );
      const { [field as keyof typeof full]: _, ...without } = full;
      const parsed = RotationScheduleEntrySchema.safeParse(without);
      assert.equal(parsed.success, !required.includes(field), `${field} is required: ${row.required}`);
      const documented = row.default!.replace(/`/g, '');
      if (parsed.success && documented !== '—') {
        assert.equal(
          String(parsed.data[field as keyof typeof parsed.data]),
          documented,
          `${field}'s default`,
        );
      }
    }
    assert.deepEqual(required.sort(), ['schedule', 'secret']);
  });

  it('no provider rekey rotates is described as unsupported, in README.md or rekey.yaml (Stripe is assisted)', () => {
    const prose = (text: string) =>
      text
        .replace(/```[\s\S]*?```/g, ' ')
        .replace(/`[^`\n]*`/g, ' ')
        .replace(/^\s*#/gm, ' ')
        .replace(/\s+/g, ' ')
        .split(/(?<=[.;:!?])\s/);
    const unsupported =
      /\bno (\w+ )?adapter\b|rekey cannot rotate|rekey does not (support|rotate)|\b(is|are) (not supported|unsupported)\b/i;
    for (const [file, text] of [
      ['README.md', README],
      ['rekey.yaml', REKEY_YAML],
    ] as const) {
      for (const sentence of prose(text)) {
        for (const provider of Object.values(PROVIDERS)) {
          assert.ok(
            !(sentence.includes(provider.displayName) && unsupported.test(sentence)),
            `${file} says ${provider.displayName}, which rekey rotates, is not supported: "${sentence}"`,
          );
        }
      }
    }
  });

  it("the inventory section's example error is one the validator gives for the guide's inventory", () => {
    const example = /e\.g\.\s*`(api_keys\[[^`]*)`/.exec(sectionOf(README, 'Inventory'));
    assert.ok(example, 'README.md\'s "Inventory" shows an example error');
    const shown = example[1]!.replace(/\s*…$/, '');
    let problems: string[] = [];
    try {
      resolveInventory(readInventory(join(REPO, 'test/lib/guide-inventory.yaml')), ALL_PROVIDERS, 'guide');
    } catch (error) {
      assert.ok(error instanceof InventoryError);
      problems = error.problems;
    }
    assert.ok(
      problems.some((p) => p.startsWith(shown)),
      `"${shown}" begins one of: ${problems.join('\n')}`,
    );
  });

  it("rekey.yaml's commented-out api_keys entries (Stripe's) validate once uncommented", () => {
    const lines = REKEY_YAML.split('\n');
    const entries: string[][] = [];
    lines.forEach((line, i) => {
      if (!/^ {2}# - name:/.test(line)) return;
      const entry = [line];
      for (let j = i + 1; j < lines.length && /^ {2}# {3}\S/.test(lines[j]!); j++) entry.push(lines[j]!);
      entries.push(entry.map((l) => l.replace(/^ {2}# /, '  ')));
    });
    assert.ok(entries.length >= 1, 'rekey.yaml shows a commented-out entry (Stripe)');
    const example = parseYaml(REKEY_YAML) as { api_keys: unknown[] };
    for (const entry of entries) {
      const [uncommented] = (parseYaml(`api_keys:\n${entry.join('\n')}`) as { api_keys: unknown[] }).api_keys;
      assert.deepEqual(
        problemsOf({ ...example, api_keys: [...example.api_keys, uncommented] }),
        [],
        entry[0],
      );
    }
  });

  it('every json block parses; the key document and the HTTP description are valid for rekey', () => {
    const json = BLOCKS.filter((b) => b.lang === 'json');
    assert.ok(json.length >= 2, `README.md has ${json.length} JSON blocks`);
    const parsed = json.map((block) => {
      try {
        return { block, value: JSON.parse(block.code) as unknown };
      } catch (error) {
        throw new assert.AssertionError({
          message: `README.md:${block.line}: the JSON block does not parse: ${String(error)}`,
        });
      }
    });
    const document = parsed.find((p) => p.block.section === 'Secret format');
    assert.ok(document, 'README.md\'s "Secret format" shows a key document');
    const checked = ManagedKeySchema.safeParse(document.value);
    assert.ok(checked.success, `README.md:${document.block.line}: ${checked.error?.message}`);
    const description = parsed.find(
      (p) => (p.value as { description?: unknown }).description === 'gateway.internal',
    );
    assert.ok(description, "README.md shows the HTTP provider's description of the guide's gateway");
    const options = PROVIDERS.http!.optionsSchema.safeParse(description.value);
    assert.ok(options.success, `README.md:${description.block.line}: ${options.error?.message}`);
  });

  it("the key document's field table lists every field and says required exactly where the schema does", () => {
    const rows = table('Secret format', 'field');
    assert.deepEqual([...rows.keys()].sort(), Object.keys(ManagedKeySchema.shape).sort());
    for (const [field, row] of rows) {
      const optional =
        ManagedKeySchema.shape[field as keyof typeof ManagedKeySchema.shape].safeParse(undefined);
      assert.equal(row.required, optional.success ? 'no' : 'yes', `${field}: required is ${row.required}`);
    }
  });

  it('the app permissions name every Secrets Manager call rekey/client makes (client/key-client.ts)', () => {
    const source = readFileSync(join(REPO, 'client', 'key-client.ts'), 'utf8');
    const imported = /import\s*\{([^}]*)\}\s*from\s*'@aws-sdk\/client-secrets-manager'/.exec(source);
    assert.ok(imported, 'the client imports the Secrets Manager SDK');
    const calls = [...imported[1]!.matchAll(/(?<!type\s)\b(\w+)Command\b(?!Output|Input)/g)].map(
      (m) => m[1]!,
    );
    assert.ok(calls.includes('GetSecretValue'), `the client's calls: ${calls.join(', ')}`);
    const section = sectionOf(README, 'Using keys in your app');
    for (const call of new Set(calls)) {
      assert.ok(
        section.includes(`secretsmanager:${call}`),
        `"Using keys in your app" grants secretsmanager:${call}`,
      );
    }
  });
});
