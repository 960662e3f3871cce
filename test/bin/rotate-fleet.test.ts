import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  GetSecretValueCommand,
  SecretsManagerClient,
  TagResourceCommand,
} from '@aws-sdk/client-secrets-manager';
import { stringify } from 'yaml';
import { runFleet, selectKeys } from '../../bin/commands/fleet.js';
import { Journal, type JournalDocument } from '../../bin/commands/journal.js';
import { Pacer } from '../../bin/commands/pacer.js';
import { rotate } from '../../bin/commands/rotate.js';
import { cliRuntime, destroy } from '../../bin/commands/runtime.js';
import type { CommandIO } from '../../bin/commands/types.js';
import { PROVIDERS } from '../../lambdas/providers/index.js';
import { parseManagedKey } from '../../lambdas/secret-format.js';
import { loadInventory } from '../../lib/inventory.js';
import { LOOPBACK_USER } from '../../local/aws/server.js';
import { Playground } from '../../local/playground.js';
import { gatewayEntries, sendgridEntries } from '../support/fleet-inventory.js';

/**
 * `rekey rotate --all | --tag | --provider` against the playground (the loopback endpoint with Secrets
 * Manager's quotas, the sandboxes, and rekey deployed as `cdk deploy` would): 60 keys on two providers, plus
 * an entry not yet imported and a Stripe entry, which a fleet run skips.
 */
const GATEWAY_KEYS = 40;
const SENDGRID_KEYS = 20;
/** Faster than the defaults, to keep the file short, and still under the write quota (10 × 3 < 50 per s). */
const TEST_PACE = ['--rate', '10', '--provider-rate', 'http=10', '--provider-rate', 'sendgrid=10'];

function captureIO(options: { isTTY?: boolean; onOut?: (line: string) => void } = {}) {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const io: CommandIO = {
    out: (t) => {
      stdout.push(t);
      options.onOut?.(t);
    },
    err: (t) => stderr.push(t),
    stdin: async () => '',
    isTTY: options.isTTY ?? false,
  };
  const lines = () => stdout.join('\n').split('\n');
  return { io, stdout, stderr, lines, text: () => `${stdout.join('\n')}\n${stderr.join('\n')}` };
}

function inventoryYaml(): string {
  const gateway = gatewayEntries(GATEWAY_KEYS);
  const sendgrid = sendgridEntries(SENDGRID_KEYS);
  const skipped = [
    {
      name: 'sendgrid-new',
      provider: 'SendGrid',
      vault_path: 'prod/sendgrid/new-key',
      rotation_frequency: '30d',
      rotator_secret: 'rekey/rotator/sendgrid',
      imported: false,
    },
    {
      name: 'stripe-api-key',
      provider: 'Stripe',
      vault_path: 'prod/stripe/api-key',
      rotation_frequency: '30d',
      rotator_secret: 'rekey/rotator/stripe',
      imported: true,
    },
  ];
  return stringify({ api_keys: [...gateway, ...sendgrid, ...skipped] });
}

describe('rekey rotate --all | --tag | --provider (fleet rotation) against the playground', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rekey-fleet-'));
  const inventory = join(dir, 'rekey.yaml');
  const saved = { ...process.env };
  let playground: Playground;
  let sm: SecretsManagerClient;
  let journals = 0;
  const journalPath = () => join(dir, `journal-${++journals}.json`);

  before(async () => {
    writeFileSync(inventory, inventoryYaml());
    playground = new Playground({ inventoryPath: inventory, dir: join(dir, 'local'), port: 0 });
    const deployed = await playground.start();
    assert.deepEqual(deployed.problems, []);
    Object.assign(process.env, playground.environment());
    sm = new SecretsManagerClient({ credentials: LOOPBACK_USER });
  });
  after(async () => {
    sm.destroy();
    await playground.stop();
    process.env = { ...saved };
  });

  /** Successful rotations per secret since `from` (an index into the endpoint's rotation outcomes). */
  const rotationsSince = async (from: number) => {
    await playground.aws.secretsManager.settled();
    const counts = new Map<string, number>();
    for (const o of playground.aws.secretsManager.outcomes.slice(from)) {
      assert.ok(o.ok, `${o.secretName}: ${o.error}`);
      counts.set(o.secretName, (counts.get(o.secretName) ?? 0) + 1);
    }
    return counts;
  };
  const mark = () => playground.aws.secretsManager.outcomes.length;
  const quotaThrottles = () => [...playground.aws.quotas.throttled.values()].reduce((a, b) => a + b, 0);
  const gatewaySecrets = Array.from({ length: GATEWAY_KEYS }, (_, i) => `prod/gateway/key-${i + 1}`);
  const sendgridSecrets = Array.from({ length: SENDGRID_KEYS }, (_, i) => `prod/sendgrid/key-${i + 1}`);
  const onceEach = (secrets: string[]) => new Map(secrets.map((s) => [s, 1]));
  const sorted = (m: Map<string, number>) => new Map([...m].sort(([a], [b]) => a.localeCompare(b)));
  const issued = () => [...playground.sandboxes.values()].flatMap((s) => s.sandbox.issuedSecrets());
  const assertNoKeyValue = (text: string) => {
    for (const value of issued()) assert.ok(!text.includes(value), 'a key value reached the output');
  };

  it('--dry-run prints the keys in start order, the pace and an estimate, and changes nothing', async () => {
    // Prepare
    const writes = () =>
      [...playground.aws.requestCounts]
        .filter(([op]) =>
          /^secretsmanager\.(RotateSecret|PutSecretValue|UpdateSecretVersionStage|TagResource)$/.test(op),
        )
        .reduce((n, [, c]) => n + c, 0);
    const before = writes();
    const journal = journalPath();
    const out = captureIO();
    // Act
    const code = await rotate.run(
      ['--all', '--inventory', inventory, '--dry-run', '--journal', journal],
      out.io,
    );
    // Assess
    assert.equal(code, 0, out.stderr.join('\n'));
    const text = out.stdout.join('\n');
    assert.match(text, /dry run: --all selects 62 key\(s\) of .*; 60 would be rotated, in this order:/);
    // Round-robin over the providers: a gateway key, a SendGrid key, a gateway key…
    assert.match(text, /\n1 +gateway-1 +http .*\n2 +sendgrid-1 +sendgrid .*\n3 +gateway-2 +http /);
    assert.match(text, /sendgrid-new .*skipped: imported: false/);
    assert.match(
      text,
      /stripe-api-key .*skipped: a person makes Stripe keys: rekey rotate stripe-api-key --provide-key/,
    );
    assert.match(
      text,
      /pace: fleet: 5 starts\/s, 10 at once; http: 2 starts\/s, 5 at once; sendgrid: 1 starts\/s, 4 at once/,
    );
    // 40 gateway keys at 2/s bound the run: 20 s, plus one rotation.
    assert.match(text, /estimated duration: about 22s/);
    assert.equal(writes(), before, 'nothing was written to Secrets Manager');
    assert.equal(existsSync(journal), false, 'no journal');

    const json = captureIO();
    assert.equal(
      await rotate.run(['--provider', 'SendGrid', '--inventory', inventory, '--dry-run', '--json'], json.io),
      0,
    );
    const plan = JSON.parse(json.stdout.join('\n'));
    assert.equal(plan.dryRun, true);
    assert.deepEqual(plan.selection, ['--provider SendGrid'], 'as written');
    assert.equal(plan.keys.length, SENDGRID_KEYS + 1);
    assert.deepEqual(plan.keys[0], {
      order: 1,
      name: 'sendgrid-1',
      secret: 'prod/sendgrid/key-1',
      provider: 'sendgrid',
    });
    assert.match(plan.keys.at(-1).skipped, /imported: false/);
    assert.deepEqual(plan.pace.providers.sendgrid, { ratePerSecond: 1, concurrency: 4 });
    assert.equal(plan.estimatedSeconds, 22);
  });

  it('--all rotates every key exactly once under the quotas, a line per key and a summary table', async () => {
    // Prepare
    const from = mark();
    const throttledBefore = quotaThrottles();
    const journal = journalPath();
    const out = captureIO();
    // Act
    const code = await rotate.run(
      ['--all', '--inventory', inventory, '--journal', journal, ...TEST_PACE],
      out.io,
    );
    // Assess
    assert.equal(code, 0, out.text());
    assert.deepEqual(
      sorted(await rotationsSince(from)),
      sorted(onceEach([...gatewaySecrets, ...sendgridSecrets])),
    );
    assert.equal(quotaThrottles(), throttledBefore, 'the endpoint throttled nothing the fleet sent');
    const text = out.text();
    assert.doesNotMatch(text, /Throttling|Rate exceeded/);
    assert.match(
      out.stdout[0]!,
      /^rotating 60 key\(s\) \(--all\) of .*: up to 10 starts\/s, 10 at once \(http 10\/s, 5 at once; sendgrid 10\/s, 4 at once\)/,
    );
    assert.match(text, /skipped sendgrid-new: imported: false/);
    assert.equal(
      out.stdout.filter((l) =>
        /^\[ ?\d+\/60\] \S+ +(http|sendgrid) +rotated +version [\w-]+ +\d+\.\ds$/.test(l),
      ).length,
      60,
    );
    assert.match(text, /\nkey +provider +outcome +version +seconds\n/);
    assert.match(text, /\ngateway-7 +http +rotated +[0-9a-f-]{36} +\d+\.\d\n/);
    assert.match(text, /\nstripe-api-key +stripe +skipped +— +—\n/);
    assert.match(
      out.lines().at(-1)!,
      /^62 key\(s\): 60 rotated, 0 failed, 2 skipped in \d+s; never throttled$/,
    );
    const written = JSON.parse(readFileSync(journal, 'utf8')) as JournalDocument;
    assert.equal(written.keys.filter((k) => k.status.state === 'done').length, 60);
    assertNoKeyValue(text);
  });

  it('throttling meets the fleet and is absorbed: retried, slowed down, counted, never shown as an error', async () => {
    // Prepare: a neighbour in the account spends the RotateSecret quota for a while.
    const from = mark();
    playground.aws.injectFault({ operation: 'secretsmanager.RotateSecret', kind: 'throttle', times: 12 });
    const out = captureIO();
    // Act
    const code = await rotate.run(
      [
        '--provider',
        'sendgrid',
        '--inventory',
        inventory,
        '--journal',
        journalPath(),
        '--json',
        ...TEST_PACE,
      ],
      out.io,
    );
    // Assess
    playground.aws.clearFaults();
    assert.equal(code, 0, out.text());
    assert.deepEqual(sorted(await rotationsSince(from)), sorted(onceEach(sendgridSecrets)));
    assert.doesNotMatch(out.text(), /ThrottlingException|Rate exceeded/);
    // One JSON document and nothing else on stdout: no progress lines.
    const report = JSON.parse(out.stdout.join('\n'));
    assert.ok(report.throttling.absorbed >= 12, `absorbed ${report.throttling.absorbed}`);
    assert.ok(report.throttling.lowestStartRatePerSecond < 10, 'the start rate was lowered');
    assert.deepEqual(report.totals, {
      keys: 21,
      rotated: 20,
      failed: 0,
      skipped: 1,
      notStarted: 0,
      running: 0,
    });
    assert.equal(report.interrupted, false);
    assert.deepEqual(Object.keys(report.keys[0]).sort(), [
      'name',
      'outcome',
      'provider',
      'seconds',
      'secret',
      'versionId',
    ]);
    assert.equal(report.keys[0].provider, 'sendgrid');
    assert.equal(report.keys[0].outcome, 'rotated');
  });

  it('Ctrl-C stops starting rotations and says how to resume (exit 130); the resume rotates each key once', async () => {
    // Prepare
    const from = mark();
    const journal = journalPath();
    let settled = 0;
    const out = captureIO({
      onOut: (line) => {
        if (/^\[ ?\d+\/\d+\]/.test(line) && ++settled === 6) process.emit('SIGINT');
      },
    });
    // Act: slow enough that most keys are still waiting when Ctrl-C comes.
    const code = await rotate.run(
      [
        '--provider',
        'http',
        '--inventory',
        inventory,
        '--journal',
        journal,
        '--rate',
        '4',
        '--provider-rate',
        'http=4',
      ],
      out.io,
    );
    // Assess
    assert.equal(code, 130, out.text());
    assert.match(
      out.stderr.join('\n'),
      new RegExp(`interrupted — no new rotation was started.*resume with: rekey rotate --resume ${journal}`),
    );
    const stopped = JSON.parse(readFileSync(journal, 'utf8')) as JournalDocument;
    const states = stopped.keys.map((k) => k.status.state);
    assert.ok(states.filter((s) => s === 'done').length >= 6);
    assert.ok(
      states.filter((s) => s === 'planned').length >= 20,
      `most keys never started: ${states.join(' ')}`,
    );
    assert.equal(
      states.filter((s) => s === 'starting').length,
      0,
      'every start that was under way was journaled',
    );
    assert.equal(process.listenerCount('SIGINT'), 0, 'Ctrl-C is Node’s own again');

    const resumed = captureIO();
    const again = await rotate.run(['--resume', journal, ...TEST_PACE], resumed.io);
    assert.equal(again, 0, resumed.text());
    assert.match(resumed.stdout[0]!, /^resuming 40 key\(s\) \(--provider http\)/);
    assert.deepEqual(sorted(await rotationsSince(from)), sorted(onceEach(gatewaySecrets)));
    assert.match(resumed.lines().at(-1)!, /^40 key\(s\): 40 rotated, 0 failed, 0 skipped/);
  });

  it('a crash between RotateSecret and the journal write, then --resume: the started rotation is followed, not redone', async () => {
    // Prepare: a run whose journal stops being written once the fifth key is started — as a crash would
    // leave it, that key's entry on disk still says `starting` while its rotation runs in AWS.
    const from = mark();
    const rotateSecretsBefore = playground.aws.count('secretsmanager.RotateSecret');
    const path = journalPath();
    const io = captureIO().io;
    const runtime = cliRuntime(io, inventory);
    const plans = loadInventory(inventory, Object.keys(PROVIDERS));
    const keys = await selectKeys(
      plans,
      { all: false, tags: [], providers: ['sendgrid'], given: ['--provider sendgrid'] },
      runtime.secretsManager,
    );
    const journal = Journal.create(path, {
      format: 'rekey-rotate-journal/1',
      runId: 'crash-test',
      createdAt: new Date().toISOString(),
      inventory,
      selection: ['--provider sendgrid'],
      emergency: false,
      graceSeconds: 0,
      keys,
    });
    const save = journal.save.bind(journal);
    let crashed = false;
    journal.save = () => {
      // The save that makes five keys started (or done since) is the fifth key's `started`.
      crashed ||= journal.keys.filter((k) => ['started', 'done'].includes(k.status.state)).length >= 5;
      if (crashed) throw new Error('the process died');
      save();
    };
    // Act
    const run = await runFleet({
      runtime,
      pacer: new Pacer({ ratePerSecond: 10, concurrency: 10 }, () => ({ ratePerSecond: 10, concurrency: 4 })),
      journal,
      interrupt: new AbortController().signal,
      emergency: false,
      graceSeconds: 0,
      timeoutMs: 60_000,
    });
    destroy(runtime);
    await playground.aws.secretsManager.settled();
    // Assess: the crash left keys `starting` whose rotation did start.
    assert.match(String(run.fatal), /the process died/);
    const onDisk = Journal.read(path);
    const inWindow = onDisk.keys.filter((k) => k.status.state === 'starting');
    assert.ok(inWindow.length >= 1, 'a key was caught between RotateSecret and its journal write');
    const startedBeforeCrash = playground.aws.count('secretsmanager.RotateSecret') - rotateSecretsBefore;
    const neverStarted = onDisk.keys.filter((k) => k.status.state === 'planned').length;

    const resumed = captureIO();
    const code = await rotate.run(['--resume', path, ...TEST_PACE], resumed.io);
    assert.equal(code, 0, resumed.text());
    assert.deepEqual(sorted(await rotationsSince(from)), sorted(onceEach(sendgridSecrets)));
    assert.equal(
      playground.aws.count('secretsmanager.RotateSecret') - rotateSecretsBefore,
      startedBeforeCrash + neverStarted,
      'the resume sent RotateSecret only for the keys never started',
    );
  });

  it('--tag selects by the secrets’ tags; a RotateSecret whose answer was lost starts nothing twice', async () => {
    // Prepare
    for (const secret of ['prod/gateway/key-3', 'prod/sendgrid/key-4', 'prod/gateway/key-9'])
      await sm.send(new TagResourceCommand({ SecretId: secret, Tags: [{ Key: 'team', Value: 'payments' }] }));
    await sm.send(
      new TagResourceCommand({ SecretId: 'prod/gateway/key-10', Tags: [{ Key: 'team', Value: 'search' }] }),
    );
    const from = mark();
    // The first RotateSecret takes effect and its answer is lost: the SDK re-sends the same request.
    playground.aws.injectFault({ operation: 'secretsmanager.RotateSecret', kind: 'reset', times: 1 });
    const out = captureIO();
    // Act
    const code = await rotate.run(
      ['--tag', 'team=payments', '--inventory', inventory, '--journal', journalPath(), ...TEST_PACE],
      out.io,
    );
    // Assess
    playground.aws.clearFaults();
    assert.equal(code, 0, out.text());
    assert.deepEqual(
      sorted(await rotationsSince(from)),
      sorted(onceEach(['prod/gateway/key-3', 'prod/gateway/key-9', 'prod/sendgrid/key-4'])),
    );
    assert.match(out.stdout[0]!, /^rotating 3 key\(s\) \(--tag team=payments\)/);

    const none = captureIO();
    assert.equal(await rotate.run(['--tag', 'team=nobody', '--inventory', inventory], none.io), 1);
    assert.match(none.stderr.join('\n'), /rekey rotate: --tag team=nobody selects no key of .*rekey\.yaml/);
  });

  it('--emergency in fleet mode revokes each old key at once; on a terminal, one progress line redrawn in place', async () => {
    // Prepare
    const read = async (secret: string) => {
      const out = await sm.send(new GetSecretValueCommand({ SecretId: secret }));
      const doc = parseManagedKey(out.SecretString, { secretId: secret });
      return { id: doc.keyId, value: doc.key };
    };
    const tagged = ['prod/gateway/key-3', 'prod/gateway/key-9', 'prod/sendgrid/key-4'];
    const old = await Promise.all(tagged.map(read));
    const provider = (secret: string) =>
      playground.sandboxes.get(secret.includes('sendgrid') ? 'sendgrid' : 'http')!;
    const out = captureIO({ isTTY: true });
    // Act
    const code = await rotate.run(
      [
        '--tag',
        'team=payments',
        '--emergency',
        '--inventory',
        inventory,
        '--journal',
        journalPath(),
        ...TEST_PACE,
      ],
      out.io,
    );
    // Assess
    assert.equal(code, 0, out.text());
    for (const [i, secret] of tagged.entries()) {
      assert.equal(provider(secret).accepts(old[i]!), false, `${secret}: the old key is revoked`);
      assert.equal(provider(secret).accepts(await read(secret)), true, `${secret}: the new key works`);
    }
    const bars = out.stdout.filter((l) =>
      /\[[█░]{24}\] \d\/3 +\d+\.\d keys\/s +ETA \d+s +start rate \d+\.\d\/s/.test(l),
    );
    assert.ok(bars.length >= 2, 'the bar was drawn more than once');
    assert.ok(
      bars.slice(1).every((l) => l.startsWith('\u001b[1A\u001b[2K')),
      'each redraw overwrites the last',
    );
    assert.match(bars.at(-1)!, /\[█{24}\] 3\/3/);
    assert.equal(out.stdout.filter((l) => /^\[\d\/3\]/.test(l)).length, 0, 'no line per key on a terminal');
    assert.match(out.lines().at(-1)!, /^3 key\(s\): 3 rotated/);
  });

  it('refuses mixed or malformed selections with exit 2 and the usage', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['prod/gateway/key-1', '--all'], /name one secret or select keys with --all, not both/],
      [
        ['--all', '--tag', 'team=payments'],
        /--all selects every key of the inventory; drop it, or drop --tag and --provider/,
      ],
      [
        ['--resume', join(dir, 'j.json'), '--all'],
        /--resume continues a run as its journal planned it .*drop --all/,
      ],
      [['prod/gateway/key-1', '--dry-run'], /--dry-run applies to a fleet rotation/],
      [['--tag', 'team'], /--tag: "team" is not key=value/],
      [['--provider', 'Nope'], /--provider: "Nope" is not a provider rekey rotates; known: sendgrid/],
      [['--all', '--rate', '0'], /--rate: "0" is not a number of rotations per second from 0 to 50/],
      [['--all', '--provide-key'], /--provide-key reads one key from stdin for one secret/],
      [['--all', '--no-wait'], /--no-wait: a fleet rotation follows every rotation it starts/],
      [
        ['--all', '--journal', join(dir, 'missing', 'j.json')],
        /--journal: the directory of .* does not exist/,
      ],
      [
        [],
        /name exactly one secret \(or inventory entry\), or select keys with --all, --tag k=v or --provider p/,
      ],
    ];
    for (const [args, message] of cases) {
      const out = captureIO();
      assert.equal(await rotate.run([...args, '--inventory', inventory], out.io), 2, args.join(' '));
      assert.match(out.stderr[0]!, message);
      assert.match(out.stderr.join('\n'), /Usage: rekey rotate/);
    }
    const unreadable = captureIO();
    assert.equal(await rotate.run(['--resume', join(dir, 'no-such-journal.json')], unreadable.io), 1);
    assert.match(
      unreadable.stderr[0]!,
      /--resume: cannot read the journal .*no-such-journal\.json.* \(ENOENT\)/,
    );
  });
});
