import { randomBytes } from 'node:crypto';
import { type Clock, systemClock } from '../clock.js';
import { ProviderSandbox, type RateLimit, type SandboxRequest, type SandboxResponse } from './sandbox.js';
import { sigV4Scope, verifySigV4 } from './sigv4.js';

type KeyStatus = 'Active' | 'Inactive';

interface AccessKey {
  id: string;
  secret: string;
  userName: string;
  status: KeyStatus;
  createDate: Date;
  /** Before this, STS refuses the key: IAM has not propagated it yet. */
  usableFrom: Date;
  /** Before this, ListAccessKeys leaves the key out (IAM's listings are eventually consistent too). */
  listedFrom: Date;
  lastUsed: { date: Date; service: string; region: string } | null;
}

interface User {
  name: string;
  id: string;
  tags: Map<string, string>;
}

const IAM_VERSION = '2010-05-08';
const STS_VERSION = '2011-06-15';
const IAM_NS = `https://iam.amazonaws.com/doc/${IAM_VERSION}/`;
const STS_NS = `https://sts.amazonaws.com/doc/${STS_VERSION}/`;
/** IAM quotas: "Access keys assigned to an IAM user: 2", "Tags per IAM user: 50". */
const KEYS_PER_USER = 2;
const TAGS_PER_USER = 50;
const TAG_CHARS = /^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$/u;
const USER_NAME = /^[\w+=,.@-]{1,64}$/;
/** The actions an application key may call: STS identity and an IAM-authorized API (`execute-api`). */
const IAM_ACTIONS = new Set([
  'CreateAccessKey',
  'ListAccessKeys',
  'UpdateAccessKey',
  'DeleteAccessKey',
  'GetAccessKeyLastUsed',
  'ListUserTags',
  'TagUser',
  'UntagUser',
]);

const xmlEscape = (value: string): string =>
  value.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const el = (name: string, value: string | undefined): string =>
  value === undefined ? '' : `<${name}>${xmlEscape(value)}</${name}>`;

class QueryError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly type: 'Sender' | 'Receiver' = 'Sender',
  ) {
    super(message);
  }
}

/**
 * AWS IAM access keys and STS, as the AWS Query protocol serves them (form-encoded POST with `Action` and
 * `Version`, XML answers, `<ErrorResponse>` errors) and SigV4 authenticates them: every request is verified
 * against the secret of the access key it claims, so a forged or deactivated key is refused as AWS refuses
 * it (403 SignatureDoesNotMatch / InvalidClientTokenId). One port serves IAM (signing name `iam`), STS
 * (`sts`) and an application API behind IAM authorization (`execute-api`, any path), told apart by the
 * signature's credential scope. Only the rotator's key may call IAM; application keys may call STS and the
 * application API. Quotas: two access keys and 50 tags per user. Every authenticated request records the
 * key's last use (date, service, region), as GetAccessKeyLastUsed reports it. A new key can be made to
 * take `propagationMs` before STS accepts it and `listingLagMs` before ListAccessKeys shows it, like IAM's
 * eventual consistency.
 */
export class AwsIamSandbox extends ProviderSandbox {
  readonly accountId = String(100_000_000_000 + Math.floor(Math.random() * 899_999_999_999));
  /** How long a key made through CreateAccessKey is refused before IAM has propagated it. */
  propagationMs = 0;
  /** How long a key made through CreateAccessKey is missing from ListAccessKeys. */
  listingLagMs = 0;
  private readonly users = new Map<string, User>();
  private readonly keys = new Map<string, AccessKey>();
  private adminKeyId: string | undefined;
  /**
   * IAM's request rate per account, when set. IAM and STS throttle with token buckets whose sizes and refill
   * rates depend on the API and are not published (AWS Security Blog, "How to monitor and query IAM resources
   * at scale – Part 2"), so none is enforced by default. Past one, IAM answers "Throttling: Rate exceeded" with
   * HTTP 400 (AWS knowledge center, "resolve API throttling errors for IAM and AWS STS").
   */
  rateLimit: RateLimit | undefined;

  constructor(private readonly clock: Clock = systemClock) {
    super();
  }

  protected override throttle(req: SandboxRequest): SandboxResponse | undefined {
    if (!this.rateLimit || sigV4Scope(req)?.service !== 'iam') return undefined;
    if (!this.rateWindows.take('iam', this.rateLimit).over) return undefined;
    return {
      status: 400,
      headers: { 'content-type': 'text/xml' },
      body: errorXml(IAM_NS, new QueryError(400, 'Throttling', 'Rate exceeded')),
    };
  }

  /** The rotator: a user allowed to manage access keys (in AWS, a role or user with the README's policy). */
  seedAdmin(userName = 'rekey-rotator'): { accessKeyId: string; secretAccessKey: string } {
    const key = this.newKey(this.user(userName));
    this.adminKeyId = key.id;
    return { accessKeyId: key.id, secretAccessKey: key.secret };
  }

  /** An application's IAM user with one access key, made in the console before rekey manages it. */
  seedAccessKey(userName: string): { id: string; value: string } {
    const key = this.newKey(this.user(userName));
    return { id: key.id, value: key.secret };
  }

  arnOf(userName: string): string {
    return `arn:aws:iam::${this.accountId}:user/${userName}`;
  }

  /** Every access key but the rotator's. */
  listKeys(): Array<{ id: string; userName: string; status: KeyStatus; name?: string }> {
    return [...this.keys.values()]
      .filter((k) => k.id !== this.adminKeyId)
      .map((k) => {
        const name = this.users.get(k.userName)?.tags.get(`rekey:${k.id}`);
        return { id: k.id, userName: k.userName, status: k.status, ...(name === undefined ? {} : { name }) };
      });
  }

  userTags(userName: string): Record<string, string> {
    return Object.fromEntries(this.users.get(userName)?.tags ?? []);
  }

  /** Whether STS would authenticate a request signed with this key pair. */
  accepts(id: string, secret: string): boolean {
    const key = this.keys.get(id);
    return !!key && key.secret === secret && this.usable(key);
  }

  /** Deletes a key out of band (in the console). */
  deleteKey(id: string): void {
    this.keys.delete(id);
  }

  /** Sets a key's status out of band. */
  setStatus(id: string, status: KeyStatus): void {
    const key = this.keys.get(id);
    if (key) key.status = status;
  }

  protected errorBody(status: number, message: string): string {
    // Injected faults: 429 is IAM's throttling, 403 a refused signature, anything else an outage.
    const error =
      status === 429
        ? new QueryError(status, 'Throttling', 'Rate exceeded')
        : status === 403
          ? new QueryError(
              status,
              'SignatureDoesNotMatch',
              'The request signature we calculated does not match the signature you provided.',
            )
          : new QueryError(status, 'ServiceUnavailable', message, 'Receiver');
    return errorXml(IAM_NS, error);
  }

  protected route(req: SandboxRequest): SandboxResponse {
    const scope = sigV4Scope(req);
    const ns = scope?.service === 'sts' ? STS_NS : IAM_NS;
    try {
      const check = verifySigV4(req, (id) => {
        const key = this.keys.get(id);
        return key && this.usable(key) ? key.secret : undefined;
      });
      if (!check.ok) {
        const status = check.code === 'IncompleteSignature' ? 400 : 403;
        throw new QueryError(status, check.code, check.message);
      }
      const caller = this.keys.get(check.accessKeyId)!;
      caller.lastUsed = { date: this.clock.now(), service: check.service, region: check.region };
      if (check.service === 'execute-api') {
        return { status: 200, body: { ok: true, caller: this.arnOf(caller.userName) } };
      }
      if (check.service !== 'iam' && check.service !== 'sts') {
        throw new QueryError(400, 'InvalidAction', `This endpoint does not serve ${check.service}.`);
      }
      const params = this.params(req, check.service === 'sts' ? STS_VERSION : IAM_VERSION);
      const action = params.get('Action')!;
      if (check.service === 'sts') {
        if (action !== 'GetCallerIdentity')
          throw new QueryError(
            400,
            'InvalidAction',
            `Could not find operation ${action} for version ${STS_VERSION}`,
          );
        return this.xml(
          STS_NS,
          action,
          el('Arn', this.arnOf(caller.userName)) +
            el('UserId', this.users.get(caller.userName)!.id) +
            el('Account', this.accountId),
        );
      }
      if (!IAM_ACTIONS.has(action))
        throw new QueryError(
          400,
          'InvalidAction',
          `Could not find operation ${action} for version ${IAM_VERSION}`,
        );
      if (caller.id !== this.adminKeyId) {
        throw new QueryError(
          403,
          'AccessDenied',
          `User: ${this.arnOf(caller.userName)} is not authorized to perform: iam:${action} on resource: user ${params.get('UserName') ?? caller.userName} because no identity-based policy allows the iam:${action} action`,
        );
      }
      return this.iam(action, params, caller);
    } catch (error) {
      if (error instanceof QueryError) {
        return { status: error.status, headers: { 'content-type': 'text/xml' }, body: errorXml(ns, error) };
      }
      throw error;
    }
  }

  private iam(action: string, params: URLSearchParams, caller: AccessKey): SandboxResponse {
    if (action === 'GetAccessKeyLastUsed') {
      const id = required(params, 'AccessKeyId');
      const key = this.keys.get(id);
      if (!key) throw new QueryError(404, 'NoSuchEntity', `The Access Key with id ${id} cannot be found.`);
      const used = key.lastUsed;
      return this.xml(
        IAM_NS,
        action,
        el('UserName', key.userName) +
          `<AccessKeyLastUsed>${el('LastUsedDate', used?.date.toISOString())}${el('ServiceName', used?.service ?? 'N/A')}${el('Region', used?.region ?? 'N/A')}</AccessKeyLastUsed>`,
      );
    }
    // The access key actions default to the caller's own user; the tag actions require UserName.
    const user = this.existingUser(
      action.endsWith('AccessKey') || action === 'ListAccessKeys'
        ? (params.get('UserName') ?? caller.userName)
        : required(params, 'UserName'),
    );
    switch (action) {
      case 'CreateAccessKey': {
        const owned = this.keysOf(user.name);
        if (owned.length >= KEYS_PER_USER) {
          throw new QueryError(
            409,
            'LimitExceeded',
            `Cannot exceed quota for AccessKeysPerUser: ${KEYS_PER_USER}`,
          );
        }
        const key = this.newKey(user, true);
        return this.xml(
          IAM_NS,
          action,
          `<AccessKey>${keyXml(key)}${el('SecretAccessKey', key.secret)}</AccessKey>`,
        );
      }
      case 'ListAccessKeys': {
        const now = this.clock.now().getTime();
        const listed = this.keysOf(user.name).filter((k) => now >= k.listedFrom.getTime());
        const { page, marker } = paged(listed, params);
        return this.xml(
          IAM_NS,
          action,
          `<AccessKeyMetadata>${page.map((k) => `<member>${keyXml(k)}</member>`).join('')}</AccessKeyMetadata>` +
            el('IsTruncated', String(marker !== undefined)) +
            el('Marker', marker),
        );
      }
      case 'UpdateAccessKey': {
        const key = this.ownedKey(user, required(params, 'AccessKeyId'));
        const status = required(params, 'Status');
        if (status !== 'Active' && status !== 'Inactive') {
          throw new QueryError(
            400,
            'ValidationError',
            `1 validation error detected: Value '${status}' at 'status' failed to satisfy constraint: Member must satisfy enum value set: [Active, Inactive]`,
          );
        }
        key.status = status;
        return this.xml(IAM_NS, action, '');
      }
      case 'DeleteAccessKey': {
        this.keys.delete(this.ownedKey(user, required(params, 'AccessKeyId')).id);
        return this.xml(IAM_NS, action, '');
      }
      case 'ListUserTags': {
        const { page, marker } = paged([...user.tags], params);
        return this.xml(
          IAM_NS,
          action,
          `<Tags>${page.map(([k, v]) => `<member>${el('Key', k)}${el('Value', v)}</member>`).join('')}</Tags>` +
            el('IsTruncated', String(marker !== undefined)) +
            el('Marker', marker),
        );
      }
      case 'TagUser': {
        const tags = new Map(user.tags);
        for (let i = 1; params.has(`Tags.member.${i}.Key`); i++) {
          const key = params.get(`Tags.member.${i}.Key`)!;
          const value = params.get(`Tags.member.${i}.Value`) ?? '';
          if (
            key.length < 1 ||
            key.length > 128 ||
            value.length > 256 ||
            !TAG_CHARS.test(key) ||
            !TAG_CHARS.test(value)
          ) {
            throw new QueryError(400, 'InvalidInput', `Tag key or value is invalid: "${key}".`);
          }
          tags.set(key, value);
        }
        if (tags.size === user.tags.size && !params.has('Tags.member.1.Key')) {
          throw new QueryError(
            400,
            'ValidationError',
            "1 validation error detected: Value null at 'tags' failed to satisfy constraint: Member must not be null",
          );
        }
        if (tags.size > TAGS_PER_USER) {
          throw new QueryError(409, 'LimitExceeded', `Cannot exceed quota for TagsPerUser: ${TAGS_PER_USER}`);
        }
        user.tags = tags;
        return this.xml(IAM_NS, action, '');
      }
      case 'UntagUser': {
        for (let i = 1; params.has(`TagKeys.member.${i}`); i++)
          user.tags.delete(params.get(`TagKeys.member.${i}`)!);
        return this.xml(IAM_NS, action, '');
      }
    }
    throw new QueryError(400, 'InvalidAction', `Could not find operation ${action}`);
  }

  /** The Query protocol's parameters: a form body (or, for GET, the query string) with Action and Version. */
  private params(req: SandboxRequest, version: string): URLSearchParams {
    let params: URLSearchParams;
    if (req.method === 'GET') params = req.query;
    else if (req.method === 'POST') {
      const type = String(req.headers['content-type'] ?? '');
      if (!type.startsWith('application/x-www-form-urlencoded')) {
        throw new QueryError(
          400,
          'MissingAction',
          'Missing Action: the body must be application/x-www-form-urlencoded',
        );
      }
      params = new URLSearchParams(req.body);
    } else throw new QueryError(400, 'InvalidAction', `${req.method} is not a Query API method`);
    if (!params.get('Action')) throw new QueryError(400, 'MissingAction', 'Missing Action');
    if (params.get('Version') !== version) {
      throw new QueryError(400, 'InvalidParameterValue', `Version must be ${version}`);
    }
    return params;
  }

  private usable(key: AccessKey): boolean {
    return key.status === 'Active' && this.clock.now().getTime() >= key.usableFrom.getTime();
  }

  private user(name: string): User {
    let user = this.users.get(name);
    if (!user) {
      user = { name, id: `AIDA${randomId(17)}`, tags: new Map() };
      this.users.set(name, user);
    }
    return user;
  }

  private existingUser(name: string): User {
    if (!USER_NAME.test(name)) {
      throw new QueryError(
        400,
        'ValidationError',
        `1 validation error detected: Value '${name}' at 'userName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]+`,
      );
    }
    const user = this.users.get(name);
    if (!user) throw new QueryError(404, 'NoSuchEntity', `The user with name ${name} cannot be found.`);
    return user;
  }

  private ownedKey(user: User, id: string): AccessKey {
    const key = this.keys.get(id);
    if (!key || key.userName !== user.name) {
      throw new QueryError(404, 'NoSuchEntity', `The Access Key with id ${id} cannot be found.`);
    }
    return key;
  }

  private keysOf(userName: string): AccessKey[] {
    return [...this.keys.values()].filter((k) => k.userName === userName);
  }

  /** A key; one made through the API (`propagating`) is refused and unlisted for a while (see above). */
  private newKey(user: User, propagating = false): AccessKey {
    const now = this.clock.now();
    const key: AccessKey = {
      id: `AKIA${randomId(16)}`,
      secret: randomBytes(30).toString('base64').replace(/[+/]/g, 'x').slice(0, 40),
      userName: user.name,
      status: 'Active',
      createDate: now,
      usableFrom: new Date(now.getTime() + (propagating ? this.propagationMs : 0)),
      listedFrom: new Date(now.getTime() + (propagating ? this.listingLagMs : 0)),
      lastUsed: null,
    };
    this.keys.set(key.id, key);
    this.recordIssued(key.secret);
    return key;
  }

  private xml(ns: string, action: string, result: string): SandboxResponse {
    return {
      status: 200,
      headers: { 'content-type': 'text/xml' },
      body:
        `<${action}Response xmlns="${ns}">${result ? `<${action}Result>${result}</${action}Result>` : ''}` +
        `<ResponseMetadata><RequestId>${crypto.randomUUID()}</RequestId></ResponseMetadata></${action}Response>`,
    };
  }
}

function required(params: URLSearchParams, name: string): string {
  const value = params.get(name);
  if (!value) {
    const member = name[0]!.toLowerCase() + name.slice(1);
    throw new QueryError(
      400,
      'ValidationError',
      `1 validation error detected: Value null at '${member}' failed to satisfy constraint: Member must not be null`,
    );
  }
  return value;
}

/** IAM's Marker/MaxItems paging (MaxItems 1–1000, default 100). */
function paged<T>(items: T[], params: URLSearchParams): { page: T[]; marker: string | undefined } {
  const max = Number(params.get('MaxItems') ?? 100);
  if (!Number.isInteger(max) || max < 1 || max > 1000) {
    throw new QueryError(400, 'ValidationError', 'MaxItems must be between 1 and 1000');
  }
  const start = Number(params.get('Marker') ?? 0);
  const page = items.slice(start, start + max);
  return { page, marker: start + max < items.length ? String(start + max) : undefined };
}

function keyXml(key: AccessKey): string {
  return (
    el('UserName', key.userName) +
    el('AccessKeyId', key.id) +
    el('Status', key.status) +
    el('CreateDate', key.createDate.toISOString())
  );
}

function errorXml(ns: string, error: QueryError): string {
  return (
    `<ErrorResponse xmlns="${ns}"><Error>${el('Type', error.type)}${el('Code', error.code)}${el('Message', error.message)}</Error>` +
    `<RequestId>${crypto.randomUUID()}</RequestId></ErrorResponse>`
  );
}

const ID_CHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
function randomId(length: number): string {
  return [...randomBytes(length)].map((b) => ID_CHARS[b % 32]).join('');
}
