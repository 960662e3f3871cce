/**
 * Cold start, measured only: each rotation function, the revoker and rollback bundled with lib/function.ts's
 * `rekeyBundling` (the options its NodejsFunction passes to the local esbuild), against a reference handler
 * that imports only the Secrets Manager client (bench/cold-start/reference-handler.ts). Each figure is the
 * time a fresh `node` process spends in `import()` of the bundle — how Lambda's Node.js runtime loads a
 * handler — module load and init; node's own start-up is left out, it is the same for every bundle. Rounds
 * interleave every bundle, after warm-up.
 *
 * Two references, both ratios' denominators:
 * - "as AWS documents": esbuild bundle, minified, the SDK bundled (the SDK team's advice for cold start, and
 *   CDK's issue #25492), the SDK's ES module builds (`mainFields: module,main`, aws-sdk-js-v3 #3023),
 *   CommonJS output (the Lambda guide's esbuild example and NodejsFunction's default), no source map;
 * - "bundled as rekey": exactly rekey's options, so its ratio is what rekey's code and clients cost.
 * And two functions with the runtime's SDK instead (`@aws-sdk/*` left out of the bundle and loaded from
 * node_modules, as Lambda loads its own copy), beside the same reference.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { type BuildOptions, build, type Metafile } from 'esbuild';
import { rekeyBundling } from '../../lib/function.js';
import { type Spread, spread } from '../stats.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const HANDLERS = join(ROOT, 'lambdas', 'handlers');
const REFERENCE = join(ROOT, 'bench', 'cold-start', 'reference-handler.ts');

/** esbuild options equal to what NodejsFunction passes for `rekeyBundling(sourceMaps)`. */
export function deployedBuildOptions(sourceMaps: boolean): BuildOptions {
  const bundling = rekeyBundling(sourceMaps);
  return {
    bundle: true,
    platform: 'node',
    format: bundling.format,
    mainFields: bundling.mainFields,
    target: bundling.target,
    minify: bundling.minify,
    sourcemap: bundling.sourceMap,
    ...('sourcesContent' in bundling ? { sourcesContent: bundling.sourcesContent } : {}),
    tsconfig: bundling.tsconfig,
    absWorkingDir: ROOT,
    logLevel: 'error',
  };
}

/** Bundles `entry` into `outdir` as a deployed function is, with its (empty) routes file; returns the metafile. */
export async function bundleAsDeployed(
  entry: string,
  outdir: string,
  options: { sourceMaps?: boolean; external?: string[] } = {},
): Promise<{ file: string; metafile: Metafile }> {
  const base = deployedBuildOptions(options.sourceMaps ?? false);
  const file = join(outdir, base.format === 'esm' ? 'index.mjs' : 'index.js');
  const { metafile } = await build({
    ...base,
    entryPoints: [entry],
    outfile: file,
    external: options.external ?? [],
    metafile: true,
  });
  // lib/function.ts's afterBundling hook: the routes the stack pins (none here; functions read them at init).
  writeFileSync(join(outdir, 'rekey-routes.json'), '[]');
  return { file, metafile };
}

export type BundleKind = 'reference' | 'rotation' | 'revoker' | 'rollback';

export interface Bundle {
  name: string;
  kind: BundleKind;
  /** Which reference: the denominator of the "as AWS documents" ratio, or of the like-for-like one. */
  reference?: 'documented' | 'as-rekey';
  /** Loads the AWS SDK from node_modules, as a function using the runtime's SDK would. */
  runtimeSdk: boolean;
  dir: string;
  file: string;
  bytes: number;
  /** The same bundle built with `sourceMaps: true` (rekey's functions only). */
  mapped?: { dir: string; file: string; mapBytes: number };
}

export interface ColdStartFigures {
  bundles: Array<
    Bundle & {
      /** ms in import(), as deployed. */
      deployed: Spread;
      /** ms in import() of the `sourceMaps: true` build under NODE_OPTIONS=--enable-source-maps. */
      withMaps?: Spread;
      /** Per measured round, in order (round i of every bundle ran in the same pass), that round's samples. */
      samples: { deployed: number[][]; withMaps: number[][] };
    }
  >;
  rounds: number;
  warmup: number;
}

const RUNTIME_SDK = ['@aws-sdk/*'];

/** The reference as AWS documents it (see the top of this file), whatever rekey's own options become. */
const DOCUMENTED: BuildOptions = {
  bundle: true,
  platform: 'node',
  format: 'cjs',
  mainFields: ['module', 'main'],
  target: 'node24',
  minify: true,
  absWorkingDir: ROOT,
  logLevel: 'error',
};

async function bundleAll(dir: string): Promise<Bundle[]> {
  const rekey = [
    ...readdirSync(HANDLERS)
      .filter((f) => /^rotate-[a-z0-9-]+\.ts$/.test(f))
      .sort()
      .map((f) => ({ name: f.replace(/\.ts$/, ''), kind: 'rotation' as const })),
    { name: 'revoke', kind: 'revoker' as const },
    { name: 'rollback', kind: 'rollback' as const },
  ];
  const out: Bundle[] = [];
  const add = async (
    name: string,
    kind: BundleKind,
    entry: string,
    how: { external?: string[]; documented?: boolean; mapped?: boolean },
    reference?: Bundle['reference'],
  ) => {
    const outdir = join(dir, name.replace(/[^a-z0-9-]+/gi, '_'));
    mkdirSync(outdir, { recursive: true });
    const external = how.external ?? [];
    let file: string;
    if (how.documented) {
      file = join(outdir, 'index.js');
      await build({ ...DOCUMENTED, entryPoints: [entry], outfile: file });
    } else {
      file = (await bundleAsDeployed(entry, outdir, { external })).file;
    }
    // Resolution walks up from the bundle: node_modules beside it stands in for the runtime's copy.
    if (external.length) symlinkSync(join(ROOT, 'node_modules'), join(outdir, 'node_modules'));
    let mapped: Bundle['mapped'];
    if (how.mapped) {
      const mappedDir = join(outdir, 'with-maps');
      mkdirSync(mappedDir);
      const built = await bundleAsDeployed(entry, mappedDir, { sourceMaps: true });
      mapped = { dir: mappedDir, file: built.file, mapBytes: statSync(`${built.file}.map`).size };
    }
    out.push({
      name,
      kind,
      ...(reference ? { reference } : {}),
      runtimeSdk: external.length > 0,
      dir: outdir,
      file,
      bytes: statSync(file).size,
      ...(mapped ? { mapped } : {}),
    });
  };
  await add('reference (as AWS documents)', 'reference', REFERENCE, { documented: true }, 'documented');
  await add('reference (bundled as rekey)', 'reference', REFERENCE, {}, 'as-rekey');
  await add('reference (runtime SDK)', 'reference', REFERENCE, { external: RUNTIME_SDK });
  for (const f of rekey) await add(f.name, f.kind, join(HANDLERS, `${f.name}.ts`), { mapped: true });
  for (const name of ['rotate-sendgrid', 'revoke'])
    await add(
      `${name} (runtime SDK)`,
      name === 'revoke' ? 'revoker' : 'rotation',
      join(HANDLERS, `${name}.ts`),
      { external: RUNTIME_SDK },
    );
  return out;
}

const PROBE =
  'const t=performance.now();import(process.argv[1]).then(()=>process.stdout.write(String(performance.now()-t)))';

/** ms a fresh node process spends importing `file`. */
function importMs(name: string, dir: string, file: string, sourceMaps: boolean): number {
  const r = spawnSync(process.execPath, ['-e', PROBE, pathToFileURL(file).href], {
    cwd: dir,
    encoding: 'utf8',
    env: {
      PATH: process.env.PATH ?? '',
      // What Lambda sets: the task root (functions read their routes from it) and a Region.
      LAMBDA_TASK_ROOT: dir,
      AWS_REGION: 'us-east-1',
      // The SDK warns once at init on node < 22 (this machine's node 20; Lambda runs these on node 24, where it
      // does not): the warning is not part of what a deployed function pays.
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      NODE_OPTIONS: sourceMaps ? '--enable-source-maps' : '',
    },
  });
  const ms = Number(r.stdout);
  if (r.status !== 0 || !Number.isFinite(ms))
    throw new Error(`importing ${name} failed (exit ${r.status}): ${r.stderr.slice(0, 2000)}`);
  return ms;
}

export async function coldStart(options: { rounds: number; warmup: number }): Promise<ColdStartFigures> {
  const dir = mkdtempSync(join(tmpdir(), 'rekey-bench-cold-'));
  try {
    const bundles = await bundleAll(dir);
    const samples = new Map(
      bundles.map((b) => [b.name, { deployed: [] as number[][], withMaps: [] as number[][] }]),
    );
    const deployed = (b: Bundle) => importMs(b.name, b.dir, b.file, false);
    const withMaps = (b: Bundle) => importMs(b.name, b.mapped!.dir, b.mapped!.file, true);
    // The references are the ratios' denominators: each is measured several times a round, spread through it.
    const references = bundles.filter((b) => b.reference);
    // Warm-up: every file read once (the maps too), so no round pays the first read from disk.
    for (let round = 0; round < options.warmup; round++)
      for (const b of bundles) {
        deployed(b);
        if (b.mapped) withMaps(b);
      }
    for (let round = 0; round < options.rounds; round++) {
      for (const s of samples.values()) {
        s.deployed.push([]);
        s.withMaps.push([]);
      }
      // Interleaved, the order rotated each round and the two builds alternating which goes first, so drift
      // on the machine spreads over every bundle.
      const rotated = bundles.map((_, i) => bundles[(i + round) % bundles.length]!);
      const order = rotated.flatMap((b, i) => (i % 4 === 3 && !b.reference ? [b, ...references] : [b]));
      for (const b of order) {
        const s = samples.get(b.name)!;
        const runs = [() => s.deployed[round]!.push(deployed(b))];
        if (b.mapped) runs.push(() => s.withMaps[round]!.push(withMaps(b)));
        for (const run of round % 2 ? runs.reverse() : runs) run();
      }
    }
    return {
      bundles: bundles.map((b) => {
        const s = samples.get(b.name)!;
        return {
          ...b,
          deployed: spread(s.deployed.flat()),
          ...(b.mapped ? { withMaps: spread(s.withMaps.flat()) } : {}),
          samples: s,
        };
      }),
      rounds: options.rounds,
      warmup: options.warmup,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
