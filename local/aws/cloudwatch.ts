import type { Clock } from '../clock.js';
import {
  type AwsRequest,
  type AwsResponse,
  type AwsService,
  AwsServiceError,
  epochSeconds,
  jsonError,
  jsonResponse,
  parseJsonBody,
} from './protocol.js';

const CONTENT_TYPE = 'application/x-amz-json-1.0';

interface Datapoint {
  namespace: string;
  metric: string;
  /** Sorted "Name=Value" pairs: one entry per dimension set the datapoint was published under. */
  dimensions: string;
  at: number;
  value: number;
}

/**
 * CloudWatch metrics for the rehearsal and tests. Ingestion is **EMF log lines** (`ingestEmf`), as CloudWatch
 * Logs extracts them from Lambda and app output — so the rekey client is tested exactly as it ships, with no
 * PutMetricData permission. Reading is **GetMetricData** over the real wire protocol (AWS JSON 1.0,
 * `GraniteServiceVersion20100801`) for metric-stat queries with Sum/SampleCount/Average/Minimum/Maximum.
 * Metric math, alarms and PutMetricData are out of scope.
 */
export class CloudWatchService implements AwsService {
  readonly signingNames = ['monitoring'] as const;
  private readonly alarms = new Map<
    string,
    { name: string; dimensions: Record<string, string>; actions: string[]; state: string }
  >();
  /** By metric identity (namespace, name, dimension set): a query reads only its own series. */
  private readonly series = new Map<string, Datapoint[]>();

  constructor(
    private readonly clock: Clock,
    private readonly region = 'us-east-1',
    private readonly accountId = '123456789012',
  ) {}

  /** Ingests one EMF log line; lines that are not EMF are ignored, as CloudWatch Logs does. */
  ingestEmf(line: string): void {
    let record: Record<string, unknown>;
    try {
      record = JSON.parse(line) as Record<string, unknown>;
    } catch {
      return;
    }
    const aws = record._aws as
      | {
          Timestamp?: number;
          CloudWatchMetrics?: Array<{
            Namespace: string;
            Dimensions: string[][];
            Metrics: Array<{ Name: string }>;
          }>;
        }
      | undefined;
    if (!aws?.CloudWatchMetrics) return;
    const at = aws.Timestamp ?? this.clock.now().getTime();
    for (const directive of aws.CloudWatchMetrics) {
      for (const set of directive.Dimensions) {
        const dimensions = set
          .map((name) => `${name}=${String(record[name])}`)
          .sort()
          .join(',');
        for (const metric of directive.Metrics) {
          const value = Number(record[metric.Name]);
          if (!Number.isFinite(value)) continue;
          const key = seriesKey(directive.Namespace, metric.Name, dimensions);
          const points = this.series.get(key) ?? [];
          points.push({ namespace: directive.Namespace, metric: metric.Name, dimensions, at, value });
          this.series.set(key, points);
        }
      }
    }
  }

  async handle(request: AwsRequest): Promise<AwsResponse> {
    const target = String(request.headers['x-amz-target'] ?? '');
    try {
      const input = parseJsonBody(request.body);
      switch (target) {
        case 'GraniteServiceVersion20100801.GetMetricData':
          return jsonResponse(this.getMetricData(input), CONTENT_TYPE);
        case 'GraniteServiceVersion20100801.DescribeAlarms':
          return jsonResponse(this.describeAlarms(input), CONTENT_TYPE);
        default:
          throw new AwsServiceError(
            'InvalidAction',
            `The loopback endpoint does not implement ${target || '(no target)'}.`,
          );
      }
    } catch (error) {
      const e =
        error instanceof AwsServiceError
          ? error
          : new AwsServiceError(
              'InternalServiceFault',
              error instanceof Error ? error.message : 'internal error',
              500,
            );
      return jsonError(e, CONTENT_TYPE);
    }
  }

  /**
   * An alarm as the stack deploys it (in-process: the loopback has no PutMetricAlarm), in `state`. Metric
   * alarms are not evaluated here; tests and the rehearsal set their state.
   */
  putAlarm(alarm: {
    name: string;
    dimensions: Record<string, string>;
    actions: string[];
    state?: 'OK' | 'ALARM' | 'INSUFFICIENT_DATA';
  }): void {
    this.alarms.set(alarm.name, { ...alarm, state: alarm.state ?? 'OK' });
  }

  setAlarmState(name: string, state: 'OK' | 'ALARM' | 'INSUFFICIENT_DATA'): void {
    const alarm = this.alarms.get(name);
    if (!alarm) throw new Error(`no alarm ${name}`);
    alarm.state = state;
  }

  private describeAlarms(input: Record<string, unknown>): unknown {
    const names = Array.isArray(input.AlarmNames) ? (input.AlarmNames as string[]) : undefined;
    const alarms = [...this.alarms.values()].filter((a) => !names || names.includes(a.name));
    return {
      MetricAlarms: alarms.map((a) => ({
        AlarmName: a.name,
        AlarmArn: `arn:aws:cloudwatch:${this.region}:${this.accountId}:alarm:${a.name}`,
        StateValue: a.state,
        AlarmActions: a.actions,
        Dimensions: Object.entries(a.dimensions).map(([Name, Value]) => ({ Name, Value })),
      })),
    };
  }

  private getMetricData(input: Record<string, unknown>): unknown {
    const start = Number(input.StartTime) * 1000;
    const end = Number(input.EndTime) * 1000;
    if (!Number.isFinite(start) || !Number.isFinite(end))
      throw new AwsServiceError('InvalidParameterValue', 'StartTime and EndTime are required.');
    const queries = (input.MetricDataQueries ?? []) as Array<{
      Id: string;
      Label?: string;
      MetricStat?: {
        Metric: {
          Namespace: string;
          MetricName: string;
          Dimensions?: Array<{ Name: string; Value: string }>;
        };
        Period: number;
        Stat: string;
      };
    }>;
    return {
      MetricDataResults: queries.map((query) => {
        if (!query.MetricStat)
          throw new AwsServiceError(
            'InvalidParameterValue',
            'The loopback endpoint supports MetricStat queries only.',
          );
        const { Metric, Period, Stat } = query.MetricStat;
        const dimensions = (Metric.Dimensions ?? [])
          .map((d) => `${d.Name}=${d.Value}`)
          .sort()
          .join(',');
        const periodMs = Period * 1000;
        const buckets = new Map<number, number[]>();
        for (const p of this.series.get(seriesKey(Metric.Namespace, Metric.MetricName, dimensions)) ?? []) {
          if (p.at < start || p.at >= end) continue;
          const bucket = start + Math.floor((p.at - start) / periodMs) * periodMs;
          const values = buckets.get(bucket);
          if (values) values.push(p.value);
          else buckets.set(bucket, [p.value]);
        }
        const times = [...buckets.keys()].sort((a, b) => b - a);
        return {
          Id: query.Id,
          Label: query.Label ?? Metric.MetricName,
          Timestamps: times.map((t) => epochSeconds(new Date(t))),
          Values: times.map((t) => aggregate(buckets.get(t)!, Stat)),
          StatusCode: 'Complete',
        };
      }),
    };
  }
}

const seriesKey = (namespace: string, metric: string, dimensions: string): string =>
  `${namespace}\0${metric}\0${dimensions}`;

function aggregate(values: number[], stat: string): number {
  switch (stat) {
    case 'Sum':
      return values.reduce((a, b) => a + b, 0);
    case 'SampleCount':
      return values.length;
    case 'Average':
      return values.reduce((a, b) => a + b, 0) / values.length;
    case 'Minimum':
      return Math.min(...values);
    case 'Maximum':
      return Math.max(...values);
    default:
      throw new AwsServiceError(
        'InvalidParameterValue',
        `Stat ${stat} is not supported by the loopback endpoint.`,
      );
  }
}
