import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type Clock, systemClock } from '../clock.js';
import { CloudWatchService } from './cloudwatch.js';
import { DynamoDbService } from './dynamodb.js';
import { LambdaRegistry } from './lambda.js';
import {
  type AwsRequest,
  type AwsResponse,
  type AwsService,
  AwsServiceError,
  jsonError,
} from './protocol.js';
import { documentedQuotas, type RateQuota, RateQuotas } from './quotas.js';
import { SchedulerService } from './scheduler.js';
import { SecretsManagerService } from './secrets-manager.js';
import { SnsService } from './sns.js';
import { StsService } from './sts.js';

export interface LoopbackAwsOptions {
  clock?: Clock;
  region?: string;
  accountId?: string;
  /** The real-time clock of the request-rate quotas, in ms (tests freeze it); default performance.now. */
  rateClock?: () => number;
  /** The request-rate quotas enforced; default the documented ones of `region` (quotas.ts). */
  quotas?: readonly RateQuota[];
}

/**
 * The loopback AWS endpoint: one HTTP server on 127.0.0.1 that answers real SDK v3 clients pointed at it
 * through AWS_ENDPOINT_URL. Requests are routed by the SigV4 credential scope's service name, so one URL
 * serves every service. A test and rehearsal tool: signatures are required but not verified.
 */
export class LoopbackAws {
  readonly clock: Clock;
  readonly region: string;
  readonly accountId: string;
  readonly lambdas: LambdaRegistry;
  readonly secretsManager: SecretsManagerService;
  readonly scheduler: SchedulerService;
  readonly sns: SnsService;
  readonly cloudWatch: CloudWatchService;
  readonly sts: StsService;
  readonly dynamodb: DynamoDbService;
  private readonly services: AwsService[] = [];
  private server: Server | undefined;
  private outage: 'none' | 'unavailable' | 'refuse' = 'none';
  private readonly faults: AwsFault[] = [];
  /** The documented request-rate quotas, enforced on every request (see quotas.ts). */
  readonly quotas: RateQuotas;
  /** Requests answered, by service and operation, for assertions ("exactly one GetSecretValue"). */
  readonly requestCounts = new Map<string, number>();

  constructor(options: LoopbackAwsOptions = {}) {
    this.clock = options.clock ?? systemClock;
    this.region = options.region ?? 'us-east-1';
    this.accountId = options.accountId ?? '123456789012';
    this.lambdas = new LambdaRegistry(this.region, this.accountId, this.clock);
    this.quotas = new RateQuotas(options.quotas ?? documentedQuotas(this.region), options.rateClock);
    this.secretsManager = new SecretsManagerService(this.clock, this.lambdas, this.region, this.accountId);
    this.scheduler = new SchedulerService(this.clock, this.lambdas, this.region, this.accountId);
    this.sns = new SnsService(this.clock, this.lambdas, this.region, this.accountId);
    this.addService(this.secretsManager);
    this.addService(this.scheduler);
    this.cloudWatch = new CloudWatchService(this.clock, this.region, this.accountId);
    this.addService(this.sns);
    this.addService(this.cloudWatch);
    this.sts = new StsService(this.accountId, this.clock);
    this.addService(this.sts);
    this.dynamodb = new DynamoDbService(this.clock, this.region, this.accountId);
    this.addService(this.dynamodb);
  }

  /** Adds a service (Scheduler, SNS, CloudWatch…) answered on the same endpoint. */
  addService(service: AwsService): void {
    this.services.push(service);
  }

  get url(): string {
    const address = this.server?.address() as AddressInfo | null | undefined;
    if (!address) throw new Error('the loopback endpoint is not started');
    return `http://127.0.0.1:${address.port}`;
  }

  async start(port = 0): Promise<string> {
    const server = createServer((req, res) => void this.serve(req, res));
    server.keepAliveTimeout = 1000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', resolve);
    });
    this.server = server;
    return this.url;
  }

  async stop(): Promise<void> {
    await this.secretsManager.settled();
    await this.sns.settled();
    await this.lambdas.settled();
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /**
   * Simulates an outage of the whole endpoint: 'unavailable' answers 503 ServiceUnavailableException,
   * 'refuse' drops connections; 'none' restores service.
   */
  setOutage(mode: 'none' | 'unavailable' | 'refuse'): void {
    this.outage = mode;
  }

  /**
   * Runs everything the services owe by the clock — due schedules, Lambda's asynchronous retries, Secrets
   * Manager's re-attempts of failed rotations — and resolves once what it started has finished. Returns how
   * many schedules fired.
   */
  async runDue(): Promise<number> {
    const fired = await this.scheduler.runDue();
    await this.lambdas.runDue();
    this.secretsManager.runDue();
    await this.secretsManager.settled();
    await this.lambdas.settled();
    return fired;
  }

  /**
   * Injects a fault into the next `times` requests for `operation` ("secretsmanager.PutSecretValue",
   * "scheduler.CreateSchedule", "dynamodb.PutItem"…): see `AwsFault` for the kinds. The SDK's own retries
   * then meet what AWS really does — a repeat of a request that already took effect.
   */
  injectFault(fault: AwsFault): void {
    this.faults.push({ ...fault });
  }

  clearFaults(): void {
    this.faults.length = 0;
  }

  private takeFault(operation: string): AwsFault | undefined {
    const fault = this.faults.find((f) => f.times > 0 && f.operation === operation);
    if (fault) fault.times -= 1;
    return fault;
  }

  /** The refusal of a request over `quota`, in the protocol of the service it was sent to. */
  private overQuota(service: string, quota: RateQuota, tableName: string | undefined): AwsResponse {
    const { code, status, message, reason } = quota.error;
    const error = new AwsServiceError(code, message, status);
    switch (service) {
      case 'scheduler':
        return this.scheduler.errorResponse(error);
      case 'sns':
        return this.sns.errorResponse(error);
      case 'sts':
        return this.sts.errorResponse(error);
      case 'dynamodb':
        return this.dynamodb.errorResponse(error, reason && tableName ? { reason, tableName } : undefined);
      default:
        return jsonError(error);
    }
  }

  /** Count of requests answered for `service.Operation` (e.g. "secretsmanager.GetSecretValue"). */
  count(operation: string): number {
    return this.requestCounts.get(operation) ?? 0;
  }

  private async serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    if (this.outage === 'refuse') {
      req.socket.destroy();
      return;
    }
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const request: AwsRequest = {
      service: signingService(req.headers.authorization),
      method: req.method ?? 'GET',
      path: url.pathname,
      query: url.searchParams,
      headers: req.headers,
      body: Buffer.concat(chunks).toString('utf8'),
    };
    let response: AwsResponse;
    if (!request.service) {
      response = jsonError(
        new AwsServiceError(
          'MissingAuthenticationTokenException',
          'Request is missing a SigV4 Authorization header.',
          403,
        ),
      );
    } else if (this.outage === 'unavailable') {
      response = jsonError(
        new AwsServiceError(
          'ServiceUnavailableException',
          'The loopback endpoint is simulating an outage.',
          503,
        ),
      );
    } else {
      const operation = `${request.service}.${operationName(request)}`;
      const fault = this.takeFault(operation);
      // A role session may do only what its role allows (STS defineRole): IAM, in miniature.
      const refused = this.sts.refusal(accessKeyOf(req.headers.authorization), {
        service: request.service,
        operation: operationName(request),
        input: jsonInput(request.body),
      });
      const partition = request.service === 'dynamodb' ? this.dynamodb.partitionOf(request.body) : undefined;
      const overQuota = refused ? undefined : this.quotas.take(operation, partition?.scope);
      if (refused) {
        response = jsonError(new AwsServiceError(refused.code, refused.message, 400));
      } else if (overQuota) {
        response = this.overQuota(request.service, overQuota, partition?.tableName);
      } else if (fault?.kind === 'before' || fault?.kind === 'throttle') {
        response = jsonError(
          fault.kind === 'throttle'
            ? new AwsServiceError('ThrottlingException', 'Rate exceeded', 400)
            : new AwsServiceError('InternalFailure', 'The loopback endpoint injected a failure.', 500),
        );
      } else {
        const service = this.services.find((s) => s.signingNames.includes(request.service));
        response = service
          ? await service.handle(request)
          : jsonError(
              new AwsServiceError(
                'UnknownServiceException',
                `The loopback endpoint does not serve ${request.service}.`,
                400,
              ),
            );
        this.requestCounts.set(operation, (this.requestCounts.get(operation) ?? 0) + 1);
        // The request took effect; its answer is lost on the way back.
        if (fault?.kind === 'reset') {
          req.socket.destroy();
          return;
        }
        if (fault?.kind === 'after')
          response = jsonError(
            new AwsServiceError('InternalFailure', 'The loopback endpoint lost the response.', 500),
          );
      }
    }
    res.writeHead(response.status, { ...response.headers, 'x-amzn-requestid': crypto.randomUUID() });
    res.end(response.body);
  }
}

/** A fault injected into the loopback endpoint's answers. */
export interface AwsFault {
  /** `service.Operation`, as `count()` names it. */
  operation: string;
  /**
   * before: 500 without processing; throttle: ThrottlingException without processing; after: processed,
   * then answered 500 (a lost response); reset: processed, then the connection is dropped.
   */
  kind: 'before' | 'throttle' | 'after' | 'reset';
  times: number;
}

/** The operation a request names: X-Amz-Target's for JSON protocols, Action for Query, a REST route's name. */
function operationName(request: AwsRequest): string {
  const target = String(request.headers['x-amz-target'] ?? '');
  if (target) return target.split('.').pop()!;
  if (request.service === 'scheduler') {
    const single = /^\/schedules\/[^/]+$/.test(request.path);
    if (single)
      return (
        { POST: 'CreateSchedule', GET: 'GetSchedule', DELETE: 'DeleteSchedule', PUT: 'UpdateSchedule' }[
          request.method
        ] ?? request.method
      );
    if (request.path === '/schedules') return 'ListSchedules';
  }
  const action = new URLSearchParams(request.body).get('Action');
  return action ?? `${request.method} ${request.path}`;
}

/** The access key id that signed the request ("AWS4-HMAC-SHA256 Credential=AKID/…" → "AKID"). */
function accessKeyOf(authorization: string | undefined): string {
  return /Credential=([^/]+)\//.exec(authorization ?? '')?.[1] ?? '';
}

/** A JSON protocol's request body as an object; anything else as {}. */
function jsonInput(body: string): Record<string, unknown> {
  try {
    const parsed: unknown = JSON.parse(body);
    return parsed !== null && typeof parsed === 'object' ? (parsed as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

/** "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/secretsmanager/aws4_request, …" → "secretsmanager". */
function signingService(authorization: string | undefined): string {
  const match = /Credential=[^/]+\/\d{8}\/[^/]+\/([^/]+)\/aws4_request/.exec(authorization ?? '');
  return match?.[1] ?? '';
}

/**
 * Starts a loopback AWS endpoint and points the SDK's standard configuration at it, exactly as a user
 * would point the same tests at LocalStack or an account: AWS_ENDPOINT_URL, region and credentials.
 */
export async function startLoopbackAws(options: LoopbackAwsOptions = {}): Promise<LoopbackAws> {
  const aws = new LoopbackAws(options);
  Object.assign(process.env, loopbackEnvironment(await aws.start(), aws.region));
  delete process.env.AWS_PROFILE;
  return aws;
}

/** The loopback account's own user: unrestricted (no session, no defined access key). */
export const LOOPBACK_USER = { accessKeyId: 'AKIDLOOPBACK', secretAccessKey: 'loopback-secret' } as const;

/** The standard SDK variables that point a client at the endpoint `url` as the loopback user. */
export function loopbackEnvironment(url: string, region: string): Record<string, string> {
  return {
    AWS_ENDPOINT_URL: url,
    AWS_REGION: region,
    AWS_ACCESS_KEY_ID: LOOPBACK_USER.accessKeyId,
    AWS_SECRET_ACCESS_KEY: LOOPBACK_USER.secretAccessKey,
  };
}
