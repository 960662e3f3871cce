import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { parseManagedKey } from '../../lambdas/secret-format.js';
import type { InstanceKeySource } from '../../local/rehearsal/fleet.js';
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
});
