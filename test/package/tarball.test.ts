/**
 * The installable package, end to end: `npm pack` this repository (prepack builds dist/), install the tarball
 * into an empty project in a temp directory, and use it there as a newcomer would — the CLI through npx, the
 * client through `rekey/client` (typechecked and run), and the constructs through `rekey/cdk`: the README's
 * "Installing" example app, typechecked and synthesized (bundling skipped), and one function bundled with
 * esbuild from the package's shipped handler sources.
 *
 * Offline: the fresh project's lock file is seeded from this repository's package-lock.json (the same
 * versions `npm ci` put in the npm cache) plus the tarball, so `npm ci --offline` needs no registry. Only if
 * a tarball is missing from the cache does it retry with --prefer-offline (the registry `npm ci` already
 * needed); if neither the cache nor the registry can serve the dependencies, the tests are skipped, saying so.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { COMMANDS } from '../../bin/commands/index.js';
import { rotationProviders } from '../../lib/function.js';
import { loadInventory } from '../../lib/inventory.js';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const repoJson = (file: string) => JSON.parse(readFileSync(join(REPO, file), 'utf8'));
const manifest = repoJson('package.json') as {
  name: string;
  version: string;
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
};

/**
 * What the fresh project installs beside the tarball: the peers the README names, and Node's types. The
 * TypeScript tools that check it (tsc, tsx) are this repository's: the package must not need them.
 */
const PROJECT_DEPS = ['aws-cdk-lib', 'constructs', 'esbuild', '@types/aws-lambda', '@types/node'];
const TSC = join(REPO, 'node_modules', 'typescript', 'bin', 'tsc');
const TSX = join(REPO, 'node_modules', 'tsx', 'dist', 'cli.mjs');
/** What the copy of the checkout leaves out: installed, built or generated, and git's own. */
const NOT_COPIED = new Set(['.git', 'node_modules', 'dist', 'cdk.out', '.scratch']);

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** The environment without the parent npm's npm_* variables (an outer `npm test` must not configure npm). */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const keep = new Set(['npm_config_cache', 'npm_config_registry', 'npm_config_userconfig']);
  const env = Object.fromEntries(
    Object.entries(process.env).filter(([name]) => !/^npm_/i.test(name) || keep.has(name.toLowerCase())),
  );
  delete env.INIT_CWD;
  return { ...env, ...extra };
}

function run(command: string, args: string[], cwd: string, env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      command,
      args,
      { cwd, env: cleanEnv(env), maxBuffer: 64 * 1024 * 1024, timeout: 110_000 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

function ok(result: Run, what: string): Run {
  assert.equal(result.code, 0, `${what} exited ${result.code}\n${result.stdout}\n${result.stderr}`);
  return result;
}

type LockEntry = Record<string, unknown> & {
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
};

/**
 * A package-lock.json for the fresh project: the tarball as `rekey`, and every package the project and the
 * tarball need, at the versions (and paths) this repository's lock file resolved them to.
 */
function seededLock(spec: string, integrity: string, packed: LockEntry): object {
  const source = (repoJson('package-lock.json') as { packages: Record<string, LockEntry> }).packages;
  const rootDeps = Object.fromEntries(PROJECT_DEPS.map((name) => [name, manifest.devDependencies[name]!]));
  const rekeyEntry: LockEntry = {
    version: manifest.version,
    resolved: `file:${spec}`,
    integrity,
    ...Object.fromEntries(
      ['license', 'dependencies', 'peerDependencies', 'peerDependenciesMeta', 'bin', 'engines']
        .filter((field) => packed[field] !== undefined)
        .map((field) => [field, packed[field]]),
    ),
  };
  const packages: Record<string, LockEntry> = { ...source, 'node_modules/rekey': rekeyEntry };
  /** Where Node finds `name` from the package at `from` ('' is the project). */
  const resolve = (from: string, name: string): string | undefined => {
    for (let base = from; ; ) {
      const candidate = base ? `${base}/node_modules/${name}` : `node_modules/${name}`;
      if (packages[candidate]) return candidate;
      if (!base) return undefined;
      const up = base.lastIndexOf('/node_modules/');
      base = up === -1 ? '' : base.slice(0, up);
    }
  };
  const edges = (path: string, entry: LockEntry, withOptional: boolean): string[] => {
    const optionalPeers = new Set(
      Object.entries(entry.peerDependenciesMeta ?? {})
        .filter(([, meta]) => meta.optional)
        .map(([name]) => name),
    );
    const names = [
      ...Object.keys(entry.dependencies ?? {}),
      ...Object.keys(entry.peerDependencies ?? {}).filter((name) => !optionalPeers.has(name)),
      ...(withOptional ? Object.keys(entry.optionalDependencies ?? {}) : []),
    ];
    return names.map((name) => resolve(path, name)).filter((p): p is string => p !== undefined);
  };
  const reach = (withOptional: boolean): Set<string> => {
    const seen = new Set<string>();
    const queue = [...edges('', { dependencies: { rekey: '', ...rootDeps } }, withOptional)];
    for (let path = queue.pop(); path !== undefined; path = queue.pop()) {
      if (seen.has(path)) continue;
      seen.add(path);
      queue.push(...edges(path, packages[path]!, withOptional));
    }
    return seen;
  };
  const required = reach(false);
  const all = reach(true);
  const out: Record<string, LockEntry> = {
    '': { name: 'fresh-project', dependencies: { rekey: `file:${spec}`, ...rootDeps } },
  };
  for (const path of [...all].sort()) {
    const {
      dev: _dev,
      devOptional: _devOptional,
      optional: _optional,
      peer: _peer,
      ...entry
    } = packages[path]!;
    out[path] = required.has(path) ? entry : { ...entry, optional: true };
  }
  return { name: 'fresh-project', lockfileVersion: 3, requires: true, packages: out };
}

/**
 * The packages the compiled module at `entry` loads, through every relative import it makes (static and
 * dynamic): what an installed entry point needs from node_modules.
 */
/** `@scope/name` or `name` of a bare specifier such as `aws-cdk-lib/aws-iam`. */
const packageOf = (spec: string): string =>
  spec
    .split('/')
    .slice(0, spec.startsWith('@') ? 2 : 1)
    .join('/');

function packagesLoadedBy(entry: string): Set<string> {
  const found = new Set<string>();
  const seen = new Set<string>();
  // tsc's output: an import or export statement (no `=` before its `from`), a bare import, import('…').
  const specifier =
    /^(?:import|export)\b[^;=]*?\bfrom\s*['"]([^'"]+)['"]|^import\s*['"]([^'"]+)['"]|\bimport\(\s*['"]([^'"]+)['"]\s*\)/gm;
  for (const queue = [entry]; queue.length; ) {
    const file = queue.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    for (const match of readFileSync(file, 'utf8').matchAll(specifier)) {
      const spec = match[1] ?? match[2] ?? match[3] ?? '';
      if (spec.startsWith('.')) queue.push(join(file, '..', spec));
      else if (!spec.startsWith('node:')) found.add(packageOf(spec));
    }
  }
  return found;
}

const NETWORK_ERROR =
  /ENOTCACHED|ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENETUNREACH|EHOSTUNREACH/;

/** The README's "Installing" example app: the TypeScript block after the `tarball-test: app.ts` marker. */
function readmeApp(): string {
  const readme = readFileSync(join(REPO, 'README.md'), 'utf8');
  const block = /<!-- tarball-test: app\.ts -->\s*```ts\n([\s\S]*?)```/.exec(readme);
  assert.ok(block, 'README.md has the "Installing" example app (marked <!-- tarball-test: app.ts -->)');
  return block[1]!;
}

const CLIENT_CHECK = `import type { Context } from 'aws-lambda';
import { type ApiKey, isAuthFailure, KeyClient, KeyRejectedError, KeyUnavailableError, rekeyKeys } from 'rekey/client';

const client = new KeyClient({ ttlMs: 60_000, metrics: false });
// The types are real, not any: each misuse below is an error (an unused @ts-expect-error would be one too).
// @ts-expect-error ttlMs is a number
new KeyClient({ ttlMs: 'soon' });
export async function send(): Promise<string> {
  const key: ApiKey = await client.get('prod/sendgrid/api-key');
  // @ts-expect-error an ApiKey has no 'secret' field
  key.secret;
  return key.value;
}
const middleware = rekeyKeys({ keys: { sendgrid: 'prod/sendgrid/api-key' } });
export type Keys = Parameters<NonNullable<typeof middleware.before>>[0]['context'] & Context;
export const valueOf = (context: Keys): string => context.keys.sendgrid.value;
// @ts-expect-error only the configured names are on context.keys
export const other = (context: Keys): string => context.keys.twilio.value;
export const errors = [KeyRejectedError, KeyUnavailableError, isAuthFailure];
`;

const CLIENT_RUN = `import * as client from 'rekey/client';
const keyClient = new client.KeyClient({ metrics: false });
const middleware = client.rekeyKeys({ keys: { sendgrid: 'prod/sendgrid/api-key' }, client: keyClient });
console.log(JSON.stringify({
  exports: Object.keys(client).sort(),
  get: typeof keyClient.get,
  before: typeof middleware.before,
}));
`;

/** One function with bundling on: esbuild bundles a shipped handler source against the package's dist/. */
const BUNDLE_APP = `import { App, Stack } from 'aws-cdk-lib';
import { RekeyFunction } from 'rekey/cdk';
const app = new App();
new RekeyFunction(new Stack(app, 'Bundled'), 'Fn', { handler: 'rotate-http', description: 'bundling check' });
app.synth();
`;

describe('the rekey package, installed from its tarball into an empty project', {
  timeout: 170_000,
}, () => {
  let dir = '';
  let project = '';
  let skipped: string | undefined;
  const timings: string[] = [];
  const timed = async <T>(what: string, step: () => Promise<T>): Promise<T> => {
    const started = Date.now();
    try {
      return await step();
    } finally {
      timings.push(`${what} ${((Date.now() - started) / 1000).toFixed(1)} s`);
    }
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rekey-tarball-'));
    const packDir = join(dir, 'pack');
    project = join(dir, 'project');
    mkdirSync(packDir);
    mkdirSync(project);
    // Packed from a copy of the checkout (its node_modules linked), so that the prepack build neither
    // replaces this repository's dist/ under a concurrent run nor ships a stale file from it.
    const checkout = join(dir, 'checkout');
    cpSync(REPO, checkout, {
      recursive: true,
      filter: (path) => !NOT_COPIED.has(relative(REPO, path).split(sep)[0]!),
    });
    symlinkSync(join(REPO, 'node_modules'), join(checkout, 'node_modules'), 'dir');
    await timed('npm pack (with the prepack build)', async () =>
      ok(await run('npm', ['pack', '--pack-destination', packDir], checkout), 'npm pack'),
    );
    const tarballName = readdirSync(packDir).find((file) => file.endsWith('.tgz'));
    assert.ok(tarballName, `npm pack left a .tgz in ${packDir}`);
    const tarball = join(packDir, tarballName);
    const spec = `../pack/${tarballName}`;
    const integrity = `sha512-${createHash('sha512').update(readFileSync(tarball)).digest('base64')}`;
    const packed = JSON.parse(
      ok(await run('tar', ['-xzOf', tarball, 'package/package.json'], dir), 'tar').stdout,
    ) as LockEntry;

    writeFileSync(
      join(project, 'package.json'),
      `${JSON.stringify({ name: 'fresh-project', version: '1.0.0', private: true, type: 'module' }, null, 2)}\n`,
    );
    writeFileSync(join(project, 'package-lock.json'), JSON.stringify(seededLock(spec, integrity, packed)));
    // The lock file names what to install; package.json says the same, as `npm install <tarball> …` would.
    const pkg = JSON.parse(readFileSync(join(project, 'package.json'), 'utf8'));
    const lock = JSON.parse(readFileSync(join(project, 'package-lock.json'), 'utf8'));
    pkg.dependencies = lock.packages[''].dependencies;
    writeFileSync(join(project, 'package.json'), `${JSON.stringify(pkg, null, 2)}\n`);

    const install = (...mode: string[]) =>
      run('npm', ['ci', ...mode, '--no-audit', '--no-fund', '--loglevel=error'], project);
    let installed = await timed('npm ci --offline', () => install('--offline'));
    if (installed.code !== 0 && /ENOTCACHED/.test(installed.stderr)) {
      // Only what the cache lacks, from the registry; one quick retry, so an unreachable one fails fast.
      installed = await timed('npm ci --prefer-offline', () =>
        install(
          '--prefer-offline',
          '--fetch-retries=1',
          '--fetch-retry-mintimeout=1000',
          '--fetch-retry-maxtimeout=2000',
        ),
      );
    }
    if (installed.code !== 0 && NETWORK_ERROR.test(installed.stderr)) {
      skipped =
        'the dependencies are neither in the npm cache (run `npm ci` in this repository first) nor ' +
        `reachable at the registry: ${installed.stderr.split('\n').find((l) => NETWORK_ERROR.test(l))}`;
      return;
    }
    ok(installed, 'npm ci in the fresh project');

    writeFileSync(
      join(project, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2022',
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          strict: true,
          noUncheckedIndexedAccess: true,
          skipLibCheck: true,
          noEmit: true,
          types: ['node'],
        },
        files: ['app.ts', 'client-check.ts'],
      }),
    );
    writeFileSync(join(project, 'app.ts'), readmeApp());
    writeFileSync(join(project, 'client-check.ts'), CLIENT_CHECK);
    writeFileSync(join(project, 'client-run.mjs'), CLIENT_RUN);
    writeFileSync(join(project, 'bundle.mjs'), BUNDLE_APP);
    writeFileSync(join(project, 'rekey.yaml'), readFileSync(join(REPO, 'rekey.yaml')));
  });

  after(() => {
    if (timings.length) process.stdout.write(`tarball test: ${timings.join(', ')}\n`);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('ships the compiled code, the handler sources NodejsFunction bundles, and no other sources', (t) => {
    if (skipped) return t.skip(skipped);
    const root = join(project, 'node_modules', 'rekey');
    assert.ok(existsSync(join(root, 'dist', 'bin', 'rekey.js')));
    assert.ok(existsSync(join(root, 'dist', 'lib', 'index.d.ts')));
    assert.ok(existsSync(join(root, 'dist', 'client', 'index.d.ts')));
    assert.ok(existsSync(join(root, 'dist', 'package-lock.json')), 'NodejsFunction needs a lock file');
    const handlers = readdirSync(join(root, 'dist', 'lambdas', 'handlers')).filter((f) =>
      /^[^.]+\.ts$/.test(f),
    );
    assert.deepEqual(handlers.sort(), readdirSync(join(REPO, 'lambdas', 'handlers')).sort());
    for (const source of ['bin/rekey.ts', 'lib', 'lambdas', 'client', 'local', 'test']) {
      assert.ok(!existsSync(join(root, source)), `${source} is not in the package`);
    }
  });

  it('npx rekey --help lists every command, and every command has its --help', async (t) => {
    if (skipped) return t.skip(skipped);
    const help = await timed('CLI', async () => {
      const top = ok(await run('npx', ['--offline', 'rekey', '--help'], project), 'npx rekey --help');
      const each = await Promise.all(
        COMMANDS.map(async (command) => {
          const result = ok(
            await run('npx', ['--offline', 'rekey', command.name, '--help'], project),
            `npx rekey ${command.name} --help`,
          );
          assert.equal(result.stdout.trim(), command.usage.trim(), `rekey ${command.name} --help`);
        }),
      );
      assert.equal(each.length, COMMANDS.length);
      return top.stdout;
    });
    for (const command of COMMANDS) {
      assert.match(help, new RegExp(`^  ${command.name}\\s+\\S`, 'm'), `--help lists ${command.name}`);
    }
    const unknown = await run('npx', ['--offline', 'rekey', 'no-such-command'], project);
    assert.equal(unknown.code, 2, 'an unknown command is a usage error');
  });

  it("the README's example app and a client module typecheck against the package's types (strict)", async (t) => {
    if (skipped) return t.skip(skipped);
    await timed('tsc', async () => ok(await run('node', [TSC, '-p', '.'], project), 'tsc'));
  });

  it('each entry point loads only the dependencies, and rekey/cdk also the CDK peers', (t) => {
    if (skipped) return t.skip(skipped);
    const dist = join(project, 'node_modules', 'rekey', 'dist');
    const dependencies = Object.keys(manifest.dependencies);
    const allowed = (extra: string[] = []) => new Set([...dependencies, ...extra]);
    for (const [entry, may] of [
      ['bin/rekey.js', allowed()],
      ['client/index.js', allowed()],
      ['lib/index.js', allowed(['aws-cdk-lib', 'constructs'])],
    ] as const) {
      const loaded = [...packagesLoadedBy(join(dist, entry))].sort();
      assert.ok(loaded.length > 0, `${entry} loads packages`);
      assert.deepEqual(
        loaded.filter((name) => !may.has(name)),
        [],
        `dist/${entry} loads only ${[...may].join(', ')}; it loads ${loaded.join(', ')}`,
      );
    }
  });

  it('rekey/client runs under plain node', async (t) => {
    if (skipped) return t.skip(skipped);
    const result = ok(await run('node', ['client-run.mjs'], project), 'node client-run.mjs');
    const seen = JSON.parse(result.stdout) as { exports: string[]; get: string; before: string };
    assert.deepEqual(seen.exports, Object.keys(await import('../../client/index.js')).sort());
    assert.equal(seen.get, 'function');
    assert.equal(seen.before, 'function');
  });

  it("the README's example app synthesizes the stack from rekey/cdk around the inventory", async (t) => {
    if (skipped) return t.skip(skipped);
    const outdir = join(project, 'cdk.out');
    await timed('synth', async () =>
      ok(
        await run('node', [TSX, 'app.ts'], project, {
          CDK_OUTDIR: outdir,
          CDK_CONTEXT_JSON: JSON.stringify({ 'aws:cdk:bundling-stacks': [] }),
        }),
        'the example app',
      ),
    );
    const template = JSON.parse(readFileSync(join(outdir, 'Rekey.template.json'), 'utf8')) as {
      Resources: Record<string, { Type: string; Properties?: Record<string, unknown> }>;
    };
    const resources = Object.values(template.Resources);
    const ofType = (type: string) => resources.filter((r) => r.Type === type);
    const plans = loadInventory(join(REPO, 'rekey.yaml'), rotationProviders());
    const secretNames = ofType('AWS::SecretsManager::Secret').map((r) => r.Properties?.Name);
    for (const plan of plans.filter((p) => !p.existingSecretArn)) {
      assert.ok(secretNames.includes(plan.secretName), `a secret for ${plan.name}`);
    }
    const providers = new Set(plans.map((p) => p.provider));
    // One rotation function per provider, plus the revoker, the rollback function and the key-age monitor.
    assert.equal(ofType('AWS::Lambda::Function').length, providers.size + 3);
    assert.equal(
      ofType('AWS::SecretsManager::RotationSchedule').length,
      plans.filter((p) => p.imported).length,
    );
    assert.equal(ofType('AWS::DynamoDB::Table').length, 1, 'the lease table');
    assert.equal(ofType('AWS::Scheduler::ScheduleGroup').length, 1, 'the revocation schedules');
    assert.ok(ofType('AWS::SNS::Topic').length >= 3, 'the alert topics');
    assert.equal(ofType('AWS::CloudWatch::Dashboard').length, 1);
    assert.ok(ofType('AWS::CloudWatch::Alarm').length > 0);
    // The app's own role, composed around the stack: it may read every key.
    const appRole = Object.entries(template.Resources).find(
      ([id, r]) => r.Type === 'AWS::IAM::Role' && id.startsWith('AppRole'),
    );
    assert.ok(appRole, "the example's AppRole");
    const appPolicy = JSON.stringify(
      resources.filter(
        (r) => r.Type === 'AWS::IAM::Policy' && JSON.stringify(r.Properties?.Roles).includes(appRole[0]),
      ),
    );
    assert.match(appPolicy, /secretsmanager:GetSecretValue/);
    assert.equal((appPolicy.match(/"secretsmanager:GetSecretValue"/g) ?? []).length, plans.length);
  });

  it('bundles a function with esbuild from the installed package', async (t) => {
    if (skipped) return t.skip(skipped);
    const outdir = join(project, 'cdk.out.bundled');
    await timed('bundling', async () =>
      ok(await run('node', ['bundle.mjs'], project, { CDK_OUTDIR: outdir }), 'node bundle.mjs'),
    );
    const assets = readdirSync(outdir).filter((f) => f.startsWith('asset.'));
    assert.equal(assets.length, 1, `one code asset in ${readdirSync(outdir).join(', ')}`);
    const asset = join(outdir, assets[0]!);
    // An ES module, and no source map unless asked (RekeyFunctionProps.sourceMaps, -c sourceMaps=true).
    assert.deepEqual(readdirSync(asset).sort(), ['index.mjs', 'rekey-routes.json']);
    assert.ok(readFileSync(join(asset, 'index.mjs'), 'utf8').length > 10_000, 'the handler and its imports');
  });
});
