import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, beforeEach, describe, it } from 'node:test';
import { GetSecretValueCommand, TagResourceCommand } from '@aws-sdk/client-secrets-manager';
import { STSClient } from '@aws-sdk/client-sts';
import { rehearse } from '../../bin/commands/rehearse.js';
import type { CommandIO } from '../../bin/commands/types.js';
import { providerNamed } from '../../lambdas/providers/index.js';
import { TAGS } from '../../lambdas/tags.js';
import { CapturedLogs } from '../../local/captured-logs.js';
import {
  runStagingRehearsal,
  type StagingOptions,
  type StagingReport,
} from '../../local/rehearsal/staging.js';
import { SendGridRotationEnv } from '../support/managed-key-env.js';
import { testRoute } from '../support/rotation-env-base.js';

const ACCOUNT = '123456789012';

function captureIO(isTTY = false) {
  const out: string[] = [];
  const err: string[] = [];
  const io: CommandIO = {
    out: (t) => out.push(t),
    err: (t) => err.push(t),
    stdin: async () => '',
    isTTY,
  };
  return { io, out, err };
}

/**
 * A deployed rekey on loopback: a managed SendGrid key with its rotation function and the revoker as
 * Lambdas, a 2-minute grace tag, and Scheduler firing on a clock that runs 80× faster than real time.
 */
async function deployedWorld() {
  const env = await new SendGridRotationEnv().start('staging/sendgrid/api-key');
  // Deployed with grace_period 2m: the route and the tag the stack sets say so.
  env.redeploy(testRoute(env.secretName, 'sendgrid', { gracePeriod: '2m' }));
  await env.sm.send(
    new TagResourceCommand({ SecretId: env.secretArn, Tags: [{ Key: TAGS.gracePeriod, Value: '2m' }] }),
  );
  const ticker = setInterval(() => {
    env.clock.advance(2000);
    void env.aws.runDue();
  }, 25);
  return {
    env,
    async stop() {
      clearInterval(ticker);
      await env.stop();
    },
  };
}

async function currentVersion(env: SendGridRotationEnv): Promise<string> {
  const out = await env.sm.send(
    new GetSecretValueCommand({ SecretId: env.secretArn, VersionStage: 'AWSCURRENT' }),
  );
  return out.VersionId!;
}

function fastOptions(env: SendGridRotationEnv, extra: Partial<StagingOptions> = {}): StagingOptions {
  return {
    secrets: [env.secretName],
    instances: 2,
    rps: 10,
    confirmedAccountId: ACCOUNT,
    endpoints: { sendgrid: env.sandbox.url },
    monitorIntervalMs: 50,
    pollIntervalMs: 50,
    rotationTimeoutSeconds: 20,
    client: { ttlMs: 300, jitterMs: 100, retryDelayMs: 50 },
    http: env.http,
    ...extra,
  };
}

describe('rekey rehearse --target staging', () => {
  let world: Awaited<ReturnType<typeof deployedWorld>>;
  const sts = () => new STSClient({});

  beforeEach(async () => {
    world = await deployedWorld();
  });
  afterEach(async () => {
    await world.stop();
  });
  after(() => {
    delete process.env.AWS_ENDPOINT_URL;
  });

  it('refuses without confirmation when not on a terminal, having only read', async () => {
    const { env } = world;
    const before = await currentVersion(env);
    const counts = new Map(env.aws.requestCounts);
    // Attaching rotation ran Secrets Manager's configuration test (testSecret) once; nothing may run after.
    const invokedBefore = env.aws.lambdas.history().length;
    const { io, err } = captureIO(false);
    const code = await rehearse.run(
      ['--target', 'staging', '--secrets', env.secretName, '--inventory', env.writeInventory()],
      io,
    );
    assert.equal(code, 2);
    const text = err.join('\n');
    assert.match(text, /REAL keys at REAL providers/);
    assert.match(text, new RegExp(`account\\s+${ACCOUNT}`));
    assert.match(text, /caller\s+arn:aws:iam::123456789012:user\/rekey-loopback/);
    const current = await env.read('AWSCURRENT');
    assert.ok(text.includes(current.keyId), 'the banner names the current key id');
    assert.ok(text.includes(env.secretName));
    assert.match(text, /--confirm 123456789012/);
    assert.equal(await currentVersion(env), before, 'AWSCURRENT did not move');
    const called = [...env.aws.requestCounts]
      .filter(([op, n]) => n !== (counts.get(op) ?? 0))
      .map(([op]) => op);
    for (const op of called)
      assert.ok(
        ['sts.GetCallerIdentity', 'secretsmanager.DescribeSecret', 'secretsmanager.GetSecretValue'].includes(
          op,
        ),
        `unexpected call ${op}`,
      );
    assert.ok(called.includes('sts.GetCallerIdentity'), 'resolved the account with GetCallerIdentity');
    assert.equal(env.aws.lambdas.history().length, invokedBefore, 'no rotation function ran');
    assert.deepEqual(env.leakedLines(), []);
    assert.ok(![...env.secretValues, ...env.sandbox.issuedSecrets()].some((v) => text.includes(v)));
  });

  it('refuses a --confirm that is not the caller account, naming both ids', async () => {
    const { env } = world;
    const before = await currentVersion(env);
    const { io, err } = captureIO(false);
    const code = await rehearse.run(
      [
        '--target',
        'staging',
        '--secrets',
        env.secretName,
        '--inventory',
        env.writeInventory(),
        '--confirm',
        '999999999999',
      ],
      io,
    );
    assert.equal(code, 2);
    const last = err.at(-1)!;
    assert.match(last, /999999999999/);
    assert.match(last, /123456789012/);
    assert.equal(await currentVersion(env), before);
    assert.equal(env.aws.count('secretsmanager.RotateSecret'), 1, 'only the deploy attached rotation');
  });

  it('rejects staging without --secrets and unknown targets', async () => {
    const { io, err } = captureIO(false);
    assert.equal(await rehearse.run(['--target', 'staging'], io), 2);
    assert.match(err.join('\n'), /needs --secrets/);
    assert.equal(await rehearse.run(['--target=prod'], io), 2);
    assert.match(err.at(-1)!, /--target must be local or staging/);
  });

  it('with the right confirmation, rotates, waits for the revoker and passes', async () => {
    const { env } = world;
    const original = await env.read('AWSCURRENT');
    const logs = new CapturedLogs();
    const report = await runStagingRehearsal(fastOptions(env), {
      secretsManager: env.sm,
      sts: sts(),
      logs,
      providerNamed: (name) => providerNamed(name),
      routes: env.routes,
    });
    assert.equal(report.verdict.ok, true, report.verdict.breaches.join('\n'));
    assert.deepEqual(
      report.scenarios.map((s) => [s.name, s.ok, s.failed]),
      [
        ['rotation', true, 0],
        ['emergency-rotation', true, 0],
      ],
    );
    assert.ok(report.scenarios.every((s) => s.calls > 0));
    // Whether old-key calls fall inside a scenario's window is timing (an emergency rotation with no
    // grace can finish between two calls), so the evidence is the runner's own check of each new key.
    for (const scenario of report.scenarios)
      assert.ok(
        scenario.checks.some((c) => c.name.endsWith('the fleet picked up the new key') && c.ok),
        `${scenario.name}: the fleet moved to the new key`,
      );
    assert.equal(report.target.accountId, ACCOUNT);
    const current = await env.read('AWSCURRENT');
    assert.notEqual(current.keyId, original.keyId);
    assert.equal(env.sandbox.accepts(original.key), false, 'the original key is revoked');
    assert.equal(env.sandbox.accepts(current.key), true);
    assert.equal(env.appKeys().length, 1, 'one key left at the provider: the current one');
    const emergency = report.scenarios[1]!;
    assert.ok(emergency.timeToRevokeMs !== undefined);
    assert.ok(emergency.invariants.some((i) => i.invariant.startsWith('4') && i.ok));
    // Invariant 5: nothing the provider issued, in the runner's lines, the functions' lines or the report.
    const secrets = [...env.sandbox.issuedSecrets(), ...env.secretValues];
    assert.ok(logs.lines.length > 0);
    assert.deepEqual(logs.leaks(secrets), []);
    assert.deepEqual(env.leakedLines(), []);
    const json = JSON.stringify(report);
    assert.ok(!secrets.some((s) => json.includes(s)));
  });

  it('runs from the CLI with --confirm and writes the report', async () => {
    const { env } = world;
    const dir = await mkdtemp(join(tmpdir(), 'rekey-staging-'));
    process.env.REKEY_PROVIDER_ENDPOINT_SENDGRID = env.sandbox.url;
    try {
      const { io, out, err } = captureIO(false);
      const code = await rehearse.run(
        [
          '--target=staging',
          '--secrets',
          env.secretName,
          '--inventory',
          env.writeInventory(),
          '--confirm',
          ACCOUNT,
          '--scenario',
          'emergency-rotation',
          '--report',
          join(dir, 'staging'),
        ],
        io,
      );
      assert.equal(code, 0, err.join('\n'));
      assert.match(out.join('\n'), /VERDICT: PASS/);
      const report = JSON.parse(await readFile(join(dir, 'staging.json'), 'utf8')) as StagingReport;
      assert.equal(report.target.accountId, ACCOUNT);
      assert.deepEqual(report.options.scenarios, ['emergency-rotation']);
      const secrets = [...env.sandbox.issuedSecrets(), ...env.secretValues];
      const text = [...out, ...err, JSON.stringify(report)].join('\n');
      assert.ok(!secrets.some((s) => text.includes(s)));
    } finally {
      delete process.env.REKEY_PROVIDER_ENDPOINT_SENDGRID;
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('fails, naming the breach, when the deployed revoker revokes the current key', async () => {
    const { env } = world;
    env.aws.lambdas.register('rekey-revoker', async () => {
      const current = await env.read('AWSCURRENT');
      env.sandbox.deleteKey(current.keyId);
      return { outcome: 'revoked' };
    });
    const report = await runStagingRehearsal(
      fastOptions(env, { scenarios: ['rotation'], graceTimeoutSeconds: 6 }),
      {
        secretsManager: env.sm,
        sts: sts(),
        providerNamed: (name) => providerNamed(name),
        routes: env.routes,
      },
    );
    assert.equal(report.verdict.ok, false);
    const breaches = report.verdict.breaches.join('\n');
    assert.match(
      breaches,
      /rotation: invariant 2: an AWSCURRENT key is never revoked — staging\/sendgrid\/api-key/,
    );
    assert.match(
      breaches,
      /old key rejected by the provider after the grace period — old key \S+ still accepted/,
    );
    assert.equal(report.scenarios[0]!.ok, false);
  });
});
