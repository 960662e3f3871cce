/** Wire-level pieces shared by the loopback AWS services. */

/** An error that goes out with AWS's error type name, so SDK v3 raises the real exception class. */
export class AwsServiceError extends Error {
  constructor(
    readonly type: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
    this.name = type;
  }
}

export interface AwsRequest {
  /** Signing name from the SigV4 credential scope: "secretsmanager", "scheduler", "sns", "monitoring"… */
  service: string;
  method: string;
  path: string;
  query: URLSearchParams;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

export interface AwsResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

export interface AwsService {
  /** SigV4 signing names this service answers. */
  readonly signingNames: readonly string[];
  handle(request: AwsRequest): Promise<AwsResponse>;
}

/** Epoch seconds, the JSON protocols' timestamp format. */
export const epochSeconds = (date: Date): number => date.getTime() / 1000;

export function jsonResponse(
  body: unknown,
  contentType = 'application/x-amz-json-1.1',
  status = 200,
): AwsResponse {
  return { status, headers: { 'content-type': contentType }, body: JSON.stringify(body ?? {}) };
}

export function jsonError(error: AwsServiceError, contentType = 'application/x-amz-json-1.1'): AwsResponse {
  return {
    status: error.status,
    headers: { 'content-type': contentType, 'x-amzn-errortype': error.type },
    body: JSON.stringify({ __type: error.type, message: error.message }),
  };
}

/** Parses a JSON request body, answering malformed input as AWS does. */
export function parseJsonBody(body: string): Record<string, unknown> {
  if (body.trim() === '') return {};
  try {
    const parsed = JSON.parse(body) as unknown;
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed))
      return parsed as Record<string, unknown>;
  } catch {
    // fall through
  }
  throw new AwsServiceError('SerializationException', 'Request body is not a JSON object.');
}
