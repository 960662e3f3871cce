import { type CloudWatchClient, GetMetricDataCommand } from '@aws-sdk/client-cloudwatch';
import { DIMENSIONS, METRIC_NAMESPACE, METRICS } from './telemetry.js';
import type { NewKeyUse, PreviousKeyUse, UsageSource } from './usage.js';

/**
 * Usage evidence from the rekey client's metrics: the new key is in use when KeyCalls by SecretName and
 * KeyId (the new key's id) sums above zero since promotion; asked about the old key, it reports the latest
 * minute with KeyCalls by the old key's id since the quiet period began. Counting by key id, not by the
 * client's "current" label, matters: an instance with a stale cache also calls its key "current".
 */
export function cloudWatchUsageSource(
  cloudWatch: CloudWatchClient,
  now: () => Date = () => new Date(),
): UsageSource {
  return async ({ secretName, since, newKeyId, previous }) => {
    const end = now();
    const keyCalls = async (keyId: string, start: Date, period: number) => {
      const out = await cloudWatch.send(
        new GetMetricDataCommand({
          StartTime: start,
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
                    { Name: DIMENSIONS.keyId, Value: keyId },
                  ],
                },
                Period: period,
                Stat: 'Sum',
              },
            },
          ],
        }),
      );
      const result = out.MetricDataResults?.[0];
      const values = result?.Values ?? [];
      return values.map((value, i) => ({ value, at: result?.Timestamps?.[i] }));
    };
    const period = Math.max(60, Math.ceil((end.getTime() - since.getTime()) / 60_000) * 60);
    const calls = (await keyCalls(newKeyId, since, period)).reduce((sum, p) => sum + p.value, 0);
    const newKey: NewKeyUse =
      calls > 0
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
    if (!previous) return newKey;
    // One-minute buckets from the whole minute at or before the quiet period's start (CloudWatch aligns
    // one-minute data there): a use in that minute counts as inside the period, the safe side.
    const quietStart = new Date(Math.floor(previous.quietSince.getTime() / 60_000) * 60_000);
    const used = (await keyCalls(previous.keyId, quietStart, 60)).filter((p) => p.value > 0 && p.at);
    const oldCalls = used.reduce((sum, p) => sum + p.value, 0);
    const lastUsedAt = used.reduce<Date | null>(
      (latest, p) => (!latest || p.at! > latest ? p.at! : latest),
      null,
    );
    const old: PreviousKeyUse = lastUsedAt
      ? {
          lastUsedAt,
          calls: oldCalls,
          detail: `${oldCalls} calls with key ${previous.keyId} since ${quietStart.toISOString()}, the latest in the minute from ${lastUsedAt.toISOString()}`,
        }
      : {
          lastUsedAt: null,
          calls: 0,
          detail: `no calls with key ${previous.keyId} since ${quietStart.toISOString()}`,
        };
    return { ...newKey, previous: old };
  };
}
