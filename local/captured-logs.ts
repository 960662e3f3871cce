/** A log sink that keeps every line, so tests and the rehearsal can scan for secret values. */
export class CapturedLogs {
  readonly lines: string[] = [];
  readonly sink = (line: string): void => {
    this.lines.push(line);
  };
  /** Lines containing any of `values`. */
  leaks(values: Iterable<string>): string[] {
    const list = [...values].filter((v) => v.length > 0);
    return this.lines.filter((line) => list.some((v) => line.includes(v)));
  }
  records(): Array<Record<string, unknown>> {
    return this.lines.map((line) => JSON.parse(line) as Record<string, unknown>);
  }
}
