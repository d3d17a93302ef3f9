import { DRIFT_SWEEP, type SweepSummary } from '../../lib/domain/drift';
import {
  DEFAULT_INSTALLATION,
  ONBOARD_WORKFLOW,
  stackName,
  stateMachineName,
  workflowOfStateMachine,
} from '../../lib/domain/naming';
import type { HandoverStore } from '../../lib/records/handover';
import { planFromExported } from '../../lib/domain/plan';
import type { Environment } from '../../lib/records/environment';
import type { EnvironmentWriter } from '../../lib/records/environment-store';
import type { Run, RunStatus } from '../../lib/records/run';
import type { RunStore } from '../../lib/records/run-store';
import type { StackLocks } from '../../lib/records/stack-lock';
import { CallbackOptions, deliverCallback } from './callback';

/** An EventBridge event this function is the target of. */
export interface StateChangeEvent {
  readonly source: string;
  readonly 'detail-type': string;
  readonly time?: string;
  readonly detail: Record<string, unknown>;
}

const STATUS: Record<string, RunStatus> = {
  RUNNING: 'RUNNING',
  SUCCEEDED: 'SUCCEEDED',
  FAILED: 'FAILED',
  TIMED_OUT: 'TIMED_OUT',
  ABORTED: 'ABORTED',
};

/**
 * The run ledger's writer: Step Functions execution status changes become Run records, CodeBuild build state
 * changes become component records. Both come from EventBridge, so a run started from the console is recorded
 * like one started by the API.
 */
export interface LedgerDeps {
  readonly runs: RunStore;
  readonly locks: Pick<StackLocks, 'release'>;
  readonly registry: Pick<EnvironmentWriter, 'get' | 'markFailed'>;
  readonly callbacks: CallbackOptions;
  /** A callback claim older than this belongs to an invocation that is over: the ledger's own timeout. */
  readonly claimStaleMs?: number;
  /** The installation's name: its state machines are `<installation>-<workflow>`. */
  readonly installation?: string;
  /** Who started each run, and with what input (the stack of a run that failed before recording its own). */
  readonly handovers?: Pick<HandoverStore, 'get'>;
  /** Stops an execution: a run an operator stopped, once the last of its builds in flight has ended. */
  readonly stopExecution?: (executionArn: string, error: string, cause: string) => Promise<void>;
}

/**
 * A run an operator asked to stop ends once no build of it is in flight and no run it started still runs: whichever
 * ends last — a worker pool's build (the scheduler sees it too), a step's single build, or a child run — stops the
 * execution here.
 */
async function stopIfStopping(runId: string, deps: LedgerDeps): Promise<void> {
  if (!deps.stopExecution) return;
  const run = await deps.runs.getRun(runId);
  if (!run?.stopRequested || run.status !== 'RUNNING' || !run.executionArn) return;
  if ((await deps.runs.inFlight(runId)).length > 0) return;
  if ((await deps.runs.listRuns({ parentRunId: runId, status: 'RUNNING', limit: 1 })).length > 0) return;
  await deps.stopExecution(
    run.executionArn,
    'RunStopped',
    `stopped by ${run.stopRequested.by}: ${run.stopRequested.reason}`,
  );
}

/** The stack a run's handover names, when its input's coordinates are there (the API normalised them). */
async function handedOverStack(runId: string, deps: LedgerDeps): Promise<string | undefined> {
  const input = (await deps.handovers?.get(runId))?.input;
  const text = (k: string) => (typeof input?.[k] === 'string' ? (input[k] as string) : undefined);
  const [tenant, account, environment] = [text('tenant'), text('account'), text('environment')];
  return tenant && account && environment ? stackName({ tenant, account, environment }) : undefined;
}

export async function recordStateChange(
  event: StateChangeEvent,
  deps: LedgerDeps,
): Promise<'run' | 'component' | 'ignored'> {
  const { runs, locks } = deps;
  if (event['detail-type'] === 'Step Functions Execution Status Change') {
    const change = runFromExecution(event.detail, deps.installation);
    if (change.status === 'RUNNING') {
      await runs.recordRun(change);
      return 'run';
    }
    // What the run's first state recorded — its validated stack, who started it, its callback — never the raw
    // input: a name with a trailing newline is the validated stack's, and a console input is nobody's ticket.
    const started = await runs.getRun(change.runId);
    // A run whose first state failed before it recorded its stack: the stack its handover's (normalised) input
    // names — an API onboarding registered it, and must give its CIDR back.
    const stack = started?.stack ?? (await handedOverStack(change.runId, deps));
    // However it ended (succeeded, failed, rejected, aborted, timed out), a run gives back the stack lock it holds
    // — before its end is recorded, so that whoever sees the end can take the stack. A child working under its
    // parent's lock holds none (the lock names the parent, which gives it back) — unless the parent had ended
    // before the child took it: then nobody else will.
    if (stack) {
      await locks.release(stack, change.runId);
      const owner = started?.lockOwner;
      if (owner && owner !== change.runId && (await runs.getRun(owner))?.status !== 'RUNNING')
        await locks.release(stack, owner);
    }
    await runs.recordRun(change);
    const run: Run = { ...started, ...change };
    // A child that ended may be the last thing a stopping parent waited for.
    if (run.parentRunId) await stopIfStopping(run.parentRunId, deps);
    // An onboarding that did not succeed leaves its environment `failed` with the reason, and its CIDR free.
    // Here, not in the workflow: an aborted or timed-out run runs no more states, but its end event still comes.
    if (run.workflow === ONBOARD_WORKFLOW && run.status !== 'SUCCEEDED' && stack)
      await deps.registry.markFailed(stack, run.runId, {
        error: run.error ?? run.status,
        cause: run.cause ?? `the onboarding run ended ${run.status}`,
      });
    // Only a run the API started has one: the API authenticated its caller and bound the ticket to it.
    const url = run.origin === 'api' ? run.callbackUrl : undefined;
    if (url) {
      // What can fail is read before the claim: a failure here leaves the callback unclaimed, and the event's
      // next delivery sends it.
      await deps.callbacks.secret();
      const environment = stack ? await deps.registry.get(stack) : undefined;
      const claim = await runs.claimCallback(run.runId, url, new Date(), deps.claimStaleMs);
      if (claim) {
        const record = await deliverCallback(url, callbackPayload(run, environment), {
          ...deps.callbacks,
          delivery: claim.delivery,
        });
        await runs.recordCallback(run.runId, { ...record, delivery: claim.delivery }, claim.claimedAt);
      }
    }
    return 'run';
  }
  if (event['detail-type'] === 'CodeBuild Build State Change') {
    const info = (event.detail['additional-information'] ?? {}) as {
      environment?: { 'environment-variables'?: { name: string; value: string }[] };
      logs?: { 'deep-link'?: string };
      'exported-environment-variables'?: { name: string; value: string }[];
    };
    const vars = Object.fromEntries((info.environment?.['environment-variables'] ?? []).map((v) => [v.name, v.value]));
    const runId = vars.TROPOS_RUN_ID;
    if (!runId || !vars.TROPOS_STEP) return 'ignored'; // not a Tropos workflow build
    const status = String(event.detail['build-status']);
    const at = event.time ?? new Date().toISOString();
    const exported = planFromExported(
      (info['exported-environment-variables'] ?? []).map((v) => ({ Name: v.name, Value: v.value })),
    );
    const outcome = status === 'IN_PROGRESS' ? 'RUNNING' : status === 'SUCCEEDED' ? 'SUCCEEDED' : 'FAILED';
    // The "Resolve stack" build is the run's, not a component's: its log on the run record.
    if (vars.TROPOS_COMMAND === 'resolve') {
      await runs.recordResolveBuild(runId, {
        status: outcome,
        buildId: String(event.detail['build-id']),
        logs: info.logs?.['deep-link'],
        ...(status === 'IN_PROGRESS' ? {} : { message: exported.message }),
      });
      return 'run';
    }
    await runs.recordComponent({
      runId,
      step: vars.TROPOS_STEP,
      component: vars.TROPOS_COMPONENT || 'repository',
      command: vars.TROPOS_COMMAND,
      status: outcome,
      ...(status === 'IN_PROGRESS'
        ? { startedAt: at }
        : { endedAt: at, plan: exported.plan, message: exported.message, error: exported.error }),
      buildId: String(event.detail['build-id']),
      logs: info.logs?.['deep-link'],
    });
    if (status !== 'IN_PROGRESS') await stopIfStopping(runId, deps);
    return 'component';
  }
  return 'ignored';
}

/** What the ticketing system receives when a run it started ends. */
export function callbackPayload(run: Run, environment: Environment | undefined): Record<string, unknown> {
  return {
    event: 'run.ended',
    runId: run.runId,
    workflow: run.workflow,
    status: run.status,
    dryRun: run.dryRun ?? false,
    ticketId: run.ticketId ?? null,
    // Who the input says asked, and the caller the API authenticated (or the parent run's).
    requestedBy: run.requestedBy ?? null,
    principal: run.principal ?? null,
    stack: run.stack ?? null,
    startedAt: run.startedAt,
    endedAt: run.endedAt ?? null,
    error: run.error ?? null,
    cause: run.cause ?? null,
    statusUrl: `/runs/${run.runId}`,
    environment: environment
      ? {
          stack: environment.stack,
          status: environment.status,
          vpcCidr: environment.vpcCidr ?? null,
          tier: environment.tier,
          region: environment.region,
          failure: environment.failure ?? null,
        }
      : null,
  };
}

/**
 * The execution's facts from a status change: its workflow (from the state machine's name), status, times,
 * error and raw input. Nothing is derived from the input: who started the run and on which stack is what the
 * run's first state recorded.
 */
export function runFromExecution(d: Record<string, unknown>, installation = DEFAULT_INSTALLATION): Run {
  const input = parseObject(d.input);
  const machine =
    String(d.stateMachineArn ?? '')
      .split(':')
      .pop() ?? '';
  const time = (v: unknown) => (typeof v === 'number' ? new Date(v).toISOString() : undefined);
  return {
    runId: String(d.name),
    workflow: workflowOfStateMachine(installation, machine) ?? machine,
    status: STATUS[String(d.status)] ?? 'FAILED',
    input,
    startedAt: time(d.startDate) ?? new Date().toISOString(),
    endedAt: time(d.stopDate),
    error: typeof d.error === 'string' ? d.error : undefined,
    cause: typeof d.cause === 'string' ? d.cause : undefined,
    executionArn: String(d.executionArn),
    ...(machine === stateMachineName(installation, DRIFT_SWEEP) && d.status === 'SUCCEEDED'
      ? { summary: sweepSummary(d.output) }
      : {}),
  };
}

/** A drift sweep's output, when it is the summary its last state returns. */
function sweepSummary(output: unknown): SweepSummary | undefined {
  const o = parseObject(output);
  return typeof o.checked === 'number' && Array.isArray(o.drifted) ? (o as unknown as SweepSummary) : undefined;
}

function parseObject(v: unknown): Record<string, unknown> {
  if (typeof v !== 'string') return typeof v === 'object' && v !== null ? (v as Record<string, unknown>) : {};
  try {
    const parsed = JSON.parse(v) as unknown;
    return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)
      ? (parsed as Record<string, unknown>)
      : {};
  } catch {
    return {};
  }
}
