import { randomBytes } from 'node:crypto';

export interface ApiRequest {
  readonly method: string;
  readonly path: string;
  readonly query: Readonly<Record<string, string | undefined>>;
  readonly headers: Readonly<Record<string, string | undefined>>;
  readonly body: string | null;
  /** The caller: the IAM principal on AWS, the local user locally. */
  readonly identity: string;
  /** What precedes the routes in the caller's URLs (`/v1`, API Gateway's stage; '' locally): for the URLs answered. */
  readonly basePath: string;
}

export interface ApiResponse {
  readonly statusCode: number;
  readonly body: unknown;
}

/** Request bodies larger than this get 413. */
export const MAX_BODY_BYTES = 64 * 1024;

export class HttpError extends Error {
  constructor(
    public readonly statusCode: number,
    public readonly error: string,
    message: string,
    public readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

/** A run id is the execution name: the workflow, when, and a random suffix (`plan-environment-20261122-031500-3f9a`). */
export function newRunId(workflow: string, now: Date): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  return `${workflow}-${stamp}-${randomBytes(2).toString('hex')}`;
}

/** Parses a JSON object body: 413 when too large, 415 when not JSON, 400 when malformed. */
export function jsonBody(req: ApiRequest): Record<string, unknown> {
  const body = req.body ?? '';
  if (Buffer.byteLength(body) > MAX_BODY_BYTES)
    throw new HttpError(
      413,
      'PayloadTooLarge',
      `the body is ${Buffer.byteLength(body)} bytes; at most ${MAX_BODY_BYTES} are accepted`,
    );
  const type = Object.entries(req.headers).find(([k]) => k.toLowerCase() === 'content-type')?.[1] ?? '';
  if (!/^application\/json\b/i.test(type))
    throw new HttpError(
      415,
      'UnsupportedMediaType',
      `Content-Type must be application/json; got ${type ? `"${type}"` : 'none'}`,
    );
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch (e) {
    throw new HttpError(400, 'MalformedJson', `the body is not valid JSON: ${(e as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    throw new HttpError(400, 'MalformedJson', 'the body must be a JSON object');
  return parsed as Record<string, unknown>;
}

/** 400 listing every bad field, when there is one. */
export function refuseProblems(problems: readonly { field: string; problem: string }[]): void {
  if (problems.length > 0)
    throw new HttpError(400, 'InvalidInput', problems.map((p) => `${p.field}: ${p.problem}`).join('; '), { problems });
}

/**
 * What precedes the route in the caller's URL: `/v1` when API Gateway's request path is `/v1/environments` and
 * the route `/environments` (its stage, or a custom domain's base path); '' when there is none (the local server).
 */
export function basePathOf(requestPath: string | undefined, routePath: string): string {
  return requestPath && requestPath !== routePath && requestPath.endsWith(routePath)
    ? requestPath.slice(0, requestPath.length - routePath.length)
    : '';
}
