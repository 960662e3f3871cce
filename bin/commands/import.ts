import { parseArgs } from 'node:util';
import {
  DescribeSecretCommand,
  PutSecretValueCommand,
  SecretsManagerClient,
  TagResourceCommand,
} from '@aws-sdk/client-secrets-manager';
import { InvalidInputError } from '../../lambdas/errors.js';
import { recordKeyOwner } from '../../lambdas/key-owners.js';
import { type LeaseDeps, leaseFromEnv, withSecretLease } from '../../lambdas/lease.js';
import { Logger } from '../../lambdas/logger.js';
import { PROVIDERS, providerEndpointsFromEnv } from '../../lambdas/providers/index.js';
import { type ManagedKey, parseManagedKey, serializeManagedKey } from '../../lambdas/secret-format.js';
import {
  AWSCURRENT,
  AWSPENDING,
  connectProvider,
  getSecretValueIfPresent,
  isAwsError,
  stageHoldingKey,
  versionWithStage,
} from '../../lambdas/secrets.js';
import { TAGS } from '../../lambdas/tags.js';
import {
  type Inventory,
  keyRouteOf,
  type ManagedKeyPlan,
  readInventory,
  resolveInventory,
} from '../../lib/inventory.js';
import { cliLogger, reportError, shownArg, usageError, warnWithoutLease } from './runtime.js';
import type { Command } from './types.js';

export interface ImportRequest {
  plan: ManagedKeyPlan;
  /** The API key, as read from stdin. */
  value: string;
  /** The provider's id of that key (SendGrid api_key_id). */
  keyId: string;
  /** When the provider created the key; default now. */
  createdAt?: Date;
  /** Provider API base URL (a sandbox); default the inventory's providers.<name>.endpoint or the public API. */
  endpoint?: string;
  /** Replace a managed key already stored (never while a rotation is pending). */
  force?: boolean;
}

export type ImportResult =
  | {
      outcome: 'imported';
      secretArn: string;
      versionId: string;
      /** Why the provider could not confirm that `keyId` is the key's id (one line), when it could not. */
      keyIdWarning?: string;
    }
  | { outcome: 'already-imported'; secretArn: string; versionId: string };

/**
 * The provider says `--key-id` is not the id of the key given: storing it would make rotation copy another
 * key's permissions and the revoker act on the wrong key. Nothing was stored.
 */
export class KeyIdMismatchError extends InvalidInputError {
  constructor(
    plan: ManagedKeyPlan,
    provider: string,
    keyId: string,
    verdict: { find: string; providerKeyId?: string },
  ) {
    const { providerKeyId, find } = verdict;
    super(
      'INVALID_INPUT',
      `${provider} says key id ${keyId} given for "${plan.name}" (secret ${plan.secretName}) is not the id of the key on standard input${providerKeyId ? `; its id is ${providerKeyId}` : ''}; nothing was stored. ` +
        (providerKeyId
          ? `Run \`rekey import ${plan.name}\` again with --key-id ${providerKeyId}.`
          : `Find the key's id (${find}) and run \`rekey import ${plan.name}\` again with it as --key-id.`),
      { secretId: plan.secretName, field: '--key-id' },
    );
  }
}

/**
 * Stores an existing provider key as the current version of its managed secret, so the first rotation has
 * a current key and its id. The key is validated at the provider first, and then its id
 * (`ProviderClient.identifies`); nothing is stored when the provider rejects the key or says the id is
 * another's (KeyIdMismatchError), when the secret is mid-rotation, or when it already holds a different
 * managed key (unless `force`). Where the provider cannot tell a key's id, the import proceeds and the result
 * carries `keyIdWarning`. Storing the same key again changes nothing.
 */
export async function importKey(
  sm: SecretsManagerClient,
  request: ImportRequest,
  lease?: LeaseDeps,
): Promise<ImportResult> {
  const { plan, value } = request;
  const logger = new Logger(() => {});
  logger.protect(value);
  const secretId = plan.existingSecretArn ?? plan.secretName;
  const where = { secretId: plan.secretName };
  if (value.length > 0 && request.keyId.includes(value))
    // Never echoed: the messages below name the key id, and this one is the key itself.
    throw new InvalidInputError(
      'INVALID_INPUT',
      `--key-id for "${plan.name}" holds the key itself; pass the provider's id of the key (its key value is read from standard input only). Nothing was stored.`,
      { ...where, field: '--key-id' },
    );
  const describe = async (id: string, what: string, fix: string) => {
    try {
      return await sm.send(new DescribeSecretCommand({ SecretId: id }));
    } catch (error) {
      if (!isAwsError(error, 'ResourceNotFoundException')) throw error;
      throw new InvalidInputError('INVALID_INPUT', `${what} ${id} does not exist; ${fix}`, where);
    }
  };
  const meta = await describe(
    secretId,
    `secret of "${plan.name}"`,
    'deploy the stack first (`cdk deploy` creates it).',
  );
  const rotator = await describe(
    plan.rotatorSecret,
    `rotator credential of "${plan.name}"`,
    'create it with the provider admin credential (see README, "Secret format").',
  );
  const secretArn = meta.ARN!;
  if (!lease) return storeImportedKey(sm, request, secretArn, rotator.ARN!, logger, async () => {});
  return withSecretLease(lease, secretArn, 'import', (held) =>
    storeImportedKey(sm, request, secretArn, rotator.ARN!, logger, () => held.fence(), lease),
  );
}

/** importKey's checks and write, holding the secret's lease (the state is read after taking it). */
async function storeImportedKey(
  sm: SecretsManagerClient,
  request: ImportRequest,
  secretArn: string,
  rotatorArn: string,
  logger: Logger,
  fence: () => Promise<void>,
  lease?: LeaseDeps,
): Promise<ImportResult> {
  const { plan, value, keyId } = request;
  const where = { secretId: plan.secretName };
  const meta = await sm.send(new DescribeSecretCommand({ SecretId: secretArn }));
  const current = versionWithStage(meta, AWSCURRENT);
  const pending = versionWithStage(meta, AWSPENDING);
  if (pending && pending !== current) {
    throw new InvalidInputError(
      'INVALID_INPUT',
      `secret ${plan.secretName} has a rotation in progress (AWSPENDING on version ${pending}); let it finish or cancel it before importing.`,
      where,
    );
  }
  const stored = await getSecretValueIfPresent(sm, { SecretId: secretArn, VersionStage: AWSCURRENT });
  logger.protect(stored?.SecretString);
  let existing: ManagedKey | undefined;
  try {
    existing = parseManagedKey(stored?.SecretString, { secretId: plan.secretName });
  } catch {
    existing = undefined; // the stack's placeholder, or a value from before rekey
  }
  if (existing?.keyId === keyId && existing.key === value) {
    if (lease) await recordImportedKeyOwner(sm, lease, plan, keyId, logger);
    return { outcome: 'already-imported', secretArn, versionId: stored!.VersionId! };
  }
  if (existing && !request.force) {
    throw new InvalidInputError(
      'INVALID_INPUT',
      `secret ${plan.secretName} already holds managed key ${existing.keyId}; rotate it with \`rekey rotate\`, or pass --force to replace it.`,
      where,
    );
  }

  const doc: ManagedKey = {
    provider: plan.provider,
    key: value,
    keyId,
    createdAt: (request.createdAt ?? new Date()).toISOString(),
    rotatorSecretArn: rotatorArn,
    options: plan.options,
  };
  const provider = PROVIDERS[plan.provider]!;
  const client = await connectProvider(sm, logger, plan.secretName, doc, keyRouteOf(plan), {
    provider,
    ...(request.endpoint ? { endpoint: request.endpoint } : {}),
  });
  const verdict = await client.validateKey({ id: keyId, value });
  if (verdict !== 'accepted') {
    throw new InvalidInputError(
      'INVALID_INPUT',
      `${provider.displayName} does not accept the key given for "${plan.name}" (key id ${keyId}); nothing was stored. Check that stdin holds the key currently in use, and --key-id its id.`,
      where,
    );
  }
  // A valid key under a wrong id breaks later: rotation copies another key's permissions, the revoker
  // revokes or watches the wrong key. Ask the provider before storing anything.
  const identity = client.identifies ? await client.identifies({ id: keyId, value }) : undefined;
  if (identity?.verdict === 'differs')
    throw new KeyIdMismatchError(plan, provider.displayName, keyId, identity);
  const keyIdWarning =
    identity === undefined
      ? `key id ${keyId} of "${plan.name}" could not be checked at ${provider.displayName}, whose API cannot tell a key's id from its value; make sure it is the id of the key you imported.`
      : identity.verdict === 'unconfirmed'
        ? `key id ${keyId} of "${plan.name}" could not be fully checked at ${provider.displayName}: ${identity.checked}; make sure it is ${identity.find}.`
        : undefined;
  await fence();
  if (lease) await recordImportedKeyOwner(sm, lease, plan, keyId, logger);
  const put = await sm.send(
    new PutSecretValueCommand({ SecretId: secretArn, SecretString: serializeManagedKey(doc) }),
  );
  await sm.send(
    new TagResourceCommand({
      SecretId: secretArn,
      Tags: [{ Key: TAGS.gracePeriod, Value: plan.gracePeriod }],
    }),
  );
  return {
    outcome: 'imported',
    secretArn,
    versionId: put.VersionId!,
    ...(keyIdWarning ? { keyIdWarning } : {}),
  };
}

/**
 * Records the imported key as this secret's (the revoker trusts the record, not a document). A key another
 * managed secret still holds is refused — two secrets sharing one key would revoke it under each other;
 * a record left by a secret that no longer holds the key moves.
 */
async function recordImportedKeyOwner(
  sm: SecretsManagerClient,
  lease: LeaseDeps,
  plan: ManagedKeyPlan,
  keyId: string,
  logger: Logger,
): Promise<void> {
  const refused = await recordKeyOwner(
    lease,
    keyRouteOf(plan),
    keyId,
    async (other) => (await stageHoldingKey(sm, logger, other, keyId)) === undefined,
  );
  if (refused)
    throw new InvalidInputError(
      'INVALID_INPUT',
      `key ${keyId} is already managed by secret ${refused.secretName}, in the same provider account; one key belongs to one secret (two would revoke it under each other). Import a key of its own for "${plan.name}". Nothing was stored.`,
      { secretId: plan.secretName, field: '--key-id' },
    );
}

const USAGE = `Usage: rekey import <name> --key-id <provider key id> [--created-at <ISO date>] [--force]
                    [--inventory rekey.yaml] [--endpoint <provider API URL>]  < key

Stores the key your applications use today as the current version of the managed secret of inventory
entry <name>, after checking at the provider that it authenticates and that --key-id is its id (a wrong id
is refused; where the provider cannot tell, a warning says so). The key is read from standard input,
never from the command line. Afterwards set \`imported: true\` for the entry and run \`cdk deploy\` to
attach its rotation schedule.

  --key-id       the provider's id of the key (SendGrid: api_key_id, from GET /v3/api_keys; Twilio: the SK…
                 sid; AWS IAM: the access key id; OpenAI with options.projectId: the service account id)
  --created-at   when the key was created (default: now); the first rotation is scheduled regardless
  --force        replace a managed key already stored (not during a rotation)
  --endpoint     provider API base URL (default: the inventory's providers.<name>.endpoint or the public API)`;

export const importCommand: Command = {
  name: 'import',
  summary: 'store the key in use today (stdin) in its managed secret, validated at the provider',
  usage: USAGE,
  async run(args, io) {
    let parsed: ReturnType<typeof parse>;
    try {
      parsed = parse(args);
    } catch (error) {
      return usageError(io, 'import', error, USAGE);
    }
    const { name, values } = parsed;
    const path = values.inventory ?? 'rekey.yaml';
    let inventory: Inventory;
    let plans: ManagedKeyPlan[];
    try {
      inventory = readInventory(path);
      plans = resolveInventory(inventory, Object.keys(PROVIDERS), path);
    } catch (error) {
      return reportError(io, 'import', error);
    }
    const plan = plans.find((p) => p.name === name || p.secretName === name);
    if (!plan)
      return usageError(
        io,
        'import',
        `no inventory entry ${shownArg(name)} in ${path}; entries: ${plans.map((p) => p.name).join(', ')}`,
        USAGE,
      );
    const createdAt = values['created-at'] === undefined ? undefined : isoDate(values['created-at']);
    if (createdAt === null)
      return usageError(
        io,
        'import',
        `--created-at: ${shownArg(values['created-at']!)} is not an ISO 8601 date and time, e.g. 2026-01-31T00:00:00Z`,
        USAGE,
      );
    const value = (await io.stdin()).trim();
    if (!value || /\s/.test(value))
      return usageError(
        io,
        'import',
        `pipe exactly one key on standard input, e.g. \`rekey import ${plan.name} --key-id … < key.txt\``,
        USAGE,
      );
    const sm = new SecretsManagerClient({});
    const runtime = {
      lease: leaseFromEnv(cliLogger(io)),
    };
    warnWithoutLease(io, runtime, 'import');
    try {
      // As the other commands: --endpoint, else REKEY_PROVIDER_ENDPOINT_<PROVIDER>, else the inventory's.
      const endpoint =
        values.endpoint ??
        providerEndpointsFromEnv()[plan.provider] ??
        inventory.providers[plan.provider]?.endpoint;
      const result = await importKey(
        sm,
        {
          plan,
          value,
          keyId: values['key-id']!,
          ...(createdAt ? { createdAt } : {}),
          ...(endpoint ? { endpoint } : {}),
          ...(values.force ? { force: true } : {}),
        },
        runtime.lease,
      );
      if (result.outcome === 'imported' && result.keyIdWarning) {
        const logger = cliLogger(io);
        logger.protect(value);
        logger.warn(result.keyIdWarning, { secretId: plan.secretName });
      }
      io.out(
        result.outcome === 'already-imported'
          ? `${plan.name}: this key is already the current version (${result.versionId}) of ${plan.secretName}; nothing changed.`
          : `${plan.name}: key ${values['key-id']} is now AWSCURRENT of ${plan.secretName} (version ${result.versionId}).\nNext: set \`imported: true\` for ${plan.name} in the inventory and run \`cdk deploy\` to attach its rotation schedule.`,
      );
      return 0;
    } catch (error) {
      return reportError(io, 'import', error);
    } finally {
      sm.destroy();
      runtime.lease?.dynamodb.destroy();
    }
  },
};

/**
 * An ISO 8601 date (midnight UTC) or date and time with its zone, as `createdAt` is stored; null for
 * anything else — `new Date()` alone would read "0" as 2000-01-01.
 */
function isoDate(text: string): Date | null {
  if (!/^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2}))?$/.test(text)) return null;
  const date = new Date(text);
  return Number.isNaN(date.getTime()) ? null : date;
}

const VALUE_OPTIONS = ['--inventory', '--key-id', '--created-at', '--endpoint'];

function parse(args: string[]) {
  // Provider key ids may start with "-" (SendGrid's are base64url): bind each value to its option.
  const bound: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (VALUE_OPTIONS.includes(arg) && i + 1 < args.length) bound.push(`${arg}=${args[++i]}`);
    else bound.push(arg);
  }
  const { values, positionals } = parseArgs({
    args: bound,
    options: {
      inventory: { type: 'string' },
      'key-id': { type: 'string' },
      'created-at': { type: 'string' },
      endpoint: { type: 'string' },
      force: { type: 'boolean' },
    },
    strict: true,
    allowPositionals: true,
  });
  if (positionals.length !== 1) throw new Error('name exactly one inventory entry');
  if (!values['key-id']) throw new Error('--key-id is required (the provider id of the key)');
  return { name: positionals[0]!, values };
}
