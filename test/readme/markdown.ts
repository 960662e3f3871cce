/**
 * Reading README.md as its tests need it: the fenced code blocks (with their language, where they start, and
 * the HTML comment right before them), the shell commands in a block, and a section's tables.
 */

export interface Block {
  /** The fence's info string's first word, lower-cased ('' for a bare fence). */
  lang: string;
  /** 1-based line of the block's first content line in the file. */
  line: number;
  code: string;
  /** The text of an HTML comment on the last non-blank line before the fence, if there is one. */
  marker?: string;
  /** The `## ` heading the block sits under ('' before the first). */
  section: string;
}

/** Every fenced code block of a Markdown file, in order. An unclosed fence runs to the end of the file. */
export function blocksOf(markdown: string): Block[] {
  const lines = markdown.split('\n');
  const blocks: Block[] = [];
  let section = '';
  for (let i = 0; i < lines.length; i++) {
    const text = lines[i]!;
    if (/^## /.test(text)) section = text.slice(3).trim();
    const open = /^ {0,3}(`{3,}|~{3,})\s*([^\s`]*)/.exec(text);
    if (!open) continue;
    const fence = open[1]!;
    const close = new RegExp(`^ {0,3}${fence[0] === '`' ? '`' : '~'}{${fence.length},}\\s*$`);
    let end = i + 1;
    while (end < lines.length && !close.test(lines[end]!)) end++;
    let before = i - 1;
    while (before >= 0 && lines[before]!.trim() === '') before--;
    const comment = before >= 0 ? /^<!--\s*([\s\S]*?)\s*-->$/.exec(lines[before]!.trim()) : null;
    blocks.push({
      lang: open[2]!.toLowerCase(),
      line: i + 2,
      code: lines.slice(i + 1, end).join('\n'),
      ...(comment ? { marker: comment[1]! } : {}),
      section,
    });
    i = end;
  }
  return blocks;
}

/** One simple command of a shell block: its words (quotes removed) and the README line it is on. */
export interface ShellCommand {
  words: string[];
  line: number;
}

/**
 * The simple commands of a shell block, as far as a README needs: `\` continues a line, `#` starts a comment
 * at a word's start, `&&`, `||`, `;` and `|` separate commands, and a redirection (`<`, `>`, `2>`, `>>`)
 * takes its target out of the words. Quotes ('…', "…") and `$(…)` keep their content in one word.
 */
export function shellCommands(block: Pick<Block, 'code' | 'line'>): ShellCommand[] {
  const commands: ShellCommand[] = [];
  const lines = block.code.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = block.line + i;
    let text = lines[i]!;
    while (text.endsWith('\\') && i + 1 < lines.length) text = `${text.slice(0, -1)} ${lines[++i]!}`;
    let words: string[] = [];
    let word: string | undefined;
    let redirect = false;
    const endWord = () => {
      if (word === undefined) return;
      if (redirect) redirect = false;
      else words.push(word);
      word = undefined;
    };
    const endCommand = () => {
      endWord();
      if (words.length) commands.push({ words, line });
      words = [];
    };
    for (let at = 0; at < text.length; at++) {
      const c = text[at]!;
      if (c === "'" || c === '"') {
        const end = text.indexOf(c, at + 1);
        const stop = end === -1 ? text.length : end;
        word = (word ?? '') + text.slice(at + 1, stop);
        at = stop;
      } else if (c === '$' && text[at + 1] === '(') {
        let depth = 0;
        let end = at + 1;
        for (; end < text.length; end++) {
          if (text[end] === '(') depth++;
          else if (text[end] === ')' && --depth === 0) break;
        }
        word = (word ?? '') + text.slice(at, end + 1);
        at = end;
      } else if (c === '#' && word === undefined) {
        break;
      } else if (/\s/.test(c)) {
        endWord();
      } else if (c === ';' || c === '|' || (c === '&' && text[at + 1] === '&')) {
        endCommand();
        if (text[at + 1] === c) at++;
      } else if (c === '<' || c === '>') {
        if (word !== undefined && /^\d$/.test(word)) word = undefined; // 2>
        endWord();
        redirect = true;
        if (text[at + 1] === c || text[at + 1] === '&') at++;
      } else {
        word = (word ?? '') + c;
      }
    }
    endCommand();
  }
  return commands;
}

/** The rows of every Markdown table in `text` whose header row has `firstColumn` as its first cell. */
export function tableRows(text: string, firstColumn: string): Array<Record<string, string>> {
  const lines = text.split('\n');
  const cells = (row: string) =>
    row
      .trim()
      .replace(/^\||\|$/g, '')
      .split('|')
      .map((cell) => cell.trim());
  const rows: Array<Record<string, string>> = [];
  for (let i = 0; i < lines.length; i++) {
    if (!lines[i]!.trim().startsWith('|')) continue;
    const header = cells(lines[i]!);
    if (header[0] !== firstColumn || !/^\s*\|[\s|:-]+\|\s*$/.test(lines[i + 1] ?? '')) continue;
    for (i += 2; i < lines.length && lines[i]!.trim().startsWith('|'); i++) {
      const row = cells(lines[i]!);
      rows.push(Object.fromEntries(header.map((name, n) => [name, row[n] ?? ''])));
    }
  }
  return rows;
}

/** The text of the `## ` section whose heading starts with `heading`, up to the next `## ` heading. */
export function sectionOf(markdown: string, heading: string): string {
  const start = markdown.split('\n').findIndex((line) => line.startsWith(`## ${heading}`));
  if (start === -1) throw new Error(`README.md has no "## ${heading}" section`);
  const rest = markdown.split('\n').slice(start + 1);
  const end = rest.findIndex((line) => line.startsWith('## '));
  return rest.slice(0, end === -1 ? undefined : end).join('\n');
}
