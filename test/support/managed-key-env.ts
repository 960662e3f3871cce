import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { CreateTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { CreateScheduleGroupCommand, SchedulerClient } from '@aws-sdk/client-scheduler';
import {
  CreateSecretCommand,
  RotateSecretCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { SNSClient } from '@aws-sdk/client-sns';
import { publishAlert } from '../../lambdas/alerts.js';
import type { LeaseDeps } from '../../lambdas/lease.js';
import { sendgrid } from '../../lambdas/providers/sendgrid.js';
import type { ProviderDefinition } from '../../lambdas/providers/types.js';
import { type RevocationDeps, revocationHandOver, revokePreviousKey } from '../../lambdas/revocation.js';
import { type RotationDeps, runRotationStep } from '../../lambdas/rotation.js';
import type { ManagedKey } from '../../lambdas/secret-format.js';
import { ManualClock } from '../../local/clock.js';
import type { ProviderSandbox } from '../../local/sandboxes/sandbox.js';
import { SendGridSandbox } from '../../local/sandboxes/sendgrid.js';
import { startLoopbackAws } from './env.js';
import { alertsOn, RotationEnvBase, testRoute } from './rotation-env-base.js';

export const APP_SCOPES = ['mail.send'];
export const LEASE_TABLE = 'rekey-leases';

/** The lease table as the stack deploys it: partition key `secret`, on demand. */
export async function createLeaseTable(dynamodb: DynamoDBClient, tableName: string): Promise<void> {
  await dynamodb.send(
    new CreateTableCommand({
      TableName: tableName,
      KeySchema: [{ AttributeName: 'secret', KeyType: 'HASH' }],
      AttributeDefinitions: [{ AttributeName: 'secret', AttributeType: 'S' }],
      BillingMode: 'PAY_PER_REQUEST',
    }),
  );
}

/** What a provider contributes to a managed-key environment: its seeded credential and current key. */
export interface ProviderSeed {
  /** The rotator credential document. */
  credential: Record<string, unknown>;
  /** The application's current key. */
  current: { id: string; value: string };
}

/**
 * One provider key under rekey's management on loopback: the sandbox holds the rotator's credential and the
 * app's current key; Secrets Manager holds both secrets; the rotation function and the revoker are
 * registered as Lambdas, Scheduler fires on a manual clock (`advanceAndFire`), alerts go to SNS.
 */
export class ManagedKeyEnv<Sandbox extends ProviderSandbox> extends RotationEnvBase {
  readonly clock = new ManualClock(new Date());
  scheduler!: SchedulerClient;
  sns!: SNSClient;
  dynamodb!: DynamoDBClient;
  cloudWatch!: CloudWatchClient;
  /** The per-secret lease every actor takes, as the stack deploys it; `undefined` shows what it prevents. */
  lease: LeaseDeps | undefined;
  alertTopicArn!: string;
  revokerArn!: string;
  rotatorArn!: string;
  secretName!: string;
  /** Overridable pieces of the rotation function's dependencies. */
  depsOverride: Partial<RotationDeps> = {};

  constructor(
    readonly provider: ProviderDefinition,
    readonly sandbox: Sandbox,
    private readonly seed: (sandbox: Sandbox) => ProviderSeed,
  ) {
    super();
  }

  async start(secretName = `prod/${this.provider.name}/api-key`): Promise<this> {
    this.secretName = secretName;
    this.aws = await startLoopbackAws({ clock: this.clock });
    await this.sandbox.start();
    this.sm = new SecretsManagerClient({});
    this.scheduler = new SchedulerClient({});
    this.sns = new SNSClient({});
    this.dynamodb = new DynamoDBClient({});
    this.cloudWatch = new CloudWatchClient({});
    await createLeaseTable(this.dynamodb, LEASE_TABLE);
    this.lease = {
      dynamodb: this.dynamodb,
      logger: this.logger,
      // On the test's clock, shorter than Secrets Manager's first re-attempt: a crashed holder's lease has
      // expired by the time the rotation is tried again, as the stack's 6 min lease has after 5 min timeouts.
      config: { tableName: LEASE_TABLE, waitMs: 2000, durationMs: 4 * 60_000 },
      now: () => this.clock.now(),
      sleep: (ms) => new Promise((resolve) => setTimeout(resolve, Math.min(ms, 20))),
    };
    this.alertTopicArn = this.aws.sns.createTopic('rekey-alerts');
    await this.scheduler.send(new CreateScheduleGroupCommand({ Name: 'rekey' }));
    this.revokerArn = this.aws.lambdas.register('rekey-revoker', (event) =>
      revokePreviousKey(event, this.revocationDeps()),
    );
    const { credential, current } = this.seed(this.sandbox);
    for (const value of Object.values(credential))
      if (typeof value === 'string') this.secretValues.add(value);
    this.secretValues.add(current.value);
    this.rotatorArn = (
      await this.sm.send(
        new CreateSecretCommand({
          Name: `rekey/rotator/${this.provider.name}`,
          SecretString: JSON.stringify(credential),
        }),
      )
    ).ARN!;
    const doc: ManagedKey = {
      provider: this.provider.name,
      key: current.value,
      keyId: current.id,
      createdAt: '2026-01-01T00:00:00.000Z',
      rotatorSecretArn: this.rotatorArn,
      options: {},
    };
    this.secretArn = (
      await this.sm.send(new CreateSecretCommand({ Name: secretName, SecretString: JSON.stringify(doc) }))
    ).ARN!;
    this.redeploy(testRoute(secretName, this.provider.name));
    this.lambdaArn = this.aws.lambdas.register(`rekey-rotate-${this.provider.name}`, (event) =>
      runRotationStep(event, this.deps()),
    );
    // As the deployed stack leaves it: a rotation function attached, no rotation running.
    await this.sm.send(
      new RotateSecretCommand({
        SecretId: this.secretArn,
        RotationLambdaARN: this.lambdaArn,
        RotateImmediately: false,
      }),
    );
    return this;
  }

  deps(): RotationDeps {
    const { secretsManager: _sm, logger: _logger, ...revocation } = this.revocationDeps();
    return {
      secretsManager: this.sm,
      logger: this.logger,
      provider: this.provider,
      routes: this.routes,
      endpoint: this.sandbox.url,
      http: this.http,
      now: () => this.clock.now(),
      handOver: revocationHandOver(revocation),
      alert: (alert) => publishAlert(this.sns, this.alertTopicArn, alert, this.logger),
      ...(this.lease ? { lease: this.lease } : {}),
      ...this.depsOverride,
    };
  }

  readonly http = { timeoutMs: 2000, retry: { attempts: 4, baseDelayMs: 1, maxDelayMs: 20 } };
  /** Overridable pieces of the revoker's dependencies (e.g. usage sources). */
  revocationOverride: Partial<RevocationDeps> = {};

  revocationDeps(): RevocationDeps {
    return {
      secretsManager: this.sm,
      scheduler: this.scheduler,
      sns: this.sns,
      logger: this.logger,
      routes: this.routes,
      now: () => this.clock.now(),
      config: {
        scheduleGroup: 'rekey',
        schedulerRoleArn: 'arn:aws:iam::123456789012:role/rekey-scheduler',
        revokerArn: this.revokerArn,
        deadLetterArn: 'arn:aws:sqs:us-east-1:123456789012:rekey-revocation-dlq',
        alertTopicArn: this.alertTopicArn,
        recheckSeconds: 600,
        maxAttempts: 3,
      },
      endpoints: { [this.provider.name]: this.sandbox.url },
      http: this.http,
      ...(this.lease ? { lease: this.lease } : {}),
      ...this.revocationOverride,
    };
  }

  /** Moves the clock by `ms` and fires every schedule then due; returns how many fired. */
  async advanceAndFire(ms: number): Promise<number> {
    this.clock.advance(ms);
    return this.aws.runDue();
  }

  /** Moves the clock to Secrets Manager's next re-attempt of a failed rotation and lets it run. */
  async reattemptRotation(): Promise<void> {
    const next = this.aws.secretsManager.pendingReattempts()[0];
    if (!next) throw new Error('no failed rotation is waiting for a re-attempt');
    this.clock.set(next.at);
    await this.aws.runDue();
  }

  /** Outcomes the revoker logged, in order. */
  revocationOutcomes(): string[] {
    return this.logs
      .records()
      .filter((r) => typeof r.outcome === 'string' && String(r.message).startsWith('revocation '))
      .map((r) => r.outcome as string);
  }

  alerts(): Array<{ subject: string | undefined; message: Record<string, unknown> }> {
    return alertsOn(this.aws, this.alertTopicArn);
  }

  async stop(): Promise<void> {
    this.sm?.destroy();
    this.scheduler?.destroy();
    this.sns?.destroy();
    this.dynamodb?.destroy();
    this.cloudWatch?.destroy();
    await this.aws?.stop();
    await this.sandbox.stop();
  }

  protected issuedSecrets(): string[] {
    return this.sandbox.issuedSecrets();
  }
}

/** A SendGrid key under management (the environment most rotation tests use). */
export class SendGridRotationEnv extends ManagedKeyEnv<SendGridSandbox> {
  constructor() {
    super(sendgrid, new SendGridSandbox(), (sandbox) => ({
      credential: { apiKey: sandbox.seedKey('rekey-rotator').value },
      current: sandbox.seedKey('notification-service', APP_SCOPES),
    }));
  }

  /** Keys at SendGrid besides the rotator's: the app's original key and those rekey created. */
  appKeys(): Array<{ id: string; name: string; scopes: string[] }> {
    return this.sandbox.listKeys().filter((k) => k.name !== 'rekey-rotator');
  }
}
