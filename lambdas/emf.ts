import { METRIC_NAMESPACE } from './telemetry.js';

/**
 * CloudWatch Embedded Metric Format: one JSON log line that CloudWatch Logs turns into metrics, so Lambda
 * functions and apps publish metrics without cloudwatch:PutMetricData or an extra network call.
 * https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html
 */
export type MetricUnit = 'Count' | 'Seconds' | 'Milliseconds' | 'None';

export interface EmfMetric {
  name: string;
  value: number;
  unit?: MetricUnit;
}

/** An EMF document's `_aws` metadata, as readers of EMF lines (the loopback's CloudWatch, the bench) see it. */
export interface EmfMetadata {
  Timestamp?: number;
  CloudWatchMetrics?: Array<{
    Namespace: string;
    Dimensions: string[][];
    Metrics: Array<{ Name: string }>;
  }>;
}

/**
 * Builds one EMF document: every metric is published under each of `dimensionSets` (default: all of
 * `dimensions` together); `properties` ride along unindexed.
 */
export function emfRecord(
  metrics: EmfMetric[],
  dimensions: Record<string, string>,
  properties: Record<string, unknown> = {},
  timestamp: Date = new Date(),
  dimensionSets: string[][] = [Object.keys(dimensions)],
): Record<string, unknown> {
  const record: Record<string, unknown> = {
    ...properties,
    _aws: {
      Timestamp: timestamp.getTime(),
      CloudWatchMetrics: [
        {
          Namespace: METRIC_NAMESPACE,
          Dimensions: dimensionSets,
          Metrics: metrics.map((m) => ({ Name: m.name, Unit: m.unit ?? 'Count' })),
        },
      ],
    },
    ...dimensions,
  };
  for (const m of metrics) record[m.name] = m.value;
  return record;
}
