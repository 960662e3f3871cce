import type { KeyMaterial, ProviderDefinition } from '../../lambdas/providers/types.js';
import type { ProviderSandbox, SandboxRequest } from '../../local/sandboxes/sandbox.js';

/** A raw request that breaks the provider's documented API, and how the provider answers it. */
export interface ApiViolation {
  /** What is wrong with the request ("wrong auth scheme", "form body where JSON is documented"). */
  what: string;
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string;
  /** Documented status for this mistake. */
  status: number;
  /** Holds when the body (parsed JSON, or the raw text of any other body) has the provider's error shape. */
  errorShape: (body: unknown) => boolean;
}

/**
 * One provider's sandbox, seeded with the rotator's admin credential and an application's current key,
 * as the shared contract suite sees it. Everything here reads the sandbox's state directly (what an
 * auditor would see in the provider's console), never through the adapter under test.
 */
export interface SeededProvider {
  sandbox: ProviderSandbox;
  /** Matches the request by which the adapter creates a key, for faults that lose or refuse it. */
  createRequest(req: SandboxRequest): boolean;
  /** The rotator credential document, as stored in its secret. */
  credential: Record<string, unknown>;
  /** The key document's `options`. */
  options: Record<string, unknown>;
  /** The application's current key. */
  current: KeyMaterial;
  /** Keys at the provider other than the rotator's own credential. */
  appKeys(): Array<{ id: string; name: string }>;
  /** What a key is allowed to do (scopes, policies, …) as the provider stores it. */
  permissionsOf(id: string): unknown;
  /** Whether the provider authenticates a request made with this key. */
  accepts(key: KeyMaterial): boolean;
  /** Creates keys out of band until one more would exceed the provider's key limit. */
  fillToLimit?(): void;
  /** Creates `count` keys out of band (other teams' keys), to push a key past the first list page. */
  addOtherKeys?(count: number): void;
  /** Makes an application call with the key (so the provider records a use). */
  use?(key: KeyMaterial): Promise<void>;
  /** Requests that break the documented API; the sandbox must refuse each as the provider does. */
  violations: ApiViolation[];
}

export interface ContractFixture {
  provider: ProviderDefinition;
  /** Which configuration of the provider this fixture exercises, when a provider registers several. */
  variant?: string;
  /** How many keys one page of the provider's key list holds, where a full account spans pages. */
  listPageSize?: number;
  /** The provider's documented key limit, where it has one (the fixture then implements `fillToLimit`). */
  keyLimit?: number;
  /**
   * What the adapter's `identifies` can tell of a key id: `full` — whether it is the id of the value given;
   * `existence` — only whether a key with that id exists (the provider's API never relates a value to its
   * id). Omitted: the adapter has no `identifies`.
   */
  keyIdCheck?: 'full' | 'existence';
  /** A started sandbox with its seeds; `now` is the clock the sandbox stamps events with. */
  seed(now: () => Date): Promise<SeededProvider>;
}
