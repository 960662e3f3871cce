import {
  type AccessKeyMetadata,
  CreateAccessKeyCommand,
  DeleteAccessKeyCommand,
  GetAccessKeyLastUsedCommand,
  IAMClient,
  ListAccessKeysCommand,
  ListUserTagsCommand,
  TagUserCommand,
  UntagUserCommand,
  UpdateAccessKeyCommand,
} from '@aws-sdk/client-iam';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import * as z from 'zod/mini';
import { ProviderBadResponseError, ProviderOutcomeUnknownError, ProviderRejectedError } from '../errors.js';
import { sleep as realSleep } from '../retry.js';
import {
  type AwsCallOptions,
  type AwsCredential,
  AwsCredentialSchema,
  awsCall,
  awsClientConfig,
  awsErrorIs,
  awsFailure,
  awsRejected,
  explicitCredentials,
} from './aws-api.js';
import type {
  KeyMaterial,
  ProviderClient,
  ProviderDefinition,
  ProviderKeyRef,
  ValidationResult,
} from './types.js';

/**
 * AWS IAM access keys of one IAM user. The key document's `keyId` is the access key id and `key` the secret
 * access key. IAM allows two keys per user, so the dual-key overlap uses both slots: rekey refuses to
 * rotate while a second key is still active (it never deletes the current key, nor an active key it was
 * not asked to revoke). Access keys have no name, so rekey names them with user tags:
 * `rekey:<AccessKeyId>` = key name, and `rekey:creating` = "<name> <time> <ids that existed before>" while a
 * create is in flight, which is how a crashed attempt's key is found again. Revoking deactivates the key
 * first (it stops authenticating at once) and then deletes it, so a crash in between never leaves an
 * active orphan.
 */
const PROVIDER = 'AWS IAM';
export const IAM_KEYS_PER_USER = 2;
const NAME_TAG_PREFIX = 'rekey:';
const CREATING_TAG = 'rekey:creating';
/** How far from the in-flight marker's time a crashed create's key can have been made. */
const CREATE_WINDOW_MS = 5 * 60_000;
/** How long a just-created key may be refused while IAM propagates it (AWS: "usually seconds"). */
const PROPAGATION_WAITS_MS = [1000, 2000, 4000, 8000];
const YOUNG_KEY_MS = 2 * 60_000;

const OptionsSchema = z.strictObject({
  /** The IAM user whose access keys are rotated. */
  userName: z
    .string()
    .check(z.regex(/^[\w+=,.@-]{1,64}$/, 'must be an IAM user name (1-64 of A-Z a-z 0-9 +=,.@_-)')),
  /** Region for STS (validation); default the function's region. */
  region: z.optional(
    z.string().check(z.regex(/^[a-z]{2}(-[a-z]+)+-\d$/, 'must be an AWS region such as eu-west-1')),
  ),
});

type Options = z.infer<typeof OptionsSchema>;

const nameTag = (keyId: string): string => `${NAME_TAG_PREFIX}${keyId}`;

export const awsIam: ProviderDefinition<AwsCredential, Options> = {
  name: 'aws-iam',
  displayName: PROVIDER,
  capabilities: { dualKey: true, maxActiveKeys: IAM_KEYS_PER_USER, lastUsed: true, valueReadable: false },
  // The in-flight marker holds the name, a time and two key ids; 64 leaves room under IAM's 256.
  maxKeyNameLength: 64,
  credentialSchema: AwsCredentialSchema,
  optionsSchema: OptionsSchema,
  connect(context): ProviderClient {
    const { credential, options, logger } = context;
    const region = options.region ?? process.env.AWS_REGION ?? 'us-east-1';
    const iam = new IAMClient(awsClientConfig(context, 'us-east-1', explicitCredentials(credential)));
    const user = options.userName;
    const sleep = context.http?.retryHooks?.sleep ?? realSleep;
    // The marker's time and a key's age are compared with IAM's CreateDate: on the caller's clock.
    const now = context.now ?? (() => new Date());
    const call = <T>(what: string, request: () => Promise<T>, callOptions?: AwsCallOptions) =>
      awsCall(PROVIDER, what, context, request, callOptions);

    const denied = (what: string, error: unknown): Error =>
      awsFailure(PROVIDER, what, error, (e) =>
        awsErrorIs(e, 'NoSuchEntity')
          ? `IAM user "${user}" or the access key does not exist; check options.userName.`
          : `the rotator needs iam:CreateAccessKey, iam:ListAccessKeys, iam:UpdateAccessKey, iam:DeleteAccessKey, iam:GetAccessKeyLastUsed, iam:ListUserTags, iam:TagUser and iam:UntagUser on arn:aws:iam::<account>:user/${user} (see README, "AWS IAM").`,
      );

    /** A call whose every failure is final for this adapter: refusals come back with their fix. */
    const callOrFail = <T>(what: string, request: () => Promise<T>): Promise<T> =>
      call(what, request).catch((error: unknown) => Promise.reject(denied(what, error)));

    const listKeys = async (): Promise<AccessKeyMetadata[]> => {
      const keys: AccessKeyMetadata[] = [];
      let marker: string | undefined;
      do {
        const page = await callOrFail('list access keys', () =>
          iam.send(new ListAccessKeysCommand({ UserName: user, Marker: marker })),
        );
        keys.push(...(page.AccessKeyMetadata ?? []));
        marker = page.IsTruncated ? page.Marker : undefined;
      } while (marker);
      return keys;
    };

    const listTags = async (): Promise<Map<string, string>> => {
      const tags = new Map<string, string>();
      let marker: string | undefined;
      do {
        const page = await callOrFail('list user tags', () =>
          iam.send(new ListUserTagsCommand({ UserName: user, Marker: marker })),
        );
        for (const tag of page.Tags ?? []) if (tag.Key) tags.set(tag.Key, tag.Value ?? '');
        marker = page.IsTruncated ? page.Marker : undefined;
      } while (marker);
      return tags;
    };

    const tagUser = (what: string, tags: Record<string, string>) =>
      callOrFail(what, () =>
        iam.send(
          new TagUserCommand({
            UserName: user,
            Tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })),
          }),
        ),
      );

    const untagUser = (what: string, keys: string[]) =>
      callOrFail(what, () => iam.send(new UntagUserCommand({ UserName: user, TagKeys: keys })));

    const deleteKey = async (keyId: string): Promise<'revoked' | 'already-gone'> => {
      // Deactivate first: from here on the key no longer authenticates, whatever happens next.
      const deactivated = await call('deactivate access key', () =>
        iam.send(new UpdateAccessKeyCommand({ UserName: user, AccessKeyId: keyId, Status: 'Inactive' })),
      ).then(
        () => true,
        (error) => {
          if (awsErrorIs(error, 'NoSuchEntity')) return false;
          throw denied('deactivate access key', error);
        },
      );
      if (deactivated) {
        await call('delete access key', () =>
          iam.send(new DeleteAccessKeyCommand({ UserName: user, AccessKeyId: keyId })),
        ).catch((error) => {
          if (!awsErrorIs(error, 'NoSuchEntity')) throw denied('delete access key', error);
        });
      }
      await untagUser('untag user', [nameTag(keyId)]);
      return deactivated ? 'revoked' : 'already-gone';
    };

    /** An inactive key rekey itself deactivated (a revocation that crashed before its delete), if any. */
    const parkedKey = (keys: AccessKeyMetadata[], tags: Map<string, string>, likeKeyId?: string) =>
      keys.find(
        (k) => k.AccessKeyId !== likeKeyId && k.Status === 'Inactive' && tags.has(nameTag(k.AccessKeyId!)),
      );

    /** Makes room under the two-key limit, or explains why it will not. */
    const makeRoom = async (likeKeyId: string, tags: Map<string, string>): Promise<string[]> => {
      const keys = await listKeys();
      if (keys.length < IAM_KEYS_PER_USER) return keys.map((k) => k.AccessKeyId!);
      const others = keys.filter((k) => k.AccessKeyId !== likeKeyId);
      const parked = parkedKey(others, tags);
      if (parked) {
        // An inactive key rekey itself deactivated (a revocation that crashed before its delete).
        logger.warn('deleting an inactive access key rekey revoked, to make room under the two-key limit', {
          userName: user,
          keyId: parked.AccessKeyId,
        });
        await deleteKey(parked.AccessKeyId!);
        return keys.filter((k) => k !== parked).map((k) => k.AccessKeyId!);
      }
      const described = others
        .map(
          (k) =>
            `${k.AccessKeyId} (${k.Status}, created ${k.CreateDate?.toISOString() ?? 'unknown'}${tags.has(nameTag(k.AccessKeyId!)) ? ', made by rekey' : ', not made by rekey'})`,
        )
        .join(', ');
      throw new ProviderRejectedError(
        PROVIDER,
        'create access key',
        409,
        `IAM user "${user}" already has ${keys.length} access keys, the limit is ${IAM_KEYS_PER_USER} per user: the current key ${likeKeyId} and ${described}. ` +
          'rekey never deletes the current key, nor a key it was not asked to revoke. If the other key is the previous key of a rotation still in its grace period, wait for its scheduled revocation (rekey status shows it); otherwise deactivate and delete it in IAM, then rotate again.',
      );
    };

    const validateKey = async (key: KeyMaterial): Promise<ValidationResult> => {
      const sts = new STSClient(
        awsClientConfig(context, region, { accessKeyId: key.id, secretAccessKey: key.value }),
      );
      try {
        for (let attempt = 0; ; attempt++) {
          try {
            const identity = await call('validate key', () => sts.send(new GetCallerIdentityCommand({})));
            const arnUser = identity.Arn?.split(':user/').pop()?.split('/').pop();
            if (arnUser !== user) {
              throw new ProviderRejectedError(
                PROVIDER,
                'validate key',
                undefined,
                `the key authenticates as ${identity.Arn ?? 'an unknown principal'}, not IAM user "${user}"; check options.userName and the key stored in the secret.`,
              );
            }
            return 'accepted';
          } catch (error) {
            if (awsErrorIs(error, 'SignatureDoesNotMatch')) return 'rejected';
            if (!awsErrorIs(error, 'InvalidClientTokenId')) throw error;
            // Unknown or inactive key id — or a new key IAM has not propagated yet: wait only for that.
            const wait = PROPAGATION_WAITS_MS[attempt];
            if (wait === undefined || !(await isYoungActiveKey(key.id))) return 'rejected';
            await sleep(wait);
          }
        }
      } finally {
        sts.destroy();
      }
    };

    return {
      async createKey({ name, likeKeyId }) {
        // An access key carries its user's permissions: nothing to copy from `likeKeyId`.
        const tags = await listTags();
        // Only an attempt that crashed or lost its answer leaves this name's marker: a key may exist.
        const resumed = tags.get(CREATING_TAG)?.split(' ')[0] === name;
        const before = await makeRoom(likeKeyId, tags);
        await tagUser('tag user', { [CREATING_TAG]: [name, now().toISOString(), ...before].join(' ') });
        const created = await call(
          'create access key',
          () => iam.send(new CreateAccessKeyCommand({ UserName: user })),
          { idempotent: false },
        ).catch(async (error: unknown) => {
          if (resumed && awsErrorIs(error, 'LimitExceeded')) {
            // Most likely the earlier attempt's key, not listed yet: keep the marker so it is found by name.
            throw new ProviderOutcomeUnknownError(
              PROVIDER,
              'create access key',
              `IAM user "${user}" is at the limit of ${IAM_KEYS_PER_USER} access keys right after an attempt whose answer was lost; that attempt's key may not be listed yet`,
            );
          }
          const failure = awsErrorIs(error, 'LimitExceeded')
            ? awsRejected(
                PROVIDER,
                'create access key',
                error,
                `IAM user "${user}" reached the limit of ${IAM_KEYS_PER_USER} access keys while rekey was creating one; another actor added a key. Delete the key you do not need, then rotate again.`,
              )
            : denied('create access key', error);
          // A refusal proves this request created nothing, not that an earlier attempt under the marker did
          // not: drop the marker only if it is this attempt's alone. After an unknown outcome keep it.
          if (failure instanceof ProviderRejectedError && !resumed)
            await untagUser('untag user', [CREATING_TAG]);
          throw failure;
        });
        const key = created.AccessKey;
        if (!key?.AccessKeyId || !key.SecretAccessKey) {
          throw new ProviderBadResponseError(
            PROVIDER,
            'create access key',
            'AccessKey.AccessKeyId or SecretAccessKey missing',
          );
        }
        await tagUser('tag user', { [nameTag(key.AccessKeyId)]: name });
        await untagUser('untag user', [CREATING_TAG]);
        return { id: key.AccessKeyId, name, value: key.SecretAccessKey };
      },

      async keyQuota() {
        const [keys, tags] = await Promise.all([listKeys(), listTags()]);
        // createKey deletes a key rekey revoked but could not delete before it creates: it is room, not a key.
        const held = keys.length - (parkedKey(keys, tags) ? 1 : 0);
        return {
          held,
          cap: IAM_KEYS_PER_USER,
          account: `IAM user "${user}"`,
          makeRoom: `If the other key is the previous key of a rotation still in its grace period, wait for its scheduled revocation (rekey status shows it); otherwise deactivate and delete the key you do not need (aws iam list-access-keys --user-name ${user}). IAM allows ${IAM_KEYS_PER_USER} access keys per user, not adjustable`,
        };
      },

      async findKeysByName(name) {
        const [keys, tags] = await Promise.all([listKeys(), listTags()]);
        const found: ProviderKeyRef[] = keys
          .filter((k) => tags.get(nameTag(k.AccessKeyId!)) === name)
          .map((k) => ({ id: k.AccessKeyId!, name }));
        const [creating, startedAt, ...before] = (tags.get(CREATING_TAG) ?? '').split(' ');
        if (creating === name) {
          // A create that crashed before naming its key: the unnamed key that was not there before and
          // was made right after the marker — never a key someone added later by hand.
          const started = Date.parse(startedAt ?? '');
          for (const key of keys) {
            const id = key.AccessKeyId!;
            const madeThen =
              key.CreateDate !== undefined &&
              Math.abs(key.CreateDate.getTime() - started) <= CREATE_WINDOW_MS;
            if (
              madeThen &&
              !before.includes(id) &&
              !tags.has(nameTag(id)) &&
              !found.some((f) => f.id === id)
            ) {
              found.push({ id, name });
            }
          }
        }
        return found;
      },

      validateKey,

      async identifies(key) {
        // SigV4 signs each request with the secret access key under its access key id: STS accepts a secret
        // only together with its own access key id (anything else is SignatureDoesNotMatch or
        // InvalidClientTokenId), so validateKey, which signs GetCallerIdentity with key.id and key.value,
        // already proves the id — this repeats that call.
        return (await validateKey(key)) === 'accepted'
          ? { verdict: 'matches' }
          : {
              verdict: 'differs',
              find: `the access key id (AKIA…) of IAM user "${user}": aws iam list-access-keys --user-name ${user}, or the IAM console's Security credentials tab`,
            };
      },

      async revokeKey(keyId) {
        return deleteKey(keyId);
      },

      async lastUsed(keyId) {
        const answer = await callOrFail('get access key last used', () =>
          iam.send(new GetAccessKeyLastUsedCommand({ AccessKeyId: keyId })),
        );
        const used = answer.AccessKeyLastUsed;
        // rekey's own checks call STS with the key; a last use by STS is not evidence that apps use it.
        if (!used?.LastUsedDate || used.ServiceName === 'sts') return null;
        return used.LastUsedDate;
      },
    };

    async function isYoungActiveKey(keyId: string): Promise<boolean> {
      const key = (await listKeys()).find((k) => k.AccessKeyId === keyId);
      return (
        key?.Status === 'Active' &&
        key.CreateDate !== undefined &&
        now().getTime() - key.CreateDate.getTime() < YOUNG_KEY_MS
      );
    }
  },
};
