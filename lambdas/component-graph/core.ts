import { BranchFailedError, ComponentFailedError, NoComponentsError } from '../../lib/domain/errors';
import { resultKey } from '../../lib/compiler/names';
import { ComponentResult, ComponentStatus, planFromExported } from '../../lib/domain/plan';
import type { RunStore } from '../../lib/records/run-store';

/**
 * Schedules the components of one terraform step inside a Parallel state: each branch awaits (task token)
 * until all of its own dependencies have ended, so every component starts the moment it can — the wall-clock
 * is the critical path, not the sum of levels. A failed dependency releases its dependents as skipped.
 *
 * All state lives in one item per (run, step), changed only by single atomic updates that return the item
 * after the change: whichever of "await" and "complete" comes second sees both, so no release is lost, and a
 * conditional claim makes each release happen once.
 */

/** Why a component of a step was skipped when the stack does not have it. */
export const NOT_IN_STACK = 'not a component of this stack';

/** How a component ended, as far as its dependents care; ABSENT = not a component of this stack. */
export type EndState = ComponentStatus | 'ABSENT';

export interface GraphState {
  /** The dependencies of every component that has awaited so far: a dependent that has not awaited yet
   * needs no release (when it awaits, it finds its dependencies ended). */
  readonly graph: Readonly<Record<string, readonly string[]>>;
  readonly stackComponents: readonly string[];
  readonly tokens: Readonly<Record<string, string>>;
  readonly ended: Readonly<Record<string, EndState>>;
}

export interface GraphStore {
  /** Records the component's dependencies and task token (and the stack's components); returns the state after. */
  await(
    runId: string,
    step: string,
    component: string,
    token: string,
    dependsOn: readonly string[],
    stackComponents: readonly string[],
  ): Promise<GraphState>;
  /** Records how a component ended; returns the state after. */
  end(runId: string, step: string, component: string, how: EndState): Promise<GraphState>;
  /** The state as it is now. */
  read(runId: string, step: string): Promise<GraphState>;
  /**
   * Claims the one release of a component and takes its task token out of the store (a used token is not kept);
   * undefined when somebody released it already.
   */
  claimRelease(runId: string, step: string, component: string): Promise<string | undefined>;
}

/** Answers a waiting task (SendTaskSuccess). */
export interface TaskTokens {
  succeed(token: string, output: GateDecision): Promise<void>;
}

export interface GateDecision {
  readonly component: string;
  readonly run: boolean;
  readonly status: 'RELEASED' | 'SKIPPED';
  readonly reason: string;
}

export interface AwaitRequest {
  readonly action: 'await';
  readonly taskToken: string;
  readonly runId: string;
  readonly step: string;
  readonly component: string;
  readonly dependsOn: readonly string[];
  readonly stackComponents: readonly string[];
}

export interface CompleteRequest {
  readonly action: 'complete';
  readonly runId: string;
  readonly step: string;
  readonly command: string;
  readonly component: string;
  readonly status: 'SUCCEEDED' | 'FAILED';
  readonly build?: {
    buildId?: string;
    logs?: { deepLink?: string; DeepLink?: string } | string;
    exported?: { Name?: string; Value?: string }[];
    /** CodeBuild's start and end of the build (epoch seconds, or ISO text locally). */
    startTime?: number | string;
    endTime?: number | string;
  };
  readonly error?: { Error?: string; Cause?: string };
}

export interface SummarizeRequest {
  readonly action: 'summarize';
  readonly runId: string;
  readonly step: string;
  readonly command: string;
  readonly results: readonly ComponentResult[];
  readonly approvalPolicy: string;
  /** A dry run makes no plans: later steps run (and print their commands) as if there were changes, unapproved. */
  readonly dryRun?: boolean;
}

export interface CheckBranchesRequest {
  readonly action: 'check-branches';
  readonly step: string;
  readonly branches: readonly { branch: string; status: string; error?: { Error?: string; Cause?: string } }[];
}

export type GraphRequest = AwaitRequest | CompleteRequest | SummarizeRequest | CheckBranchesRequest;

export interface StepSummary {
  readonly status: 'SUCCEEDED';
  readonly command: string;
  readonly components: readonly ComponentResult[];
  readonly add: number;
  readonly change: number;
  readonly destroy: number;
  readonly hasChanges: boolean;
  readonly hasDestroys: boolean;
  readonly approvalRequired: boolean;
  readonly drifted: readonly string[];
  /** Plan SHA-256 per component (keyed like result keys: `security_groups`), '' where no plan was made. */
  readonly shas: Readonly<Record<string, string>>;
}

/** Where component and step outcomes are recorded (the run ledger). */
export type RunRecords = Pick<RunStore, 'recordComponent' | 'recordStep'>;

export class ComponentGraph {
  constructor(
    private readonly store: GraphStore,
    private readonly tokens: TaskTokens,
    private readonly records: RunRecords,
    private readonly now = () => new Date().toISOString(),
  ) {}

  public async handle(req: GraphRequest): Promise<unknown> {
    switch (req.action) {
      case 'await':
        return this.await(req);
      case 'complete':
        return this.complete(req);
      case 'summarize':
        return this.summarize(req);
      case 'check-branches':
        return checkBranches(req);
      default:
        throw new Error(
          `unknown action ${JSON.stringify((req as { action?: unknown }).action)}; allowed: await, complete, summarize, check-branches`,
        );
    }
  }

  public async await(req: AwaitRequest): Promise<{ waiting: boolean }> {
    const state = await this.store.await(
      req.runId,
      req.step,
      req.component,
      req.taskToken,
      req.dependsOn,
      req.stackComponents,
    );
    if (!state.stackComponents.includes(req.component)) {
      await this.store.end(req.runId, req.step, req.component, 'ABSENT');
      await this.release(req.runId, req.step, req.component, false, NOT_IN_STACK);
      await this.releaseDependents(req.runId, req.step, req.component);
      return { waiting: false };
    }
    await this.evaluate(req.runId, req.step, req.component, state);
    return { waiting: true };
  }

  public async complete(req: CompleteRequest): Promise<ComponentResult> {
    const result = componentResult(req);
    // The build's own times when there was a build: the component ran from its start to its end.
    // Dependents first (they are waiting), then the record.
    const state = await this.store.end(req.runId, req.step, req.component, req.status);
    await this.releaseDependents(req.runId, req.step, req.component, state);
    await this.records.recordComponent({
      ...result,
      runId: req.runId,
      step: req.step,
      command: req.command,
      startedAt: isoTime(req.build?.startTime),
      endedAt: isoTime(req.build?.endTime) ?? this.now(),
    });
    return result;
  }

  /** Totals the step and records it; fails it (ComponentFailed) when a component failed. */
  public async summarize(req: SummarizeRequest): Promise<StepSummary> {
    try {
      const summary = summarize(req);
      await this.records.recordStep({
        runId: req.runId,
        step: req.step,
        command: req.command,
        status: 'SUCCEEDED',
        endedAt: this.now(),
        add: summary.add,
        change: summary.change,
        destroy: summary.destroy,
      });
      return summary;
    } catch (e) {
      await this.records.recordStep({
        runId: req.runId,
        step: req.step,
        command: req.command,
        status: 'FAILED',
        endedAt: this.now(),
        message: (e as Error).message,
      });
      throw e;
    }
  }

  /** Releases every waiting dependent of `component` whose dependencies have all ended. */
  private async releaseDependents(runId: string, step: string, component: string, known?: GraphState): Promise<void> {
    const state = known ?? (await this.store.read(runId, step));
    for (const [dependent, deps] of Object.entries(state.graph)) {
      if (deps.includes(component)) await this.evaluate(runId, step, dependent, state);
    }
  }

  private async evaluate(runId: string, step: string, component: string, state: GraphState): Promise<void> {
    const token = state.tokens[component];
    if (!token || state.ended[component] !== undefined) return;
    const deps = (state.graph[component] ?? []).filter((d) => state.stackComponents.includes(d));
    const blocked = deps.filter((d) => state.ended[d] === 'FAILED' || state.ended[d] === 'SKIPPED');
    if (blocked.length > 0) {
      const reason = `skipped: ${blocked.map((d) => `${d} ${state.ended[d]?.toLowerCase()}`).join(', ')}`;
      const after = await this.store.end(runId, step, component, 'SKIPPED');
      await this.release(runId, step, component, false, reason);
      await this.releaseDependents(runId, step, component, after);
      await this.records.recordComponent({
        runId,
        step,
        component,
        status: 'SKIPPED',
        endedAt: this.now(),
        message: reason,
      });
      return;
    }
    if (deps.every((d) => state.ended[d] === 'SUCCEEDED')) {
      await this.release(runId, step, component, true, deps.length ? `after ${deps.join(', ')}` : 'no dependencies');
    }
  }

  private async release(runId: string, step: string, component: string, run: boolean, reason: string): Promise<void> {
    const claimed = await this.store.claimRelease(runId, step, component);
    if (claimed === undefined) return;
    await this.tokens.succeed(claimed, { component, run, status: run ? 'RELEASED' : 'SKIPPED', reason });
  }
}

/** A time from CodeBuild (epoch seconds or milliseconds, or ISO text) as ISO text. */
export function isoTime(t: number | string | undefined): string | undefined {
  if (t === undefined) return undefined;
  const ms = typeof t === 'number' ? (t < 1e12 ? t * 1000 : t) : Date.parse(t);
  return Number.isFinite(ms) ? new Date(ms).toISOString() : undefined;
}

/** The component's result from its build (or its caught failure). */
export function componentResult(req: CompleteRequest): ComponentResult {
  if (req.status === 'SUCCEEDED') {
    const logs = req.build?.logs;
    const exported = planFromExported(req.build?.exported);
    return {
      component: req.component,
      status: 'SUCCEEDED',
      buildId: req.build?.buildId,
      logs: typeof logs === 'string' ? logs : (logs?.deepLink ?? logs?.DeepLink),
      plan: exported.plan,
      drifted: req.command === 'drift' ? exported.exitCode === 2 : undefined,
      message: exported.message,
    };
  }
  const failure = describeFailure(req.error);
  return {
    component: req.component,
    status: 'FAILED',
    buildId: failure.buildId,
    logs: failure.logs,
    message: failure.reason,
  };
}

/** Pulls the build id, the log link and the failing phase's message out of a caught build error. */
export function describeFailure(error: CompleteRequest['error']): { reason: string; buildId?: string; logs?: string } {
  const name = error?.Error ?? 'States.TaskFailed';
  const cause = error?.Cause ?? '';
  try {
    const parsed = JSON.parse(cause) as {
      Build?: {
        Id?: string;
        Logs?: { DeepLink?: string };
        Phases?: { PhaseType?: string; PhaseStatus?: string; Contexts?: { Message?: string }[] }[];
        ExportedEnvironmentVariables?: { Name?: string; Value?: string }[];
      };
      errorMessage?: string;
    };
    const build = parsed.Build;
    // The runner's own account of the failure, when the build exported one.
    const said = planFromExported(build?.ExportedEnvironmentVariables).message;
    if (build && said) return { reason: said, buildId: build.Id, logs: build.Logs?.DeepLink };
    if (build) {
      const phase = build.Phases?.find((p) => p.PhaseStatus === 'FAILED' || p.PhaseStatus === 'TIMED_OUT');
      const message = phase?.Contexts?.map((c) => c.Message)
        .filter(Boolean)
        .join('; ');
      return {
        reason: `${name}: ${phase ? `${phase.PhaseType} phase ${phase.PhaseStatus?.toLowerCase()}` : 'build failed'}${message ? `: ${message}` : ''}`,
        buildId: build.Id,
        logs: build.Logs?.DeepLink,
      };
    }
    if (parsed.errorMessage) return { reason: `${name}: ${parsed.errorMessage}` };
  } catch {
    // Not JSON: the cause is plain text.
  }
  return { reason: cause ? `${name}: ${cause.slice(0, 500)}` : name };
}

/** Totals a step's component results; fails the step, naming the failed and skipped components. */
export function summarize(req: SummarizeRequest): StepSummary {
  const results = req.results;
  const failed = results.filter((r) => r.status === 'FAILED');
  if (failed.length > 0) {
    const skipped = results.filter((r) => r.status === 'SKIPPED' && r.message?.startsWith('skipped:'));
    const parts = failed.map(
      (r) => `${r.component} failed (${r.message ?? 'no reason given'}${r.logs ? `; logs: ${r.logs}` : ''})`,
    );
    if (skipped.length > 0)
      parts.push(`skipped because a dependency failed: ${skipped.map((r) => r.component).join(', ')}`);
    const succeeded = results.filter((r) => r.status === 'SUCCEEDED').map((r) => r.component);
    if (succeeded.length > 0) parts.push(`succeeded: ${succeeded.join(', ')}`);
    throw new ComponentFailedError(`${req.command} step "${req.step}": ${parts.join('; ')}`);
  }
  // Every component of the step absent from the stack: nothing ran, and "no changes" or "in sync" would be a lie.
  if (results.length > 0 && results.every((r) => r.status === 'SKIPPED' && r.message === NOT_IN_STACK))
    throw new NoComponentsError(
      `${req.command} step "${req.step}": none of its components (${results.map((r) => r.component).join(', ')}) is a component of this stack; nothing was run`,
    );
  const sum = (k: 'add' | 'change' | 'destroy') => results.reduce((n, r) => n + (r.plan?.[k] ?? 0), 0);
  const add = sum('add');
  const change = sum('change');
  const destroy = sum('destroy');
  const hasChanges = req.dryRun === true || add + change + destroy > 0;
  const hasDestroys = req.dryRun === true || destroy > 0;
  return {
    status: 'SUCCEEDED',
    command: req.command,
    components: results,
    add,
    change,
    destroy,
    hasChanges,
    hasDestroys,
    approvalRequired: req.dryRun !== true && approvalRequired(req.approvalPolicy, hasChanges, hasDestroys),
    drifted: results.filter((r) => r.drifted).map((r) => r.component),
    shas: Object.fromEntries(results.map((r) => [resultKey(r.component), r.plan?.sha256 ?? ''])),
  };
}

/** The tier policy of seed 004: prod always asks, staging when the plan destroys, dev never; no changes, no ask. */
export function approvalRequired(policy: string, hasChanges: boolean, hasDestroys: boolean): boolean {
  if (!hasChanges) return false;
  switch (policy) {
    case 'never':
      return false;
    case 'on-destroy':
      return hasDestroys;
    default:
      return true; // 'always', 'on-change', and anything unknown: ask (the safe side).
  }
}

export function checkBranches(req: CheckBranchesRequest): { status: 'SUCCEEDED'; branches: string[] } {
  const failed = req.branches.filter((b) => b.status !== 'SUCCEEDED');
  if (failed.length > 0) {
    const why = failed.map(
      (b) => `${b.branch} (${b.error?.Error ?? 'failed'}${b.error?.Cause ? `: ${b.error.Cause.slice(0, 300)}` : ''})`,
    );
    throw new BranchFailedError(
      `parallel step "${req.step}": ${why.join('; ')} failed; the other branches ran to their end`,
    );
  }
  return { status: 'SUCCEEDED', branches: req.branches.map((b) => b.branch) };
}
