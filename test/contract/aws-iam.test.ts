import { awsIam } from '../../lambdas/providers/aws-iam.js';
import { AwsIamSandbox } from '../../local/sandboxes/aws-iam.js';
import { signedHeaders } from '../../local/sandboxes/sigv4.js';
import type { SeededProvider } from './fixture.js';
import { providerContract } from './suite.js';

const APP_USER = 'notification-service';
const FORM = 'application/x-www-form-urlencoded; charset=utf-8';
/** AWS Query protocol's error document with the given code. */
const queryError =
  (code: string) =>
  (body: unknown): boolean =>
    typeof body === 'string' &&
    new RegExp(
      `^<ErrorResponse xmlns="https://iam\\.amazonaws\\.com/doc/2010-05-08/"><Error><Type>Sender</Type><Code>${code}</Code><Message>[^<]+</Message></Error><RequestId>[^<]+</RequestId></ErrorResponse>$`,
    ).test(body);

providerContract({
  provider: awsIam,
  keyLimit: 2,
  keyIdCheck: 'full',
  async seed(now): Promise<SeededProvider> {
    const sandbox = new AwsIamSandbox({ now });
    await sandbox.start();
    const admin = sandbox.seedAdmin();
    const current = sandbox.seedAccessKey(APP_USER);
    const signed = (
      body: string,
      key: { accessKeyId: string; secretAccessKey: string } = admin,
      contentType = FORM,
    ) => ({
      method: 'POST',
      path: '/',
      body,
      headers: signedHeaders({
        method: 'POST',
        url: `${sandbox.url}/`,
        headers: { 'content-type': contentType },
        body,
        ...key,
        region: 'us-east-1',
        service: 'iam',
      }),
    });
    const create = `Action=CreateAccessKey&Version=2010-05-08&UserName=${APP_USER}`;
    return {
      sandbox,
      createRequest: (req) => new URLSearchParams(req.body).get('Action') === 'CreateAccessKey',
      credential: admin,
      options: { userName: APP_USER, region: 'us-east-1' },
      current,
      appKeys: () => sandbox.listKeys().map((k) => ({ id: k.id, name: k.name ?? '' })),
      // An access key acts with its user's permissions.
      permissionsOf: (id) => sandbox.listKeys().find((k) => k.id === id)?.userName,
      accepts: (key) => sandbox.accepts(key.id, key.value),
      fillToLimit() {
        sandbox.seedAccessKey(APP_USER);
      },
      async use(key) {
        const url = `${sandbox.url}/prod/status`;
        await fetch(url, {
          headers: signedHeaders({
            method: 'GET',
            url,
            accessKeyId: key.id,
            secretAccessKey: key.value,
            region: 'us-east-1',
            service: 'execute-api',
          }),
        });
      },
      violations: [
        {
          what: 'a bearer token where AWS documents SigV4',
          method: 'POST',
          path: '/',
          headers: { authorization: `Bearer ${admin.secretAccessKey}`, 'content-type': FORM },
          body: create,
          status: 400,
          errorShape: queryError('IncompleteSignature'),
        },
        {
          what: 'a signature made with a forged secret',
          ...signed(create, { accessKeyId: admin.accessKeyId, secretAccessKey: `${admin.secretAccessKey}x` }),
          status: 403,
          errorShape: queryError('SignatureDoesNotMatch'),
        },
        {
          what: 'a JSON body where the Query protocol documents a form',
          ...signed(
            JSON.stringify({ Action: 'CreateAccessKey', UserName: APP_USER }),
            admin,
            'application/json',
          ),
          status: 400,
          errorShape: queryError('MissingAction'),
        },
        {
          what: 'UpdateAccessKey without the required AccessKeyId',
          ...signed(`Action=UpdateAccessKey&Version=2010-05-08&UserName=${APP_USER}&Status=Inactive`),
          status: 400,
          errorShape: queryError('ValidationError'),
        },
        {
          what: 'an application key managing keys (only the rotator is allowed iam:CreateAccessKey)',
          ...signed(create, { accessKeyId: current.id, secretAccessKey: current.value }),
          status: 403,
          errorShape: queryError('AccessDenied'),
        },
      ],
    };
  },
});
