import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  CreateSecretCommand,
  DescribeSecretCommand,
  GetSecretValueCommand,
  InvalidParameterException,
  InvalidRequestException,
  ListSecretsCommand,
  ListSecretVersionIdsCommand,
  PutSecretValueCommand,
  ResourceExistsException,
  ResourceNotFoundException,
  RotateSecretCommand,
  SecretsManagerClient,
  UpdateSecretVersionStageCommand,
} from '@aws-sdk/client-secrets-manager';
import { AssumeRoleCommand, STSClient } from '@aws-sdk/client-sts';
import type { LoopbackAws } from '../../local/aws/server.js';
import { startLoopbackAws } from '../support/env.js';

describe('loopback Secrets Manager, reached by the real SDK v3 client', () => {
  let aws: LoopbackAws;
  let sm: SecretsManagerClient;
  before(async () => {
    aws = await startLoopbackAws();
    sm = new SecretsManagerClient({});
  });
  after(async () => {
    sm.destroy();
    await aws.stop();
  });

  it('creates, reads by name, full ARN and partial ARN, and rejects duplicates with ResourceExistsException', async () => {
    const created = await sm.send(new CreateSecretCommand({ Name: 'a/one', SecretString: 'v1' }));
    assert.match(
      created.ARN!,
      /^arn:aws:secretsmanager:us-east-1:123456789012:secret:a\/one-[A-Za-z0-9]{6}$/,
    );
    for (const id of ['a/one', created.ARN!, created.ARN!.slice(0, -7)]) {
      assert.equal((await sm.send(new GetSecretValueCommand({ SecretId: id }))).SecretString, 'v1');
    }
    await assert.rejects(
      sm.send(new CreateSecretCommand({ Name: 'a/one', SecretString: 'x' })),
      ResourceExistsException,
    );
    await assert.rejects(
      sm.send(new GetSecretValueCommand({ SecretId: 'a/missing' })),
      ResourceNotFoundException,
    );
  });

  it('PutSecretValue is idempotent per ClientRequestToken and refuses a different value for the same token', async () => {
    await sm.send(new CreateSecretCommand({ Name: 'a/two', SecretString: 'v1' }));
    const token = 'aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee';
    await sm.send(
      new PutSecretValueCommand({ SecretId: 'a/two', SecretString: 'v2', ClientRequestToken: token }),
    );
    await sm.send(
      new PutSecretValueCommand({ SecretId: 'a/two', SecretString: 'v2', ClientRequestToken: token }),
    );
    await assert.rejects(
      sm.send(
        new PutSecretValueCommand({ SecretId: 'a/two', SecretString: 'v3', ClientRequestToken: token }),
      ),
      ResourceExistsException,
    );
    const versions = await sm.send(new ListSecretVersionIdsCommand({ SecretId: 'a/two' }));
    assert.equal(versions.Versions?.length, 2);
    assert.deepEqual(
      (await sm.send(new GetSecretValueCommand({ SecretId: 'a/two', VersionStage: 'AWSPREVIOUS' })))
        .SecretString,
      'v1',
    );
  });

  it('moving AWSCURRENT requires RemoveFromVersionId and leaves AWSPREVIOUS behind', async () => {
    const first = await sm.send(new CreateSecretCommand({ Name: 'a/three', SecretString: 'v1' }));
    const pending = await sm.send(
      new PutSecretValueCommand({ SecretId: 'a/three', SecretString: 'v2', VersionStages: ['AWSPENDING'] }),
    );
    await assert.rejects(
      sm.send(
        new UpdateSecretVersionStageCommand({
          SecretId: 'a/three',
          VersionStage: 'AWSCURRENT',
          MoveToVersionId: pending.VersionId,
        }),
      ),
      InvalidParameterException,
    );
    await sm.send(
      new UpdateSecretVersionStageCommand({
        SecretId: 'a/three',
        VersionStage: 'AWSCURRENT',
        MoveToVersionId: pending.VersionId,
        RemoveFromVersionId: first.VersionId,
      }),
    );
    const described = await sm.send(new DescribeSecretCommand({ SecretId: 'a/three' }));
    assert.deepEqual(described.VersionIdsToStages, {
      [first.VersionId!]: ['AWSPREVIOUS'],
      [pending.VersionId!]: ['AWSPENDING', 'AWSCURRENT'],
    });
    await assert.rejects(
      sm.send(
        new UpdateSecretVersionStageCommand({
          SecretId: 'a/three',
          VersionStage: 'AWSCURRENT',
          RemoveFromVersionId: pending.VersionId,
        }),
      ),
      InvalidParameterException,
    );
  });

  it('RotateSecret stages AWSPENDING with no value, then refuses a second rotation while that rotation is incomplete', async () => {
    await sm.send(new CreateSecretCommand({ Name: 'a/four', SecretString: 'v1' }));
    const arn = aws.lambdas.register('fails', async () => {
      throw new Error('step failed');
    });
    const out = await sm.send(new RotateSecretCommand({ SecretId: 'a/four', RotationLambdaARN: arn }));
    const described = await sm.send(new DescribeSecretCommand({ SecretId: 'a/four' }));
    assert.deepEqual(described.VersionIdsToStages?.[out.VersionId!], ['AWSPENDING']);
    assert.equal(described.RotationEnabled, true);
    await assert.rejects(
      sm.send(new GetSecretValueCommand({ SecretId: 'a/four', VersionStage: 'AWSPENDING' })),
      ResourceNotFoundException,
      'the pending version has no value yet',
    );
    await aws.secretsManager.settled();
    assert.equal(aws.secretsManager.outcomes.at(-1)?.failedStep, 'createSecret');
    await assert.rejects(
      sm.send(new RotateSecretCommand({ SecretId: 'a/four' })),
      (e: unknown) =>
        e instanceof InvalidRequestException && /A previous rotation isn't complete/.test(e.message),
    );
    assert.equal(
      (await sm.send(new GetSecretValueCommand({ SecretId: 'a/four' }))).SecretString,
      'v1',
      'AWSCURRENT untouched',
    );
  });

  it('invokes the rotation function with Secrets Manager event shape, four steps in order', async () => {
    const created = await sm.send(new CreateSecretCommand({ Name: 'a/five', SecretString: 'v1' }));
    const events: Array<Record<string, unknown>> = [];
    const arn = aws.lambdas.register('records', async (event) => {
      events.push(event as Record<string, unknown>);
    });
    const out = await sm.send(new RotateSecretCommand({ SecretId: 'a/five', RotationLambdaARN: arn }));
    await aws.secretsManager.settled();
    assert.deepEqual(
      events.map((e) => e.Step),
      ['createSecret', 'setSecret', 'testSecret', 'finishSecret'],
    );
    for (const event of events) {
      assert.equal(event.SecretId, created.ARN);
      assert.equal(event.ClientRequestToken, out.VersionId);
      assert.equal(typeof event.RotationToken, 'string');
    }
  });

  it('lists secrets with name and tag filters', async () => {
    await sm.send(
      new CreateSecretCommand({
        Name: 'b/tagged',
        SecretString: 'v',
        Tags: [{ Key: 'rekey:managed', Value: 'true' }],
      }),
    );
    const byTag = await sm.send(
      new ListSecretsCommand({ Filters: [{ Key: 'tag-key', Values: ['rekey:managed'] }] }),
    );
    assert.deepEqual(
      byTag.SecretList?.map((s) => s.Name),
      ['b/tagged'],
    );
    const byName = await sm.send(
      new ListSecretsCommand({ Filters: [{ Key: 'name', Values: ['a/'] }], MaxResults: 2 }),
    );
    assert.equal(byName.SecretList?.length, 2);
    assert.ok(byName.NextToken);
  });

  it('RotateImmediately false runs testSecret on a temporary AWSPENDING version holding the current value, then removes it; a failed test fails RotateSecret', async () => {
    const created = await sm.send(new CreateSecretCommand({ Name: 'config/test', SecretString: 'current' }));
    const seen: Array<{ step: unknown; value: string | undefined; stages: string[] }> = [];
    let fail = false;
    const arn = aws.lambdas.register('config-test', async (event) => {
      const { Step, ClientRequestToken } = event as { Step: string; ClientRequestToken: string };
      const value = await sm.send(
        new GetSecretValueCommand({
          SecretId: created.ARN,
          VersionId: ClientRequestToken,
          VersionStage: 'AWSPENDING',
        }),
      );
      seen.push({
        step: Step,
        value: value.SecretString,
        stages: aws.secretsManager.stagesOf(created.ARN!)[ClientRequestToken] ?? [],
      });
      if (fail) throw new Error('the pending key does not authenticate');
    });
    await sm.send(
      new RotateSecretCommand({ SecretId: created.ARN, RotationLambdaARN: arn, RotateImmediately: false }),
    );
    assert.deepEqual(seen, [{ step: 'testSecret', value: 'current', stages: ['AWSPENDING'] }]);
    const versions = await sm.send(new ListSecretVersionIdsCommand({ SecretId: created.ARN }));
    assert.equal(versions.Versions?.length, 1, 'the temporary version is gone');
    fail = true;
    await assert.rejects(
      sm.send(
        new RotateSecretCommand({ SecretId: created.ARN, RotationLambdaARN: arn, RotateImmediately: false }),
      ),
      (error: Error) =>
        error instanceof InvalidRequestException &&
        /configuration test \(testSecret\) failed/.test(error.message),
    );
    assert.equal(
      (await sm.send(new ListSecretVersionIdsCommand({ SecretId: created.ARN }))).Versions?.length,
      1,
    );
  });
});

describe('loopback STS: AssumeRole of defined roles, and what their sessions may do', () => {
  let aws: LoopbackAws;
  before(async () => {
    aws = await startLoopbackAws();
  });
  after(() => aws.stop());

  it('signs a session’s requests as its role: allowed calls pass, others are AccessDenied; unknown roles cannot be assumed', async () => {
    const sm = new SecretsManagerClient({});
    const mine = await sm.send(new CreateSecretCommand({ Name: 'sts/mine', SecretString: 'm' }));
    await sm.send(new CreateSecretCommand({ Name: 'sts/theirs', SecretString: 't' }));
    const role = 'arn:aws:iam::123456789012:role/only-mine';
    aws.sts.defineRole(role, ({ input }) => input.SecretId === mine.ARN);
    const sts = new STSClient({});
    const { Credentials: c } = await sts.send(
      new AssumeRoleCommand({ RoleArn: role, RoleSessionName: 'test', DurationSeconds: 900 }),
    );
    const session = new SecretsManagerClient({
      credentials: {
        accessKeyId: c!.AccessKeyId!,
        secretAccessKey: c!.SecretAccessKey!,
        sessionToken: c!.SessionToken!,
      },
    });
    assert.equal((await session.send(new GetSecretValueCommand({ SecretId: mine.ARN }))).SecretString, 'm');
    await assert.rejects(
      session.send(new GetSecretValueCommand({ SecretId: 'sts/theirs' })),
      (error: Error) =>
        error.name === 'AccessDeniedException' &&
        /assumed-role\/only-mine\/test is not authorized/.test(error.message),
    );
    await assert.rejects(
      sts.send(
        new AssumeRoleCommand({ RoleArn: 'arn:aws:iam::123456789012:role/nobody', RoleSessionName: 'test' }),
      ),
      (error: Error) => error.name === 'AccessDenied',
    );
    for (const client of [sm, session, sts]) client.destroy();
  });
});
