/**
 * Whether a README shell command runs as written, as far as rekey decides it: `npx rekey <command>` (or
 * `rekey <command>`) names one of the CLI's commands and passes only flags its usage text names;
 * `npm run <script>` (and `npm start`, `npm test`) names a script of package.json, and the flags after `--`
 * reach something that takes them: rekey's usage when the script runs bin/rekey.ts, otherwise the
 * parseArgs options of the script's entry file.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Block, ShellCommand } from './markdown.js';

export interface CliFacts {
  /** Command name → its usage text (`rekey <command> --help`). */
  usage: Map<string, string>;
  /** package.json scripts. */
  scripts: Record<string, string>;
  /** Where script entry files are read from. */
  root: string;
}

/** npm's own commands a README may use; only run/start/test name a script. */
const NPM_BUILTINS = new Set(['ci', 'install', 'i', 'pack', 'exec', 'init', 'uninstall', 'view', 'ls']);
/** npm's shorthands for `npm run <script>`. */
const NPM_SCRIPT_ALIASES = new Set(['start', 'test', 'stop', 'restart']);
/** What bin/rekey.ts itself answers before choosing a command. */
const GLOBAL_FLAGS = new Set(['--help', '-h', 'help']);

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** A flag's name as written (`--grace=5m` → `--grace`), or undefined for a word that is not a flag. */
function flagOf(word: string): string | undefined {
  return /^--?[A-Za-z]/.test(word) ? word.split('=')[0] : undefined;
}

/** Problems with `rekey <args…>`: the command and each flag against the usage text. */
function rekeyProblems(args: string[], facts: CliFacts, shown: string): string[] {
  const [name, ...rest] = args;
  if (name === undefined || GLOBAL_FLAGS.has(name)) return [];
  const usage = facts.usage.get(name);
  if (usage === undefined) {
    return [`${shown}: "${name}" is not a rekey command (known: ${[...facts.usage.keys()].join(', ')})`];
  }
  const problems: string[] = [];
  for (const word of rest) {
    if (word === '--') break;
    const flag = flagOf(word);
    if (flag === undefined || flag === '--help' || flag === '-h') continue;
    if (!new RegExp(`(^|[\\s[(|,])${escapeRegExp(flag)}(?![\\w-])`).test(usage)) {
      problems.push(`${shown}: rekey ${name} has no ${flag} (not in \`rekey ${name} --help\`)`);
    }
  }
  return problems;
}

/** Problems with the flags passed after `--` to a script that does not run bin/rekey.ts. */
function scriptFlagProblems(script: string, command: string, args: string[], facts: CliFacts, shown: string) {
  const flags = args.map(flagOf).filter((flag): flag is string => flag !== undefined);
  if (!flags.length) return [];
  const entry = /^tsx\s+(\S+\.ts)\b/.exec(command)?.[1];
  if (!entry) return [`${shown}: cannot tell which flags npm run ${script} takes (script: ${command})`];
  const source = readFileSync(join(facts.root, entry), 'utf8');
  return flags
    .filter((flag) => {
      const option = flag.replace(/^-+/, '');
      return !new RegExp(`(^|[\\s{,])['"]?${escapeRegExp(option)}['"]?\\s*:\\s*\\{[^}]*\\btype\\s*:`).test(
        source,
      );
    })
    .map((flag) => `${shown}: npm run ${script} has no ${flag} (not a parseArgs option of ${entry})`);
}

/** Everything in `command` that does not exist as written; empty when it runs as far as rekey decides. */
export function commandProblems(command: ShellCommand, facts: CliFacts): string[] {
  let words = command.words;
  while (words.length && /^[A-Za-z_][A-Za-z0-9_]*=/.test(words[0]!)) words = words.slice(1);
  const shown = `README.md:${command.line}: \`${command.words.join(' ')}\``;
  const [program, ...rest] = words;
  if (program === 'npx' && rest[0] === 'rekey') return rekeyProblems(rest.slice(1), facts, shown);
  if (program === 'rekey') return rekeyProblems(rest, facts, shown);
  if (program !== 'npm' || rest[0] === undefined) return [];
  const [sub, ...args] = rest;
  let script: string | undefined;
  let scriptArgs: string[];
  if (sub === 'run' || sub === 'run-script') [script, ...scriptArgs] = args;
  else if (NPM_SCRIPT_ALIASES.has(sub!)) [script, scriptArgs] = [sub, args];
  else if (NPM_BUILTINS.has(sub!) || sub!.startsWith('-')) return [];
  else return [`${shown}: npm ${sub} is neither an npm command this check knows nor a script shorthand`];
  if (script === undefined) return [`${shown}: npm run without a script`];
  const body = facts.scripts[script];
  if (body === undefined) {
    return [
      `${shown}: package.json has no script "${script}" (scripts: ${Object.keys(facts.scripts).join(', ')})`,
    ];
  }
  const passed = scriptArgs.includes('--') ? scriptArgs.slice(scriptArgs.indexOf('--') + 1) : [];
  const cli = /^tsx bin\/rekey\.ts(?:\s+(\S+))?\s*$/.exec(body);
  if (cli) return rekeyProblems(cli[1] ? [cli[1], ...passed] : passed, facts, shown);
  return scriptFlagProblems(script, body, passed, facts, shown);
}

/**
 * The CLI's synopsis (a bare block of `rekey <command> [--flag …] <arg> …` lines) as commands to check: the
 * command and every `--flag` a line names, wherever it sits in the brackets. Not shell: `<secret>`, `|` and
 * `< key` are notation there.
 */
export function synopsisCommands(block: Pick<Block, 'code' | 'line'>): ShellCommand[] {
  return block.code.split('\n').flatMap((text, i) => {
    const command = /^rekey (\S+)/.exec(text);
    if (!command) return [];
    const flags = [...text.matchAll(/(?<![\w-])--[A-Za-z][\w-]*/g)].map((m) => m[0]);
    return [{ words: ['rekey', command[1]!, ...flags], line: block.line + i }];
  });
}
