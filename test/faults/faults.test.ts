import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { enumerateFaults, type Fault, FaultRun, PAIRS } from './harness.js';

/**
 * A fixed sample of `npm run faults` (the whole matrix takes minutes): every seventh single-actor fault,
 * two schedules of every actor pair, and the proof that the harness can fail — with a protection switched
 * off, a run it covers breaches, and the breach is named.
 */
describe('the fault harness (a fixed sample of npm run faults)', () => {
  let faults: Fault[];
  before(async () => {
    ({ faults } = await enumerateFaults());
  });

  it('enumerates every actor × call × fault kind', () => {
    for (const actor of ['rotation', 'revoker', 'rollback', 'emergency', 'import', 'single-key'])
      for (const kind of ['crash-after', 'lose-response', 'deliver-twice'])
        assert.ok(
          faults.some((f) => f.actor === actor && f.kind === kind),
          `${actor} × ${kind}`,
        );
    assert.ok(faults.length > 200, `${faults.length} faults`);
  });

  it('holds every invariant under a sample of single-actor faults', async () => {
    const breaches: string[] = [];
    for (const [i, fault] of faults.entries()) {
      if (i % 7 !== 0) continue;
      const result = await new FaultRun({ fault }).run([fault.actor]);
      breaches.push(...result.breaches.map((b) => `${result.label}: ${b}`));
    }
    assert.deepEqual(breaches, []);
  });

  it('holds every invariant when pairs of actors interleave (two schedules each)', async () => {
    const breaches: string[] = [];
    for (const pair of PAIRS)
      for (const seed of [1, 2]) {
        const result = await new FaultRun({ seed }).run([...pair]);
        breaches.push(...result.breaches.map((b) => `${result.label}: ${b}`));
      }
    assert.deepEqual(breaches, []);
  });

  it('fails, naming the breach, when creates are retried without looking the key up first', async () => {
    // The create's index in each configuration's own clean run (without the lookup there is one call less).
    const createFault = async (disabled?: 'create-lookup'): Promise<Fault> => {
      const clean = await new FaultRun(disabled ? { disabled } : {}).run(['rotation']);
      const at = clean.calls
        .filter((c) => c.actor === 'rotation')
        .findIndex((c) => c.label === 'sendgrid POST /v3/api_keys');
      assert.ok(at >= 0, 'the rotation creates a key');
      return { actor: 'rotation', kind: 'lose-response', at };
    };
    const protectedRun = await new FaultRun({ fault: await createFault() }).run(['rotation']);
    assert.deepEqual(protectedRun.breaches, [], 'protected: no breach');
    const unprotected = await new FaultRun({
      fault: await createFault('create-lookup'),
      disabled: 'create-lookup',
    }).run(['rotation']);
    assert.ok(
      unprotected.breaches.some((b) => /^invariant 3: version .* has 2 provider keys/.test(b)),
      unprotected.breaches.join('\n') || 'no breach without the protection',
    );
  });

  it('fails, naming the breach, when actors do not take the per-secret lease', async () => {
    const seeds = [3, 14, 19];
    for (const seed of seeds)
      assert.deepEqual(
        (await new FaultRun({ seed }).run(['emergency', 'rotation'])).breaches,
        [],
        `seed ${seed}`,
      );
    const unprotected = [];
    for (const seed of seeds)
      unprotected.push(await new FaultRun({ seed, disabled: 'lease' }).run(['emergency', 'rotation']));
    assert.ok(
      unprotected.some((r) => r.breaches.some((b) => /^invariant 4: provider key .* is orphaned/.test(b))),
      unprotected.map((r) => r.breaches.join('\n')).join('\n'),
    );
  });
});
