/**
 * The one structured logger. It writes one JSON object per line and redacts on the way out:
 * fields whose names carry key material are masked, and every value registered with `protect()`
 * is replaced wherever it appears (messages, nested fields, error messages and stacks).
 */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type LogSink = (line: string) => void;

const LEVELS: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };
const SENSITIVE_FIELD =
  /^(key|value|secret|secretstring|secret_string|password|apikey|api_key|token|authorization|credential|clientsecret)$/i;
const MASK = '[REDACTED]';
// Values shorter than this are not worth masking globally (they would mask ordinary words).
const MIN_PROTECTED_LENGTH = 8;

export class Logger {
  private readonly protectedValues: Set<string>;

  constructor(
    private readonly sink: LogSink = (line) => process.stdout.write(`${line}\n`),
    private readonly baseFields: Record<string, unknown> = {},
    private readonly minLevel: LogLevel = (process.env.REKEY_LOG_LEVEL as LogLevel | undefined) ?? 'info',
    protectedValues?: Set<string>,
  ) {
    this.protectedValues = protectedValues ?? new Set();
  }

  /** Registers a value (a key, a credential) that must never appear in any log line. */
  protect(...values: Array<string | undefined>): void {
    for (const value of values) {
      if (value && value.length >= MIN_PROTECTED_LENGTH) this.protectedValues.add(value);
    }
  }

  /** A logger that adds `fields` to every line and shares this one's protected values. */
  child(fields: Record<string, unknown>): Logger {
    return new Logger(this.sink, { ...this.baseFields, ...fields }, this.minLevel, this.protectedValues);
  }

  debug(message: string, fields: Record<string, unknown> = {}): void {
    this.write('debug', message, fields);
  }
  info(message: string, fields: Record<string, unknown> = {}): void {
    this.write('info', message, fields);
  }
  warn(message: string, fields: Record<string, unknown> = {}): void {
    this.write('warn', message, fields);
  }
  error(message: string, fields: Record<string, unknown> = {}): void {
    this.write('error', message, fields);
  }

  /** Masks protected values in a free-form string. */
  redact(text: string): string {
    let out = text;
    for (const value of this.protectedValues) {
      if (out.includes(value)) out = out.split(value).join(MASK);
    }
    return out;
  }

  private write(level: LogLevel, message: string, fields: Record<string, unknown>): void {
    if (LEVELS[level] < LEVELS[this.minLevel]) return;
    const record = { level, time: new Date().toISOString(), message, ...this.baseFields, ...fields };
    this.sink(this.redact(JSON.stringify(this.sanitize(record, 0))));
  }

  private sanitize(value: unknown, depth: number): unknown {
    if (depth > 8) return '[DEPTH]';
    if (value instanceof Error) return serializeError(value, (v) => this.sanitize(v, depth + 1));
    if (Array.isArray(value)) return value.map((item) => this.sanitize(item, depth + 1));
    if (value && typeof value === 'object') {
      const out: Record<string, unknown> = {};
      for (const [name, field] of Object.entries(value)) {
        out[name] =
          SENSITIVE_FIELD.test(name) && field !== undefined && field !== null
            ? MASK
            : this.sanitize(field, depth + 1);
      }
      return out;
    }
    return value;
  }
}

function serializeError(error: Error, sanitize: (v: unknown) => unknown): Record<string, unknown> {
  const out: Record<string, unknown> = { name: error.name, message: error.message };
  for (const field of ['code', 'retryable', 'secretId', 'field', 'status'] as const) {
    const v = (error as unknown as Record<string, unknown>)[field];
    if (v !== undefined) out[field] = v;
  }
  if (error.cause !== undefined) out.cause = sanitize(error.cause);
  return out;
}

/** The process-wide logger Lambda handlers use. Tests build their own with a capturing sink. */
export const rootLogger = new Logger();
