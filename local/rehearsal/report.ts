import { writeFile } from 'node:fs/promises';
import type { TimelineEventKind } from './monitor.js';
import type { RehearsalReport } from './rehearsal.js';
import type { StagingReport } from './staging.js';

/** The final table: one row per scenario, as the terminal prints it. */
export function formatTable(report: RehearsalReport): string {
  const header = [
    'scenario',
    'calls',
    'failed',
    'key versions seen',
    'provider keys at end',
    'time to revoke',
    'interruption',
    'invariants',
    'result',
  ];
  const rows = report.scenarios.map((s) => [
    s.name,
    String(s.calls),
    String(s.failed),
    String(s.versionsSeen),
    String(s.providerKeysAtEnd),
    s.timeToRevokeMs === undefined ? '—' : `${(s.timeToRevokeMs / 1000).toFixed(2)} s`,
    s.interruptionMs === undefined ? '—' : `${s.interruptionMs} ms`,
    `${s.invariants.filter((i) => i.ok).length}/${s.invariants.length}`,
    s.ok ? 'PASS' : 'FAIL',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(header), widths.map((w) => '─'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

/** What the run took: wall time, and peak memory where measured. */
export function formatCost(report: RehearsalReport): string {
  const seconds = Math.round(report.durationMs / 1000);
  const wall = seconds >= 60 ? `${Math.floor(seconds / 60)} min ${seconds % 60} s` : `${seconds} s`;
  const rss =
    report.peakRssBytes === undefined ? '' : `, peak RSS ${Math.round(report.peakRssBytes / 2 ** 20)} MiB`;
  return `ran ${wall} wall${rss} (${report.options.keys} keys, ${report.options.instances} instances)`;
}

export function formatVerdict(report: RehearsalReport): string {
  if (report.verdict.ok) {
    return `VERDICT: PASS — every invariant held in every scenario (${report.scenarios.length} scenarios, ${report.scenarios.reduce((n, s) => n + s.calls, 0)} calls, 0 failed where zero downtime is promised)`;
  }
  return ['VERDICT: FAIL', ...report.verdict.breaches.map((b) => `  ✗ ${b}`)].join('\n');
}

const escapeHtml = (text: string): string => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** Version of the JSON report's shape: raised when a field is renamed or removed or changes meaning. */
export const REPORT_SCHEMA_VERSION = 2;

/**
 * What each number in the JSON report measures. The rehearsal runs on a compressed clock: "real" is wall-clock
 * time, which the fleet, the timeline and the table measure; simulated time = real time × options.scale.
 */
export const REPORT_UNITS = {
  startedAt: 'ISO 8601 wall-clock time the run started',
  durationMs: 'ms, real',
  peakRssBytes: 'bytes, peak resident set size of the process (the endpoint, sandboxes and fleet run in it)',
  'options.rps': 'calls per real second, across the fleet',
  'options.scale': 'simulated ms per real ms (1: the clock is not compressed)',
  'options.graceSeconds': 's, simulated',
  'scenarios[].startedAt': 'ms, real, since the fleet started',
  'scenarios[].endedAt': 'ms, real, since the fleet started',
  'scenarios[].timeToRevokeMs': 'ms, real',
  'scenarios[].interruptionMs': 'ms, real',
  'timeline.buckets[].second': 's, real, since the fleet started (the bucket counts that second)',
  'timeline.buckets[].byKey':
    'calls in that real second, by key label "<provider>#<n>" (made with the n-th key of a secret of that provider)',
  'timeline.buckets[].failed': 'failed calls in that real second',
  'timeline.buckets[].failedByKey': 'failed calls in that real second, by the same key labels',
  'timeline.events[].at': 'ms, real, since the fleet started',
} as const;

/** The JSON report as written and embedded: the report with its schema version and units. */
type ReportDocument<R extends RehearsalReport = RehearsalReport> = {
  schemaVersion: typeof REPORT_SCHEMA_VERSION;
  units: typeof REPORT_UNITS;
} & R;

function reportDocument<R extends RehearsalReport>(report: R): ReportDocument<R> {
  return { schemaVersion: REPORT_SCHEMA_VERSION, units: REPORT_UNITS, ...report };
}

/** Light tones for the calls, so the saturated moment marks and the red of failed calls stand out. */
const SERIES_COLORS = [
  '#93c5fd',
  '#86efac',
  '#fcd34d',
  '#c4b5fd',
  '#67e8f9',
  '#f9a8d4',
  '#bef264',
  '#cbd5e1',
];
const FAILED_COLOR = '#dc2626';

/** The moments the timeline marks, one lane each, top to bottom; failed calls get the last lane. */
const MOMENTS: Array<{ kind: TimelineEventKind; label: string; color: string }> = [
  { kind: 'rotate', label: 'rotation started', color: '#2563eb' },
  { kind: 'promote', label: 'promoted', color: '#16a34a' },
  { kind: 'revoke', label: 'key revoked', color: '#334155' },
  { kind: 'rollback', label: 'rolled back', color: '#9333ea' },
  { kind: 'fault', label: 'fault injected', color: '#d97706' },
  { kind: 'recover', label: 'recovered', color: '#0891b2' },
];

/** Left margin of every chart: the lane names and the y axis. */
const GUTTER = 112;
const LANE_HEIGHT = 18;
/** Half a moment's mark, its stroke included. */
const MARK_RADIUS = 6;
const FONT_SIZE = 11;

/**
 * A generous estimate of a label's width (sans-serif text runs 0.5–0.65 em a character, DejaVu's "×" 0.84),
 * so the page lays its labels out without a browser to measure them; the report's browser test checks the
 * real boxes.
 */
const textWidth = (text: string, size = FONT_SIZE): number => [...text].length * size * 0.7;

const clamp = (value: number, low: number, high: number): number => Math.min(Math.max(value, low), high);

/** Greedy packing of spans (sorted by start) into rows: each goes to the first row it fits without overlap. */
function rowsFor(spans: Array<[number, number]>, gap: number): number[] {
  const rowEnds: number[] = [];
  return spans.map(([start, end]) => {
    let row = rowEnds.findIndex((rowEnd) => start >= rowEnd + gap);
    if (row === -1) row = rowEnds.push(end) - 1;
    else rowEnds[row] = end;
    return row;
  });
}

/** Tick steps for a time axis, in seconds: round durations a person reads at once. */
const TICK_STEPS_S = [
  1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 604800,
];

/** "0", "45 s", "20 min", "1 h 20 min", "2 d 6 h": the two largest units that are not zero. */
function formatDuration(seconds: number): string {
  if (seconds < 60) return seconds === 0 ? '0' : `${Number(seconds.toFixed(seconds < 10 ? 1 : 0))} s`;
  const units: Array<[string, number]> = [
    ['d', 86400],
    ['h', 3600],
    ['min', 60],
    ['s', 1],
  ];
  let rest = Math.round(seconds);
  const parts = units.flatMap(([name, size]) => {
    const n = Math.floor(rest / size);
    rest -= n * size;
    return n > 0 ? [`${n} ${name}`] : [];
  });
  return parts.slice(0, 2).join(' ');
}

/** The secrets drawn per provider: the rehearsal's keys, or a staging run's target secrets. */
function providerGroups(
  report: RehearsalReport | StagingReport,
): Array<{ provider: string; secrets: string[] }> {
  const keys =
    report.keys ??
    ('target' in report ? report.target.secrets.map((s) => ({ secret: s.name, provider: s.provider })) : []);
  const groups = new Map<string, string[]>();
  for (const { secret, provider } of keys) groups.set(provider, [...(groups.get(provider) ?? []), secret]);
  return [...groups].map(([provider, secrets]) => ({ provider, secrets }));
}

const providerOf = (label: string): string => label.slice(0, label.lastIndexOf('#'));

/**
 * Series of the chart: calls per second by key generation (the n-th key of each secret), across the given
 * provider's keys (all when absent).
 */
export function chartSeries(
  report: RehearsalReport,
  provider?: string,
): Array<{ name: string; generation: string; points: number[] }> {
  const inScope = (label: string) => provider === undefined || providerOf(label) === provider;
  const generations = new Set<string>();
  for (const b of report.timeline.buckets)
    for (const label of Object.keys(b.byKey)) if (inScope(label)) generations.add(label.split('#')[1] ?? '?');
  const sorted = [...generations].sort((a, b) => (a === '?' ? 1 : b === '?' ? -1 : Number(a) - Number(b)));
  return sorted.map((g) => ({
    name:
      g === '1'
        ? 'original keys'
        : g === '?'
          ? 'no key (vault unreachable, nothing cached)'
          : `key version ${g}`,
    generation: g,
    points: report.timeline.buckets.map((b) =>
      Object.entries(b.byKey).reduce(
        (n, [label, count]) => (label.endsWith(`#${g}`) && inScope(label) ? n + count : n),
        0,
      ),
    ),
  }));
}

/** The same colour for a key generation in every chart of the page. */
function seriesColors(report: RehearsalReport): Map<string, string> {
  return new Map(chartSeries(report).map((s, i) => [s.generation, SERIES_COLORS[i % SERIES_COLORS.length]!]));
}

/** Failed calls per bucket among the given provider's keys (all when absent). */
function failedPoints(report: RehearsalReport, provider?: string): number[] {
  return report.timeline.buckets.map((b) =>
    provider === undefined
      ? b.failed
      : Object.entries(b.failedByKey).reduce(
          (n, [label, c]) => (providerOf(label) === provider ? n + c : n),
          0,
        ),
  );
}

function glyph(kind: TimelineEventKind, cx: number, cy: number): string {
  const at = (dx: number, dy: number) => `${(cx + dx).toFixed(1)},${(cy + dy).toFixed(1)}`;
  switch (kind) {
    case 'rotate':
      return `M${at(-3.5, -4.5)}L${at(4.5, 0)}L${at(-3.5, 4.5)}Z`;
    case 'revoke':
      return `M${at(-4, -4)}L${at(4, 4)}M${at(4, -4)}L${at(-4, 4)}`;
    case 'rollback':
      return `M${at(0, -5)}L${at(5, 0)}L${at(0, 5)}L${at(-5, 0)}Z`;
    case 'fault':
      return `M${at(-4, -4)}H${(cx + 4).toFixed(1)}V${(cy + 4).toFixed(1)}H${(cx - 4).toFixed(1)}Z`;
    default: // promote, and recover (drawn hollow): a circle
      return `M${at(-4, 0)}A4,4 0 1,0 ${at(4, 0)}A4,4 0 1,0 ${at(-4, 0)}Z`;
  }
}

interface ChartOptions {
  id: string;
  width: number;
  plotHeight: number;
  /** The provider whose keys are drawn, and their secrets (all when absent). */
  scope?: { provider: string; secrets: ReadonlySet<string> };
  /** The main chart names the scenario bands and titles the time axis; the per-provider charts share both. */
  main: boolean;
}

/**
 * One timeline: scenario bands, calls per real second by key version (stacked) with failed calls over them,
 * then a lane per kind of moment, then the time axis.
 *
 * Moments get lanes rather than labels at their instants: ~60 events of a run crowd into a few seconds (8
 * promotions within one), so labels placed at their times would pile up whatever the staggering. A lane per
 * kind names each kind once, in the margin; each mark sits at its time; where a scenario holds several of
 * a kind, "×n" beside its marks counts them (placed only where it overlaps nothing, the marks' hover text
 * keeps the details). Scenario names go in rows above the bands, a row higher only where they would touch.
 */
function timelineSvg(report: RehearsalReport, chart: ChartOptions): string {
  const { width, plotHeight, main, scope } = chart;
  const secrets = scope?.secrets;
  const scale = report.options.scale;
  const seconds = Math.max(1, report.timeline.buckets.length);
  const left = GUTTER;
  const right = width - 16;
  const x = (realMs: number) => left + (realMs / (seconds * 1000)) * (right - left);
  const when = (realMs: number) =>
    scale === 1
      ? formatDuration(realMs / 1000)
      : `${formatDuration((realMs / 1000) * scale)} simulated (${(realMs / 1000).toFixed(2)} s real)`;
  const svg: string[] = [];

  const bands = report.scenarios.map((s) => ({ ...s, label: s.ok ? s.name : `✗ ${s.name}` }));
  let plotTop = 10;
  if (main && bands.length > 0) {
    const spans = bands.map((b): [number, number] => {
      const w = textWidth(b.label);
      const center = clamp((x(b.startedAt) + x(b.endedAt)) / 2, left + w / 2, right - w / 2);
      return [center - w / 2, center + w / 2];
    });
    const rows = rowsFor(spans, 10);
    const rowCount = Math.max(...rows) + 1;
    plotTop = 8 + rowCount * 16 + 6;
    bands.forEach((b, i) => {
      const [start, end] = spans[i]!;
      const baseline = plotTop - 8 - rows[i]! * 16;
      const bandCenter = (x(b.startedAt) + x(b.endedAt)) / 2;
      svg.push(
        `<line x1="${bandCenter.toFixed(1)}" x2="${bandCenter.toFixed(1)}" y1="${baseline + 2}" y2="${plotTop}" stroke="#9ca3af"/>`,
        `<text class="band-label" x="${((start + end) / 2).toFixed(1)}" y="${baseline}" font-size="${FONT_SIZE}" font-weight="600" text-anchor="middle" fill="${b.ok ? '#374151' : '#b91c1c'}">${escapeHtml(b.label)}</text>`,
      );
    });
  }
  const plotBottom = plotTop + plotHeight;
  const lanesTop = plotBottom + 8;

  const inScope = (secret: string | undefined) => !secrets || secret === undefined || secrets.has(secret);
  const events = report.timeline.events.filter((e) => e.kind !== 'scenario' && inScope(e.secret));
  const failed = failedPoints(report, scope?.provider);
  const lanes = [
    ...MOMENTS.filter((m) => events.some((e) => e.kind === m.kind)).map((m) => ({
      ...m,
      marks: events
        .filter((e) => e.kind === m.kind)
        .map((e) => ({
          at: e.at,
          title: `${when(e.at)} · ${m.label}${e.secret ? ` · ${e.secret}` : ''}: ${e.detail}`,
        })),
    })),
    {
      kind: 'failed' as const,
      label: 'failed calls',
      color: FAILED_COLOR,
      marks: failed.flatMap((n, second) =>
        n > 0
          ? [{ at: (second + 0.5) * 1000, count: n, title: `${n} failed call(s) in ${when(second * 1000)}` }]
          : [],
      ),
    },
  ];
  const axisTop = lanesTop + lanes.length * LANE_HEIGHT + 4;
  const height = axisTop + (main ? 40 : 20);

  // Bands first, so everything else draws over them.
  const bandIndex = (at: number) => bands.findIndex((b) => at >= b.startedAt && at < b.endedAt);
  svg.unshift(
    ...bands.map(
      (b, i) =>
        `<rect class="band" data-kind="scenario" data-scenario="${escapeHtml(b.name)}" x="${x(b.startedAt).toFixed(1)}" y="${plotTop}" width="${Math.max(1, x(b.endedAt) - x(b.startedAt)).toFixed(1)}" height="${axisTop - plotTop}" fill="${b.ok ? (i % 2 === 0 ? '#f3f4f6' : '#e5e7eb') : '#fee2e2'}"><title>${escapeHtml(`${b.name}: ${when(b.startedAt)} – ${when(b.endedAt)}${b.ok ? '' : ' · FAILED'}`)}</title></rect>`,
    ),
  );

  const series = chartSeries(report, scope?.provider);
  const colors = seriesColors(report);
  const totals = report.timeline.buckets.map((_, t) => series.reduce((n, s) => n + s.points[t]!, 0));
  const max = Math.max(1, ...totals);
  const y = (value: number) => plotBottom - (value / max) * plotHeight;
  const stacked = new Array<number>(seconds).fill(0);
  for (const s of series) {
    const lower = [...stacked];
    s.points.forEach((v, t) => {
      stacked[t]! += v;
    });
    const top = stacked.map((v, t) => `${x((t + 0.5) * 1000).toFixed(1)},${y(v).toFixed(1)}`);
    const bottom = lower.map((v, t) => `${x((t + 0.5) * 1000).toFixed(1)},${y(v).toFixed(1)}`).reverse();
    svg.push(
      `<polygon class="series" data-series="${escapeHtml(s.name)}" fill="${colors.get(s.generation)}" fill-opacity="0.8" points="${[...top, ...bottom].join(' ')}"><title>${escapeHtml(s.name)}</title></polygon>`,
    );
  }
  if (failed.some((n) => n > 0)) {
    const top = failed.map((v, t) => `${x((t + 0.5) * 1000).toFixed(1)},${y(v).toFixed(1)}`);
    svg.push(
      `<polygon class="failed" fill="${FAILED_COLOR}" fill-opacity="0.85" stroke="${FAILED_COLOR}" points="${x(500).toFixed(1)},${y(0)} ${top.join(' ')} ${x((seconds - 0.5) * 1000).toFixed(1)},${y(0)}"><title>failed calls per real second</title></polygon>`,
    );
  }
  // Scenario boundaries over the calls, which cover the bands' shading in the plot.
  for (const at of [...bands.map((b) => b.startedAt), ...bands.slice(-1).map((b) => b.endedAt)])
    svg.push(
      `<line class="band-edge" x1="${x(at).toFixed(1)}" x2="${x(at).toFixed(1)}" y1="${plotTop}" y2="${axisTop}" stroke="#111827" stroke-opacity="0.45"/>`,
    );
  svg.push(
    `<line x1="${left}" x2="${right}" y1="${y(0)}" y2="${y(0)}" stroke="#6b7280"/>`,
    `<line x1="${left}" x2="${right}" y1="${y(max)}" y2="${y(max)}" stroke="#d1d5db" stroke-dasharray="2,3"/>`,
    `<text class="y-label" x="${left - 8}" y="${y(max) + 4}" font-size="${FONT_SIZE}" text-anchor="end" fill="#374151">${max}</text>`,
    `<text class="y-label" x="${left - 8}" y="${plotTop + plotHeight / 2}" font-size="${FONT_SIZE}" text-anchor="end" fill="#6b7280">calls per</text>`,
    `<text class="y-label" x="${left - 8}" y="${plotTop + plotHeight / 2 + 14}" font-size="${FONT_SIZE}" text-anchor="end" fill="#6b7280">real second</text>`,
  );

  lanes.forEach((lane, i) => {
    const cy = lanesTop + i * LANE_HEIGHT + LANE_HEIGHT / 2;
    svg.push(
      `<line x1="${left}" x2="${right}" y1="${cy}" y2="${cy}" stroke="#d1d5db"/>`,
      `<text class="lane-label" x="${left - 8}" y="${cy + 4}" font-size="${FONT_SIZE}" text-anchor="end" fill="${lane.color}">${lane.label}</text>`,
    );
    for (const mark of lane.marks) {
      const mx = x(mark.at);
      svg.push(
        lane.kind === 'failed'
          ? `<rect class="moment" data-kind="failed" x="${(mx - 2).toFixed(1)}" y="${cy - 6}" width="4" height="12" fill="${FAILED_COLOR}"><title>${escapeHtml(mark.title)}</title></rect>`
          : `<path class="moment" data-kind="${lane.kind}" d="${glyph(lane.kind, mx, cy)}" fill="${lane.kind === 'recover' ? '#fff' : lane.color}" stroke="${lane.color}" stroke-width="${lane.kind === 'revoke' || lane.kind === 'recover' ? 2 : 1}"><title>${escapeHtml(mark.title)}</title></path>`,
      );
    }
    if (lane.kind === 'failed' && lane.marks.length === 0) {
      svg.push(
        `<text class="moment-count" x="${left + 6}" y="${cy + 4}" font-size="${FONT_SIZE}" fill="#15803d">none</text>`,
      );
      return;
    }
    // Counts: per scenario for moments, per second for failed calls; each placed right of its marks, else
    // left of them, else left out.
    const clusters = new Map<number, { first: number; last: number; n: number }>();
    for (const mark of lane.marks) {
      const key = 'count' in mark ? mark.at : bandIndex(mark.at);
      const cluster = clusters.get(key);
      const mx = x(mark.at);
      const n = 'count' in mark ? mark.count : 1;
      if (cluster) clusters.set(key, { first: cluster.first, last: mx, n: cluster.n + n });
      else clusters.set(key, { first: mx, last: mx, n });
    }
    const taken: Array<[number, number]> = lane.marks.map((m) => [
      x(m.at) - MARK_RADIUS,
      x(m.at) + MARK_RADIUS,
    ]);
    const free = ([start, end]: [number, number]) =>
      start >= left && end <= right && taken.every(([a, b]) => end <= a || start >= b);
    for (const cluster of clusters.values()) {
      const text = lane.kind === 'failed' ? String(cluster.n) : cluster.n > 1 ? `×${cluster.n}` : undefined;
      if (!text) continue;
      const w = textWidth(text);
      const span = [
        [cluster.last + MARK_RADIUS + 1, cluster.last + MARK_RADIUS + 1 + w] as [number, number],
        [cluster.first - MARK_RADIUS - 1 - w, cluster.first - MARK_RADIUS - 1] as [number, number],
      ].find(free);
      if (!span) continue;
      taken.push(span);
      svg.push(
        `<text class="moment-count" x="${span[0].toFixed(1)}" y="${cy + 4}" font-size="${FONT_SIZE}" fill="${lane.color}">${text}</text>`,
      );
    }
  });

  const extentS = seconds * scale;
  const step = TICK_STEPS_S.find((s) => extentS / s <= (right - left) / 90) ?? Math.ceil(extentS / 10);
  let lastEnd = Number.NEGATIVE_INFINITY;
  svg.push(`<line x1="${left}" x2="${right}" y1="${axisTop}" y2="${axisTop}" stroke="#6b7280"/>`);
  for (let t = 0; t <= extentS; t += step) {
    const tx = x((t / scale) * 1000);
    const label = formatDuration(t);
    const w = textWidth(label);
    if (tx - w / 2 < lastEnd + 8 || tx + w / 2 > width - 2) continue;
    lastEnd = tx + w / 2;
    svg.push(
      `<line x1="${tx.toFixed(1)}" x2="${tx.toFixed(1)}" y1="${axisTop}" y2="${axisTop + 4}" stroke="#6b7280"/>`,
      `<text class="tick" x="${tx.toFixed(1)}" y="${axisTop + 15}" font-size="${FONT_SIZE}" text-anchor="middle" fill="#374151">${label}</text>`,
    );
  }
  if (main)
    svg.push(
      `<text class="axis-title" x="${((left + right) / 2).toFixed(1)}" y="${axisTop + 34}" font-size="12" text-anchor="middle" fill="#111827">${escapeHtml(axisTitle(report))}</text>`,
    );
  return `<svg id="${chart.id}" class="timeline" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${width} ${height}" width="100%" role="img" aria-label="${escapeHtml(`rehearsal timeline${scope ? ` of the ${scope.provider} keys` : ''}`)}">
${svg.join('\n')}
</svg>`;
}

/** The time axis says which clock it shows: the fleet's buckets are real seconds, the keys live in simulated time. */
function axisTitle(report: RehearsalReport): string {
  const seconds = Math.max(1, report.timeline.buckets.length);
  const scale = report.options.scale;
  return scale === 1
    ? `time since the fleet started (real time: the clock is not compressed; ${seconds} s)`
    : `simulated time since the fleet started (clock ×${scale}: ${seconds} s real = ${formatDuration(seconds * scale)} simulated)`;
}

function providerCharts(report: RehearsalReport): string {
  return providerGroups(report)
    .map(({ provider, secrets }) => {
      const scope = new Set(secrets);
      const events = report.timeline.events.filter((e) => e.secret !== undefined && scope.has(e.secret));
      const count = (kind: TimelineEventKind) => events.filter((e) => e.kind === kind).length;
      const failed = failedPoints(report, provider).reduce((n, c) => n + c, 0);
      const caption = [
        provider,
        secrets.length === 1 ? secrets[0]! : `${secrets.length} keys`,
        `${count('rotate')} rotation(s) started`,
        `${count('revoke')} key(s) revoked`,
        `${failed} failed call(s)`,
      ].join(' · ');
      return `<figure class="provider" data-provider="${escapeHtml(provider)}"><figcaption>${escapeHtml(caption)}</figcaption>
${timelineSvg(report, { id: `timeline-${provider.replace(/[^a-z0-9-]/gi, '-')}`, width: 560, plotHeight: 64, scope: { provider, secrets: scope }, main: false })}
</figure>`;
    })
    .join('\n');
}

/**
 * A self-contained HTML page: verdict, the timeline (scenario bands, calls per second by key version, the
 * moments of the keys' lifecycle, failed calls), one timeline per provider, and the table with every
 * invariant. Static SVG and CSS, no scripts or fonts to fetch, so it opens in any browser offline. The data
 * is embedded as JSON for machines.
 */
export function renderHtml(report: RehearsalReport): string {
  const series = chartSeries(report);
  const colors = seriesColors(report);
  const legend = [
    ...series.map(
      (s) =>
        `<span class="swatch" style="background:${colors.get(s.generation)}"></span>${escapeHtml(s.name)}`,
    ),
    `<span class="swatch" style="background:${FAILED_COLOR}"></span>failed calls`,
  ].join(' &nbsp; ');
  const rows = report.scenarios
    .map(
      (s) =>
        `<tr class="${s.ok ? 'pass' : 'fail'}"><td>${escapeHtml(s.name)}<div class="guide">${escapeHtml(s.guide)}</div></td><td>${s.calls}</td><td>${s.failed}</td><td>${s.versionsSeen}</td><td>${s.providerKeysAtEnd}</td><td>${s.timeToRevokeMs === undefined ? '—' : `${(s.timeToRevokeMs / 1000).toFixed(2)} s`}</td><td>${s.interruptionMs === undefined ? '—' : `${s.interruptionMs} ms`}</td><td>${s.invariants
          .map(
            (i) =>
              `<div class="${i.ok ? 'ok' : 'bad'}">${i.ok ? '✓' : '✗'} ${escapeHtml(i.invariant)}${i.detail ? ` <span class="detail">(${escapeHtml(i.detail)})</span>` : ''}</div>`,
          )
          .join(
            '',
          )}${s.checks.map((c) => `<div class="${c.ok ? 'ok' : 'bad'}">${c.ok ? '✓' : '✗'} ${escapeHtml(c.name)}${c.detail ? ` <span class="detail">(${escapeHtml(c.detail)})</span>` : ''}</div>`).join('')}</td><td>${s.ok ? 'PASS' : 'FAIL'}</td></tr>`,
    )
    .join('\n');
  const o = report.options;
  const breaches = report.verdict.breaches;
  const verdict = report.verdict.ok
    ? '<div class="verdict pass">PASS — every invariant held in every scenario</div>'
    : `<div class="verdict fail">FAIL — ${breaches.length} breach${breaches.length === 1 ? '' : 'es'}<ul>${breaches.map((b) => `<li>${escapeHtml(b)}</li>`).join('')}</ul></div>`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>rekey rehearsal — ${report.verdict.ok ? 'PASS' : 'FAIL'}</title>
<style>
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#111827;max-width:1100px}
h1{font-size:20px;margin:0 0 4px} h2{font-size:16px;margin:20px 0 4px} .meta,.hint{color:#6b7280} .meta{margin-bottom:16px} .hint{font-size:12px;margin:0 0 6px}
.verdict{padding:10px 14px;border-radius:6px;font-weight:600;margin:12px 0} .verdict ul{margin:6px 0 0;padding-left:20px;font-weight:400}
.verdict.pass{background:#dcfce7;color:#14532d} .verdict.fail{background:#fee2e2;color:#7f1d1d}
table{border-collapse:collapse;width:100%;margin-top:16px} th,td{border-bottom:1px solid #e5e7eb;padding:6px 8px;text-align:left;vertical-align:top}
th{background:#f9fafb} tr.fail td:last-child{color:#b91c1c;font-weight:600} tr.pass td:last-child{color:#15803d;font-weight:600}
.guide,.detail{color:#6b7280;font-size:12px} .ok{color:#15803d} .bad{color:#b91c1c}
.legend{font-size:12px;color:#374151;margin-top:6px} .swatch{display:inline-block;width:12px;height:12px;margin-right:4px;vertical-align:-2px}
svg{background:#fff;border:1px solid #e5e7eb;border-radius:6px;display:block}
.providers{display:grid;grid-template-columns:repeat(auto-fill,minmax(480px,1fr));gap:12px}
figure{margin:0} figcaption{font-size:12px;color:#374151;margin-bottom:2px}
</style></head><body>
<h1>rekey rehearsal</h1>
<div class="meta">${escapeHtml(report.startedAt)} · ${o.keys} keys · ${o.instances} instances · ${o.rps} calls/s · providers ${escapeHtml(o.providers.join(', '))} · seed ${o.seed} · clock ×${o.scale} (grace ${o.graceSeconds} s simulated = ${((o.graceSeconds * 1000) / o.scale / 1000).toFixed(1)} s real) · ran ${(report.durationMs / 1000).toFixed(1)} s</div>
${verdict}
<h2>Timeline</h2>
<p class="hint">Scenarios as bands; calls per real second by key version, stacked, failed calls in red over them; below, the moments of the keys' lifecycle (×n: n of them in that scenario; hover a mark for its details).</p>
${timelineSvg(report, { id: 'timeline', width: 960, plotHeight: 180, main: true })}
<div class="legend">${legend}</div>
<h2>By provider</h2>
<p class="hint">The same timeline for each provider's keys (same time axis as above).</p>
<div class="providers">
${providerCharts(report)}
</div>
<h2>Scenarios</h2>
<table><thead><tr><th>scenario</th><th>calls</th><th>failed</th><th>key versions seen</th><th>provider keys at end</th><th>time to revoke (real)</th><th>interruption (real)</th><th>invariants and checks</th><th>result</th></tr></thead>
<tbody>
${rows}
</tbody></table>
<script type="application/json" id="rekey-report">${JSON.stringify(reportDocument(report)).replace(/</g, '\\u003c')}</script>
</body></html>
`;
}

/** Writes `<path>.json` and the self-contained `<path>.html` (the directory must exist: see reportPath). */
export async function writeReport(report: RehearsalReport, path: string): Promise<void> {
  await writeFile(`${path}.json`, `${JSON.stringify(reportDocument(report), null, 2)}\n`);
  await writeFile(`${path}.html`, renderHtml(report));
}

/** What a run prints: the report as JSON, or the table, the verdict and where the files are. */
export function reportText(report: RehearsalReport, path: string, json: boolean, heading?: string): string {
  if (json) return JSON.stringify(reportDocument(report), null, 2);
  return [
    '',
    ...(heading ? [heading] : []),
    formatTable(report),
    '',
    formatVerdict(report),
    '',
    formatCost(report),
    `report: ${path}.json, ${path}.html`,
  ].join('\n');
}
