import type { EmfMetadata } from '../../lambdas/emf.js';
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

/**
 * One series' datapoints, as two parallel arrays: the series key already names the namespace, metric and
 * dimensions, and a long rehearsal ingests millions of points (an object each was most of its memory).
 */
interface Series {
  at: number[];
  value: number[];
}

/**
 * CloudWatch metrics for the rehearsal and tests. Ingestion is **EMF log lines** (`ingestEmf`), as CloudWatch
 * Logs extracts them from Lambda and app output — so the rekey client is tested exactly as it ships, with no
 * PutMetricData permission. Reading is **GetMetricData** over the real wire protocol (AWS JSON 1.0,
 * `GraniteServiceVersion20100801`) for metric-stat queries with Sum/SampleCount/Average/Minimum/Maximum.
 * DescribeAlarms and DescribeAlarmContributors read alarms put in-process; metric math, alarm evaluation and
 * PutMetricData are out of scope.
 */
export class CloudWatchService implements AwsService {
  readonly signingNames = ['monitoring'] as const;
  private readonly alarms = new Map<string, LoopbackAlarm>();
  /** By metric identity (namespace, name, dimension set): a query reads only its own series. */
  private readonly series = new Map<string, Series>();

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
    const aws = record._aws as EmfMetadata | undefined;
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
          let series = this.series.get(key);
          if (!series) {
            series = { at: [], value: [] };
            this.series.set(key, series);
          }
          series.at.push(at);
          series.value.push(value);
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
        case 'GraniteServiceVersion20100801.DescribeAlarmContributors':
          return jsonResponse(this.describeAlarmContributors(input), CONTENT_TYPE);
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
   * An alarm as the stack deploys it (in-process: the loopback has no PutMetricAlarm), in `state`: a per-key
   * metric alarm (`dimensions`) or a fleet alarm on a Metrics Insights `query`, whose `contributors` in
   * ALARM are the series (their labels) in breach. Alarms are not evaluated here; tests and the rehearsal
   * set their state.
   */
  putAlarm(alarm: {
    name: string;
    dimensions?: Record<string, string>;
    query?: string;
    actions: string[];
    state?: 'OK' | 'ALARM' | 'INSUFFICIENT_DATA';
    contributors?: Array<Record<string, string>>;
  }): void {
    this.alarms.set(alarm.name, {
      name: alarm.name,
      dimensions: alarm.dimensions ?? {},
      ...(alarm.query ? { query: alarm.query } : {}),
      actions: alarm.actions,
      state: alarm.state ?? 'OK',
      contributors: alarm.contributors ?? [],
    });
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
        ...(a.query
          ? { Metrics: [{ Id: 'q', Expression: a.query, Period: 300, ReturnData: true }] }
          : { Dimensions: Object.entries(a.dimensions).map(([Name, Value]) => ({ Name, Value })) }),
      })),
    };
  }

  /**
   * As CloudWatch answers: the contributors in ALARM of a multi-time-series alarm (ResourceNotFound for an
   * alarm that does not exist), a page at a time.
   */
  private describeAlarmContributors(input: Record<string, unknown>): unknown {
    const alarm = this.alarms.get(String(input.AlarmName ?? ''));
    if (!alarm)
      throw new AwsServiceError(
        'ResourceNotFoundException',
        `Alarm ${String(input.AlarmName)} does not exist.`,
        404,
      );
    const start = input.NextToken === undefined ? 0 : Number(input.NextToken);
    if (!Number.isInteger(start) || start < 0 || start > alarm.contributors.length)
      throw new AwsServiceError('InvalidNextToken', 'The next token specified is invalid.');
    const page = alarm.contributors.slice(start, start + CONTRIBUTORS_PAGE);
    const next = start + page.length;
    return {
      AlarmContributors: page.map((attributes, i) => ({
        ContributorId: `c${String(start + i).padStart(4, '0')}`,
        ContributorAttributes: attributes,
        StateReason: 'Threshold Crossed',
      })),
      ...(next < alarm.contributors.length ? { NextToken: String(next) } : {}),
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
        const series = this.series.get(seriesKey(Metric.Namespace, Metric.MetricName, dimensions));
        for (let i = 0; i < (series?.at.length ?? 0); i++) {
          const at = series!.at[i]!;
          if (at < start || at >= end) continue;
          const bucket = start + Math.floor((at - start) / periodMs) * periodMs;
          const values = buckets.get(bucket);
          if (values) values.push(series!.value[i]!);
          else buckets.set(bucket, [series!.value[i]!]);
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

interface LoopbackAlarm {
  name: string;
  dimensions: Record<string, string>;
  query?: string;
  actions: string[];
  state: string;
  contributors: Array<Record<string, string>>;
}

/** Contributors per DescribeAlarmContributors page: small, so callers meet NextToken. */
const CONTRIBUTORS_PAGE = 2;

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
