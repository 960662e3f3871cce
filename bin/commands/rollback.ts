import { parseArgs } from 'node:util';
import { rollbackKey } from '../../lambdas/rollback.js';
import {
  type CliRuntime,
  cliRuntime,
  destroy,
  reportError,
  revocationDeps,
  secretIdOf,
  usageError,
  warnWithoutLease,
} from './runtime.js';
import type { Command } from './types.js';

const USAGE = `Usage: rekey rollback <secret> [--revoke-now] [--inventory rekey.yaml] [--json]

Makes the previous key AWSCURRENT again — only while it still authenticates at the provider — cancels its
pending revocation, and schedules revocation of the rejected key after the grace period.

  <secret>       the inventory entry's name, or its secret's name or ARN
  --revoke-now   revoke the rejected key at once instead of after the grace period
  --inventory    the inventory the stack was deployed from — default rekey.yaml
  --json         print the result as JSON

Refuses, changing nothing, when the previous key was already revoked: rotate instead with
\`rekey rotate <secret> --emergency\`. Needs the stack's REKEY_SCHEDULE_GROUP, REKEY_SCHEDULER_ROLE_ARN,
REKEY_REVOKER_ARN and REKEY_ALERT_TOPIC_ARN (stack outputs) in the environment.`;

export const rollback: Command = {
  name: 'rollback',
  summary: 'restore the previous key while it still works',
  usage: USAGE,
  async run(args, io) {
    let values: { 'revoke-now': boolean; json: boolean; inventory: string };
    let positionals: string[];
    try {
      ({ values, positionals } = parseArgs({
        args,
        allowPositionals: true,
        options: {
          'revoke-now': { type: 'boolean', default: false },
          inventory: { type: 'string', default: 'rekey.yaml' },
          json: { type: 'boolean', default: false },
        },
      }));
      if (positionals.length !== 1) throw new Error('name exactly one secret');
    } catch (error) {
      return usageError(io, 'rollback', error, USAGE, args.includes('--json'));
    }
    let runtime: CliRuntime;
    try {
      runtime = cliRuntime(io, values.inventory);
    } catch (error) {
      return reportError(io, 'rollback', error, values.json);
    }
    try {
      const deps = revocationDeps(runtime);
      warnWithoutLease(io, runtime, 'rollback');
      const report = await rollbackKey(
        { secretId: secretIdOf(runtime.routes, positionals[0]!), revokeNow: values['revoke-now'] },
        deps,
      );
      if (values.json) io.out(JSON.stringify(report, null, 2));
      else
        io.out(
          [
            `rolled back ${report.secret}: key ${report.restoredKeyId} (version ${report.restoredVersionId}) is AWSCURRENT again`,
            `cancelled ${report.cancelledSchedules} pending revocation schedule(s) of the restored key`,
            `rejected key ${report.rejectedKeyId} (version ${report.rejectedVersionId}): ${report.rejectedKey === 'revoked' ? 'revoked' : 'revocation scheduled after the grace period'}`,
          ].join('\n'),
        );
      return 0;
    } catch (error) {
      return reportError(io, 'rollback', error, values.json);
    } finally {
      destroy(runtime);
    }
  },
};
