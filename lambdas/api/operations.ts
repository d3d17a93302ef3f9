/**
 * What an operator needs on a bad day: stop a run, give a stack's lock back. Both are recorded on the run they
 * concern (who, why, when), and neither kills a build in flight: terraform is never interrupted mid-apply.
 */
import type { ApiDeps } from './core';
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
 * POST /runs/{id}/stop: nothing new starts. With no build in flight the execution is stopped at once (ABORTED);
 * otherwise the run is marked, its worker pools hand out nothing more, and the last build in flight to end stops
 * the execution — the answer is 202 with those builds.
 */
export async function stopRun(runId: string, req: ApiRequest, deps: ApiDeps): Promise<ApiResponse> {
  const reason = reasonOf(jsonBody(req), ['reason'], 'a stop');
  const run = await deps.runs.getRun(runId);
  if (!run) throw new HttpError(404, 'NotFound', `no run ${runId}`);
  if (run.status !== 'RUNNING') throw new HttpError(409, 'RunEnded', `run ${runId} has ended already (${run.status})`);
  const at = (deps.now ?? (() => new Date()))().toISOString();
  const stopRequested = { by: req.identity, reason, at };
  await deps.runs.recordStart(runId, { stopRequested });
  const inFlight = await deps.runs.inFlight(runId);
  if (inFlight.length > 0)
    return {
      statusCode: 202,
      body: {
        runId,
        status: 'STOPPING',
        stopRequested,
        inFlight,
        message: `nothing new starts; ${inFlight.length} build(s) in flight end first (${inFlight.map((b) => `${b.step}/${b.component}`).join(', ')}), then the run is stopped`,
      },
    };
  await deps.stopExecution(run.executionArn, 'RunStopped', `stopped by ${req.identity}: ${reason}`);
  return { statusCode: 200, body: { runId, status: 'ABORTED', stopRequested } };
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
