import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { sendgrid } from '../../lambdas/providers/sendgrid.js';
import type { ProviderClient, ProviderDefinition } from '../../lambdas/providers/types.js';
import { usageVerdict } from '../../lambdas/revocation.js';
import type { UsageSource } from '../../lambdas/usage.js';

const PROMOTED = new Date('2026-05-01T10:00:00Z');
const withLastUsed: ProviderDefinition = {
  ...sendgrid,
  capabilities: { ...sendgrid.capabilities, lastUsed: true },
};
const withoutLastUsed: ProviderDefinition = {
  ...sendgrid,
  capabilities: { ...sendgrid.capabilities, lastUsed: false },
};
const lastUsedAt = (date: Date | null) => ({ lastUsed: async () => date }) as unknown as ProviderClient;
const clientSays =
  (status: 'confirmed' | 'not-confirmed' | undefined): UsageSource =>
  async () =>
    status && { status, source: 'client-metrics' };

const verdict = (definition: ProviderDefinition, provider: ProviderClient, sources: UsageSource[]) =>
  usageVerdict(provider, definition, {}, 'key-new', PROMOTED, 'prod/key', sources);

describe('usage evidence before a revocation', () => {
  it('takes the provider’s last use after promotion', async () => {
    const result = await verdict(withLastUsed, lastUsedAt(new Date('2026-05-01T10:05:00Z')), []);
    assert.equal(result.status, 'confirmed');
    assert.equal(result.source, 'provider-last-used');
  });

  it('falls back to the client’s metrics when the provider’s report shows no use yet (lagging or masked)', async () => {
    const result = await verdict(withLastUsed, lastUsedAt(null), [clientSays('confirmed')]);
    assert.deepEqual(result, { status: 'confirmed', source: 'client-metrics' });
  });

  it('never settles for testSecret where the provider reports use: no evidence means wait', async () => {
    const silent = await verdict(withLastUsed, lastUsedAt(new Date('2026-05-01T09:00:00Z')), [
      clientSays(undefined),
    ]);
    const unused = await verdict(withLastUsed, lastUsedAt(null), [clientSays('not-confirmed')]);
    assert.deepEqual(silent, { status: 'not-confirmed', source: 'provider-last-used' });
    assert.deepEqual(unused, { status: 'not-confirmed', source: 'provider-last-used' });
  });

  it('uses testSecret only where neither the provider nor a client reports anything', async () => {
    const result = await verdict(withoutLastUsed, {} as ProviderClient, [clientSays(undefined)]);
    assert.deepEqual(result, { status: 'confirmed', source: 'test-secret' });
  });
});
