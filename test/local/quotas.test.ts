import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import {
  CreateTableCommand,
  DeleteItemCommand,
  DynamoDBClient,
  PutItemCommand,
} from '@aws-sdk/client-dynamodb';
import {
  CreateScheduleCommand,
  DeleteScheduleCommand,
  ListSchedulesCommand,
  SchedulerClient,
} from '@aws-sdk/client-scheduler';
import {
  CreateSecretCommand,
  GetSecretValueCommand,
  ListSecretVersionIdsCommand,
  PutSecretValueCommand,
  SecretsManagerClient,
  UpdateSecretVersionStageCommand,
} from '@aws-sdk/client-secrets-manager';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { AssumeRoleCommand, GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { DOCUMENTED_QUOTAS, documentedQuotas, type RateQuota, RateQuotas } from '../../local/aws/quotas.js';
import type { LoopbackAws } from '../../local/aws/server.js';
import { startLoopbackAws } from '../support/env.js';

const THROTTLED = { code: 'ThrottlingException', status: 400, message: 'Rate exceeded' };
/**
 * ca-central-1: a Region where Scheduler allows 250 requests per second per operation and SNS 300 Publish
 * per second (their quotas pages) — a burst past them takes a few hundred requests, not thousands.
 */
const REGION = 'ca-central-1';

const rateOf = (quotas: readonly RateQuota[], operation: string): number =>
  quotas.find((q) => q.operations.includes(operation))!.perSecond;

const statusOf = (error: unknown) =>
  (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;

/**
 * Sends `n` requests, 100 at a time (a thousand at once only queue in the SDK's 50 sockets, and time out on
 * a busy machine); the refused ones' errors. The tests freeze the rate clock for the burst, so it arrives at
 * one instant as far as the quotas can tell.
 */
async function burst(n: number, send: (i: number) => Promise<unknown>): Promise<Error[]> {
  const refused: Error[] = [];
  for (let from = 0; from < n; from += 100) {
    const results = await Promise.allSettled(
      Array.from({ length: Math.min(100, n - from) }, (_, i) => send(from + i)),
    );
    for (const r of results) if (r.status === 'rejected') refused.push(r.reason as Error);
  }
  return refused;
}

/**
 * A rate clock that stands still for the first `requests` quota checks — the burst arrives at one instant,
 * so exactly one second's worth passes — and runs in real time after: the SDK's retries of the refused
 * requests then meet a refilled bucket, as they would after the real second their backoff waits.
 */
function burstThenRealTime(requests: number): () => number {
  let checks = 0;
  return () => (++checks <= requests ? 0 : performance.now());
}

describe('loopback quotas: requests over a documented rate are throttled as AWS throttles them', () => {
  it('a bucket holds one second of requests and refills with real time', () => {
    let now = 0;
    const quotas = new RateQuotas(
      [
        {
          name: 'writes',
          operations: ['secretsmanager.PutSecretValue', 'secretsmanager.UpdateSecretVersionStage'],
          perSecond: 50,
          error: THROTTLED,
        },
      ],
      () => now,
    );
    for (let i = 0; i < 25; i++) assert.equal(quotas.take('secretsmanager.PutSecretValue'), undefined);
    // The two operations share the bucket, as PutSecretValue and UpdateSecretVersionStage share AWS's 50/s.
    for (let i = 0; i < 25; i++)
      assert.equal(quotas.take('secretsmanager.UpdateSecretVersionStage'), undefined);
    assert.equal(quotas.take('secretsmanager.PutSecretValue')?.name, 'writes');
    now += 100; // a tenth of a second: five more
    for (let i = 0; i < 5; i++) assert.equal(quotas.take('secretsmanager.PutSecretValue'), undefined);
    assert.ok(quotas.take('secretsmanager.PutSecretValue'));
    assert.equal(quotas.take('secretsmanager.ListSecrets'), undefined, 'an operation with no modelled quota');
    assert.equal(quotas.throttled.get('writes'), 2);
  });

  it('a per-scope quota keeps one bucket per scope (a DynamoDB partition)', () => {
    const quotas = new RateQuotas(
      [
        {
          name: 'partition',
          operations: ['dynamodb.PutItem'],
          perSecond: 2,
          perScope: true,
          error: THROTTLED,
        },
      ],
      () => 0,
    );
    assert.equal(quotas.take('dynamodb.PutItem', 'a'), undefined);
    assert.equal(quotas.take('dynamodb.PutItem', 'a'), undefined);
    assert.equal(quotas.take('dynamodb.PutItem', 'a')?.name, 'partition');
    assert.equal(quotas.take('dynamodb.PutItem', 'b'), undefined, 'another partition has its own bucket');
  });

  it('the table holds the documented numbers, by Region where the pages give them by Region', () => {
    const east = documentedQuotas('us-east-1');
    const central = documentedQuotas(REGION);
    assert.deepEqual(DOCUMENTED_QUOTAS, east);
    assert.equal(rateOf(east, 'secretsmanager.PutSecretValue'), 50);
    assert.equal(rateOf(east, 'scheduler.CreateSchedule'), 5_000);
    assert.equal(rateOf(east, 'scheduler.DeleteSchedule'), 1_000);
    assert.equal(rateOf(central, 'scheduler.CreateSchedule'), 250);
    assert.equal(rateOf(east, 'sns.Publish'), 30_000);
    assert.equal(rateOf(documentedQuotas('eu-west-1'), 'sns.Publish'), 9_000);
    assert.equal(rateOf(documentedQuotas('eu-central-1'), 'sns.Publish'), 1_500);
    assert.equal(rateOf(central, 'sns.Publish'), 300);
    assert.equal(rateOf(central, 'sts.AssumeRole'), 600);
    assert.equal(rateOf(central, 'dynamodb.PutItem'), 1_000);
    // One quota per operation: an operation listed twice would be counted against only one of them.
    const operations = east.flatMap((q) => q.operations);
    assert.equal(new Set(operations).size, operations.length);
  });

  describe('Secrets Manager, with the real SDK', () => {
    let aws: LoopbackAws;
    let sm: SecretsManagerClient;
    let arn: string;
    before(async () => {
      // The rate clock stands still: exactly one second's worth of requests is allowed, however slow the run.
      aws = await startLoopbackAws({ rateClock: () => 0 });
      // No retries: what the endpoint answers, not what the SDK's backoff hides.
      sm = new SecretsManagerClient({ maxAttempts: 1 });
      arn = (await sm.send(new CreateSecretCommand({ Name: 'quota/key', SecretString: '{}' }))).ARN!;
    });
    after(async () => {
      sm.destroy();
      await aws.stop();
    });

    it('60 writes at once: 50 succeed, 10 get ThrottlingException and create nothing', async () => {
      const refused = await burst(60, (i) =>
        sm.send(
          new PutSecretValueCommand({ SecretId: arn, SecretString: `{"n":${i}}`, VersionStages: [`S${i}`] }),
        ),
      );
      assert.equal(refused.length, 10);
      for (const error of refused) {
        assert.equal(error.name, 'ThrottlingException');
        assert.equal(statusOf(error), 400);
      }
      const versions = await sm.send(new ListSecretVersionIdsCommand({ SecretId: arn }));
      assert.equal(versions.Versions?.length, 1 + 50, 'the first version and the fifty accepted writes');
      // UpdateSecretVersionStage shares the bucket, now empty; GetSecretValue has its own, far larger one.
      await assert.rejects(
        sm.send(
          new UpdateSecretVersionStageCommand({
            SecretId: arn,
            VersionStage: 'S0',
            RemoveFromVersionId: versions.Versions![1]!.VersionId!,
          }),
        ),
        (error: Error) => error.name === 'ThrottlingException',
      );
      assert.ok((await sm.send(new GetSecretValueCommand({ SecretId: arn }))).SecretString);
      assert.equal(aws.quotas.throttled.size, 1);
    });
  });

  describe('EventBridge Scheduler: 250 CreateSchedule per second in ca-central-1', () => {
    const rate = rateOf(documentedQuotas(REGION), 'scheduler.CreateSchedule');
    let aws: LoopbackAws | undefined;
    afterEach(async () => aws?.stop());
    const create = (client: SchedulerClient, name: string) =>
      client.send(
        new CreateScheduleCommand({
          Name: name,
          ScheduleExpression: 'at(2030-01-01T00:00:00)',
          FlexibleTimeWindow: { Mode: 'OFF' },
          Target: {
            Arn: 'arn:aws:lambda:ca-central-1:123456789012:function:f',
            RoleArn: 'arn:aws:iam::123456789012:role/r',
          },
        }),
      );
    const scheduleCount = async (client: SchedulerClient) =>
      (await client.send(new ListSchedulesCommand({ MaxResults: 1000 }))).Schedules?.length ?? 0;

    it('a burst past the rate gets ThrottlingException (HTTP 429) and creates nothing', async () => {
      aws = await startLoopbackAws({ region: REGION, rateClock: () => 0 });
      const client = new SchedulerClient({ maxAttempts: 1 });
      const refused = await burst(rate + 10, (i) => create(client, `s${i}`));
      assert.equal(refused.length, 10);
      for (const error of refused) {
        assert.equal(error.name, 'ThrottlingException');
        assert.equal(statusOf(error), 429);
      }
      assert.equal(await scheduleCount(client), rate);
      // DeleteSchedule has a bucket of its own, still full.
      await client.send(new DeleteScheduleCommand({ Name: 's0' }));
      client.destroy();
    });

    it("the SDK's standard retry absorbs a short burst", async () => {
      aws = await startLoopbackAws({ region: REGION, rateClock: burstThenRealTime(rate + 20) });
      const client = new SchedulerClient({});
      assert.deepEqual(await burst(rate + 20, (i) => create(client, `s${i}`)), []);
      assert.ok(aws.quotas.throttled.get('CreateSchedule request rate')! >= 20, 'the burst met the quota');
      assert.equal(await scheduleCount(client), rate + 20);
      client.destroy();
    });
  });

  describe('SNS: 300 Publish per second in ca-central-1', () => {
    const rate = rateOf(documentedQuotas(REGION), 'sns.Publish');
    let aws: LoopbackAws | undefined;
    afterEach(async () => aws?.stop());

    it('a burst past the rate gets ThrottledException (Throttled, HTTP 429) and publishes nothing', async () => {
      aws = await startLoopbackAws({ region: REGION, rateClock: () => 0 });
      const topic = aws.sns.createTopic('alerts');
      const client = new SNSClient({ maxAttempts: 1 });
      const refused = await burst(rate + 10, (i) =>
        client.send(new PublishCommand({ TopicArn: topic, Message: `m${i}` })),
      );
      assert.equal(refused.length, 10);
      for (const error of refused) {
        assert.equal(error.name, 'ThrottledException');
        assert.equal(statusOf(error), 429);
      }
      assert.equal(aws.sns.messagesTo(topic).length, rate);
      client.destroy();
    });

    it("the SDK's standard retry absorbs a short burst", async () => {
      aws = await startLoopbackAws({ region: REGION, rateClock: burstThenRealTime(rate + 20) });
      const topic = aws.sns.createTopic('alerts');
      const client = new SNSClient({});
      assert.deepEqual(
        await burst(rate + 20, (i) => client.send(new PublishCommand({ TopicArn: topic, Message: `m${i}` }))),
        [],
      );
      assert.ok(
        aws.quotas.throttled.get('Publish API throttling per account')! >= 20,
        'the burst met the quota',
      );
      assert.equal(aws.sns.messagesTo(topic).length, rate + 20);
      client.destroy();
    });
  });

  describe('STS: 600 requests per second, shared by AssumeRole and GetCallerIdentity', () => {
    let aws: LoopbackAws | undefined;
    afterEach(async () => aws?.stop());
    const role = 'arn:aws:iam::123456789012:role/rekey-key';
    const assume = (client: STSClient, i: number) =>
      client.send(new AssumeRoleCommand({ RoleArn: role, RoleSessionName: `s${i}` }));

    it('a burst past the rate gets Throttling (HTTP 400) and starts no session', async () => {
      aws = await startLoopbackAws({ rateClock: () => 0 });
      aws.sts.defineRole(role, () => true);
      const client = new STSClient({ maxAttempts: 1 });
      const refused = await burst(610, (i) => assume(client, i));
      assert.equal(refused.length, 10);
      for (const error of refused) {
        assert.equal(error.name, 'Throttling');
        assert.equal(statusOf(error), 400);
      }
      assert.equal(aws.sts.assumed.length, 600);
      await assert.rejects(client.send(new GetCallerIdentityCommand({})), { name: 'Throttling' });
      client.destroy();
    });

    it("the SDK's standard retry absorbs a short burst", async () => {
      aws = await startLoopbackAws({ rateClock: burstThenRealTime(620) });
      aws.sts.defineRole(role, () => true);
      const client = new STSClient({});
      assert.deepEqual(await burst(620, (i) => assume(client, i)), []);
      assert.ok(aws.quotas.throttled.get('AWS STS request quota')! >= 20, 'the burst met the quota');
      assert.equal(aws.sts.assumed.length, 620);
      client.destroy();
    });
  });

  describe('DynamoDB: 1,000 writes per second per partition', () => {
    let aws: LoopbackAws | undefined;
    afterEach(async () => aws?.stop());
    const table = 'rekey-leases';
    const put = (client: DynamoDBClient, secret: string, i: number) =>
      client.send(
        new PutItemCommand({ TableName: table, Item: { secret: { S: secret }, n: { N: String(i) } } }),
      );

    it('a burst on one lease item gets ProvisionedThroughputExceededException; other items are unaffected', async () => {
      aws = await startLoopbackAws({ rateClock: () => 0 });
      const client = new DynamoDBClient({ maxAttempts: 1 });
      await createLeaseTable(client, table);
      const refused = await burst(1_010, (i) => put(client, 'hot', i));
      assert.equal(refused.length, 10);
      for (const error of refused) {
        assert.equal(error.name, 'ProvisionedThroughputExceededException');
        assert.equal(statusOf(error), 400);
        assert.deepEqual((error as { ThrottlingReasons?: unknown }).ThrottlingReasons, [
          {
            reason: 'TableWriteKeyRangeThroughputExceeded',
            resource: `arn:aws:dynamodb:us-east-1:123456789012:table/${table}`,
          },
        ]);
      }
      // Only the accepted writes reached the table; another partition has room of its own.
      assert.equal(aws.count('dynamodb.PutItem'), 1_000);
      await put(client, 'cold', 0);
      await assert.rejects(
        client.send(new DeleteItemCommand({ TableName: table, Key: { secret: { S: 'hot' } } })),
        { name: 'ProvisionedThroughputExceededException' },
      );
      assert.equal(aws.dynamodb.scan(table).length, 2);
      client.destroy();
    });

    it("the SDK's standard retry absorbs a short burst", async () => {
      aws = await startLoopbackAws({ rateClock: burstThenRealTime(1_020) });
      const client = new DynamoDBClient({});
      await createLeaseTable(client, table);
      assert.deepEqual(await burst(1_020, (i) => put(client, 'hot', i)), []);
      assert.ok(aws.quotas.throttled.get('Write throughput per partition')! >= 20, 'the burst met the quota');
      assert.equal(aws.count('dynamodb.PutItem'), 1_020);
      client.destroy();
    });
  });
});

async function createLeaseTable(client: DynamoDBClient, name: string): Promise<void> {
  await client.send(
    new CreateTableCommand({
      TableName: name,
      KeySchema: [{ AttributeName: 'secret', KeyType: 'HASH' }],
      AttributeDefinitions: [{ AttributeName: 'secret', AttributeType: 'S' }],
      BillingMode: 'PAY_PER_REQUEST',
    }),
  );
}
