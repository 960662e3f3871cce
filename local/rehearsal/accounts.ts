import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Clock } from '../clock.js';
import type { Fault } from '../sandboxes/sandbox.js';
import type {
  RehearsalKey,
  RehearsalProvider,
  RehearsalSandbox,
  RehearsalSandboxServer,
} from './providers.js';

/** Starts `provider` with as many accounts as `keys` managed keys need under its cap, behind one endpoint. */
export async function startAccounts(
  provider: RehearsalProvider,
  clock: Clock,
  keys: number,
): Promise<RehearsalSandbox> {
  const perAccount = provider.keysPerAccount ?? Number.POSITIVE_INFINITY;
  const count = Math.max(1, Math.ceil(keys / perAccount));
  const accounts: RehearsalSandbox[] = [];
  for (let i = 0; i < count; i++) {
    const account = await provider.start(clock);
    // The rehearsal reads no request log: one kept per call would grow with the run.
    account.sandbox.keepRequests = false;
    accounts.push(account);
  }
  return accountsOf(accounts, perAccount);
}

/**
 * Several accounts of one provider behind one endpoint, as the provider's real API is one URL that tells
 * accounts apart by the credential a request carries. Providers cap the keys an account holds (SendGrid 100
 * API keys, Datadog 50 per organization, Cloudflare 50 user tokens): a rehearsal with more keys than that
 * spreads them over as many accounts as the cap needs, each with its own rotator credential.
 *
 * Each account is its own sandbox; a front server forwards every request to the account that issued a
 * credential the request carries (a header value, a bearer token, either half of a basic credential), or to
 * the first account when none did (which then refuses it, as the provider would).
 */
async function accountsOf(accounts: RehearsalSandbox[], keysPerAccount: number): Promise<RehearsalSandbox> {
  if (accounts.length === 1) return accounts[0]!;
  const front = new AccountFront(accounts);
  await front.start();
  let seeded = 0;
  /** Secret value → the account that issued it, learnt as requests and keys meet them. */
  const issuer = new Map<string, RehearsalSandbox>();
  const accountOf = (value: string): RehearsalSandbox | undefined => {
    const known = issuer.get(value);
    if (known) return known;
    const found = accounts.find((a) => a.sandbox.issuedSecrets().includes(value));
    if (found) issuer.set(value, found);
    return found;
  };
  front.accountOf = (values) => {
    for (const value of values) {
      const account = accountOf(value);
      if (account) return account;
    }
    return accounts[0]!;
  };
  const holding = (keyId: string) => accounts.find((a) => a.appKeys().some((k) => k.id === keyId));
  const first = accounts[0]!;
  return {
    sandbox: front,
    credential: first.credential,
    options: first.options,
    seedAppKey(name) {
      const account = accounts[Math.floor(seeded / keysPerAccount)];
      if (!account)
        throw new Error(
          `${accounts.length} account(s) with room for ${keysPerAccount} key(s) each are full: start the provider for more keys`,
        );
      seeded += 1;
      return { ...account.seedAppKey(name), credential: account.credential };
    },
    accepts: (key) => accounts.some((a) => a.accepts(key)),
    appKeys: () => accounts.flatMap((a) => a.appKeys()),
    isCreate: (req) => first.isCreate(req),
    appCall: (key: RehearsalKey) => (accountOf(key.value) ?? first).appCall(key),
    breakKey: (keyId) => holding(keyId)?.breakKey(keyId),
    failKeyManagement: (down) => {
      for (const account of accounts) account.failKeyManagement(down);
    },
    failNextValidation: (keyId) => (holding(keyId) ?? first).failNextValidation(keyId),
  };
}

/** The one endpoint of several accounts' sandboxes. */
class AccountFront implements RehearsalSandboxServer {
  private server: Server | undefined;
  /** Set by accountsOf: the account a request's credential values belong to. */
  accountOf: (values: string[]) => RehearsalSandbox = () => this.accounts[0]!;
  /** The front forwards; it keeps no request log of its own. */
  readonly keepRequests = false;

  constructor(private readonly accounts: RehearsalSandbox[]) {}

  get url(): string {
    const address = this.server?.address() as AddressInfo | null | undefined;
    if (!address) throw new Error('account front not started');
    return `http://127.0.0.1:${address.port}`;
  }

  async start(): Promise<void> {
    const server = createServer((req, res) => void this.forward(req, res));
    server.keepAliveTimeout = 1000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', resolve);
    });
    this.server = server;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (server) {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
    for (const account of this.accounts) await account.sandbox.stop();
  }

  issuedSecrets(): string[] {
    return this.accounts.flatMap((a) => a.sandbox.issuedSecrets());
  }

  /** Each account gets the fault (and counts its own `times`). */
  injectFault(fault: Fault): void {
    for (const account of this.accounts) account.sandbox.injectFault(fault);
  }

  clearFaults(): void {
    for (const account of this.accounts) account.sandbox.clearFaults();
  }

  private async forward(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const account = this.accountOf(credentialValues(req));
    const headers = new Headers();
    for (const [name, value] of Object.entries(req.headers))
      if (value !== undefined && !HOP_BY_HOP.has(name))
        headers.set(name, Array.isArray(value) ? value.join(', ') : value);
    try {
      const answer = await fetch(new URL(req.url ?? '/', account.sandbox.url), {
        method: req.method ?? 'GET',
        headers,
        ...(chunks.length > 0 ? { body: Buffer.concat(chunks) } : {}),
      });
      const body = Buffer.from(await answer.arrayBuffer());
      const out: Record<string, string> = {};
      answer.headers.forEach((value, name) => {
        if (!HOP_BY_HOP.has(name) && name !== 'content-encoding') out[name] = value;
      });
      res.writeHead(answer.status, { ...out, 'content-length': String(body.length) });
      res.end(body);
    } catch {
      // The account cut the connection (an injected lost answer): cut this one too.
      res.destroy();
    }
  }
}

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'content-length', 'host']);

/**
 * The values a request could authenticate with: bearer tokens and basic credentials' halves first, then every
 * header value (Datadog's keys travel in headers of their own).
 */
function credentialValues(req: IncomingMessage): string[] {
  const tokens: string[] = [];
  const values: string[] = [];
  for (const [name, raw] of Object.entries(req.headers)) {
    if (raw === undefined || HOP_BY_HOP.has(name)) continue;
    for (const value of Array.isArray(raw) ? raw : [raw]) {
      values.push(value);
      const [scheme, token] = value.split(' ', 2);
      if (!token) continue;
      if (/^bearer$/i.test(scheme!)) tokens.push(token);
      if (/^basic$/i.test(scheme!)) tokens.push(...Buffer.from(token, 'base64').toString().split(':'));
    }
  }
  return [...tokens, ...values];
}
