import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { parseManagedKey } from '../../lambdas/secret-format.js';
import { rekeyClientFleet } from '../../local/rehearsal/client-source.js';
import { Fleet, type InstanceKeySource } from '../../local/rehearsal/fleet.js';
import { runRehearsal } from '../../local/rehearsal/rehearsal.js';
import type { RehearsalWorld, WorldKey } from '../../local/rehearsal/world.js';

/** An application that reads the vault on every call and never caches: what rekey's client replaces. */
function vaultOnEveryCall(_world: RehearsalWorld, _instance: number, key: WorldKey): InstanceKeySource {
  const sm = new SecretsManagerClient({ maxAttempts: 1 });
  return {
    async withKey(call) {
      const out = await sm.send(new GetSecretValueCommand({ SecretId: key.arn }));
      const doc = parseManagedKey(out.SecretString, { secretId: key.name });
      return call({ id: doc.keyId, value: doc.key });
    },
    close: () => sm.destroy(),
  };
}

describe('the rehearsal engine', () => {
  it('fails the vault-outage scenario for a fleet that reads the vault on every call, naming the breach', async () => {
    const report = await runRehearsal({
      keys: 2,
      instances: 4,
      rps: 40,
      providers: ['sendgrid'],
      scenarios: ['scheduled-rotation', 'vault-outage'],
      seed: 7,
      scale: 1200,
      graceSeconds: 3600,
      sourceFor: vaultOnEveryCall,
    });
    const byName = Object.fromEntries(report.scenarios.map((s) => [s.name, s]));

    assert.equal(byName['scheduled-rotation']!.ok, true);
    assert.equal(byName['vault-outage']!.ok, false);
    assert.equal(report.verdict.ok, false);
    assert.ok(report.verdict.breaches.some((b) => /^vault-outage: invariant zero failed calls/.test(b)));
  });

  it('names the instances whose latest call did not succeed with the current key', async () => {
    // Prepare: instance 0 holds an old key, instance 1 the current one, instance 2 one the provider refuses.
    const held = ['old', 'current', 'refused'];
    const fleet = new Fleet([{ name: 's', provider: 'p', arn: 'arn:s' }], new Map(), {
      instances: 3,
      rps: 300,
      sourceFor: (instance) => ({ withKey: (call) => call({ id: held[instance]!, value: 'v' }) }),
      appCall: async (_key, material) => (material.id === 'refused' ? 401 : 200),
    });
    // Act
    await new Promise((resolve) => setTimeout(resolve, 100));
    const behind = fleet.behind(() => 'current');
    held[0] = 'current';
    await new Promise((resolve) => setTimeout(resolve, 100));
    const after = fleet.behind(() => 'current');
    await fleet.stop();
    // Assess
    assert.deepEqual(behind, [0, 2]);
    assert.deepEqual(after, [2]);
  });

  it('scenario 10: starts the vault outage only once every instance holds the current key, however rarely it calls', async () => {
    // Each instance calls every 2 s, eight client TTLs: an instance that has not called since the emergency
    // revocation still caches the revoked key, and could replace it only by reading the vault.
    const report = await runRehearsal({
      keys: 1,
      instances: 2,
      rps: 1,
      providers: ['sendgrid'],
      scenarios: ['emergency-rotation', 'vault-outage'],
      seed: 7,
      scale: 1200,
      graceSeconds: 3600,
      ...rekeyClientFleet(),
    });
    const vault = report.scenarios.find((s) => s.name === 'vault-outage')!;
    const pickUp = vault.checks.find((c) => c.name === 'every instance on the current key before the outage');
    assert.equal(pickUp?.ok, true, pickUp?.detail);
    assert.equal(vault.failed, 0, vault.failures.join('; '));
    assert.equal(report.verdict.ok, true, report.verdict.breaches.join('\n'));
  });
});
