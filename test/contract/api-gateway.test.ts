import { API_GATEWAY_KEY_QUOTA, apiGateway } from '../../lambdas/providers/api-gateway.js';
import { ApiGatewaySandbox } from '../../local/sandboxes/api-gateway.js';
import { signedHeaders } from '../../local/sandboxes/sigv4.js';
import type { ApiViolation, SeededProvider } from './fixture.js';
import { providerContract } from './suite.js';

const apiGatewayError = (body: unknown): boolean =>
  typeof (body as { message?: unknown })?.message === 'string';

providerContract({
  provider: apiGateway,
  // GetApiKeys' default page; the adapter asks for 500, the most API Gateway returns.
  listPageSize: 25,
  keyLimit: API_GATEWAY_KEY_QUOTA,
  keyIdCheck: 'full',
  async seed(now): Promise<SeededProvider> {
    const sandbox = new ApiGatewaySandbox({ now });
    await sandbox.start();
    const admin = sandbox.seedAdmin();
    const partnerPlan = sandbox.seedUsagePlan('partners-gold');
    sandbox.seedUsagePlan('internal-batch', [{ apiId: 'otherapi01', stage: 'beta' }]);
    const current = sandbox.seedKey('checkout-partner-acme', { usagePlanIds: [partnerPlan] });

    const signed = (method: string, path: string, body?: string, headers: Record<string, string> = {}) => ({
      method,
      path,
      headers: signedHeaders({
        method,
        url: `${sandbox.url}${path}`,
        headers,
        ...(body === undefined ? {} : { body }),
        ...admin,
        region: 'us-east-1',
        service: 'apigateway',
      }),
      ...(body === undefined ? {} : { body }),
    });
    const json = { 'content-type': 'application/json' };
    const violations: ApiViolation[] = [
      {
        what: 'an x-api-key header on the control plane, which documents SigV4 only',
        method: 'GET',
        path: '/apikeys',
        headers: { 'x-api-key': current.value },
        status: 403,
        errorShape: apiGatewayError,
      },
      {
        what: 'bearer auth where API Gateway documents SigV4',
        method: 'GET',
        path: '/apikeys',
        headers: { authorization: `Bearer ${admin.secretAccessKey}` },
        status: 403,
        errorShape: apiGatewayError,
      },
      {
        what: 'a SigV4 signature made with the wrong secret',
        method: 'GET',
        path: '/apikeys',
        headers: signedHeaders({
          method: 'GET',
          url: `${sandbox.url}/apikeys`,
          accessKeyId: admin.accessKeyId,
          secretAccessKey: `${admin.secretAccessKey}x`,
          region: 'us-east-1',
          service: 'apigateway',
        }),
        status: 403,
        errorShape: apiGatewayError,
      },
      {
        what: 'a create with a body that is not JSON',
        ...signed('POST', '/apikeys', '{"name": "x", ', json),
        status: 400,
        errorShape: apiGatewayError,
      },
      {
        what: 'a usage plan key without the required keyType',
        ...signed('POST', `/usageplans/${partnerPlan}/keys`, JSON.stringify({ keyId: current.id }), json),
        status: 400,
        errorShape: apiGatewayError,
      },
      {
        what: 'a stage call with an unknown key',
        method: 'GET',
        path: `/${sandbox.stage}/health`,
        headers: { 'x-api-key': 'k'.repeat(40) },
        status: 403,
        errorShape: apiGatewayError,
      },
    ];

    return {
      sandbox,
      createRequest: (req) => req.method === 'POST' && req.path === '/apikeys',
      credential: { ...admin },
      options: { region: 'us-east-1', validateUrl: `${sandbox.url}/${sandbox.stage}/health` },
      current,
      appKeys: () => sandbox.listKeys().map(({ id, name }) => ({ id, name })),
      permissionsOf: (id) => sandbox.plansOf(id),
      accepts: (key) => sandbox.accepts(key.id, key.value),
      fillToLimit() {
        for (let i = sandbox.listKeys().length; i < API_GATEWAY_KEY_QUOTA; i++)
          sandbox.seedKey(`filler-${i}`);
      },
      addOtherKeys(count) {
        for (let i = 0; i < count; i++) sandbox.seedKey(`other-team-${i}`, { usagePlanIds: [partnerPlan] });
      },
      async use(key) {
        const res = await fetch(new URL(`/${sandbox.stage}/health`, sandbox.url), {
          headers: { 'x-api-key': key.value },
        });
        await res.body?.cancel();
      },
      violations,
    };
  },
});
