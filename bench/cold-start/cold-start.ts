/**
 * Cold start, measured only: each rotation function and the revoker bundled as lib/function.ts has
 * NodejsFunction bundle them, against a reference handler that imports only the Secrets Manager client
 * (bench/cold-start/reference-handler.ts) bundled the same way. Each figure is the time a fresh `node`
 * process spends in `import()` of the bundle (module load + init; node's own start-up is left out, it is
 * the same for every function), over several rounds, the bundles interleaved within a round.
 *
 * How lib/function.ts bundles (NodejsFunction, aws-cdk-lib/aws-lambda-nodejs/lib/bundling.js, local
 * esbuild): `esbuild --bundle <entry> --target=node24 --platform=node --format=cjs --outfile=<out>/index.js
 * --minify --sourcemap --tsconfig=<root>/tsconfig.json`, no externals (`bundleAwsSDK: true`), then
 * `rekey-routes.json` copied beside index.js. The functions run with `NODE_OPTIONS=--enable-source-maps`
 * (lib/function.ts sets it), so the as-deployed figure loads the map; the second figure runs the same
 * files without the flag, which is what a bundle without a source map costs.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';
import { type Spread, spread } from '../stats.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const HANDLERS = join(ROOT, 'lambdas', 'handlers');

export interface Bundle {
  name: string;
  /** What it is, for the table. */
  kind: 'rotation' | 'revoker' | 'reference';
  dir: string;
  file: string;
  bytes: number;
  mapBytes: number;
}

export interface ColdStartFigures {
  bundles: Array<
    Bundle & {
      /** ms in import(), as deployed (NODE_OPTIONS=--enable-source-maps). */
      withMap: Spread;
      /** ms in import(), source maps off. */
      withoutMap: Spread;
      /**
       * Per measured round, in order (round i of every bundle ran in the same pass), that round's samples —
       * one, or several for the reference — for ratios paired by round.
       */
      samples: { withMap: number[][]; withoutMap: number[][] };
    }
  >;
  rounds: number;
  warmup: number;
}

/** The NodejsFunction bundling of lib/function.ts, through esbuild's API (the same options as its CLI). */
async function bundle(entry: string, outdir: string, external: string[] = []): Promise<void> {
  await build({
    entryPoints: [entry],
    bundle: true,
    target: 'node24',
    platform: 'node',
    format: 'cjs',
    outfile: join(outdir, 'index.js'),
    minify: true,
    sourcemap: true,
    tsconfig: join(ROOT, 'tsconfig.json'),
    absWorkingDir: ROOT,
    external,
    logLevel: 'error',
  });
  // lib/function.ts's afterBundling hook: the routes the stack pins (none here; the revoker reads them at init).
  writeFileSync(join(outdir, 'rekey-routes.json'), '[]');
}

/** Every rotation function (lambdas/handlers/rotate-*.ts, as lib/function.ts's rotationProviders() finds them), the revoker, the reference. */
async function bundleAll(dir: string): Promise<Bundle[]> {
  const entries: Array<{ name: string; kind: Bundle['kind']; entry: string; external?: string[] }> = [
    {
      name: 'reference (SM client bundled)',
      kind: 'reference',
      entry: 'bench/cold-start/reference-handler.ts',
    },
    {
      name: 'reference (SDK not bundled)',
      kind: 'reference',
      entry: 'bench/cold-start/reference-handler.ts',
      // As with the runtime's SDK: resolved at run time (here from the project's node_modules via NODE_PATH,
      // in Lambda from /var/runtime/node_modules).
      external: ['@aws-sdk/*'],
    },
    ...readdirSync(HANDLERS)
      .filter((f) => /^rotate-[a-z0-9-]+\.ts$/.test(f))
      .sort()
      .map((f) => ({ name: f.replace(/\.ts$/, ''), kind: 'rotation' as const, entry: join(HANDLERS, f) })),
    { name: 'revoke', kind: 'revoker', entry: join(HANDLERS, 'revoke.ts') },
  ];
  const out: Bundle[] = [];
  for (const e of entries) {
    const outdir = join(dir, e.name.replace(/[^a-z0-9-]+/gi, '_'));
    mkdirSync(outdir, { recursive: true });
    await bundle(e.entry, outdir, e.external);
    const file = join(outdir, 'index.js');
    out.push({
      name: e.name,
      kind: e.kind,
      dir: outdir,
      file,
      bytes: statSync(file).size,
      mapBytes: statSync(`${file}.map`).size,
    });
  }
  return out;
}

const PROBE =
  'const t=performance.now();import(process.argv[1]).then(()=>process.stdout.write(String(performance.now()-t)))';

/** ms a fresh node process spends importing the bundle. */
function importMs(b: Bundle, sourceMaps: boolean): number {
  const r = spawnSync(process.execPath, ['-e', PROBE, pathToFileURL(b.file).href], {
    cwd: b.dir,
    encoding: 'utf8',
    env: {
      PATH: process.env.PATH ?? '',
      // What Lambda sets: the task root (the revoker reads its routes from it) and a Region.
      LAMBDA_TASK_ROOT: b.dir,
      AWS_REGION: 'us-east-1',
      // The SDK warns once at init on node < 22 (this machine's node 20; Lambda runs these on node 24, where it
      // does not): the warning is not part of what a deployed function pays.
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      NODE_OPTIONS: sourceMaps ? '--enable-source-maps' : '',
      ...(b.name.includes('not bundled') ? { NODE_PATH: join(ROOT, 'node_modules') } : {}),
    },
  });
  const ms = Number(r.stdout);
  if (r.status !== 0 || !Number.isFinite(ms))
    throw new Error(`importing ${b.name} failed (exit ${r.status}): ${r.stderr.slice(0, 2000)}`);
  return ms;
}

export async function coldStart(options: { rounds: number; warmup: number }): Promise<ColdStartFigures> {
  const dir = mkdtempSync(join(tmpdir(), 'rekey-bench-cold-'));
  try {
    const bundles = await bundleAll(dir);
    const samples = new Map(
      bundles.map((b) => [b.name, { withMap: [] as number[][], withoutMap: [] as number[][] }]),
    );
    // The reference is every ratio's denominator: it is measured several times a round, spread through it.
    const reference = bundles.find((b) => b.kind === 'reference')!;
    // Warm-up: every file read once (the map too), so no round pays the first read from disk.
    for (let round = 0; round < options.warmup; round++) for (const b of bundles) importMs(b, true);
    for (let round = 0; round < options.rounds; round++) {
      for (const s of samples.values()) {
        s.withMap.push([]);
        s.withoutMap.push([]);
      }
      // Interleaved, the order rotated each round and the two modes alternating which goes first, so drift
      // on the machine spreads over every bundle and mode.
      const rotated = bundles.map((_, i) => bundles[(i + round) % bundles.length]!);
      const order = rotated.flatMap((b, i) => (i % 4 === 3 && b !== reference ? [b, reference] : [b]));
      for (const b of order) {
        const modes = round % 2 ? [false, true] : [true, false];
        for (const sourceMaps of modes) {
          const ms = importMs(b, sourceMaps);
          samples.get(b.name)![sourceMaps ? 'withMap' : 'withoutMap'][round]!.push(ms);
        }
      }
    }
    return {
      bundles: bundles.map((b) => ({
        ...b,
        withMap: spread(samples.get(b.name)!.withMap.flat()),
        withoutMap: spread(samples.get(b.name)!.withoutMap.flat()),
        samples: samples.get(b.name)!,
      })),
      rounds: options.rounds,
      warmup: options.warmup,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
