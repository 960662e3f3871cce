import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { bundleAsDeployed } from '../../bench/cold-start/cold-start.js';
import { rotationProviders } from '../../lib/function.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const PROVIDERS_DIR = join(ROOT, 'lambdas', 'providers');
/** What every rotation function acts with: Secrets Manager, its key's role (STS), alerts, the revoker's schedules, the lease. */
const ROTATION_CLIENTS = [
  'client-dynamodb',
  'client-scheduler',
  'client-secrets-manager',
  'client-sns',
  'client-sts',
];
/** Adapter files: every provider module but the registry and what adapters share. */
const ADAPTERS = readdirSync(PROVIDERS_DIR).filter(
  (f) => !['index.ts', 'types.ts', 'http.ts', 'aws-api.ts'].includes(f),
);

interface Contents {
  adapters: string[];
  registry: boolean;
  clients: string[];
  zodClassic: boolean;
}

/** What the deployed bundle of `lambdas/handlers/<handler>.ts` holds, from esbuild's metafile. */
async function contentsOf(handler: string): Promise<Contents> {
  const outdir = mkdtempSync(join(tmpdir(), 'rekey-bundle-'));
  const { metafile } = await bundleAsDeployed(join(ROOT, 'lambdas', 'handlers', `${handler}.ts`), outdir);
  const inputs = Object.keys(Object.values(metafile.outputs)[0]!.inputs);
  return {
    adapters: ADAPTERS.filter((f) => inputs.includes(`lambdas/providers/${f}`)).sort(),
    registry: inputs.includes('lambdas/providers/index.ts'),
    clients: [
      ...new Set(inputs.flatMap((i) => /node_modules\/@aws-sdk\/(client-[a-z0-9-]+)\//.exec(i)?.[1] ?? [])),
    ].sort(),
    zodClassic: inputs.some((i) => i.includes('node_modules/zod/v4/classic/')),
  };
}

/** The adapter file a rotation handler names (`import … from '../providers/<file>.js'`). */
function adapterOf(provider: string): string {
  const source = readFileSync(join(ROOT, 'lambdas', 'handlers', `rotate-${provider}.ts`), 'utf8');
  return `${/from '\.\.\/providers\/([a-z0-9-]+)\.js'/.exec(source)![1]}.ts`;
}

describe('what each function bundles', () => {
  const rotation = new Map<string, Contents>();
  let revoker: Contents;
  before(async () => {
    for (const provider of rotationProviders())
      rotation.set(provider, await contentsOf(`rotate-${provider}`));
    revoker = await contentsOf('revoke');
  });

  it('a rotation function bundles its own adapter only, never the registry', () => {
    for (const [provider, contents] of rotation) {
      assert.deepEqual(contents.adapters, [adapterOf(provider)], `rotate-${provider}`);
      assert.equal(contents.registry, false, `rotate-${provider} bundles lambdas/providers/index.ts`);
    }
  });

  it('a rotation function bundles the AWS clients of its own provider only', () => {
    const own: Record<string, string[]> = {
      'aws-iam': ['client-iam'],
      'api-gateway': ['client-api-gateway'],
    };
    for (const [provider, contents] of rotation)
      assert.deepEqual(
        contents.clients,
        [...ROTATION_CLIENTS, ...(own[provider] ?? [])].sort(),
        `rotate-${provider}`,
      );
  });

  it('the revoker, which serves every provider, bundles the registry and every adapter', () => {
    assert.equal(revoker.registry, true);
    assert.deepEqual(revoker.adapters, [...ADAPTERS].sort());
  });

  it("rotation functions and the revoker validate with zod/mini only: classic zod's build is not in them", () => {
    for (const [provider, contents] of rotation)
      assert.equal(contents.zodClassic, false, `rotate-${provider}`);
    assert.equal(revoker.zodClassic, false, 'revoke');
  });
});
