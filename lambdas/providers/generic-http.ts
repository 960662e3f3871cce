import * as z from 'zod/mini';
import { InvalidInputError, ProviderBadResponseError, ProviderRejectedError } from '../errors.js';
import { ProviderHttp, type ProviderResponse, resolveOnOrigin } from './http.js';
import type { KeyQuotaUsage, ProviderClient, ProviderDefinition, ProviderKeyRef } from './types.js';

/**
 * Any in-house key service with an HTTP API (the guide's `provider_api: https://gateway.internal/admin/keys`),
 * described in the key document's `options`: how to create, list, validate and revoke a key, where the id
 * and value sit in the answers (JSON pointers), how the admin call authenticates, and optionally a disable
 * step before delete and a maximum of active keys. A malformed description fails with the field's path.
 *
 * Placeholders `{name}`, `{id}` and `{likeKeyId}` are replaced in paths (URL-encoded) and in body templates.
 * The base URL comes from the deployment (the inventory's providers.http.endpoint, as REKEY_PROVIDER_ENDPOINT) or the rotator
 * credential, never from the managed key's secret, so whoever can write that secret cannot send the admin
 * token elsewhere; the paths it describes stay on that base URL's origin (checked here and by the transport).
 */
const JsonPointer = z
  .string()
  .check(z.regex(/^(\/([^~/]|~[01])*)*$/, 'must be a JSON pointer (RFC 6901) such as "/key/id"'));
// The transport's own origin rule, checked at synth too: nothing here may send the admin token or a key to
// another host ("//host", "/\\host", a URL).
const SOME_BASE = new URL('https://service.invalid');
const Path = z.string().check(
  z.regex(/^\/\S*$/, 'must be a path starting with "/"'),
  z.refine<string>(
    (path) => resolveOnOrigin(path, SOME_BASE) instanceof URL,
    'must stay on the base URL\'s origin (a path such as "/admin/keys", not "//host/…", a URL, or one with a backslash or control character)',
  ),
);
const Statuses = z.array(z.int().check(z.gte(100), z.lte(599))).check(z.minLength(1));
const KeyAuth = z.discriminatedUnion('scheme', [
  z.strictObject({ scheme: z.literal('bearer') }),
  z.strictObject({
    scheme: z.literal('header'),
    name: z.string().check(z.regex(/^[A-Za-z0-9-]+$/, 'must be an HTTP header name')),
  }),
  z.strictObject({ scheme: z.literal('basic'), username: z.optional(z.string()) }),
]);
const JsonTemplate: z.ZodMiniType<unknown> = z.lazy(() =>
  z.union([
    z.string(),
    z.number(),
    z.boolean(),
    z.null(),
    z.array(JsonTemplate),
    z.record(z.string(), JsonTemplate),
  ]),
);
const placeholder = (name: string) => (path: string) => path.includes(`{${name}}`);

const OptionsSchema = z.strictObject({
  /** What the service is, for people reading the inventory. */
  description: z.optional(z.string()),
  /** How the admin token authenticates management calls. */
  adminAuth: KeyAuth,
  create: z.strictObject({
    method: z._default(z.enum(['POST', 'PUT']), 'POST'),
    path: Path,
    /** JSON body; `{name}` and `{likeKeyId}` are replaced (copy the current key's scopes with the latter). */
    body: z.optional(JsonTemplate),
    idPointer: JsonPointer,
    valuePointer: JsonPointer,
  }),
  list: z.strictObject({
    path: Path,
    /** Where the array of keys is in the answer ("" when the answer is the array). */
    itemsPointer: JsonPointer,
    idPointer: JsonPointer,
    namePointer: JsonPointer,
    /** Where a listed key's value is, if the service returns it (then a crashed attempt's key is adopted). */
    valuePointer: z.optional(JsonPointer),
  }),
  validate: z.strictObject({
    method: z._default(z.enum(['GET', 'POST']), 'GET'),
    path: Path,
    /** How an application's key authenticates. */
    keyAuth: KeyAuth,
    acceptedStatuses: z._default(Statuses, [200]),
    rejectedStatuses: z._default(Statuses, [401, 403]),
  }),
  revoke: z.strictObject({
    method: z._default(z.enum(['DELETE', 'POST']), 'DELETE'),
    path: Path.check(z.refine<string>(placeholder('id'), 'must contain {id}')),
    goneStatuses: z._default(Statuses, [404]),
  }),
  /** A reversible step the service requires (or the team wants) before delete. */
  disable: z.optional(
    z.strictObject({
      method: z._default(z.enum(['POST', 'PUT', 'PATCH']), 'POST'),
      path: Path.check(z.refine<string>(placeholder('id'), 'must contain {id}')),
      body: z.optional(JsonTemplate),
    }),
  ),
  /** Refuse to create a key when this many already exist. */
  maxActiveKeys: z.optional(z.int().check(z.gte(1))),
});
export type HttpProviderDescription = z.infer<typeof OptionsSchema>;

const CredentialSchema = z.object({
  /** The service's base URL, e.g. https://gateway.internal; the deployment's endpoint (providers.http.endpoint) wins. */
  baseUrl: z.optional(z.url({ protocol: /^https?$/ })),
  /** The admin token sent as `adminAuth` describes. */
  token: z.string().check(z.minLength(1)),
});

/** Reads an RFC 6901 pointer; undefined when the document has nothing there. */
export function readPointer(document: unknown, pointer: string): unknown {
  if (pointer === '') return document;
  let at: unknown = document;
  for (const raw of pointer.slice(1).split('/')) {
    const token = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (at === null || typeof at !== 'object') return undefined;
    at = (at as Record<string, unknown>)[token];
  }
  return at;
}

type Vars = Record<string, string>;
const fill = (text: string, vars: Vars, encode: (v: string) => string): string =>
  text.replace(/\{(name|id|likeKeyId)\}/g, (whole, name: string) =>
    name in vars ? encode(vars[name]!) : whole,
  );
const fillTemplate = (template: unknown, vars: Vars): unknown => {
  if (typeof template === 'string') return fill(template, vars, (v) => v);
  if (Array.isArray(template)) return template.map((t) => fillTemplate(t, vars));
  if (template && typeof template === 'object')
    return Object.fromEntries(Object.entries(template).map(([k, v]) => [k, fillTemplate(v, vars)]));
  return template;
};
const authHeaders = (auth: z.infer<typeof KeyAuth>, secret: string): Record<string, string> => {
  switch (auth.scheme) {
    case 'bearer':
      return { authorization: `Bearer ${secret}` };
    case 'header':
      return { [auth.name.toLowerCase()]: secret };
    case 'basic':
      return { authorization: `Basic ${Buffer.from(`${auth.username ?? ''}:${secret}`).toString('base64')}` };
  }
};

export const http: ProviderDefinition<z.infer<typeof CredentialSchema>, HttpProviderDescription> = {
  name: 'http',
  displayName: 'HTTP key service',
  capabilities: { dualKey: true, maxActiveKeys: null, lastUsed: false, valueReadable: false },
  maxKeyNameLength: 64,
  credentialSchema: CredentialSchema,
  optionsSchema: OptionsSchema,
  connect({ credential, options, endpoint, http: httpOptions }): ProviderClient {
    const service = options.description ? `HTTP key service (${options.description})` : 'HTTP key service';
    const baseUrl = endpoint ?? credential.baseUrl;
    if (!baseUrl) {
      throw new InvalidInputError(
        'ROTATOR_CREDENTIAL',
        `${service}: no base URL; set "baseUrl" in the rotator credential or providers.http.endpoint in the inventory (deployed as REKEY_PROVIDER_ENDPOINT).`,
        { field: 'baseUrl' },
      );
    }
    const transport = new ProviderHttp({ provider: service, baseUrl, ...httpOptions });
    const admin = authHeaders(options.adminAuth, credential.token);
    const path = (template: string, vars: Vars) => fill(template, vars, encodeURIComponent);
    const read = (res: ProviderResponse, pointer: string, field: string, call: string): string => {
      const value = readPointer(res.body, pointer);
      if (typeof value === 'string' && value.length > 0) return value;
      if (typeof value === 'number') return String(value);
      throw new ProviderBadResponseError(
        service,
        call,
        `nothing at ${field} "${pointer}"; fix options.${field}`,
      );
    };
    const adminFailure = (res: ProviderResponse, call: string): never => {
      throw new ProviderRejectedError(
        service,
        call,
        res.status,
        res.status === 401 || res.status === 403
          ? 'the rotator credential token was refused; check the token and options.adminAuth.'
          : `unexpected status; check the ${call.split(' ')[0]} entry of the provider description (options).`,
      );
    };

    const listKeys = async (): Promise<ProviderKeyRef[]> => {
      const res = await transport.request({
        call: 'list keys',
        method: 'GET',
        path: options.list.path,
        headers: admin,
      });
      if (res.status !== 200) adminFailure(res, 'list keys');
      const items = readPointer(res.body, options.list.itemsPointer);
      if (!Array.isArray(items))
        throw new ProviderBadResponseError(
          service,
          'list keys',
          `no array at list.itemsPointer "${options.list.itemsPointer}"; fix options.list.itemsPointer`,
        );
      return items.map((item) => {
        const wrapped = { status: res.status, headers: res.headers, body: item };
        const value = options.list.valuePointer ? readPointer(item, options.list.valuePointer) : undefined;
        return {
          id: read(wrapped, options.list.idPointer, 'list.idPointer', 'list keys'),
          name: read(wrapped, options.list.namePointer, 'list.namePointer', 'list keys'),
          ...(typeof value === 'string' && value.length > 0 ? { value } : {}),
        };
      });
    };

    const { maxActiveKeys } = options;
    const keyQuota =
      maxActiveKeys === undefined
        ? undefined
        : async (): Promise<KeyQuotaUsage> => ({
            held: (await listKeys()).length,
            cap: maxActiveKeys,
            account: `at ${baseUrl}`,
            makeRoom: `Revoke unused keys at the service, or raise options.maxActiveKeys if the service allows more than ${maxActiveKeys}`,
          });

    return {
      ...(keyQuota ? { keyQuota } : {}),

      async createKey({ name, likeKeyId }) {
        // A direct caller (not createSecret, which asks keyQuota first) is held to the cap too.
        const usage = await keyQuota?.();
        if (usage && usage.held >= usage.cap) {
          throw new ProviderRejectedError(
            service,
            'create key',
            undefined,
            `the service already holds ${usage.held} keys and options.maxActiveKeys allows at most ${usage.cap}; revoke unused keys first.`,
          );
        }
        const vars = { name, likeKeyId };
        const res = await transport.request({
          call: 'create key',
          method: options.create.method,
          path: path(options.create.path, vars),
          idempotent: false,
          headers: admin,
          ...(options.create.body === undefined ? {} : { json: fillTemplate(options.create.body, vars) }),
        });
        if (res.status !== 200 && res.status !== 201) adminFailure(res, 'create key');
        return {
          id: read(res, options.create.idPointer, 'create.idPointer', 'create key'),
          name,
          value: read(res, options.create.valuePointer, 'create.valuePointer', 'create key'),
        };
      },

      async findKeysByName(name) {
        return (await listKeys()).filter((key) => key.name === name);
      },

      async validateKey(key) {
        const res = await transport.request({
          call: 'validate key',
          method: options.validate.method,
          path: path(options.validate.path, { id: key.id }),
          headers: authHeaders(options.validate.keyAuth, key.value),
        });
        if (options.validate.acceptedStatuses.includes(res.status)) return 'accepted';
        if (options.validate.rejectedStatuses.includes(res.status)) return 'rejected';
        throw new ProviderRejectedError(
          service,
          'validate key',
          res.status,
          'status is neither in options.validate.acceptedStatuses nor in rejectedStatuses.',
        );
      },

      async revokeKey(keyId) {
        const vars = { id: keyId };
        if (options.disable) {
          const res = await transport.request({
            call: 'disable key',
            method: options.disable.method,
            path: path(options.disable.path, vars),
            headers: admin,
            ...(options.disable.body === undefined ? {} : { json: fillTemplate(options.disable.body, vars) }),
          });
          if (options.revoke.goneStatuses.includes(res.status)) return 'already-gone';
          if (res.status < 200 || res.status > 299) adminFailure(res, 'disable key');
        }
        const res = await transport.request({
          call: 'revoke key',
          method: options.revoke.method,
          path: path(options.revoke.path, vars),
          headers: admin,
        });
        if (res.status >= 200 && res.status <= 299) return 'revoked';
        if (options.revoke.goneStatuses.includes(res.status)) return 'already-gone';
        return adminFailure(res, 'revoke key');
      },
    };
  },
};
