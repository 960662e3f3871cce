/**
 * Typechecks README TypeScript snippets in one in-process TypeScript program, as a user's strict project
 * would: each snippet is a module of its own (served from memory, never written to disk) at a path inside
 * this repository, so its packages resolve from this repository's node_modules, and `rekey/<entry>` resolves
 * (through `paths`) to the source of each entry point package.json `exports` declares — what the published
 * package compiles from, without building dist/.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import ts from 'typescript';

export const REPO = join(import.meta.dirname, '..', '..');
/** Where the snippets' virtual files live: inside the repository, so node_modules resolution is the user's. */
const SNIPPET_DIR = join(REPO, 'test', 'readme', '.snippets');

/**
 * The user's compiler options: those of the fresh project test/package/tarball.test.ts typechecks the README's
 * example app in (strict), with `paths` mapping the package's own specifiers to this repository's sources.
 */
export const USER_OPTIONS: ts.CompilerOptions = {
  target: ts.ScriptTarget.ES2022,
  module: ts.ModuleKind.NodeNext,
  moduleResolution: ts.ModuleResolutionKind.NodeNext,
  strict: true,
  noUncheckedIndexedAccess: true,
  skipLibCheck: true,
  noEmit: true,
  types: ['node'],
};

/**
 * `rekey/<entry>` → the TypeScript source its `exports` entry compiles from (`./dist/client/index.d.ts` →
 * `client/index.ts`), for every entry point but package.json.
 */
export function packageEntryPoints(): Record<string, string> {
  const manifest = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as {
    name: string;
    exports: Record<string, string | { types?: string }>;
  };
  const entries: Record<string, string> = {};
  for (const [subpath, target] of Object.entries(manifest.exports)) {
    if (subpath === './package.json') continue;
    const types = typeof target === 'string' ? target : target.types;
    if (!types) throw new Error(`package.json exports["${subpath}"] names no types`);
    const source = types.replace(/^\.\/dist\//, '').replace(/\.d\.ts$/, '.ts');
    if (!existsSync(join(REPO, source))) {
      throw new Error(
        `package.json exports["${subpath}"] types ${types}: no source ${source} in the repository`,
      );
    }
    entries[`${manifest.name}${subpath.slice(1)}`] = join(REPO, source);
  }
  return entries;
}

export interface Snippet {
  /** 1-based README line of the snippet's first line. */
  line: number;
  code: string;
}

export interface SnippetDiagnostic {
  /** README line the error is on. */
  line: number;
  code: number;
  message: string;
}

/** The virtual file a snippet is compiled as. */
export const snippetFile = (snippet: Snippet) => join(SNIPPET_DIR, `README-L${snippet.line}.ts`);

/**
 * Every compiler error in the snippets, on its README line; also the modules each snippet's imports resolved
 * to, so a caller can tell `rekey/client` reached the source and not a stale dist/.
 */
export function typecheckSnippets(snippets: Snippet[]): {
  diagnostics: SnippetDiagnostic[];
  resolved: Map<Snippet, Map<string, string | undefined>>;
} {
  const options: ts.CompilerOptions = {
    ...USER_OPTIONS,
    paths: Object.fromEntries(Object.entries(packageEntryPoints()).map(([spec, file]) => [spec, [file]])),
  };
  const virtual = new Map(snippets.map((s) => [snippetFile(s), s]));
  const host = ts.createCompilerHost(options, true);
  const { getSourceFile, fileExists, readFile } = host;
  host.fileExists = (file) => virtual.has(file) || fileExists.call(host, file);
  host.readFile = (file) => virtual.get(file)?.code ?? readFile.call(host, file);
  host.getSourceFile = (file, language, ...rest) => {
    const snippet = virtual.get(file);
    if (snippet) return ts.createSourceFile(file, snippet.code, language, true, ts.ScriptKind.TS);
    return getSourceFile.call(host, file, language, ...rest);
  };
  const program = ts.createProgram({ rootNames: [...virtual.keys()], options, host });

  const diagnostics: SnippetDiagnostic[] = [];
  const describe = (d: ts.Diagnostic, line: number) =>
    diagnostics.push({ line, code: d.code, message: ts.flattenDiagnosticMessageText(d.messageText, '\n') });
  for (const d of [...program.getOptionsDiagnostics(), ...program.getGlobalDiagnostics()]) describe(d, 0);
  const resolved = new Map<Snippet, Map<string, string | undefined>>();
  for (const [file, snippet] of virtual) {
    const source = program.getSourceFile(file)!;
    for (const d of [...program.getSyntacticDiagnostics(source), ...program.getSemanticDiagnostics(source)]) {
      const at = d.start === undefined ? 0 : source.getLineAndCharacterOfPosition(d.start).line;
      describe(d, snippet.line + at);
    }
    const imports = new Map<string, string | undefined>();
    for (const statement of source.statements) {
      if (!ts.isImportDeclaration(statement) || !ts.isStringLiteral(statement.moduleSpecifier)) continue;
      const specifier = statement.moduleSpecifier.text;
      const mode = program.getModeForUsageLocation(source, statement.moduleSpecifier);
      imports.set(
        specifier,
        ts.resolveModuleName(specifier, file, options, host, undefined, undefined, mode).resolvedModule
          ?.resolvedFileName,
      );
    }
    resolved.set(snippet, imports);
  }
  return { diagnostics, resolved };
}
