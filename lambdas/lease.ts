import { randomUUID } from 'node:crypto';
import {
  ConditionalCheckFailedException,
  DeleteItemCommand,
  DynamoDBClient,
  PutItemCommand,
} from '@aws-sdk/client-dynamodb';
import { LeaseBusyError, LeaseLostError } from './errors.js';
import type { Logger } from './logger.js';
import { sleep } from './retry.js';

/**
 * One owner per secret. Every actor that changes a managed secret or its provider keys — a rotation step,
 * the revoker, rollback, an emergency rotation, import — first takes the secret's lease: an item in a
 * DynamoDB table written with a conditional PutItem, the standard AWS lock (conditional writes are strongly
 * consistent and atomic). The lease expires on its own, so a crashed holder blocks others for at most
 * `durationMs`; a live holder renews it at each `fence()`, which it calls right before every irreversible
 * call. A holder that lost the lease (it expired while the holder was stalled, and another actor took it)
 * learns it at that fence and stops before acting. Staging labels cannot serve as this lock: a label move
 * is a compare-and-swap on one label, but the races rekey must exclude span two labels and a provider call.
 */
export interface LeaseConfig {
  /** The lease table (partition key `secret`, TTL attribute `ttl`). */
  tableName: string;
  /** How long a lease lasts unless renewed. Default 6 min (`DEFAULT_LEASE_MS`). */
  durationMs?: number;
  /** How long to wait for a busy lease before giving up. Default 0: fail at once, the caller retries later. */
  waitMs?: number;
}

export interface LeaseDeps {
  dynamodb: DynamoDBClient;
  config: LeaseConfig;
  logger: Logger;
  /** The lease's time (expiry, renewal); default the system clock. */
  now?: () => Date;
  /** Waits between tries for a busy lease (tests pass a fast one). */
  sleep?: (ms: number) => Promise<void>;
}

/**
 * Longer than the longest function timeout (rotation functions: 5 min), so Lambda ends a stalled holder
 * before its lease can expire under it: the gap between a fence and the call it guards stays safe.
 */
export const DEFAULT_LEASE_MS = 6 * 60_000;

export class SecretLease {
  private released = false;

  private constructor(
    private readonly deps: LeaseDeps,
    /** The secret's ARN: the lock's key, the same whatever name the caller used. */
    readonly secretArn: string,
    readonly owner: string,
    readonly actor: string,
    private expiresAt: number,
  ) {}

  /**
   * Takes the lease on `secretArn` for `actor` ("rotation:createSecret", "revoker", "rollback"…); waits up
   * to `config.waitMs` for a busy one, then throws LeaseBusyError (retryable) naming its holder.
   */
  static async acquire(deps: LeaseDeps, secretArn: string, actor: string): Promise<SecretLease> {
    const owner = randomUUID();
    const now = deps.now ?? (() => new Date());
    // Waiting is measured on the process's own clock: `now` may be a test's clock that stands still.
    const started = performance.now();
    const waitMs = deps.config.waitMs ?? 0;
    for (let attempt = 0; ; attempt++) {
      const at = now().getTime();
      const expiresAt = at + (deps.config.durationMs ?? DEFAULT_LEASE_MS);
      try {
        await deps.dynamodb.send(
          new PutItemCommand({
            TableName: deps.config.tableName,
            Item: leaseItem(secretArn, owner, actor, at, expiresAt),
            // Free, expired, or already ours (the SDK re-sent a PutItem whose answer was lost).
            ConditionExpression: 'attribute_not_exists(#secret) OR #expiresAt < :now OR #owner = :owner',
            ExpressionAttributeNames: { '#secret': 'secret', '#expiresAt': 'expiresAt', '#owner': 'owner' },
            ExpressionAttributeValues: { ':now': { N: String(at) }, ':owner': { S: owner } },
            ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
          }),
        );
        deps.logger.debug('lease taken', { secretId: secretArn, actor });
        return new SecretLease(deps, secretArn, owner, actor, expiresAt);
      } catch (error) {
        if (!(error instanceof ConditionalCheckFailedException)) throw error;
        const holder = error.Item;
        const holderActor = holder?.actor?.S ?? 'another actor';
        const holderUntil = Number(holder?.expiresAt?.N ?? at);
        if (performance.now() - started >= waitMs)
          throw new LeaseBusyError(secretArn, actor, holderActor, new Date(holderUntil));
        await (deps.sleep ?? sleep)(Math.min(2000, 100 * 2 ** Math.min(attempt, 4)));
      }
    }
  }

  /**
   * The fencing check before an irreversible call: renews the lease only if this actor still holds it and
   * it has not expired; otherwise throws LeaseLostError and the caller must not act.
   */
  async fence(): Promise<void> {
    if (this.released) throw new LeaseLostError(this.secretArn, this.actor, 'it was released');
    const at = (this.deps.now ?? (() => new Date()))().getTime();
    const expiresAt = at + (this.deps.config.durationMs ?? DEFAULT_LEASE_MS);
    try {
      await this.deps.dynamodb.send(
        new PutItemCommand({
          TableName: this.deps.config.tableName,
          Item: leaseItem(this.secretArn, this.owner, this.actor, at, expiresAt),
          // Ours and live — or ours and already renewed to `expiresAt` by a request whose answer was lost.
          ConditionExpression: '#owner = :owner AND (#expiresAt >= :now OR #expiresAt = :renewed)',
          ExpressionAttributeNames: { '#owner': 'owner', '#expiresAt': 'expiresAt' },
          ExpressionAttributeValues: {
            ':owner': { S: this.owner },
            ':now': { N: String(at) },
            ':renewed': { N: String(expiresAt) },
          },
        }),
      );
      this.expiresAt = expiresAt;
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      throw new LeaseLostError(
        this.secretArn,
        this.actor,
        `it expired at ${new Date(this.expiresAt).toISOString()} and another actor may hold it`,
      );
    }
  }

  /** Gives the lease back; a lease already lost or released is left alone. */
  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    try {
      await this.deps.dynamodb.send(
        new DeleteItemCommand({
          TableName: this.deps.config.tableName,
          Key: { secret: { S: this.secretArn } },
          ConditionExpression: '#owner = :owner',
          ExpressionAttributeNames: { '#owner': 'owner' },
          ExpressionAttributeValues: { ':owner': { S: this.owner } },
        }),
      );
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return;
      // It expires by itself; failing the actor's finished work over it would only cause a retry.
      this.deps.logger.warn('could not release the lease; it expires by itself', {
        secretId: this.secretArn,
        actor: this.actor,
        error,
      });
    }
  }
}

/** Runs `work` holding the secret's lease, and gives it back however `work` ends. */
export async function withSecretLease<T>(
  deps: LeaseDeps,
  secretArn: string,
  actor: string,
  work: (lease: SecretLease) => Promise<T>,
): Promise<T> {
  const lease = await SecretLease.acquire(deps, secretArn, actor);
  try {
    return await work(lease);
  } finally {
    await lease.release();
  }
}

/**
 * The lease wiring the stack passes every mutating function (REKEY_LEASE_TABLE, and REKEY_LEASE_MS to
 * override the duration), with a DynamoDB client built once; undefined when the table is not set.
 */
export function leaseFromEnv(
  logger: Logger,
  options: { waitMs?: number } = {},
  env: NodeJS.ProcessEnv = process.env,
): LeaseDeps | undefined {
  if (!env.REKEY_LEASE_TABLE) return undefined;
  return {
    dynamodb: new DynamoDBClient({}),
    logger,
    config: {
      tableName: env.REKEY_LEASE_TABLE,
      ...(env.REKEY_LEASE_MS ? { durationMs: Number(env.REKEY_LEASE_MS) } : {}),
      ...(options.waitMs === undefined ? {} : { waitMs: options.waitMs }),
    },
  };
}

function leaseItem(secretArn: string, owner: string, actor: string, at: number, expiresAt: number) {
  return {
    secret: { S: secretArn },
    owner: { S: owner },
    actor: { S: actor },
    takenAt: { N: String(at) },
    expiresAt: { N: String(expiresAt) },
    // DynamoDB TTL (epoch seconds) sweeps leases nobody released, an hour after they expired.
    ttl: { N: String(Math.ceil(expiresAt / 1000) + 3600) },
  };
}
