import { randomBytes, randomInt } from 'node:crypto';
import { type Clock, systemClock } from '../clock.js';
import {
  jsonBody,
  ProviderSandbox,
  type SandboxRequest,
  type SandboxResponse,
  type StatusFault,
} from './sandbox.js';
import { type SigV4Check, sigV4Scope, verifySigV4 } from './sigv4.js';

/** API keys per account per Region, API Gateway's default (not increasable). */
export const API_GATEWAY_KEY_QUOTA = 10_000;
/** GetApiKeys / GetUsagePlans page size: default 25, larger limits are capped at 500. */
const DEFAULT_PAGE = 25;
const MAX_PAGE = 500;
const MAX_NAME = 1024;

export interface ApiStage {
  apiId: string;
  stage: string;
}

interface ApiKey {
  id: string;
  name?: string;
  value: string;
  enabled: boolean;
  description?: string;
  customerId?: string;
  createdDate: Date;
  lastUpdatedDate: Date;
}

interface UsagePlan {
  id: string;
  name: string;
  apiStages: ApiStage[];
  keyIds: Set<string>;
}

interface Admin {
  secretAccessKey: string;
  /** May read but not change anything (apigateway:GET only). */
  readOnly: boolean;
}

export interface ApiGatewaySandboxOptions {
  /** The stage the data plane serves (`/{stage}/...`); default "prod". */
  stage?: string;
  /** API keys per account per Region; default 10000. */
  keyQuota?: number;
  /**
   * Control-plane mutations (POST, PATCH, DELETE) allowed per second, as one token bucket, instead of the
   * documented throttles (`API_GATEWAY_CONTROL_PLANE_THROTTLES`); beyond it the sandbox answers 429
   * TooManyRequestsException with Retry-After.
   */
  mutationsPerSecond?: number;
  /** Bucket capacity for `mutationsPerSecond`; default equal to the rate. */
  mutationBurst?: number;
  /** False: no control-plane throttling at all. */
  throttling?: boolean;
}

/** A token bucket over the control-plane requests it applies to. */
export interface ControlPlaneThrottle {
  name: string;
  ratePerSecond: number;
  burst: number;
  applies(req: SandboxRequest): boolean;
}

/**
 * The fixed, non-increasable control-plane quotas per account ("Amazon API Gateway quotas", API Gateway
 * quotas for creating, deploying and managing an API): CreateApiKey and DeleteApiKey 5 requests per second
 * each; every other operation only within the total of 10 requests per second with a burst of 40.
 */
export const API_GATEWAY_CONTROL_PLANE_THROTTLES: readonly ControlPlaneThrottle[] = [
  {
    name: 'CreateApiKey',
    ratePerSecond: 5,
    burst: 5,
    applies: (req) => req.method === 'POST' && req.path === '/apikeys',
  },
  {
    name: 'DeleteApiKey',
    ratePerSecond: 5,
    burst: 5,
    applies: (req) => req.method === 'DELETE' && /^\/apikeys\/[^/]+$/.test(req.path),
  },
  { name: 'total operations', ratePerSecond: 10, burst: 40, applies: () => true },
];

type ErrorType =
  | 'BadRequestException'
  | 'UnauthorizedException'
  | 'AccessDeniedException'
  | 'NotFoundException'
  | 'ConflictException'
  | 'LimitExceededException'
  | 'TooManyRequestsException'
  | 'ServiceUnavailableException'
  | 'MissingAuthenticationTokenException'
  | 'IncompleteSignatureException'
  | 'UnrecognizedClientException'
  | 'InvalidSignatureException'
  | 'ForbiddenException';

const SIGV4_ERRORS: Record<Extract<SigV4Check, { ok: false }>['code'], ErrorType> = {
  MissingAuthenticationToken: 'MissingAuthenticationTokenException',
  IncompleteSignature: 'IncompleteSignatureException',
  InvalidClientTokenId: 'UnrecognizedClientException',
  SignatureDoesNotMatch: 'InvalidSignatureException',
};

const ALNUM = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
const LOWER_ALNUM = 'abcdefghijklmnopqrstuvwxyz0123456789';
const randomString = (alphabet: string, length: number): string =>
  Array.from({ length }, () => alphabet[randomInt(alphabet.length)]).join('');

const epochSeconds = (date: Date): number => Math.floor(date.getTime() / 1000);

/**
 * Amazon API Gateway's API keys and usage plans as the REST API (2015-07-09) documents them and the
 * AWS SDK sends them: SigV4-signed REST-JSON on the control plane (`/apikeys`, `/usageplans`), list pages
 * as `{item, position}`, dates as epoch seconds, errors as `{"message"}` with the type in header
 * `x-amzn-ErrorType`. Any other unsigned request is a call to a deployed stage authenticated by header
 * `x-api-key`, accepted only for an enabled key in a usage plan that covers that stage.
 */
export class ApiGatewaySandbox extends ProviderSandbox {
  readonly region = 'us-east-1';
  /** The REST API whose stage the data plane serves. */
  readonly restApiId = randomString(LOWER_ALNUM, 10);
  readonly stage: string;
  private readonly keyQuota: number;
  private readonly admins = new Map<string, Admin>();
  private readonly keys = new Map<string, ApiKey>();
  private readonly plans = new Map<string, UsagePlan>();
  private readonly uses = new Map<string, number>();
  private readonly buckets: Array<{ throttle: ControlPlaneThrottle; tokens: number; at: number }>;

  constructor(
    private readonly clock: Clock = systemClock,
    options: ApiGatewaySandboxOptions = {},
  ) {
    super();
    this.stage = options.stage ?? 'prod';
    this.keyQuota = options.keyQuota ?? API_GATEWAY_KEY_QUOTA;
    const rate = options.mutationsPerSecond;
    const throttles: readonly ControlPlaneThrottle[] =
      options.throttling === false
        ? []
        : rate === undefined
          ? API_GATEWAY_CONTROL_PLANE_THROTTLES
          : [
              {
                name: 'mutations',
                ratePerSecond: rate,
                burst: options.mutationBurst ?? rate,
                applies: (req) => req.method !== 'GET' && req.method !== 'HEAD',
              },
            ];
    this.buckets = throttles.map((throttle) => ({ throttle, tokens: throttle.burst, at: Number.NaN }));
  }

  // ---- seeding and inspection (what an auditor sees in the console) ----

  /** An IAM access key pair the control plane accepts (the rotator's credential). */
  seedAdmin(options: { readOnly?: boolean } = {}): { accessKeyId: string; secretAccessKey: string } {
    const accessKeyId = `AKIA${randomString('ABCDEFGHIJKLMNOPQRSTUVWXYZ234567', 16)}`;
    const secretAccessKey = randomBytes(30).toString('base64');
    this.admins.set(accessKeyId, { secretAccessKey, readOnly: options.readOnly ?? false });
    this.recordIssued(secretAccessKey);
    return { accessKeyId, secretAccessKey };
  }

  /** A usage plan; by default it covers this sandbox's stage. Returns its id. */
  seedUsagePlan(
    name: string,
    apiStages: ApiStage[] = [{ apiId: this.restApiId, stage: this.stage }],
  ): string {
    const id = randomString(LOWER_ALNUM, 6);
    this.plans.set(id, { id, name, apiStages: apiStages.map((s) => ({ ...s })), keyIds: new Set() });
    return id;
  }

  /** An API key made out of band (console, CloudFormation), attached to `usagePlanIds`. */
  seedKey(
    name: string,
    options: { usagePlanIds?: string[]; enabled?: boolean } = {},
  ): { id: string; value: string } {
    const key = this.newKey({ name, enabled: options.enabled ?? true });
    for (const planId of options.usagePlanIds ?? []) this.plans.get(planId)?.keyIds.add(key.id);
    return { id: key.id, value: key.value };
  }

  listKeys(): Array<{ id: string; name: string; enabled: boolean; usagePlanIds: string[] }> {
    return [...this.keys.values()].map((k) => ({
      id: k.id,
      name: k.name ?? '',
      enabled: k.enabled,
      usagePlanIds: this.plansOf(k.id),
    }));
  }

  /** The ids of the usage plans a key is attached to, sorted. */
  plansOf(keyId: string): string[] {
    return [...this.plans.values()]
      .filter((p) => p.keyIds.has(keyId))
      .map((p) => p.id)
      .sort();
  }

  /** Deletes a key out of band. */
  deleteKey(id: string): void {
    this.removeKey(id);
  }

  /** Whether a call to the stage with this key id and value passes API Gateway's key check. */
  accepts(id: string, value: string): boolean {
    const key = this.keys.get(id);
    return key !== undefined && key.value === value && this.admitted(key);
  }

  /** How many stage calls a key has made. */
  usesOf(id: string): number {
    return this.uses.get(id) ?? 0;
  }

  // ---- faults: sent with the error type header, so the SDK sees TooManyRequestsException ----

  protected override faultResponse(fault: StatusFault): SandboxResponse {
    const retryAfter: Record<string, string> =
      fault.retryAfterSeconds === undefined ? {} : { 'retry-after': String(fault.retryAfterSeconds) };
    return fault.status === 429
      ? this.fail(429, 'TooManyRequestsException', 'Too Many Requests', retryAfter)
      : this.fail(fault.status, 'ServiceUnavailableException', 'Service Unavailable', retryAfter);
  }

  protected errorBody(_status: number, message: string): unknown {
    return { message };
  }

  private fail(
    status: number,
    type: ErrorType,
    message: string,
    headers: Record<string, string> = {},
  ): SandboxResponse {
    return {
      status,
      // API Gateway appends the service namespace; the SDK keeps what precedes the colon.
      headers: {
        'x-amzn-ErrorType': `${type}:http://internal.amazon.com/coral/com.amazonaws.backplane.controlplane/`,
        ...headers,
      },
      body: this.errorBody(status, message),
    };
  }

  // ---- state ----

  private newKey(input: {
    name?: string;
    enabled: boolean;
    value?: string;
    description?: string;
    customerId?: string;
  }): ApiKey {
    let id = randomString(LOWER_ALNUM, 10);
    while (this.keys.has(id)) id = randomString(LOWER_ALNUM, 10);
    const now = this.clock.now();
    const key: ApiKey = {
      id,
      value: input.value ?? randomString(ALNUM, 40),
      enabled: input.enabled,
      createdDate: now,
      lastUpdatedDate: now,
      ...(input.name === undefined ? {} : { name: input.name }),
      ...(input.description === undefined ? {} : { description: input.description }),
      ...(input.customerId === undefined ? {} : { customerId: input.customerId }),
    };
    this.keys.set(id, key);
    this.recordIssued(key.value);
    return key;
  }

  private removeKey(id: string): void {
    this.keys.delete(id);
    for (const plan of this.plans.values()) plan.keyIds.delete(id);
  }

  private admitted(key: ApiKey): boolean {
    return (
      key.enabled &&
      [...this.plans.values()].some(
        (p) =>
          p.keyIds.has(key.id) &&
          p.apiStages.some((s) => s.apiId === this.restApiId && s.stage === this.stage),
      )
    );
  }

  private keyJson(key: ApiKey, withValue: boolean): Record<string, unknown> {
    return {
      id: key.id,
      ...(withValue ? { value: key.value } : {}),
      ...(key.name === undefined ? {} : { name: key.name }),
      ...(key.customerId === undefined ? {} : { customerId: key.customerId }),
      ...(key.description === undefined ? {} : { description: key.description }),
      enabled: key.enabled,
      createdDate: epochSeconds(key.createdDate),
      lastUpdatedDate: epochSeconds(key.lastUpdatedDate),
      stageKeys: [],
    };
  }

  private planJson(plan: UsagePlan): Record<string, unknown> {
    return { id: plan.id, name: plan.name, apiStages: plan.apiStages.map((s) => ({ ...s })) };
  }

  /** One page of `items` (sorted by id) after the opaque `position`, as `{item, position}`. */
  private page<T extends { id: string }>(
    req: SandboxRequest,
    items: T[],
    render: (item: T) => unknown,
  ): SandboxResponse {
    const limitParam = req.query.get('limit');
    let limit = DEFAULT_PAGE;
    if (limitParam !== null) {
      limit = Number(limitParam);
      if (!Number.isInteger(limit) || limit < 1)
        return this.fail(400, 'BadRequestException', `Invalid limit '${limitParam}'`);
      limit = Math.min(limit, MAX_PAGE);
    }
    const sorted = [...items].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    let start = 0;
    const position = req.query.get('position');
    if (position !== null) {
      const after = Buffer.from(position, 'base64url').toString('utf8');
      if (!/^[a-z0-9]+$/.test(after))
        return this.fail(400, 'BadRequestException', 'Invalid position parameter');
      start = sorted.findIndex((item) => item.id > after);
      if (start < 0) start = sorted.length;
    }
    const slice = sorted.slice(start, start + limit);
    const last = slice.at(-1);
    const more = start + limit < sorted.length && last !== undefined;
    return {
      status: 200,
      body: {
        item: slice.map(render),
        ...(more ? { position: Buffer.from(last.id, 'utf8').toString('base64url') } : {}),
      },
    };
  }

  /**
   * Takes a token from every bucket the request counts against; when one is empty, nothing is taken and the
   * answer is the whole seconds until it has one (Retry-After).
   */
  private takeToken(req: SandboxRequest): number | undefined {
    const now = this.rateClock();
    const counted = this.buckets.filter((b) => b.throttle.applies(req));
    for (const bucket of counted) {
      const { ratePerSecond, burst } = bucket.throttle;
      const elapsed = Number.isNaN(bucket.at) ? 0 : now - bucket.at;
      bucket.tokens = Math.min(burst, bucket.tokens + (elapsed / 1000) * ratePerSecond);
      bucket.at = now;
    }
    const empty = counted.find((b) => b.tokens < 1);
    if (empty) {
      this.rateLimited += 1;
      return Math.max(1, Math.ceil((1 - empty.tokens) / empty.throttle.ratePerSecond));
    }
    for (const bucket of counted) bucket.tokens -= 1;
    return undefined;
  }

  // ---- routing ----

  protected route(req: SandboxRequest): SandboxResponse {
    const controlPlane =
      /^\/(apikeys|usageplans)(\/|$)/.test(req.path) || sigV4Scope(req)?.service === 'apigateway';
    return controlPlane ? this.controlPlane(req) : this.dataPlane(req);
  }

  private dataPlane(req: SandboxRequest): SandboxResponse {
    if (req.path !== `/${this.stage}` && !req.path.startsWith(`/${this.stage}/`))
      return this.fail(403, 'MissingAuthenticationTokenException', 'Missing Authentication Token');
    const header = req.headers['x-api-key'];
    const value = Array.isArray(header) ? header[0] : header;
    const key = value ? [...this.keys.values()].find((k) => k.value === value) : undefined;
    if (!key || !this.admitted(key)) return this.fail(403, 'ForbiddenException', 'Forbidden');
    this.uses.set(key.id, this.usesOf(key.id) + 1);
    return { status: 200, body: { ok: true } };
  }

  private controlPlane(req: SandboxRequest): SandboxResponse {
    const check = verifySigV4(req, (id) => this.admins.get(id)?.secretAccessKey);
    if (!check.ok) return this.fail(403, SIGV4_ERRORS[check.code], check.message);
    if (check.service !== 'apigateway')
      return this.fail(
        403,
        'InvalidSignatureException',
        "Credential should be scoped to correct service: 'apigateway'.",
      );
    const admin = this.admins.get(check.accessKeyId)!;
    const mutation = req.method !== 'GET' && req.method !== 'HEAD';
    if (mutation && admin.readOnly) {
      const resource = `arn:aws:apigateway:${check.region}::${req.path}`;
      return this.fail(
        403,
        'AccessDeniedException',
        `User: arn:aws:iam::123456789012:user/rekey-readonly is not authorized to perform: apigateway:${req.method} on resource: ${resource}`,
      );
    }
    const retryAfter = this.takeToken(req);
    if (retryAfter !== undefined)
      return this.fail(429, 'TooManyRequestsException', 'Too Many Requests', {
        'retry-after': String(retryAfter),
      });
    let body: Record<string, unknown> = {};
    if (req.method === 'POST' || req.method === 'PATCH') {
      if (!String(req.headers['content-type'] ?? '').startsWith('application/json'))
        return this.fail(
          400,
          'BadRequestException',
          'Invalid request body: the content type must be application/json',
        );
      const parsed = req.body.length === 0 ? {} : jsonBody(req);
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
        return this.fail(400, 'BadRequestException', 'Could not parse request body into json');
      body = parsed as Record<string, unknown>;
    }

    const path = req.path.split('/').map((segment) => decodeURIComponent(segment));
    if (path[1] === 'apikeys') return this.apiKeys(req, path.slice(2), body);
    if (path[1] === 'usageplans') return this.usagePlans(req, path.slice(2), body);
    return this.fail(404, 'NotFoundException', 'Invalid resource path');
  }

  private apiKeys(req: SandboxRequest, rest: string[], body: Record<string, unknown>): SandboxResponse {
    if (rest.length === 0 && req.method === 'GET') {
      const name = req.query.get('name');
      const customerId = req.query.get('customerId');
      const withValues = req.query.get('includeValues') === 'true';
      const keys = [...this.keys.values()].filter(
        (k) =>
          (name === null || (k.name ?? '').startsWith(name)) &&
          (customerId === null || k.customerId === customerId),
      );
      return this.page(req, keys, (k) => this.keyJson(k, withValues));
    }
    if (rest.length === 0 && req.method === 'POST') {
      for (const field of ['name', 'description', 'value', 'customerId'] as const)
        if (body[field] !== undefined && typeof body[field] !== 'string')
          return this.fail(400, 'BadRequestException', `Invalid type for ${field}: expected a string`);
      for (const field of ['enabled', 'generateDistinctId'] as const)
        if (body[field] !== undefined && typeof body[field] !== 'boolean')
          return this.fail(400, 'BadRequestException', `Invalid type for ${field}: expected a boolean`);
      const name = body.name as string | undefined;
      if (name !== undefined && name.length > MAX_NAME)
        return this.fail(400, 'BadRequestException', `API key name must be at most ${MAX_NAME} characters`);
      const value = body.value as string | undefined;
      if (value !== undefined && (value.length < 20 || value.length > 128))
        return this.fail(400, 'BadRequestException', 'API key value must be between 20 and 128 characters');
      if (value !== undefined && [...this.keys.values()].some((k) => k.value === value))
        return this.fail(409, 'ConflictException', 'API key value already exists');
      if (this.keys.size >= this.keyQuota)
        return this.fail(
          429,
          'LimitExceededException',
          `Cannot exceed the limit of ${this.keyQuota} API keys per account per Region`,
        );
      const key = this.newKey({
        enabled: body.enabled === true,
        ...(name === undefined ? {} : { name }),
        ...(value === undefined ? {} : { value }),
        ...(typeof body.description === 'string' ? { description: body.description } : {}),
        ...(typeof body.customerId === 'string' ? { customerId: body.customerId } : {}),
      });
      return { status: 201, body: this.keyJson(key, true) };
    }
    if (rest.length !== 1) return this.fail(404, 'NotFoundException', 'Invalid resource path');
    const key = this.keys.get(rest[0]!);
    if (!key) return this.fail(404, 'NotFoundException', 'Invalid API Key identifier specified');
    if (req.method === 'GET')
      return { status: 200, body: this.keyJson(key, req.query.get('includeValue') === 'true') };
    if (req.method === 'DELETE') {
      this.removeKey(key.id);
      return { status: 202 };
    }
    if (req.method === 'PATCH') return this.patchKey(key, body);
    return this.fail(404, 'NotFoundException', 'Invalid resource path');
  }

  private patchKey(key: ApiKey, body: Record<string, unknown>): SandboxResponse {
    const ops = body.patchOperations ?? [];
    if (!Array.isArray(ops)) return this.fail(400, 'BadRequestException', 'Invalid patchOperations');
    const changes: Array<(k: ApiKey) => void> = [];
    for (const op of ops as Array<Record<string, unknown>>) {
      const path = op?.path;
      const value = op?.value;
      if (op?.op !== 'replace' || typeof path !== 'string')
        return this.fail(
          400,
          'BadRequestException',
          `Invalid patch operation specified. Must be 'replace' on one of: [/name, /description, /enabled, /customerId]`,
        );
      if (path === '/enabled') {
        if (value !== 'true' && value !== 'false')
          return this.fail(
            400,
            'BadRequestException',
            `Invalid value for /enabled: must be 'true' or 'false'`,
          );
        changes.push((k) => {
          k.enabled = value === 'true';
        });
      } else if (path === '/name' || path === '/description' || path === '/customerId') {
        if (typeof value !== 'string')
          return this.fail(400, 'BadRequestException', `Invalid value for ${path}: expected a string`);
        if (path === '/name' && value.length > MAX_NAME)
          return this.fail(400, 'BadRequestException', `API key name must be at most ${MAX_NAME} characters`);
        const field = path.slice(1) as 'name' | 'description' | 'customerId';
        changes.push((k) => {
          k[field] = value;
        });
      } else {
        return this.fail(
          400,
          'BadRequestException',
          `Invalid patch path '${path}' specified for op 'replace'. Must be one of: [/name, /description, /enabled, /customerId]`,
        );
      }
    }
    for (const change of changes) change(key);
    key.lastUpdatedDate = this.clock.now();
    return { status: 200, body: this.keyJson(key, false) };
  }

  private usagePlans(req: SandboxRequest, rest: string[], body: Record<string, unknown>): SandboxResponse {
    if (rest.length === 0 && req.method === 'GET') {
      const keyId = req.query.get('keyId');
      const plans = [...this.plans.values()].filter((p) => keyId === null || p.keyIds.has(keyId));
      return this.page(req, plans, (p) => this.planJson(p));
    }
    const plan = rest[0] === undefined ? undefined : this.plans.get(rest[0]);
    if (!plan) return this.fail(404, 'NotFoundException', 'Invalid Usage Plan ID specified');
    if (rest.length === 1 && req.method === 'GET') return { status: 200, body: this.planJson(plan) };
    if (rest[1] !== 'keys' || rest.length > 3)
      return this.fail(404, 'NotFoundException', 'Invalid resource path');
    const usagePlanKey = (k: ApiKey) => ({ id: k.id, type: 'API_KEY', value: k.value, name: k.name });

    if (rest.length === 2 && req.method === 'GET') {
      const name = req.query.get('name');
      const keys = [...plan.keyIds]
        .map((id) => this.keys.get(id))
        .filter((k): k is ApiKey => k !== undefined && (name === null || (k.name ?? '').startsWith(name)));
      return this.page(req, keys, usagePlanKey);
    }
    if (rest.length === 2 && req.method === 'POST') {
      for (const field of ['keyId', 'keyType'] as const)
        if (typeof body[field] !== 'string' || body[field] === '')
          return this.fail(400, 'BadRequestException', `${field} is required`);
      if (body.keyType !== 'API_KEY')
        return this.fail(
          400,
          'BadRequestException',
          `Invalid keyType '${String(body.keyType)}': must be API_KEY`,
        );
      const key = this.keys.get(body.keyId as string);
      if (!key) return this.fail(404, 'NotFoundException', 'Invalid API Key identifier specified');
      if (plan.keyIds.has(key.id))
        return this.fail(
          409,
          'ConflictException',
          `Usage Plan ${plan.id} already contains API Key ${key.id}`,
        );
      // A key may not reach one API stage through two plans.
      const clash = [...this.plans.values()].find(
        (other) =>
          other.keyIds.has(key.id) &&
          other.apiStages.some((s) => plan.apiStages.some((t) => t.apiId === s.apiId && t.stage === s.stage)),
      );
      if (clash)
        return this.fail(
          409,
          'ConflictException',
          `Usage Plan ${plan.id} cannot be added because API Key ${key.id} cannot reference multiple Usage Plans with the same API Stage`,
        );
      plan.keyIds.add(key.id);
      return { status: 201, body: usagePlanKey(key) };
    }
    if (rest.length === 3) {
      const key = this.keys.get(rest[2]!);
      if (!key || !plan.keyIds.has(key.id))
        return this.fail(404, 'NotFoundException', 'Invalid API Key identifier specified');
      if (req.method === 'GET') return { status: 200, body: usagePlanKey(key) };
      if (req.method === 'DELETE') {
        plan.keyIds.delete(key.id);
        return { status: 202 };
      }
    }
    return this.fail(404, 'NotFoundException', 'Invalid resource path');
  }
}
