import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  COST_HEADER,
  costOf,
  costTable,
  dollars,
  type KeyMonth,
  type Measured,
  MONTH_MS,
  metricHoursOf,
  PRICES,
  perKeyMonth,
} from '../../bench/cost-model.js';
import { emfRecord } from '../../lambdas/emf.js';

const HOUR = 3_600_000;
const none: KeyMonth = {
  getSecretValue: 0,
  describeSecret: 0,
  batchGetSecretValue: 0,
  batchSecrets: 0,
  metricHours: 0,
  alarmMetricHours: 0,
  emfBytes: 0,
};
const close = (actual: number, expected: number) =>
  assert.ok(Math.abs(actual - expected) < 1e-9, `${actual} is not ${expected}`);

describe('cost model', () => {
  it('prices each part: calls, a Decrypt per value returned, metric- and alarm-hours prorated, log bytes', () => {
    // The figure for the old defaults: 1.58M GetSecretValue a month for 200 instances (5 min + jitter).
    const old = costOf({ ...none, getSecretValue: 1_576_800 });
    close(old.secretsManager, 7.884);
    close(old.kms, 4.7304);
    const probe = costOf({ ...none, describeSecret: 1_576_800 });
    assert.equal(probe.kms, 0, 'DescribeSecret returns no value: nothing to decrypt');
    close(costOf({ ...none, metricHours: 730 }).metrics, 0.3);
    close(costOf({ ...none, metricHours: 73 }).metrics, 0.03);
    close(costOf({ ...none, alarmMetricHours: 730 }).alarms, 0.1);
    close(costOf({ ...none, emfBytes: 1024 ** 3 }).logs, 0.5);
    const all = costOf({ ...none, getSecretValue: 10_000, metricHours: 730 });
    close(all.read, 0.05 + 0.03 + 0.3);
    close(all.total, all.read + PRICES.secretPerMonth);
  });

  it('bills a batch per request, or per secret when asked; KMS per secret either way', () => {
    const batch = { ...none, batchGetSecretValue: 1000, batchSecrets: 10_000 };
    close(costOf(batch).secretsManager, 0.005);
    close(costOf(batch, { batchBilledPerSecret: true }).secretsManager, 0.05);
    close(costOf(batch).kms, 0.03);
  });

  it('counts a custom metric per name, dimension set and values, once per hour it is published', () => {
    const line = (metric: string, dims: Record<string, string>, at: number) =>
      JSON.stringify(emfRecord([{ name: metric, value: 1 }], dims, {}, new Date(at)));
    const lines = [
      line('KeyCalls', { SecretName: 'a', KeyId: 'k1' }, 0),
      line('KeyCalls', { SecretName: 'a', KeyId: 'k1' }, 30 * 60_000), // same hour, another instance
      line('KeyCalls', { SecretName: 'a', KeyId: 'k1' }, HOUR),
      line('KeyCalls', { SecretName: 'a', KeyId: 'k2' }, HOUR), // another key id: another metric
      line('KeyAgeSeconds', { SecretName: 'a' }, 0),
    ];
    const alarmed = (metric: string, dims: string[]) =>
      metric === 'KeyAgeSeconds' && dims.join() === 'SecretName';
    assert.deepEqual(metricHoursOf(lines, alarmed), { metrics: 3, metricHours: 4, alarmMetricHours: 1 });
  });

  it('scales what instances did with the fleet and the window, and fleet-wide metric-hours with the window only', () => {
    const measured: Measured = {
      instances: 4,
      windowMs: HOUR,
      keys: 2,
      getSecretValue: 8,
      describeSecret: 40,
      batchGetSecretValue: 0,
      batchSecrets: 0,
      emfBytes: 400,
      metricHours: 2,
      alarmMetricHours: 0,
    };
    const month = perKeyMonth(measured, 200);
    const hours = MONTH_MS / HOUR;
    close(month.getSecretValue, ((8 / 4) * 200 * hours) / 2);
    close(month.describeSecret, ((40 / 4) * 200 * hours) / 2);
    close(month.emfBytes, ((400 / 4) * 200 * hours) / 2);
    close(month.metricHours, (2 * hours) / 2);
    assert.deepEqual(
      perKeyMonth(measured, 1000).metricHours,
      month.metricHours,
      'a metric is one whoever publishes it',
    );
  });

  it('prints a row per reader: the read cost at each fleet size, its parts and the goal at 200', () => {
    const measured: Measured = {
      instances: 1,
      windowMs: MONTH_MS,
      keys: 1,
      getSecretValue: 0,
      describeSecret: 500,
      batchGetSecretValue: 0,
      batchSecrets: 0,
      emfBytes: 0,
      metricHours: 0,
      alarmMetricHours: 0,
    };
    const [row] = costTable([{ name: 'r', measured }]);
    assert.equal(row!.length, COST_HEADER.length);
    // 500 DescribeSecret per instance: $0.0025 each; $0.50 at 200 — the goal, met.
    assert.deepEqual(row, [
      'r',
      '$0.0025',
      '$0.050',
      '$0.50',
      '$2.50',
      '$0.50',
      '$0',
      '$0',
      '$0',
      '$0',
      '$0.90',
      'yes',
    ]);
    const [over] = costTable([{ name: 'r', measured: { ...measured, describeSecret: 501 } }]);
    assert.equal(over!.at(-1), 'no');
  });

  it('formats dollars to a readable precision', () => {
    assert.deepEqual([0, 0.00123, 0.05, 0.5, 7.884, 42.16, 2108.4].map(dollars), [
      '$0',
      '$0.0012',
      '$0.050',
      '$0.50',
      '$7.88',
      '$42.2',
      '$2,108',
    ]);
  });
});
