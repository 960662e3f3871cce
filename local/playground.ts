import { chmodSync, mkdirSync, mkdtempSync, unwatchFile, watchFile, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { CreateTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { CreateScheduleGroupCommand, SchedulerClient } from '@aws-sdk/client-scheduler';
import {
  CreateSecretCommand,
  GetSecretValueCommand,
  PutSecretValueCommand,
  RotateSecretCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { FUNCTION_AWS_RETRY } from '../lambdas/aws-retry.js';
import { type KeyOwnerTable, recordKeyOwner } from '../lambdas/key-owners.js';
import { PROVIDERS, providerEndpointVariable } from '../lambdas/providers/index.js';
import { rotationHandler } from '../lambdas/rotation-handler.js';
import { type KeyRoute, ROUTES_FILE } from '../lambdas/routes.js';
import { PLACEHOLDER, parseManagedKey, serializeManagedKey } from '../lambdas/secret-format.js';
import { SINGLE_KEY_OPT_IN, TAGS } from '../lambdas/tags.js';
import { keyRouteOf, loadInventory, type ManagedKeyPlan } from '../lib/inventory.js';
import { keyRoleNames, REVOCATION_ACTIONS, ROTATION_ACTIONS } from '../lib/key-actions.js';
import { LOOPBACK_USER, LoopbackAws, loopbackEnvironment } from './aws/server.js';
import type { RolePolicy } from './aws/sts.js';
import { inFlight } from './in-flight.js';
import { REHEARSAL_PROVIDERS, type RehearsalSandbox } from './rehearsal/providers.js';

/**
 * What the functions' own execution roles may do, as the stack grants them (README, "IAM permissions"):
 * scheduling, the lease, alerts, metrics, AssumeRole of the keys' roles — and in Secrets Manager only the
 * key-age monitor's ListSecretVersionIds. Every other call on a secret must be made with a key's role.
 */
export const FUNCTION_ROLE_POLICY: RolePolicy = ({ service, operation }) =>
  service !== 'secretsmanager' || operation === 'ListSecretVersionIds';

/** The access key the functions' SDK clients sign with: their execution role's, held to FUNCTION_ROLE_POLICY. */
export const FUNCTION_ACCESS_KEY_ID = 'AKIDREKEYFUNCTIONS';

/** The stack name the playground deploys as (the CDK app's default): it names the per-key roles. */
const STACK_NAME = 'Rekey';
const SCHEDULE_GROUP = 'rekey';
const LEASE_TABLE = 'rekey-leases';
/** Keys deployed at once (RotateSecret, which attaching rotation sends, is limited to 50/s). */
const DEPLOY_CONCURRENCY = 8;

export interface PlaygroundOptions {
  /** The inventory to deploy, as `cdk deploy` would (default rekey.yaml). */
  inventoryPath: string;
  /** Where the environment file and the seeded keys are written (default .rekey-local). */
  dir: string;
  /** Port of the loopback AWS endpoint; 0 picks a free one. */
  port: number;
}

/** One inventory entry as the playground deployed it. */
export interface PlaygroundKey {
  name: string;
  secretName: string;
  provider: string;
  /**
   * The key the applications use: the one created at the sandbox (its value is in `keyFile` only) until a
   * rotation replaces it, then AWSCURRENT's.
   */
  keyId: string;
  /** `<dir>/keys/<entry>.key`; its id is in `<entry>.id` beside it. */
  keyFile: string;
  /** The rotation schedule is attached (the entry says `imported: true` and its key is stored). */
  rotationAttached: boolean;
}

/** What one deploy did, for the person watching. */
export interface DeployResult {
  keys: PlaygroundKey[];
  /** Entries left out, each with why. */
  skipped: string[];
  /** Problems a real deploy would stop at (an imported entry whose secret still holds the placeholder). */
  problems: string[];
}

type Handler = (event: unknown, context: unknown) => Promise<unknown>;

/**
 * `rekey local`: the loopback AWS endpoint and a sandbox per provider of the inventory, with rekey deployed
 * into it as the stack deploys it — a placeholder secret per entry, the per-key roles (STS refuses what
 * their policies do not allow), the rotation functions, the revoker and rollback as Lambdas running the
 * deployed handlers with their bundle's routes and environment, the lease table, the schedule group and
 * the alert topics. Rotation is attached for entries marked `imported: true`; editing the inventory
 * redeploys. The CLI then runs against it with the environment this writes, as against a real stack.
 */
export class Playground {
  readonly aws: LoopbackAws;
  readonly sandboxes = new Map<string, RehearsalSandbox>();
  readonly keys = new Map<string, PlaygroundKey>();
  private readonly sm: SecretsManagerClient;
  /** Where `rekey import` records which secret a key belongs to (lambdas/key-owners.ts). */
  private readonly keyOwners: KeyOwnerTable;
  private readonly rotators = new Map<string, string>();
  private readonly secretArns = new Map<string, string>();
  private readonly functionArns = new Map<string, string>();
  private revoke: Handler | undefined;
  private rollback: Handler | undefined;
  private deploys = 0;
  private deploying: Promise<void> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;
  private wiring: Record<string, string> = {};

  constructor(readonly options: PlaygroundOptions) {
    this.aws = new LoopbackAws();
    // Deploying many keys meets Secrets Manager's 50 writes/s, as CloudFormation does: retried like the
    // functions' clients (lambdas/aws-retry.ts), not given up after the SDK's default three attempts.
    this.sm = new SecretsManagerClient({ credentials: LOOPBACK_USER, ...FUNCTION_AWS_RETRY });
    this.keyOwners = {
      dynamodb: new DynamoDBClient({ credentials: LOOPBACK_USER, ...FUNCTION_AWS_RETRY }),
      config: { tableName: LEASE_TABLE },
    };
  }

  /** Starts the endpoint, deploys the inventory, and writes the environment file. */
  async start(): Promise<DeployResult> {
    const plans = loadInventory(this.options.inventoryPath, Object.keys(PROVIDERS));
    const url = await this.aws.start(this.options.port);
    // The functions run in this process and sign with their execution role's key, held to its policy;
    // the playground deploys, and the CLI runs, as the loopback account's unrestricted user (environment()).
    Object.assign(process.env, loopbackEnvironment(url, this.aws.region), {
      AWS_ACCESS_KEY_ID: FUNCTION_ACCESS_KEY_ID,
    });
    delete process.env.AWS_PROFILE;
    this.aws.sts.defineAccessKey(
      FUNCTION_ACCESS_KEY_ID,
      FUNCTION_ROLE_POLICY,
      `arn:aws:sts::${this.aws.accountId}:assumed-role/rekey-function/playground`,
    );
    mkdirSync(join(this.options.dir, 'keys'), { recursive: true });
    const dynamodb = new DynamoDBClient({ credentials: LOOPBACK_USER });
    await dynamodb.send(
      new CreateTableCommand({
        TableName: LEASE_TABLE,
        KeySchema: [{ AttributeName: 'secret', KeyType: 'HASH' }],
        AttributeDefinitions: [{ AttributeName: 'secret', AttributeType: 'S' }],
        BillingMode: 'PAY_PER_REQUEST',
      }),
    );
    dynamodb.destroy();
    const scheduler = new SchedulerClient({ credentials: LOOPBACK_USER });
    await scheduler.send(new CreateScheduleGroupCommand({ Name: SCHEDULE_GROUP }));
    scheduler.destroy();
    const { accountId, region } = this.aws;
    this.wiring = {
      REKEY_SCHEDULE_GROUP: SCHEDULE_GROUP,
      REKEY_SCHEDULER_ROLE_ARN: `arn:aws:iam::${accountId}:role/rekey-scheduler`,
      REKEY_REVOKER_ARN: `arn:aws:lambda:${region}:${accountId}:function:rekey-revoker`,
      REKEY_DLQ_ARN: `arn:aws:sqs:${region}:${accountId}:rekey-revocation-dlq`,
      REKEY_ALERT_TOPIC_ARN: this.aws.sns.createTopic('rekey-security'),
      REKEY_LEASE_TABLE: LEASE_TABLE,
    };
    // Scheduler's one-shot revocations come due on the real clock.
    this.timer = setInterval(() => void this.aws.runDue(), 250);
    return this.deploy(plans);
  }

  /** The variables the CLI needs, as the stack's outputs and `aws configure` would give them. */
  environment(): Record<string, string> {
    return {
      ...loopbackEnvironment(this.aws.url, this.aws.region),
      ...this.wiring,
      ...Object.fromEntries(
        [...this.sandboxes].map(([provider, s]) => [providerEndpointVariable(provider), s.sandbox.url]),
      ),
    };
  }

  /** Redeploys whenever the inventory file changes; `report` hears each result (or the validator's error). */
  watchInventory(report: (result: DeployResult | Error) => void): void {
    // One deploy at a time, each of the file as it is then: two quick edits must not deploy concurrently.
    watchFile(this.options.inventoryPath, { interval: 300 }, () => {
      this.deploying = this.deploying.then(async () => {
        let plans: ManagedKeyPlan[];
        try {
          plans = loadInventory(this.options.inventoryPath, Object.keys(PROVIDERS));
        } catch (error) {
          report(error as Error);
          return;
        }
        await this.deploy(plans).then(report, report);
      });
    });
  }

  async stop(): Promise<void> {
    unwatchFile(this.options.inventoryPath);
    await this.deploying;
    if (this.timer) clearInterval(this.timer);
    this.sm.destroy();
    this.keyOwners.dynamodb.destroy();
    await this.aws.stop();
    for (const s of this.sandboxes.values()) await s.sandbox.stop();
  }

  /**
   * Deploys `plans` as `cdk deploy` would, again and again: what exists stays (secrets are retained), new
   * entries get their secret, roles and sandbox key, every function is rebuilt with the new routes, and
   * rotation is attached to entries newly marked `imported: true`.
   */
  async deploy(plans: ManagedKeyPlan[]): Promise<DeployResult> {
    const result: DeployResult = { keys: [], skipped: [], problems: [] };
    const deployed: ManagedKeyPlan[] = [];
    for (const plan of plans) {
      const why = unsupported(plan);
      if (why) {
        result.skipped.push(`${plan.name}: ${why}`);
        continue;
      }
      deployed.push(plan);
    }
    const routes = deployed.map((plan) => keyRouteOf(plan, keyRoleNames(STACK_NAME, plan.name)));
    for (const plan of deployed) await this.ensureProvider(plan.provider);
    // A few keys at a time, as CloudFormation creates independent resources in parallel; the rotator
    // secrets first, as the keys share them.
    for (const plan of deployed) await this.ensureRotator(plan);
    await inFlight(deployed, DEPLOY_CONCURRENCY, (plan, i) => this.ensureKey(plan, routes[i]!));
    await this.deployFunctions(routes);
    const outcomes = await inFlight(deployed, DEPLOY_CONCURRENCY, async (plan) => {
      const key = this.keys.get(plan.name)!;
      let problem: string | undefined;
      if (plan.imported && !key.rotationAttached) {
        problem = await this.attachRotation(plan);
        if (!problem) key.rotationAttached = true;
      }
      return { problem, key: { ...key, keyId: (await this.currentKeyId(plan)) ?? key.keyId } };
    });
    for (const { problem, key } of outcomes) {
      if (problem) result.problems.push(problem);
      result.keys.push(key);
    }
    return result;
  }

  private async ensureProvider(provider: string): Promise<void> {
    if (this.sandboxes.has(provider)) return;
    // The sandboxes stamp last-used times on the real clock, as the endpoint does.
    const sandbox = await REHEARSAL_PROVIDERS[provider]!.start(this.aws.clock);
    this.sandboxes.set(provider, sandbox);
  }

  private async ensureRotator(plan: ManagedKeyPlan): Promise<void> {
    const sandbox = this.sandboxes.get(plan.provider)!;
    if (!this.rotators.has(plan.rotatorSecret)) {
      const created = await this.sm.send(
        new CreateSecretCommand({
          Name: plan.rotatorSecret,
          Description: `rekey playground: the ${plan.provider} sandbox's admin credential`,
          SecretString: JSON.stringify(sandbox.credential),
        }),
      );
      this.rotators.set(plan.rotatorSecret, created.ARN!);
    }
  }

  private async ensureKey(plan: ManagedKeyPlan, route: KeyRoute): Promise<void> {
    const sandbox = this.sandboxes.get(plan.provider)!;
    if (!this.secretArns.has(plan.secretName)) {
      const tags: Array<{ Key: string; Value: string }> = [
        { Key: TAGS.gracePeriod, Value: plan.gracePeriod },
      ];
      if (plan.singleKey) tags.push({ Key: TAGS.singleKey, Value: SINGLE_KEY_OPT_IN });
      const created = await this.sm.send(
        new CreateSecretCommand({
          Name: plan.secretName,
          Description: `rekey: ${plan.name} (${plan.provider})`,
          SecretString: PLACEHOLDER,
          Tags: tags,
        }),
      );
      this.secretArns.set(plan.secretName, created.ARN!);
      // An IAM access key belongs to the user the entry names.
      const userName = plan.options.userName;
      const seeded = sandbox.seedAppKey(typeof userName === 'string' ? userName : plan.name);
      const keyFile = join(this.options.dir, 'keys', `${plan.name}.key`);
      writeFileSync(keyFile, `${seeded.value}\n`, { mode: 0o600 });
      chmodSync(keyFile, 0o600);
      writeFileSync(join(this.options.dir, 'keys', `${plan.name}.id`), `${seeded.id}\n`);
      this.keys.set(plan.name, {
        name: plan.name,
        secretName: plan.secretName,
        provider: plan.provider,
        keyId: seeded.id,
        keyFile,
        rotationAttached: false,
      });
      // An entry already marked imported starts imported, as though `rekey import` had run before.
      if (plan.imported) await this.storeKey(plan, route, seeded);
    }
    this.defineRoles(plan, route);
  }

  /** The key's two roles, granted what the stack grants them: its own secret, and reading its rotator. */
  private defineRoles(plan: ManagedKeyPlan, route: KeyRoute): void {
    const secret = new Set([this.secretArns.get(plan.secretName)!, plan.secretName]);
    const rotator = new Set([this.rotators.get(plan.rotatorSecret)!, plan.rotatorSecret]);
    const grants =
      (actions: readonly string[]) =>
      (call: { service: string; operation: string; input: Record<string, unknown> }) => {
        if (call.service !== 'secretsmanager') return false;
        const id = String(call.input.SecretId);
        if (secret.has(id)) return actions.includes(`secretsmanager:${call.operation}`);
        return rotator.has(id) && call.operation === 'GetSecretValue';
      };
    const prefix = `arn:aws:iam::${this.aws.accountId}:role/`;
    this.aws.sts.defineRole(`${prefix}${route.roles!.rotation}`, grants(ROTATION_ACTIONS));
    this.aws.sts.defineRole(`${prefix}${route.roles!.revocation}`, grants(REVOCATION_ACTIONS));
  }

  /**
   * The functions, each from its deployed handler with the stack's environment and its own bundle's routes
   * (a new bundle directory per deploy, as a new code asset). Registering an ARN again replaces its code.
   */
  private async deployFunctions(routes: KeyRoute[]): Promise<void> {
    this.deploys += 1;
    const bundle = (mine: KeyRoute[]) => {
      const dir = mkdtempSync(join(tmpdir(), 'rekey-playground-bundle-'));
      writeFileSync(join(dir, ROUTES_FILE), JSON.stringify(mine));
      return dir;
    };
    const common = { ...this.wiring, REKEY_ROLE_ARN_PREFIX: `arn:aws:iam::${this.aws.accountId}:role/` };
    const endpoints = Object.fromEntries(
      [...this.sandboxes].map(([provider, s]) => [providerEndpointVariable(provider), s.sandbox.url]),
    );
    const saved = { ...process.env };
    try {
      for (const provider of new Set(routes.map((r) => r.provider))) {
        Object.assign(process.env, common, {
          LAMBDA_TASK_ROOT: bundle(routes.filter((r) => r.provider === provider)),
          REKEY_PROVIDER_ENDPOINT: this.sandboxes.get(provider)!.sandbox.url,
        });
        const handler = rotationHandler(PROVIDERS[provider]!) as Handler;
        this.functionArns.set(
          provider,
          this.aws.lambdas.register(`rekey-rotate-${provider}`, (event) => handler(event, {})),
        );
      }
      Object.assign(process.env, common, endpoints, { LAMBDA_TASK_ROOT: bundle(routes) });
      delete process.env.REKEY_PROVIDER_ENDPOINT;
      // A module's wiring is read when it loads: each deploy loads the handlers afresh.
      const load = async (name: string) =>
        ((await import(`../lambdas/handlers/${name}.js?deploy=${this.deploys}`)) as { handler: Handler })
          .handler;
      this.revoke = await load('revoke');
      process.env.REKEY_ROLLBACK_TOPIC_ARN = this.aws.sns.createTopic('rekey-rollback');
      this.rollback = await load('rollback');
    } finally {
      process.env = saved;
    }
    const asyncConfig = {
      maximumRetryAttempts: 2,
      maximumEventAgeSeconds: 6 * 3600,
      onFailure: this.wiring.REKEY_DLQ_ARN!,
    };
    this.aws.lambdas.register('rekey-revoker', (event) => this.revoke!(event, {}), asyncConfig);
    this.aws.lambdas.register('rekey-rollback', (event) => this.rollback!(event, {}), asyncConfig);
  }

  /**
   * What the stack's RotationSchedule does: RotateSecret with the function and the inventory's schedule,
   * not rotating now — Secrets Manager still tests the configuration (testSecret on the current key).
   */
  private async attachRotation(plan: ManagedKeyPlan): Promise<string | undefined> {
    const arn = this.secretArns.get(plan.secretName)!;
    const stored = await this.sm.send(new GetSecretValueCommand({ SecretId: arn }));
    try {
      parseManagedKey(stored.SecretString, { secretId: plan.secretName });
    } catch {
      return `${plan.name}: the inventory says imported: true but ${plan.secretName} still holds the stack's placeholder; run \`rekey import ${plan.name}\` first (a real deploy would fail here too).`;
    }
    try {
      await this.sm.send(
        new RotateSecretCommand({
          SecretId: arn,
          RotationLambdaARN: this.functionArns.get(plan.provider),
          RotationRules: {
            ScheduleExpression: plan.schedule.expression,
            ...(plan.window ? { Duration: plan.window } : {}),
          },
          RotateImmediately: false,
        }),
      );
    } catch (error) {
      return `${plan.name}: attaching rotation failed: ${(error as Error).message}`;
    }
    return undefined;
  }

  /** The key id AWSCURRENT holds once a key is imported (rotations change it); undefined before. */
  private async currentKeyId(plan: ManagedKeyPlan): Promise<string | undefined> {
    const stored = await this.sm.send(
      new GetSecretValueCommand({ SecretId: this.secretArns.get(plan.secretName)! }),
    );
    try {
      return parseManagedKey(stored.SecretString, { secretId: plan.secretName }).keyId;
    } catch {
      return undefined; // the placeholder
    }
  }

  private async storeKey(
    plan: ManagedKeyPlan,
    route: KeyRoute,
    key: { id: string; value: string },
  ): Promise<void> {
    await recordKeyOwner(this.keyOwners, route, key.id);
    await this.sm.send(
      new PutSecretValueCommand({
        SecretId: this.secretArns.get(plan.secretName)!,
        SecretString: serializeManagedKey({
          provider: plan.provider,
          key: key.value,
          keyId: key.id,
          createdAt: new Date().toISOString(),
          rotatorSecretArn: this.rotators.get(plan.rotatorSecret)!,
          options: plan.options,
        }),
      }),
    );
  }
}

/** Why an entry is left out of the playground, or undefined when it can be deployed. */
function unsupported(plan: ManagedKeyPlan): string | undefined {
  if (!REHEARSAL_PROVIDERS[plan.provider])
    return `no sandbox for provider ${plan.provider} (${PROVIDERS[plan.provider]?.assisted ? 'a person rotates its keys' : 'not rehearsable'})`;
  const validateUrl = plan.options.validateUrl;
  if (typeof validateUrl === 'string' && !/^https?:\/\/(127\.0\.0\.1|localhost)[:/]/.test(validateUrl))
    return `options.validateUrl is ${validateUrl}, which the playground cannot serve`;
  if (plan.existingSecretArn)
    return `its secret is an existing ARN (${plan.existingSecretArn}); the playground creates only the secrets the stack creates`;
  return undefined;
}

/** The environment file: `source` it in another terminal (values are quoted for the shell). */
export function environmentFile(env: Record<string, string>): string {
  const quote = (value: string) => `'${value.replace(/'/g, `'\\''`)}'`;
  return [
    '# rekey local: the loopback AWS endpoint, the stack outputs and the provider sandboxes.',
    'unset AWS_PROFILE',
    ...Object.entries(env).map(([name, value]) => `export ${name}=${quote(value)}`),
    '',
  ].join('\n');
}

export function writeEnvironmentFile(dir: string, env: Record<string, string>): string {
  const path = resolve(dir, 'env');
  writeFileSync(path, environmentFile(env));
  return path;
}
