import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { CommandIO } from '../../bin/commands/types.js';
import type { LoopbackAws } from '../../local/aws/server.js';
import { SendGridSandbox } from '../../local/sandboxes/sendgrid.js';
import { startLoopbackAws } from '../support/env.js';

/** Stands in for the stack's placeholder (lib/managed-key.ts PLACEHOLDER); the CLI never parses it. */
const PLACEHOLDER = JSON.stringify({ rekey: 'placeholder' });

/** A deployed-but-not-imported rekey setup on loopback: placeholder secret, rotator secret, sandbox keys. */
export class CliEnv {
  readonly sandbox = new SendGridSandbox();
  aws!: LoopbackAws;
  sm!: SecretsManagerClient;
  inventoryPath!: string;
  secretArn!: string;
  current!: { id: string; value: string };

  async start(placeholder = PLACEHOLDER): Promise<this> {
    this.aws = await startLoopbackAws();
    await this.sandbox.start();
    this.sm = new SecretsManagerClient({});
    const admin = this.sandbox.seedKey('rekey-rotator');
    this.current = this.sandbox.seedKey('notification-service', ['mail.send']);
    await this.sm.send(
      new CreateSecretCommand({
        Name: 'rekey/rotator/sendgrid',
        SecretString: JSON.stringify({ apiKey: admin.value }),
      }),
    );
    this.secretArn = (
      await this.sm.send(
        new CreateSecretCommand({ Name: 'prod/sendgrid/api-key', SecretString: placeholder }),
      )
    ).ARN!;
    const dir = mkdtempSync(join(tmpdir(), 'rekey-cli-'));
    this.inventoryPath = join(dir, 'rekey.yaml');
    writeFileSync(
      this.inventoryPath,
      `api_keys:
  - name: sendgrid-api-key
    provider: SendGrid
    vault_path: prod/sendgrid/api-key
    rotation_frequency: 90d
    rotator_secret: rekey/rotator/sendgrid
    options: { scopes: [mail.send] }
  - name: never-deployed
    provider: SendGrid
    vault_path: prod/sendgrid/other
    rotation_frequency: 30d
    rotator_secret: rekey/rotator/sendgrid
rotation_schedules:
  - secret: prod/sendgrid/api-key
    schedule: "0 2 1 */3 *"
    grace_period: 4h
`,
    );
    return this;
  }

  async stop(): Promise<void> {
    this.sm?.destroy();
    await this.aws?.stop();
    await this.sandbox.stop();
  }
}

/** A CommandIO that records output and serves `stdin`. */
export function captureIO(stdin = ''): CommandIO & { stdout: string[]; stderr: string[]; all(): string } {
  const stdout: string[] = [];
  const stderr: string[] = [];
  return {
    stdout,
    stderr,
    out: (t) => stdout.push(t),
    err: (t) => stderr.push(t),
    stdin: async () => stdin,
    isTTY: false,
    all: () => [...stdout, ...stderr].join('\n'),
  };
}
