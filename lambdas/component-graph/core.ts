import {
  BranchFailedError,
  ComponentFailedError,
  InvalidInputError,
  NoComponentsError,
  RunStoppedError,
  StackNotResolvedError,
  type FieldProblem,
} from '../../lib/domain/errors';
import { overlaps, parseCidr } from '../../lib/domain/cidr';
import { ComponentResult, describeFailure, planFromExported, planHasChanges } from '../../lib/domain/plan';
import { AWS_LIMITS } from '../../lib/limits/aws-limits';
import {
  buildMinutesOf,
  resolvedStackProblems,
  type BuildTimeouts,
  type ResolvedStack,
} from '../../lib/domain/resolved';
import type { RunStore } from '../../lib/records/run-store';
import type { Run } from '../../lib/records/run';
import { WorkerPool, type OrderSender, type PoolStore, type ReviewedPlan } from './scheduler';

/**
 * The components of a run's terraform steps: the stack as the repository defines it (recorded once per run, from
 * the "Resolve stack" build), and for each step a pool of workers that build them in dependency order — each
 * component the moment its own dependencies have succeeded, dependents of a failure skipped — summarized from the
 * records afterwards (see scheduler.ts).
 */

/** Why a component of a step was skipped when the stack does not have it. */
export const NOT_IN_STACK = 'not a component of this stack';
/** Why a component of a step was skipped when the run asked for others (`components=`). */
export const NOT_ASKED = 'not among the components asked for';
/** Why an apply step did not build a component: terraform's plan of it had no changes (exit code 0). */
export const NO_CHANGES = 'its plan has no changes: nothing to apply';

/** A build's limit when the function is given none (the configuration's default, `terraform.timeoutMinutes`). */
const DEFAULT_BUILD_MINUTES = 60;

/** The most workers a step starts: AWS runs at most 40 inline Map iterations at once. */
export const MAX_WORKERS = AWS_LIMITS.inlineMapConcurrency;

/** How the resolve build ended: the error when it failed. */
export interface ResolvedRequest {
  readonly action: 'resolved';
  readonly runId: string;
  /** The stack and account the run's input named (validated). */
  readonly stack: string;
  readonly account: string;
  /** `stack=`: the name in the repository the run was asked for by ('' or absent when asked by coordinates). */
  readonly askedStack?: string | undefined;
  /** `components=` of the input, expanded ("vpc,iam"), or null for the whole stack. */
  readonly asked: string | null;
  /** `component=` of the input, or null. */
  readonly component: string | null;
  /** A dry run records nothing in the registry (its stack may be one a dry-run onboarding only pretended). */
  readonly dryRun?: boolean;
  readonly error?: { Error?: string; Cause?: string } | undefined;
}

/** An onboarding's discovery: the stacks the repository defines, before its block is registered. */
export interface DiscoveredRequest {
  readonly action: 'discovered';
  readonly runId: string;
  /** The stack being onboarded, and the block it asks for. */
  readonly stack: string;
  readonly vpcCidr: string | null;
  readonly dryRun?: boolean;
  readonly error?: { Error?: string; Cause?: string } | undefined;
}

export interface PrepareRequest {
  readonly action: 'prepare';
  readonly runId: string;
  readonly step: string;
  readonly command: string;
  /** The step's own list of components (a workflow's list or named set), or null: every component of the run. */
  readonly select: readonly string[] | null;
  /** Dependents first (destroy). */
  readonly reverse: boolean;
  readonly asked: string | null;
  /** For an apply: the plan step whose plans it applies (a component whose plan has no changes is not built). */
  readonly planStep?: string | undefined;
}

export interface NextRequest {
  readonly action: 'next';
  readonly taskToken: string;
  readonly runId: string;
  readonly step: string;
  readonly command: string;
  /** For an apply: the plan step whose reviewed plan each component applies. */
  readonly planStep?: string | undefined;
  /** The run's execution (its ARN): a stopped run is stopped by the last of its builds in flight to end. */
  readonly execution?: string | undefined;
  readonly worker: number;
  /** The component the worker just built ('' on its first call), and how its build ended. */
  readonly finished: string;
  readonly last?: (CompleteRequest['build'] & CompleteRequest['error']) | Record<string, never>;
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
    /** The build's limit, in minutes (the component's own, from the catalog's defaults, or the configuration's). */
    timeoutMinutes?: number;
  };
  /** A step's single build: the execution, stopped once the build has ended when the run is stopping. */
  readonly execution?: string;
  readonly error?: { Error?: string; Cause?: string };
}

/**
 * A step's single build is about to start (the state before its StartBuild): marked in flight, or refused when an
 * operator has asked the run to stop.
 */
export interface StartingRequest {
  readonly action: 'starting';
  readonly runId: string;
  readonly step: string;
  readonly component: string;
  /** The execution (`$$.Execution.Id`): stopped here when nothing else of the run is in flight. */
  readonly execution?: string;
}

export interface SummarizeRequest {
  readonly action: 'summarize';
  readonly runId: string;
  readonly step: string;
  readonly command: string;
  readonly approvalPolicy: string;
  /** A dry run makes no plans: later steps run (and print their commands) as if there were changes, unapproved. */
  readonly dryRun?: boolean;
}

export interface CheckBranchesRequest {
  readonly action: 'check-branches';
  readonly step: string;
  readonly branches: readonly { branch: string; status: string; error?: { Error?: string; Cause?: string } }[];
}

export type GraphRequest =
  | ResolvedRequest
  | DiscoveredRequest
  | PrepareRequest
  | NextRequest
  | StartingRequest
  | CompleteRequest
  | SummarizeRequest
  | CheckBranchesRequest;

/** What a terraform step's result carries in the execution's state: totals, never a list per component. */
export interface StepSummary {
  readonly status: 'SUCCEEDED';
  readonly command: string;
  readonly add: number;
  readonly change: number;
  readonly destroy: number;
  readonly hasChanges: boolean;
  readonly hasDestroys: boolean;
  readonly approvalRequired: boolean;
  readonly drifted: readonly string[];
  readonly counts: { readonly succeeded: number; readonly failed: number; readonly skipped: number };
}

/** Where component and step outcomes, and the resolved stack, are recorded (the run ledger). */
export type RunRecords = Pick<
  RunStore,
  | 'recordComponent'
  | 'recordStep'
  | 'recordResolved'
  | 'resolvedComponents'
  | 'components'
  | 'component'
  | 'getRun'
  | 'inFlight'
  | 'markStarting'
  | 'clearStarting'
  | 'recentBuildSeconds'
>;

/** Stops an execution (StopExecution): a stopped run, once its last build in flight has ended. */
export type StopExecution = (executionArn: string, error: string, cause: string) => Promise<void>;

/** Reads what the resolve build stored (the artifacts bucket). */
export interface ResolvedSource {
  read(runId: string): Promise<unknown>;
}

/** The registry's part: every stack the repository defines, with its network block, before any is allocated. */
export interface SeenStacks {
  /** Returns what could not be recorded, and why. */
  recordSeen(stacks: NonNullable<ResolvedStack['stacks']>, runId: string): Promise<string[]>;
}

export class ComponentGraph {
  private readonly pool: WorkerPool;

  constructor(
    store: PoolStore,
    sender: OrderSender,
    private readonly records: RunRecords,
    private readonly source: ResolvedSource,
    private readonly seen?: SeenStacks,
    private readonly now = () => new Date().toISOString(),
    private readonly timeouts: BuildTimeouts = { defaultMinutes: DEFAULT_BUILD_MINUTES, components: {} },
    private readonly stopExecution?: StopExecution,
  ) {
    this.pool = new WorkerPool(store, sender, (component) => buildMinutesOf(timeouts, component));
  }

  public async handle(req: GraphRequest): Promise<unknown> {
    switch (req.action) {
      case 'resolved':
        return this.resolved(req);
      case 'discovered':
        return this.discovered(req);
      case 'prepare':
        return this.prepare(req);
      case 'next':
        return this.next(req);
      case 'starting':
        return this.starting(req);
      case 'complete':
        return this.complete(req);
      case 'summarize':
        return this.summarize(req);
      case 'check-branches':
        return checkBranches(req);
      default:
        throw new Error(
          `unknown action ${JSON.stringify((req as { action?: unknown }).action)}; allowed: resolved, discovered, prepare, next, starting, complete, summarize, check-branches`,
        );
    }
  }

  /**
   * Records the stack the resolve build read from the repository — after checking it is the run's stack, of the
   * run's account, and has every component the input asked for — and the other stacks the repository defines.
   */
  public async resolved(
    req: ResolvedRequest,
  ): Promise<{ commit: string; engine: string; name: string; components: number; unrecorded?: string[] }> {
    if (req.error) throw new StackNotResolvedError(describeFailure(req.error).reason);
    const raw = await this.source.read(req.runId);
    const problems = resolvedStackProblems(raw);
    if (problems.length > 0)
      throw new StackNotResolvedError(`the resolved stack of run ${req.runId} is not usable: ${problems.join('; ')}`);
    const stack = raw as ResolvedStack;
    if (stack.stack !== req.stack)
      throw new StackNotResolvedError(`the build resolved stack ${stack.stack}, but the run is for ${req.stack}`);
    const names = stack.components.map((c) => c.name);
    const fields: FieldProblem[] = [];
    const where = `${req.stack} (commit ${stack.commit.slice(0, 12)})`;
    const repositoryName = stack.name ?? stack.stack;
    if (req.askedStack && req.askedStack !== repositoryName && req.askedStack !== stack.stack)
      fields.push({
        field: 'stack',
        problem: `the repository no longer names ${req.stack} "${req.askedStack}" (commit ${stack.commit.slice(0, 12)}): its name there is "${repositoryName}"; ask for it by that name (or by tenant, account and environment)`,
      });
    if (stack.account && req.account && stack.account !== req.account)
      fields.push({
        field: 'account',
        problem: `"${req.account}" is not the account of ${where}: its vars name "${stack.account}"`,
      });
    const unknown = (req.asked ? req.asked.split(',') : []).filter((c) => !names.includes(c));
    if (unknown.length > 0)
      fields.push({
        field: 'components',
        problem: `${unknown.join(', ')} ${unknown.length === 1 ? 'is' : 'are'} not ${unknown.length === 1 ? 'a component' : 'components'} of ${where}; allowed: ${names.join(', ')}`,
      });
    if (req.component && !names.includes(req.component))
      fields.push({
        field: 'component',
        problem: `"${req.component}" is not a component of ${where}; allowed: ${names.join(', ')}`,
      });
    if (fields.length > 0) throw new InvalidInputError(fields);
    await this.records.recordResolved(req.runId, stack);
    const unrecorded =
      stack.stacks && this.seen && req.dryRun !== true ? await this.seen.recordSeen(stack.stacks, req.runId) : [];
    return {
      commit: stack.commit,
      engine: stack.engine,
      name: stack.name ?? stack.stack,
      components: names.length,
      ...(unrecorded.length > 0 ? { unrecorded: unrecorded.slice(0, 20) } : {}),
    };
  }

  /**
   * An onboarding's address plan: its block may overlap no stack the repository defines (registered or not); those
   * stacks enter the registry with their blocks (not in a dry run) before the onboarding registers its own.
   */
  public async discovered(req: DiscoveredRequest): Promise<{ commit: string; stacks: number }> {
    if (req.error) throw new StackNotResolvedError(describeFailure(req.error).reason);
    const raw = (await this.source.read(req.runId)) as Partial<ResolvedStack> | null;
    if (!raw || !Array.isArray(raw.stacks) || typeof raw.commit !== 'string')
      throw new StackNotResolvedError(`the stacks the repository defines could not be read for run ${req.runId}`);
    const mine = req.vpcCidr ? parseCidr(req.vpcCidr) : undefined;
    const problems: FieldProblem[] = [];
    for (const other of raw.stacks) {
      if (!mine?.ok || other.stack === req.stack || !other.vpcCidr) continue;
      const theirs = parseCidr(other.vpcCidr);
      if (theirs.ok && overlaps(mine.cidr, theirs.cidr))
        problems.push({
          field: 'vpc_cidr',
          problem: `${req.vpcCidr} overlaps ${other.vpcCidr} of ${other.stack}, which the repository defines (commit ${raw.commit.slice(0, 12)}); choose a block that overlaps no stack`,
        });
    }
    if (problems.length > 0) throw new InvalidInputError(problems);
    if (this.seen && req.dryRun !== true) await this.seen.recordSeen(raw.stacks, req.runId);
    return { commit: raw.commit, stacks: raw.stacks.length };
  }

  /** Writes a step's components into its pool; the workers to start (at most 40). */
  public async prepare(req: PrepareRequest): Promise<{ workers: number[]; components: number }> {
    const resolved = await this.records.resolvedComponents(req.runId);
    if (resolved.length === 0)
      throw new StackNotResolvedError(`run ${req.runId} has no resolved stack: its "Resolve stack" step did not run`);
    const asked = req.asked ? new Set(req.asked.split(',')) : undefined;
    const inRun = new Set(resolved.filter((c) => !asked || asked.has(c.name)).map((c) => c.name));
    const members = req.select ? req.select.filter((c) => inRun.has(c)) : [...inRun];
    for (const c of req.select ?? []) {
      if (inRun.has(c)) continue;
      await this.skip(req, c, resolved.some((r) => r.name === c) ? NOT_ASKED : NOT_IN_STACK);
    }
    // An apply builds only what its plan changes: a component terraform planned no changes for is in its desired
    // state already — recorded, not built, and its dependents do not wait for it.
    const unchanged = new Set<string>();
    // The reviewed plans, handed out with their components: the SHA-256 the apply checks the saved file against,
    // and the run whose artifacts hold it (a retry's reused plan: the retried run's).
    const reviewed = new Map<string, ReviewedPlan>();
    if (req.planStep) {
      for (const p of await this.records.components(req.runId, req.planStep)) {
        reviewed.set(p.component, { sha256: p.plan?.sha256 ?? '', runId: p.reusedFrom ?? req.runId });
        if (p.plan && !planHasChanges(p.plan) && inRun.has(p.component)) unchanged.add(p.component);
      }
      for (const c of members.filter((m) => unchanged.has(m))) await this.skip(req, c, NO_CHANGES);
    }
    // Every node carries one (see WorkerPool.order): a component with no plan record, or a step that applies no plan,
    // gets no hash (an apply build then applies nothing).
    for (const m of members)
      if (!reviewed.has(m)) reviewed.set(m, { sha256: '', runId: req.planStep ? req.runId : '' });
    // A retry: what succeeded in the run it retries, at the same commit, is copied (not built again); its dependents
    // do not wait for it. A reused plan is applied from that run's artifacts (see `reviewed` above).
    const reused = await this.reuse(
      req,
      members.filter((m) => !unchanged.has(m)),
    );
    const set = new Set(members.filter((m) => !unchanged.has(m) && !reused.has(m)));
    const graph = new Map<string, string[]>([...set].map((c) => [c, []]));
    for (const c of resolved) {
      if (!set.has(c.name)) continue;
      for (const d of c.dependsOn) {
        if (!set.has(d)) continue; // outside the step (or not asked for): satisfied
        if (req.reverse) graph.get(d)!.push(c.name);
        else graph.get(c.name)!.push(d);
      }
    }
    // Critical-path scheduling: of the components READY at once the one with the longest chain ahead goes first,
    // estimated from this stack's latest builds of the same command. With none yet (the stack's first run), each
    // component's build limit stands in for its length: the catalog gives the long ones longer limits (rds and eks
    // in the example), so their chains still go first.
    const stack = (await this.records.getRun(req.runId))?.stack;
    const recent = stack ? await this.records.recentBuildSeconds(stack, req.command, req.runId) : undefined;
    const seconds =
      recent && recent.size > 0
        ? recent
        : new Map([...set].map((c) => [c, buildMinutesOf(this.timeouts, c) * 60] as const));
    const workers = await this.pool.prepare(req.runId, req.step, graph, MAX_WORKERS, seconds, reviewed);
    return { workers: Array.from({ length: workers }, (_, i) => i), components: set.size };
  }

  /**
   * A retry's reuse: each of these components whose record for this step SUCCEEDED in the retried run, when both runs
   * worked on the same commit, is recorded as that record (marked `reusedFrom`). Nothing is reused across commits (or
   * from a folder that is no git repository): a change in the repository is planned (and, where the tier asks,
   * approved) again.
   */
  private async reuse(req: PrepareRequest, members: readonly string[]): Promise<Set<string>> {
    const reused = new Set<string>();
    const run = await this.records.getRun(req.runId);
    if (!run?.retryOf) return reused;
    const earlier = await this.records.getRun(run.retryOf);
    // A commit only: a local folder that is no git repository ('working-tree') cannot say it is unchanged.
    if (!earlier?.commit || !/^[0-9a-f]{40}$/.test(earlier.commit) || earlier.commit !== run.commit) return reused;
    const wanted = new Set(members);
    for (const r of await this.records.components(run.retryOf, req.step)) {
      if (r.status !== 'SUCCEEDED' || !wanted.has(r.component)) continue;
      // A plan is reusable only with the hash its apply checks the saved file against.
      if (r.plan && !r.plan.sha256) continue;
      const { runId: from, reusedFrom, message, ...record } = r;
      await this.records.recordComponent({
        ...record,
        runId: req.runId,
        reusedFrom: reusedFrom ?? from,
        message: `reused from run ${reusedFrom ?? from}${message ? `: ${message}` : ''}`,
      });
      reused.add(r.component);
    }
    return reused;
  }

  /**
   * A worker asks for its next component, saying how its last one ended. Answered through its task token: a
   * component to build, or "done". Always returns at once.
   */
  public async next(req: NextRequest): Promise<{ parked: true }> {
    // Whether an operator asked the run to stop: read beside this call's other round trips (not after them).
    const stopRequested = this.records.getRun(req.runId).then((r) => r?.stopRequested);
    stopRequested.catch(() => undefined); // awaited below; never an unhandled rejection meanwhile
    if (req.finished) {
      const last = req.last ?? {};
      const failed = 'Error' in last || 'Cause' in last;
      const complete: CompleteRequest = {
        action: 'complete',
        runId: req.runId,
        step: req.step,
        command: req.command,
        component: req.finished,
        status: failed ? 'FAILED' : 'SUCCEEDED',
        ...(failed
          ? { error: last as CompleteRequest['error'] }
          : { build: last as NonNullable<CompleteRequest['build']> }),
      };
      // The component's record and the pool's state are separate items: written together (and the workers parked
      // meanwhile read beside them: see take).
      const [, madeReady, parked] = await Promise.all([
        this.record(complete),
        this.pool.finished(req.runId, req.step, req.finished, complete.status, (component, reason) =>
          this.skip(req, component, reason),
        ),
        this.pool.parkedWorkers(req.runId, req.step),
      ]);
      if (await this.stopped(req, await stopRequested)) return { parked: true };
      // What this build made READY, this worker builds next (the critical path's shortest way).
      if (await this.pool.take(req.runId, req.step, req.worker, req.taskToken, madeReady, parked))
        return { parked: true };
    }
    if (!req.finished && (await this.stopped(req, await stopRequested))) return { parked: true };
    await this.pool.park(req.runId, req.step, req.worker, req.taskToken);
    return { parked: true };
  }

  /**
   * A run an operator asked to stop hands out nothing more: this worker is told it is done, and once no build of
   * the run is in flight (this one has ended), the execution is stopped — never a build in the middle of an apply.
   */
  private async stopped(req: NextRequest, stop: Run['stopRequested']): Promise<boolean> {
    if (!stop) return false;
    // The last build in flight has ended: the execution is stopped here (its worker is not let go first, or the
    // step would end and the run move on to its next state).
    if (!(await this.stopIfIdle(req.runId, req.execution, stop))) await this.pool.tellDone(req.taskToken);
    return true;
  }

  /** Records a component of a step as SKIPPED, with why. */
  private skip(
    req: { readonly runId: string; readonly step: string; readonly command: string },
    component: string,
    message: string,
  ): Promise<void> {
    return this.records.recordComponent({
      runId: req.runId,
      step: req.step,
      command: req.command,
      component,
      status: 'SKIPPED',
      endedAt: this.now(),
      message,
    });
  }

  /**
   * Before a step's single build (a component named by the input, or the repository) starts: marks it in flight
   * first, then reads whether the run is stopping — so that a stop either sees the build in flight (and waits for
   * it) or is seen here (and the build is not started). Answers the build's own limit.
   */
  public async starting(req: StartingRequest): Promise<{ starting: true; timeoutMinutes: number }> {
    await this.records.markStarting(req.runId, req.step, req.component);
    const stop = (await this.records.getRun(req.runId))?.stopRequested;
    // The build's own limit, as a worker pool's builds get theirs: the component's, else the configuration's.
    if (!stop) return { starting: true, timeoutMinutes: buildMinutesOf(this.timeouts, req.component) };
    await this.records.clearStarting(req.runId, req.step, req.component);
    await this.stopIfIdle(req.runId, req.execution, stop);
    throw new RunStoppedError(`stopped by ${stop.by}: ${stop.reason}; ${req.step} of ${req.component} was not started`);
  }

  /** A step's single build has ended: recorded; a stopping run is stopped here, before its next state starts. */
  public async complete(req: CompleteRequest): Promise<ComponentResult> {
    const result = await this.record(req);
    await this.records.clearStarting(req.runId, req.step, req.component);
    const stop = (await this.records.getRun(req.runId))?.stopRequested;
    if (stop) await this.stopIfIdle(req.runId, req.execution, stop);
    return result;
  }

  /** Stops a stopping run's execution once nothing of it is in flight; whether it did. */
  private async stopIfIdle(
    runId: string,
    execution: string | undefined,
    stop: NonNullable<Run['stopRequested']>,
  ): Promise<boolean> {
    if (!execution || !this.stopExecution || (await this.records.inFlight(runId)).length > 0) return false;
    await this.stopExecution(execution, 'RunStopped', `stopped by ${stop.by}: ${stop.reason}`);
    return true;
  }

  private async record(req: CompleteRequest): Promise<ComponentResult> {
    const result = componentResult(req);
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

  /** Totals the step from its component records and records it; fails it (ComponentFailed) when a component failed. */
  public async summarize(req: SummarizeRequest): Promise<StepSummary> {
    try {
      const results = (await this.records.components(req.runId, req.step)) as ComponentResult[];
      const summary = summarize({ ...req, results });
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
}

/** A time from CodeBuild (epoch seconds or milliseconds, or ISO text) as ISO text. */
export function isoTime(t: number | string | undefined): string | undefined {
  if (t === undefined) return undefined;
  const ms = typeof t === 'number' ? (t < 1e12 ? t * 1000 : t) : Date.parse(t);
  return Number.isFinite(ms) ? new Date(ms).toISOString() : undefined;
}

/** A repository-wide build's "component", as the run ledger records it from the build's events. */
export const REPOSITORY = 'repository';

/** The component's result from its build (or its caught failure). */
export function componentResult(req: CompleteRequest): ComponentResult {
  if (req.status === 'SUCCEEDED') {
    const logs = req.build?.logs;
    const exported = planFromExported(req.build?.exported);
    return {
      component: req.component || REPOSITORY,
      status: 'SUCCEEDED',
      buildId: req.build?.buildId,
      logs: typeof logs === 'string' ? logs : (logs?.deepLink ?? logs?.DeepLink),
      plan: exported.plan,
      drifted: req.command === 'drift' ? exported.exitCode === 2 : undefined,
      message: exported.message,
      timeoutMinutes: req.build?.timeoutMinutes,
      commit: exported.commit,
      terraformVersion: exported.terraformVersion,
    };
  }
  const failure = describeFailure(req.error);
  return {
    component: req.component || REPOSITORY,
    status: 'FAILED',
    buildId: failure.buildId,
    logs: failure.logs,
    message: failure.reason,
    ...(failure.error ? { error: failure.error } : {}),
  };
}

/** Up to 20 names, then how many more: a failure message stays readable (and small) at 200 components. */
function names(list: readonly string[]): string {
  return list.length <= 20 ? list.join(', ') : `${list.slice(0, 20).join(', ')} and ${list.length - 20} more`;
}

/** Totals a step's component results; fails the step, naming the failed and skipped components. */
export function summarize(req: SummarizeRequest & { results: readonly ComponentResult[] }): StepSummary {
  const results = req.results;
  const failed = results.filter((r) => r.status === 'FAILED');
  const skipped = results.filter((r) => r.status === 'SKIPPED');
  if (failed.length > 0) {
    const blocked = skipped.filter((r) => r.message?.startsWith('skipped:'));
    const parts = failed
      .slice(0, 20)
      .map((r) => `${r.component} failed (${r.message ?? 'no reason given'}${r.logs ? `; logs: ${r.logs}` : ''})`);
    if (failed.length > 20) parts.push(`and ${failed.length - 20} more failed`);
    if (blocked.length > 0)
      parts.push(`skipped because a dependency failed: ${names(blocked.map((r) => r.component))}`);
    const succeeded = results.filter((r) => r.status === 'SUCCEEDED').map((r) => r.component);
    if (succeeded.length > 0) parts.push(`succeeded: ${names(succeeded)}`);
    throw new ComponentFailedError(`${req.command} step "${req.step}": ${parts.join('; ')}`);
  }
  // Every component of the step absent from the stack: nothing ran, and "no changes" or "in sync" would be a lie.
  if (results.length > 0 && results.every((r) => r.status === 'SKIPPED' && r.message === NOT_IN_STACK))
    throw new NoComponentsError(
      `${req.command} step "${req.step}": none of its components (${names(results.map((r) => r.component))}) is a component of this stack; nothing was run`,
    );
  const sum = (k: 'add' | 'change' | 'destroy') => results.reduce((n, r) => n + (r.plan?.[k] ?? 0), 0);
  const add = sum('add');
  const change = sum('change');
  const destroy = sum('destroy');
  // Terraform's own answer per component (exit code 2: moves, imports, forgets and outputs included).
  const hasChanges = req.dryRun === true || results.some((r) => planHasChanges(r.plan));
  const hasDestroys = req.dryRun === true || destroy > 0;
  return {
    status: 'SUCCEEDED',
    command: req.command,
    add,
    change,
    destroy,
    hasChanges,
    hasDestroys,
    approvalRequired: req.dryRun !== true && approvalRequired(req.approvalPolicy, hasChanges, hasDestroys),
    drifted: results.filter((r) => r.drifted).map((r) => r.component),
    counts: {
      succeeded: results.filter((r) => r.status === 'SUCCEEDED').length,
      failed: 0,
      skipped: skipped.length,
    },
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
