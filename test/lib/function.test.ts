import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { RekeyFunction, type RekeyFunctionProps } from '../../lib/function.js';

/** Synthesizes one function with its bundling (the local esbuild, as `cdk synth` runs it). */
function synthesize(props: Partial<RekeyFunctionProps> = {}, context: Record<string, unknown> = {}) {
  const outdir = mkdtempSync(join(tmpdir(), 'rekey-function-'));
  const app = new App({ outdir, context });
  const stack = new Stack(app, 'Functions');
  new RekeyFunction(stack, 'Rotate', { handler: 'rotate-sendgrid', description: 'rotates', ...props });
  const assembly = app.synth();
  const [fn] = Object.values(Template.fromStack(stack).findResources('AWS::Lambda::Function'));
  const assetDir = join(
    assembly.directory,
    `asset.${String(fn!.Properties.Code.S3Key).replace(/\.zip$/, '')}`,
  );
  return {
    files: readdirSync(assetDir).sort(),
    assetDir,
    variables: fn!.Properties.Environment?.Variables ?? {},
  };
}

describe('RekeyFunction bundling', () => {
  it('ships no source map and sets no --enable-source-maps unless asked', () => {
    // Prepare // Act
    const { files, variables } = synthesize();

    // Assess
    assert.deepEqual(files, ['index.mjs', 'rekey-routes.json']);
    assert.equal(variables.NODE_OPTIONS, undefined);
  });

  it('ships the map and runs with --enable-source-maps when `sourceMaps` is true', () => {
    // Prepare // Act
    const { files, variables } = synthesize({ sourceMaps: true });

    // Assess
    assert.deepEqual(files, ['index.mjs', 'index.mjs.map', 'rekey-routes.json']);
    assert.equal(variables.NODE_OPTIONS, '--enable-source-maps');
  });

  it('turns source maps on for every function with `cdk deploy -c sourceMaps=true`', () => {
    // Prepare // Act: the CLI passes context values as strings
    const { files, variables } = synthesize({}, { sourceMaps: 'true' });

    // Assess
    assert.ok(files.includes('index.mjs.map'));
    assert.equal(variables.NODE_OPTIONS, '--enable-source-maps');
  });

  it('lets the prop win over the context flag', () => {
    const { files } = synthesize({ sourceMaps: false }, { sourceMaps: 'true' });
    assert.ok(!files.includes('index.mjs.map'));
  });

  it('throws naming the context key when `sourceMaps` is neither true nor false', () => {
    assert.throws(
      () => synthesize({}, { sourceMaps: 'yes' }),
      /context `sourceMaps` must be true or false, got "yes"/,
    );
  });

  it('bundles a handler that loads on its own, as Lambda imports it (nothing beside it, no NODE_PATH)', () => {
    // Prepare
    const { assetDir } = synthesize();
    const probe = `import(${JSON.stringify(pathToFileURL(join(assetDir, 'index.mjs')).href)}).then((m) => { if (typeof m.handler !== 'function') process.exit(2); })`;

    // Act
    const run = spawnSync(process.execPath, ['-e', probe], {
      cwd: assetDir,
      encoding: 'utf8',
      env: {
        PATH: process.env.PATH ?? '',
        LAMBDA_TASK_ROOT: assetDir,
        AWS_REGION: 'eu-west-1',
        AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      },
    });

    // Assess
    assert.equal(run.status, 0, run.stderr);
    assert.ok(!existsSync(join(assetDir, 'node_modules')), 'the SDK is bundled, not beside the handler');
  });
});
