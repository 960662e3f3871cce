import { randomUUID } from 'node:crypto';
import type { AwsRequest, AwsResponse, AwsService } from './protocol.js';

const XMLNS = 'https://sts.amazonaws.com/doc/2011-06-15/';

/**
 * STS `GetCallerIdentity` over its real wire protocol (awsQuery, XML), so commands that resolve the account
 * before touching anything (`rekey rehearse --target staging`) run against the loopback endpoint too.
 * Every caller is the same IAM user of the loopback account; `callerArn` can be changed by tests.
 */
export class StsService implements AwsService {
  readonly signingNames = ['sts'] as const;
  callerArn: string;

  constructor(readonly accountId: string) {
    this.callerArn = `arn:aws:iam::${accountId}:user/rekey-loopback`;
  }

  async handle(request: AwsRequest): Promise<AwsResponse> {
    const form = new URLSearchParams(request.body);
    const action = form.get('Action') ?? request.query.get('Action') ?? '';
    if (action !== 'GetCallerIdentity') {
      return {
        status: 400,
        headers: { 'content-type': 'text/xml' },
        body: `<ErrorResponse xmlns="${XMLNS}"><Error><Type>Sender</Type><Code>InvalidAction</Code><Message>The loopback STS answers GetCallerIdentity only.</Message></Error><RequestId>${randomUUID()}</RequestId></ErrorResponse>`,
      };
    }
    return {
      status: 200,
      headers: { 'content-type': 'text/xml' },
      body: `<GetCallerIdentityResponse xmlns="${XMLNS}"><GetCallerIdentityResult><Arn>${this.callerArn}</Arn><UserId>AIDALOOPBACK</UserId><Account>${this.accountId}</Account></GetCallerIdentityResult><ResponseMetadata><RequestId>${randomUUID()}</RequestId></ResponseMetadata></GetCallerIdentityResponse>`,
    };
  }
}
