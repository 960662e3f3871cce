import { writeFile } from 'node:fs/promises';
import type { RehearsalReport } from './rehearsal.js';

const COLORS = ['#2563eb', '#16a34a', '#d97706', '#9333ea', '#0891b2', '#db2777', '#65a30d', '#475569'];
const EVENT_COLORS: Record<string, string> = {
  scenario: '#111827',
  rotate: '#2563eb',
  promote: '#16a34a',
  revoke: '#dc2626',
  rollback: '#9333ea',
  fault: '#d97706',
  recover: '#0891b2',
};

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

export function formatVerdict(report: RehearsalReport): string {
  if (report.verdict.ok) {
    return `VERDICT: PASS — every invariant held in every scenario (${report.scenarios.length} scenarios, ${report.scenarios.reduce((n, s) => n + s.calls, 0)} calls, 0 failed where zero downtime is promised)`;
  }
  return ['VERDICT: FAIL', ...report.verdict.breaches.map((b) => `  ✗ ${b}`)].join('\n');
}

const escapeHtml = (text: string): string => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** Series of the chart: calls per second by key generation (the n-th key of each secret), across secrets. */
export function chartSeries(report: RehearsalReport): Array<{ name: string; points: number[] }> {
  const generations = new Set<string>();
  for (const b of report.timeline.buckets)
    for (const label of Object.keys(b.byKey)) generations.add(label.split('#')[1] ?? '?');
  const sorted = [...generations].sort((a, b) => (a === '?' ? 1 : b === '?' ? -1 : Number(a) - Number(b)));
  return sorted.map((g) => ({
    name:
      g === '1'
        ? 'original keys'
        : g === '?'
          ? 'no key (vault unreachable, nothing cached)'
          : `key version ${g}`,
    points: report.timeline.buckets.map((b) =>
      Object.entries(b.byKey).reduce((n, [label, count]) => (label.endsWith(`#${g}`) ? n + count : n), 0),
    ),
  }));
}

/**
 * A self-contained HTML page: verdict, table, invariants and a timeline chart (calls per second by key
 * version, create/promote/revoke/rollback moments, failures in red). Static SVG, no scripts or fonts to
 * fetch, so it opens in any browser offline. The data is embedded as JSON for machines.
 */
export function renderHtml(report: RehearsalReport): string {
  const width = 960;
  const height = 280;
  const pad = { left: 48, right: 16, top: 16, bottom: 28 };
  const seconds = Math.max(1, report.timeline.buckets.length);
  const series = chartSeries(report);
  const totals = report.timeline.buckets.map((b) => Object.values(b.byKey).reduce((n, c) => n + c, 0));
  const max = Math.max(1, ...totals);
  const x = (second: number) => pad.left + (second / seconds) * (width - pad.left - pad.right);
  const y = (value: number) => height - pad.bottom - (value / max) * (height - pad.top - pad.bottom);
  const stacked = new Array<number>(seconds).fill(0);
  const areas = series.map((s, i) => {
    const lower = [...stacked];
    s.points.forEach((v, t) => {
      stacked[t]! += v;
    });
    const top = stacked.map((v, t) => `${x(t + 0.5).toFixed(1)},${y(v).toFixed(1)}`);
    const bottom = lower.map((v, t) => `${x(t + 0.5).toFixed(1)},${y(v).toFixed(1)}`).reverse();
    return `<polygon class="series" data-series="${escapeHtml(s.name)}" fill="${COLORS[i % COLORS.length]}" fill-opacity="0.75" points="${[...top, ...bottom].join(' ')}"/>`;
  });
  const failures = report.timeline.buckets
    .filter((b) => b.failed > 0)
    .map(
      (b) =>
        `<circle class="failure" cx="${x(b.second + 0.5).toFixed(1)}" cy="${y(0).toFixed(1)}" r="5" fill="#dc2626"><title>${b.failed} failed call(s) at ${b.second}s</title></circle>`,
    );
  const events = report.timeline.events
    .filter((e) => e.kind !== 'promote' || report.timeline.events.length < 400)
    .map((e) => {
      const ex = x(e.at / 1000).toFixed(1);
      const color = EVENT_COLORS[e.kind] ?? '#111827';
      return `<line class="event" data-kind="${e.kind}" x1="${ex}" x2="${ex}" y1="${pad.top}" y2="${height - pad.bottom}" stroke="${color}" stroke-width="${e.kind === 'scenario' ? 1.5 : 1}" stroke-dasharray="${e.kind === 'scenario' ? '' : '3,3'}"><title>${escapeHtml(`${(e.at / 1000).toFixed(2)}s ${e.kind}${e.secret ? ` ${e.secret}` : ''}: ${e.detail}`)}</title></line>`;
    });
  const ticks = Array.from({ length: Math.min(12, seconds) + 1 }, (_, i) =>
    Math.round((i * seconds) / Math.min(12, seconds)),
  );
  const axis = [
    `<line x1="${pad.left}" x2="${width - pad.right}" y1="${y(0)}" y2="${y(0)}" stroke="#9ca3af"/>`,
    ...ticks.map(
      (t) =>
        `<text x="${x(t).toFixed(1)}" y="${height - 8}" font-size="11" text-anchor="middle" fill="#6b7280">${t}s</text>`,
    ),
    `<text x="${pad.left - 6}" y="${y(max) + 4}" font-size="11" text-anchor="end" fill="#6b7280">${max}/s</text>`,
  ];
  const legend = [
    ...series.map(
      (s, i) =>
        `<span class="swatch" style="background:${COLORS[i % COLORS.length]}"></span>${escapeHtml(s.name)}`,
    ),
    ...Object.entries(EVENT_COLORS).map(
      ([kind, color]) => `<span class="swatch line" style="border-color:${color}"></span>${kind}`,
    ),
    '<span class="swatch" style="background:#dc2626;border-radius:50%"></span>failed calls',
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
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>rekey rehearsal — ${report.verdict.ok ? 'PASS' : 'FAIL'}</title>
<style>
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#111827;max-width:1100px}
h1{font-size:20px;margin:0 0 4px} .meta{color:#6b7280;margin-bottom:16px}
.verdict{padding:10px 14px;border-radius:6px;font-weight:600;margin:12px 0}
.verdict.pass{background:#dcfce7;color:#14532d} .verdict.fail{background:#fee2e2;color:#7f1d1d}
table{border-collapse:collapse;width:100%;margin-top:16px} th,td{border-bottom:1px solid #e5e7eb;padding:6px 8px;text-align:left;vertical-align:top}
th{background:#f9fafb} tr.fail td:last-child{color:#b91c1c;font-weight:600} tr.pass td:last-child{color:#15803d;font-weight:600}
.guide,.detail{color:#6b7280;font-size:12px} .ok{color:#15803d} .bad{color:#b91c1c}
.legend{font-size:12px;color:#374151;margin-top:6px} .swatch{display:inline-block;width:12px;height:12px;margin-right:4px;vertical-align:-2px}
.swatch.line{width:0;height:12px;border-left:2px dashed;margin-left:6px} svg{background:#fff;border:1px solid #e5e7eb;border-radius:6px}
</style></head><body>
<h1>rekey rehearsal</h1>
<div class="meta">${escapeHtml(report.startedAt)} · ${o.keys} keys · ${o.instances} instances · ${o.rps} calls/s · providers ${escapeHtml(o.providers.join(', '))} · seed ${o.seed} · clock ×${o.scale} (grace ${o.graceSeconds}s simulated = ${((o.graceSeconds * 1000) / o.scale / 1000).toFixed(1)}s real) · ${(report.durationMs / 1000).toFixed(1)}s</div>
<div class="verdict ${report.verdict.ok ? 'pass' : 'fail'}">${report.verdict.ok ? 'PASS — every invariant held in every scenario' : `FAIL — ${report.verdict.breaches.map(escapeHtml).join('<br>')}`}</div>
<h2>Calls per second by key version</h2>
<svg id="timeline" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${width} ${height}" width="100%">
${axis.join('\n')}
${areas.join('\n')}
${events.join('\n')}
${failures.join('\n')}
</svg>
<div class="legend">${legend}</div>
<table><thead><tr><th>scenario</th><th>calls</th><th>failed</th><th>key versions seen</th><th>provider keys at end</th><th>time to revoke</th><th>interruption</th><th>invariants and checks</th><th>result</th></tr></thead>
<tbody>
${rows}
</tbody></table>
<script type="application/json" id="rekey-report">${JSON.stringify(report).replace(/</g, '\\u003c')}</script>
</body></html>
`;
}

/** Writes `<path>.json` and the self-contained `<path>.html` (the directory must exist: see reportPath). */
export async function writeReport(report: RehearsalReport, path: string): Promise<void> {
  await writeFile(`${path}.json`, `${JSON.stringify(report, null, 2)}\n`);
  await writeFile(`${path}.html`, renderHtml(report));
}

/** What a run prints: the report as JSON, or the table, the verdict and where the files are. */
export function reportText(report: RehearsalReport, path: string, json: boolean, heading?: string): string {
  if (json) return JSON.stringify(report, null, 2);
  return [
    '',
    ...(heading ? [heading] : []),
    formatTable(report),
    '',
    formatVerdict(report),
    '',
    `report: ${path}.json, ${path}.html`,
  ].join('\n');
}
