import {
  GetSecretValueCommand,
  RotateSecretCommand,
  type SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { Logger } from '../../lambdas/logger.js';
import { type ManagedKey, parseManagedKey } from '../../lambdas/secret-format.js';
import type { LoopbackAws } from '../../local/aws/server.js';
import { CapturedLogs } from '../../local/captured-logs.js';

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
