import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { rekeyClientFleet } from '../../local/rehearsal/client-source.js';
import {
  type RehearsalOptions,
  type RehearsalReport,
  runRehearsal,
} from '../../local/rehearsal/rehearsal.js';
import { DEFAULT_SCENARIOS } from '../../local/rehearsal/scenarios.js';

// SendGrid and Twilio keys cannot be adopted after a lost create (revoke and replace); Datadog's can.
const CHAOS: Omit<RehearsalOptions, 'sourceFor'> = {
  keys: 3,
  instances: 6,
  rps: 60,
  providers: ['sendgrid', 'twilio', 'datadog'],
  scenarios: ['chaos'],
  seed: 5,
  scale: 1200,
  graceSeconds: 3600,
};

/** What a seed chooses: the keys rotated (in order), the emergency one last, and every fault. */
const choices = (report: RehearsalReport) =>
  report.timeline.events
    .filter((e) => e.kind === 'fault' || e.kind === 'rotate')
    .map((e) => `${e.kind} ${e.secret ?? ''} ${e.detail}`);

describe('rekey rehearse --scenario chaos', () => {
  let first: RehearsalReport;

  it('keeps every invariant and zero failed calls while AWS and providers lose answers, throttle and deliver twice', async () => {
    // Act
    const report = await runRehearsal({ ...CHAOS, ...rekeyClientFleet() });
    first = report;
    // Assess
    const [chaos] = report.scenarios;
    assert.equal(chaos?.name, 'chaos');
    assert.equal(chaos.failed, 0, chaos.failures.join('; '));
    assert.deepEqual(
      chaos.invariants.map((i) => i.invariant.split(':')[0]),
      ['1', '2', '3/4', 'zero failed calls (zero downtime)', '5'],
    );
    for (const invariant of chaos.invariants)
      assert.ok(invariant.ok, `${invariant.invariant} — ${invariant.detail}`);
    assert.deepEqual(
      chaos.checks.map((c) => c.name),
      [
        'every rotation and the emergency rotation promoted',
        'exactly one provider key per version',
        'old keys revoked, or an alert says why not',
        'every injected fault met rekey',
      ],
    );
    for (const check of chaos.checks) assert.ok(check.ok, `${check.name} — ${check.detail}`);
    assert.equal(chaos.providerKeysAtEnd, CHAOS.keys, 'one key per secret once the old keys are revoked');
    const faults = report.timeline.events.filter((e) => e.kind === 'fault').map((e) => e.detail);
    assert.equal(faults.length, 1);
    assert.match(faults[0]!, /secretsmanager\.PutSecretValue (after|reset)×[12]/);
    assert.match(faults[0]!, /create answer lost/);
    assert.match(faults[0]!, /delivered twice: \w+Secret, revoker events/);
    assert.equal(report.verdict.ok, true, report.verdict.breaches.join('\n'));
  });

  it('draws the same keys and faults from the same seed', async () => {
    const again = await runRehearsal({ ...CHAOS, ...rekeyClientFleet() });
    assert.deepEqual(choices(again), choices(first));
    assert.equal(again.verdict.ok, true, again.verdict.breaches.join('\n'));
  });

  it('is opt-in: the default set, which `npm start` runs, leaves it out', () => {
    assert.ok(!DEFAULT_SCENARIOS.includes('chaos'));
  });
});
