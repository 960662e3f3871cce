/**
 * Request-rate quotas, per account and Region, as AWS enforces them: a request over its operation's rate is
 * refused with ThrottlingException and changes nothing. Only what the quotas pages document is modelled
 * (Secrets Manager user guide, "AWS Secrets Manager quotas"; ../shared/aws-facts.md):
 * - DescribeSecret and GetSecretValue combined: 10,000 per second;
 * - PutSecretValue, UpdateSecret and UpdateSecretVersionStage (with the replication calls) combined: 50/s;
 * - RotateSecret: 50/s;
 * - DeleteResourcePolicy, GetResourcePolicy, PutResourcePolicy and ValidateResourcePolicy combined: 50/s.
 * Other operations are not limited here. The rate is per second of real time — requests arrive in real
 * time whatever clock the services run on — as a token bucket holding one second's worth.
 */
export interface RateQuota {
  /** What the quotas page calls it. */
  name: string;
  /** `service.Operation`s that share it. */
  operations: readonly string[];
  perSecond: number;
}

const sm = (...operations: string[]) => operations.map((o) => `secretsmanager.${o}`);

export const DOCUMENTED_QUOTAS: readonly RateQuota[] = [
  {
    name: 'Combined rate of DescribeSecret and GetSecretValue API requests',
    operations: sm('DescribeSecret', 'GetSecretValue'),
    perSecond: 10_000,
  },
  {
    name: 'Combined rate of PutSecretValue, RemoveRegionsFromReplication, ReplicateSecretToRegion, StopReplicationToReplica, UpdateSecret, and UpdateSecretVersionStage API requests',
    operations: sm(
      'PutSecretValue',
      'RemoveRegionsFromReplication',
      'ReplicateSecretToRegion',
      'StopReplicationToReplica',
      'UpdateSecret',
      'UpdateSecretVersionStage',
    ),
    perSecond: 50,
  },
  { name: 'Rate of RotateSecret API requests', operations: sm('RotateSecret'), perSecond: 50 },
  {
    name: 'Combined rate of DeleteResourcePolicy, GetResourcePolicy, PutResourcePolicy, and ValidateResourcePolicy API requests',
    operations: sm(
      'DeleteResourcePolicy',
      'GetResourcePolicy',
      'PutResourcePolicy',
      'ValidateResourcePolicy',
    ),
    perSecond: 50,
  },
];

interface Bucket {
  quota: RateQuota;
  tokens: number;
  refilledAt: number;
}

export class RateQuotas {
  private readonly buckets = new Map<string, Bucket>();
  /** Requests refused, by quota name. */
  readonly throttled = new Map<string, number>();
  private readonly now: () => number;

  constructor(quotas: readonly RateQuota[] = DOCUMENTED_QUOTAS, now?: () => number) {
    this.now = now ?? (() => performance.now());
    for (const quota of quotas) {
      const bucket = { quota, tokens: quota.perSecond, refilledAt: this.now() };
      for (const operation of quota.operations) this.buckets.set(operation, bucket);
    }
  }

  /** Takes one request of `operation` ("service.Operation"); the quota it is over, or undefined. */
  take(operation: string): RateQuota | undefined {
    const bucket = this.buckets.get(operation);
    if (!bucket) return undefined;
    const now = this.now();
    const { perSecond } = bucket.quota;
    bucket.tokens = Math.min(perSecond, bucket.tokens + ((now - bucket.refilledAt) / 1000) * perSecond);
    bucket.refilledAt = now;
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return undefined;
    }
    this.throttled.set(bucket.quota.name, (this.throttled.get(bucket.quota.name) ?? 0) + 1);
    return bucket.quota;
  }
}
