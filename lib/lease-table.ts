import { RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';

export interface LeaseTableProps {
  /**
   * Whether the table keeps point-in-time backups. Leases live for minutes, and without a key-owner record
   * the revoker checks every sibling secret instead, so there is nothing to restore.
   * @default false
   */
  readonly pointInTimeRecovery?: boolean;
}

/**
 * The per-secret lease table: one item per secret being changed (partition key `secret`, the secret's ARN),
 * written with conditional PutItem/DeleteItem so that one actor at a time — a rotation step, the revoker,
 * rollback, an emergency rotation, import — changes a secret. It also holds rekey's record of which secret
 * each provider key belongs to (`key:<provider>:<rotator>:<key id>`, lambdas/key-owners.ts). On demand, encrypted, and swept by TTL on
 * `ttl` (leases nobody released, an hour after they expired; rekey never relies on the sweep).
 */
export class LeaseTable extends Construct {
  readonly table: dynamodb.Table;

  constructor(scope: Construct, id: string, props: LeaseTableProps = {}) {
    super(scope, id);
    this.table = new dynamodb.Table(this, 'Table', {
      partitionKey: { name: 'secret', type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      encryption: dynamodb.TableEncryption.AWS_MANAGED,
      timeToLiveAttribute: 'ttl',
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: props.pointInTimeRecovery ?? false },
      removalPolicy: RemovalPolicy.DESTROY,
    });
    if (!props.pointInTimeRecovery)
      Validations.of(this.table).acknowledge({
        id: 'AwsSolutions-DDB3',
        reason:
          'Leases live for minutes (a restored one would be stale), and a lost key-owner record only makes the revoker check the sibling secrets instead: there is nothing to recover.',
      });
  }

  /** The variable every mutating function (and the CLI) reads to find the table. */
  environment(): Record<string, string> {
    return { REKEY_LEASE_TABLE: this.table.tableName };
  }

  /**
   * Take, renew and give back leases, and write and forget key-owner records: conditional PutItem and
   * DeleteItem on this table; and GetItem of key-owner records only (items whose key starts `key:`), which
   * the revocation check reads (lambdas/key-owners.ts). Nothing else.
   */
  grantLease(grantee: iam.IGrantable): iam.Grant {
    const lease = this.table.grant(grantee, 'dynamodb:PutItem', 'dynamodb:DeleteItem');
    iam.Grant.addToPrincipal({
      grantee,
      actions: ['dynamodb:GetItem'],
      resourceArns: [this.table.tableArn],
      conditions: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['key:*'] } },
    });
    return lease;
  }
}
