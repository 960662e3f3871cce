import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { peerInstance, rekeyInstance, simulate } from '../../bench/cost-simulation.js';

const HOUR = 3_600_000;

describe('cost simulation on the loopback', () => {
  it('counts what the loopback answered: rekey probes with DescribeSecret and reads values only when they move; a peer reads per maxAge', async () => {
    const measured = await simulate([
      {
        name: 'rekey',
        instances: 2,
        windowMs: 6 * HOUR,
        keys: 1,
        grace: '1h',
        stack: true,
        make: rekeyInstance,
      },
      {
        name: 'many',
        instances: 1,
        windowMs: 12 * HOUR,
        keys: 3,
        grace: '1h',
        stack: true,
        make: rekeyInstance,
      },
      {
        name: 'peer',
        instances: 1,
        windowMs: 10 * 60_000,
        keys: 1,
        grace: '1h',
        stack: false,
        make: peerInstance('powertools', 60),
      },
    ]);
    const rekey = measured.get('rekey')!;
    assert.equal(rekey.getSecretValue, 4, 'each instance: the first read and the rotated value');
    // TTL 49.5–55 min at a 1 h grace: 6 or 7 refreshes in 6 h, plus the first, per instance.
    assert.ok(
      rekey.describeSecret >= 2 * 7 && rekey.describeSecret <= 2 * 8,
      `${rekey.describeSecret} DescribeSecret`,
    );
    // KeyCalls by key id while each version is young (grace + 2 h from its creation): the first in hours
    // 0–3 (3 also while an instance still caches it), the rotated one from hour 3 to the window's end (6).
    assert.ok(rekey.metricHours >= 6 && rekey.metricHours <= 8, `${rekey.metricHours} metric-hours`);
    assert.equal(
      rekey.alarmMetricHours,
      0,
      'no failure, no key near its age threshold: nothing for the alarms',
    );
    assert.ok(rekey.emfBytes > 0);
    const many = measured.get('many')!;
    assert.equal(many.getSecretValue, 0, 'three keys through getMany: BatchGetSecretValue only');
    assert.ok(
      many.batchGetSecretValue >= 13 && many.batchGetSecretValue <= 16,
      `${many.batchGetSecretValue} batches`,
    );
    assert.equal(many.batchSecrets, 3 * many.batchGetSecretValue);
    // Each key described when first read, when its version moved, and while its revocation was pending
    // (until the revoker has recorded it): then no key is reported any more.
    assert.ok(many.describeSecret >= 6 && many.describeSecret <= 12, `${many.describeSecret} DescribeSecret`);
    // KeyCalls for hours 0–3 (the first version) and 6–9 (the rotated one), per key.
    assert.ok(many.metricHours <= 3 * 8, `${many.metricHours} metric-hours`);
    const peer = measured.get('peer')!;
    // Powertools at maxAge 60 s, called every 5 s for 10 min: a read each time its value expired.
    assert.ok(peer.getSecretValue >= 8 && peer.getSecretValue <= 10, `${peer.getSecretValue} reads`);
    assert.equal(peer.emfBytes, 0);
  });
});
