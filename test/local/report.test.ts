import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type Browser, chromium, type Locator, type Page } from 'playwright-core';
import { defaultScale } from '../../bin/commands/rehearse.js';
import type { TimelineEvent } from '../../local/rehearsal/monitor.js';
import type { InvariantResult, RehearsalReport, ScenarioResult } from '../../local/rehearsal/rehearsal.js';
import {
  REPORT_SCHEMA_VERSION,
  REPORT_UNITS,
  renderHtml,
  reportText,
  writeReport,
} from '../../local/rehearsal/report.js';
import type { StagingReport } from '../../local/rehearsal/staging.js';

const PROVIDERS = ['sendgrid', 'twilio', 'datadog', 'cloudflare', 'openai', 'aws-iam', 'api-gateway', 'http'];
/** Each key's share of the fleet's calls per real second, as in `npm start` (120 calls/s over 8 keys). */
const CALLS_PER_KEY_PER_SECOND = 15;
/** Real ms an instance's cache keeps the old key after a promotion (the client's TTL, compressed). */
const CACHE_LAG_MS = 200;

type Script = (at: (ms: number) => number, secrets: string[], timeline: FixtureTimeline) => void;

/**
 * What `npm start` does, scenario by scenario, timed as in a real run (real ms from the scenario's start):
 * the same moments the invariant monitor records, so the chart meets the density of a real report.
 */
const PASSING: Array<{ name: string; durationMs: number; script: Script }> = [
  {
    name: 'scheduled-rotation',
    durationMs: 4610,
    script: (at, secrets, t) => {
      const spacing = Math.min(150, 1250 / secrets.length);
      secrets.forEach((secret, i) => {
        t.note(at(spacing * i), 'rotate', 'scheduled-style rotation', secret);
        t.promote(at(spacing * i + 190), secret);
        t.revoke(at(3200 + spacing * i), secret);
      });
    },
  },
  {
    name: 'emergency-rotation',
    durationMs: 730,
    script: (at, secrets, t) => {
      secrets.slice(0, Math.ceil(secrets.length / 3)).forEach((secret, i) => {
        t.note(at(30 * i), 'rotate', 'emergency rotation', secret);
        t.promote(at(30 * i + 250), secret);
        t.revoke(at(30 * i + 330), secret);
      });
    },
  },
  {
    name: 'rollback',
    durationMs: 760,
    script: (at, [secret], t) => {
      t.note(at(0), 'rotate', 'rotation', secret);
      t.promote(at(85), secret!);
      t.note(at(88), 'fault', 'new key broken at the provider', secret);
      t.promote(at(440), secret!, 'back');
      t.revoke(at(441), secret!);
      t.note(at(458), 'rollback', 'previous key is AWSCURRENT again', secret);
    },
  },
  {
    name: 'provider-outage',
    durationMs: 500,
    script: (at, [secret], t) => {
      t.note(at(1), 'fault', 'provider key-management API down (503)', secret);
      t.note(at(35), 'recover', 'provider key-management API back', secret);
      t.note(at(35), 'rotate', 'emergency rotation', secret);
      t.promote(at(136), secret!);
      t.revoke(at(186), secret!);
    },
  },
  {
    name: 'vault-outage',
    durationMs: 1350,
    script: (at, _, t) => {
      t.note(at(0), 'fault', 'Secrets Manager unavailable for 750 ms');
      t.note(at(750), 'recover', 'Secrets Manager back');
    },
  },
  {
    name: 'concurrent-rotations',
    durationMs: 3426,
    script: (at, [secret], t) => {
      t.note(at(1), 'rotate', 'two rotations at once', secret);
      t.promote(at(58), secret!);
      t.revoke(at(3129), secret!);
    },
  },
  {
    name: 'stuck-rotation',
    durationMs: 441,
    script: (at, secrets, t) => {
      const secret = secrets.at(-1)!;
      t.note(at(1), 'fault', 'the next key validation fails (testSecret)', secret);
      t.note(at(41), 'rotate', 'emergency rotation', secret);
      t.note(at(56), 'revoke', 'the stuck pending key no longer authenticates', secret);
      t.promote(at(106), secret);
      t.revoke(at(131), secret);
    },
  },
  {
    name: 'single-key',
    durationMs: 394,
    script: (at, [secret], t) => {
      t.note(at(4), 'rotate', 'single-key rotation (revoke, then create)', secret);
      t.promote(at(92), secret!);
      t.revoke(at(92), secret!);
    },
  },
];

/** A revoker that skips its "is this key AWSCURRENT?" check: the promoted key is revoked a grace period later. */
const FAILING: typeof PASSING = [
  {
    name: 'scheduled-rotation',
    durationMs: 11680,
    script: (at, secrets, t) => {
      const spacing = Math.min(220, 1700 / secrets.length);
      secrets.forEach((secret, i) => {
        t.note(at(spacing * i), 'rotate', 'scheduled-style rotation', secret);
        t.promote(at(spacing * i + 250), secret);
        t.breakCurrent(at(spacing * i + 3250), secret);
      });
    },
  },
  {
    name: 'emergency-rotation',
    durationMs: 430,
    script: (at, secrets, t) => {
      secrets.slice(0, Math.ceil(secrets.length / 3)).forEach((secret, i) => {
        t.note(at(40 * i), 'rotate', 'emergency rotation', secret);
      });
    },
  },
  {
    name: 'rollback',
    durationMs: 455,
    script: (at, [secret], t) => t.note(at(0), 'rotate', 'rotation', secret),
  },
];

/** Records a scripted run: events as the monitor notes them, and which key generation each secret serves. */
class FixtureTimeline {
  readonly events: TimelineEvent[] = [];
  /** Per secret: [from real ms, generation, accepted by the provider] in time order. */
  private readonly served = new Map<string, Array<[number, number, boolean]>>();

  constructor(secrets: string[]) {
    for (const secret of secrets) this.served.set(secret, [[0, 1, true]]);
  }

  note(at: number, kind: TimelineEvent['kind'], detail: string, secret?: string): void {
    this.events.push({ at, kind, detail, ...(secret ? { secret } : {}) });
  }

  /** The secret's next key (or, with 'back', the one before it) becomes AWSCURRENT. */
  promote(at: number, secret: string, direction: 'next' | 'back' = 'next'): void {
    const history = this.served.get(secret)!;
    const generation = direction === 'next' ? Math.max(...history.map(([, g]) => g)) + 1 : history.at(-2)![1];
    history.push([at + CACHE_LAG_MS, generation, true]);
    this.note(at, 'promote', `key k-${secret.slice(-2)}-${generation} is AWSCURRENT`, secret);
  }

  revoke(at: number, secret: string): void {
    this.note(at, 'revoke', 'the previous key no longer authenticates', secret);
  }

  /** The served key stops authenticating (what a broken revoker does to the current key). */
  breakCurrent(at: number, secret: string): void {
    const history = this.served.get(secret)!;
    history.push([at, history.at(-1)![1], false]);
  }

  /** The generation serving at `at` and whether the provider accepts it. */
  servedAt(secret: string, at: number): { generation: number; ok: boolean } {
    const [, generation, ok] = this.served.get(secret)!.findLast(([from]) => from <= at)!;
    return { generation, ok };
  }
}

/**
 * A RehearsalReport as `runRehearsal` produces it for `keys` keys over the eight providers, passing or
 * failing (the broken-revoker run of test/local/rehearsal.test.ts): built here so the chart's layout is
 * checked on fixed data, in milliseconds, and on a denser run than the tests can afford to rehearse.
 */
function rehearsalReport({ keys, failing }: { keys: number; failing: boolean }): RehearsalReport {
  const secrets = Array.from(
    { length: keys },
    (_, i) => `rehearsal/${PROVIDERS[i % PROVIDERS.length]}/key-${String(i + 1).padStart(2, '0')}`,
  );
  const timeline = new FixtureTimeline(secrets);
  const windows: Array<{ name: string; startedAt: number; endedAt: number }> = [];
  let clock = 212;
  for (const { name, durationMs, script } of failing ? FAILING : PASSING) {
    const startedAt = clock;
    timeline.note(startedAt, 'scenario', name);
    script((ms) => startedAt + ms, secrets, timeline);
    clock += durationMs;
    windows.push({ name, startedAt, endedAt: clock });
    clock += 1;
  }
  timeline.events.sort((a, b) => a.at - b.at);

  const calls: Array<{ at: number; label: string; version: string; ok: boolean }> = [];
  for (let second = 0; second * 1000 < clock; second++)
    for (const secret of secrets)
      for (let n = 0; n < CALLS_PER_KEY_PER_SECOND; n++) {
        const at = second * 1000 + ((n + 0.5) * 1000) / CALLS_PER_KEY_PER_SECOND;
        if (at >= clock) continue;
        const { generation, ok } = timeline.servedAt(secret, at);
        calls.push({
          at,
          label: `${secret.split('/')[1]}#${generation}`,
          version: `${secret}#${generation}`,
          ok,
        });
      }
  const buckets: RehearsalReport['timeline']['buckets'] = [];
  for (const call of calls) {
    const second = Math.floor(call.at / 1000);
    while (buckets.length <= second)
      buckets.push({ second: buckets.length, byKey: {}, failed: 0, failedByKey: {} });
    const bucket = buckets[second]!;
    bucket.byKey[call.label] = (bucket.byKey[call.label] ?? 0) + 1;
    if (!call.ok) {
      bucket.failed += 1;
      bucket.failedByKey[call.label] = (bucket.failedByKey[call.label] ?? 0) + 1;
    }
  }

  const scenarios: ScenarioResult[] = windows.map(({ name, startedAt, endedAt }) => {
    const inWindow = calls.filter((c) => c.at >= startedAt && c.at < endedAt);
    const failed = inWindow.filter((c) => !c.ok).length;
    const invariants: InvariantResult[] = [
      { invariant: '1: a valid key is AWSCURRENT at every instant', ok: true, detail: '4100 samples' },
      failed > 0
        ? {
            invariant: '2: an AWSCURRENT key is never revoked',
            ok: false,
            detail: `${secrets[0]}: AWSCURRENT key k-01-2 is refused by the provider`,
          }
        : { invariant: '2: an AWSCURRENT key is never revoked', ok: true },
      {
        invariant: '3/4: no duplicate or orphaned key at a provider',
        ok: true,
        detail: 'every provider key is referenced by a labelled version',
      },
      {
        invariant: 'zero failed calls (zero downtime)',
        ok: failed === 0,
        detail: `${failed} of ${inWindow.length} calls failed`,
      },
      { invariant: '5: no secret value in any log line', ok: true, detail: '5201 lines scanned' },
    ];
    return {
      name,
      guide: `the guide's ${name} item`,
      zeroDowntime: true,
      startedAt,
      endedAt,
      calls: inWindow.length,
      failed,
      failures: failed > 0 ? [`${secrets[0]}: AuthRejected: provider answered 401`] : [],
      versionsSeen: new Set(inWindow.map((c) => c.version)).size,
      providerKeysAtEnd: keys,
      checks: [],
      invariants,
      ok: invariants.every((i) => i.ok),
    };
  });
  const breaches = scenarios.flatMap((s) =>
    s.invariants.filter((i) => !i.ok).map((i) => `${s.name}: invariant ${i.invariant} — ${i.detail}`),
  );
  return {
    tool: 'rekey rehearse',
    startedAt: '2025-01-01T00:00:00.000Z',
    options: {
      keys,
      instances: keys * 3,
      rps: keys * CALLS_PER_KEY_PER_SECOND,
      providers: PROVIDERS.slice(0, keys),
      scenarios: windows.map((w) => w.name),
      seed: 1,
      scale: defaultScale(keys),
      graceSeconds: 3600,
    },
    keys: secrets.map((secret) => ({ secret, provider: secret.split('/')[1]! })),
    durationMs: clock + 400,
    scenarios,
    timeline: { buckets, events: timeline.events },
    verdict: { ok: breaches.length === 0, breaches },
  };
}

/** The report as `rekey rehearse --target staging` writes it: real time, the secrets under `target`, no `keys`. */
function asStaging({ keys, ...report }: RehearsalReport): StagingReport {
  return {
    ...report,
    options: { ...report.options, scale: 1 },
    target: {
      kind: 'staging',
      accountId: '111122223333',
      callerArn: 'arn:aws:iam::111122223333:user/ci',
      region: 'eu-west-1',
      endpoint: 'https://secretsmanager.eu-west-1.amazonaws.com',
      secrets: keys!.map(({ secret, provider }) => ({ name: secret, provider, keyIdBefore: 'k-1' })),
    },
  };
}

/** The text a browser shows for an HTML fragment: tags dropped, character references decoded. */
const textOf = (html: string): string =>
  html.replace(/<[^>]+>/g, '').replace(/&#(\d+);/g, (_, code: string) => String.fromCharCode(Number(code)));

const embeddedJson = (html: string): Record<string, unknown> =>
  JSON.parse(/<script type="application\/json" id="rekey-report">([\s\S]*?)<\/script>/.exec(html)![1]!);

describe('rehearsal report (HTML and JSON)', () => {
  it('shows a failing verdict as readable text, each breach HTML-escaped, not URL-escaped', () => {
    const failing = rehearsalReport({ keys: 8, failing: true });
    const breaches = [
      ...failing.verdict.breaches,
      'rollback: scenario ran to the end — saw <AWSPENDING> & "x"',
    ];
    const html = renderHtml({ ...failing, verdict: { ok: false, breaches } });
    const banner = /<div class="verdict fail">([\s\S]*?)<\/div>/.exec(html)?.[1];
    assert.ok(banner, 'a failing banner');
    assert.doesNotMatch(banner, /%[0-9A-F]{2}/, 'nothing URL-escaped');
    assert.doesNotMatch(banner, /<AWSPENDING>/, 'markup in a breach is escaped, not rendered');
    for (const breach of breaches) assert.ok(textOf(banner).includes(breach), `the banner reads "${breach}"`);
  });

  it('ends the text with what the run took: wall time and peak RSS', () => {
    const report = { ...rehearsalReport({ keys: 8, failing: false }), durationMs: 353_090 };
    const measured = reportText({ ...report, peakRssBytes: 581_218_304 }, 'r', false);
    assert.match(measured, /^ran 5 min 53 s wall, peak RSS 554 MiB \(8 keys, \d+ instances\)$/m);
    assert.match(
      reportText(report, 'r', false),
      /^ran 5 min 53 s wall \(8 keys/m,
      'no RSS where not measured',
    );
  });

  it("writes the JSON with its schema version and the unit of every timed field, readers' fields unchanged", async () => {
    const report = rehearsalReport({ keys: 8, failing: false });
    const dir = await mkdtemp(join(tmpdir(), 'rekey-report-'));
    try {
      await writeReport(report, join(dir, 'r'));
      const written = JSON.parse(await readFile(join(dir, 'r.json'), 'utf8')) as Record<string, unknown>;
      const { schemaVersion, units, ...rest } = written;
      assert.equal(schemaVersion, 2);
      assert.equal(REPORT_SCHEMA_VERSION, 2);
      assert.deepEqual(
        rest,
        JSON.parse(JSON.stringify(report)),
        'every field as before, under the same names',
      );
      assert.deepEqual(units, REPORT_UNITS);
      for (const field of [
        'durationMs',
        'scenarios[].startedAt',
        'scenarios[].timeToRevokeMs',
        'timeline.buckets[].second',
        'timeline.events[].at',
      ])
        assert.match(
          REPORT_UNITS[field as keyof typeof REPORT_UNITS],
          /^(ms|s), real/,
          `${field} is real time`,
        );
      assert.match(REPORT_UNITS['options.graceSeconds'], /^s, simulated/);
      assert.match(REPORT_UNITS['options.scale'], /simulated ms per real ms/);
      for (const document of [
        JSON.parse(reportText(report, join(dir, 'r'), true)) as Record<string, unknown>,
        embeddedJson(await readFile(join(dir, 'r.html'), 'utf8')),
      ]) {
        assert.equal(document.schemaVersion, 2, '--json and the embedded data carry it too');
        assert.deepEqual(document.units, REPORT_UNITS);
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("draws one chart per provider, from the rehearsal's keys or a staging run's target secrets", () => {
    const report = rehearsalReport({ keys: 16, failing: false });
    const providersIn = (html: string) =>
      [...html.matchAll(/<figure class="provider" data-provider="([^"]+)"/g)].map((m) => m[1]);
    assert.deepEqual(providersIn(renderHtml(report)), PROVIDERS);
    assert.deepEqual(providersIn(renderHtml(asStaging(report))), PROVIDERS);
  });
});

const CHROMIUM = '/usr/bin/chromium';

interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}
const overlap = (a: Box, b: Box) =>
  a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height;
const inside = (inner: Box, outer: Box) =>
  inner.x >= outer.x &&
  inner.y >= outer.y &&
  inner.x + inner.width <= outer.x + outer.width &&
  inner.y + inner.height <= outer.y + outer.height;

/** Every text of a chart as the browser laid it out: inside the chart, on top of no other text and no mark. */
async function assertTextsReadable(chart: Locator, name: string): Promise<void> {
  const frame = (await chart.boundingBox())!;
  // One round trip for all the boxes (the DOM types are not in this project's lib: the shape is declared).
  const texts = await chart
    .locator('text')
    .evaluateAll((nodes: Array<{ textContent: string | null; getBoundingClientRect(): Box }>) =>
      nodes.map((node) => {
        const { x, y, width, height } = node.getBoundingClientRect();
        return { text: node.textContent ?? '', box: { x, y, width, height } };
      }),
    );
  const marks = await chart.locator('.moment').evaluateAll((nodes: Array<{ getBoundingClientRect(): Box }>) =>
    nodes.map((node) => {
      const { x, y, width, height } = node.getBoundingClientRect();
      return { x, y, width, height };
    }),
  );
  assert.ok(texts.length > 0, `${name}: has text`);
  texts.forEach(({ text, box }, i) => {
    assert.ok(box.width > 0 && box.height > 0, `${name}: "${text}" is rendered`);
    assert.ok(inside(box, frame), `${name}: "${text}" lies inside the chart (${JSON.stringify(box)})`);
    for (const other of texts.slice(0, i))
      assert.ok(!overlap(box, other.box), `${name}: "${text}" overlaps "${other.text}"`);
    const covered = marks.find((mark) => overlap(box, mark));
    assert.ok(!covered, `${name}: "${text}" covers a moment's mark (${JSON.stringify(covered)})`);
  });
}

describe('rehearsal report in headless Chromium', {
  skip: existsSync(CHROMIUM) ? false : `no Chromium at ${CHROMIUM} (.ci/run installs Debian's chromium)`,
}, () => {
  let browser: Browser;
  before(async () => {
    browser = await chromium.launch({ executablePath: CHROMIUM });
  });
  after(async () => {
    await browser?.close();
  });

  /** The report as a person opens it: offline, every request the page might make refused and recorded. */
  async function open(report: RehearsalReport): Promise<{ page: Page; requests: string[] }> {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const requests: string[] = [];
    await page.route('**/*', (route) => {
      requests.push(route.request().url());
      return route.abort();
    });
    await page.setContent(renderHtml(report), { waitUntil: 'load' });
    return { page, requests };
  }

  const simulatedHours = [
    '0',
    '30 min',
    '1 h',
    '1 h 30 min',
    '2 h',
    '2 h 30 min',
    '3 h',
    '3 h 30 min',
    '4 h',
  ];
  for (const { name, report, axis, ticks } of [
    {
      name: 'passing, 8 keys',
      report: rehearsalReport({ keys: 8, failing: false }),
      axis: 'simulated time since the fleet started (clock ×1200: 13 s real = 4 h 20 min simulated)',
      ticks: simulatedHours,
    },
    {
      name: 'failing, 8 keys',
      report: rehearsalReport({ keys: 8, failing: true }),
      axis: 'simulated time since the fleet started (clock ×1200: 13 s real = 4 h 20 min simulated)',
      ticks: simulatedHours,
    },
    {
      name: 'passing, 50 keys',
      report: rehearsalReport({ keys: 50, failing: false }),
      axis: 'simulated time since the fleet started (clock ×288: 13 s real = 1 h 2 min simulated)',
      ticks: ['0', '10 min', '20 min', '30 min', '40 min', '50 min', '1 h'],
    },
    {
      name: 'staging, 8 keys',
      report: asStaging(rehearsalReport({ keys: 8, failing: false })),
      axis: 'time since the fleet started (real time: the clock is not compressed; 13 s)',
      ticks: ['0', '2 s', '4 s', '6 s', '8 s', '10 s', '12 s'],
    },
  ])
    it(`reads at a glance (${name}): banner, named scenario bands, labelled moments, time axis, per provider`, async () => {
      const { page, requests } = await open(report);
      try {
        // biome-ignore lint/performance/useDomNodeTextContent: the rendered text, as a person reads it, is the point
        const banner = await page.locator('.verdict').innerText();
        assert.doesNotMatch(banner, /%[0-9A-F]{2}/, 'the banner is not URL-escaped');
        if (report.verdict.ok) assert.equal(banner, 'PASS — every invariant held in every scenario');
        else {
          assert.match(banner, new RegExp(`^FAIL — ${report.verdict.breaches.length} breaches\n`));
          for (const breach of report.verdict.breaches)
            assert.ok(banner.includes(breach), `the banner reads "${breach}"`);
        }

        const timeline = page.locator('svg#timeline');
        const bandLabels = await timeline.locator('text.band-label').allTextContents();
        assert.deepEqual(
          bandLabels,
          report.scenarios.map((s) => (s.ok ? s.name : `✗ ${s.name}`)),
          'every scenario band is named on the chart',
        );
        const lanes = await timeline.locator('text.lane-label').allTextContents();
        const kinds = new Set(report.timeline.events.map((e) => e.kind));
        assert.deepEqual(
          lanes,
          [
            ...[
              ['rotate', 'rotation started'],
              ['promote', 'promoted'],
              ['revoke', 'key revoked'],
              ['rollback', 'rolled back'],
              ['fault', 'fault injected'],
              ['recover', 'recovered'],
            ].flatMap(([kind, label]) => (kinds.has(kind as TimelineEvent['kind']) ? [label] : [])),
            'failed calls',
          ],
          'each kind of moment is named in the picture',
        );
        const counts = await timeline.locator('text.moment-count').allTextContents();
        if (report.verdict.ok)
          assert.ok(
            counts.includes(`×${report.options.keys}`),
            `×${report.options.keys} promotions (${counts})`,
          );
        else
          assert.ok(
            counts.some((c) => Number(c) >= 100),
            `failed calls per second are written (${counts})`,
          );
        assert.equal(await timeline.locator('text.axis-title').textContent(), axis);
        assert.deepEqual(await timeline.locator('text.tick').allTextContents(), ticks);

        await assertTextsReadable(timeline, 'timeline');
        const providers = page.locator('figure.provider');
        assert.equal(await providers.count(), Math.min(report.options.keys, PROVIDERS.length));
        for (const figure of await providers.all()) {
          const provider = (await figure.getAttribute('data-provider'))!;
          assert.match(
            (await figure.locator('figcaption').textContent()) ?? '',
            new RegExp(`^${provider} · `),
          );
          await assertTextsReadable(figure.locator('svg'), provider);
        }
        assert.deepEqual(requests, [], 'the page fetches nothing');
      } finally {
        await page.close();
      }
    });
});
