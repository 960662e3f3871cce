import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { TimelineEvent } from '../../local/rehearsal/monitor.js';
import type { InvariantResult, RehearsalReport, ScenarioResult } from '../../local/rehearsal/rehearsal.js';
import { renderHtml } from '../../local/rehearsal/report.js';

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

  const calls: Array<{ at: number; label: string; ok: boolean }> = [];
  for (let second = 0; second * 1000 < clock; second++)
    for (const secret of secrets)
      for (let n = 0; n < CALLS_PER_KEY_PER_SECOND; n++) {
        const at = second * 1000 + ((n + 0.5) * 1000) / CALLS_PER_KEY_PER_SECOND;
        if (at >= clock) continue;
        const { generation, ok } = timeline.servedAt(secret, at);
        calls.push({ at, label: `${secret}#${generation}`, ok });
      }
  const buckets: RehearsalReport['timeline']['buckets'] = [];
  for (const call of calls) {
    const second = Math.floor(call.at / 1000);
    while (buckets.length <= second) buckets.push({ second: buckets.length, byKey: {}, failed: 0 });
    const bucket = buckets[second]!;
    bucket.byKey[call.label] = (bucket.byKey[call.label] ?? 0) + 1;
    if (!call.ok) bucket.failed += 1;
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
      versionsSeen: new Set(inWindow.map((c) => c.label)).size,
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
      scale: 1200,
      graceSeconds: 3600,
    },
    durationMs: clock + 400,
    scenarios,
    timeline: { buckets, events: timeline.events },
    verdict: { ok: breaches.length === 0, breaches },
  };
}

/** The text a browser shows for an HTML fragment: tags dropped, character references decoded. */
const textOf = (html: string): string =>
  html
    .replace(/<br>/g, '\n')
    .replace(/<[^>]+>/g, '')
    .replace(/&#(\d+);/g, (_, code: string) => String.fromCharCode(Number(code)));

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
});
