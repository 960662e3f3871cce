import { randomBytes, randomUUID } from 'node:crypto';
import type { Clock } from '../clock.js';
import type { AwsRequest, AwsResponse, AwsService, AwsServiceError } from './protocol.js';

const XMLNS = 'https://sts.amazonaws.com/doc/2011-06-15/';

/** What a role's session may do on the loopback endpoint: a stand-in for its IAM policy. */
export type RolePolicy = (call: {
  service: string;
  operation: string;
  input: Record<string, unknown>;
}) => boolean;

interface Session {
  roleArn: string;
  sessionName: string;
  expiration: Date;
}

/**
 * STS over its real wire protocol (awsQuery, XML): `GetCallerIdentity`, so commands that resolve the account
 * before touching anything (`rekey rehearse --target staging`) run against the loopback endpoint, and
 * `AssumeRole` of the roles a test defines (`defineRole`), so per-key role sessions are real: the endpoint
 * knows which role signed each request and refuses what that role's policy does not allow. Every other
 * caller is the same IAM user of the loopback account; `callerArn` can be changed by tests.
 */
export class StsService implements AwsService {
  readonly signingNames = ['sts'] as const;
  callerArn: string;
  private readonly roles = new Map<string, RolePolicy>();
  private readonly sessions = new Map<string, Session>();
  private readonly accessKeys = new Map<string, { policy: RolePolicy; principalArn: string }>();
  /** Every AssumeRole answered: which role, which session name. */
  readonly assumed: Array<{ roleArn: string; sessionName: string }> = [];

  constructor(
    readonly accountId: string,
    private readonly clock: Clock,
  ) {
    this.callerArn = `arn:aws:iam::${accountId}:user/rekey-loopback`;
  }

  /** A role that may be assumed, with what its sessions may do. */
  defineRole(roleArn: string, policy: RolePolicy): void {
    this.roles.set(roleArn, policy);
  }

  /**
   * A principal's own access key with what it may do — e.g. the credentials Lambda gives a function of its
   * execution role — so a call a function makes without assuming a key's role is held to that role's policy.
   */
  defineAccessKey(accessKeyId: string, policy: RolePolicy, principalArn: string): void {
    this.accessKeys.set(accessKeyId, { policy, principalArn });
  }

  /**
   * Why the request signed with `accessKeyId` is refused, or undefined when it may go ahead: a request
   * with neither a session nor a defined access key (the loopback user) always may.
   */
  refusal(
    accessKeyId: string,
    call: { service: string; operation: string; input: Record<string, unknown> },
  ): { code: string; message: string } | undefined {
    const principal = this.accessKeys.get(accessKeyId);
    if (principal)
      return principal.policy(call)
        ? undefined
        : {
            code: 'AccessDeniedException',
            message: `User: ${principal.principalArn} is not authorized to perform: ${call.service}:${call.operation} because no identity-based policy allows the ${call.service}:${call.operation} action`,
          };
    const session = this.sessions.get(accessKeyId);
    if (!session) return undefined;
    if (session.expiration.getTime() <= this.clock.now().getTime())
      return {
        code: 'ExpiredTokenException',
        message: 'The security token included in the request is expired',
      };
    if (this.roles.get(session.roleArn)?.(call)) return undefined;
    return {
      code: 'AccessDeniedException',
      message: `User: ${session.roleArn.replace(':iam::', ':sts::').replace(':role/', ':assumed-role/')}/${session.sessionName} is not authorized to perform: ${call.service}:${call.operation}`,
    };
  }

  async handle(request: AwsRequest): Promise<AwsResponse> {
    const form = new URLSearchParams(request.body);
    const action = form.get('Action') ?? request.query.get('Action') ?? '';
    if (action === 'GetCallerIdentity')
      return ok(
        `<GetCallerIdentityResponse xmlns="${XMLNS}"><GetCallerIdentityResult><Arn>${this.callerArn}</Arn><UserId>AIDALOOPBACK</UserId><Account>${this.accountId}</Account></GetCallerIdentityResult>${metadata()}</GetCallerIdentityResponse>`,
      );
    if (action === 'AssumeRole') return this.assumeRole(form);
    return error(400, 'InvalidAction', 'The loopback STS answers GetCallerIdentity and AssumeRole only.');
  }

  /** An error as the Query protocol sends it: `<ErrorResponse>` with the code and message. */
  errorResponse(e: AwsServiceError): AwsResponse {
    return error(e.status, e.type, e.message);
  }

  private assumeRole(form: URLSearchParams): AwsResponse {
    const roleArn = form.get('RoleArn') ?? '';
    const sessionName = form.get('RoleSessionName') ?? '';
    const seconds = Number(form.get('DurationSeconds') ?? 3600);
    if (!/^arn:aws[a-z-]*:iam::\d{12}:role\/[\w+=,.@/-]{1,512}$/.test(roleArn))
      return error(
        400,
        'ValidationError',
        `1 validation error detected: Value '${roleArn}' at 'roleArn' failed to satisfy constraint`,
      );
    if (!/^[\w+=,.@-]{2,64}$/.test(sessionName))
      return error(
        400,
        'ValidationError',
        `1 validation error detected: Value at 'roleSessionName' failed to satisfy constraint`,
      );
    if (!Number.isInteger(seconds) || seconds < 900 || seconds > 43_200)
      return error(
        400,
        'ValidationError',
        `1 validation error detected: Value at 'durationSeconds' failed to satisfy constraint`,
      );
    if (!this.roles.has(roleArn))
      return error(
        403,
        'AccessDenied',
        `User: ${this.callerArn} is not authorized to perform: sts:AssumeRole on resource: ${roleArn}`,
      );
    const accessKeyId = `ASIA${randomBytes(8).toString('hex').toUpperCase()}`;
    const expiration = new Date(this.clock.now().getTime() + seconds * 1000);
    this.sessions.set(accessKeyId, { roleArn, sessionName, expiration });
    this.assumed.push({ roleArn, sessionName });
    const assumedArn = `${roleArn.replace(':iam::', ':sts::').replace(':role/', ':assumed-role/')}/${sessionName}`;
    return ok(
      `<AssumeRoleResponse xmlns="${XMLNS}"><AssumeRoleResult><Credentials><AccessKeyId>${accessKeyId}</AccessKeyId><SecretAccessKey>${randomBytes(20).toString('base64')}</SecretAccessKey><SessionToken>${randomBytes(32).toString('base64')}</SessionToken><Expiration>${expiration.toISOString()}</Expiration></Credentials><AssumedRoleUser><AssumedRoleId>AROALOOPBACK:${sessionName}</AssumedRoleId><Arn>${assumedArn}</Arn></AssumedRoleUser></AssumeRoleResult>${metadata()}</AssumeRoleResponse>`,
    );
  }
}

const metadata = () => `<ResponseMetadata><RequestId>${randomUUID()}</RequestId></ResponseMetadata>`;
const ok = (body: string): AwsResponse => ({ status: 200, headers: { 'content-type': 'text/xml' }, body });
const error = (status: number, code: string, message: string): AwsResponse => ({
  status,
  headers: { 'content-type': 'text/xml' },
  body: `<ErrorResponse xmlns="${XMLNS}"><Error><Type>Sender</Type><Code>${code}</Code><Message>${message}</Message></Error><RequestId>${randomUUID()}</RequestId></ErrorResponse>`,
});
