import { ListSecretVersionIdsCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { emfRecord } from './emf.js';
import { InvalidInputError } from './errors.js';
import type { Logger } from './logger.js';
import type { KeyRoute } from './routes.js';
import { AWSCURRENT } from './secrets.js';
import { DIMENSIONS, METRICS } from './telemetry.js';

/** A managed secret the monitor covers: by name, plus the ARN of a secret the stack did not create. */
export interface MonitoredSecret {
  name: string;
  arn?: string;
}

/** The monitored secrets: every key of the deployment, as the routes in the function's bundle name them. */
export function monitoredSecretsOf(routes: readonly KeyRoute[]): MonitoredSecret[] {
  if (routes.length === 0)
    throw new InvalidInputError(
      'INVALID_INPUT',
      'key-age monitor: its bundle names no keys (rekey-routes.json); deploy the function with the rekey stack.',
      { field: 'rekey-routes.json' },
    );
  return routes.map((r) => ({ name: r.secretName, ...(r.secretArn ? { arn: r.secretArn } : {}) }));
}

export interface KeyAge {
  secretName: string;
  versionId: string;
  ageSeconds: number;
}

export interface KeyAgeDeps {
  secretsManager: SecretsManagerClient;
  logger: Logger;
  /** Where EMF lines go: stdout in Lambda, where CloudWatch Logs turns them into metrics. */
  emit: (line: string) => void;
  now?: () => Date;
  /**
   * Publish only ages of at least this many seconds (default 0: every age). The stack passes its shortest
   * rotation_frequency: a key on schedule stays younger, so it publishes nothing — a custom metric is billed
   * for every hour it is published — while every key that can reach its alarm's 1.5 × its own frequency is
   * published before it does.
   */
  publishFromSeconds?: number;
}

/** The environment variable the stack sets to the shortest rotation_frequency, in seconds. */
export const PUBLISH_FROM_ENV = 'REKEY_KEY_AGE_PUBLISH_FROM_SECONDS';

/** `publishFromSeconds` from the function's environment; a missing or malformed value publishes every age. */
export function publishFromOf(env: Record<string, string | undefined>): number {
  const value = Number(env[PUBLISH_FROM_ENV] ?? 0);
  return Number.isFinite(value) && value > 0 ? value : 0;
}

/** Age of the AWSCURRENT version, from version metadata only: the monitor never reads a key value. */
async function currentVersionAge(
  sm: SecretsManagerClient,
  secret: MonitoredSecret,
  now: Date,
): Promise<KeyAge> {
  let token: string | undefined;
  do {
    const page = await sm.send(
      new ListSecretVersionIdsCommand({ SecretId: secret.arn ?? secret.name, NextToken: token }),
    );
    const current = page.Versions?.find((v) => v.VersionStages?.includes(AWSCURRENT));
    if (current?.CreatedDate && current.VersionId) {
      const ageSeconds = Math.max(0, Math.floor((now.getTime() - current.CreatedDate.getTime()) / 1000));
      return { secretName: secret.name, versionId: current.VersionId, ageSeconds };
    }
    token = page.NextToken;
  } while (token);
  throw new InvalidInputError('INVALID_SECRET', `secret ${secret.name} has no AWSCURRENT version`, {
    secretId: secret.arn ?? secret.name,
  });
}

/**
 * Publishes KeyAgeSeconds for every monitored secret at least `publishFromSeconds` old (one EMF line each),
 * and returns every age it read. A secret that cannot be read is
 * logged and skipped, then reported by throwing once all others were published, so the function's Errors
 * alarm fires without hiding the ages of the rest.
 */
export async function publishKeyAges(secrets: MonitoredSecret[], deps: KeyAgeDeps): Promise<KeyAge[]> {
  const now = (deps.now ?? (() => new Date()))();
  const ages: KeyAge[] = [];
  const failed: string[] = [];
  let published = 0;
  for (const secret of secrets) {
    try {
      const age = await currentVersionAge(deps.secretsManager, secret, now);
      ages.push(age);
      if (age.ageSeconds < (deps.publishFromSeconds ?? 0)) continue;
      published += 1;
      deps.emit(
        JSON.stringify(
          emfRecord(
            [{ name: METRICS.keyAgeSeconds, value: age.ageSeconds, unit: 'Seconds' }],
            { [DIMENSIONS.secret]: secret.name },
            { versionId: age.versionId },
            now,
          ),
        ),
      );
    } catch (error) {
      deps.logger.error('cannot read the key age', { secretId: secret.arn ?? secret.name, error });
      failed.push(secret.name);
    }
  }
  deps.logger.info('published key ages', { read: ages.length, published, failed: failed.length });
  if (failed.length) {
    throw new InvalidInputError(
      'INVALID_SECRET',
      `key-age monitor could not read ${failed.join(', ')}; check that the secrets exist and the monitor may call secretsmanager:ListSecretVersionIds on them.`,
    );
  }
  return ages;
}
