import { parseArgs } from 'node:util';
import type { DescribeSecretCommandOutput } from '@aws-sdk/client-secrets-manager';
import { parseDurationSeconds } from '../../lambdas/duration.js';
import { AWSCURRENT, AWSPENDING, versionWithStage } from '../../lambdas/secrets.js';
import { startRotation } from '../../lambdas/start-rotation.js';
import { failureOf, TAGS, tagMap } from '../../lambdas/tags.js';
import {
  type CliRuntime,
  cliRuntime,
  destroy,
  reportError,
  secretIdOf,
  shownArg,
  usageError,
  waitFor,
  warnWithoutLease,
} from './runtime.js';
import type { Command } from './types.js';

const USAGE = `Usage: rekey rotate <secret> [--emergency [--grace 0s|5m]] [--provide-key < key] [--no-wait] [--timeout 300s]
                    [--inventory rekey.yaml] [--json]

Starts a rotation now through Secrets Manager's RotateSecret, then waits until the new key is AWSCURRENT.

  <secret>         the inventory entry's name, or its secret's name (vault_path) or ARN
  --emergency      the key is compromised: cancel a stuck rotation first (revoking the keys it created),
                   and revoke the old key as soon as the new one is current instead of after the grace period
  --grace <d>      with --emergency: keep the old key valid this long (e.g. 5m) — default 0s
  --provide-key    for providers without a key API (Stripe): read the key a person made from stdin, then
                   stage, test and promote it; the old key's revocation becomes a reminder and a check
  --no-wait        return once Secrets Manager accepted the request
  --timeout <d>    how long to wait for the rotation (and, with --emergency, the revocation) — default 300s
  --inventory <f>  the inventory the stack was deployed from — default rekey.yaml; rekey acts on its keys
                   only, as it configures them (an emergency's --grace may only shorten grace_period)
  --json           print the result as JSON

A plain \`rekey rotate\` is a scheduled-style rotation: the old key is revoked after the key's grace period,
once the fleet is seen using the new one. Credentials and region come from the standard AWS configuration.`;

export const rotate: Command = {
  name: 'rotate',
  summary: 'rotate a key now (--emergency: revoke the old key at once)',
  usage: USAGE,
  async run(args, io) {
    let parsed: ReturnType<typeof parse>;
    try {
      parsed = parse(args);
    } catch (error) {
      return usageError(io, 'rotate', error, USAGE, args.includes('--json'));
    }
    const { secret, emergency, graceSeconds, wait, timeoutMs, json, provideKey, inventory } = parsed;
    let runtime: CliRuntime;
    try {
      runtime = cliRuntime(io, inventory);
    } catch (error) {
      return reportError(io, 'rotate', error, json);
    }
    if (emergency || provideKey) warnWithoutLease(io, runtime, 'rotate');
    const started = Date.now();
    const elapsed = () => `${((Date.now() - started) / 1000).toFixed(1)}s`;
    try {
      // The key comes from stdin, never argv (which lands in shell history and process lists).
      const providedKey = provideKey ? (await io.stdin()).trim() : undefined;
      const rotation = await startRotation(
        secretIdOf(runtime.routes, secret),
        { emergency, graceSeconds, ...(providedKey === undefined ? {} : { providedKey }) },
        runtime,
      );
      if (rotation.cancelled) {
        io.out(
          `cancelled stuck rotation ${rotation.cancelled.versionId}; revoked its keys: ${rotation.cancelled.revokedKeyIds.join(', ') || 'none'}`,
        );
      }
      if (!json)
        io.out(
          `${elapsed()}  rotation of ${rotation.secret} started: version ${rotation.versionId}${emergency ? ' (emergency)' : ''}`,
        );
      const result: Record<string, unknown> = { ...rotation, emergency, status: 'started' };
      if (wait) {
        // Follow the rotation: done, failed at a step (the function's record), superseded, or still running.
        let outcome: RotationOutcome = { status: 'running' };
        await waitFor(
          runtime.secretsManager,
          rotation.arn,
          (m) => {
            outcome = outcomeOf(m, rotation.versionId, rotation.previousVersionId);
            return outcome.status !== 'running';
          },
          timeoutMs,
        );
        const settled = outcome as RotationOutcome;
        if (settled.status !== 'promoted') {
          result.status = settled.status;
          io.err(`rekey rotate: ${describeOutcome(settled, rotation.secret, rotation.versionId, timeoutMs)}`);
          if (json) io.out(JSON.stringify({ ...result, ...settled }, null, 2));
          return 1;
        }
        result.status = 'promoted';
        if (!json) io.out(`${elapsed()}  new key is AWSCURRENT`);
        if (emergency && graceSeconds === 0 && rotation.previousVersionId) {
          // Revoked, or the revoker's record of why not (it tries again later): either ends the wait.
          let refused: ReturnType<typeof failureOf>;
          const revoked = await waitFor(
            runtime.secretsManager,
            rotation.arn,
            (m) => {
              const tags = tagMap(m.Tags);
              const failure = failureOf(tags, rotation.previousVersionId!);
              refused = failure?.step === 'revocation' ? failure : undefined;
              return tags[TAGS.lastRevokedVersion] === rotation.previousVersionId || refused !== undefined;
            },
            timeoutMs,
          );
          if (refused) {
            io.err(
              `rekey rotate: the new key of ${rotation.secret} is AWSCURRENT, but the old key was not revoked (${refused.code}): ${refused.reason}. It still works at the provider; the revoker tries again later and alerts — fix the cause, or revoke it at the provider by hand. See \`rekey status ${rotation.secret}\`.`,
            );
            if (json) io.out(JSON.stringify({ ...result, status: 'revocation-failed', ...refused }, null, 2));
            return 1;
          }
          if (!revoked) {
            io.err(
              `rekey rotate: the old key of ${rotation.secret} was not revoked within ${timeoutMs / 1000}s; check the alert topic and the revoker's logs.`,
            );
            return 1;
          }
          result.status = 'old-key-revoked';
          if (!json) io.out(`${elapsed()}  old key revoked at the provider`);
        }
      }
      result.elapsedSeconds = (Date.now() - started) / 1000;
      if (json) io.out(JSON.stringify(result, null, 2));
      return 0;
    } catch (error) {
      return reportError(io, 'rotate', error, json);
    } finally {
      destroy(runtime);
    }
  },
};

function parse(args: string[]) {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      emergency: { type: 'boolean', default: false },
      grace: { type: 'string' },
      'no-wait': { type: 'boolean', default: false },
      'provide-key': { type: 'boolean', default: false },
      timeout: { type: 'string', default: '300s' },
      inventory: { type: 'string', default: 'rekey.yaml' },
      json: { type: 'boolean', default: false },
    },
  });
  if (positionals.length !== 1) throw new Error('name exactly one secret (or inventory entry)');
  if (values.grace !== undefined && !values.emergency)
    throw new Error(
      "--grace applies to --emergency rotations; a scheduled rotation uses the key's own grace period",
    );
  const graceSeconds = values.grace === undefined ? 0 : parseDurationSeconds(values.grace);
  if (graceSeconds === undefined)
    throw new Error(`--grace: ${shownArg(values.grace ?? '')} is not a duration like 0s, 5m or 1h`);
  const timeoutSeconds = parseDurationSeconds(values.timeout);
  if (timeoutSeconds === undefined)
    throw new Error(`--timeout: ${shownArg(values.timeout)} is not a duration like 300s or 10m`);
  return {
    secret: positionals[0]!,
    emergency: values.emergency,
    graceSeconds,
    wait: !values['no-wait'],
    provideKey: values['provide-key'],
    timeoutMs: timeoutSeconds * 1000,
    inventory: values.inventory,
    json: values.json,
  };
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
