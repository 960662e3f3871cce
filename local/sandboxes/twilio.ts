import { randomBytes } from 'node:crypto';
import { type Clock, systemClock } from '../clock.js';
import { ProviderSandbox, type SandboxRequest, type SandboxResponse } from './sandbox.js';

/** Main keys are made in the Console only; the API creates standard and restricted keys. */
export type TwilioKeyType = 'main' | 'standard' | 'restricted';

interface TwilioKey {
  sid: string;
  /** Null for a key made without a FriendlyName (twilio-oai marks friendly_name nullable). */
  friendlyName: string | null;
  secret: string;
  type: TwilioKeyType;
  policy: { allow: string[] } | null;
  dateCreated: Date;
}

const MESSAGES_CREATE = '/twilio/messaging/messages/create';
/**
 * Twilio limits how many REST requests an account has in flight at once (error 20429, "Too many requests":
 * "your account exceeds allowed concurrency to Twilio's REST API"; 429 responses are not processed and are
 * safe to retry; the Twilio-Concurrent-Requests header reports the load). Twilio publishes no number: 100
 * concurrent requests is the figure integrators commonly report, so the sandbox uses it by default.
 */
export const TWILIO_CONCURRENCY_LIMIT = 100;
const PAGE_SIZE_MAX = 1000;

/** RFC 2822 in GMT, as Twilio formats dates ("Mon, 13 Jun 2016 22:50:08 +0000"). */
function rfc2822(date: Date): string {
  return date.toUTCString().replace('GMT', '+0000');
}

export interface TwilioSandboxOptions {
  /**
   * The account is a subaccount: it carries no balance information (twilio-oai FetchBalance), so its
   * Balance resource answers 404 here — Twilio documents the absence, not the status.
   */
  subaccount?: boolean;
}

/**
 * Twilio's API keys as documented in twilio-oai: `iam.twilio.com/v1/Keys` (list/create with AccountSid,
 * FriendlyName, KeyType=restricted + Policy; fetch/update/delete by SK sid) and the 2010 API's Account,
 * Balance and Messages resources on `api.twilio.com`, both served here on one port. HTTP basic auth with the account SID
 * and auth token or a key SID and secret; form-encoded bodies; errors `{code, message, more_info, status}`.
 * Standard and restricted keys may not manage keys; a key's secret is shown only at creation.
 */
export class TwilioSandbox extends ProviderSandbox {
  readonly accountSid = `AC${randomBytes(16).toString('hex')}`;
  readonly authToken = randomBytes(16).toString('hex');
  private readonly keys = new Map<string, TwilioKey>();
  /** Requests an account may have in flight at once; undefined turns the limit off. */
  concurrencyLimit: number | undefined = TWILIO_CONCURRENCY_LIMIT;

  constructor(
    private readonly clock: Clock = systemClock,
    private readonly options: TwilioSandboxOptions = {},
  ) {
    super();
    this.recordIssued(this.authToken);
  }

  protected override throttle(): SandboxResponse | undefined {
    if (this.concurrencyLimit === undefined || this.inFlight <= this.concurrencyLimit) return undefined;
    const response = this.fail(429, 20429, 'Too Many Requests');
    return { ...response, headers: { 'twilio-concurrent-requests': String(this.inFlight) } };
  }

  /** A key made in the Twilio Console (a Main key for the rotator, or an app's first key); null: unnamed. */
  seedKey(
    friendlyName: string | null,
    type: TwilioKeyType,
    policy: { allow: string[] } | null = null,
  ): { id: string; value: string } {
    const key = this.newKey(friendlyName, type, policy);
    return { id: key.sid, value: key.secret };
  }

  listKeys(): Array<{ id: string; name: string; type: TwilioKeyType; policy: { allow: string[] } | null }> {
    return [...this.keys.values()].map((k) => ({
      id: k.sid,
      name: k.friendlyName ?? '',
      type: k.type,
      policy: k.policy,
    }));
  }

  /** Deletes a key out of band (a key deleted in the Console). */
  deleteKey(sid: string): void {
    this.keys.delete(sid);
  }

  /** Whether basic auth with this SID and secret authenticates. */
  accepts(sid: string, secret: string): boolean {
    return this.keys.get(sid)?.secret === secret;
  }

  protected errorBody(status: number, message: string): unknown {
    return this.fail(status, status === 429 ? 20429 : 20500, message).body;
  }

  private fail(status: number, code: number, message: string): SandboxResponse {
    return {
      status,
      body: { code, message, more_info: `https://www.twilio.com/docs/errors/${code}`, status },
    };
  }

  private newKey(
    friendlyName: string | null,
    type: TwilioKeyType,
    policy: { allow: string[] } | null,
  ): TwilioKey {
    const key: TwilioKey = {
      sid: `SK${randomBytes(16).toString('hex')}`,
      friendlyName,
      secret: randomBytes(24).toString('base64url').slice(0, 32),
      type,
      policy,
      dateCreated: this.clock.now(),
    };
    this.keys.set(key.sid, key);
    this.recordIssued(key.secret);
    return key;
  }

  /** Who the basic-auth header names: the account itself (auth token) or one of its keys. */
  private caller(req: SandboxRequest): 'account' | TwilioKey | undefined {
    const match = /^Basic (\S+)$/.exec(String(req.headers.authorization ?? ''));
    if (!match) return undefined;
    const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) return undefined;
    const user = decoded.slice(0, colon);
    const password = decoded.slice(colon + 1);
    if (user === this.accountSid && password === this.authToken) return 'account';
    const key = this.keys.get(user);
    return key && key.secret === password ? key : undefined;
  }

  private form(req: SandboxRequest): URLSearchParams {
    // Twilio reads parameters from a form body only; a JSON body carries no parameters at all.
    return String(req.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded')
      ? new URLSearchParams(req.body)
      : new URLSearchParams();
  }

  private keyJson(key: TwilioKey, withSecret: boolean): Record<string, unknown> {
    return {
      sid: key.sid,
      friendly_name: key.friendlyName,
      date_created: rfc2822(key.dateCreated),
      date_updated: rfc2822(key.dateCreated),
      ...(withSecret ? { secret: key.secret } : {}),
      policy: key.policy,
    };
  }

  protected route(req: SandboxRequest): SandboxResponse {
    const caller = this.caller(req);
    if (!caller) return this.fail(401, 20003, 'Authenticate');
    const notFound = (): SandboxResponse =>
      this.fail(404, 20404, `The requested resource ${req.path} was not found`);

    const account = /^\/2010-04-01\/Accounts\/(AC[0-9a-f]{32})(\/Balance|\/Messages)?\.json$/.exec(req.path);
    if (account) {
      if (account[1] !== this.accountSid) return notFound();
      if (account[2] === undefined && req.method === 'GET')
        return {
          status: 200,
          body: {
            sid: this.accountSid,
            friendly_name: this.options.subaccount ? 'Customer subaccount' : 'Main account',
            status: 'active',
            type: 'Full',
          },
        };
      if (account[2] === '/Balance' && req.method === 'GET')
        return this.options.subaccount
          ? notFound()
          : { status: 200, body: { account_sid: this.accountSid, balance: '20.00', currency: 'USD' } };
      if (account[2] === '/Messages' && req.method === 'POST') {
        if (
          caller !== 'account' &&
          caller.type === 'restricted' &&
          !caller.policy?.allow.includes(MESSAGES_CREATE)
        )
          return this.fail(403, 20403, 'Forbidden');
        const form = this.form(req);
        for (const field of ['To', 'Body'])
          if (!form.get(field)) return this.fail(400, 21604, `A '${field}' parameter is required.`);
        return { status: 201, body: { sid: `SM${randomBytes(16).toString('hex')}`, status: 'queued' } };
      }
      return notFound();
    }

    const item = /^\/v1\/Keys\/([^/]+)$/.exec(req.path);
    if (req.path !== '/v1/Keys' && !item) return notFound();
    // Only the account's auth token or a Main key may manage keys.
    if (caller !== 'account' && caller.type !== 'main') return this.fail(401, 20003, 'Authenticate');

    if (req.path === '/v1/Keys' && req.method === 'GET') {
      if (req.query.get('AccountSid') !== this.accountSid)
        return this.fail(400, 20001, 'Missing required parameter AccountSid in the query string');
      const pageSize = Number(req.query.get('PageSize') ?? 50);
      if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > PAGE_SIZE_MAX)
        return this.fail(400, 20001, `PageSize must be between 1 and ${PAGE_SIZE_MAX}`);
      const page = Number(req.query.get('Page') ?? 0);
      const all = [...this.keys.values()];
      const slice = all.slice(page * pageSize, (page + 1) * pageSize);
      // twilio-oai ListGetKeys: the page URLs are absolute URIs on iam.twilio.com.
      const pageUrl = (n: number) =>
        `https://iam.twilio.com/v1/Keys?AccountSid=${this.accountSid}&PageSize=${pageSize}&Page=${n}`;
      return {
        status: 200,
        body: {
          keys: slice.map((k) => {
            const { policy: _policy, ...listed } = this.keyJson(k, false);
            return listed;
          }),
          meta: {
            page,
            page_size: pageSize,
            first_page_url: pageUrl(0),
            previous_page_url: page > 0 ? pageUrl(page - 1) : null,
            url: pageUrl(page),
            next_page_url: (page + 1) * pageSize < all.length ? pageUrl(page + 1) : null,
            key: 'keys',
          },
        },
      };
    }
    if (req.path === '/v1/Keys' && req.method === 'POST') {
      const form = this.form(req);
      if (form.get('AccountSid') !== this.accountSid)
        return this.fail(400, 20001, 'Missing required parameter AccountSid in the post body');
      const friendlyName = form.get('FriendlyName');
      if (friendlyName !== null && friendlyName.length > 64)
        return this.fail(400, 20001, 'FriendlyName can be up to 64 characters long');
      const keyType = form.get('KeyType');
      let policy: { allow: string[] } | null = null;
      if (keyType !== null) {
        if (keyType !== 'restricted') return this.fail(400, 20001, 'KeyType must be restricted');
        try {
          const parsed = JSON.parse(form.get('Policy') ?? '') as { allow?: unknown };
          if (!Array.isArray(parsed.allow) || parsed.allow.some((p) => typeof p !== 'string'))
            throw new Error();
          policy = { allow: parsed.allow as string[] };
        } catch {
          return this.fail(400, 20001, 'A restricted key requires a Policy with an allow list');
        }
      }
      const key = this.newKey(friendlyName, keyType === 'restricted' ? 'restricted' : 'standard', policy);
      return { status: 201, body: this.keyJson(key, true) };
    }
    const key = item ? this.keys.get(decodeURIComponent(item[1]!)) : undefined;
    if (item && req.method === 'GET')
      return key ? { status: 200, body: this.keyJson(key, false) } : notFound();
    if (item && req.method === 'DELETE') {
      if (!key) return notFound();
      this.keys.delete(key.sid);
      return { status: 204 };
    }
    return this.fail(405, 20004, 'Method not allowed');
  }
}
