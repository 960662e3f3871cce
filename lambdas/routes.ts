import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { DescribeSecretCommandOutput, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { AwsCredentialIdentityProvider } from '@aws-sdk/types';
import * as z from 'zod/mini';
import { parseDurationSeconds } from './duration.js';
import { InvalidInputError, RoutingMismatchError } from './errors.js';
import type { ManagedKey } from './secret-format.js';
import { emergencyFor, SINGLE_KEY_OPT_IN, TAGS, tagMap } from './tags.js';

/**
 * What the deployer pinned for one managed secret at deploy time, from the inventory: which account objects
 * rekey touches for it and where its credentials go. Whoever can write the secret's document or tags may
 * only repeat these; a difference is refused (RoutingMismatchError) before anything is changed.
 */
export const KeyRouteSchema = z.strictObject({
  /** The inventory entry's name. */
  name: z.string().check(z.minLength(1)),
  /** The managed secret's name (vault_path). */
  secretName: z.string().check(z.minLength(1)),
  /** Its full ARN, when the inventory names an existing secret. */
  secretArn: z.optional(z.string().check(z.minLength(1))),
  /** rekey provider adapter name. */
  provider: z.string().check(z.minLength(1)),
  /** Name or ARN of the rotator-credential secret (the inventory's rotator_secret). */
  rotatorSecret: z.string().check(z.minLength(1)),
  /** The provider options the inventory gives (IAM user, region, site, account, URLs, scopes…). */
  options: z.record(z.string(), z.unknown()),
  /** The owner accepted an interruption per rotation (single_key_rotation). */
  singleKey: z.boolean(),
  /** The inventory's grace period; an emergency may only shorten it. */
  gracePeriod: z.string().check(z.minLength(1)),
  /** The key's auth-failure alarm may roll it back. */
  rollbackOnFailure: z.boolean(),
  /**
   * The provider API origin the inventory names (provider_api), for adapters whose rotator credential
   * carries a base URL (http): the credential must name the same origin.
   */
  origin: z.optional(z.string().check(z.minLength(1))),
  /**
   * Role names rekey's functions assume to act on this key alone: `rotation` (the four steps) and
   * `revocation` (revoker and rollback). Unset where the caller acts with its own credentials (the CLI,
   * the loopback).
   */
  roles: z.optional(
    z.strictObject({
      rotation: z.string().check(z.minLength(1)),
      revocation: z.string().check(z.minLength(1)),
    }),
  ),
});
export type KeyRoute = z.infer<typeof KeyRouteSchema>;

/**
 * What a function acts on one key with: a session of that key's own role (deployed functions), so IAM —
 * not only this code — keeps the call on that key's secret, rotator credential and provider objects.
 */
export interface KeyScope {
  secretsManager: SecretsManagerClient;
  /** For AWS providers whose rotator credential is `{}`. */
  awsCredentials?: AwsCredentialIdentityProvider;
}

/** The scope of one key: `scopeFor(route)` where the caller assumes per-key roles, else its own clients. */
export type ScopeFor = (route: KeyRoute) => KeyScope;

/** File name of the routes a deployed function carries in its code bundle (code only the deployer changes). */
export const ROUTES_FILE = 'rekey-routes.json';

/** The secret part of a Secrets Manager ARN, parsed. */
interface SecretArnParts {
  prefix: string;
  /** The name, without the 6-character suffix Secrets Manager appends. */
  name: string;
}

function secretArnParts(arn: string): SecretArnParts | undefined {
  const match = /^(arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:)(.+)-[A-Za-z0-9]{6}$/.exec(arn);
  return match ? { prefix: match[1]!, name: match[2]! } : undefined;
}

/** The deployment's routes: one per managed secret this function may act on. */
export class KeyRoutes {
  private readonly byName = new Map<string, KeyRoute>();

  constructor(readonly routes: readonly KeyRoute[]) {
    for (const route of routes) this.byName.set(route.secretName, route);
  }

  /** Parses routes from JSON (a bundle's routes file); `source` names it in errors. */
  static parse(text: string, source: string): KeyRoutes {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new InvalidInputError('INVALID_INPUT', `${source} is not JSON; redeploy the rekey stack.`);
    }
    const parsed = z.array(KeyRouteSchema).safeParse(json);
    if (!parsed.success) {
      const field = parsed.error.issues[0]!.path.join('.') || '(routes)';
      throw new InvalidInputError(
        'INVALID_INPUT',
        `${source}: field "${field}" is invalid; redeploy the rekey stack.`,
        { field },
      );
    }
    return new KeyRoutes(parsed.data);
  }

  /**
   * The route of the secret `id` names — an ARN, or a name in this function's account — or undefined: a
   * secret this deployment does not manage. An existing secret's ARN must match the inventory's exactly.
   */
  find(id: string): KeyRoute | undefined {
    const arn = secretArnParts(id);
    const route = this.byName.get(arn ? arn.name : id);
    if (!route) return undefined;
    if (route.secretArn && arn && route.secretArn !== id) return undefined;
    return route;
  }

  /** Like `find`, but a secret outside the deployment is refused with a clear error naming `actor`. */
  require(id: string, actor: string): KeyRoute {
    const route = this.find(id);
    if (route) return route;
    throw new RoutingMismatchError(
      `secret ${id} is not one of this deployment's keys (${actor}); rekey acts only on the secrets its inventory names (add it to rekey.yaml and deploy). Nothing was changed.`,
      { secretId: id, field: 'secretId' },
    );
  }

  /** Other secrets whose keys live in the same provider account: same adapter, same rotator credential. */
  siblingsOf(route: KeyRoute): KeyRoute[] {
    return this.routes.filter(
      (r) => r !== route && r.provider === route.provider && r.rotatorSecret === route.rotatorSecret,
    );
  }
}

/**
 * The routes a deployed function carries (`rekey-routes.json` beside its handler, written by the stack at
 * synth). Fails closed: a function without them acts on nothing.
 */
export function bundledRoutes(dir = process.env.LAMBDA_TASK_ROOT ?? '.'): KeyRoutes {
  const path = join(dir, ROUTES_FILE);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    throw new InvalidInputError(
      'INVALID_INPUT',
      `${path} is missing: rekey's functions act only on the keys the stack deployed them with; deploy them with the rekey stack.`,
    );
  }
  return KeyRoutes.parse(text, path);
}

/** Stable JSON: object keys sorted, so two equal option sets compare equal whatever their order. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** The first option (by name) whose stored value differs from the deployed one. */
function differingOption(
  stored: Record<string, unknown>,
  pinned: Record<string, unknown>,
): string | undefined {
  const names = [...new Set([...Object.keys(stored), ...Object.keys(pinned)])].sort();
  return names.find((name) => canonical(stored[name]) !== canonical(pinned[name]));
}

/** Whether a stored rotator ARN names the deployed rotator secret, in the managed secret's account and region. */
function isRotatorSecret(route: KeyRoute, storedArn: string, managedSecretArn: string | undefined): boolean {
  const pinned = route.rotatorSecret;
  // An ARN in the inventory may be complete or lack the 6-character suffix Secrets Manager appends.
  if (pinned.startsWith('arn:'))
    return (
      storedArn === pinned || (storedArn.startsWith(`${pinned}-`) && storedArn.length === pinned.length + 7)
    );
  const stored = secretArnParts(storedArn);
  if (!stored || stored.name !== pinned) return false;
  const managed = managedSecretArn ? secretArnParts(managedSecretArn) : undefined;
  return managed === undefined || managed.prefix === stored.prefix;
}

/**
 * Refuses a key document that does not repeat its deployed route: another provider, rotator credential or
 * provider option (IAM user, region, site, account, URL, scopes…). Called before any provider call, so a
 * refused document changes nothing. Names the field and both sides' names — never a key value.
 */
export function checkDocument(
  route: KeyRoute,
  doc: ManagedKey,
  where: { secretId: string; secretArn?: string; versionId?: string },
): void {
  const label = `secret ${where.secretId}${where.versionId ? ` (version ${where.versionId})` : ''}`;
  const refuse = (field: string, stored: string, deployed: string): never => {
    throw new RoutingMismatchError(
      `${label}: field "${field}" is ${stored} but the deployed inventory says ${deployed} for "${route.name}"; rekey acts only as deployed, so nothing was changed. If the inventory is right, store the document again (rekey import ${route.name}); if it changed on purpose, deploy it first.`,
      { secretId: where.secretId, field },
    );
  };
  if (doc.provider !== route.provider) refuse('provider', `"${doc.provider}"`, `"${route.provider}"`);
  if (!isRotatorSecret(route, doc.rotatorSecretArn, where.secretArn))
    refuse('rotatorSecretArn', doc.rotatorSecretArn, `rotator_secret "${route.rotatorSecret}"`);
  const option = differingOption(doc.options, route.options);
  if (option !== undefined)
    refuse(
      `options.${option}`,
      describeOption(doc.options[option]),
      `${describeOption(route.options[option])} (options.${option})`,
    );
}

/** An option's value for a refusal: options hold names, ids, regions and URLs — never a key. */
function describeOption(value: unknown): string {
  if (value === undefined) return 'absent';
  const text = canonical(value);
  return text.length <= 120 ? text : `${text.slice(0, 117)}…`;
}

/**
 * Refuses a rotator credential whose `baseUrl` (the generic HTTP adapter's) leaves the origin the inventory
 * pins: whoever may write the credential must not send new keys, and the admin token, elsewhere.
 */
export function checkCredentialOrigin(route: KeyRoute, credential: unknown, secretId: string): void {
  const baseUrl = (credential as { baseUrl?: unknown } | null)?.baseUrl;
  if (route.origin === undefined || typeof baseUrl !== 'string') return;
  let origin: string;
  try {
    origin = new URL(baseUrl).origin;
  } catch {
    origin = baseUrl;
  }
  if (origin !== route.origin)
    throw new RoutingMismatchError(
      `secret ${secretId}: the rotator credential's field "baseUrl" is on ${origin} but the deployed inventory says provider_api on ${route.origin} for "${route.name}"; rekey sends the admin token and new keys only where the inventory says, so nothing was changed.`,
      { secretId, field: 'rotatorSecretArn:baseUrl' },
    );
}

/**
 * Refuses tags that do not repeat the deployed route (`rekey:single-key`, `rekey:grace-period`) and an
 * emergency grace longer than the deployed one. A missing tag is fine: the route decides.
 */
export function checkTags(route: KeyRoute, metadata: DescribeSecretCommandOutput, secretId: string): void {
  const tags = tagMap(metadata.Tags);
  const refuse = (tag: string, stored: string, deployed: string): never => {
    throw new RoutingMismatchError(
      `secret ${secretId}: tag ${tag} is ${stored} but the deployed inventory says ${deployed} for "${route.name}"; rekey acts only as deployed, so nothing was changed. Remove the tag or deploy the inventory that says so.`,
      { secretId, field: `tag:${tag}` },
    );
  };
  const singleKey = tags[TAGS.singleKey];
  if (singleKey !== undefined && singleKey !== (route.singleKey ? SINGLE_KEY_OPT_IN : undefined))
    refuse(
      TAGS.singleKey,
      `"${singleKey}"`,
      route.singleKey ? `"${SINGLE_KEY_OPT_IN}"` : 'no single-key rotation',
    );
  const grace = tags[TAGS.gracePeriod];
  if (grace !== undefined && parseDurationSeconds(grace) !== parseDurationSeconds(route.gracePeriod))
    refuse(TAGS.gracePeriod, `"${grace}"`, `grace_period "${route.gracePeriod}"`);
}

/**
 * The grace period before version `versionId`'s predecessor is revoked: an emergency's for that version
 * (`rekey:emergency-grace`), which may only be shorter than the deployed one, else the deployed one.
 */
export function routeGraceSeconds(
  route: KeyRoute,
  metadata: DescribeSecretCommandOutput,
  secretId: string,
  versionId?: string,
): number {
  const deployed = parseDurationSeconds(route.gracePeriod) ?? 0;
  const emergency = versionId === undefined ? undefined : emergencyFor(tagMap(metadata.Tags), versionId);
  if (!emergency) return deployed;
  const seconds = parseDurationSeconds(emergency.grace);
  if (seconds === undefined || seconds > deployed)
    throw new RoutingMismatchError(
      `secret ${secretId}: tag ${TAGS.emergencyGrace} asks for a grace of "${emergency.grace}", but an emergency may only shorten the deployed grace_period "${route.gracePeriod}" of "${route.name}"; nothing was changed. Start the emergency with rekey rotate --emergency.`,
      { secretId, field: `tag:${TAGS.emergencyGrace}` },
    );
  return seconds;
}
