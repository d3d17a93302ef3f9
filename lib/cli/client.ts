import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ControlPlane } from '../local/control-plane';
import type { RunDetail } from '../records/run';

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

/** A client of the Tropos HTTP API: the local server, or (later) API Gateway. */
export class ApiClient {
  constructor(
    public readonly url: string,
    /** Who the local control plane records as the caller (x-tropos-user); it authenticates nobody. */
    private readonly user = localUser(),
  ) {}

  public async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await fetch(`${this.url}${path}`, {
      method,
      headers: { 'content-type': 'application/json', 'x-tropos-user': this.user },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    const parsed = text ? (JSON.parse(text) as unknown) : {};
    if (!res.ok) throw new ApiError(res.status, parsed as never);
    return parsed as T;
  }
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
  quiet?: boolean;
  buildEnvironment?: Record<string, string>;
}): Promise<Connection> {
  const explicit = options.server ?? process.env.TROPOS_SERVER;
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
      ...(options.buildEnvironment ? { buildEnvironment: options.buildEnvironment } : {}),
    });
  } catch (e) {
    // LevelDB refuses a second process on the same data folder.
    if (/IO error: lock|LOCK: |Resource temporarily unavailable/.test((e as Error).message)) {
      throw new UsageError(
        `another Tropos process holds ${options.dataDir}; run \`tropos serve\` there and let commands connect to it, or wait for it to end`,
      );
    }
    throw e;
  }
  return { client: new ApiClient(plane.url, localUser(options.as)), embedded: plane, close: () => plane.close() };
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

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
