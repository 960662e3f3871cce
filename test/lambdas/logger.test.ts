import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ProviderRejectedError } from '../../lambdas/errors.js';
import { Logger } from '../../lambdas/logger.js';

describe('the structured logger', () => {
  it('masks protected values anywhere in a line: message, nested fields, errors and causes', () => {
    const lines: string[] = [];
    const logger = new Logger((l) => lines.push(l), { service: 'test' }, 'debug');
    const secret = 'SG.abcdefgh.ijklmnopqrstuvwxyz';
    logger.protect(secret);
    const child = logger.child({ secretId: 'prod/x' });
    child.info(`oops ${secret}`, {
      nested: { deeper: [`x${secret}y`] },
      error: new Error(`bad ${secret}`, { cause: new Error(secret) }),
    });
    assert.equal(lines.length, 1);
    assert.ok(!lines[0]!.includes(secret));
    const record = JSON.parse(lines[0]!);
    assert.equal(record.message, 'oops [REDACTED]');
    assert.equal(record.secretId, 'prod/x');
    assert.equal(record.service, 'test');
    assert.deepEqual(record.nested, { deeper: ['x[REDACTED]y'] });
    assert.equal(record.error.message, 'bad [REDACTED]');
    assert.equal(record.error.cause.message, '[REDACTED]');
  });

  it('masks fields whose names carry key material even when the value was never registered', () => {
    const lines: string[] = [];
    new Logger((l) => lines.push(l)).info('x', {
      key: 'k-123',
      SecretString: '{"a":1}',
      apiKey: 'zzz',
      keyId: 'id-1',
    });
    const record = JSON.parse(lines[0]!);
    assert.equal(record.key, '[REDACTED]');
    assert.equal(record.SecretString, '[REDACTED]');
    assert.equal(record.apiKey, '[REDACTED]');
    assert.equal(record.keyId, 'id-1', 'ids are not secret');
  });

  it('keeps the code and retryability of typed errors', () => {
    const lines: string[] = [];
    new Logger((l) => lines.push(l)).error('failed', {
      error: new ProviderRejectedError('SendGrid', 'create key', 403, 'grant the scope'),
    });
    const record = JSON.parse(lines[0]!);
    assert.equal(record.error.code, 'PROVIDER_REJECTED');
    assert.equal(record.error.retryable, false);
    assert.equal(record.error.status, 403);
  });

  it('drops lines under the minimum level', () => {
    const lines: string[] = [];
    new Logger((l) => lines.push(l), {}, 'warn').info('quiet');
    assert.deepEqual(lines, []);
  });
});

describe('logAndSanitize', () => {
  it('redacts protected values from the messages of typed and foreign errors alike', async () => {
    const { logAndSanitize } = await import('../../lambdas/rotation-handler.js');
    const { ProviderRejectedError } = await import('../../lambdas/errors.js');
    const lines: string[] = [];
    const logger = new Logger((l) => lines.push(l));
    const secret = 'tok_0123456789abcdef';
    logger.protect(secret);
    const typed = logAndSanitize(
      new ProviderRejectedError('X', 'create key', 400, `provider said ${secret}`),
      logger,
    );
    const foreign = logAndSanitize(new TypeError(`bad ${secret}`), logger);
    assert.ok(typed instanceof ProviderRejectedError, 'the typed error keeps its class and code');
    assert.ok(!typed.message.includes(secret) && !foreign.message.includes(secret));
    assert.equal(foreign.name, 'TypeError');
    assert.ok(lines.every((l) => !l.includes(secret)));
  });
});
