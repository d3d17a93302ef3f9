import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ControlPlane } from '../local/control-plane';
import type { RunDetail } from '../records/run';
import { isAwsApi, regionOf, SigV4Signer } from './sigv4';

/** Where a running `tropos serve` says it listens. */
export function serverFile(dataDir: string): string {
  return join(dataDir, 'server.json');
}

export class UsageError extends Error {
  public override readonly name = 'UsageError';
}

/** An HTTP API error answer (4xx / 5xx) with the API's own error body. */
export class ApiError extends Error {
  constructor(
    public readonly status: number,
    public readonly body: { error?: string; message?: string; problems?: { field: string; problem: string }[] },
  ) {
    super(body.message ?? `HTTP ${status}`);
  }
}

/** How many times a throttled request (429, or 503 from API Gateway) is sent, and the first wait. */
const THROTTLE_ATTEMPTS = 6;
const THROTTLE_BASE_MS = 500;

/**
 * A client of the Tropos HTTP API: a local control plane (the caller is the declared local user), or the deployed
 * API on API Gateway (every request signed with SigV4 from the standard AWS credential chain). Throttled requests
 * (API Gateway answers 429 past the stage's limits) are retried with exponential backoff and jitter.
 */
export class ApiClient {
  private readonly signer?: SigV4Signer;

  constructor(
    public readonly url: string,
    /** Who the local control plane records as the caller (x-tropos-user); it authenticates nobody. */
    private readonly user = localUser(),
    options: { signer?: SigV4Signer; sleep?: (ms: number) => Promise<void> } = {},
  ) {
    this.signer = options.signer ?? (isAwsApi(url) ? new SigV4Signer(regionOf(url)) : undefined);
    this.pause = options.sleep ?? sleep;
  }

  private readonly pause: (ms: number) => Promise<void>;

  public async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const url = `${this.url}${path}`;
    const text = body === undefined ? undefined : JSON.stringify(body);
    for (let attempt = 1; ; attempt++) {
      const base: Record<string, string> = { 'content-type': 'application/json' };
      const headers = this.signer
        ? await this.signer.sign(method, url, base, text)
        : { ...base, 'x-tropos-user': this.user };
      const res = await fetch(url, { method, headers, ...(text === undefined ? {} : { body: text }) });
      const raw = await res.text();
      // 429 is API Gateway refusing before the handler ran: safe to send again. A 503 only for a read: the API's
      // own 503 (a start that failed) says when to retry, and a POST is not sent twice on a guess.
      const throttled = res.status === 429 || (res.status === 503 && !!this.signer && method === 'GET');
      if (throttled && attempt < THROTTLE_ATTEMPTS) {
        const retryAfter = Number(res.headers.get('retry-after'));
        await this.pause(
          Number.isFinite(retryAfter) && retryAfter > 0
            ? Math.min(retryAfter, 30) * 1000
            : Math.random() * THROTTLE_BASE_MS * 2 ** (attempt - 1),
        );
        continue;
      }
      let parsed: unknown = {};
      try {
        parsed = raw ? (JSON.parse(raw) as unknown) : {};
      } catch {
        parsed = { message: raw.slice(0, 500) };
      }
      if (!res.ok) throw apiError(res.status, parsed as Record<string, unknown>, method, path, !!this.signer);
      return parsed as T;
    }
  }
}

/** The API's answer as an error; API Gateway's own refusals (IAM) are said in Tropos's words. */
function apiError(status: number, body: Record<string, unknown>, method: string, path: string, aws: boolean): ApiError {
  // API Gateway answers {"Message": "User: … is not authorized to perform: execute-api:Invoke …"} (or "message").
  const gateway = (body.Message ?? (body.error ? undefined : body.message)) as string | undefined;
  if (aws && status === 403 && gateway)
    return new ApiError(403, {
      error: 'AccessDenied',
      message: `the API refused ${method} ${path}: ${gateway}. Attach the Tropos policy for your job to your role (stack outputs TicketingPolicyArn, OperatorPolicyArn, ApproverPolicyArn, ReaderPolicyArn)`,
    });
  if (status === 429)
    return new ApiError(429, {
      error: 'Throttled',
      message: `the API is throttling requests (${THROTTLE_ATTEMPTS} tries); try again later`,
    });
  return new ApiError(status, body as never);
}

/** A connection to a control plane: a running `tropos serve`, or one embedded in this process for its duration. */
export interface Connection {
  readonly client: ApiClient;
  readonly embedded?: ControlPlane;
  close(): Promise<void>;
}

async function healthy(url: string): Promise<boolean> {
  try {
    const res = await fetch(`${url}/local/health`, { signal: AbortSignal.timeout(1000) });
    return res.ok;
  } catch {
    return false;
  }
}

/**
 * Connects to `tropos serve` if one runs for this data folder; otherwise starts a control plane embedded in this
 * process (it ends with the command). `--server URL` / TROPOS_SERVER name a server explicitly.
 */
/** The local caller: --as, else $TROPOS_USER, else the login name. Locally identities are declared, not proven. */
export function localUser(as?: string): string {
  return as ?? process.env.TROPOS_USER ?? process.env.USER ?? 'local';
}

export async function connect(options: {
  dataDir: string;
  server?: string | undefined;
  /** The local user to act as (`--as`). */
  as?: string | undefined;
  /** The infrastructure repository an embedded control plane runs in (`--infra-dir`). */
  infraDir?: string | undefined;
  quiet?: boolean;
  buildEnvironment?: Record<string, string>;
}): Promise<Connection> {
  const explicit = options.server ?? process.env.TROPOS_SERVER;
  // The deployed API: signed requests, no local health route; the caller is your AWS identity.
  if (explicit && isAwsApi(explicit)) {
    if (options.as)
      throw new UsageError('--as names a local user; against the deployed API the caller is your AWS identity');
    return { client: new ApiClient(explicit.replace(/\/+$/, '')), close: async () => undefined };
  }
  if (explicit) {
    if (!(await healthy(explicit))) throw new UsageError(`no Tropos server answers at ${explicit}`);
    return { client: new ApiClient(explicit, localUser(options.as)), close: async () => undefined };
  }
  const file = serverFile(options.dataDir);
  if (existsSync(file)) {
    const { url } = JSON.parse(readFileSync(file, 'utf8')) as { url: string };
    if (await healthy(url)) return { client: new ApiClient(url, localUser(options.as)), close: async () => undefined };
    rmSync(file, { force: true }); // a server that is gone
  }
  if (!options.quiet)
    process.stderr.write(
      'No Tropos server is running here: starting one for this command (tropos serve keeps one running).\n',
    );
  // Loaded only when needed: it synthesizes the CDK app.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { ControlPlane } = require('../local/control-plane') as typeof import('../local/control-plane');
  let plane: ControlPlane;
  try {
    plane = await ControlPlane.start({
      dataDir: options.dataDir,
      ...(options.infraDir ? { infraDir: options.infraDir } : {}),
      ...(options.buildEnvironment ? { buildEnvironment: options.buildEnvironment } : {}),
      onSynthesize: (why) => {
        if (!options.quiet) process.stderr.write(`Synthesizing the app (${why})…\n`);
      },
    });
  } catch (e) {
    // LevelDB refuses a second process on the same data folder (another command's embedded control plane, just
    // starting or ending: a running one is announced in server.json and used above).
    if (
      /IO error: lock|LOCK: |Resource temporarily unavailable|Database is (closed|not open)/.test((e as Error).message)
    ) {
      throw new UsageError(
        `another Tropos process holds ${options.dataDir}; run \`tropos serve\` there and let commands connect to it, or wait for it to end`,
      );
    }
    if ((e as Error).name === 'InfraDirError') throw new UsageError((e as Error).message);
    throw e;
  }
  // Announced like `tropos serve`: a command in another terminal (the approval a run waits for) uses this control
  // plane while this command runs, rather than a second one on the same data folder.
  announceServer(options.dataDir, plane.url);
  return {
    client: new ApiClient(plane.url, localUser(options.as)),
    embedded: plane,
    close: async () => {
      withdrawServer(options.dataDir);
      await plane.close();
    },
  };
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** How long after a run was started its record may still be missing: it is written with the execution's first event. */
const RECORD_APPEARS_MS = 30_000;

/** A run with its details; undefined while its record has not appeared yet (started at `since`, ms). */
export async function runRecord(conn: Connection, runId: string, since: number): Promise<RunDetail | undefined> {
  try {
    return await conn.client.request<RunDetail>('GET', `/runs/${encodeURIComponent(runId)}`);
  } catch (e) {
    if (e instanceof ApiError && e.status === 404 && Date.now() - since < RECORD_APPEARS_MS) return undefined;
    throw e;
  }
}

/** Writes where a `tropos serve` listens, for the commands that follow. */
export function announceServer(dataDir: string, url: string): void {
  writeFileSync(serverFile(dataDir), JSON.stringify({ url, pid: process.pid, startedAt: new Date().toISOString() }));
}

/** Removes this process's announcement (another process's, announced since, is left). */
export function withdrawServer(dataDir: string): void {
  const file = serverFile(dataDir);
  try {
    if ((JSON.parse(readFileSync(file, 'utf8')) as { pid?: number }).pid === process.pid) rmSync(file, { force: true });
  } catch {
    // not there, or not readable: nothing of ours to remove
  }
}
