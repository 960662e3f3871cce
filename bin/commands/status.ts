import { parseArgs } from 'node:util';
import {
  DescribeSecretCommand,
  type DescribeSecretCommandOutput,
  ListSecretVersionIdsCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { formatDuration } from '../../lambdas/duration.js';
import { PROVIDERS } from '../../lambdas/providers/index.js';
import { AWSCURRENT, AWSPENDING, isAwsError } from '../../lambdas/secrets.js';
import { failureOf, TAGS, tagMap } from '../../lambdas/tags.js';
import { KEY_AGE_FACTOR, loadInventory, type ManagedKeyPlan } from '../../lib/inventory.js';
import { reportError, shownArg, usageError } from './runtime.js';
import type { Command } from './types.js';

export type Health =
  /** Rotating on schedule, nothing pending or overdue. */
  | 'ok'
  /** The secret exists but holds no imported key yet (`rekey import`). */
  | 'awaiting-import'
  /** Imported, but rotation is not enabled yet (`imported: true` not deployed). */
  | 'rotation-off'
  /** AWSPENDING sits on a version other than AWSCURRENT: a rotation is running or failed midway. */
  | 'rotation-pending'
  /** The current key is older than 1.5 × rotation_frequency. */
  | 'overdue'
  /** The old key's revocation is past due. */
  | 'revocation-overdue'
  /** The secret does not exist (stack not deployed, or a wrong vault_path). */
  | 'missing';

export interface KeyStatus {
  name: string;
  provider: string;
  secret: string;
  arn?: string;
  rotationEnabled: boolean;
  schedule: string;
  /** Age of the AWSCURRENT version in seconds. */
  ageSeconds?: number;
  frequencySeconds: number;
  lastRotated?: string;
  nextRotation?: string;
  /** Version id → staging labels. */
  versions: Record<string, string[]>;
  pendingRevocation?: { dueAt: string; versionId?: string; keyId?: string };
  /** The step that failed in the rotation still pending, as the rotation function recorded it. */
  failedRotation?: { versionId: string; step: string; code: string; reason: string };
  /** The revoker's record of why the pending revocation's old key is not revoked yet (it tries again). */
  failedRevocation?: { versionId: string; code: string; reason: string };
  health: Health;
}

/** The status of one inventory key, from metadata only: status never reads a key value. */
export async function keyStatus(
  sm: SecretsManagerClient,
  plan: ManagedKeyPlan,
  now: Date,
): Promise<KeyStatus> {
  const base = {
    name: plan.name,
    provider: plan.provider,
    secret: plan.secretName,
    schedule: plan.schedule.expression,
    frequencySeconds: plan.frequencySeconds,
  };
  const secretId = plan.existingSecretArn ?? plan.secretName;
  let meta: DescribeSecretCommandOutput;
  try {
    meta = await sm.send(new DescribeSecretCommand({ SecretId: secretId }));
  } catch (error) {
    if (!isAwsError(error, 'ResourceNotFoundException')) throw error;
    return { ...base, rotationEnabled: false, versions: {}, health: 'missing' };
  }
  const versions = meta.VersionIdsToStages ?? {};
  const listed = await sm.send(new ListSecretVersionIdsCommand({ SecretId: secretId }));
  const current = listed.Versions?.find((v) => v.VersionStages?.includes(AWSCURRENT));
  const ageSeconds = current?.CreatedDate
    ? Math.max(0, Math.floor((now.getTime() - current.CreatedDate.getTime()) / 1000))
    : undefined;
  const tags = tagMap(meta.Tags);
  const dueAt = tags[TAGS.revokeDueAt];
  const pendingRevocation = dueAt
    ? {
        dueAt,
        ...(tags[TAGS.revokeVersion] ? { versionId: tags[TAGS.revokeVersion] } : {}),
        ...(tags[TAGS.revokeKeyId] ? { keyId: tags[TAGS.revokeKeyId] } : {}),
      }
    : undefined;
  const pendingElsewhere = Object.values(versions).some(
    (s) => s.includes(AWSPENDING) && !s.includes(AWSCURRENT),
  );
  const pendingVersion = Object.entries(versions).find(
    ([, s]) => s.includes(AWSPENDING) && !s.includes(AWSCURRENT),
  )?.[0];
  const failure = pendingVersion ? failureOf(tags, pendingVersion) : undefined;
  const revoking = tags[TAGS.revokeVersion];
  const revocationFailure = revoking ? failureOf(tags, revoking) : undefined;
  const rotationEnabled = meta.RotationEnabled === true;
  // A revocation is "overdue" once an hour past due: the revoker re-checks usage before revoking.
  const revocationOverdue = dueAt !== undefined && Date.parse(dueAt) + 3600_000 < now.getTime();
  let health: Health = 'ok';
  if (!rotationEnabled) health = plan.imported ? 'rotation-off' : 'awaiting-import';
  else if (pendingElsewhere) health = 'rotation-pending';
  else if (ageSeconds !== undefined && ageSeconds > plan.frequencySeconds * KEY_AGE_FACTOR)
    health = 'overdue';
  else if (revocationOverdue) health = 'revocation-overdue';
  return {
    ...base,
    ...(meta.ARN ? { arn: meta.ARN } : {}),
    rotationEnabled,
    ...(ageSeconds !== undefined ? { ageSeconds } : {}),
    ...(meta.LastRotatedDate ? { lastRotated: meta.LastRotatedDate.toISOString() } : {}),
    ...(meta.NextRotationDate ? { nextRotation: meta.NextRotationDate.toISOString() } : {}),
    versions,
    ...(pendingRevocation ? { pendingRevocation } : {}),
    ...(failure && pendingVersion ? { failedRotation: { versionId: pendingVersion, ...failure } } : {}),
    ...(revoking && revocationFailure?.step === 'revocation'
      ? {
          failedRevocation: {
            versionId: revoking,
            code: revocationFailure.code,
            reason: revocationFailure.reason,
          },
        }
      : {}),
    health,
  };
}

/** Rounds to the largest unit for reading ("12d", "5h"), unlike formatDuration which keeps exact units. */
function approx(seconds: number): string {
  for (const [unit, size] of [
    ['d', 86_400],
    ['h', 3600],
    ['m', 60],
  ] as const) {
    if (seconds >= size) return `${Math.floor(seconds / size)}${unit}`;
  }
  return `${seconds}s`;
}

export function formatStatus(status: KeyStatus): string {
  const age = status.ageSeconds === undefined ? '-' : approx(status.ageSeconds);
  const versions = Object.entries(status.versions)
    .map(([id, stages]) => `${id.slice(0, 8)}:${stages.join('+')}`)
    .join(' ');
  const revocation = status.pendingRevocation
    ? `revoke ${status.pendingRevocation.keyId ?? '?'} at ${status.pendingRevocation.dueAt}`
    : 'none';
  return [
    `${status.name}  [${status.health}]`,
    `  provider ${status.provider} · secret ${status.secret} · schedule ${status.schedule}`,
    `  age ${age} of ${formatDuration(status.frequencySeconds)} · last rotation ${status.lastRotated ?? 'never'} · next ${status.nextRotation ?? '-'}`,
    `  versions ${versions || '-'} · pending revocation ${revocation}`,
    ...(status.failedRotation
      ? [
          `  rotation of version ${status.failedRotation.versionId} failed in ${status.failedRotation.step} (${status.failedRotation.code}): ${status.failedRotation.reason}`,
        ]
      : []),
    ...(status.failedRevocation
      ? [
          `  revocation of version ${status.failedRevocation.versionId} failed (${status.failedRevocation.code}): ${status.failedRevocation.reason}; the old key still works and the revoker tries again`,
        ]
      : []),
  ].join('\n');
}

const USAGE = `Usage: rekey status [<secret>] [--inventory rekey.yaml] [--json]

Shows every key of the inventory (or the one named, by entry name or vault_path) as Secrets Manager sees it: provider, age of the current key against its
rotation frequency, last and next rotation, versions and their labels, the pending revocation, the failed
step of a rotation still pending (which step, why), and health
(ok, awaiting-import, rotation-off, rotation-pending, overdue, revocation-overdue, missing).
Reads metadata only (DescribeSecret, ListSecretVersionIds); never a key value. Exit code 1 when any key is
not ok.`;

export const status: Command = {
  name: 'status',
  summary: 'every inventory key: provider, age vs frequency, versions, pending revocation, health',
  usage: USAGE,
  async run(args, io) {
    let values: { inventory?: string; json?: boolean };
    let positionals: string[];
    try {
      ({ values, positionals } = parseArgs({
        args,
        options: { inventory: { type: 'string' }, json: { type: 'boolean' } },
        strict: true,
        allowPositionals: true,
      }));
      if (positionals.length > 1) throw new Error('name at most one secret');
    } catch (error) {
      return usageError(io, 'status', error, USAGE, args.includes('--json'));
    }
    let plans: ManagedKeyPlan[];
    try {
      plans = loadInventory(values.inventory ?? 'rekey.yaml', Object.keys(PROVIDERS));
    } catch (error) {
      return reportError(io, 'status', error, values.json);
    }
    const wanted = positionals[0];
    if (wanted !== undefined) {
      plans = plans.filter((p) => p.name === wanted || p.secretName === wanted);
      if (plans.length === 0)
        return usageError(
          io,
          'status',
          `no inventory entry or vault_path ${shownArg(wanted)} in ${values.inventory ?? 'rekey.yaml'}`,
          USAGE,
          values.json,
        );
    }
    const sm = new SecretsManagerClient({});
    try {
      const now = new Date();
      const statuses: KeyStatus[] = [];
      for (const plan of plans) statuses.push(await keyStatus(sm, plan, now));
      io.out(values.json ? JSON.stringify(statuses, null, 2) : statuses.map(formatStatus).join('\n\n'));
      return statuses.every((s) => s.health === 'ok') ? 0 : 1;
    } catch (error) {
      return reportError(io, 'status', error, values.json);
    } finally {
      sm.destroy();
    }
  },
};
