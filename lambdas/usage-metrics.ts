import { type CloudWatchClient, GetMetricDataCommand } from '@aws-sdk/client-cloudwatch';
import { DIMENSIONS, METRIC_NAMESPACE, METRICS } from './telemetry.js';
import type { UsageSource } from './usage.js';

/**
 * Usage evidence from the rekey client's metrics: the new key is in use when KeyCalls by SecretName and
 * KeyId (the new key's id) sums above zero since promotion. Counting by key id, not by the client's
 * "current" label, matters: an instance with a stale cache also calls its key "current".
 */
export function cloudWatchUsageSource(
  cloudWatch: CloudWatchClient,
  now: () => Date = () => new Date(),
): UsageSource {
  return async ({ secretName, since, newKeyId }) => {
    const end = now();
    const period = Math.max(60, Math.ceil((end.getTime() - since.getTime()) / 60_000) * 60);
    const out = await cloudWatch.send(
      new GetMetricDataCommand({
        StartTime: since,
        EndTime: new Date(end.getTime() + 60_000),
        MetricDataQueries: [
          {
            Id: 'calls',
            MetricStat: {
              Metric: {
                Namespace: METRIC_NAMESPACE,
                MetricName: METRICS.keyCalls,
                Dimensions: [
                  { Name: DIMENSIONS.secret, Value: secretName },
                  { Name: DIMENSIONS.keyId, Value: newKeyId },
                ],
              },
              Period: period,
              Stat: 'Sum',
            },
          },
        ],
      }),
    );
    const calls = (out.MetricDataResults?.[0]?.Values ?? []).reduce((a, b) => a + b, 0);
    return calls > 0
      ? {
          status: 'confirmed',
          source: 'client-metrics',
          detail: `${calls} calls with key ${newKeyId} since promotion`,
        }
      : {
          status: 'not-confirmed',
          source: 'client-metrics',
          detail: `no calls with key ${newKeyId} since ${since.toISOString()}`,
        };
  };
}
