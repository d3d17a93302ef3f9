/**
 * `tropos serve` as its own process on a data folder, for the tests that kill it (SIGKILL) and start it again:
 * each start on the same folder, the example repository copied beside it, the stand-ins first on PATH.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, cpSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RunDetail } from '../../lib/records/run';
import { ROOT } from './fixtures';
import { STAND_INS } from './local';

export interface Served {
  readonly child: ChildProcess;
  readonly url: string;
  /** SIGKILL, and its exit awaited. */
  kill(): Promise<void>;
  /** What it printed so far (stdout and stderr). */
  output(): string;
  /** Resolves with its exit code once it has exited. */
  exited(): Promise<number | null>;
}

export interface ServeFolder {
  readonly dir: string;
  /** Starts `tropos serve` on the folder; resolves once it listens. */
  serve(env?: Record<string, string>): Promise<Served>;
  call(
    url: string,
    method: string,
    path: string,
    body?: unknown,
  ): Promise<{ status: number; body: Record<string, unknown> }>;
  waitFor(url: string, runId: string, until: (run: RunDetail) => boolean, timeoutMs?: number): Promise<RunDetail>;
  /** Kills what still runs and removes the folder. */
  close(): void;
}

export function serveFolder(prefix: string): ServeFolder {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  cpSync(join(ROOT, 'examples'), join(dir, 'examples'), { recursive: true });
  const children: ChildProcess[] = [];
  const serve = async (env: Record<string, string> = {}): Promise<Served> => {
    const child = spawn(
      process.execPath,
      [
        join(ROOT, 'bin', 'tropos'),
        '--data-dir',
        join(dir, 'data'),
        '--infra-dir',
        join(dir, 'examples', 'atmos'),
        'serve',
      ],
      { env: { ...process.env, PATH: `${STAND_INS}:${process.env.PATH}`, ...env }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    children.push(child);
    // Its output, kept in the folder (serve-<n>.log) for a failure's diagnosis.
    let out = '';
    const logFile = join(dir, `serve-${children.length}.log`);
    const keep = (d: Buffer) => {
      out += d.toString();
      appendFileSync(logFile, d);
    };
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    const deadline = Date.now() + 120_000;
    for (;;) {
      const m = /control plane on (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
      if (m)
        return {
          child,
          url: m[1]!,
          kill: async () => {
            if (child.exitCode !== null || child.signalCode !== null) return;
            const exited = new Promise((r) => child.once('exit', r));
            child.kill('SIGKILL');
            await exited;
          },
          output: () => out,
          exited: () =>
            child.exitCode !== null || child.signalCode !== null
              ? Promise.resolve(child.exitCode)
              : new Promise((r) => child.once('exit', (code: number | null) => r(code))),
        };
      if (child.exitCode !== null) throw new Error(`tropos serve exited ${child.exitCode}: ${out}`);
      if (Date.now() > deadline) throw new Error(`tropos serve did not start: ${out}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  };
  const call = async (url: string, method: string, path: string, body?: unknown) => {
    // Approvals are answered by another person than the one who asked (separation of duties).
    const user = path.startsWith('/approvals/') ? 'approver' : 'operator';
    const res = await fetch(`${url}${path}`, {
      method,
      headers: { 'content-type': 'application/json', 'x-tropos-user': user },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  const waitFor = async (url: string, runId: string, until: (run: RunDetail) => boolean, timeoutMs = 120_000) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const r = await call(url, 'GET', `/runs/${runId}`);
      if (r.status === 200 && until(r.body as unknown as RunDetail)) return r.body as unknown as RunDetail;
      if (Date.now() > deadline) throw new Error(`run ${runId}: ${JSON.stringify(r.body).slice(0, 1500)}`);
      await new Promise((res) => setTimeout(res, 250));
    }
  };
  return {
    dir,
    serve,
    call,
    waitFor,
    close: () => {
      for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** An apply the terraform stand-in was asked for (TROPOS_FAKE_TF_LOG): its run, its build, its component. */
export interface LoggedApply {
  readonly sub: string;
  readonly run?: string;
  readonly build?: string;
  readonly component: string;
}

/** The applies in the stand-in's log (of one run, when named); none when nothing was logged. */
export function appliesIn(log: string, runId?: string): LoggedApply[] {
  if (!existsSync(log)) return [];
  return readFileSync(log, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as LoggedApply)
    .filter((c) => c.sub === 'apply' && (runId === undefined || c.run === runId));
}
