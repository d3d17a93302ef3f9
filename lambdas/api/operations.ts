/**
 * What an operator needs on a bad day: stop a run, give a stack's lock back. Both are recorded on the run they
 * concern (who, why, when), and neither kills a build in flight: terraform is never interrupted mid-apply.
 */
import { NO_CHANGES, NOT_ASKED, NOT_IN_STACK, REPOSITORY } from '../component-graph/core';
import type { Run, RunDetail } from '../../lib/records/run';
import type { WorkflowSpec } from '../../lib/workflow/spec';
import { startValidated, type ApiDeps } from './core';
import { ApiRequest, ApiResponse, HttpError, jsonBody, refuseProblems } from './http';

/** A reason an operator gives: printable text, 1–500 characters. */
const REASON = /^[^\p{C}]{1,500}$/u;

function reasonOf(body: Record<string, unknown>, allowed: readonly string[], what: string): string {
  const problems: { field: string; problem: string }[] = [];
  for (const k of Object.keys(body).filter((k) => !allowed.includes(k)))
    problems.push({ field: k, problem: `is not a field of ${what}; allowed: ${allowed.join(', ')}` });
  if (typeof body.reason !== 'string' || !REASON.test(body.reason.trim()))
    problems.push({
      field: 'reason',
      problem: 'is required: why, in 1–500 printable characters (it is recorded on the run)',
    });
  if (body.force !== undefined && typeof body.force !== 'boolean')
    problems.push({ field: 'force', problem: 'must be true or false' });
  refuseProblems(problems);
  return (body.reason as string).trim();
}

/**
 * POST /runs/{id}/stop: nothing new starts. With no build in flight and no run of its own running, the execution is
 * stopped at once (ABORTED); otherwise the run is marked, its worker pools hand out nothing more, and the last build
 * in flight to end stops the execution — the answer is 202 with those builds. The runs it started that still run
 * (promote's stages, onboarding's deploy) are stopped the same way first, with the reason: stopping the parent's
 * execution would stop theirs, and their builds with it, so the parent is stopped only once they have ended.
 */
export async function stopRun(runId: string, req: ApiRequest, deps: ApiDeps): Promise<ApiResponse> {
  const reason = reasonOf(jsonBody(req), ['reason'], 'a stop');
  const run = await deps.runs.getRun(runId);
  if (!run) throw new HttpError(404, 'NotFound', `no run ${runId}`);
  if (run.status !== 'RUNNING') throw new HttpError(409, 'RunEnded', `run ${runId} has ended already (${run.status})`);
  const at = (deps.now ?? (() => new Date()))().toISOString();
  const stopRequested = { by: req.identity, reason, at };
  const { inFlight, children } = await requestStop(run, stopRequested, deps);
  if (inFlight.length > 0 || children.length > 0)
    return {
      statusCode: 202,
      body: {
        runId,
        status: 'STOPPING',
        stopRequested,
        inFlight,
        children,
        message: `nothing new starts; ${[
          ...(inFlight.length > 0
            ? [
                `${inFlight.length} build(s) in flight end first (${inFlight.map((b) => `${b.step}/${b.component}`).join(', ')})`,
              ]
            : []),
          ...(children.length > 0 ? [`the run(s) it started stop first (${children.join(', ')})`] : []),
        ].join('; ')}, then the run is stopped`,
      },
    };
  return { statusCode: 200, body: { runId, status: 'ABORTED', stopRequested } };
}

/** Marks a run stopping, and the runs it started that still run; stops each whose builds and runs have all ended. */
async function requestStop(
  run: Run,
  stopRequested: NonNullable<Run['stopRequested']>,
  deps: ApiDeps,
): Promise<{ inFlight: { step: string; component: string }[]; children: string[] }> {
  await deps.runs.recordStart(run.runId, { stopRequested });
  const children: string[] = [];
  const childStop = { ...stopRequested, reason: `parent run ${run.runId} stopped: ${stopRequested.reason}` };
  for (const child of await deps.runs.listRuns({ parentRunId: run.runId, status: 'RUNNING', limit: 1000 })) {
    const busy = await requestStop(child, childStop, deps);
    if (busy.inFlight.length > 0 || busy.children.length > 0) children.push(child.runId);
  }
  const inFlight = await deps.runs.inFlight(run.runId);
  if (inFlight.length === 0 && children.length === 0)
    await deps.stopExecution(run.executionArn, 'RunStopped', `stopped by ${stopRequested.by}: ${stopRequested.reason}`);
  return { inFlight, children };
}

/**
 * POST /stacks/{stack}/unlock: gives back a stack's lock. Refused while the holder's execution still runs (stop it
 * first), unless `force`; a lock whose holder ended is taken over by the next run anyway, so this is for an
 * operator who cannot wait for one.
 */
export async function unlockStack(stack: string, req: ApiRequest, deps: ApiDeps): Promise<ApiResponse> {
  const body = jsonBody(req);
  const reason = reasonOf(body, ['reason', 'force'], 'an unlock');
  const force = body.force === true;
  const lock = await deps.locks.get(stack);
  if (!lock) throw new HttpError(404, 'NotLocked', `stack ${stack} is not locked`);
  // Without a recorded execution (a lock taken before Tropos recorded one), it may still run: only by force.
  const holderStatus = lock.execution ? await deps.executionStatus(lock.execution) : 'UNKNOWN';
  const mayRun = holderStatus === 'RUNNING' || holderStatus === 'UNKNOWN';
  if (mayRun && !force)
    throw new HttpError(
      409,
      'HolderRunning',
      `run ${lock.holder} (${lock.workflow}), which holds ${stack} since ${lock.since}, ${holderStatus === 'RUNNING' ? 'still runs' : 'may still run (its execution was not recorded with the lock)'}: stop it first (POST /runs/${lock.holder}/stop), or unlock with force: true`,
      { holder: lock.holder, holderStatus },
    );
  if (!(await deps.locks.release(stack, lock.holder)))
    throw new HttpError(409, 'LockChanged', `the lock of ${stack} changed while it was read; read it again`);
  const unlocked = {
    stack,
    by: req.identity,
    reason,
    at: (deps.now ?? (() => new Date()))().toISOString(),
    holderStatus,
    forced: mayRun,
  };
  await deps.runs.recordStart(lock.holder, { unlocked });
  return {
    statusCode: 200,
    body: { holder: lock.holder, workflow: lock.workflow, since: lock.since, ...unlocked },
  };
}

/**
 * POST /runs/{id}/retry: a new run of the same workflow and input, linked to the ended run it retries, that runs
 * again only what did not get done. (Step Functions' redrive does not fit: each component's failure is caught in its
 * branch and the run fails later, in its step's summary, so a redrive would resume at the summary and fail again.)
 *
 * - Its components: those of the retried run's last terraform step that did not succeed there (failed, skipped
 *   because a dependency failed, never reached). When that step never ran, or a later step failed, every component
 *   (of those the run asked for) is run again.
 * - Its steps reuse what succeeded in the retried run at the same commit (ComponentGraph.reuse): a reused plan is
 *   applied from the retried run's artifacts, its SHA-256 checked, and a tier's approval given for exactly those
 *   plans is not asked again. Anything planned anew is approved anew.
 * - It takes the stack's lock as any run does.
 */
export async function retryRun(runId: string, req: ApiRequest, deps: ApiDeps): Promise<ApiResponse> {
  const body = req.body ? jsonBody(req) : {};
  refuseProblems(
    Object.keys(body).map((k) => ({ field: k, problem: 'is not a field of a retry; a retry takes no fields' })),
  );
  const detail = await deps.runs.getRunDetail(runId);
  if (!detail) throw new HttpError(404, 'NotFound', `no run ${runId}`);
  const { run } = detail;
  if (run.status === 'RUNNING')
    throw new HttpError(409, 'RunRunning', `run ${runId} is still running: wait for it to end, or stop it first`);
  if (run.status === 'SUCCEEDED')
    throw new HttpError(409, 'RunSucceeded', `run ${runId} succeeded: there is nothing to retry (start a new run)`);
  if (run.parentRunId)
    throw new HttpError(
      409,
      'ChildRun',
      `run ${runId} was started by run ${run.parentRunId} (it works under that run's lock): retry ${run.parentRunId}`,
    );
  const entry = deps.workflows[run.workflow];
  if (!entry)
    throw new HttpError(409, 'UnknownWorkflow', `run ${runId}'s workflow ${run.workflow} is not deployed any more`);
  const input = retryInput(detail, entry.spec);
  const started = await startValidated(req, deps, run.workflow, input, runId);
  await deps.runs.recordStart(runId, { retriedBy: String((started.body as { runId: string }).runId) });
  return started;
}

/** A component record that needs no retry: it succeeded, or it was not the run's to do. */
const DONE_SKIPS = new Set([NO_CHANGES, NOT_ASKED, NOT_IN_STACK]);

/**
 * The retry's input: the retried run's, asked for by the caller (requestedBy is theirs), without `fromStep` (what
 * succeeded is reused instead) or `callbackUrl` (the ticketing system heard of the run it started), and with
 * `components` narrowed to what did not get done, when the workflow takes `components`.
 */
export function retryInput(detail: RunDetail, spec: WorkflowSpec): Record<string, unknown> {
  const { fromStep: _f, callbackUrl: _c, requestedBy: _r, ...input } = detail.run.input;
  if (!spec.inputs.required.includes('components') && !spec.inputs.optional.includes('components')) return input;
  const last = [...spec.steps].reverse().find((s) => s.kind === 'terraform');
  const inLast = new Map(detail.components.filter((c) => c.step === last?.name).map((c) => [c.component, c]));
  const otherFailed = detail.steps.some((s) => s.status === 'FAILED' && s.step !== last?.name);
  if (inLast.size === 0 || otherFailed) return input;
  // Every component the run worked on (in any step): one the last step never reached is not done either.
  const worked = new Set(detail.components.map((c) => c.component).filter((c) => c !== REPOSITORY));
  const undone = [...worked].filter((name) => {
    const c = inLast.get(name);
    return !c || !(c.status === 'SUCCEEDED' || (c.status === 'SKIPPED' && DONE_SKIPS.has(c.message ?? '')));
  });
  if (undone.length === 0) return input;
  return { ...input, components: undone.sort().join(',') };
}
