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
