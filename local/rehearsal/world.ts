import { CreateTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { CreateScheduleGroupCommand, SchedulerClient } from '@aws-sdk/client-scheduler';
import {
  CreateSecretCommand,
  RotateSecretCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { SNSClient } from '@aws-sdk/client-sns';
import { publishAlert } from '../../lambdas/alerts.js';
import { FUNCTION_AWS_RETRY } from '../../lambdas/aws-retry.js';
import { formatDuration } from '../../lambdas/duration.js';
import { recordKeyOwner } from '../../lambdas/key-owners.js';
import type { LeaseDeps } from '../../lambdas/lease.js';
import { Logger } from '../../lambdas/logger.js';
import { type RevocationDeps, revocationHandOver, revokePreviousKey } from '../../lambdas/revocation.js';
import { type RotationDeps, runRotationStep } from '../../lambdas/rotation.js';
import { type KeyRoute, KeyRoutes, type KeyScope, type ScopeFor } from '../../lambdas/routes.js';
import { parseManagedKey } from '../../lambdas/secret-format.js';
import { TAGS } from '../../lambdas/tags.js';
import type { UsageSource } from '../../lambdas/usage.js';
import { type LoopbackAws, startLoopbackAws } from '../aws/server.js';
import { CapturedLogs } from '../captured-logs.js';
import { CompressedClock } from '../clock.js';
import { startAccounts } from './accounts.js';
import { REHEARSAL_PROVIDERS, type RehearsalKey, type RehearsalSandbox } from './providers.js';

export interface WorldOptions {
  providers: string[];
  /** Managed keys, spread over the providers round-robin. */
  keys: number;
  /** Clock compression: simulated milliseconds per real millisecond. */
  scale: number;
  /** Grace period of every key, in simulated seconds. */
  graceSeconds: number;
  /** Replaces the revoker (tests inject a broken one to prove the verdict can fail). */
  revoker?: (request: unknown, deps: RevocationDeps) => Promise<unknown>;
  /** Client-metrics usage evidence for the revoker, when the fleet reports it. */
  usageSources?: UsageSource[];
}

export interface WorldKey {
  /** The secret name (inventory vault_path). */
  name: string;
  provider: string;
  arn: string;
}

/**
 * Everything the rehearsal runs against, in one process on loopback: the AWS endpoint on a compressed
 * clock, one sandbox per provider, the rotation functions and the revoker registered as its Lambdas,
 * a Scheduler timer, and the managed keys — created, imported and attached to rotation as a deploy would.
 */
export class RehearsalWorld {
  readonly clock: CompressedClock;
  readonly logs = new CapturedLogs();
  readonly logger: Logger;
  readonly sandboxes = new Map<string, RehearsalSandbox>();
  readonly keys: WorldKey[] = [];
  aws!: LoopbackAws;
  sm!: SecretsManagerClient;
  scheduler!: SchedulerClient;
  sns!: SNSClient;
  dynamodb!: DynamoDBClient;
  /** The per-secret lease, as the stack deploys it; on real time, as Lambda's timeouts are. */
  lease!: LeaseDeps;
  alertTopicArn!: string;
  private revokerArn!: string;
  /** What the deployment pins per key, as the stack would from an inventory (see `redeploy`). */
  private deployed: KeyRoute[] = [];
  routes = new KeyRoutes([]);
  private readonly rotationArns = new Map<string, string>();
  private timer: NodeJS.Timeout | undefined;
  /** Set by a scenario to make SM deliver duplicate steps etc.; reset by `reset()`. */
  readonly http = { timeoutMs: 2000, retry: { attempts: 3, baseDelayMs: 5, maxDelayMs: 50 } };
  /**
   * Requests rekey's AWS clients re-sent after an error, by "service.Operation": how a scenario knows the
   * faults it injected into the endpoint met rekey's calls, not nothing.
   */
  readonly resent = new Map<string, number>();

  constructor(readonly options: WorldOptions) {
    this.clock = new CompressedClock(options.scale);
    this.logger = new Logger(this.logs.sink, {}, 'info');
  }

  async start(): Promise<void> {
    this.aws = await startLoopbackAws({ clock: this.clock });
    // What the world itself and the CLI-like actors use; the functions act through scopeFor (below).
    this.sm = new SecretsManagerClient(FUNCTION_AWS_RETRY);
    this.scheduler = new SchedulerClient({});
    this.sns = new SNSClient({});
    this.dynamodb = new DynamoDBClient({});
    this.sm.middlewareStack.add(countResends('secretsmanager', this.resent), { step: 'initialize' });
    this.scheduler.middlewareStack.add(countResends('scheduler', this.resent), { step: 'initialize' });
    this.dynamodb.middlewareStack.add(countResends('dynamodb', this.resent), { step: 'initialize' });
    await this.dynamodb.send(
      new CreateTableCommand({
        TableName: 'rekey-leases',
        KeySchema: [{ AttributeName: 'secret', KeyType: 'HASH' }],
        AttributeDefinitions: [{ AttributeName: 'secret', AttributeType: 'S' }],
        BillingMode: 'PAY_PER_REQUEST',
      }),
    );
    this.lease = {
      dynamodb: this.dynamodb,
      logger: this.logger.child({ component: 'lease' }),
      config: { tableName: 'rekey-leases', waitMs: 30_000 },
      sleep: (ms) => new Promise((resolve) => setTimeout(resolve, Math.min(ms, 25))),
    };
    this.alertTopicArn = this.aws.sns.createTopic('rekey-alerts');
    await this.scheduler.send(new CreateScheduleGroupCommand({ Name: 'rekey' }));
    const revoke = this.options.revoker ?? revokePreviousKey;
    this.revokerArn = this.aws.lambdas.register('rekey-revoker', (event) =>
      revoke(event, this.revocationDeps()),
    );

    for (const name of this.options.providers) {
      const provider = REHEARSAL_PROVIDERS[name];
      if (!provider)
        throw new Error(
          `the rehearsal has no sandbox for provider "${name}"; known: ${Object.keys(REHEARSAL_PROVIDERS).join(', ')}`,
        );
      const keys = Array.from({ length: this.options.keys }, (_, i) => i).filter(
        (i) => this.options.providers[i % this.options.providers.length] === name,
      ).length;
      this.sandboxes.set(name, await startAccounts(provider, this.clock, keys));
      this.rotationArns.set(
        name,
        this.aws.lambdas.register(`rekey-rotate-${name}`, (event) =>
          runRotationStep(event, this.rotationDeps(name)),
        ),
      );
    }
    // One rotator credential per provider account (a provider with a key cap may have several accounts):
    // `rekey/rotator/<provider>` for the first, `rekey/rotator/<provider>-<n>` for the n-th.
    const rotators = new Map<string, { name: string; arn: string }>();
    const accounts = new Map<string, number>();
    const rotatorFor = async (provider: string, credential: Record<string, unknown>) => {
      const known = rotators.get(JSON.stringify(credential));
      if (known) return known;
      const n = (accounts.get(provider) ?? 0) + 1;
      accounts.set(provider, n);
      const name = `rekey/rotator/${provider}${n === 1 ? '' : `-${n}`}`;
      const created = await this.sm.send(
        new CreateSecretCommand({ Name: name, SecretString: JSON.stringify(credential) }),
      );
      const rotator = { name, arn: created.ARN! };
      rotators.set(JSON.stringify(credential), rotator);
      return rotator;
    };
    for (const [name, sandbox] of this.sandboxes) await rotatorFor(name, sandbox.credential);
    for (let i = 0; i < this.options.keys; i++) {
      const provider = this.options.providers[i % this.options.providers.length]!;
      const sandbox = this.sandboxes.get(provider)!;
      const name = `rehearsal/${provider}/key-${String(i + 1).padStart(2, '0')}`;
      const key = sandbox.seedAppKey(`app-${provider}-${i + 1}`);
      const rotator = await rotatorFor(provider, key.credential ?? sandbox.credential);
      const doc = {
        provider,
        key: key.value,
        keyId: key.id,
        createdAt: this.clock.now().toISOString(),
        rotatorSecretArn: rotator.arn,
        options: key.options ?? sandbox.options,
      };
      const created = await this.sm.send(
        new CreateSecretCommand({
          Name: name,
          SecretString: JSON.stringify(doc),
          Tags: [{ Key: TAGS.gracePeriod, Value: formatDuration(this.options.graceSeconds) }],
        }),
      );
      const route: KeyRoute = {
        name: `key-${i + 1}`,
        secretName: name,
        provider,
        rotatorSecret: rotator.name,
        options: doc.options,
        singleKey: false,
        gracePeriod: formatDuration(this.options.graceSeconds),
        rollbackOnFailure: true,
      };
      // Stored as `rekey import` stores a key: with rekey's record of the secret it belongs to.
      await recordKeyOwner(this.lease, route, key.id);
      // Deployed as the stack would: the route first (attaching rotation runs the configuration test).
      this.redeploy(name, {}, route);
      await this.sm.send(
        new RotateSecretCommand({
          SecretId: created.ARN,
          RotationLambdaARN: this.rotationArns.get(provider),
          RotateImmediately: false,
        }),
      );
      this.keys.push({ name, provider, arn: created.ARN! });
    }
    this.timer = setInterval(() => void this.aws.runDue(), 20);
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.aws.secretsManager.settled();
    for (const client of [this.sm, this.scheduler, this.sns, this.dynamodb]) client?.destroy();
    for (const scope of this.keyScopes.values()) scope.secretsManager.destroy();
    await this.aws.stop();
    for (const sandbox of this.sandboxes.values()) await sandbox.sandbox.stop();
  }

  /**
   * Changes what the deployment pins for the key stored in `secretName` (or adds `added`), as a deploy of a
   * new inventory.
   */
  redeploy(secretName: string, change: Partial<KeyRoute>, added?: KeyRoute): void {
    this.deployed = added
      ? [...this.deployed, added]
      : this.deployed.map((r) => (r.secretName === secretName ? { ...r, ...change } : r));
    this.routes = new KeyRoutes(this.deployed);
  }

  /**
   * Each key's own Secrets Manager client, as a deployed function has one per key (its role's session,
   * lambdas/key-scope.ts): so many rotations at once do not share one client's retry budget, which no
   * function in AWS would.
   */
  readonly scopeFor: ScopeFor = (route) => {
    let scope = this.keyScopes.get(route.secretName);
    if (!scope) {
      const secretsManager = new SecretsManagerClient(FUNCTION_AWS_RETRY);
      secretsManager.middlewareStack.add(countResends('secretsmanager', this.resent), { step: 'initialize' });
      scope = { secretsManager };
      this.keyScopes.set(route.secretName, scope);
    }
    return scope;
  };
  private readonly keyScopes = new Map<string, KeyScope>();

  rotationDeps(provider: string): RotationDeps {
    const definition = REHEARSAL_PROVIDERS[provider]!.definition;
    const { secretsManager: _sm, logger: _logger, ...revocation } = this.revocationDeps();
    return {
      secretsManager: this.sm,
      scopeFor: this.scopeFor,
      logger: this.logger.child({ function: `rotate-${provider}` }),
      provider: definition,
      routes: this.routes,
      endpoint: this.sandboxes.get(provider)!.sandbox.url,
      http: this.http,
      now: () => this.clock.now(),
      handOver: revocationHandOver(revocation),
      alert: (alert) => publishAlert(this.sns, this.alertTopicArn, alert, this.logger),
      lease: this.lease,
    };
  }

  revocationDeps(): RevocationDeps {
    return {
      secretsManager: this.sm,
      scopeFor: this.scopeFor,
      scheduler: this.scheduler,
      sns: this.sns,
      logger: this.logger.child({ function: 'rekey-revoker' }),
      routes: this.routes,
      now: () => this.clock.now(),
      config: {
        scheduleGroup: 'rekey',
        schedulerRoleArn: `arn:aws:iam::${this.aws.accountId}:role/rekey-scheduler`,
        revokerArn: this.revokerArn,
        deadLetterArn: `arn:aws:sqs:${this.aws.region}:${this.aws.accountId}:rekey-revocation-dlq`,
        alertTopicArn: this.alertTopicArn,
        recheckSeconds: 300,
        maxAttempts: 6,
      },
      endpoints: Object.fromEntries([...this.sandboxes].map(([name, s]) => [name, s.sandbox.url])),
      http: this.http,
      lease: this.lease,
      ...(this.options.usageSources ? { usageSources: this.options.usageSources } : {}),
    };
  }

  /** The key labelled `stage` now, read in-process (cheap enough to sample many times a second). */
  keyAt(key: WorldKey, stage = 'AWSCURRENT'): (RehearsalKey & { secretString: string }) | undefined {
    // By name: the endpoint finds a secret by name at once, by ARN only by looking through them all.
    const value = this.aws.secretsManager.peekValue(key.name, stage);
    if (value === undefined) return undefined;
    const doc = this.parsed(key, value);
    return { id: doc.keyId, value: doc.key, secretString: value };
  }

  /** The keys of every labelled version of `key`. */
  labelledKeys(key: WorldKey): RehearsalKey[] {
    return this.aws.secretsManager.labelledValues(key.name).map((value) => {
      const doc = this.parsed(key, value);
      return { id: doc.keyId, value: doc.key };
    });
  }

  /** Key ids any labelled version of any managed key refers to. */
  referencedKeyIds(key: WorldKey): Set<string> {
    return new Set(this.labelledKeys(key).map((k) => k.id));
  }

  /**
   * A stored value's key document, parsed once: the monitors read every key many times a second, and a
   * thousand keys' documents parsed on each read would be most of the rehearsal's work.
   */
  private parsed(key: WorldKey, value: string): { keyId: string; key: string } {
    let doc = this.documents.get(value);
    if (!doc) {
      const parsed = parseManagedKey(value, { secretId: key.name });
      doc = { keyId: parsed.keyId, key: parsed.key };
      // Bounded: old versions' documents are dropped wholesale, then re-parsed if read again.
      if (this.documents.size >= 20_000) this.documents.clear();
      this.documents.set(value, doc);
    }
    return doc;
  }
  private readonly documents = new Map<string, { keyId: string; key: string }>();

  /** Every secret value any sandbox ever issued (app keys and rotator credentials). */
  issuedSecrets(): string[] {
    return [...this.sandboxes.values()].flatMap((s) => s.sandbox.issuedSecrets());
  }
}

/** An SDK middleware counting the attempts after the first of every `service` request (`$metadata.attempts`). */
function countResends(service: string, into: Map<string, number>) {
  return <A, R extends { output: object }>(
    next: (args: A) => Promise<R>,
    context: { commandName?: string },
  ) =>
    async (args: A): Promise<R> => {
      const note = (result: unknown) => {
        const attempts =
          (result as { $metadata?: { attempts?: number } } | undefined)?.$metadata?.attempts ?? 1;
        if (attempts <= 1) return;
        const operation = `${service}.${(context.commandName ?? '').replace(/Command$/, '')}`;
        into.set(operation, (into.get(operation) ?? 0) + attempts - 1);
      };
      try {
        const out = await next(args);
        note(out.output);
        return out;
      } catch (error) {
        note(error);
        throw error;
      }
    };
}
