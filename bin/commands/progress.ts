import { type FleetPace, type paceReport, providerPace } from './fleet-pace.js';
import type { Journal, JournalDocument, JournalKey } from './journal.js';
import type { PacerStats } from './pacer.js';
import { errorCode } from './runtime.js';
import type { CommandIO } from './types.js';

/** How a key of a fleet run ended, for the summary and `--json`. */
export type KeyOutcome = 'rotated' | 'failed' | 'skipped' | 'not-started' | 'running';

const OUTCOME: Record<JournalKey['status']['state'], KeyOutcome> = {
  done: 'rotated',
  failed: 'failed',
  skipped: 'skipped',
  planned: 'not-started',
  starting: 'running',
  started: 'running',
};

const settled = (key: JournalKey) => key.status.state === 'done' || key.status.state === 'failed';

/** A dry run's plan: the journal a run would start from, its pace and how long it would take. */
export type FleetPlan = JournalDocument & { pace: ReturnType<typeof paceReport>; estimatedSeconds: number };

/** How a fleet run ended: interrupted, stopped by a journal it could not write, keys it lost track of. */
export interface FleetRun {
  interrupted: boolean;
  /** The journal write that failed: the run stopped as a crash would stop it. */
  fatal?: unknown;
  /** Keys AWS gave no answer about; their entries stay as they were, for a resume. */
  unsettled: Array<{ name: string; reason: string }>;
}

/** ANSI: up one line, then erase it — the bar is redrawn where it was. */
const OVERWRITE = '\u001b[1A\u001b[2K';

/** `12s`, `3m 05s` */
function clock(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  return s < 60 ? `${s}s` : `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, '0')}s`;
}

function keyLine(key: JournalKey, index: number, total: number): string {
  const at = `[${String(index).padStart(String(total).length)}/${total}]`;
  const { status } = key;
  if (status.state === 'done')
    return `${at} ${key.name}  ${key.provider}  rotated  version ${status.versionId}  ${status.seconds.toFixed(1)}s`;
  if (status.state === 'failed')
    return `${at} ${key.name}  ${key.provider}  failed (${status.code}): ${status.reason}`;
  return `${at} ${key.name}  ${key.provider}  ${OUTCOME[status.state]}`;
}

/**
 * What a fleet run shows while it runs: on a terminal one progress line — done/total, keys per second, ETA,
 * the start rate — redrawn in place (failures are printed above it); elsewhere a line per key as it settles;
 * with `--json`, nothing until the report.
 */
export class FleetProgress {
  private readonly total: number;
  private settledCount: number;
  private readonly settledBefore: number;
  private readonly startedAt = Date.now();
  private timer: NodeJS.Timeout | undefined;
  private drawn = false;

  /** Prints the run's header (and starts the bar on a terminal) unless `json`. */
  constructor(
    private readonly io: CommandIO,
    journal: Journal,
    pace: FleetPace,
    private readonly options: { json: boolean; estimateSeconds: number; rate: () => number },
  ) {
    this.total = journal.keys.filter((k) => k.status.state !== 'skipped').length;
    this.settledCount = journal.keys.filter(settled).length;
    this.settledBefore = this.settledCount;
    if (!options.json) this.begin(journal, pace);
  }

  private begin(journal: Journal, pace: FleetPace): void {
    const { document } = journal;
    const estimateSeconds = this.options.estimateSeconds;
    const resumed =
      this.settledBefore > 0 ||
      journal.keys.some((k) => k.status.state !== 'planned' && k.status.state !== 'skipped');
    this.io.out(
      `${resumed ? 'resuming' : 'rotating'} ${this.total} key(s) (${document.selection.join(' ')}${document.emergency ? ', emergency' : ''}) of ${document.inventory}: ${paceText(journal.keys, pace)}; about ${clock(estimateSeconds)}`,
    );
    for (const key of journal.keys)
      if (key.status.state === 'skipped') this.io.out(`  skipped ${key.name}: ${key.status.reason}`);
    this.io.out(`journal ${journal.path} (after Ctrl-C or a crash: rekey rotate --resume ${journal.path})`);
    if (this.io.isTTY) {
      this.draw();
      this.timer = setInterval(() => this.draw(), 500);
      this.timer.unref();
    }
  }

  changed(key: JournalKey): void {
    if (this.options.json || !settled(key)) return;
    this.settledCount += 1;
    if (!this.io.isTTY) {
      this.io.out(keyLine(key, this.settledCount, this.total));
      return;
    }
    if (key.status.state === 'failed') {
      this.io.out(`${this.drawn ? OVERWRITE : ''}${keyLine(key, this.settledCount, this.total)}`);
      this.drawn = false;
    }
    this.draw();
  }

  end(): void {
    if (this.timer) clearInterval(this.timer);
    if (this.io.isTTY && !this.options.json) this.draw();
  }

  private draw(): void {
    const width = 24;
    const filled = this.total ? Math.round((this.settledCount / this.total) * width) : width;
    const elapsed = (Date.now() - this.startedAt) / 1000;
    const settledNow = this.settledCount - this.settledBefore;
    const perSecond = elapsed > 0 ? settledNow / elapsed : 0;
    const left = this.total - this.settledCount;
    const eta = settledNow > 0 ? left / perSecond : Math.max(0, this.options.estimateSeconds - elapsed);
    const bar = `[${'█'.repeat(filled)}${'░'.repeat(width - filled)}] ${this.settledCount}/${this.total}  ${perSecond.toFixed(1)} keys/s  ETA ${clock(eta)}  start rate ${this.options.rate().toFixed(1)}/s`;
    this.io.out(`${this.drawn ? OVERWRITE : ''}${bar}`);
    this.drawn = true;
  }
}

function paceText(keys: readonly JournalKey[], pace: FleetPace): string {
  const providers = [...new Set(keys.filter((k) => k.status.state !== 'skipped').map((k) => k.provider))];
  const lanes = providers.map((p) => {
    const lane = providerPace(p, pace);
    return `${p} ${lane.ratePerSecond}/s, ${lane.concurrency} at once`;
  });
  return `up to ${pace.ratePerSecond} starts/s, ${pace.concurrency} at once${lanes.length ? ` (${lanes.join('; ')})` : ''}`;
}

/** The dry run: the keys in the order they would start, the pace, and the estimate. Nothing is changed. */
export function formatPlan(plan: FleetPlan): string {
  const rotating = plan.keys.filter((k) => k.status.state !== 'skipped');
  const rows = plan.keys.map((k, i) => [
    String(i + 1),
    k.name,
    k.provider,
    k.secret,
    k.status.state === 'skipped' ? `skipped: ${k.status.reason}` : 'rotate',
  ]);
  const pace = [
    `fleet: ${plan.pace.ratePerSecond} starts/s, ${plan.pace.concurrency} at once`,
    ...Object.entries(plan.pace.providers).map(
      ([p, lane]) => `${p}: ${lane.ratePerSecond} starts/s, ${lane.concurrency} at once`,
    ),
  ];
  return [
    `dry run: ${plan.selection.join(' ')} selects ${plan.keys.length} key(s) of ${plan.inventory}; ${rotating.length} would be rotated${plan.emergency ? ' as an emergency' : ''}, in this order:`,
    table(['#', 'key', 'provider', 'secret', 'plan'], rows),
    `pace: ${pace.join('; ')}`,
    `estimated duration: about ${clock(plan.estimatedSeconds)} (assuming ~2 s a rotation)`,
    'Nothing was changed and no journal was written.',
  ].join('\n');
}

/** The report of a run (also `--json`): every key's outcome, the totals, the throttling the run absorbed. */
export function fleetReport(journal: Journal, stats: PacerStats, elapsedSeconds: number, run: FleetRun) {
  const keys = journal.keys.map((k) => {
    const { status } = k;
    return {
      name: k.name,
      secret: k.secret,
      provider: k.provider,
      outcome: OUTCOME[status.state],
      ...('versionId' in status && status.versionId ? { versionId: status.versionId } : {}),
      ...('seconds' in status && status.seconds !== undefined ? { seconds: status.seconds } : {}),
      ...(status.state === 'failed' ? { code: status.code, reason: status.reason } : {}),
      ...(status.state === 'skipped' ? { reason: status.reason } : {}),
    };
  });
  const count = (outcome: KeyOutcome) => keys.filter((k) => k.outcome === outcome).length;
  return {
    runId: journal.document.runId,
    journal: journal.path,
    inventory: journal.document.inventory,
    selection: journal.document.selection,
    emergency: journal.document.emergency,
    interrupted: run.interrupted,
    ...(run.fatal
      ? {
          error: {
            code: errorCode(run.fatal),
            message: `the journal could not be written: ${(run.fatal as Error).message ?? String(run.fatal)}`,
          },
        }
      : {}),
    elapsedSeconds: Math.round(elapsedSeconds * 10) / 10,
    totals: {
      keys: keys.length,
      rotated: count('rotated'),
      failed: count('failed'),
      skipped: count('skipped'),
      notStarted: count('not-started'),
      running: count('running'),
    },
    throttling: {
      absorbed: stats.throttles,
      lowestStartRatePerSecond: Math.round(stats.lowestRatePerSecond * 100) / 100,
    },
    keys,
  };
}

export type FleetReport = ReturnType<typeof fleetReport>;

/** The table at the end of a run: key, provider, outcome, version, seconds — and why each failure failed. */
export function formatSummary(report: FleetReport): string {
  const rows = report.keys.map((k) => [
    k.name,
    k.provider,
    k.outcome,
    k.versionId ?? '—',
    k.seconds === undefined ? '—' : k.seconds.toFixed(1),
  ]);
  const { totals, throttling } = report;
  const reasons = report.keys
    .filter((k) => k.outcome === 'failed')
    .map((k) => `  ${k.name}: ${'code' in k ? `(${k.code}) ` : ''}${k.reason}`);
  const throttled =
    throttling.absorbed > 0
      ? `; throttled ${throttling.absorbed} time(s), each retried (start rate lowered to ${throttling.lowestStartRatePerSecond}/s at its lowest)`
      : '; never throttled';
  return [
    table(['key', 'provider', 'outcome', 'version', 'seconds'], rows),
    ...(reasons.length ? ['failed:', ...reasons] : []),
    `${totals.keys} key(s): ${totals.rotated} rotated, ${totals.failed} failed, ${totals.skipped} skipped${totals.notStarted ? `, ${totals.notStarted} not started` : ''}${totals.running ? `, ${totals.running} still rotating` : ''} in ${clock(report.elapsedSeconds)}${throttled}`,
  ].join('\n');
}

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [line(header), widths.map((w) => '─'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}
