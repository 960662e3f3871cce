import { sendgrid } from '../../lambdas/providers/sendgrid.js';
import type { ProviderDefinition } from '../../lambdas/providers/types.js';
import type { ProviderSandbox } from '../sandboxes/sandbox.js';
import { SendGridSandbox } from '../sandboxes/sendgrid.js';

/** A key as the rehearsal's fleet and invariant monitors use it. */
export interface RehearsalKey {
  id: string;
  value: string;
}

/** A provider's sandbox as the rehearsal drives it: seeds, the app's call, and what an auditor would see. */
export interface RehearsalSandbox {
  readonly sandbox: ProviderSandbox;
  /** The rotator credential document. */
  readonly credential: Record<string, unknown>;
  /** The key document's `options` for keys of this provider. */
  readonly options: Record<string, unknown>;
  /** Creates the key an application uses before rekey manages it. */
  seedAppKey(name: string): RehearsalKey;
  accepts(key: RehearsalKey): boolean;
  /** Ids of every key at the provider except the rotator's credential. */
  appKeyIds(): string[];
  /** The authenticated call an application makes with a key; the HTTP status. */
  appCall(key: RehearsalKey): Promise<number>;
  /** Deletes a key out of band (a key that "went bad"). */
  breakKey(keyId: string): void;
  /** Makes the key-management API answer 503 (true) or work again (false); app calls keep working. */
  failKeyManagement(down: boolean): void;
  /** Makes the next key validation (testSecret's call) answer 401. */
  failNextValidation(): void;
}

export interface RehearsalProvider {
  definition: ProviderDefinition;
  start(): Promise<RehearsalSandbox>;
}

const sendgridRehearsal: RehearsalProvider = {
  definition: sendgrid,
  async start() {
    const sandbox = new SendGridSandbox();
    await sandbox.start();
    const admin = sandbox.seedKey('rekey-rotator');
    return {
      sandbox,
      credential: { apiKey: admin.value },
      options: {},
      seedAppKey: (name) => sandbox.seedKey(name, ['mail.send']),
      accepts: (key) => sandbox.accepts(key.value),
      appKeyIds: () =>
        sandbox
          .listKeys()
          .filter((k) => k.id !== admin.id)
          .map((k) => k.id),
      async appCall(key) {
        const res = await fetch(`${sandbox.url}/v3/mail/send`, {
          method: 'POST',
          headers: { authorization: `Bearer ${key.value}`, 'content-type': 'application/json' },
          body: '{}',
        });
        await res.arrayBuffer();
        return res.status;
      },
      breakKey: (keyId) => sandbox.deleteKey(keyId),
      failKeyManagement(down) {
        if (down)
          sandbox.injectFault({
            status: 503,
            times: Number.MAX_SAFE_INTEGER,
            match: (req) => req.path.startsWith('/v3/api_keys'),
          });
        else sandbox.clearFaults();
      },
      failNextValidation: () =>
        sandbox.injectFault({ status: 401, times: 1, match: (req) => req.path === '/v3/scopes' }),
    };
  },
};

/** Providers the rehearsal can rotate, by adapter name. */
export const REHEARSAL_PROVIDERS: Record<string, RehearsalProvider> = { sendgrid: sendgridRehearsal };
