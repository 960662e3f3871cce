import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { CloudWatchClient, GetMetricDataCommand } from '@aws-sdk/client-cloudwatch';
import { ProviderRejectedError } from '../../lambdas/errors.js';
import { sendgrid } from '../../lambdas/providers/sendgrid.js';
import type { ProviderClient, ProviderDefinition } from '../../lambdas/providers/types.js';
import { DEFAULT_QUIET_SECONDS, revocationConfigFromEnv, usageVerdict } from '../../lambdas/revocation.js';
import type { PreviousKeyUse, UsageQuery, UsageSource } from '../../lambdas/usage.js';
import { cloudWatchUsageSource } from '../../lambdas/usage-metrics.js';

const MINUTE = 60_000;
const PROMOTED = new Date('2026-05-01T10:00:00Z');
/** The revoker runs after the default hour of grace. */
const NOW = new Date(PROMOTED.getTime() + 61 * MINUTE);
const ago = (minutes: number) => new Date(NOW.getTime() - minutes * MINUTE);
const withLastUsed: ProviderDefinition = {
  ...sendgrid,
  capabilities: { ...sendgrid.capabilities, lastUsed: true },
};
const withoutLastUsed: ProviderDefinition = {
  ...sendgrid,
  capabilities: { ...sendgrid.capabilities, lastUsed: false },
};
/** A provider reporting the new key's last use, and the old key's (unused unless given). */
const lastUsedAt = (newKey: Date | null, oldKey: Date | null = null) =>
  ({ lastUsed: async (id: string) => (id === 'key-new' ? newKey : oldKey) }) as unknown as ProviderClient;
/** A client source answering on the new key and, when given, on the old key. */
const clientSays =
  (status: 'confirmed' | 'not-confirmed' | undefined, previous?: PreviousKeyUse): UsageSource =>
  async () =>
    status && { status, source: 'client-metrics', ...(previous ? { previous } : {}) };
const oldUsed = (at: Date): PreviousKeyUse => ({ lastUsedAt: at, calls: 3 });
const oldQuiet: PreviousKeyUse = { lastUsedAt: null, calls: 0 };

const verdict = (definition: ProviderDefinition, provider: ProviderClient, sources: UsageSource[]) =>
  usageVerdict(provider, definition, {}, 'key-new', PROMOTED, 'prod/key', sources, {
    keyId: 'key-old',
    now: NOW,
    quietSeconds: 600,
  });

describe('usage evidence before a revocation', () => {
  it('takes the provider’s last use after promotion', async () => {
    const result = await verdict(withLastUsed, lastUsedAt(new Date('2026-05-01T10:05:00Z')), []);
    assert.equal(result.status, 'confirmed');
    assert.equal(result.source, 'provider-last-used');
  });

  it('falls back to the client’s metrics when the provider’s report shows no use yet (lagging or masked)', async () => {
    const result = await verdict(withLastUsed, lastUsedAt(null), [clientSays('confirmed')]);
    assert.equal(result.status, 'confirmed');
    assert.equal(result.source, 'client-metrics');
  });

  it('never settles for testSecret where the provider reports use: no evidence means wait', async () => {
    const silent = await verdict(withLastUsed, lastUsedAt(new Date('2026-05-01T09:00:00Z')), [
      clientSays(undefined),
    ]);
    const unused = await verdict(withLastUsed, lastUsedAt(null), [clientSays('not-confirmed')]);
    assert.deepEqual(silent, { status: 'not-confirmed', source: 'provider-last-used' });
    assert.deepEqual(unused, { status: 'not-confirmed', source: 'provider-last-used' });
  });

  it('uses testSecret only where neither the provider nor a client reports anything, and says the old key was not checked', async () => {
    const result = await verdict(withoutLastUsed, {} as ProviderClient, [clientSays(undefined)]);
    assert.equal(result.status, 'confirmed');
    assert.equal(result.source, 'test-secret');
    assert.equal(result.status === 'confirmed' && result.quietEvidence, 'test-secret');
    assert.match(
      result.detail ?? '',
      /no source reports the old key key-old's use \(no provider last-used report, no client metrics\): its quiet period is not checked/,
    );
  });
});

describe('the old key must have gone quiet before a revocation', () => {
  it('holds the revocation back while the client’s metrics show the old key used a minute ago', async () => {
    const result = await verdict(withoutLastUsed, {} as ProviderClient, [
      clientSays('confirmed', oldUsed(ago(1))),
    ]);
    assert.equal(result.status, 'not-confirmed');
    assert.ok('quietEvidence' in result);
    assert.equal(result.source, 'client-metrics', 'the new key is in use');
    assert.equal(result.quietEvidence, 'client-metrics');
    assert.deepEqual(result.lastUsedAt, ago(1));
    assert.match(
      result.detail,
      /^the old key key-old is still in use: last used 60 s ago \(2026-05-01T11:00:00\.000Z\) by client-metrics .*it must go unused for 600 s before it is revoked$/,
    );
  });

  it('confirms once the old key has been quiet for longer than the quiet period', async () => {
    const byClient = await verdict(withoutLastUsed, {} as ProviderClient, [
      clientSays('confirmed', oldQuiet),
    ]);
    assert.equal(byClient.status, 'confirmed');
    assert.equal(byClient.status === 'confirmed' && byClient.quietEvidence, 'client-metrics');
    const byProvider = await verdict(withLastUsed, lastUsedAt(ago(30), ago(11)), []);
    assert.equal(byProvider.status, 'confirmed');
    assert.equal(byProvider.source, 'provider-last-used');
    assert.equal(byProvider.status === 'confirmed' && byProvider.quietEvidence, 'provider-last-used');
    assert.match(byProvider.detail ?? '', /the old key key-old went unused for 600 s by provider-last-used/);
  });

  it('prefers the provider’s last use of the old key over the client’s metrics', async () => {
    const providerSeesUse = await verdict(withLastUsed, lastUsedAt(ago(5), ago(2)), [
      clientSays('confirmed', oldQuiet),
    ]);
    assert.equal(providerSeesUse.status, 'not-confirmed');
    assert.ok('quietEvidence' in providerSeesUse);
    assert.equal(providerSeesUse.quietEvidence, 'provider-last-used');
    assert.match(providerSeesUse.detail, /last used 120 s ago .* by provider-last-used/);
    const bothQuiet = await verdict(withLastUsed, lastUsedAt(ago(5), ago(40)), [
      clientSays('confirmed', oldQuiet),
    ]);
    assert.equal(bothQuiet.status === 'confirmed' && bothQuiet.quietEvidence, 'provider-last-used');
  });

  it('still waits when the provider’s report of the old key lags but the client’s metrics show a use', async () => {
    const result = await verdict(withLastUsed, lastUsedAt(ago(5), null), [
      clientSays('confirmed', oldUsed(ago(3))),
    ]);
    assert.equal(result.status, 'not-confirmed');
    assert.ok('quietEvidence' in result);
    assert.equal(result.source, 'provider-last-used');
    assert.equal(result.quietEvidence, 'client-metrics');
  });

  it('counts an old key the provider no longer has as unused', async () => {
    const provider = {
      lastUsed: async (id: string) => {
        if (id === 'key-new') return ago(5);
        throw new ProviderRejectedError('SendGrid', 'read key last use', 404, 'no such key');
      },
    } as unknown as ProviderClient;
    const result = await verdict(withLastUsed, provider, []);
    assert.equal(result.status === 'confirmed' && result.quietEvidence, 'provider-last-used');
  });

  it('waits for the new key first: an unused new key decides, whatever the old key did', async () => {
    const result = await verdict(withoutLastUsed, {} as ProviderClient, [
      clientSays('not-confirmed', oldQuiet),
    ]);
    assert.deepEqual(result, { status: 'not-confirmed', source: 'client-metrics' });
  });

  it('reads the quiet period from REKEY_QUIET_SECONDS, 600 s by default', () => {
    const wiring = {
      REKEY_SCHEDULE_GROUP: 'rekey',
      REKEY_SCHEDULER_ROLE_ARN: 'arn:aws:iam::123456789012:role/s',
      REKEY_REVOKER_ARN: 'arn:aws:lambda:us-east-1:123456789012:function:r',
    };
    assert.equal(revocationConfigFromEnv(wiring)?.quietSeconds, undefined);
    assert.equal(DEFAULT_QUIET_SECONDS, 600);
    assert.equal(revocationConfigFromEnv({ ...wiring, REKEY_QUIET_SECONDS: '900' })?.quietSeconds, 900);
  });
});

describe('the client’s metrics as evidence for both keys', () => {
  /** A CloudWatch client answering KeyCalls by key id from `calls` (minute → sum), newest first as CloudWatch does. */
  const fakeCloudWatch = (calls: Record<string, Array<[Date, number]>>) => {
    const inputs: GetMetricDataCommand['input'][] = [];
    const client = {
      send: async (command: GetMetricDataCommand) => {
        inputs.push(command.input);
        const query = command.input.MetricDataQueries![0]!;
        const keyId = query.MetricStat!.Metric!.Dimensions!.find((d) => d.Name === 'KeyId')!.Value!;
        const points = (calls[keyId] ?? []).filter(
          ([at]) => at >= command.input.StartTime! && at < command.input.EndTime!,
        );
        return {
          MetricDataResults: [
            { Id: query.Id, Timestamps: points.map(([at]) => at), Values: points.map(([, v]) => v) },
          ],
        };
      },
    } as unknown as CloudWatchClient;
    return { client, inputs };
  };
  const query = (previous?: UsageQuery['previous']): UsageQuery => ({
    secretName: 'prod/key',
    since: PROMOTED,
    newKeyId: 'key-new',
    ...(previous ? { previous } : {}),
  });

  it('reports the old key’s latest minute of use within the quiet period, by SecretName and the old KeyId', async () => {
    const { client, inputs } = fakeCloudWatch({
      'key-new': [[ago(30), 12]],
      'key-old': [
        [ago(1), 2],
        [ago(4), 5],
      ],
    });
    const source = cloudWatchUsageSource(client, () => NOW);
    const answer = await source(query({ keyId: 'key-old', quietSince: ago(10) }));
    assert.equal(answer?.status, 'confirmed');
    assert.deepEqual(answer?.previous?.lastUsedAt, ago(1));
    assert.equal(answer?.previous?.calls, 7);
    const old = inputs[1]!;
    assert.deepEqual(old.StartTime, ago(10));
    assert.deepEqual(old.MetricDataQueries![0]!.MetricStat!.Metric!.Dimensions, [
      { Name: 'SecretName', Value: 'prod/key' },
      { Name: 'KeyId', Value: 'key-old' },
    ]);
    assert.equal(old.MetricDataQueries![0]!.MetricStat!.Period, 60);
  });

  it('reports the old key quiet when it has no calls within the quiet period, and asks nothing of it unless asked', async () => {
    const { client, inputs } = fakeCloudWatch({ 'key-new': [[ago(30), 12]], 'key-old': [[ago(20), 9]] });
    const source = cloudWatchUsageSource(client, () => NOW);
    const answer = await source(query({ keyId: 'key-old', quietSince: ago(10) }));
    assert.deepEqual(answer?.previous, {
      lastUsedAt: null,
      calls: 0,
      detail: `no calls with key key-old since ${ago(10).toISOString()}`,
    });
    inputs.length = 0;
    const newOnly = await source(query());
    assert.equal(newOnly?.previous, undefined);
    assert.equal(inputs.length, 1);
  });
});
