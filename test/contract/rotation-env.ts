import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { RetryHooks, RetryPolicy } from '../../lambdas/retry.js';
import { runRotationStep } from '../../lambdas/rotation.js';
import type { ManagedKey } from '../../lambdas/secret-format.js';
import { startLoopbackAws } from '../support/env.js';
import { RotationEnvBase, testRoute } from '../support/rotation-env-base.js';
import type { ContractFixture, SeededProvider } from './fixture.js';

/** Fast retries whose waits are recorded instead of slept, so tests can see Retry-After honoured. */
export function recordedRetries(): { policy: RetryPolicy; hooks: RetryHooks; waits: number[] } {
  const waits: number[] = [];
  return {
    policy: { attempts: 3, baseDelayMs: 1, maxDelayMs: 30_000 },
    hooks: { sleep: async (ms) => void waits.push(ms), random: () => 0 },
    waits,
  };
}

/**
 * Any provider's key under rekey's management on loopback: the fixture's sandbox, both secrets in the
 * loopback Secrets Manager, and the rotation function registered as a Lambda that RotateSecret invokes.
 */
export class ContractRotationEnv extends RotationEnvBase {
  readonly retries = recordedRetries();
  seeded!: SeededProvider;

  constructor(
    readonly fixture: ContractFixture,
    readonly secretName = `prod/${fixture.provider.name}/api-key`,
  ) {
    super();
  }

  async start(): Promise<this> {
    this.aws = await startLoopbackAws();
    this.seeded = await this.fixture.seed(() => new Date());
    this.sm = new SecretsManagerClient({});
    for (const value of Object.values(this.seeded.credential))
      if (typeof value === 'string') this.secretValues.add(value);
    this.secretValues.add(this.seeded.current.value);
    const rotatorArn = (
      await this.sm.send(
        new CreateSecretCommand({
          Name: `rekey/rotator/${this.fixture.provider.name}`,
          SecretString: JSON.stringify(this.seeded.credential),
        }),
      )
    ).ARN!;
    const doc: ManagedKey = {
      provider: this.fixture.provider.name,
      key: this.seeded.current.value,
      keyId: this.seeded.current.id,
      createdAt: '2026-01-01T00:00:00.000Z',
      rotatorSecretArn: rotatorArn,
      options: this.seeded.options,
    };
    this.secretArn = (
      await this.sm.send(
        new CreateSecretCommand({ Name: this.secretName, SecretString: JSON.stringify(doc) }),
      )
    ).ARN!;
    this.redeploy(testRoute(this.secretName, this.fixture.provider.name, { options: this.seeded.options }));
    this.lambdaArn = this.aws.lambdas.register(`rekey-rotate-${this.fixture.provider.name}`, (event) =>
      runRotationStep(event, {
        secretsManager: this.sm,
        logger: this.logger,
        provider: this.fixture.provider,
        routes: this.routes,
        endpoint: this.seeded.sandbox.url,
        http: { timeoutMs: 2000, retry: this.retries.policy, retryHooks: this.retries.hooks },
      }),
    );
    return this;
  }

  async stop(): Promise<void> {
    this.sm?.destroy();
    await this.aws?.stop();
    await this.seeded?.sandbox.stop();
  }

  protected issuedSecrets(): string[] {
    return this.seeded.sandbox.issuedSecrets();
  }
}
