import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  CreateSecretCommand,
  RotateSecretCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { importCommand } from '../../bin/commands/import.js';
import { inventoryRoutes } from '../../bin/commands/runtime.js';
import { Logger } from '../../lambdas/logger.js';
import { sendgrid } from '../../lambdas/providers/sendgrid.js';
import { runRotationStep } from '../../lambdas/rotation.js';
import { AWSCURRENT, AWSPENDING } from '../../lambdas/secrets.js';
import { PLACEHOLDER } from '../../lib/managed-key.js';
import { CliEnv, captureIO } from '../bin/import-env.js';

/**
 * Why the stack attaches a rotation schedule only to imported keys: CloudFormation starts the first
 * rotation when the schedule is created. These tests run that first rotation on loopback against the
 * stack's placeholder, and again after `rekey import`.
 */
describe('the first rotation, before and after rekey import', () => {
  const env = new CliEnv();
  let lambdaArn: string;
  before(async () => {
    await env.start(PLACEHOLDER);
    lambdaArn = env.aws.lambdas.register('rotate-sendgrid', (event) =>
      runRotationStep(event, {
        secretsManager: new SecretsManagerClient({}),
        logger: new Logger(() => {}),
        provider: sendgrid,
        routes: inventoryRoutes(env.inventoryPath),
        endpoint: env.sandbox.url,
      }),
    );
  });
  after(() => env.stop());

  const stages = () =>
    Object.values(env.aws.secretsManager.stagesOf(env.secretArn)).map((s) => [...s].sort().join('+'));

  it('on the placeholder it fails in createSecret and leaves an AWSPENDING version behind', async () => {
    await env.sm.send(new RotateSecretCommand({ SecretId: env.secretArn, RotationLambdaARN: lambdaArn }));
    await env.aws.secretsManager.settled();
    assert.equal(env.aws.secretsManager.outcomes.at(-1)?.ok, false);
    assert.ok(stages().includes(AWSPENDING), `stuck AWSPENDING expected, stages: ${stages().join(', ')}`);
    assert.equal(env.sandbox.listKeys().length, 2, 'no provider key was created');
  });

  it('and import then refuses that secret until the stuck rotation is dealt with', async () => {
    const io = captureIO(env.current.value);
    const args = [
      'sendgrid-api-key',
      '--key-id',
      env.current.id,
      '--inventory',
      env.inventoryPath,
      '--endpoint',
      env.sandbox.url,
    ];
    assert.equal(await importCommand.run(args, io), 1);
    assert.match(io.all(), /has a rotation in progress \(AWSPENDING on version/);
  });

  it('after rekey import the first rotation completes and leaves no AWSPENDING', async () => {
    // Prepare: a second deployed secret, imported before its schedule exists.
    const arn = (
      await env.sm.send(new CreateSecretCommand({ Name: 'prod/sendgrid/other', SecretString: PLACEHOLDER }))
    ).ARN!;
    const io = captureIO(env.current.value);
    const args = [
      'never-deployed',
      '--key-id',
      env.current.id,
      '--inventory',
      env.inventoryPath,
      '--endpoint',
      env.sandbox.url,
    ];
    assert.equal(await importCommand.run(args, io), 0, io.all());
    // Act
    await env.sm.send(new RotateSecretCommand({ SecretId: arn, RotationLambdaARN: lambdaArn }));
    await env.aws.secretsManager.settled();
    // Assess
    assert.equal(env.aws.secretsManager.outcomes.at(-1)?.ok, true);
    const labels = Object.values(env.aws.secretsManager.stagesOf(arn)).map((s) => [...s].sort().join('+'));
    assert.ok(!labels.some((s) => s.includes(AWSPENDING)), labels.join(', '));
    assert.deepEqual(labels.sort(), [AWSCURRENT, 'AWSPREVIOUS']);
  });
});
