/**
 * The facts about a provider's API that rekey depends on, written down once per provider from the provider's
 * published API description (OpenAPI file and operationId, or the documentation page the description points
 * to). Facts carry over from the description; its text and code do not: every entry is a restatement.
 *
 * Field paths are dot-separated; `[]` after a name steps into every element of an array ("result[].name").
 * "" is the body itself.
 */

/** Where a fact comes from: the spec file (repository and path) and the operation or schema in it. */
export interface Source {
  /** A key of ProviderFacts.specs (the description file), or "docs" for a documentation page. */
  spec: string;
  /** The operationId, schema name or documentation page the fact is read from. */
  ref: string;
}

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/** How a call authenticates, as the description's security scheme says. */
export type AuthFact =
  | { scheme: 'bearer' }
  /** HTTP basic; `userPattern` when the description constrains the user (an SK/AC sid). */
  | { scheme: 'basic'; userPattern?: RegExp }
  /** API keys in named headers, all required (Datadog's DD-API-KEY + DD-APPLICATION-KEY). */
  | { scheme: 'headers'; headers: readonly string[] };

/** Keys an object may carry; anything else there is undocumented (a pagination field the API never sends). */
export interface ClosedObject {
  path: string;
  keys: string[];
}

/** The documented shape of a body. */
export interface ShapeFact {
  /** Present (and not null unless also nullable) wherever their parent object is present. */
  required?: string[];
  /** Documented and optional: they may be absent. */
  optional?: string[];
  /** May be null. */
  nullable?: string[];
  /** Objects whose keys are exactly documented. */
  closed?: ClosedObject[];
  /** Formats the description gives: an absolute URI, RFC 3339 date-time, Unix seconds, RFC 2822 date. */
  formats?: Record<string, 'uri' | 'date-time' | 'unix-seconds' | 'rfc2822'>;
}

export type StatusFact = number | '4XX' | '5XX';

/** One operation an adapter calls, as the description documents it. */
export interface OperationFact {
  operationId: string;
  source: Source;
  method: HttpMethod;
  /** Path template with `{param}` placeholders, relative to the server URL. */
  path: string;
  auth: AuthFact;
  /** Query parameters: the documented names, and which of them are required. */
  query?: { documented: string[]; required?: string[] };
  /** The request body, where the operation takes one. */
  request?: { contentType: 'application/json' | 'application/x-www-form-urlencoded' } & ShapeFact;
  /** Documented statuses of this operation (plus ProviderFacts.generalStatuses). */
  statuses: StatusFact[];
  /** Body shape per documented success status. */
  responses: Partial<Record<number, ShapeFact>>;
  /** How the listing pages, where it does. */
  pagination?: { mechanism: string; source: Source };
  /** What the caller must hold, in the provider's own names. */
  permissions?: { names: string[]; source: Source };
  /** Where an adapter validates a key with this operation: what each status says about that key. */
  keyVerdict?: KeyVerdictFact;
}

/**
 * What an answer says about the key that made the call. A status the description gives another meaning
 * (SendGrid's ListScope 401: "may not view the list of scopes") is inconclusive: the check requires the
 * adapter's next call with the same key to be a conclusive one.
 */
export interface KeyVerdictFact {
  source: Source;
  /** The key is authenticated (it may still lack a permission). */
  accepted: number[];
  /** The key is not authenticated: unknown, revoked or expired. */
  rejected: number[];
  /** Neither: another call with the same key must decide. */
  inconclusive?: number[];
}

export interface RateLimitFact {
  source: Source;
  /** Headers a 429 carries (lowercase). */
  headers: string[];
  /** What the reset header counts: a Unix time, the seconds left, or Retry-After seconds. */
  reset: { header: string; unit: 'epoch-seconds' | 'seconds-until-reset' };
}

export interface KeyCapFact {
  source: Source;
  /** Which keys the cap counts ("user-owned tokens"). */
  what: string;
  max: number;
}

export interface ProviderFacts {
  /** The adapter's name (ProviderDefinition.name). */
  provider: string;
  /** The description files: key → "owner/repo path". */
  specs: Record<string, string>;
  operations: OperationFact[];
  /** The error body every non-2xx answer carries. */
  errorShape: ShapeFact & { source: Source };
  /** Statuses documented for every operation (the provider's general error page), with the source. */
  generalStatuses?: { statuses: StatusFact[]; source: Source };
  rateLimit?: RateLimitFact;
  keyCaps?: KeyCapFact[];
}
