import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { CommandIO } from '../../bin/commands/types.js';
import type { LoopbackAws } from '../../local/aws/server.js';
import { INTERNAL_GATEWAY_DESCRIPTION } from '../../local/rehearsal/providers.js';
import { CLOUDFLARE_TOKEN_ADMIN_GROUPS, CloudflareSandbox } from '../../local/sandboxes/cloudflare.js';
import { HttpKeysSandbox } from '../../local/sandboxes/http-keys.js';
import { SendGridSandbox } from '../../local/sandboxes/sendgrid.js';
import { startLoopbackAws } from '../support/env.js';

/** Stands in for the stack's placeholder (lib/managed-key.ts PLACEHOLDER); the CLI never parses it. */
const PLACEHOLDER = JSON.stringify({ rekey: 'placeholder' });

/** A key at a provider sandbox and the deployed (placeholder) secret its inventory entry names. */
export interface CliKeySetup<S> {
  sandbox: S;
  /** The inventory entry's name. */
  entry: string;
  secretArn: string;
  current: { id: string; value: string };
}

export interface CliEnvOptions {
  /**
   * Also deploy a Cloudflare token entry (`cloudflare`: Cloudflare names a token's own id) and a generic HTTP
   * entry (`gateway`: its description has no way to tell a key's id), besides SendGrid's (which can only tell
   * whether a key id exists). Default false: the inventory holds the two SendGrid entries only.
   */
  keyIdProviders?: boolean;
}

/** A deployed-but-not-imported rekey setup on loopback: placeholder secrets, rotator secrets, sandbox keys. */
export class CliEnv {
  readonly sandbox = new SendGridSandbox();
  aws!: LoopbackAws;
  sm!: SecretsManagerClient;
  inventoryPath!: string;
  secretArn!: string;
  current!: { id: string; value: string };
  cloudflare!: CliKeySetup<CloudflareSandbox> & { other: { id: string; value: string } };
  gateway!: CliKeySetup<HttpKeysSandbox>;
  /** What the deployed secrets hold before an import. */
  placeholder = PLACEHOLDER;

  constructor(private readonly options: CliEnvOptions = {}) {}

  async start(placeholder = PLACEHOLDER): Promise<this> {
    this.placeholder = placeholder;
    this.aws = await startLoopbackAws();
    await this.sandbox.start();
    this.sm = new SecretsManagerClient({});
    const admin = this.sandbox.seedKey('rekey-rotator');
    this.current = this.sandbox.seedKey('notification-service', ['mail.send']);
    const placeholderSecret = async (Name: string) =>
      (await this.sm.send(new CreateSecretCommand({ Name, SecretString: placeholder }))).ARN!;
    const rotatorSecret = (Name: string, credential: object) =>
      this.sm.send(new CreateSecretCommand({ Name, SecretString: JSON.stringify(credential) }));

    let extraEntries = '';
    if (this.options.keyIdProviders)
      extraEntries = await this.startKeyIdProviders(placeholderSecret, rotatorSecret);
    this.secretArn = (
      await this.sm.send(
        new CreateSecretCommand({ Name: 'prod/sendgrid/api-key', SecretString: placeholder }),
      )
    ).ARN!;
    await this.sm.send(
      new CreateSecretCommand({
        Name: 'rekey/rotator/sendgrid',
        SecretString: JSON.stringify({ apiKey: admin.value }),
      }),
    );
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
${extraEntries}rotation_schedules:
  - secret: prod/sendgrid/api-key
    schedule: "0 2 1 */3 *"
    grace_period: 4h
`,
    );
    return this;
  }

  /** Cloudflare's and the in-house gateway's sandboxes, rotator secrets and placeholder secrets; their entries. */
  private async startKeyIdProviders(
    placeholderSecret: (name: string) => Promise<string>,
    rotatorSecret: (name: string, credential: object) => Promise<unknown>,
  ): Promise<string> {
    const cloudflare = new CloudflareSandbox();
    await cloudflare.start();
    const dnsWrite = [
      {
        effect: 'allow' as const,
        resources: { 'com.cloudflare.api.account.zone.22b1de5f1c0e4b3ea97bb1e963b06a43': '*' },
        permission_groups: [{ id: '4755a26eedb94da69e1066d98aa820be', name: 'DNS Write' }],
      },
    ];
    const cfAdmin = cloudflare.seedToken('rekey-rotator', [
      { effect: 'allow', resources: {}, permission_groups: [CLOUDFLARE_TOKEN_ADMIN_GROUPS.user] },
    ]);
    await rotatorSecret('rekey/rotator/cloudflare', { apiToken: cfAdmin.value });
    this.cloudflare = {
      sandbox: cloudflare,
      entry: 'cloudflare-dns-token',
      secretArn: await placeholderSecret('prod/cloudflare/dns-token'),
      current: cloudflare.seedToken('dns-updater', dnsWrite),
      other: cloudflare.seedToken('cdn-purger', dnsWrite),
    };

    const gateway = new HttpKeysSandbox();
    await gateway.start();
    await rotatorSecret('rekey/rotator/internal-gateway', { token: gateway.adminToken });
    this.gateway = {
      sandbox: gateway,
      entry: 'internal-gateway-key',
      secretArn: await placeholderSecret('prod/internal/gateway-key'),
      current: gateway.seedKey('frontend-bff', ['orders:read']),
    };
    return `  - name: ${this.cloudflare.entry}
    provider: Cloudflare
    vault_path: prod/cloudflare/dns-token
    rotation_frequency: 90d
    rotator_secret: rekey/rotator/cloudflare
  - name: ${this.gateway.entry}
    provider: Internal API Gateway
    adapter: http
    vault_path: prod/internal/gateway-key
    rotation_frequency: 7d
    rotator_secret: rekey/rotator/internal-gateway
    options: ${JSON.stringify(INTERNAL_GATEWAY_DESCRIPTION)}
`;
  }

  async stop(): Promise<void> {
    this.sm?.destroy();
    await this.aws?.stop();
    await this.sandbox.stop();
    await this.cloudflare?.sandbox.stop();
    await this.gateway?.sandbox.stop();
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
