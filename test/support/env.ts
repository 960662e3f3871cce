import { LoopbackAws, type LoopbackAwsOptions } from '../../local/aws/server.js';

/**
 * Starts a loopback AWS endpoint and points the SDK's standard configuration at it, exactly as a user
 * would point the same tests at LocalStack or an account: AWS_ENDPOINT_URL, region and credentials.
 */
export async function startLoopbackAws(options: LoopbackAwsOptions = {}): Promise<LoopbackAws> {
  const aws = new LoopbackAws(options);
  const url = await aws.start();
  process.env.AWS_ENDPOINT_URL = url;
  process.env.AWS_REGION = aws.region;
  process.env.AWS_ACCESS_KEY_ID = 'AKIDLOOPBACK';
  process.env.AWS_SECRET_ACCESS_KEY = 'loopback-secret';
  delete process.env.AWS_PROFILE;
  return aws;
}

/** A log sink that keeps every line, so tests can scan for secret values. */
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
