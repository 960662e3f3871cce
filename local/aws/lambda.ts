/**
 * In-process stand-in for Lambda: functions registered by ARN, invoked by the loopback services
 * (Secrets Manager rotation, Scheduler targets) the way AWS would, one event at a time.
 */
export type LambdaFunction = (event: unknown) => Promise<unknown>;

export class LambdaRegistry {
  private readonly functions = new Map<string, LambdaFunction>();
  private readonly invocations: Array<{ arn: string; event: unknown; error?: string }> = [];

  constructor(
    readonly region: string,
    readonly accountId: string,
  ) {}

  /** Registers `fn` under a function name or ARN; returns the ARN. */
  register(nameOrArn: string, fn: LambdaFunction): string {
    const arn = nameOrArn.startsWith('arn:')
      ? nameOrArn
      : `arn:aws:lambda:${this.region}:${this.accountId}:function:${nameOrArn}`;
    this.functions.set(arn, fn);
    return arn;
  }

  has(arn: string): boolean {
    return this.functions.has(arn);
  }

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

  /** Every invocation so far, for assertions. */
  history(): ReadonlyArray<{ arn: string; event: unknown; error?: string }> {
    return this.invocations;
  }
}
