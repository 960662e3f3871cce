import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CreateTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { CreateScheduleGroupCommand, SchedulerClient } from '@aws-sdk/client-scheduler';
import {
  CreateSecretCommand,
  GetSecretValueCommand,
  PutSecretValueCommand,
  RotateSecretCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { STSClient } from '@aws-sdk/client-sts';
import { assumedKeyScopes } from '../../lambdas/key-scope.js';
import { type KeyRoute, ROUTES_FILE } from '../../lambdas/routes.js';
import { type ManagedKey, parseManagedKey } from '../../lambdas/secret-format.js';
import type { LoopbackAws } from '../../local/aws/server.js';
import { SENDGRID_ADMIN_SCOPES, SendGridSandbox } from '../../local/sandboxes/sendgrid.js';
import { startLoopbackAws } from '../support/env.js';

/**
 * The deployed handlers themselves (lambdas/handlers/*), not the plain functions: their module-scope wiring
 * reads the routes from the bundle directory (LAMBDA_TASK_ROOT), the stack's REKEY_* variables and the
 * per-key role prefix, and assumes each key's role through STS on the loopback endpoint, which refuses what
 * a role's policy does not allow. Two SendGrid keys share one rotator credential (one provider account):
 * `a` may be rolled back by its alarm, `b` may not.
 */
const ACCOUNT = '123456789012';
const ROLE_PREFIX = `arn:aws:iam::${ACCOUNT}:role/`;
const ROTATOR = 'rekey/rotator/sendgrid';

const route = (name: string, change: Partial<KeyRoute> = {}): KeyRoute => ({
  name,
  secretName: `prod/sendgrid/${name}`,
  provider: 'sendgrid',
  rotatorSecret: ROTATOR,
  options: { scopes: ['mail.send'] },
  singleKey: false,
  gracePeriod: '1h',
  rollbackOnFailure: true,
  roles: { rotation: `rekey-rot-${name}`, revocation: `rekey-rev-${name}` },
  ...change,
});
const ROUTES = [route('a'), route('b', { rollbackOnFailure: false })];

type Handler = (event: unknown, context: unknown) => Promise<unknown>;

describe('the deployed handlers on loopback: routes from the bundle, a session of each key’s role', () => {
  let aws: LoopbackAws;
  let sandbox: SendGridSandbox;
  let sm: SecretsManagerClient;
  const arns = new Map<string, string>();
  const current = new Map<string, { id: string; value: string }>();
  let rotateArn: string;
  let revoke: Handler;
  let rollback: Handler;
  const saved = { ...process.env };

  before(async () => {
    aws = await startLoopbackAws();
    sandbox = new SendGridSandbox();
    await sandbox.start();
    sm = new SecretsManagerClient({});
    const admin = sandbox.seedKey('rekey-rotator', SENDGRID_ADMIN_SCOPES);
    const rotatorArn = (
      await sm.send(
        new CreateSecretCommand({ Name: ROTATOR, SecretString: JSON.stringify({ apiKey: admin.value }) }),
      )
    ).ARN!;
    const other = await sm.send(
      new CreateSecretCommand({
        Name: 'rekey/rotator/elsewhere',
        SecretString: JSON.stringify({ apiKey: admin.value }),
      }),
    );
    assert.ok(other.ARN);
    for (const r of ROUTES) {
      const key = sandbox.seedKey(`app-${r.name}`, ['mail.send']);
      current.set(r.name, key);
      const doc: ManagedKey = {
        provider: 'sendgrid',
        key: key.value,
        keyId: key.id,
        createdAt: '2026-11-01T00:00:00.000Z',
        rotatorSecretArn: rotatorArn,
        options: r.options,
      };
      const arn = (
        await sm.send(new CreateSecretCommand({ Name: r.secretName, SecretString: JSON.stringify(doc) }))
      ).ARN!;
      arns.set(r.name, arn);
      // Each key's roles, as the stack deploys them: its own secret and the shared rotator credential only.
      const mine = new Set([arn, r.secretName, rotatorArn, ROTATOR]);
      const policy = ({ service, input }: { service: string; input: Record<string, unknown> }) =>
        service === 'secretsmanager' && mine.has(String(input.SecretId));
      aws.sts.defineRole(`${ROLE_PREFIX}${r.roles!.rotation}`, policy);
      aws.sts.defineRole(`${ROLE_PREFIX}${r.roles!.revocation}`, policy);
    }
    const dynamodb = new DynamoDBClient({});
    await dynamodb.send(
      new CreateTableCommand({
        TableName: 'rekey-leases',
        KeySchema: [{ AttributeName: 'secret', KeyType: 'HASH' }],
        AttributeDefinitions: [{ AttributeName: 'secret', AttributeType: 'S' }],
        BillingMode: 'PAY_PER_REQUEST',
      }),
    );
    dynamodb.destroy();
    const scheduler = new SchedulerClient({});
    await scheduler.send(new CreateScheduleGroupCommand({ Name: 'rekey' }));
    scheduler.destroy();

    // The bundle directory, as the stack writes it, and the stack's wiring.
    const bundle = mkdtempSync(join(tmpdir(), 'rekey-bundle-'));
    writeFileSync(join(bundle, ROUTES_FILE), JSON.stringify(ROUTES));
    const revokerArn = aws.lambdas.register('rekey-revoker', (event) => revoke(event, {}));
    Object.assign(process.env, {
      LAMBDA_TASK_ROOT: bundle,
      REKEY_ROLE_ARN_PREFIX: ROLE_PREFIX,
      REKEY_PROVIDER_ENDPOINT: sandbox.url,
      REKEY_PROVIDER_ENDPOINT_SENDGRID: sandbox.url,
      REKEY_SCHEDULE_GROUP: 'rekey',
      REKEY_SCHEDULER_ROLE_ARN: `${ROLE_PREFIX}rekey-scheduler`,
      REKEY_REVOKER_ARN: revokerArn,
      REKEY_ALERT_TOPIC_ARN: aws.sns.createTopic('rekey-security'),
      REKEY_ROLLBACK_TOPIC_ARN: aws.sns.createTopic('rekey-rollback'),
      REKEY_LEASE_TABLE: 'rekey-leases',
      AWS_LAMBDA_LOG_LEVEL: 'ERROR',
    });
    const rotate = ((await import('../../lambdas/handlers/rotate-sendgrid.js')) as { handler: Handler })
      .handler;
    revoke = ((await import('../../lambdas/handlers/revoke.js')) as { handler: Handler }).handler;
    rollback = ((await import('../../lambdas/handlers/rollback.js')) as { handler: Handler }).handler;
    rotateArn = aws.lambdas.register('rekey-rotate-sendgrid', (event) => rotate(event, {}));
  });
  after(async () => {
    sm.destroy();
    await aws.stop();
    await sandbox.stop();
    process.env = { ...saved };
  });

  const alerts = () =>
    aws.sns
      .messagesTo(process.env.REKEY_ALERT_TOPIC_ARN!)
      .map((m) => JSON.parse(m.message) as Record<string, unknown>);
  const read = async (name: string, stage = 'AWSCURRENT') => {
    const out = await sm.send(new GetSecretValueCommand({ SecretId: arns.get(name), VersionStage: stage }));
    return { ...parseManagedKey(out.SecretString, { secretId: name }), versionId: out.VersionId! };
  };

  it('rotates a key with a session of that key’s rotation role only', async () => {
    const before = aws.sts.assumed.length;
    await sm.send(new RotateSecretCommand({ SecretId: arns.get('a'), RotationLambdaARN: rotateArn }));
    await aws.secretsManager.settled();
    assert.equal(aws.secretsManager.outcomes.at(-1)?.ok, true, aws.secretsManager.outcomes.at(-1)?.error);
    const assumed = aws.sts.assumed.slice(before).map((s) => s.roleArn);
    assert.deepEqual([...new Set(assumed)], [`${ROLE_PREFIX}rekey-rot-a`]);
    const now = await read('a');
    assert.notEqual(now.keyId, current.get('a')!.id);
    assert.ok(sandbox.accepts(now.key));
  });

  it('a key’s session cannot read another key’s secret: the endpoint refuses what its role does not allow', async () => {
    const scopeFor = assumedKeyScopes({
      sts: new STSClient({}),
      roleArnPrefix: ROLE_PREFIX,
      purpose: 'rotation',
      actor: 'test',
    });
    const a = scopeFor(ROUTES[0]!);
    await assert.rejects(
      a.secretsManager.send(new GetSecretValueCommand({ SecretId: arns.get('b') })),
      (error: Error) => error.name === 'AccessDeniedException',
    );
    assert.ok(
      (await a.secretsManager.send(new GetSecretValueCommand({ SecretId: arns.get('a') }))).SecretString,
    );
  });

  it('finding 2: a document naming another rotator secret is refused by the handler, alerted, and changes nothing', async () => {
    const stored = await read('b');
    const { versionId: _v, ...doc } = stored;
    const forged = {
      ...doc,
      rotatorSecretArn: `arn:aws:secretsmanager:us-east-1:${ACCOUNT}:secret:rekey/rotator/elsewhere-AbCdEf`,
    };
    const put = await sm.send(
      new PutSecretValueCommand({ SecretId: arns.get('b'), SecretString: JSON.stringify(forged) }),
    );
    const requests = sandbox.requests.length;
    const alertsBefore = alerts().length;
    await sm.send(new RotateSecretCommand({ SecretId: arns.get('b'), RotationLambdaARN: rotateArn }));
    await aws.secretsManager.settled();
    const outcome = aws.secretsManager.outcomes.at(-1)!;
    assert.equal(outcome.failedStep, 'createSecret');
    assert.match(
      outcome.error!,
      /field "rotatorSecretArn" is \S+rekey\/rotator\/elsewhere\S+ but the deployed inventory says rotator_secret "rekey\/rotator\/sendgrid" for "b"/,
    );
    assert.equal(sandbox.requests.length, requests, 'no call reached the provider');
    assert.deepEqual(
      alerts()
        .slice(alertsBefore)
        .map((a) => a.event),
      ['routing-mismatch'],
    );
    assert.equal((await read('b')).versionId, put.VersionId, 'AWSCURRENT is unchanged');
    // Put the document back as deployed (b is not rotated again here).
    await sm.send(
      new PutSecretValueCommand({
        SecretId: arns.get('b'),
        SecretString: JSON.stringify(doc),
        VersionStages: ['AWSCURRENT'],
      }),
    );
  });

  it('finding 1: the revoker refuses a request naming another secret’s key, and a secret outside the deployment', async () => {
    const a = await read('a');
    const b = current.get('b')!;
    const alertsBefore = alerts().length;
    const request = {
      secretArn: arns.get('a'),
      previousVersionId: a.versionId,
      previousKeyId: b.id,
      newVersionId: '00000000-0000-4000-8000-000000000000',
      promotedAt: new Date().toISOString(),
    };
    const refused = (await revoke(request, {})) as { outcome: string };
    assert.equal(refused.outcome, 'aborted');
    const outside = (await revoke(
      { ...request, secretArn: `arn:aws:secretsmanager:us-east-1:${ACCOUNT}:secret:prod/other/key-AbCdEf` },
      {},
    )) as { outcome: string };
    assert.equal(outside.outcome, 'aborted');
    assert.ok(sandbox.accepts(b.value), 'b’s key still works');
    assert.ok(sandbox.accepts(a.key), 'a’s key still works');
    const events = alerts().slice(alertsBefore);
    assert.equal(events.length, 2);
    assert.match(String(events[0]!.detail), /stores key \S+, not \S+; the request is not rekey's/);
    assert.match(String(events[1]!.detail), /is not one of this deployment's keys/);
  });

  it('finding 4: rollback of a key whose inventory says rollback_on_failure: false is refused, even for a real alarm in ALARM', async () => {
    aws.cloudWatch.putAlarm({
      name: 'rekey-AuthFailureSpike-b',
      dimensions: { SecretName: 'prod/sendgrid/b' },
      actions: [process.env.REKEY_ROLLBACK_TOPIC_ARN!],
      state: 'ALARM',
    });
    const before = await read('b');
    const alertsBefore = alerts().length;
    const message = {
      AlarmName: 'rekey-AuthFailureSpike-b',
      NewStateValue: 'ALARM',
      Trigger: { Dimensions: [{ name: 'SecretName', value: 'prod/sendgrid/b' }] },
    };
    const result = await rollback({ Records: [{ Sns: { Message: JSON.stringify(message) } }] }, {});
    assert.equal(result, undefined);
    assert.equal((await read('b')).versionId, before.versionId, 'nothing was rolled back');
    const events = alerts().slice(alertsBefore);
    assert.deepEqual(
      events.map((e) => e.event),
      ['rollback-refused'],
    );
    assert.match(String(events[0]!.detail), /rollback_on_failure: false for "b"/);
  });
});
