/**
 * What reading one key costs a month, in dollars: the calls and lines a fleet makes, counted on the loopback
 * endpoint (bench/cost-simulation.ts), times AWS's us-east-1 list prices. Free tiers are left out (they are
 * per account, shared by everything in it).
 *
 * Prices, read 2026-12-02 through the `search` tool:
 * - Secrets Manager (https://aws.amazon.com/secrets-manager/pricing/): "$0.40 / secret / month" and
 *   "$0.05/10,000 calls" (API calls). BatchGetSecretValue: the pricing page names no separate rate, so it
 *   is billed here as one API call per request — NOT confirmed; its API reference says it "generates
 *   CloudTrail GetSecretValue log entries for each secret", and if AWS bills it per secret returned, a
 *   batched read costs what a GetSecretValue of each costs (the `batch billed per secret` figure).
 * - KMS (https://aws.amazon.com/kms/pricing/): $0.03 per 10,000 symmetric requests; "While you are not
 *   charged for creation and storage of AWS-managed keys, you will be charged on any API request made to
 *   AWS-managed keys" — so aws/secretsmanager and rekey's customer managed key (lib/rekey-stack.ts
 *   SecretsKey) cost the same per request. Secrets Manager calls Decrypt "in response to" GetSecretValue
 *   ("decrypts the secret value before returning it to the caller"; Secrets Manager user guide, "Secret
 *   encryption and decryption"); DescribeSecret returns no value and decrypts nothing. A batch is counted
 *   as one Decrypt per secret it returns (assumed: each is a GetSecretValue in CloudTrail).
 * - CloudWatch custom metrics: $0.30 per metric-month (first 10,000 metrics); "All custom metrics are
 *   prorated by the hour. They're metered only when they're sent to CloudWatch" (CloudWatch user guide,
 *   "CloudWatch billing and cost"). Each metric name × dimension set × dimension values is one metric.
 * - CloudWatch alarms: a Metrics Insights query alarm's "costs are based on the number of metrics analyzed
 *   by the query … a query whose filter matches ten metrics incurs ten metrics analyzed cost per hour"
 *   (same guide). The price per metric analyzed could not be read off the pricing page (its alarm tab is
 *   not in the stored copy): ASSUMED $0.10 per metric-month, a standard-resolution alarm metric's price.
 *   A metric counts as analyzed in the hours it is published (the alarms evaluate the last 3 hours).
 * - CloudWatch Logs ingestion (EMF lines are log lines): $0.50 per GB, Standard class, custom logs — the
 *   figure third-party summaries of the pricing page give (factualminds.com, signoz.io); the stored AWS
 *   page did not show its Logs tab. Archive storage ($0.03/GB-month) is left out: the retention is the
 *   app's choice.
 */
import type { EmfMetadata } from '../lambdas/emf.js';

export const PRICES = {
  secretPerMonth: 0.4,
  secretsManagerPerCall: 0.05 / 10_000,
  kmsPerRequest: 0.03 / 10_000,
  customMetricPerMonth: 0.3,
  /** Assumed; see above. */
  alarmMetricPerMonth: 0.1,
  logIngestionPerGB: 0.5,
} as const;

export type Prices = typeof PRICES;

/** CloudWatch bills metric-months of 730 hours (prorated by the hour). */
export const HOURS_PER_MONTH = 730;
export const MONTH_MS = HOURS_PER_MONTH * 3_600_000;
const GB = 1024 ** 3;

/** What a fleet did for one key in one month. */
export interface KeyMonth {
  getSecretValue: number;
  describeSecret: number;
  batchGetSecretValue: number;
  /** Secrets the batch requests returned (each decrypted by KMS). */
  batchSecrets: number;
  /** Hours published, summed over the distinct custom metrics. */
  metricHours: number;
  /** Hours the fleet alarms' queries analyzed a metric, summed over the metrics they match. */
  alarmMetricHours: number;
  /** Bytes of EMF log lines (each line and its newline). */
  emfBytes: number;
}

export interface KeyCost {
  secretsManager: number;
  kms: number;
  metrics: number;
  alarms: number;
  logs: number;
  /** What reading the key costs: the goal's figure. */
  read: number;
  /** The secret itself. */
  storage: number;
  total: number;
}

export function costOf(
  usage: KeyMonth,
  options: { batchBilledPerSecret?: boolean } = {},
  prices: Prices = PRICES,
): KeyCost {
  const batchCalls = options.batchBilledPerSecret ? usage.batchSecrets : usage.batchGetSecretValue;
  const secretsManager =
    (usage.getSecretValue + usage.describeSecret + batchCalls) * prices.secretsManagerPerCall;
  const kms = (usage.getSecretValue + usage.batchSecrets) * prices.kmsPerRequest;
  const metrics = (usage.metricHours / HOURS_PER_MONTH) * prices.customMetricPerMonth;
  const alarms = (usage.alarmMetricHours / HOURS_PER_MONTH) * prices.alarmMetricPerMonth;
  const logs = (usage.emfBytes / GB) * prices.logIngestionPerGB;
  const read = secretsManager + kms + metrics + alarms + logs;
  return {
    secretsManager,
    kms,
    metrics,
    alarms,
    logs,
    read,
    storage: prices.secretPerMonth,
    total: read + prices.secretPerMonth,
  };
}

/** A custom metric's identity in an EMF line: namespace, name, dimension names and their values. */
function metricsOfLine(record: Record<string, unknown>): string[] {
  const aws = record._aws as EmfMetadata | undefined;
  const ids: string[] = [];
  for (const directive of aws?.CloudWatchMetrics ?? [])
    for (const set of directive.Dimensions)
      for (const metric of directive.Metrics)
        ids.push(
          JSON.stringify([directive.Namespace, metric.Name, ...set.map((d) => `${d}=${String(record[d])}`)]),
        );
  return ids;
}

/**
 * The custom metrics EMF lines create and the hours each is published in (how CloudWatch prorates them),
 * and of those, the ones a fleet alarm's query analyzes: `alarmed(metricName, dimensionNames)`.
 */
export function metricHoursOf(
  lines: readonly string[],
  alarmed: (metric: string, dimensions: string[]) => boolean,
): { metrics: number; metricHours: number; alarmMetricHours: number } {
  const hours = new Map<string, Set<number>>();
  for (const line of lines) {
    const record = JSON.parse(line) as Record<string, unknown>;
    const at = (record._aws as { Timestamp: number }).Timestamp;
    for (const id of metricsOfLine(record)) {
      const set = hours.get(id) ?? new Set<number>();
      set.add(Math.floor(at / 3_600_000));
      hours.set(id, set);
    }
  }
  let metricHours = 0;
  let alarmMetricHours = 0;
  for (const [id, set] of hours) {
    metricHours += set.size;
    const [, name, ...dims] = JSON.parse(id) as string[];
    if (
      alarmed(
        name!,
        dims.map((d) => d.split('=')[0]!),
      )
    )
      alarmMetricHours += set.size;
  }
  return { metrics: hours.size, metricHours, alarmMetricHours };
}

/** What the simulation counted: `instances` instances over `windowMs` of simulated time. */
export interface Measured {
  instances: number;
  windowMs: number;
  /** Summed over the instances. */
  getSecretValue: number;
  describeSecret: number;
  batchGetSecretValue: number;
  batchSecrets: number;
  emfBytes: number;
  /** Fleet-wide: a metric is one whoever publishes it. */
  metricHours: number;
  alarmMetricHours: number;
  /** Keys the counts cover (an app reading several keys): the figures are per key. */
  keys: number;
}

/**
 * One key's month for a fleet of `instances`: what each instance did scales with the number of instances
 * and with the window; metric-hours are the fleet's (one metric whoever publishes it) and scale with the
 * window only — which holds once every hour has a caller, as in the simulation.
 */
export function perKeyMonth(measured: Measured, instances: number): KeyMonth {
  const window = MONTH_MS / measured.windowMs;
  const perInstance = (n: number) => ((n / measured.instances) * instances * window) / measured.keys;
  return {
    getSecretValue: perInstance(measured.getSecretValue),
    describeSecret: perInstance(measured.describeSecret),
    batchGetSecretValue: perInstance(measured.batchGetSecretValue),
    batchSecrets: perInstance(measured.batchSecrets),
    emfBytes: perInstance(measured.emfBytes),
    metricHours: (measured.metricHours * window) / measured.keys,
    alarmMetricHours: (measured.alarmMetricHours * window) / measured.keys,
  };
}

/** "$0.0123", "$1.23", "$1,234" */
export function dollars(n: number): string {
  if (n >= 1000) return `$${Math.round(n).toLocaleString('en-US')}`;
  if (n >= 10) return `$${n.toFixed(1)}`;
  if (n >= 0.1) return `$${n.toFixed(2)}`;
  if (n === 0) return '$0';
  return `$${n.toPrecision(2)}`;
}

/** The fleet sizes of the table; the goal is read at GOAL_FLEET instances. */
export const FLEETS = [1, 20, 200, 1000] as const;
export const GOAL_FLEET = 200;
export const GOAL_DOLLARS = 0.5;

/**
 * The cost table: per row, the read cost per key per month at each fleet size, its parts at the goal's
 * fleet, the total with the secret's own $0.40, and whether the read cost meets the goal.
 */
export function costTable(
  rows: ReadonlyArray<{ name: string; measured: Measured; batchBilledPerSecret?: boolean }>,
): string[][] {
  return rows.map(({ name, measured, batchBilledPerSecret }) => {
    const at = (n: number) => costOf(perKeyMonth(measured, n), { batchBilledPerSecret });
    const goal = at(GOAL_FLEET);
    return [
      name,
      ...FLEETS.map((n) => dollars(at(n).read)),
      dollars(goal.secretsManager),
      dollars(goal.kms),
      dollars(goal.metrics),
      dollars(goal.alarms),
      dollars(goal.logs),
      dollars(goal.total),
      goal.read <= GOAL_DOLLARS ? 'yes' : 'no',
    ];
  });
}

export const COST_HEADER = [
  'reader',
  ...FLEETS.map((n) => `N=${n.toLocaleString('en-US')}`),
  `SM @${GOAL_FLEET}`,
  'KMS',
  'metrics',
  'alarms',
  'logs',
  `+ secret @${GOAL_FLEET}`,
  `read ≤ $${GOAL_DOLLARS}`,
];
