import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { KeyClient } from '../../client/index.js';
import { cloudWatchUsageSource } from '../../lambdas/usage-metrics.js';
import { LeakScan } from '../captured-logs.js';
import type { RehearsalOptions } from './rehearsal.js';

/** Simulated client settings: the defaults an app would run with, on the world's compressed clock. */
export const FLEET_CLIENT = {
  ttlMs: 300_000,
  jitterMs: 60_000,
  maxStaleMs: 1_800_000,
  retryDelayMs: 5_000,
  maxRetryDelayMs: 60_000,
};

/**
 * Wires the fleet to rekey's real client: every instance gets its own KeyClient (own cache, own jittered
 * TTL, all of the instance's keys) on the world's compressed clock; their EMF usage lines go to the loopback CloudWatch, where the
 * revoker's usage check reads them, and into the log scan for secret values.
 */
export function rekeyClientFleet(): Pick<RehearsalOptions, 'sourceFor' | 'extraLogs' | 'configureWorld'> {
  let issued: () => string[] = () => [];
  const usageLines = new LeakScan(() => issued());
  const clients = new Map<
    number,
    { client: KeyClient; secretsManager: SecretsManagerClient; users: number }
  >();
  return {
    configureWorld(world) {
      issued = () => world.issuedSecrets();
      const cloudWatch = new CloudWatchClient({});
      return [cloudWatchUsageSource(cloudWatch, () => world.clock.now())];
    },
    sourceFor(world, instance, key, random) {
      // One client per instance, serving each of the instance's keys from its one cache, over its own SDK
      // client (its own connections, as each instance of an app has).
      let client = clients.get(instance);
      if (!client) {
        const secretsManager = new SecretsManagerClient({});
        client = {
          users: 0,
          secretsManager,
          client: new KeyClient({
            ...FLEET_CLIENT,
            secretsManager,
            now: () => world.clock.now().getTime(),
            random,
            metrics: {
              flushIntervalMs: 200,
              sink: (line) => {
                usageLines.sink(line);
                world.aws.cloudWatch.ingestEmf(line);
              },
            },
          }),
        };
        clients.set(instance, client);
      }
      const shared = client;
      shared.users += 1;
      return {
        withKey: (call) => shared.client.withKey(key.arn, (k) => call({ id: k.keyId, value: k.value })),
        close: () => {
          shared.users -= 1;
          if (shared.users > 0) return;
          shared.client.close();
          shared.secretsManager.destroy();
        },
      };
    },
    extraLogs: usageLines,
  };
}
