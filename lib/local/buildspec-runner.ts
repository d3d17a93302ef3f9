import { spawn } from 'node:child_process';
import { createWriteStream, mkdirSync, readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';

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
  readonly timeoutMinutes: number;
  readonly signal?: AbortSignal;
}

const MARK = '__TROPOS_BUILDSPEC__';

/** Quotes a string for bash. */
function q(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** The whole build as one bash script, so that every command runs in the same shell session, as in CodeBuild. */
function script(spec: Buildspec): string {
  const lines = ['__status=0', '__abort=0'];
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

export async function runBuild(req: BuildRequest): Promise<Build> {
  const specPath = join(req.sourceDir, req.buildspecFile);
  if (!existsSync(specPath)) throw new Error(`buildspec ${specPath} not found`);
  const spec = parse(readFileSync(specPath, 'utf8')) as Buildspec;
  if (String(spec.version) !== '0.2')
    throw new Error(`${specPath}: buildspec version ${spec.version} is not supported; use 0.2`);
  mkdirSync(join(req.logFile, '..'), { recursive: true });
  const log = createWriteStream(req.logFile);
  const start = new Date();
  const env = {
    ...process.env,
    ...(spec.env?.variables ?? {}),
    ...req.environment,
    CODEBUILD_BUILD_ID: req.id,
    CODEBUILD_SRC_DIR: req.sourceDir,
  };

  const child = spawn(spec.env?.shell ?? 'bash', ['-c', script(spec)], {
    cwd: req.sourceDir,
    env,
    stdio: ['ignore', 'pipe', 'pipe', 'pipe', 'pipe'],
    detached: true,
  });
  child.stdout!.pipe(log, { end: false });
  child.stderr!.pipe(log, { end: false });
  let control = '';
  (child.stdio[3] as NodeJS.ReadableStream).on('data', (d: Buffer) => (control += d.toString()));
  let exports = '';
  (child.stdio[4] as NodeJS.ReadableStream).on('data', (d: Buffer) => (exports += d.toString()));

  let ended: 'TIMED_OUT' | 'STOPPED' | undefined;
  const kill = (why: 'TIMED_OUT' | 'STOPPED') => {
    ended = why;
    try {
      process.kill(-child.pid!, 'SIGTERM');
    } catch {
      // already gone
    }
  };
  const timer = setTimeout(() => kill('TIMED_OUT'), req.timeoutMinutes * 60_000);
  const onAbort = () => kill('STOPPED');
  req.signal?.addEventListener('abort', onAbort);
  const code = await new Promise<number>((resolve) => child.on('close', (c) => resolve(c ?? 1)));
  clearTimeout(timer);
  req.signal?.removeEventListener('abort', onAbort);
  await new Promise<void>((resolve) => log.end(() => resolve()));

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
  const pairs = exports.split('\0');
  for (let i = 0; i + 1 < pairs.length; i += 2) exported.push({ Name: pairs[i]!, Value: pairs[i + 1]! });
  const status = ended ?? (code === 0 ? 'SUCCEEDED' : 'FAILED');
  return {
    Id: req.id,
    ProjectName: req.projectName,
    BuildStatus: status,
    StartTime: start.toISOString(),
    EndTime: new Date().toISOString(),
    TimeoutInMinutes: req.timeoutMinutes,
    Logs: { DeepLink: req.logFile, GroupName: `/aws/codebuild/${req.projectName}`, StreamName: req.id },
    Phases: phases,
    ExportedEnvironmentVariables: exported,
    Environment: {
      EnvironmentVariables: Object.entries(req.environment).map(([Name, Value]) => ({
        Name,
        Value,
        Type: 'PLAINTEXT',
      })),
    },
  };
}
