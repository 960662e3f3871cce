import {
  ConditionalCheckFailedException,
  DeleteItemCommand,
  GetItemCommand,
  PutItemCommand,
} from '@aws-sdk/client-dynamodb';
import type { LeaseDeps } from './lease.js';
import type { KeyRoute } from './routes.js';

/**
 * Which managed secret a provider key belongs to, recorded by rekey itself — so the revoker need not trust
 * the secret's document for it. A document can name any key id; anyone who can write one secret's value
 * could make it name a key another secret uses. The record is written only by rekey's functions and the
 * deployer's CLI: by createSecret with the id the provider returned for the key it just made, by import,
 * and read by the revoker with a strongly consistent GetItem. One lookup replaces reading every secret
 * in the same provider account (which cost ~3 calls per sibling per revocation: 3 million for a rotation
 * of 1,000 keys in one account). A key with no record (stored before rekey kept them, or by a createSecret
 * that crashed between the provider's answer and the record, which its retry adopts and records) is checked
 * the old way, against every sibling.
 *
 * The records live in the lease table (partition key `secret`), under `key:<provider>:<rotator>:<key id>`
 * — a name no secret ARN can take — and carry no `ttl`: the revoker deletes a key's record once the key is
 * revoked.
 */
export interface KeyOwner {
  /** The managed secret's name. */
  secretName: string;
}

/** Where the records are: the lease table, through the lease's client. */
export type KeyOwnerTable = Pick<LeaseDeps, 'dynamodb'> & { config: Pick<LeaseDeps['config'], 'tableName'> };

/** The account a route's keys live in: same adapter, same rotator credential (`KeyRoutes.siblingsOf`). */
function recordKey(route: KeyRoute, keyId: string): string {
  return `key:${route.provider}:${route.rotatorSecret}:${keyId}`;
}

/** The secret `keyId` belongs to in `route`'s provider account, or undefined when rekey has no record. */
export async function keyOwner(
  lease: KeyOwnerTable,
  route: KeyRoute,
  keyId: string,
): Promise<KeyOwner | undefined> {
  const found = await lease.dynamodb.send(
    new GetItemCommand({
      TableName: lease.config.tableName,
      Key: { secret: { S: recordKey(route, keyId) } },
      ConsistentRead: true,
    }),
  );
  const secretName = found.Item?.secretName?.S;
  return secretName ? { secretName } : undefined;
}

/**
 * Records that `keyId` belongs to `route`'s secret. `replaceOtherOwner` decides what to do when another
 * secret holds the record: called with that secret's name, it answers whether the record may move (import
 * asks whether that secret still holds the key); without it the record is overwritten — createSecret's key
 * id is fresh from the provider, so no other secret can hold it. Returns the other owner when it refused.
 */
export async function recordKeyOwner(
  lease: KeyOwnerTable,
  route: KeyRoute,
  keyId: string,
  replaceOtherOwner?: (otherSecret: string) => Promise<boolean>,
): Promise<KeyOwner | undefined> {
  const put = (condition?: { other: string }) =>
    lease.dynamodb.send(
      new PutItemCommand({
        TableName: lease.config.tableName,
        Item: {
          secret: { S: recordKey(route, keyId) },
          secretName: { S: route.secretName },
          keyId: { S: keyId },
        },
        ...(replaceOtherOwner
          ? {
              ConditionExpression: condition
                ? '#name = :other'
                : 'attribute_not_exists(#secret) OR #name = :mine',
              ExpressionAttributeNames: condition
                ? { '#name': 'secretName' }
                : { '#secret': 'secret', '#name': 'secretName' },
              ExpressionAttributeValues: condition
                ? { ':other': { S: condition.other } }
                : { ':mine': { S: route.secretName } },
            }
          : {}),
        ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
      }),
    );
  try {
    await put();
    return undefined;
  } catch (error) {
    if (!(error instanceof ConditionalCheckFailedException) || !replaceOtherOwner) throw error;
    const other = error.Item?.secretName?.S;
    if (!other) throw error;
    if (!(await replaceOtherOwner(other))) return { secretName: other };
    try {
      // Only if the record still names the secret that was checked: a concurrent change is not overwritten.
      await put({ other });
      return undefined;
    } catch (retry) {
      if (retry instanceof ConditionalCheckFailedException) return { secretName: other };
      throw retry;
    }
  }
}

/** Forgets a revoked key's record, if it is still `route`'s: the key can never be used again. */
export async function forgetKeyOwner(lease: KeyOwnerTable, route: KeyRoute, keyId: string): Promise<void> {
  try {
    await lease.dynamodb.send(
      new DeleteItemCommand({
        TableName: lease.config.tableName,
        Key: { secret: { S: recordKey(route, keyId) } },
        ConditionExpression: '#name = :mine',
        ExpressionAttributeNames: { '#name': 'secretName' },
        ExpressionAttributeValues: { ':mine': { S: route.secretName } },
      }),
    );
  } catch (error) {
    if (!(error instanceof ConditionalCheckFailedException)) throw error;
  }
}
