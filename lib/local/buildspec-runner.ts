import { existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { spawner } from './spawner';

/**
 * Runs a CodeBuild buildspec (version 0.2) on this machine, the way CodeBuild does in the parts Tropos uses:
 * phases in order (install, pre_build, build, post_build), all commands in one shell session, `on-failure`
 * (ABORT / CONTINUE), `finally` blocks, `env.variables`, `env.exported-variables`, a non-zero exit failing the
 * phase and the build. The result has the shape of CodeBuild's `Build` object.
 */

const PHASES = ['install', 'pre_build', 'build', 'post_build'] as const;

interface Phase {
  readonly commands?: string[];
  readonly finally?: string[];
  readonly 'on-failure'?: 'ABORT' | 'CONTINUE';
}

interface Buildspec {
  readonly version: number | string;
  readonly env?: { shell?: string; variables?: Record<string, string>; 'exported-variables'?: string[] };
  readonly phases?: Partial<Record<(typeof PHASES)[number], Phase>>;
}

export interface BuildPhase {
  readonly PhaseType: string;
  readonly PhaseStatus: 'SUCCEEDED' | 'FAILED' | 'TIMED_OUT' | 'STOPPED';
  readonly Contexts: { StatusCode: string; Message: string }[];
}

/** The parts of CodeBuild's `Build` object Tropos reads. */
export interface Build {
  readonly Id: string;
  readonly ProjectName: string;
  readonly BuildStatus: 'SUCCEEDED' | 'FAILED' | 'TIMED_OUT' | 'STOPPED';
  readonly StartTime: string;
  readonly EndTime: string;
  /** The build's limit: the project's, or the start's timeoutInMinutesOverride. */
  readonly TimeoutInMinutes: number;
  readonly Logs: { DeepLink: string; GroupName: string; StreamName: string };
  readonly Phases: BuildPhase[];
  readonly ExportedEnvironmentVariables: { Name: string; Value: string }[];
  readonly Environment: { EnvironmentVariables: { Name: string; Value: string; Type: string }[] };
}

export interface BuildRequest {
  readonly id: string;
  readonly projectName: string;
  /** The build's source folder (CODEBUILD_SRC_DIR): where the buildspec and its scripts are. */
  readonly sourceDir: string;
  readonly buildspecFile: string;
  /** Project variables, then start-build overrides (which win), then the local runner's own. */
  readonly environment: Record<string, string>;
  readonly logFile: string;
  /**
   * The build's own folder. Everything the build reports goes to files there, never through pipes to this process:
   * a build outlives the control plane that started it (a crash, a SIGKILL), and its end is read from the folder
   * afterwards (see readBuild).
   */
  readonly stateDir: string;
  readonly timeoutMinutes: number;
  readonly signal?: AbortSignal;
}

/** What a build's folder holds about it (request.json), written before it starts. */
export interface BuildStart {
  readonly id: string;
  readonly projectName: string;
  readonly environment: Record<string, string>;
  readonly logFile: string;
  readonly timeoutMinutes: number;
  readonly startTime: string;
  readonly pid?: number;
}

/** The files of a build's folder. */
export const BUILD_FILES = {
  start: 'request.json',
  /** The phase marks (descriptor 3). */
  control: 'control',
  /** The exported variables, NUL-separated (descriptor 4). */
  exported: 'exported',
  /** The script's exit status, written as its last act (empty: being written). */
  exit: 'exit',
} as const;

const MARK = '__TROPOS_BUILDSPEC__';

/** Quotes a string for bash. */
function q(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** The whole build as one bash script, so that every command runs in the same shell session, as in CodeBuild. */
function script(spec: Buildspec, exitFile: string): string {
  // The status on disk whenever the shell exits (a command's own `exit` included): whoever reads the folder later (a
  // restarted control plane) knows the build ran to its end, and how. Written in place by a builtin (no temporary
  // file and mv: a process less at the end of every build); a reader takes an empty file for one not written yet.
  const lines = [
    `__exit_file=${q(exitFile)}`,
    `trap '__rc=$?; printf "%s" "$__rc" > "$__exit_file"' EXIT`,
    '__status=0',
    '__abort=0',
  ];
  for (const phase of PHASES) {
    const p = spec.phases?.[phase];
    if (!p) continue;
    const onFailure = p['on-failure'] ?? (phase === 'build' || phase === 'post_build' ? 'CONTINUE' : 'ABORT');
    lines.push(`if [ "$__abort" = 0 ]; then`, `  __phase=0; echo ${q(`${MARK} start ${phase}`)} >&3`);
    for (const command of p.commands ?? []) {
      lines.push(
        `  if [ "$__phase" = 0 ]; then`,
        `    echo "[Container] Running command ${command.replace(/["$`\\]/g, '\\$&')}"`,
        `    eval ${q(command)}`,
        `    __rc=$?; if [ "$__rc" != 0 ]; then __phase=$__rc; echo ${q(`${MARK} failed ${phase} `)}"$__rc "${q(command)} >&3; fi`,
        '  fi',
      );
    }
    for (const command of p.finally ?? []) lines.push(`  eval ${q(command)}`);
    lines.push(
      `  if [ "$__phase" != 0 ]; then __status=$__phase; ${onFailure === 'ABORT' ? '__abort=1; ' : ''}fi`,
      `  echo ${q(`${MARK} end ${phase}`)}" $__phase" >&3`,
      'fi',
    );
  }
  // Exported variables on their own descriptor as NUL-separated name/value pairs (a value cannot hold NUL).
  for (const name of spec.env?.['exported-variables'] ?? [])
    lines.push(`printf '%s\\0%s\\0' ${q(name)} "\${${name}:-}" >&4`);
  lines.push('exit $__status');
  return lines.join('\n');
}

/** Parsed buildspecs by path, kept while the file is unchanged: a run's builds all start from the same few. */
const parsed = new Map<string, { mtimeMs: number; size: number; spec: Buildspec }>();

function buildspecAt(specPath: string): Buildspec {
  if (!existsSync(specPath)) throw new Error(`buildspec ${specPath} not found`);
  const { mtimeMs, size } = statSync(specPath);
  const known = parsed.get(specPath);
  if (known && known.mtimeMs === mtimeMs && known.size === size) return known.spec;
  const spec = parse(readFileSync(specPath, 'utf8')) as Buildspec;
  if (String(spec.version) !== '0.2')
    throw new Error(`${specPath}: buildspec version ${spec.version} is not supported; use 0.2`);
  parsed.set(specPath, { mtimeMs, size, spec });
  return spec;
}

export async function runBuild(req: BuildRequest): Promise<Build> {
  const spec = buildspecAt(join(req.sourceDir, req.buildspecFile));
  mkdirSync(join(req.logFile, '..'), { recursive: true });
  mkdirSync(req.stateDir, { recursive: true });
  const file = (name: string) => join(req.stateDir, name);
  const start: BuildStart = {
    id: req.id,
    projectName: req.projectName,
    environment: req.environment,
    logFile: req.logFile,
    timeoutMinutes: req.timeoutMinutes,
    startTime: new Date().toISOString(),
  };
  const env = {
    ...process.env,
    ...(spec.env?.variables ?? {}),
    ...req.environment,
    CODEBUILD_BUILD_ID: req.id,
    CODEBUILD_SRC_DIR: req.sourceDir,
  };
  // Files, not pipes: a pipe's reader dying (the control plane, killed) would kill the build at its next write.
  // Started by the spawner process (see lib/local/spawner.ts: a fork from this large process stalls it).
  const child = await spawner.spawn({
    file: spec.env?.shell ?? 'bash',
    args: ['-c', script(spec, file(BUILD_FILES.exit))],
    cwd: req.sourceDir,
    env,
    stdio: [req.logFile, file(BUILD_FILES.control), file(BUILD_FILES.exported)],
  });
  writeJson(file(BUILD_FILES.start), { ...start, pid: child.pid });

  let ended: 'TIMED_OUT' | 'STOPPED' | undefined;
  const kill = (why: 'TIMED_OUT' | 'STOPPED') => {
    ended = why;
    try {
      process.kill(-child.pid, 'SIGTERM');
    } catch {
      // already gone
    }
  };
  const timer = setTimeout(() => kill('TIMED_OUT'), req.timeoutMinutes * 60_000);
  const onAbort = () => kill('STOPPED');
  req.signal?.addEventListener('abort', onAbort);
  await child.ended;
  clearTimeout(timer);
  req.signal?.removeEventListener('abort', onAbort);
  return buildOf({ ...start, pid: child.pid }, req.stateDir, ended);
}

/** Writes a JSON file whole (a reader never sees half of it). */
function writeJson(path: string, value: unknown): void {
  writeFileSync(`${path}.tmp`, JSON.stringify(value));
  renameSync(`${path}.tmp`, path);
}

/** A build's folder as it stands: its start, whether its process still runs, and its Build once it has ended. */
export function readBuild(stateDir: string): { start: BuildStart; running: boolean } | undefined {
  const startFile = join(stateDir, BUILD_FILES.start);
  if (!existsSync(startFile)) return undefined;
  const start = JSON.parse(readFileSync(startFile, 'utf8')) as BuildStart;
  return { start, running: !exitWritten(stateDir) && processRuns(start.pid, start.id) };
}

/** Whether the build's script has written its exit status (the file exists from the moment it is opened: empty). */
function exitWritten(stateDir: string): boolean {
  try {
    return readFileSync(join(stateDir, BUILD_FILES.exit), 'utf8').trim() !== '';
  } catch {
    return false;
  }
}

/** Whether the build's process (its group's leader) still runs, and is that build (a pid is reused). */
function processRuns(pid: number | undefined, id: string): boolean {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    return readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0').includes(`CODEBUILD_BUILD_ID=${id}`);
  } catch {
    return true; // no /proc: the pid answers, take it as the build
  }
}

/** Stops a build found running in its folder (its process group), as CodeBuild stops one at its time limit. */
export function killBuild(start: BuildStart): void {
  try {
    if (start.pid) process.kill(-start.pid, 'SIGTERM');
  } catch {
    // already gone
  }
}

/**
 * The Build of an ended build, from its folder: the phases from its marks, its exported variables, its status from
 * the exit status it wrote (none: it was killed — `ended` says by what, else it failed without one).
 */
export function buildOf(start: BuildStart, stateDir: string, ended?: 'TIMED_OUT' | 'STOPPED'): Build {
  const read = (name: string) => (existsSync(join(stateDir, name)) ? readFileSync(join(stateDir, name), 'utf8') : '');
  const control = read(BUILD_FILES.control);
  const exportedText = read(BUILD_FILES.exported);
  const exit = read(BUILD_FILES.exit).trim();
  const phases: BuildPhase[] = [];
  const exported: { Name: string; Value: string }[] = [];
  const controlLines = control.split('\n');
  for (const line of controlLines) {
    if (!line.startsWith(MARK)) continue;
    const [, what, phase, rc, ...rest] = line.split(' ');
    if (what === 'end') {
      const failed = rc !== '0';
      const context = failed ? (phases.find((p) => p.PhaseType === phase!.toUpperCase())?.Contexts ?? []) : [];
      const existing = phases.findIndex((p) => p.PhaseType === phase!.toUpperCase());
      const entry: BuildPhase = {
        PhaseType: phase!.toUpperCase(),
        PhaseStatus: failed ? 'FAILED' : 'SUCCEEDED',
        Contexts: context,
      };
      if (existing >= 0) phases[existing] = entry;
      else phases.push(entry);
    } else if (what === 'failed') {
      phases.push({
        PhaseType: phase!.toUpperCase(),
        PhaseStatus: 'FAILED',
        Contexts: [
          {
            StatusCode: 'COMMAND_EXECUTION_ERROR',
            Message: `Error while executing command: ${rest.join(' ')}. Reason: exit status ${rc}`,
          },
        ],
      });
    }
  }
  const pairs = exportedText.split('\0');
  for (let i = 0; i + 1 < pairs.length; i += 2) exported.push({ Name: pairs[i]!, Value: pairs[i + 1]! });
  const status = ended ?? (exit === '0' ? 'SUCCEEDED' : 'FAILED');
  if (!ended && exit === '')
    phases.push({
      PhaseType: 'BUILD',
      PhaseStatus: 'FAILED',
      Contexts: [
        {
          StatusCode: 'COMMAND_EXECUTION_ERROR',
          Message: 'the build ended without writing its exit status (it was killed)',
        },
      ],
    });
  return {
    Id: start.id,
    ProjectName: start.projectName,
    BuildStatus: status,
    StartTime: start.startTime,
    // When it wrote its status (a build adopted after a restart ended then, not when it was read).
    EndTime: (exit === '' ? new Date() : statSync(join(stateDir, BUILD_FILES.exit)).mtime).toISOString(),
    TimeoutInMinutes: start.timeoutMinutes,
    Logs: { DeepLink: start.logFile, GroupName: `/aws/codebuild/${start.projectName}`, StreamName: start.id },
    Phases: phases,
    ExportedEnvironmentVariables: exported,
    Environment: {
      EnvironmentVariables: Object.entries(start.environment).map(([Name, Value]) => ({
        Name,
        Value,
        Type: 'PLAINTEXT',
      })),
    },
  };
}
