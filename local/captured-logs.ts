/** A log sink that keeps every line, so tests and the rehearsal can scan for secret values. */
export class CapturedLogs {
  readonly lines: string[] = [];
  readonly sink = (line: string): void => {
    this.lines.push(line);
  };
  /** Lines containing any of `values`. */
  leaks(values: Iterable<string>): string[] {
    return linesContaining(this.lines, values);
  }
  records(): Array<Record<string, unknown>> {
    return this.lines.map((line) => JSON.parse(line) as Record<string, unknown>);
  }
}

/** The shortest value indexed by prefix; shorter ones are looked for one by one. */
const PREFIX = 8;

/**
 * Which of `lines` contain one of `values`, in time linear in the lines' length: values are indexed by their
 * first characters, so thousands of key values cost no more per line than a few.
 */
export function linesContaining(lines: readonly string[], values: Iterable<string>): string[] {
  const byPrefix = new Map<string, string[]>();
  const short: string[] = [];
  for (const value of values) {
    if (value.length === 0) continue;
    if (value.length < PREFIX) {
      short.push(value);
      continue;
    }
    const prefix = value.slice(0, PREFIX);
    byPrefix.set(prefix, [...(byPrefix.get(prefix) ?? []), value]);
  }
  const holds = (line: string): boolean => {
    if (short.some((v) => line.includes(v))) return true;
    for (let i = 0; i + PREFIX <= line.length; i++) {
      const candidates = byPrefix.get(line.slice(i, i + PREFIX));
      if (candidates?.some((v) => line.startsWith(v, i))) return true;
    }
    return false;
  };
  return lines.filter(holds);
}

/**
 * Scans lines for secret values as they are written, keeping only the lines that hold one: for a component
 * that writes many lines for a long run (a fleet's usage lines), where keeping every line would grow without
 * bound. Lines wait in a batch until it fills (or `flush`); a batch is scanned against every value issued by
 * then, which includes every value a line in it could hold — a line cannot hold a key issued after it.
 */
export class LeakScan {
  private batch: string[] = [];
  private readonly found: string[] = [];
  private count = 0;

  constructor(
    private readonly issued: () => Iterable<string>,
    private readonly batchSize = 5000,
  ) {}

  readonly sink = (line: string): void => {
    this.batch.push(line);
    if (this.batch.length >= this.batchSize) this.flush();
  };

  flush(): void {
    if (this.batch.length === 0) return;
    this.found.push(...linesContaining(this.batch, this.issued()));
    this.count += this.batch.length;
    this.batch = [];
  }

  /** Lines scanned so far, after a flush of what is waiting. */
  scanned(): number {
    this.flush();
    return this.count;
  }

  /** The lines that held a secret value. */
  leaks(): string[] {
    this.flush();
    return [...this.found];
  }
}
