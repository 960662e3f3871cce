import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import type { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import type { SchedulerClient } from '@aws-sdk/client-scheduler';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { SNSClient } from '@aws-sdk/client-sns';
import fc from 'fast-check';
import { InvalidInputError } from '../../lambdas/errors.js';
import { sendgrid } from '../../lambdas/providers/sendgrid.js';
import type { ProviderDefinition } from '../../lambdas/providers/types.js';
import { type RevocationDeps, RevocationRequestSchema, revokePreviousKey } from '../../lambdas/revocation.js';
import {
  type RollbackDeps,
  type RollbackRequest,
  rollbackFromEvent,
  rollbackKey,
  rollbackRequestFromEvent,
} from '../../lambdas/rollback.js';
import { type RotationDeps, type RotationEvent, runRotationStep } from '../../lambdas/rotation.js';
import { type KeyRoute, KeyRoutes } from '../../lambdas/routes.js';
import { describeSecret } from '../../lambdas/secrets.js';
import { testRoute } from '../support/rotation-env-base.js';
import {
  assertNoSecret,
  assertTypedRejection,
  asyncOutcomeOf,
  brief,
  CaseCounts,
  capturingLogger,
  fieldCase,
  fieldsNamed,
  hostileKey,
  hostileOrSecret,
  hostileValue,
  isoTimestamp,
  judge,
  type ObjectCase,
  type Outcome,
  objectCase,
  outcomeOf,
  parameters,
  SECRET_SLOT,
  SEEDS,
  secretValue,
  Tripwire,
  TripwireError,
  WHOLE,
  weakenedParameters,
  withSecret,
} from './support.js';

/**
 * Surfaces 3–5: what invokes rekey's functions — Secrets Manager's rotation event, the Scheduler's revocation
 * request, and the rollback function's direct request or SNS-delivered alarm. Each runs against clients that
 * refuse every call, so a refused input is shown to reach none of them.
 *
 * Identifiers (SecretId, secretArn, version and key ids, secretId) are logged and quoted by design, so the
 * secret goes only where no one should ever see it again: extra fields, timestamps, enums, counters, tokens.
 */

const counts = new CaseCounts();
after(() => counts.print());

const ARN = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/sendgrid/api-key-AbCdEf';
const identifier = (valid: fc.Arbitrary<unknown>) =>
  fieldCase(valid, judge.nonEmptyString, { hostile: hostileValue });

/**
 * A deployment that routes every secret (to SendGrid, as deployed): these properties are about the shape of
 * the input; which secrets a deployment routes is the routing tests' subject.
 */
class EveryRoute extends KeyRoutes {
  override find(id: string): KeyRoute {
    return testRoute(id, 'sendgrid');
  }
}

/** Everything the functions may call, each a tripwire; the logger keeps every line (logs and EMF metrics). */
function harness() {
  const wire = new Tripwire();
  const { logger, logs } = capturingLogger();
  const provider: ProviderDefinition = { ...sendgrid, connect: () => wire.trip('provider.connect') };
  const revocation: RevocationDeps = {
    secretsManager: wire.client<SecretsManagerClient>('secretsManager'),
    scheduler: wire.client<SchedulerClient>('scheduler'),
    sns: wire.client<SNSClient>('sns'),
    config: {
      scheduleGroup: 'rekey',
      schedulerRoleArn: 'arn:aws:iam::123456789012:role/rekey-scheduler',
      revokerArn: 'arn:aws:lambda:us-east-1:123456789012:function:rekey-revoker',
      alertTopicArn: 'arn:aws:sns:us-east-1:123456789012:rekey-alerts',
    },
    logger,
    routes: new EveryRoute([]),
    providerFor: () => wire.trip('providerFor'),
    usageSources: [],
  };
  const rotation: RotationDeps = {
    secretsManager: revocation.secretsManager,
    logger,
    provider,
    routes: revocation.routes,
  };
  return { wire, logs, revocation, rotation };
}

type Harness = ReturnType<typeof harness>;

/**
 * The contract shared by the three invocations: a well-formed input reaches AWS (the first tripwire), a
 * malformed one is an InvalidInputError naming a broken field before any call and any log line; the input
 * is never changed and no secret shows up in the error, the logs or the metrics.
 */
async function checkInvocation(
  c: ObjectCase & { secret: string },
  call: (input: unknown, h: Harness) => Promise<unknown>,
  fieldOf: (message: string) => string[] = fieldsNamed,
): Promise<void> {
  const h = harness();
  const input = withSecret(c.input, c.secret);
  const before = fc.stringify(input);
  const { outcome, output } = await asyncOutcomeOf(() => call(input, h));
  assert.equal(fc.stringify(input), before, 'the input was changed');
  assertNoSecret(h.logs.lines.join('\n') + output, [c.secret], 'the logs');
  // Reaching AWS is what accepting means here; what happens after the first refused call is not this surface.
  const reachedAws = h.wire.calls.length > 0;
  if (c.bad.length === 0 && c.unsure.length === 0)
    assert.ok(reachedAws, `a well-formed input did not reach AWS: ${describeOutcome(outcome)}`);
  if (reachedAws) {
    assert.deepEqual(c.bad, [], `malformed ${brief(c.bad.join(', '))} reached ${h.wire.calls.join(', ')}`);
    return;
  }
  assert.ok(!outcome.accepted, `neither refused nor sent on: ${describeOutcome(outcome)}`);
  const error = assertTypedRejection(outcome.error, {
    secrets: [c.secret],
    types: [InvalidInputError],
    named: fieldOf,
    expectField: (field) =>
      [...c.bad, ...c.unsure].some((b) => (b === WHOLE ? /^\(.*\)$/.test(field) : field === b)),
  });
  assert.equal(error.code, 'INVALID_EVENT');
  assert.deepEqual(h.wire.calls, [], 'a refused input reached a client');
  assert.deepEqual(h.logs.lines, [], 'a refused input was logged');
}

function describeOutcome(outcome: Outcome<unknown>): string {
  if (outcome.accepted) return `returned ${brief(fc.stringify(outcome.value))}`;
  return outcome.error instanceof Error
    ? `${outcome.error.name}: ${brief(outcome.error.message)}`
    : brief(fc.stringify(outcome.error));
}

// --- 3. the rotation event -----------------------------------------------------------------------------------

const STEPS = ['createSecret', 'setSecret', 'testSecret', 'finishSecret'] as const;

const rotationEvent = fc.tuple(
  secretValue,
  objectCase({
    Step: fieldCase(fc.constantFrom(...STEPS), judge.oneOf(...STEPS)),
    SecretId: identifier(fc.constantFrom(ARN, 'prod/sendgrid/api-key')),
    ClientRequestToken: identifier(fc.uuid()),
    RotationToken: fieldCase(fc.oneof(fc.uuid(), fc.constant(SECRET_SLOT)), judge.optionalString, {
      optional: true,
    }),
  }),
);

type Invoke = (input: unknown, h: Harness) => Promise<unknown>;
const rotate: Invoke = (input, h) => runRotationStep(input, h.rotation);

function rotationProperty(invoke: Invoke, count: boolean) {
  return fc.asyncProperty(rotationEvent, async ([secret, c]) => {
    if (count) counts.count('rotation-event');
    await checkInvocation({ ...c, secret }, invoke);
  });
}

// --- 4. the revocation request -------------------------------------------------------------------------------

const revocationRequest = (nonObjects: boolean) =>
  fc.tuple(
    secretValue,
    objectCase(
      {
        secretArn: identifier(fc.constant(ARN)),
        previousVersionId: identifier(fc.uuid()),
        previousKeyId: identifier(fc.constantFrom('key-1', 'SK0123456789abcdef')),
        newVersionId: identifier(fc.uuid()),
        promotedAt: fieldCase(isoTimestamp, judge.isoTimestamp),
        reason: fieldCase(
          fc.constantFrom('rotation', 'emergency', 'rollback'),
          judge.oneOf('rotation', 'emergency', 'rollback'),
          {
            optional: true,
          },
        ),
        attempt: fieldCase(fc.nat(7), (v) => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0, {
          optional: true,
        }),
      },
      { nonObjects },
    ),
  );

const revoke: Invoke = (input, h) => revokePreviousKey(input, h.revocation);

function revocationProperty(invoke: Invoke, count: boolean, nonObjects = false) {
  return fc.asyncProperty(revocationRequest(nonObjects), async ([secret, c]) => {
    if (count) counts.count('revocation-request');
    await checkInvocation({ ...c, secret }, invoke);
  });
}

// --- 5. rollback: a direct request, or an alarm's SNS notification --------------------------------------------

/** A direct request; extra keys exclude "Records", which would make it an SNS event. */
const rollbackRequest = (nonObjects: boolean) =>
  fc.tuple(
    secretValue,
    objectCase(
      {
        secretId: identifier(fc.constantFrom(ARN, 'prod/sendgrid/api-key')),
        revokeNow: fieldCase(fc.boolean(), (v) => typeof v === 'boolean', { optional: true }),
      },
      {
        nonObjects,
        extras: fc.dictionary(
          hostileKey.filter((k) => k !== 'Records'),
          hostileOrSecret,
          { maxKeys: 2 },
        ),
      },
    ),
  );

/** A direct request through the rollback function's own entry (alarms get a CloudWatch check first). */
const rollBack: Invoke = (input, h) => rollbackFromEvent(input, h.revocation);

function rollbackRequestProperty(invoke: Invoke, count: boolean, nonObjects = false) {
  return fc.asyncProperty(rollbackRequest(nonObjects), async ([secret, c]) => {
    if (count) counts.count('rollback-request');
    await checkInvocation({ ...c, secret }, invoke);
  });
}

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === 'object' && !Array.isArray(v);

/** The alarm notification CloudWatch publishes, with the secret in the free-text fields. */
const alarmNotification = objectCase(
  {
    // Whether a non-string AlarmName is refused depends on the alarm check rollback is growing: either is fine.
    AlarmName: fieldCase(fc.constantFrom('rekey-auth-failures-prod-sendgrid-api-key'), () => undefined, {
      optional: true,
      hostile: hostileValue,
    }),
    NewStateValue: fieldCase(
      fc.constantFrom('ALARM', 'ALARM', 'OK', 'INSUFFICIENT_DATA'),
      (v) => typeof v === 'string',
    ),
    NewStateReason: fieldCase(fc.constant(`Threshold Crossed: key ${SECRET_SLOT}`), () => true, {
      optional: true,
    }),
    Trigger: fieldCase(
      fc.record(
        {
          Dimensions: fc.array(
            fc.oneof(
              {
                weight: 3,
                arbitrary: fc.record({
                  name: fc.constant('SecretName'),
                  value: fc.constantFrom('prod/sendgrid/api-key', ARN, ''),
                }),
              },
              fc.record({
                name: fc.constantFrom('Outcome', 'ApiKey'),
                value: fc.oneof(fc.constant(SECRET_SLOT), fc.string()),
              }),
            ),
            { minLength: 1, maxLength: 3 },
          ),
        },
        { requiredKeys: [] },
      ),
      // Generated triggers are valid; a hostile one is refused if it is not even a mapping.
      (v) => (isPlainObject(v) ? undefined : false),
    ),
  },
  { nonObjects: true },
);

/** The SNS envelope, intact or broken at each level. */
const snsEvent = fc
  .tuple(
    secretValue,
    alarmNotification,
    fc.oneof(
      { weight: 8, arbitrary: fc.constant('json') },
      { weight: 1, arbitrary: hostileOrSecret.map((message) => ({ message })) },
      { weight: 1, arbitrary: fc.constantFrom('no-records', 'no-sns', 'records-not-objects') },
    ),
  )
  .map(([secret, alarm, shape]) => {
    const notification = withSecret(alarm.input, secret);
    let records: unknown[];
    if (shape === 'json') records = [{ Sns: { Message: JSON.stringify(notification) ?? 'undefined' } }];
    else if (shape === 'no-records') records = [];
    else if (shape === 'no-sns') records = [{ EventSource: 'aws:sns' }];
    else if (shape === 'records-not-objects') records = [null, 'x'];
    else records = [{ Sns: { Message: withSecret(shape.message, secret) } }];
    return { secret, event: { Records: records }, notification: shape === 'json' ? alarm : undefined };
  });

type FromEvent = (event: unknown) => RollbackRequest | { alarmName: string } | undefined;

/** The request an alarm calls for, worked out from the generated notification (undefined: can't say). */
function expectedFromAlarm(alarm: ObjectCase | undefined, notification: unknown): string | undefined {
  if (!alarm || alarm.bad.length > 0) return 'invalid';
  if (alarm.unsure.length > 0 || !isPlainObject(notification)) return undefined;
  if (notification.NewStateValue !== 'ALARM') return 'none';
  const dimensions =
    (notification.Trigger as { Dimensions?: Array<{ name: string; value: string }> }).Dimensions ?? [];
  const secret = dimensions.find((d) => d.name === 'SecretName')?.value;
  if (secret) return `secret:${secret}`;
  // A fleet alarm: its contributors, which CloudWatch names, are the keys.
  return typeof notification.AlarmName === 'string' && notification.AlarmName
    ? `alarm:${notification.AlarmName}`
    : 'no-dimension';
}

/** The rollback refusals name their field in words. */
const rollbackFields = (message: string): string[] => [
  ...(/the SNS message is not a CloudWatch alarm notification/.test(message)
    ? ['Records[0].Sns.Message']
    : []),
  ...(/the alarm has no SecretName dimension and names no alarm/.test(message) ? ['Trigger.Dimensions'] : []),
];

function snsProperty(fromEvent: FromEvent, count: boolean) {
  return fc.asyncProperty(snsEvent, async ({ secret, event, notification }) => {
    if (count) counts.count('rollback-alarm');
    const before = fc.stringify(event);
    const { outcome, output } = outcomeOf(() => fromEvent(event));
    assert.equal(fc.stringify(event), before, 'the event was changed');
    assert.equal(output, '', 'reading the event wrote to stdout/stderr');
    const message = (event.Records[0] as { Sns?: { Message?: unknown } } | undefined)?.Sns?.Message;
    const expected = expectedFromAlarm(
      notification,
      typeof message === 'string' && notification ? JSON.parse(message) : undefined,
    );
    if (!outcome.accepted) {
      const error = assertTypedRejection(outcome.error, {
        secrets: [secret],
        types: [InvalidInputError],
        named: rollbackFields,
        expectField: (field) => field === (outcome.error as InvalidInputError).field,
      });
      assert.ok(
        expected === undefined ||
          (expected === 'invalid' && error.field === 'Records[0].Sns.Message') ||
          (expected === 'no-dimension' && error.field === 'Trigger.Dimensions'),
        `refused (${error.field}) where ${expected} was due`,
      );
      return;
    }
    const request = outcome.value;
    if (request === undefined) {
      assert.ok(expected === undefined || expected === 'none', `ignored an alarm where ${expected} was due`);
      return;
    }
    if ('alarmName' in request) {
      assert.ok(
        expected === undefined || expected === `alarm:${request.alarmName}`,
        `asked CloudWatch about alarm ${request.alarmName} where ${expected} was due`,
      );
      return;
    }
    assert.ok(
      expected === undefined || expected === `secret:${request.secretId}`,
      `rolled back where ${expected} was due`,
    );
    assert.deepEqual(request, { secretId: request.secretId, revokeNow: false });
    // The request an alarm yields is one rollbackKey takes: it goes on to AWS.
    const h = harness();
    const { outcome: rolled } = await asyncOutcomeOf(() => rollbackKey(request, h.revocation));
    assert.ok(!rolled.accepted && rolled.error instanceof TripwireError, describeOutcome(rolled));
    assertNoSecret(h.logs.lines.join('\n'), [secret], 'the logs');
  });
}

/**
 * The rollback function end to end: whatever the notification says, nothing is called before CloudWatch is
 * asked about the alarm (or, for a refusal, before the alert about it); Secrets Manager is never reached
 * while CloudWatch does not confirm — here it never answers.
 */
function rollbackFunctionProperty() {
  return fc.asyncProperty(snsEvent, async ({ secret, event }) => {
    counts.count('rollback-function');
    const h = harness();
    const deps: RollbackDeps = {
      ...h.revocation,
      cloudWatch: h.wire.client<CloudWatchClient>('cloudWatch'),
      rollbackTopicArn: 'arn:aws:sns:us-east-1:123456789012:rekey-rollback',
    };
    const { outcome, output } = await asyncOutcomeOf(() => rollbackFromEvent(event, deps));
    assertNoSecret(h.logs.lines.join('\n') + output, [secret], 'the logs');
    const first = h.wire.calls[0];
    assert.ok(
      first === undefined || first === 'cloudWatch:DescribeAlarmsCommand' || first === 'sns:PublishCommand',
      `called ${h.wire.calls.join(', ')} before CloudWatch`,
    );
    assert.ok(
      !h.wire.calls.some((c) => /^(secretsManager|scheduler):/.test(c)),
      `called ${h.wire.calls.join(', ')}`,
    );
    if (outcome.accepted || outcome.error instanceof TripwireError) return;
    const error = assertTypedRejection(outcome.error, {
      secrets: [secret],
      types: [InvalidInputError],
      named: rollbackFields,
      expectField: (field) => field === (outcome.error as InvalidInputError).field,
    });
    assert.deepEqual(
      h.wire.calls,
      [],
      `a refused notification reached ${h.wire.calls.join(', ')} (${error.field})`,
    );
  });
}

// --- the suites --------------------------------------------------------------------------------------------------

describe('properties: the rotation event', () => {
  it('a hostile rotation event reaches AWS only when well-formed, else a typed error naming the field', async () => {
    await fc.assert(rotationProperty(rotate, true), parameters(SEEDS.rotationEvent));
  });

  it('a deliberately weakened validator (test-only) fails the property: no schema before DescribeSecret', async () => {
    // What runRotationStep would be without parseRotationEvent: the event goes straight to Secrets Manager.
    const weakened: Invoke = async (input, h) => {
      const event = input as RotationEvent | null;
      return describeSecret(h.rotation.secretsManager, event?.SecretId as string);
    };
    const details = await fc.check(
      rotationProperty(weakened, false),
      weakenedParameters(SEEDS.rotationEvent),
    );
    assert.equal(details.failed, true, 'the property must catch the weakened validator');
    console.log(`weakened rotation-event validator: counterexample at case ${details.numRuns}`);
  });
});

describe('properties: the revocation request', () => {
  it('a hostile revocation request is refused before any call, or reaches AWS when well-formed', async () => {
    await fc.assert(revocationProperty(revoke, true), parameters(SEEDS.revocationRequest));
  });

  it('a deliberately weakened validator (test-only) fails the property: a plain Error quoting the request', async () => {
    // A hand-rolled check that refuses with the request in the message, untyped.
    const weakened: Invoke = async (input, h) => {
      const parsed = RevocationRequestSchema.safeParse(input);
      if (!parsed.success) throw new Error(`bad revocation request ${JSON.stringify(input)}`);
      return revokePreviousKey(parsed.data, h.revocation);
    };
    const details = await fc.check(
      revocationProperty(weakened, false),
      weakenedParameters(SEEDS.revocationRequest),
    );
    assert.equal(details.failed, true, 'the property must catch the weakened validator');
    console.log(`weakened revocation-request validator: counterexample at case ${details.numRuns}`);
  });

  it('a revocation request that is not an object is refused naming the request', async () => {
    await fc.assert(revocationProperty(revoke, false, true), parameters(SEEDS.revocationRequest, 50));
  });
});

describe('properties: rollback', () => {
  it('a hostile alarm notification yields the alarmed secret, nothing, or a typed error naming the field', async () => {
    await fc.assert(snsProperty(rollbackRequestFromEvent, true), parameters(SEEDS.rollbackMessage));
  });

  it('the rollback function calls nothing but CloudWatch (or the refusal alert) for a hostile notification', async () => {
    await fc.assert(rollbackFunctionProperty(), parameters(SEEDS.rollbackMessage));
  });

  it('a hostile direct rollback request is refused before any call, or reaches AWS when well-formed', async () => {
    await fc.assert(rollbackRequestProperty(rollBack, true), parameters(SEEDS.rollbackRequest));
  });

  it('a deliberately weakened validator (test-only) fails the property: the SNS message read without a schema', async () => {
    // Trusting the notification's shape: JSON.parse and property access, whatever the message holds.
    const weakened: FromEvent = (event) => {
      const message = JSON.parse(
        (event as { Records: Array<{ Sns: { Message: string } }> }).Records[0]!.Sns.Message,
      );
      return message.NewStateValue === 'ALARM'
        ? { secretId: message.Trigger.Dimensions[0].value, revokeNow: false }
        : undefined;
    };
    const details = await fc.check(snsProperty(weakened, false), weakenedParameters(SEEDS.rollbackMessage));
    assert.equal(details.failed, true, 'the property must catch the weakened validator');
    console.log(`weakened rollback-alarm validator: counterexample at case ${details.numRuns}`);
  });

  it('a deliberately weakened validator (test-only) fails the property: a direct request sent on unchecked', async () => {
    const weakened: Invoke = async (input, h) =>
      describeSecret(h.revocation.secretsManager, (input as { secretId?: string }).secretId as string);
    const details = await fc.check(
      rollbackRequestProperty(weakened, false),
      weakenedParameters(SEEDS.rollbackRequest),
    );
    assert.equal(details.failed, true, 'the property must catch the weakened validator');
    console.log(`weakened rollback-request validator: counterexample at case ${details.numRuns}`);
  });

  it('a direct rollback request that is not an object is refused naming the request', async () => {
    await fc.assert(rollbackRequestProperty(rollBack, false, true), parameters(SEEDS.rollbackRequest, 50));
  });
});
