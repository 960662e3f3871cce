import { type Clock, systemClock } from '../clock.js';

/**
 * In-process stand-in for Lambda: functions registered by ARN, invoked by the loopback services the way
 * AWS invokes them. Synchronous invocation (`invoke`) returns the function's result or error to the caller
 * (Secrets Manager rotation steps). Asynchronous invocation (`invokeAsync`: EventBridge Scheduler, SNS) is
 * accepted at once; a function error is retried by Lambda itself — twice by default, one minute then two
 * minutes later — and an event that still fails, or grows older than the maximum event age, goes to the
 * function's on-failure destination, or is discarded when it has none (Lambda developer guide,
 * "Asynchronous invocation" and "Configuring error handling for asynchronous invocation").
 */
export type LambdaFunction = (event: unknown) => Promise<unknown>;

/** PutFunctionEventInvokeConfig's settings. */
export interface AsyncInvokeConfig {
  /** 0–2; default 2. */
  maximumRetryAttempts?: number;
  /** 60–21600 seconds; default 21600. */
  maximumEventAgeSeconds?: number;
  /** ARN of the on-failure destination (an SQS queue, SNS topic…); unset: failed events are discarded. */
  onFailure?: string;
}

/** An asynchronous event Lambda gave up on. */
export interface FailedAsyncEvent {
  arn: string;
  event: unknown;
  error: string;
  attempts: number;
  /** Where Lambda sent the event's record; undefined when it was discarded. */
  destination: string | undefined;
  condition: 'RetriesExhausted' | 'EventAgeExceeded';
}

interface QueuedEvent {
  arn: string;
  event: unknown;
  enqueuedAt: number;
  attempts: number;
  dueAt: number;
}

/** Lambda's waits before the second and the third attempt of an asynchronous event. */
const ASYNC_RETRY_DELAYS_MS = [60_000, 120_000];

export class LambdaRegistry {
  private readonly functions = new Map<string, LambdaFunction>();
  private readonly asyncConfigs = new Map<string, AsyncInvokeConfig>();
  private readonly invocations: Array<{ arn: string; event: unknown; error?: string }> = [];
  private readonly retryQueue: QueuedEvent[] = [];
  private readonly running = new Set<Promise<void>>();
  private duplicates = 0;
  /** Asynchronous events that failed for good: sent to their on-failure destination, or discarded. */
  readonly failedAsync: FailedAsyncEvent[] = [];

  constructor(
    readonly region: string,
    readonly accountId: string,
    private readonly clock: Clock = systemClock,
  ) {}

  /** Registers `fn` under a function name or ARN; returns the ARN. */
  register(nameOrArn: string, fn: LambdaFunction, asyncConfig?: AsyncInvokeConfig): string {
    const arn = nameOrArn.startsWith('arn:')
      ? nameOrArn
      : `arn:aws:lambda:${this.region}:${this.accountId}:function:${nameOrArn}`;
    this.functions.set(arn, fn);
    if (asyncConfig) this.configureAsync(arn, asyncConfig);
    return arn;
  }

  /** What PutFunctionEventInvokeConfig sets (the stack sets it on the revoker). */
  configureAsync(arn: string, config: AsyncInvokeConfig): void {
    const retries = config.maximumRetryAttempts ?? 2;
    const age = config.maximumEventAgeSeconds ?? 21_600;
    if (!Number.isInteger(retries) || retries < 0 || retries > 2)
      throw new Error(`MaximumRetryAttempts must be 0–2, got ${retries}`);
    if (!Number.isInteger(age) || age < 60 || age > 21_600)
      throw new Error(`MaximumEventAgeInSeconds must be 60–21600, got ${age}`);
    this.asyncConfigs.set(arn, config);
  }

  has(arn: string): boolean {
    return this.functions.has(arn);
  }

  /** The next `times` asynchronous events are delivered twice, as Lambda may ("at least once"). */
  deliverTwice(times = 1): void {
    this.duplicates += times;
  }

  /** Synchronous invocation: the caller gets the function's result or its error. */
  async invoke(arn: string, event: unknown): Promise<unknown> {
    const fn = this.functions.get(arn);
    if (!fn) throw new Error(`no function registered for ${arn}`);
    const record: { arn: string; event: unknown; error?: string } = { arn, event };
    this.invocations.push(record);
    try {
      return await fn(structuredClone(event));
    } catch (error) {
      record.error = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
      throw error;
    }
  }

  /**
   * Asynchronous invocation (InvocationType Event): Lambda accepts the event — the caller learns nothing of
   * how the function fares — and runs the first attempt now. Resolves when that attempt has finished, so a
   * test can look at its effects; its error is Lambda's to retry, never the caller's.
   */
  async invokeAsync(arn: string, event: unknown): Promise<void> {
    if (!this.functions.has(arn)) throw new Error(`no function registered for ${arn}`);
    const now = this.clock.now().getTime();
    const copies = this.duplicates > 0 ? 2 : 1;
    if (copies === 2) this.duplicates -= 1;
    const attempts: Array<Promise<void>> = [];
    for (let i = 0; i < copies; i++)
      attempts.push(this.attempt({ arn, event, enqueuedAt: now, attempts: 0, dueAt: now }));
    await Promise.all(attempts);
  }

  /** Runs every asynchronous retry that is due by the clock; resolves when they have finished. */
  async runDue(): Promise<number> {
    const now = this.clock.now().getTime();
    const due = this.retryQueue.filter((q) => q.dueAt <= now);
    for (const queued of due) this.retryQueue.splice(this.retryQueue.indexOf(queued), 1);
    await Promise.all(due.map((queued) => this.attempt(queued)));
    return due.length;
  }

  /** Asynchronous retries waiting for their time. */
  pendingRetries(): number {
    return this.retryQueue.length;
  }

  /** Resolves when no asynchronous attempt is running. */
  async settled(): Promise<void> {
    while (this.running.size > 0) await Promise.allSettled([...this.running]);
  }

  private attempt(queued: QueuedEvent): Promise<void> {
    const run = this.invoke(queued.arn, queued.event).then(
      () => undefined,
      (error: unknown) => this.failed(queued, error),
    );
    const tracked = run.finally(() => this.running.delete(tracked));
    this.running.add(tracked);
    return tracked;
  }

  private failed(queued: QueuedEvent, error: unknown): void {
    const config = this.asyncConfigs.get(queued.arn) ?? {};
    const attempts = queued.attempts + 1;
    const retries = config.maximumRetryAttempts ?? 2;
    const dueAt = this.clock.now().getTime() + (ASYNC_RETRY_DELAYS_MS[attempts - 1] ?? 120_000);
    const maxAgeMs = (config.maximumEventAgeSeconds ?? 21_600) * 1000;
    const tooOld = dueAt - queued.enqueuedAt > maxAgeMs;
    if (attempts <= retries && !tooOld) {
      this.retryQueue.push({ ...queued, attempts, dueAt });
      return;
    }
    this.failedAsync.push({
      arn: queued.arn,
      event: queued.event,
      error: error instanceof Error ? `${error.name}: ${error.message}` : String(error),
      attempts,
      destination: config.onFailure,
      condition: attempts <= retries ? 'EventAgeExceeded' : 'RetriesExhausted',
    });
  }

  /** Every invocation so far, for assertions. */
  history(): ReadonlyArray<{ arn: string; event: unknown; error?: string }> {
    return this.invocations;
  }
}
