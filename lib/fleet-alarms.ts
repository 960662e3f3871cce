import { Aws } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import { Construct } from 'constructs';
import { formatDuration } from '../lambdas/duration.js';
import { InvalidInputError } from '../lambdas/errors.js';
import { DIMENSIONS, METRIC_NAMESPACE, METRICS } from '../lambdas/telemetry.js';
import type { AlertTopics, Audience } from './alert-topics.js';
import { KEY_AGE_FACTOR, type ManagedKeyPlan } from './inventory.js';

/** The auth-failure alarm fires above this many times the key's baseline of failures per 5 minutes. */
export const AUTH_FAILURE_SPIKE_FACTOR = 3;

/**
 * What CloudWatch allows a Metrics Insights alarm (CloudWatch guide, "Metrics Insights quotas" and alarm
 * "Limits"; API reference, MetricDataQuery): a query of at most 2,048 characters, returning at most 500
 * series (with ORDER BY, the 500 highest), at most 100 contributors in ALARM, and 200 such alarms per
 * account and Region.
 */
export const METRICS_INSIGHTS_LIMITS = {
  queryLength: 2048,
  seriesPerQuery: 500,
  contributorsInAlarm: 100,
  alarmsPerRegion: 200,
} as const;

type AlarmAudience = Audience | 'rollback';

/** One of the guide's monitoring rules, as a fleet alarm: a per-key threshold and audiences. */
interface Rule {
  id: string;
  metric: string;
  /** The metric's dimension set (Metrics Insights SCHEMA): SecretName and any other. */
  dimensions: string[];
  /** Extra WHERE condition on the other dimensions. */
  condition?: string;
  statistic: 'SUM' | 'MAX';
  periodSeconds: number;
  applies: (plan: ManagedKeyPlan) => boolean;
  threshold: (plan: ManagedKeyPlan) => number;
  audiences: (plan: ManagedKeyPlan) => AlarmAudience[];
  description: (threshold: number) => string;
}

const everyKey = () => true;

/** The guide's five monitoring rules (rule 1 twice: a failed step, a revocation that gave up). */
const RULES: Rule[] = [
  {
    id: 'RotationFailed',
    metric: METRICS.rotationFailures,
    dimensions: [DIMENSIONS.secret],
    statistic: 'SUM',
    periodSeconds: 300,
    applies: (plan) => plan.alertOnFailure,
    threshold: () => 0,
    audiences: () => ['onCall'],
    description: () => 'rekey: a rotation failed; each key in ALARM is a contributor (SecretName)',
  },
  {
    id: 'RevocationGaveUp',
    metric: METRICS.revocations,
    dimensions: [DIMENSIONS.outcome, DIMENSIONS.secret],
    condition: `${DIMENSIONS.outcome} = 'gave-up'`,
    statistic: 'SUM',
    periodSeconds: 300,
    applies: (plan) => plan.alertOnFailure,
    threshold: () => 0,
    audiences: () => ['onCall'],
    description: () =>
      'rekey: revocation of a previous key gave up; revoke it by hand (each key in ALARM is a contributor)',
  },
  {
    // Rule 2, key older than 1.5 × rotation_frequency → security team.
    id: 'KeyTooOld',
    metric: METRICS.keyAgeSeconds,
    dimensions: [DIMENSIONS.secret],
    statistic: 'MAX',
    periodSeconds: 3600,
    applies: everyKey,
    threshold: (plan) => Math.round(plan.frequencySeconds * KEY_AGE_FACTOR),
    audiences: () => ['security'],
    description: (threshold) =>
      `rekey: a key is older than ${formatDuration(threshold)} (${KEY_AGE_FACTOR} × rotation_frequency)`,
  },
  {
    // Rule 3, old key still in use after the grace period → application team.
    id: 'PreviousKeyAfterGrace',
    metric: METRICS.previousKeyUseAfterGrace,
    dimensions: [DIMENSIONS.secret],
    statistic: 'SUM',
    periodSeconds: 300,
    applies: everyKey,
    threshold: () => 0,
    audiences: () => ['appTeam'],
    description: () => 'rekey: apps still use the previous key of a secret after its grace period',
  },
  {
    // Rule 4, auth-failure spike → page on-call (and roll back, when the inventory says so).
    id: 'AuthFailureSpike',
    metric: METRICS.authFailures,
    dimensions: [DIMENSIONS.secret],
    statistic: 'SUM',
    periodSeconds: 300,
    applies: everyKey,
    threshold: (plan) => AUTH_FAILURE_SPIKE_FACTOR * plan.authFailureBaseline,
    audiences: (plan) => (plan.rollbackOnFailure ? ['onCall', 'rollback'] : ['onCall']),
    description: (threshold) =>
      `rekey: more than ${threshold} auth failures per 5 minutes with a key (${AUTH_FAILURE_SPIKE_FACTOR} × its baseline)`,
  },
  {
    // Rule 5, a revoked key was used → security team.
    id: 'RevokedKeyUse',
    metric: METRICS.revokedKeyUse,
    dimensions: [DIMENSIONS.secret],
    statistic: 'SUM',
    periodSeconds: 300,
    applies: everyKey,
    threshold: () => 0,
    audiences: () => ['security'],
    description: () => 'rekey: someone used a revoked key',
  },
];

/**
 * The metrics the fleet alarms' queries analyze (name and dimension set, as SCHEMA matches them): what
 * CloudWatch bills a Metrics Insights alarm for, per metric analyzed (bench/cost-model.ts).
 */
export const FLEET_ALARM_METRICS: ReadonlyArray<{ metric: string; dimensions: readonly string[] }> =
  RULES.map((rule) => ({ metric: rule.metric, dimensions: rule.dimensions }));

/** One fleet alarm: a Metrics Insights query grouped by SecretName, so each key is a contributor. */
export interface FleetAlarmSpec {
  /** Construct id: the rule, plus a suffix when the rule needs several alarms. */
  id: string;
  rule: string;
  query: string;
  periodSeconds: number;
  threshold: number;
  audiences: AlarmAudience[];
  description: string;
  /** The keys it watches by name, or every key of the namespace when the whole inventory shares it. */
  secrets: string[] | 'all';
}

const quoted = (name: string) => {
  // Secrets Manager names are letters, digits and /_+=.@- : never a quote that would need escaping.
  if (!/^[A-Za-z0-9/_+=.@-]+$/.test(name))
    throw new InvalidInputError(
      'INVALID_INPUT',
      `secret name ${name} cannot be used in a Metrics Insights query`,
      {
        field: 'vault_path',
      },
    );
  return `'${name}'`;
};

function queryOf(rule: Rule, secretFilter?: string): string {
  const where = [rule.condition, secretFilter].filter(Boolean).join(' AND ');
  const schema = [METRIC_NAMESPACE, ...rule.dimensions].join(', ');
  return (
    `SELECT ${rule.statistic}(${rule.metric}) FROM SCHEMA(${schema})` +
    (where ? ` WHERE ${where}` : '') +
    ` GROUP BY ${DIMENSIONS.secret} ORDER BY ${rule.statistic}() DESC`
  );
}

/** The keys `names`, in as few queries of at most queryLength characters as they fit. */
function chunkedQueries(rule: Rule, names: string[]): Array<{ query: string; secrets: string[] }> {
  const out: Array<{ query: string; secrets: string[] }> = [];
  let chunk: string[] = [];
  const filter = (secrets: string[]) =>
    `(${secrets.map((n) => `${DIMENSIONS.secret} = ${quoted(n)}`).join(' OR ')})`;
  for (const name of names) {
    if (
      chunk.length &&
      queryOf(rule, filter([...chunk, name])).length > METRICS_INSIGHTS_LIMITS.queryLength
    ) {
      out.push({ query: queryOf(rule, filter(chunk)), secrets: chunk });
      chunk = [];
    }
    chunk.push(name);
  }
  if (chunk.length) out.push({ query: queryOf(rule, filter(chunk)), secrets: chunk });
  return out;
}

/**
 * The fleet alarms for `keys`: per rule, one Metrics Insights alarm per distinct (threshold, audiences) —
 * the keys sharing them are its contributors. The largest group takes every key of the namespace except
 * the others' (named with `!=` while that fits one query); smaller groups name their keys. O(distinct
 * settings), not O(keys): 1,000 keys at the same settings make six alarms.
 */
export function fleetAlarmSpecs(keys: readonly ManagedKeyPlan[]): FleetAlarmSpec[] {
  const specs: FleetAlarmSpec[] = [];
  for (const rule of RULES) {
    const groups = new Map<string, { threshold: number; audiences: AlarmAudience[]; secrets: string[] }>();
    for (const plan of keys.filter(rule.applies)) {
      const threshold = rule.threshold(plan);
      const audiences = rule.audiences(plan);
      const id = `${threshold}|${audiences.join(',')}`;
      const group = groups.get(id) ?? { threshold, audiences, secrets: [] };
      group.secrets.push(plan.secretName);
      groups.set(id, group);
    }
    const ordered = [...groups.values()].sort((a, b) => b.secrets.length - a.secrets.length);
    ordered.forEach((group, index) => {
      const base = {
        rule: rule.id,
        periodSeconds: rule.periodSeconds,
        threshold: group.threshold,
        audiences: group.audiences,
        description: rule.description(group.threshold),
      };
      const suffix = (n: number) => (index === 0 && n === 0 ? '' : `-${index + 1}${n ? `-${n + 1}` : ''}`);
      if (index === 0) {
        const inGroup = new Set(group.secrets);
        const others = keys.map((k) => k.secretName).filter((name) => !inGroup.has(name));
        const exclusion = others.map((n) => `${DIMENSIONS.secret} != ${quoted(n)}`).join(' AND ');
        const query = queryOf(rule, exclusion || undefined);
        if (query.length <= METRICS_INSIGHTS_LIMITS.queryLength) {
          specs.push({ ...base, id: rule.id, query, secrets: others.length ? group.secrets : 'all' });
          return;
        }
      }
      chunkedQueries(rule, group.secrets).forEach((chunk, n) => {
        specs.push({ ...base, id: `${rule.id}${suffix(n)}`, query: chunk.query, secrets: chunk.secrets });
      });
    });
  }
  if (specs.length > METRICS_INSIGHTS_LIMITS.alarmsPerRegion)
    throw new InvalidInputError(
      'INVALID_INPUT',
      `the inventory's keys need ${specs.length} Metrics Insights alarms, and CloudWatch allows ${METRICS_INSIGHTS_LIMITS.alarmsPerRegion} per account and Region: each distinct rotation_frequency, auth_failure_baseline, alert_on_failure and rollback_on_failure adds alarms; use fewer distinct values.`,
      { field: 'api_keys' },
    );
  return specs;
}

export interface FleetAlarmsProps {
  /** Every key of the deployment, in every stack. */
  readonly keys: readonly ManagedKeyPlan[];
  /** Where each audience is told; `rollback` is the rollback function's topic. */
  readonly topics: AlertTopics;
}

/**
 * The guide's monitoring rules over the whole fleet: Metrics Insights alarms grouped by SecretName, so one
 * alarm watches every key at the same settings and each key in breach is a contributor with its own
 * notifications (CloudWatch sends SNS notifications per contributor). They watch the `Rekey` namespace of
 * the account and Region: several rekey deployments in one account see each other's keys in the largest
 * group's alarm (rollback still acts only on its own deployment's keys).
 */
export class FleetAlarms extends Construct {
  readonly specs: FleetAlarmSpec[];
  readonly alarms: cloudwatch.CfnAlarm[] = [];

  constructor(scope: Construct, id: string, props: FleetAlarmsProps) {
    super(scope, id);
    this.specs = fleetAlarmSpecs(props.keys);
    for (const spec of this.specs) {
      const topicArn = (audience: AlarmAudience) =>
        (audience === 'rollback' ? props.topics.rollback : props.topics.topicFor(audience)).topicArn;
      this.alarms.push(
        new cloudwatch.CfnAlarm(this, spec.id, {
          alarmDescription: spec.description,
          metrics: [{ id: 'q', expression: spec.query, period: spec.periodSeconds, returnData: true }],
          threshold: spec.threshold,
          comparisonOperator: 'GreaterThanThreshold',
          evaluationPeriods: 1,
          datapointsToAlarm: 1,
          treatMissingData: 'notBreaching',
          alarmActions: spec.audiences.map(topicArn),
        }),
      );
    }
  }

  /** The alarms as IAlarm, for alarm widgets and composite alarms. */
  asAlarms(): cloudwatch.IAlarm[] {
    return this.alarms.map((alarm, i) => cloudwatch.Alarm.fromAlarmArn(this, `Ref${i}`, alarm.attrArn));
  }
}

/** A dashboard graph of a Metrics Insights query (CDK's GraphWidget takes metrics, not queries). */
export class MetricsInsightsWidget extends cloudwatch.ConcreteWidget {
  constructor(
    private readonly props: { title: string; query: string; periodSeconds: number; label: string },
  ) {
    super(12, 6);
  }

  toJson(): unknown[] {
    return [
      {
        type: 'metric',
        width: this.width,
        height: this.height,
        x: this.x,
        y: this.y,
        properties: {
          title: this.props.title,
          view: 'timeSeries',
          region: Aws.REGION,
          period: this.props.periodSeconds,
          metrics: [[{ expression: this.props.query, label: this.props.label, id: 'q' }]],
        },
      },
    ];
  }
}
