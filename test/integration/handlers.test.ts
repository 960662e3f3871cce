import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
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
import { ManualClock } from '../../local/clock.js';
import { FUNCTION_ACCESS_KEY_ID, FUNCTION_ROLE_POLICY } from '../../local/playground.js';
import { INTERNAL_GATEWAY_DESCRIPTION } from '../../local/rehearsal/providers.js';
import { HttpKeysSandbox } from '../../local/sandboxes/http-keys.js';
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
/** An internal gateway key through the generic HTTP adapter; its origin is pinned once the sandbox runs. */
const gatewayRoute = (origin: string): KeyRoute =>
  route('gateway', {
    secretName: 'prod/internal/gateway-key',
    provider: 'http',
    rotatorSecret: 'rekey/rotator/internal-gateway',
    options: INTERNAL_GATEWAY_DESCRIPTION,
    origin,
  });

type Handler = (event: unknown, context: unknown) => Promise<unknown>;

describe('the deployed handlers on loopback: routes from the bundle, a session of each key’s role', () => {
  let aws: LoopbackAws;
  let sandbox: SendGridSandbox;
  let sm: SecretsManagerClient;
  const arns = new Map<string, string>();
  const current = new Map<string, { id: string; value: string }>();
  let rotateArn: string;
  let rotateHttpArn: string;
  let gateway: HttpKeysSandbox;
  let gatewayArn: string;
  let gatewayRotatorArn: string;
  /** Stands in for another host: counts every request that reaches it. */
  let elsewhere: Server;
  let elsewhereHits = 0;
  let revoke: Handler;
  let rollback: Handler;
  const saved = { ...process.env };
  const clock = new ManualClock(new Date());

  before(async () => {
    aws = await startLoopbackAws({ clock });
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
    gateway = new HttpKeysSandbox({ requireDisableBeforeDelete: true });
    await gateway.start();
    elsewhere = createServer((_req, res) => {
      elsewhereHits += 1;
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
    await new Promise<void>((resolve) => elsewhere.listen(0, '127.0.0.1', resolve));
    const gatewayKey = gateway.seedKey('billing', ['orders:read']);
    const gatewayOrigin = new URL(gateway.url).origin;
    gatewayRotatorArn = (
      await sm.send(
        new CreateSecretCommand({
          Name: 'rekey/rotator/internal-gateway',
          SecretString: JSON.stringify({ baseUrl: gateway.url, token: gateway.adminToken }),
        }),
      )
    ).ARN!;
    const gatewayDoc: ManagedKey = {
      provider: 'http',
      key: gatewayKey.value,
      keyId: gatewayKey.id,
      createdAt: '2026-11-01T00:00:00.000Z',
      rotatorSecretArn: gatewayRotatorArn,
      options: INTERNAL_GATEWAY_DESCRIPTION,
    };
    const gw = gatewayRoute(gatewayOrigin);
    gatewayArn = (
      await sm.send(
        new CreateSecretCommand({ Name: gw.secretName, SecretString: JSON.stringify(gatewayDoc) }),
      )
    ).ARN!;
    const gatewayPolicy = ({ service, input }: { service: string; input: Record<string, unknown> }) =>
      service === 'secretsmanager' &&
      [gatewayArn, gw.secretName, gatewayRotatorArn].includes(String(input.SecretId));
    aws.sts.defineRole(`${ROLE_PREFIX}${gw.roles!.rotation}`, gatewayPolicy);
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

    // The bundle directories, as the stack writes them (each function its own routes), and the stack's wiring.
    const bundle = (routes: KeyRoute[]) => {
      const dir = mkdtempSync(join(tmpdir(), 'rekey-bundle-'));
      writeFileSync(join(dir, ROUTES_FILE), JSON.stringify(routes));
      return dir;
    };
    const revokerArn = aws.lambdas.register('rekey-revoker', (event) => revoke(event, {}));
    Object.assign(process.env, {
      REKEY_ROLE_ARN_PREFIX: ROLE_PREFIX,
      REKEY_PROVIDER_ENDPOINT_SENDGRID: sandbox.url,
      REKEY_SCHEDULE_GROUP: 'rekey',
      REKEY_SCHEDULER_ROLE_ARN: `${ROLE_PREFIX}rekey-scheduler`,
      REKEY_REVOKER_ARN: revokerArn,
      REKEY_ALERT_TOPIC_ARN: aws.sns.createTopic('rekey-security'),
      REKEY_ROLLBACK_TOPIC_ARN: aws.sns.createTopic('rekey-rollback'),
      REKEY_LEASE_TABLE: 'rekey-leases',
      AWS_LAMBDA_LOG_LEVEL: 'ERROR',
      // The functions sign with their execution role's credentials, which may not touch a secret: every
      // call on a key must go through that key's role. (This test's own clients resolved theirs above.)
      AWS_ACCESS_KEY_ID: FUNCTION_ACCESS_KEY_ID,
    });
    aws.sts.defineAccessKey(
      FUNCTION_ACCESS_KEY_ID,
      FUNCTION_ROLE_POLICY,
      `arn:aws:sts::${ACCOUNT}:assumed-role/rekey-function/handler`,
    );
    // Each handler reads its wiring when it loads. The gateway's function has no endpoint override: the
    // credential's baseUrl is used, on the origin the inventory pins.
    const load = async (file: string) =>
      ((await import(`../../lambdas/handlers/${file}.js`)) as { handler: Handler }).handler;
    process.env.LAMBDA_TASK_ROOT = bundle([gw]);
    const rotateHttp = await load('rotate-http');
    process.env.LAMBDA_TASK_ROOT = bundle(ROUTES);
    process.env.REKEY_PROVIDER_ENDPOINT = sandbox.url;
    const rotate = await load('rotate-sendgrid');
    process.env.LAMBDA_TASK_ROOT = bundle([...ROUTES, gw]);
    revoke = await load('revoke');
    rollback = await load('rollback');
    rotateArn = aws.lambdas.register('rekey-rotate-sendgrid', (event) => rotate(event, {}));
    rotateHttpArn = aws.lambdas.register('rekey-rotate-http', (event) => rotateHttp(event, {}));
  });
  after(async () => {
    sm.destroy();
    await aws.stop();
    await sandbox.stop();
    await gateway.stop();
    await new Promise((resolve) => elsewhere.close(resolve));
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

  it('finding 3: a rotator credential whose baseUrl leaves the pinned origin is refused before the admin token goes anywhere', async () => {
    const before = await sm.send(new GetSecretValueCommand({ SecretId: gatewayArn }));
    const port = (elsewhere.address() as AddressInfo).port;
    await sm.send(
      new PutSecretValueCommand({
        SecretId: gatewayRotatorArn,
        SecretString: JSON.stringify({ baseUrl: `http://localhost:${port}`, token: gateway.adminToken }),
      }),
    );
    const alertsBefore = alerts().length;
    await sm.send(new RotateSecretCommand({ SecretId: gatewayArn, RotationLambdaARN: rotateHttpArn }));
    await aws.secretsManager.settled();
    const outcome = aws.secretsManager.outcomes.at(-1)!;
    assert.equal(outcome.failedStep, 'createSecret');
    assert.match(
      outcome.error!,
      /the rotator credential's field "baseUrl" is on \S+ but the deployed inventory says provider_api on http:\/\/127\.0\.0\.1:\d+ for "gateway"/,
    );
    assert.equal(elsewhereHits, 0, 'nothing reached the other host');
    assert.deepEqual(
      alerts()
        .slice(alertsBefore)
        .map((a) => a.event),
      ['routing-mismatch'],
    );
    const after = await sm.send(new GetSecretValueCommand({ SecretId: gatewayArn }));
    assert.equal(after.VersionId, before.VersionId, 'AWSCURRENT is unchanged');
  });

  it('finding 3: a document whose validate path would reach another host is refused, and so is the path itself', async () => {
    await sm.send(
      new PutSecretValueCommand({
        SecretId: gatewayRotatorArn,
        SecretString: JSON.stringify({ baseUrl: gateway.url, token: gateway.adminToken }),
      }),
    );
    const stored = await sm.send(new GetSecretValueCommand({ SecretId: gatewayArn }));
    const doc = parseManagedKey(stored.SecretString, { secretId: 'gateway' });
    const port = (elsewhere.address() as AddressInfo).port;
    const forged = {
      ...doc,
      options: {
        ...INTERNAL_GATEWAY_DESCRIPTION,
        validate: { ...INTERNAL_GATEWAY_DESCRIPTION.validate, path: `//localhost:${port}/steal` },
      },
    };
    await sm.send(new PutSecretValueCommand({ SecretId: gatewayArn, SecretString: JSON.stringify(forged) }));
    // The refused rotation of the previous test left its AWSPENDING version: Secrets Manager re-attempts it.
    const due = aws.secretsManager
      .pendingReattempts()
      .find((r) => r.secretName === 'prod/internal/gateway-key');
    assert.ok(due, 'the refused rotation waits for its re-attempt');
    clock.set(due.at);
    await aws.runDue();
    const outcome = aws.secretsManager.outcomes
      .filter((o) => o.secretName === 'prod/internal/gateway-key')
      .at(-1)!;
    assert.equal(outcome.failedStep, 'createSecret');
    assert.match(
      outcome.error!,
      /field "options\.validate" is .*\/\/localhost:\d+\/steal.* but the deployed inventory says/,
    );
    assert.equal(elsewhereHits, 0, 'nothing reached the other host');
    assert.ok(gateway.accepts(doc.key), 'the current key still works');
  });
});
