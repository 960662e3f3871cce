import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  GetSecretValueCommand,
  RotateSecretCommand,
  type SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { stringify } from 'yaml';
import { Logger } from '../../lambdas/logger.js';
import { type KeyRoute, KeyRoutes } from '../../lambdas/routes.js';
import { type ManagedKey, parseManagedKey } from '../../lambdas/secret-format.js';
import type { LoopbackAws } from '../../local/aws/server.js';
import { CapturedLogs } from '../../local/captured-logs.js';

/** The alerts published to `topicArn` on the loopback endpoint, parsed. */
export function alertsOn(
  aws: LoopbackAws,
  topicArn: string,
): Array<{ subject: string | undefined; message: Record<string, unknown> }> {
  return aws.sns
    .messagesTo(topicArn)
    .map((m) => ({ subject: m.subject, message: JSON.parse(m.message) as Record<string, unknown> }));
}

/**
 * The route a test deployment pins for one key, as the stack would from an inventory entry: the rotator
 * secret `rekey/rotator/<provider>`, the given options, a 1 h grace, no single-key, rollback on.
 */
export function testRoute(secretName: string, provider: string, change: Partial<KeyRoute> = {}): KeyRoute {
  return {
    name: secretName.split('/').pop() ?? secretName,
    secretName,
    provider,
    rotatorSecret: `rekey/rotator/${provider}`,
    options: {},
    singleKey: false,
    gracePeriod: '1h',
    rollbackOnFailure: true,
    ...change,
  };
}

/**
 * What every rotation test environment shares: one managed key on the loopback endpoint, its rotation
 * function registered as a Lambda, captured logs, and the secret values to scan them for. Subclasses seed
 * the provider and wire the function.
 */
export abstract class RotationEnvBase {
  readonly logs = new CapturedLogs();
  readonly logger = new Logger(this.logs.sink, {}, 'debug');
  aws!: LoopbackAws;
  sm!: SecretsManagerClient;
  secretArn!: string;
  lambdaArn!: string;
  /** Every secret value the test saw, for the log scan. */
  readonly secretValues = new Set<string>();
  /** What the test's deployment pins for its keys (see `redeploy`). */
  routes = new KeyRoutes([]);

  /**
   * An inventory file saying what `routes` pin, for commands that read one (`--inventory`): what the
   * operator's rekey.yaml says of the deployed keys.
   */
  writeInventory(): string {
    const path = join(mkdtempSync(join(tmpdir(), 'rekey-env-')), 'rekey.yaml');
    const routes = this.routes.routes;
    const inventory = {
      api_keys: routes.map((r) => ({
        name: r.name,
        provider: r.provider,
        vault_path: r.secretName,
        rotation_frequency: '30d',
        rotator_secret: r.rotatorSecret,
        options: r.options,
        ...(r.singleKey ? { supports_dual_key: false, single_key_rotation: 'accept-interruption' } : {}),
        imported: true,
      })),
      rotation_schedules: routes.map((r) => ({
        secret: r.secretName,
        schedule: '0 3 * * 0',
        grace_period: r.gracePeriod,
        rollback_on_failure: r.rollbackOnFailure,
      })),
    };
    writeFileSync(path, stringify(inventory));
    return path;
  }

  /** Pins `route` (replacing the route of the same secret), as a deploy of a changed inventory would. */
  redeploy(route: KeyRoute): void {
    this.routes = new KeyRoutes([
      ...this.routes.routes.filter((r) => r.secretName !== route.secretName),
      route,
    ]);
  }

  /** Every secret value the provider ever issued. */
  protected abstract issuedSecrets(): string[];

  /** RotateSecret, then wait for the four steps to finish; returns the new version id. */
  async rotate(token?: string): Promise<string> {
    const out = await this.sm.send(
      new RotateSecretCommand({
        SecretId: this.secretArn,
        RotationLambdaARN: this.lambdaArn,
        ...(token ? { ClientRequestToken: token } : {}),
      }),
    );
    await this.aws.secretsManager.settled();
    return out.VersionId!;
  }

  async read(stage: string): Promise<ManagedKey & { versionId: string }> {
    const out = await this.sm.send(
      new GetSecretValueCommand({ SecretId: this.secretArn, VersionStage: stage }),
    );
    const doc = parseManagedKey(out.SecretString, { secretId: this.secretArn });
    this.secretValues.add(doc.key);
    return { ...doc, versionId: out.VersionId! };
  }

  lastOutcome() {
    return this.aws.secretsManager.outcomes.at(-1);
  }

  /** Lines of captured logs that contain any secret value the provider issued or the test saw. */
  leakedLines(): string[] {
    return this.logs.leaks([...this.secretValues, ...this.issuedSecrets()]);
  }
}
