import { RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';

export interface LeaseTableProps {
  /**
   * Whether the table keeps point-in-time backups. Leases live for minutes, so there is nothing to restore.
   * @default false
   */
  readonly pointInTimeRecovery?: boolean;
}

/**
 * The per-secret lease table: one item per secret being changed (partition key `secret`, the secret's ARN),
 * written with conditional PutItem/DeleteItem so that one actor at a time — a rotation step, the revoker,
 * rollback, an emergency rotation, import — changes a secret. On demand, encrypted, and swept by TTL on
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
          'The table holds only leases that live for minutes; a restored lease would be stale, so there is nothing to recover.',
      });
  }

  /** The variable every mutating function (and the CLI) reads to find the table. */
  environment(): Record<string, string> {
    return { REKEY_LEASE_TABLE: this.table.tableName };
  }

  /** Take, renew and give back leases: conditional PutItem and DeleteItem on this table, nothing else. */
  grantLease(grantee: iam.IGrantable): iam.Grant {
    return this.table.grant(grantee, 'dynamodb:PutItem', 'dynamodb:DeleteItem');
  }
}
