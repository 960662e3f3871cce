/**
 * Request-rate quotas, per account and Region, as AWS enforces them: a request over its quota is refused with
 * the error that service documents for it and changes nothing. Only what the quotas pages document, and only
 * what rekey can reach, is modelled; each entry cites its page. The rate is per second of real time —
 * requests arrive in real time whatever clock the services run on — as a token bucket holding one second's
 * worth. This table is the one place the loopback's quotas are defined.
 *
 * Left out, and why: Scheduler's ListSchedules (no rate on its quotas page) and its 10,000,000 schedules per
 * Region (rekey keeps one per pending revocation); DynamoDB's per-table throughput (40,000 units per table
 * per the account quota, and an on-demand table adapts to twice its previous peak — rekey's lease writes are
 * a few per rotation) and its control plane (rekey creates no table at run time); Lambda's concurrency
 * (rekey never calls Invoke: Secrets Manager and Scheduler invoke its functions); CloudWatch (GetMetricData and
 * DescribeAlarms from the rollback monitor only).
 */
export interface RateQuota {
  /** What the quotas page calls it. */
  name: string;
  /** `service.Operation`s that share it. */
  operations: readonly string[];
  perSecond: number;
  /**
   * Each value of a request's scope has a bucket of its own — DynamoDB's partition limits apply per
   * partition key — rather than one for the account and Region.
   */
  perScope?: boolean;
  /** What the service answers a request over the quota, as its protocol and the SDK's model name it. */
  error: QuotaError;
}

export interface QuotaError {
  /** The error code on the wire (the SDK raises the exception it maps to). */
  code: string;
  status: number;
  message: string;
  /** DynamoDB's ThrottlingReason.reason, sent with its exception. */
  reason?: string;
}

/** The 400 ThrottlingException the JSON protocols (Secrets Manager) answer. */
const THROTTLING: QuotaError = { code: 'ThrottlingException', status: 400, message: 'Rate exceeded' };

const ops = (service: string, ...operations: string[]) => operations.map((o) => `${service}.${o}`);

/** Scheduler's quotas page: "primary Regions" get the larger request rates; each other Region 250. */
const SCHEDULER_PRIMARY_REGIONS = new Set([
  'us-east-1',
  'us-east-2',
  'us-west-2',
  'ap-northeast-1',
  'ap-south-1',
  'ap-southeast-1',
  'ap-southeast-2',
  'eu-central-1',
  'eu-west-1',
  'eu-west-2',
  'sa-east-1',
]);

/** SNS's Publish API throttling per account, standard topics, by Region (messages per second). */
function snsPublishRate(region: string): number {
  if (region === 'us-east-1') return 30_000;
  if (region === 'us-west-2' || region === 'eu-west-1') return 9_000;
  const fifteenHundred = [
    'us-east-2',
    'us-west-1',
    'ap-south-1',
    'ap-northeast-2',
    'ap-southeast-1',
    'ap-southeast-2',
    'ap-northeast-1',
    'eu-central-1',
  ];
  return fifteenHundred.includes(region) ? 1_500 : 300;
}

/** The documented quotas that apply in `region`. */
export function documentedQuotas(region: string): RateQuota[] {
  const sm = (...operations: string[]) => ops('secretsmanager', ...operations);
  const schedulerPrimary = SCHEDULER_PRIMARY_REGIONS.has(region);
  // Scheduler's ThrottlingException is REST-JSON with HTTP 429 (its API reference and the SDK's model).
  const schedulerThrottled: QuotaError = {
    code: 'ThrottlingException',
    status: 429,
    message: 'Rate exceeded',
  };
  const schedulerRate = (operation: string, primary: number): RateQuota => ({
    name: `${operation} request rate`,
    operations: ops('scheduler', operation),
    perSecond: schedulerPrimary ? primary : 250,
    error: schedulerThrottled,
  });
  return [
    // Secrets Manager user guide, "AWS Secrets Manager quotas" (../shared/aws-facts.md).
    {
      name: 'Combined rate of DescribeSecret and GetSecretValue API requests',
      operations: sm('DescribeSecret', 'GetSecretValue'),
      perSecond: 10_000,
      error: THROTTLING,
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
      error: THROTTLING,
    },
    {
      name: 'Rate of RotateSecret API requests',
      operations: sm('RotateSecret'),
      perSecond: 50,
      error: THROTTLING,
    },
    {
      name: 'Combined rate of DeleteResourcePolicy, GetResourcePolicy, PutResourcePolicy, and ValidateResourcePolicy API requests',
      operations: sm(
        'DeleteResourcePolicy',
        'GetResourcePolicy',
        'PutResourcePolicy',
        'ValidateResourcePolicy',
      ),
      perSecond: 50,
      error: THROTTLING,
    },
    // EventBridge Scheduler user guide, "Quotas for Amazon EventBridge Scheduler": CreateSchedule 5,000 per
    // second in the primary Regions; DeleteSchedule, GetSchedule and UpdateSchedule 1,000 there (the page
    // lists them beside CreateSchedule's former 1,000); 250 each in every other Region. Adjustable.
    schedulerRate('CreateSchedule', 5_000),
    schedulerRate('DeleteSchedule', 1_000),
    schedulerRate('GetSchedule', 1_000),
    schedulerRate('UpdateSchedule', 1_000),
    // Amazon SNS developer guide, "Amazon SNS quotas", "Publish API throttling per account" (standard
    // topics; Publish and PublishBatch count messages against one regional quota). The API reference names
    // the error ThrottledException — on the Query protocol code "Throttled", HTTP 429.
    {
      name: 'Publish API throttling per account',
      operations: ops('sns', 'Publish', 'PublishBatch'),
      perSecond: snsPublishRate(region),
      error: { code: 'Throttled', status: 429, message: 'Rate exceeded' },
    },
    // IAM user guide, "IAM and AWS STS quotas": 600 requests per second per account per Region, shared by
    // AssumeRole, GetCallerIdentity, GetSessionToken, GetFederationToken, DecodeAuthorizationMessage and
    // GetAccessKeyInfo (role assumptions AWS services make for you do not count) — as several references
    // quote the page; the stored copy of the page ends before its request quotas. STS answers "Throttling:
    // Rate exceeded" with HTTP 400 (AWS knowledge center, "resolve API throttling errors for IAM and AWS STS").
    {
      name: 'AWS STS request quota',
      operations: ops(
        'sts',
        'AssumeRole',
        'GetCallerIdentity',
        'GetSessionToken',
        'GetFederationToken',
        'DecodeAuthorizationMessage',
        'GetAccessKeyInfo',
      ),
      perSecond: 600,
      error: { code: 'Throttling', status: 400, message: 'Rate exceeded' },
    },
    // DynamoDB developer guide, "Troubleshooting throttling for on-demand mode" and "Key range throughput
    // exceeded (hot partitions)": each partition serves at most 1,000 write request units (3,000 read) per
    // second, in on-demand mode too; rekey's lease items are under 1 KB, one unit per write or strongly
    // consistent read. DynamoDB answers ProvisionedThroughputExceededException with a ThrottlingReason
    // (API reference, ThrottlingReason: Table + Write + KeyRangeThroughputExceeded).
    {
      name: 'Write throughput per partition',
      operations: ops('dynamodb', 'PutItem', 'DeleteItem', 'UpdateItem'),
      perSecond: 1_000,
      perScope: true,
      error: {
        code: 'ProvisionedThroughputExceededException',
        status: 400,
        message: 'The level of configured provisioned throughput for the table was exceeded.',
        reason: 'TableWriteKeyRangeThroughputExceeded',
      },
    },
    {
      name: 'Read throughput per partition',
      operations: ops('dynamodb', 'GetItem'),
      perSecond: 3_000,
      perScope: true,
      error: {
        code: 'ProvisionedThroughputExceededException',
        status: 400,
        message: 'The level of configured provisioned throughput for the table was exceeded.',
        reason: 'TableReadKeyRangeThroughputExceeded',
      },
    },
  ];
}

/** The quotas of us-east-1, the loopback's default Region. */
export const DOCUMENTED_QUOTAS: readonly RateQuota[] = documentedQuotas('us-east-1');

interface Bucket {
  quota: RateQuota;
  tokens: number;
  refilledAt: number;
}

export class RateQuotas {
  private readonly quotas = new Map<string, RateQuota>();
  private readonly buckets = new Map<string, Bucket>();
  /** Requests refused, by quota name. */
  readonly throttled = new Map<string, number>();
  private readonly now: () => number;

  constructor(quotas: readonly RateQuota[] = DOCUMENTED_QUOTAS, now?: () => number) {
    this.now = now ?? (() => performance.now());
    for (const quota of quotas) for (const operation of quota.operations) this.quotas.set(operation, quota);
  }

  /** The quota `operation` ("service.Operation") counts against, if any. */
  quotaOf(operation: string): RateQuota | undefined {
    return this.quotas.get(operation);
  }

  /**
   * Takes one request of `operation` ("service.Operation"), in `scope` for a per-scope quota (a DynamoDB
   * partition); the quota it is over, or undefined.
   */
  take(operation: string, scope = ''): RateQuota | undefined {
    const quota = this.quotas.get(operation);
    if (!quota) return undefined;
    const id = quota.perScope ? `${quota.name}\0${scope}` : quota.name;
    const now = this.now();
    let bucket = this.buckets.get(id);
    if (!bucket) {
      bucket = { quota, tokens: quota.perSecond, refilledAt: now };
      this.buckets.set(id, bucket);
    }
    const { perSecond } = quota;
    bucket.tokens = Math.min(perSecond, bucket.tokens + ((now - bucket.refilledAt) / 1000) * perSecond);
    bucket.refilledAt = now;
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return undefined;
    }
    this.throttled.set(quota.name, (this.throttled.get(quota.name) ?? 0) + 1);
    return quota;
  }
}
