import { fork, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** What a started build reports: its pid, and a promise of its end. */
export interface Spawned {
  readonly pid: number;
  readonly ended: Promise<void>;
}

export interface SpawnRequest {
  readonly file: string;
  readonly args: readonly string[];
  readonly cwd: string;
  readonly env: NodeJS.ProcessEnv;
  /** The files for fds 1 and 2 (one file, appended), 3 and 4 (truncated). */
  readonly stdio: readonly [log: string, fd3: string, fd4: string];
}

type Answer = { id: number; pid?: number; error?: string; exit?: number | null; signal?: string | null };

/** While the spawner is gone, how often a started build's process is checked for its end. */
const ORPHAN_POLL_MS = 250;

/**
 * Starts the local builds from a small helper process (lib/local/spawner-process.js) instead of the control plane's
 * own: a fork copies the forking process's memory map, which in a control plane of several hundred MB stops its
 * event loop for 20-40 ms per build — every engine transition, function call and build start of every run waits
 * meanwhile. The helper is started once, with no loader, and ends with the control plane (its builds run on).
 */
export class Spawner {
  private child: ChildProcess | undefined;
  private next = 1;
  private readonly starting = new Map<
    number,
    { resolve: (pid: number) => void; reject: (e: Error) => void; ended: () => void }
  >();
  private readonly running = new Map<number, { pid: number; resolve: () => void }>();

  public async spawn(req: SpawnRequest): Promise<Spawned> {
    const child = this.helper();
    const id = this.next++;
    let resolveEnd!: () => void;
    const ended = new Promise<void>((r) => (resolveEnd = r));
    const pid = await new Promise<number>((resolve, reject) => {
      this.starting.set(id, { resolve, reject, ended: resolveEnd });
      this.ref();
      child.send({ id, ...req }, (e) => {
        if (!e) return;
        this.starting.delete(id);
        this.ref();
        reject(e);
      });
    });
    return { pid, ended };
  }

  /** The helper's pid (undefined until the first build), for diagnostics and tests. */
  public get helperPid(): number | undefined {
    return this.child?.pid;
  }

  /** The helper, started on first use; restarted if it died (its builds are then watched by their pids). */
  private helper(): ChildProcess {
    if (this.child?.connected) return this.child;
    const child = fork(join(__dirname, 'spawner-process.js'), [], {
      execArgv: [],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    child.on('message', (m: Answer) => this.answer(m));
    child.on('exit', () => {
      if (this.child === child) this.child = undefined;
      for (const [id, s] of this.starting) s.reject(new Error(`the build spawner ended before build ${id} started`));
      this.starting.clear();
      // Builds it started run on (detached): their ends are watched by pid now.
      for (const [id, r] of this.running) void watchPid(r.pid).then(() => this.finish(id));
    });
    this.child = child;
    this.ref();
    return child;
  }

  private answer(m: Answer): void {
    const start = this.starting.get(m.id);
    if (start) {
      this.starting.delete(m.id);
      if (m.error !== undefined || m.pid === undefined) {
        start.reject(new Error(m.error ?? 'the build has no pid'));
        this.ref();
      } else {
        // Running from now: its end may come in the same read of the channel as its start, before any await resumes.
        this.running.set(m.id, { pid: m.pid, resolve: start.ended });
        start.resolve(m.pid);
      }
      return;
    }
    if ('exit' in m || 'signal' in m) this.finish(m.id);
  }

  private finish(id: number): void {
    const r = this.running.get(id);
    if (!r) return;
    this.running.delete(id);
    r.resolve();
    this.ref();
  }

  /** The helper keeps the control plane's process alive only while one of its builds runs or starts. */
  private ref(): void {
    const child = this.child;
    if (!child) return;
    const busy = this.starting.size + this.running.size > 0;
    if (busy) {
      child.ref();
      child.channel?.ref();
    } else {
      child.unref();
      child.channel?.unref();
    }
  }
}

/** Resolves once the process has ended (gone, or a zombie its new parent has not reaped yet). */
async function watchPid(pid: number): Promise<void> {
  for (;;) {
    try {
      process.kill(pid, 0);
    } catch {
      return;
    }
    if (zombie(pid)) return;
    await new Promise((r) => setTimeout(r, ORPHAN_POLL_MS));
  }
}

function zombie(pid: number): boolean {
  try {
    // /proc/<pid>/stat: "pid (comm) state ..."; comm may hold spaces and parentheses, the state follows the last ")".
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z';
  } catch {
    return false; // no /proc: the signal's answer stands
  }
}

/** The control plane's one spawner. */
export const spawner = new Spawner();
