import { rmSync } from 'node:fs';
import { join, relative } from 'node:path';
import { parseArgs } from 'node:util';
import { type DeployResult, Playground, writeEnvironmentFile } from '../../local/playground.js';
import { reportError, shownArg, usageError } from './runtime.js';
import type { Command } from './types.js';

const DEFAULT_PORT = 4599;

const USAGE = `Usage: rekey local [--inventory rekey.yaml] [--port ${DEFAULT_PORT}] [--dir .rekey-local]

A playground for every command, offline: starts the loopback AWS endpoint (Secrets Manager, Scheduler,
Lambda, SNS, STS, DynamoDB, CloudWatch) and a sandbox for each provider of the inventory, and deploys rekey
into it as \`cdk deploy\` would — a placeholder secret per entry, the per-key roles, the rotation functions,
the revoker and rollback running the deployed handlers. Each sandbox holds a key "your apps use today" for
every entry: its value in <dir>/keys/<entry>.key (never printed) and its id in <entry>.id, ready for
\`rekey import\`.

It writes <dir>/env; in another terminal \`source <dir>/env\` and run any rekey command against it. Editing
the inventory redeploys (set \`imported: true\` after \`rekey import\` to attach rotation). Everything is held
in memory: Ctrl-C stops it and removes <dir>/env and the key files. The functions' log lines (JSON, as
CloudWatch Logs would hold them) follow on standard output.

  --inventory   the inventory to deploy (default rekey.yaml)
  --port        port of the AWS endpoint on 127.0.0.1 (default $REKEY_LOCAL_PORT, else ${DEFAULT_PORT}; 0 picks
                a free one)
  --dir         where the environment file and the key files go (default .rekey-local)`;

export const local: Command = {
  name: 'local',
  summary: 'a local playground: the loopback AWS endpoint and sandboxes, with rekey deployed into them',
  usage: USAGE,
  async run(args, io) {
    let options: { inventoryPath: string; port: number; dir: string };
    try {
      options = parse(args);
    } catch (error) {
      return usageError(io, 'local', error, USAGE);
    }
    const playground = new Playground(options);
    let first: DeployResult;
    try {
      first = await playground.start();
    } catch (error) {
      await playground.stop().catch(() => {});
      if ((error as NodeJS.ErrnoException).code === 'EADDRINUSE')
        return reportError(
          io,
          'local',
          new Error(
            `port ${options.port} on 127.0.0.1 is in use (another rekey local?); pass --port <n>, or --port 0 for a free one.`,
          ),
        );
      return reportError(io, 'local', error);
    }
    const envFile = writeEnvironmentFile(options.dir, playground.environment());
    const shown = relative(process.cwd(), envFile) || envFile;
    const keys = relative(process.cwd(), join(options.dir, 'keys')) || join(options.dir, 'keys');
    const sandboxes = [...playground.sandboxes].map(([provider, s]) => [provider, s.sandbox.url] as const);
    const width = Math.max(...sandboxes.map(([p]) => p.length), 'provider'.length);
    io.out(
      [
        `rekey local: ${options.inventoryPath} deployed, as \`cdk deploy\` would, into the loopback AWS endpoint ${playground.aws.url}`,
        '',
        `  ${'provider'.padEnd(width)}  sandbox`,
        ...sandboxes.map(([provider, url]) => `  ${provider.padEnd(width)}  ${url}`),
        '',
        deployText(first),
        '',
        `Each key's value is in ${keys}/<entry>.key and its id in ${keys}/<entry>.id (never printed).`,
        '',
        'In another terminal:',
        `  source ${shown}`,
        '  npx rekey status',
        '',
        'Ctrl-C stops it. The functions’ log lines follow.',
      ].join('\n'),
    );
    playground.watchInventory((result) => {
      if (result instanceof Error) io.err(`rekey local: not redeployed: ${result.message}`);
      else io.out(`rekey local: ${options.inventoryPath} changed; redeployed:\n${deployText(result)}`);
    });
    await stopSignal();
    await playground.stop();
    rmSync(envFile, { force: true });
    for (const key of playground.keys.values()) {
      rmSync(key.keyFile, { force: true });
      rmSync(key.keyFile.replace(/\.key$/, '.id'), { force: true });
    }
    io.out('rekey local: stopped; its state was in memory and is gone.');
    return 0;
  },
};

/** A table of the entries: secret, the key the apps use today at the sandbox, rotation; then what was left out. */
function deployText(result: DeployResult): string {
  const rows = [
    ['entry', 'secret', 'key your apps use today', 'rotation'],
    ...result.keys.map((k) => [
      k.name,
      k.secretName,
      k.keyId,
      k.rotationAttached ? 'attached' : 'waits for imported: true',
    ]),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return [
    ...rows.map((r) => `  ${r.map((c, i) => c.padEnd(widths[i]!)).join('  ')}`.trimEnd()),
    ...result.skipped.map((s) => `  left out: ${s}`),
    ...result.problems.map((p) => `  ✗ ${p}`),
  ].join('\n');
}

function stopSignal(): Promise<void> {
  return new Promise((resolve) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}

function parse(args: string[]) {
  const { values, positionals } = parseArgs({
    args,
    options: {
      inventory: { type: 'string' },
      port: { type: 'string' },
      dir: { type: 'string' },
    },
    strict: true,
    allowPositionals: true,
  });
  if (positionals.length > 0) throw new Error(`unexpected argument ${shownArg(positionals[0]!)}`);
  const given = values.port ?? process.env.REKEY_LOCAL_PORT;
  const port = given === undefined || given === '' ? DEFAULT_PORT : Number(given);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new Error(
      `${values.port === undefined ? 'REKEY_LOCAL_PORT' : '--port'} must be a port number 0–65535, got ${shownArg(given!)}`,
    );
  return { inventoryPath: values.inventory ?? 'rekey.yaml', port, dir: values.dir ?? '.rekey-local' };
}
