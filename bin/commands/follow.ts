import type { DescribeSecretCommandOutput, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { AWSCURRENT, AWSPENDING, versionWithStage } from '../../lambdas/secrets.js';
import type { StartedRotation } from '../../lambdas/start-rotation.js';
import { failureOf, TAGS, tagMap } from '../../lambdas/tags.js';
import { waitFor } from './runtime.js';

/** How a rotation that was started ended, as far as the command follows it. */
export type FollowedRotation =
  | { status: 'promoted' | 'old-key-revoked' | 'revocation-timeout' }
  | Exclude<RotationOutcome, { status: 'promoted' }>
  | { status: 'revocation-failed'; step: string; code: string; reason: string };

export interface FollowOptions {
  emergency: boolean;
  graceSeconds: number;
  timeoutMs: number;
  intervalMs?: number;
  /** Ends the wait early (a fleet run's Ctrl-C): the rotation is then still `running`. */
  signal?: AbortSignal;
  onPromoted?: () => void;
  /**
   * A recorded failure the caller waits past instead of reporting (a fleet run: throttling, which Secrets
   * Manager's own re-attempt of the rotation rides out); true keeps waiting.
   */
  waitPast?: (failure: { step: string; code: string; reason: string }) => boolean;
}

/**
 * Follows a started rotation: done, failed at a step (the function's record), superseded, or still running
 * at the timeout; with an emergency and no grace, on until the old key is revoked or the revoker says why not.
 */
export async function followRotation(
  sm: SecretsManagerClient,
  rotation: Pick<StartedRotation, 'arn' | 'versionId' | 'previousVersionId'>,
  options: FollowOptions,
): Promise<FollowedRotation> {
  const { timeoutMs, intervalMs = 1000, signal } = options;
  let outcome: RotationOutcome = { status: 'running' };
  await waitFor(
    sm,
    rotation.arn,
    (m) => {
      outcome = outcomeOf(m, rotation.versionId, rotation.previousVersionId);
      if (outcome.status === 'failed' && options.waitPast?.(outcome)) outcome = { status: 'running' };
      return outcome.status !== 'running';
    },
    timeoutMs,
    intervalMs,
    signal,
  );
  const settled = outcome as RotationOutcome;
  if (settled.status !== 'promoted') return settled;
  options.onPromoted?.();
  if (!options.emergency || options.graceSeconds !== 0 || !rotation.previousVersionId)
    return { status: 'promoted' };
  // Revoked, or the revoker's record of why not (it tries again later): either ends the wait.
  let refused: ReturnType<typeof failureOf>;
  const revoked = await waitFor(
    sm,
    rotation.arn,
    (m) => {
      const tags = tagMap(m.Tags);
      const failure = failureOf(tags, rotation.previousVersionId!);
      refused = failure?.step === 'revocation' ? failure : undefined;
      return tags[TAGS.lastRevokedVersion] === rotation.previousVersionId || refused !== undefined;
    },
    timeoutMs,
    intervalMs,
    signal,
  );
  if (refused) return { status: 'revocation-failed', ...refused };
  return { status: revoked ? 'old-key-revoked' : 'revocation-timeout' };
}

/** What to tell a person about a rotation that did not end well, and what to do. */
export function describeFollowed(
  followed: FollowedRotation,
  rotation: Pick<StartedRotation, 'secret' | 'versionId'>,
  timeoutMs: number,
): string {
  const { secret, versionId } = rotation;
  switch (followed.status) {
    case 'revocation-failed':
      return `the new key of ${secret} is AWSCURRENT, but the old key was not revoked (${followed.code}): ${followed.reason}. It still works at the provider; the revoker tries again later and alerts — fix the cause, or revoke it at the provider by hand. See \`rekey status ${secret}\`.`;
    case 'revocation-timeout':
      return `the old key of ${secret} was not revoked within ${timeoutMs / 1000}s; check the alert topic and the revoker's logs.`;
    case 'promoted':
    case 'old-key-revoked':
      return `${secret}: version ${versionId} is AWSCURRENT.`;
    default:
      return describeOutcome(followed, secret, versionId, timeoutMs);
  }
}

/** Where a started rotation stands, from the secret's metadata alone. */
export type RotationOutcome =
  | { status: 'running' | 'promoted' }
  | { status: 'failed'; step: string; code: string; reason: string }
  | { status: 'superseded'; currentVersionId: string | undefined };

export function outcomeOf(
  metadata: DescribeSecretCommandOutput,
  versionId: string,
  previousVersionId: string | undefined,
): RotationOutcome {
  const stages = metadata.VersionIdsToStages?.[versionId] ?? [];
  if (stages.includes(AWSCURRENT)) return { status: 'promoted' };
  const failure = failureOf(tagMap(metadata.Tags), versionId);
  if (failure) return { status: 'failed', ...failure };
  // Neither pending nor current: another rotation (an emergency) cancelled or replaced this one.
  const current = versionWithStage(metadata, AWSCURRENT);
  if (!stages.includes(AWSPENDING) && (stages.length === 0 || current !== previousVersionId))
    return { status: 'superseded', currentVersionId: current };
  return { status: 'running' };
}

function describeOutcome(
  outcome: RotationOutcome,
  secret: string,
  versionId: string,
  timeoutMs: number,
): string {
  switch (outcome.status) {
    case 'failed':
      return `rotation of ${secret} failed in ${outcome.step} (${outcome.code}): ${outcome.reason}. The old key is still current; Secrets Manager re-attempts the rotation by itself — see \`rekey status ${secret}\`, or after fixing the cause: rekey rotate ${secret} --emergency.`;
    case 'superseded':
      return `version ${versionId} of ${secret} is no longer being rotated: ${outcome.currentVersionId ? `version ${outcome.currentVersionId} is AWSCURRENT` : 'no version is AWSCURRENT'} (another rotation took over). See \`rekey status ${secret}\`.`;
    default:
      return `${secret} did not reach AWSCURRENT within ${timeoutMs / 1000}s and no step has failed yet; the old key is still current. See \`rekey status ${secret}\` and the rotation function's logs.`;
  }
}
