import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runBuild, Build, buildOf, BuildStart, killBuild, readBuild } from './buildspec-runner';
import { resolveTokens, Template } from './definitions';
import type { BuildTask, EngineEvent } from './engine';

/** The mark of a build whose end the ledger has received. */
const REPORTED = 'reported';
const ADOPT_POLL_MS = 500;

/** A build whose end no control plane reported. */
export interface Orphan {
  readonly dir: string;
  readonly start: BuildStart;
  /** The run it belongs to (none: not a workflow's build). */
  readonly runId: string | undefined;
  /** Its process still runs. */
  readonly running: boolean;
}

interface ProjectProps {
  Name: string;
  Source: { Location?: unknown; BuildSpec?: string };
  Environment: { EnvironmentVariables?: { Name: string; Value: string; Type?: string }[] };
  TimeoutInMinutes?: number;
  LogsConfig?: { CloudWatchLogs?: { GroupName?: string } };
}

/** A build as CodeBuild's BatchGetBuilds describes it (what the API's log reader needs). */
export interface BuildDescription {
  readonly id: string;
  readonly buildStatus: string;
  readonly logs: { readonly groupName: string; readonly streamName: string; readonly deepLink: string };
}

export interface LocalBuildsOptions {
  readonly template: Template;
  readonly region: string;
  /** The cloud assembly folder the template came from: the build sources are its assets. */
  readonly assemblyDir: string;
  /** Where build logs, work folders and artifacts go (under .tropos/). */
  readonly dataDir: string;
  /** Variables of this machine that win over the project's (TROPOS_LOCAL, TROPOS_INFRA_DIR, ...). */
  readonly localEnvironment: Record<string, string>;
  readonly emit: (event: EngineEvent) => Promise<void>;
}

/**
 * CodeBuild on this machine: the template's projects (their variables, their buildspec, their source asset
 * folder from the cloud assembly), run by the local buildspec runner. Each build gets its own log file, work
 * folder and exports file, and reports CodeBuild build state-change events.
 */
export class LocalBuilds {
  private readonly projects = new Map<string, { props: ProjectProps; sourceDir: string }>();
  private counter = 0;

  constructor(private readonly options: LocalBuildsOptions) {
    for (const resource of Object.values(options.template.Resources)) {
      if (resource.Type !== 'AWS::CodeBuild::Project') continue;
      const props = resolveTokens(resource.Properties, options.template, options.region) as ProjectProps;
      const hash = /([0-9a-f]{64})\.zip/.exec(String(props.Source.Location ?? ''))?.[1];
      if (!hash) throw new Error(`project ${props.Name}: its source is not an asset of the cloud assembly`);
      this.projects.set(props.Name, { props, sourceDir: join(options.assemblyDir, `asset.${hash}`) });
    }
  }

  public readonly task: BuildTask = async (input, signal) => {
    // Checked first, as CodeBuild validates a request before it looks for the project. timeoutInMinutesOverride:
    // a whole number of minutes, 5 to 2160.
    const override = input.TimeoutInMinutesOverride;
    if (
      override !== undefined &&
      (!Number.isInteger(override) || (override as number) < 5 || (override as number) > 2160)
    )
      throw Object.assign(
        new Error(
          `1 validation error detected: Value '${String(override)}' at 'timeoutInMinutesOverride' failed to satisfy constraint: Member must have value between 5 and 2160`,
        ),
        { name: 'CodeBuild.InvalidInputException' },
      );
    const project = this.projects.get(input.ProjectName);
    if (!project)
      throw Object.assign(new Error(`Project cannot be found: ${input.ProjectName}`), {
        name: 'CodeBuild.ResourceNotFoundException',
      });
    const id = `${input.ProjectName}:${Date.now().toString(36)}${(this.counter++).toString(36)}`;
    const safeId = id.replace(/[:/]/g, '-');
    const work = join(this.options.dataDir, 'builds', safeId);
    // With the runner's work folder (TROPOS_WORK_DIR): the runner makes it only when it is missing, and a process
    // less is a few milliseconds less on every build of a run's critical path.
    mkdirSync(join(work, 'work'), { recursive: true });
    const environment: Record<string, string> = {};
    for (const v of project.props.Environment.EnvironmentVariables ?? []) environment[v.Name] = v.Value;
    for (const v of input.EnvironmentVariablesOverride ?? []) environment[v.Name] = String(v.Value);
    Object.assign(environment, this.options.localEnvironment, {
      TROPOS_WORK_DIR: join(work, 'work'),
      TROPOS_EXPORTS: join(work, 'exports.sh'),
      TROPOS_ARTIFACTS_DIR: join(this.options.dataDir, 'artifacts'),
      // A run at another ref than the folder's own works on that commit, exported here once (git archive).
      TROPOS_CHECKOUTS_DIR: join(this.options.dataDir, 'checkouts'),
    });
    const buildspec = project.props.Source.BuildSpec ?? 'buildspec.yml';
    // EventBridge delivers build events asynchronously: the build neither waits for their targets nor starts after
    // them (the event goes out once the build's process is asked for), and the next state not after its end's.
    const startedAt = new Date().toISOString();
    setImmediate(
      () => void this.emitState(id, input.ProjectName, 'IN_PROGRESS', startedAt, environment, join(work, 'build.log')),
    );
    const build: Build = await runBuild({
      id,
      projectName: input.ProjectName,
      sourceDir: project.sourceDir,
      buildspecFile: buildspec,
      environment,
      logFile: join(work, 'build.log'),
      stateDir: work,
      timeoutMinutes: (override as number | undefined) ?? project.props.TimeoutInMinutes ?? 60,
      signal,
    });
    setImmediate(() => void this.reportEnd(work, build));
    return build as never;
  };

  /**
   * A build's end, reported to the ledger; then marked reported in its folder. A build whose end was never reported
   * (the control plane died first) is an orphan: `adopt` reports it when the control plane starts again.
   */
  private async reportEnd(work: string, build: Build): Promise<void> {
    const env = Object.fromEntries(build.Environment.EnvironmentVariables.map((v) => [v.Name, v.Value]));
    await this.emitState(
      build.Id,
      build.ProjectName,
      build.BuildStatus,
      build.EndTime,
      env,
      build.Logs.DeepLink,
      build.ExportedEnvironmentVariables,
    );
    writeFileSync(join(work, REPORTED), build.BuildStatus);
  }

  /**
   * CodeBuild's BatchGetBuilds, locally: each build's status and its log as CloudWatch Logs would hold it (its
   * project's log group, the build's uuid as the stream); unknown ids are left out, as CodeBuild lists them apart.
   */
  public describe(ids: readonly string[]): BuildDescription[] {
    return ids.flatMap((id) => {
      const [project = '', uuid = ''] = id.split(':');
      const folder = join(this.options.dataDir, 'builds', id.replace(/[:/]/g, '-'));
      const state = readBuild(folder);
      if (!state || !this.projects.has(project)) return [];
      return [
        {
          id,
          buildStatus: state.running ? 'IN_PROGRESS' : buildOf(state.start, folder).BuildStatus,
          logs: { groupName: this.logGroupOf(project), streamName: uuid, deepLink: join(folder, 'build.log') },
        },
      ];
    });
  }

  /**
   * CloudWatch Logs, locally: the file holding a build's log stream, and whether the build still writes it
   * (undefined: no such group or stream).
   */
  public logFileOf(groupName: string, streamName: string): { file: string; running: boolean } | undefined {
    const project = [...this.projects.keys()].find((p) => this.logGroupOf(p) === groupName);
    if (!project || !/^[A-Za-z0-9]+$/.test(streamName)) return undefined;
    const folder = join(this.options.dataDir, 'builds', `${project}-${streamName}`);
    const file = join(folder, 'build.log');
    return existsSync(file) ? { file, running: readBuild(folder)?.running ?? false } : undefined;
  }

  private logGroupOf(project: string): string {
    return this.projects.get(project)?.props.LogsConfig?.CloudWatchLogs?.GroupName ?? `/aws/codebuild/${project}`;
  }

  /**
   * The builds whose end was never reported: started by a control plane that stopped (or crashed) while they ran.
   * Each with the run it belongs to and whether its process still runs (it outlives the control plane).
   */
  public orphans(): Orphan[] {
    const root = join(this.options.dataDir, 'builds');
    if (!existsSync(root)) return [];
    const found: Orphan[] = [];
    for (const name of readdirSync(root)) {
      const dir = join(root, name);
      if (existsSync(join(dir, REPORTED))) continue;
      const state = readBuild(dir);
      if (!state) continue;
      found.push({ dir, start: state.start, runId: state.start.environment.TROPOS_RUN_ID, running: state.running });
    }
    return found;
  }

  /**
   * Reports an orphan's end as its own control plane would have: at once if it has ended, else once its process
   * ends (stopped at its time limit, as CodeBuild would). Gives up waiting when `signal` aborts (the control plane
   * stops again); the next start adopts it then.
   */
  public async adopt(orphan: Orphan, signal?: AbortSignal): Promise<Build | undefined> {
    const deadline = Date.parse(orphan.start.startTime) + orphan.start.timeoutMinutes * 60_000;
    let timedOut = false;
    while (readBuild(orphan.dir)?.running) {
      if (signal?.aborted) return undefined;
      if (!timedOut && Date.now() > deadline) {
        timedOut = true;
        killBuild(orphan.start);
      }
      await new Promise((r) => setTimeout(r, ADOPT_POLL_MS));
    }
    const build = buildOf(orphan.start, orphan.dir, timedOut ? 'TIMED_OUT' : undefined);
    await this.reportEnd(orphan.dir, build);
    return build;
  }

  private async emitState(
    id: string,
    project: string,
    status: string,
    time: string,
    env: Record<string, string>,
    log: string,
    exported?: { Name: string; Value: string }[],
  ) {
    await this.options.emit({
      source: 'aws.codebuild',
      'detail-type': 'CodeBuild Build State Change',
      time,
      detail: {
        'build-status': status,
        'project-name': project,
        'build-id': id,
        'additional-information': {
          environment: {
            'environment-variables': Object.entries(env)
              .filter(([k]) => k.startsWith('TROPOS_'))
              .map(([name, value]) => ({ name, value, type: 'PLAINTEXT' })),
          },
          logs: { 'deep-link': log },
          ...(exported
            ? { 'exported-environment-variables': exported.map((e) => ({ name: e.Name, value: e.Value })) }
            : {}),
        },
      },
    });
  }
}
