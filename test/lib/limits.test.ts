import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { createRekeyApp } from '../../lib/app.js';
import { PROJECT_ROOT } from '../../lib/function.js';
import { KEY_STACK_FIXED_RESOURCES, keyStackIndex } from '../../lib/key-stack.js';
import {
  CLOUDFORMATION_RESOURCE_LIMIT,
  estimatedResources,
  suggestedKeyStacks,
  TEMPLATE_RESOURCES,
} from '../../lib/rekey-stack.js';

interface Key {
  provider: 'SendGrid' | 'Twilio';
  rotator: string;
  imported?: boolean;
  existing?: boolean;
  alert?: boolean;
}

/** An inventory file of `keys` (SendGrid or Twilio), returning its path. */
function inventoryOf(keys: Key[], header = ''): string {
  const entries = keys
    .map(
      (k, i) =>
        `  - name: k${i}\n    provider: ${k.provider}\n    vault_path: prod/k${i}\n    rotation_frequency: 30d\n    rotator_secret: ${k.rotator}\n    imported: ${k.imported ?? true}\n` +
        (k.provider === 'Twilio' ? '    options: { accountSid: AC0123456789abcdef0123456789abcdef }\n' : '') +
        (k.existing
          ? `    secret_arn: arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/k${i}-AbCdEf\n`
          : ''),
    )
    .join('');
  const schedules = keys
    .map(
      (k, i) =>
        `  - secret: prod/k${i}\n    schedule: "0 3 * * 0"\n    alert_on_failure: ${k.alert ?? true}\n`,
    )
    .join('');
  const path = join(mkdtempSync(join(tmpdir(), 'rekey-limits-')), 'rekey.yaml');
  writeFileSync(path, `${header}api_keys:\n${entries}rotation_schedules:\n${schedules}`);
  return path;
}

const synth = (path: string) =>
  createRekeyApp({ context: { inventory: path, 'aws:cdk:bundling-stacks': [] } }).stack;

describe('one stack within CloudFormation’s 500 resources', () => {
  it('the estimate is exact for the largest keys and an upper bound for the others', () => {
    const cases: Key[][] = [
      [{ provider: 'SendGrid', rotator: 'r/sg' }],
      [
        { provider: 'SendGrid', rotator: 'r/sg' },
        { provider: 'SendGrid', rotator: 'r/sg2' },
        { provider: 'Twilio', rotator: 'r/tw' },
      ],
      [
        { provider: 'SendGrid', rotator: 'r/sg' },
        { provider: 'SendGrid', rotator: 'r/sg', imported: false },
        { provider: 'SendGrid', rotator: 'r/sg', existing: true },
        { provider: 'SendGrid', rotator: 'r/sg', alert: false },
      ],
    ];
    const [largest, mixed, smaller] = cases.map((keys) => {
      const stack = synth(inventoryOf(keys));
      const actual = Object.keys(Template.fromStack(stack).toJSON().Resources).length;
      return { actual, estimate: estimatedResources(stack.keys.map((k) => k.plan)) };
    });
    assert.equal(largest!.estimate, largest!.actual, 'exact for one largest key');
    assert.equal(mixed!.estimate, mixed!.actual, 'exact for largest keys over two providers and rotators');
    assert.ok(smaller!.estimate >= smaller!.actual, `an upper bound: ${JSON.stringify(smaller)}`);
  });

  it('an inventory that would exceed 500 resources is refused before the stack is built, with the limit and the fix', () => {
    const keys = Array.from({ length: 60 }, (): Key => ({ provider: 'SendGrid', rotator: 'r/sg' }));
    const started = Date.now();
    assert.throws(
      () => synth(inventoryOf(keys)),
      (error: Error) =>
        error.message.includes(`one stack holds ${CLOUDFORMATION_RESOURCE_LIMIT}`) &&
        /the inventory's 60 keys need up to 536 CloudFormation resources.*at most 55 of these keys fit beside the machinery\. Spread the keys over stacks of their own: set key_stacks: 2 in the inventory \(up to 62 keys each; choose it once, with room to grow — changing it moves keys between stacks\)\./.test(
          error.message,
        ),
    );
    assert.ok(Date.now() - started < 10_000, 'refused in seconds');
    // The largest inventory that fits still synthesizes within the limit.
    const fits = synth(inventoryOf(keys.slice(0, 55)));
    assert.ok(
      Object.keys(Template.fromStack(fits).toJSON().Resources).length <= CLOUDFORMATION_RESOURCE_LIMIT,
    );
  });
});

describe('a thousand keys over key stacks', () => {
  const resourcesOf = (stack: Stack) =>
    Template.fromStack(stack).toJSON().Resources as Record<string, unknown>;
  const many = (n: number) =>
    Array.from(
      { length: n },
      (_, i): Key => ({ provider: i % 2 ? 'Twilio' : 'SendGrid', rotator: i % 2 ? 'r/tw' : 'r/sg' }),
    );

  it('1,000 keys synthesize: every stack within 500 resources, the machinery the same size as for 60 keys, six fleet alarms', () => {
    const big = synth(inventoryOf(many(1000), `key_stacks: ${suggestedKeyStacks(1000)}\n`));
    assert.equal(big.keyStacks.length, suggestedKeyStacks(1000));
    assert.equal(big.keys.length, 1000);
    const perStack = big.keyStacks.map((stack) => Object.keys(resourcesOf(stack)).length);
    for (const count of perStack) assert.ok(count <= CLOUDFORMATION_RESOURCE_LIMIT, `${count} resources`);
    const keyResources = big.keyStacks.flatMap((stack) =>
      Object.values(resourcesOf(stack)).filter((r) => (r as { Type: string }).Type !== 'AWS::CDK::Metadata'),
    );
    assert.equal(
      keyResources.length,
      1000 * TEMPLATE_RESOURCES.perKey,
      'eight resources per key, in the key stacks',
    );
    assert.ok(
      Math.max(...perStack) + KEY_STACK_FIXED_RESOURCES <= CLOUDFORMATION_RESOURCE_LIMIT,
      'room for CDK metadata too',
    );
    const small = synth(inventoryOf(many(60), 'key_stacks: 2\n'));
    const machinery = Object.keys(resourcesOf(big)).length;
    assert.equal(machinery, Object.keys(resourcesOf(small)).length, 'the machinery does not grow with keys');
    assert.equal(big.fleetAlarms.alarms.length, 6, 'one alarm per rule for keys at the same settings');
    // The machinery never waits for (or references) a key stack: the key stacks depend on it.
    assert.deepEqual(big.dependencies, []);
    for (const stack of big.keyStacks) assert.deepEqual(stack.dependencies, [big]);
    assert.doesNotMatch(JSON.stringify(Template.fromStack(big).toJSON()), /Fn::ImportValue/);
  });

  it('a key stays in its stack when other keys come and go', () => {
    const stacks = 4;
    const before = many(120).map((_, i) => keyStackIndex(`k${i}`, stacks));
    const fewer = many(80).map((_, i) => keyStackIndex(`k${i}`, stacks));
    assert.deepEqual(fewer, before.slice(0, 80));
    const spread = new Set(before);
    assert.equal(spread.size, stacks, 'the hash uses every stack');
  });

  it('refuses key_stacks that leave a stack over its share, naming a count that fits', () => {
    assert.throws(
      () => synth(inventoryOf(many(200), 'key_stacks: 2\n')),
      /key_stacks: 2 puts up to \d+ of the inventory's 200 keys in one stack, and a stack holds 62 .*Set key_stacks: \d+/,
    );
    assert.throws(() => synth(inventoryOf(many(3), 'key_stacks: 0\n')), /key_stacks/);
  });
});

describe('`cdk synth` of an invalid inventory', () => {
  /** The CDK app as `cdk synth` runs it (cdk.json's app), with the context the CLI passes. */
  const runApp = (inventory: string) =>
    spawnSync(process.execPath, ['--import', 'tsx', join(PROJECT_ROOT, 'bin/app.ts')], {
      cwd: PROJECT_ROOT,
      encoding: 'utf8',
      env: {
        ...process.env,
        CDK_CONTEXT_JSON: JSON.stringify({ inventory, 'aws:cdk:bundling-stacks': [] }),
        CDK_OUTDIR: mkdtempSync(join(tmpdir(), 'rekey-synth-')),
      },
    });

  it('prints every problem of the inventory at once and exits 1, without a stack trace', () => {
    const path = join(mkdtempSync(join(tmpdir(), 'rekey-bad-')), 'rekey.yaml');
    writeFileSync(path, 'api_keys:\n  - name: x\n    provider: SendGrid\n');
    const run = runApp(path);
    assert.equal(run.status, 1, run.stderr);
    assert.match(
      run.stderr,
      /^rekey: inventory \S+ is invalid:\n {2}- api_keys\[0\] \(x\): field "vault_path" is missing/,
    );
    assert.match(run.stderr, /field "rotation_frequency" is missing/);
    assert.doesNotMatch(run.stderr, /\n\s+at \S+ \(/, 'no stack trace');
  });

  it('names a YAML syntax error’s line, column and what is wrong', () => {
    const path = join(mkdtempSync(join(tmpdir(), 'rekey-bad-')), 'rekey.yaml');
    writeFileSync(path, 'api_keys:\n  - name: x\n   provider: [\n');
    const run = runApp(path);
    assert.equal(run.status, 1, run.stderr);
    assert.match(
      run.stderr,
      /YAML syntax error at line 3, column 1: Sequence item without - indicator \(MISSING_CHAR\)/,
    );
    assert.doesNotMatch(run.stderr, /\n\s+at \S+ \(/, 'no stack trace');
  });

  it('refuses an inventory too large for one stack the same way', () => {
    const keys = Array.from({ length: 60 }, (): Key => ({ provider: 'SendGrid', rotator: 'r/sg' }));
    const run = runApp(inventoryOf(keys));
    assert.equal(run.status, 1, run.stderr);
    assert.match(run.stderr, /^rekey: the inventory's 60 keys need up to 536 CloudFormation resources/);
  });
});
