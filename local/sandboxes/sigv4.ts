import { createHash, createHmac } from 'node:crypto';
import type { SandboxRequest } from './sandbox.js';

/**
 * AWS Signature Version 4, as the AWS sandboxes (IAM and STS, API Gateway) check it: the signature is
 * recomputed from the request and the secret the sandbox issued for the access key id, so a forged
 * secret or a tampered request is refused exactly as AWS refuses it. Request age is not checked: the
 * rehearsal runs sandboxes on a compressed clock the SDK knows nothing about.
 */

const ALGORITHM = 'AWS4-HMAC-SHA256';
const AUTHORIZATION =
  /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, ?SignedHeaders=([a-z0-9;-]+), ?Signature=([0-9a-f]{64})$/;

export interface SigV4Scope {
  accessKeyId: string;
  date: string;
  region: string;
  service: string;
}

export type SigV4Check =
  | ({ ok: true } & SigV4Scope)
  | {
      ok: false;
      /** AWS's error code for the failure. */
      code:
        | 'MissingAuthenticationToken'
        | 'IncompleteSignature'
        | 'InvalidClientTokenId'
        | 'SignatureDoesNotMatch';
      message: string;
      accessKeyId?: string;
    };

/** RFC 3986 escaping as SigV4 defines it. */
function escapeUri(value: string): string {
  return encodeURIComponent(value).replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

const sha256Hex = (data: string): string => createHash('sha256').update(data, 'utf8').digest('hex');
const hmac = (key: string | Buffer, data: string): Buffer =>
  createHmac('sha256', key).update(data, 'utf8').digest();

function headerValue(headers: SandboxRequest['headers'], name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value.join(',') : value;
}

function canonicalRequest(req: SandboxRequest, signedHeaders: string[]): string {
  // The wire path is already escaped once; SigV4 (outside S3) escapes it again.
  const path = escapeUri(req.path).replace(/%2F/g, '/');
  const query = [...req.query.entries()]
    .filter(([name]) => name !== 'X-Amz-Signature')
    .map(([name, value]) => [escapeUri(name), escapeUri(value)] as const)
    .sort(([a, av], [b, bv]) => (a === b ? (av < bv ? -1 : av > bv ? 1 : 0) : a < b ? -1 : 1))
    .map(([name, value]) => `${name}=${value}`)
    .join('&');
  const headers = signedHeaders
    .map((name) => `${name}:${(headerValue(req.headers, name) ?? '').trim().replace(/\s+/g, ' ')}\n`)
    .join('');
  const payloadHash = headerValue(req.headers, 'x-amz-content-sha256') ?? sha256Hex(req.body);
  return [req.method, path, query, headers, signedHeaders.join(';'), payloadHash].join('\n');
}

function signature(
  secret: string,
  scope: Omit<SigV4Scope, 'accessKeyId'>,
  amzDate: string,
  canonical: string,
): string {
  const credentialScope = `${scope.date}/${scope.region}/${scope.service}/aws4_request`;
  const stringToSign = [ALGORITHM, amzDate, credentialScope, sha256Hex(canonical)].join('\n');
  let key = hmac(`AWS4${secret}`, scope.date);
  key = hmac(key, scope.region);
  key = hmac(key, scope.service);
  key = hmac(key, 'aws4_request');
  return createHmac('sha256', key).update(stringToSign, 'utf8').digest('hex');
}

/** The credential scope of a SigV4 Authorization header, without checking the signature. */
export function sigV4Scope(req: SandboxRequest): SigV4Scope | undefined {
  const match = AUTHORIZATION.exec(headerValue(req.headers, 'authorization') ?? '');
  return match
    ? { accessKeyId: match[1]!, date: match[2]!, region: match[3]!, service: match[4]! }
    : undefined;
}

/**
 * Checks a request's SigV4 signature. `secretOf` answers the secret access key of an access key id the
 * caller may use (undefined for unknown or inactive keys).
 */
export function verifySigV4(
  req: SandboxRequest,
  secretOf: (accessKeyId: string) => string | undefined,
): SigV4Check {
  const authorization = headerValue(req.headers, 'authorization');
  if (!authorization) {
    return {
      ok: false,
      code: 'MissingAuthenticationToken',
      message: 'Request is missing Authentication Token',
    };
  }
  const match = AUTHORIZATION.exec(authorization);
  const amzDate = headerValue(req.headers, 'x-amz-date');
  if (!match || !amzDate) {
    return {
      ok: false,
      code: 'IncompleteSignature',
      message: `Authorization header requires ${ALGORITHM} with Credential, SignedHeaders and Signature, and an X-Amz-Date header.`,
    };
  }
  const [, accessKeyId, date, region, service, signedHeaderList, sent] = match as unknown as string[];
  const secret = secretOf(accessKeyId!);
  if (secret === undefined) {
    return {
      ok: false,
      code: 'InvalidClientTokenId',
      message: 'The security token included in the request is invalid.',
      accessKeyId,
    };
  }
  const signedHeaders = signedHeaderList!.split(';');
  const expected = signature(
    secret,
    { date: date!, region: region!, service: service! },
    amzDate,
    canonicalRequest(req, signedHeaders),
  );
  if (expected !== sent) {
    return {
      ok: false,
      code: 'SignatureDoesNotMatch',
      message:
        'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.',
      accessKeyId,
    };
  }
  return { ok: true, accessKeyId: accessKeyId!, date: date!, region: region!, service: service! };
}

/**
 * SigV4 headers for a raw request to a sandbox (tests that send what an SDK would not): host,
 * x-amz-date and authorization over the given headers.
 */
export function signedHeaders(input: {
  method: string;
  url: string;
  headers?: Record<string, string>;
  body?: string;
  accessKeyId: string;
  secretAccessKey: string;
  region: string;
  service: string;
  now?: Date;
}): Record<string, string> {
  const url = new URL(input.url);
  const amzDate = (input.now ?? new Date())
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');
  const headers: Record<string, string> = { ...input.headers, host: url.host, 'x-amz-date': amzDate };
  const lower = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
  const names = Object.keys(lower).sort();
  const req: SandboxRequest = {
    method: input.method,
    path: url.pathname,
    query: url.searchParams,
    headers: lower,
    body: input.body ?? '',
  };
  const scope = { date: amzDate.slice(0, 8), region: input.region, service: input.service };
  const sig = signature(input.secretAccessKey, scope, amzDate, canonicalRequest(req, names));
  // fetch sets Host itself (from the URL, the value signed here) and refuses to have it set.
  const { host: _host, ...sent } = lower;
  return {
    ...sent,
    authorization: `${ALGORITHM} Credential=${input.accessKeyId}/${scope.date}/${scope.region}/${scope.service}/aws4_request, SignedHeaders=${names.join(';')}, Signature=${sig}`,
  };
}
