/** The figures the bench prints: a median and the range (min–max) of several measured rounds. */
export interface Spread {
  median: number;
  min: number;
  max: number;
  rounds: number;
}

export function spread(values: readonly number[]): Spread {
  if (values.length === 0) throw new Error('spread of no rounds');
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  return { median, min: sorted[0]!, max: sorted[sorted.length - 1]!, rounds: sorted.length };
}

/** 1234567 → "1.23M", 54321 → "54.3k", 812 → "812". */
export function compact(n: number): string {
  const abs = Math.abs(n);
  if (abs >= 1e6) return `${(n / 1e6).toFixed(abs >= 1e7 ? 1 : 2)}M`;
  if (abs >= 1e4) return `${(n / 1e3).toFixed(abs >= 1e5 ? 0 : 1)}k`;
  if (abs >= 100 || Number.isInteger(n)) return String(Math.round(n));
  return n.toFixed(1);
}

/** "1.23M (1.10M–1.30M)"; a single round or an exact figure prints alone. */
export function showSpread(s: Spread, format: (n: number) => string = compact): string {
  if (s.rounds === 1 || s.min === s.max) return format(s.median);
  return `${format(s.median)} (${format(s.min)}–${format(s.max)})`;
}

export const ratio = (a: number, b: number): string => (b === 0 ? '—' : `${(a / b).toFixed(2)}×`);

/** Left-aligned first column, right-aligned others; widths fitted to the content. */
export function table(header: string[], rows: string[][]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)];
}
