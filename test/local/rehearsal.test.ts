import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PROVIDERS } from '../../lambdas/providers/index.js';
import { AWSCURRENT, connectionFor, connectProvider, readManagedKey } from '../../lambdas/secrets.js';
import { rekeyClientFleet } from '../../local/rehearsal/client-source.js';
import { REHEARSAL_PROVIDERS } from '../../local/rehearsal/providers.js';
import {
  type RehearsalOptions,
  type RehearsalReport,
  runRehearsal,
} from '../../local/rehearsal/rehearsal.js';
import { chartSeries, formatTable, renderHtml } from '../../local/rehearsal/report.js';
import { DEFAULT_SCENARIOS } from '../../local/rehearsal/scenarios.js';

const SMALL: Omit<RehearsalOptions, 'sourceFor'> = {
  keys: 2,
  instances: 6,
  rps: 60,
  providers: ['sendgrid'],
  scenarios: DEFAULT_SCENARIOS,
  seed: 3,
  scale: 1200,
  graceSeconds: 3600,
};

describe('rekey rehearse', () => {
  let report: RehearsalReport;

  it('runs every default scenario in a small configuration with zero failed calls and every invariant held', async () => {
    report = await runRehearsal({ ...SMALL, ...rekeyClientFleet() });
    assert.deepEqual(
      report.scenarios.map((s) => s.name),
      DEFAULT_SCENARIOS,
    );
    for (const scenario of report.scenarios) {
      assert.ok(scenario.calls > 0, `${scenario.name}: the fleet made calls`);
      if (scenario.zeroDowntime)
        assert.equal(scenario.failed, 0, `${scenario.name}: ${scenario.failures.join('; ')}`);
      assert.deepEqual(
        scenario.invariants.map((i) => i.invariant.split(':')[0]),
        scenario.zeroDowntime
          ? ['1', '2', '3/4', 'zero failed calls (zero downtime)', '5']
          : ['1', '2', '3/4', '5'],
        `${scenario.name}: every invariant is reported`,
      );
      for (const invariant of scenario.invariants)
        assert.ok(invariant.ok, `${scenario.name}: ${invariant.invariant} — ${invariant.detail}`);
      for (const check of scenario.checks)
        assert.ok(check.ok, `${scenario.name}: ${check.name} — ${check.detail}`);
    }
    const scheduled = report.scenarios.find((s) => s.name === 'scheduled-rotation')!;
    assert.ok(scheduled.versionsSeen >= 4, 'the fleet used old and new keys of both secrets');
    assert.equal(scheduled.providerKeysAtEnd, 2, 'one key per secret after revocation');
    assert.ok(scheduled.timeToRevokeMs! > 0);
    const singleKey = report.scenarios.find((s) => s.name === 'single-key')!;
    assert.ok(
      singleKey.interruptionMs !== undefined && singleKey.interruptionMs >= 0,
      'the single-key interruption is measured',
    );
    assert.match(formatTable(report), /single-key\s.*\d+(\.\d)? ms/);
    assert.equal(report.verdict.ok, true, report.verdict.breaches.join('\n'));
    assert.match(
      formatTable(report),
      /^scenario\s+calls\s+failed\s+key versions seen\s+provider keys at end\s+time to revoke\s+interruption\s+invariants\s+result/,
    );
  });

  it('writes a self-contained HTML report whose chart carries the calls and the lifecycle events', () => {
    const html = renderHtml(report);
    assert.ok(
      !/<script(?![^>]*application\/json)/.test(html) && !/(src|href)="http/.test(html),
      'no scripts or remote resources',
    );
    const svg = /<svg id="timeline"[\s\S]*?<\/svg>/.exec(html)?.[0];
    assert.ok(svg, 'a timeline chart');
    const series = chartSeries(report);
    assert.ok(series.length >= 2, 'calls by at least two key versions');
    for (const s of series) assert.ok(svg.includes(`data-series="${s.name}"`), `series ${s.name} drawn`);
    for (const kind of ['scenario', 'rotate', 'promote', 'revoke', 'rollback', 'fault']) {
      assert.ok(svg.includes(`data-kind="${kind}"`), `${kind} events marked`);
    }
    const data = JSON.parse(
      /<script type="application\/json" id="rekey-report">([\s\S]*?)<\/script>/.exec(html)![1]!,
    ) as RehearsalReport;
    assert.deepEqual(data.timeline, report.timeline, 'the chart data and events are embedded whole');
    assert.ok(data.timeline.events.some((e) => e.kind === 'revoke'));
    assert.match(html, /class="verdict pass"/);
  });

  it('fails the verdict and names the breach when the revoker skips its safety check', async () => {
    const failed = await runRehearsal({
      ...SMALL,
      scenarios: ['scheduled-rotation'],
      revoker: revokerWithoutCurrentCheck,
      ...rekeyClientFleet(),
    });
    assert.equal(failed.verdict.ok, false);
    assert.ok(
      failed.verdict.breaches.some((b) =>
        /^scheduled-rotation: invariant 2: an AWSCURRENT key is never revoked — rehearsal\/sendgrid\/key-0\d: AWSCURRENT key \S+ is refused by the provider/.test(
          b,
        ),
      ),
      failed.verdict.breaches.join('\n'),
    );
    assert.match(renderHtml(failed), /class="verdict fail"/);
  });

  it('rotates and revokes a key of every automatic provider, each under live traffic', async () => {
    // Prepare
    const providers = Object.keys(REHEARSAL_PROVIDERS);
    const automatic = Object.values(PROVIDERS)
      .filter((p) => !p.assisted)
      .map((p) => p.name);
    // Act
    const run = await runRehearsal({
      ...SMALL,
      keys: providers.length,
      instances: providers.length * 2,
      providers,
      scenarios: ['scheduled-rotation'],
      ...rekeyClientFleet(),
    });
    // Assess
    assert.deepEqual(
      [...providers].sort(),
      [...automatic].sort(),
      'the rehearsal knows every automatic provider',
    );
    const [scheduled] = run.scenarios;
    assert.equal(scheduled!.failed, 0, scheduled!.failures.join('; '));
    const check = scheduled!.checks.find((c) => c.name === 'a key of every provider rotated');
    assert.deepEqual(check?.detail?.split(', '), [...providers].sort());
    assert.equal(scheduled!.providerKeysAtEnd, providers.length, 'one key per secret after revocation');
    assert.equal(run.verdict.ok, true, run.verdict.breaches.join('\n'));
  });
});

/**
 * A broken revoker, injected through the rehearsal's options: its "is this key AWSCURRENT?" check is gone, and
 * it revokes the key the secret holds as AWSCURRENT — the mistake invariant 2 exists to catch.
 */
const revokerWithoutCurrentCheck: NonNullable<RehearsalOptions['revoker']> = async (request, deps) => {
  const { secretArn } = request as { secretArn: string };
  const current = (await readManagedKey(deps.secretsManager, deps.logger, {
    SecretId: secretArn,
    VersionStage: AWSCURRENT,
  }))!;
  const route = deps.routes.require(secretArn, 'broken revoker');
  const provider = await connectProvider(
    deps.secretsManager,
    deps.logger,
    secretArn,
    current.doc,
    route,
    await connectionFor(route, deps),
  );
  return provider.revokeKey(current.doc.keyId);
};
