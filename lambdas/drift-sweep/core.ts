import type { DriftResult } from '../../lib/records/environment';
import type { EnvironmentStore } from '../../lib/records/environment-store';
import { originOf, type HandoverStore } from '../../lib/records/handover';
import type { RunStore } from '../../lib/records/run-store';

import { createHash } from 'node:crypto';
import { DRIFT_SWEEP, type SweepSummary } from '../../lib/domain/drift';
import { describeFailure } from '../../lib/domain/plan';

export { DRIFT_METRIC } from '../../lib/domain/drift';
export type { SweepSummary };

/** One environment to check: the drift-detection input, and the run id its child execution gets. */
export interface SweepItem {
  readonly tenant: string;
  readonly account: string;
  readonly environment: string;
  readonly stack: string;
  /** The child execution's name: the sweep's run id and the item's number. */
  readonly runId: string;
  /** The child's input, exactly as handed over. */
  readonly input: Record<string, unknown>;
}

/** What the Map gives back for each environment. */
export interface ChildResult {
  readonly stack: string;
  readonly runId: string;
  readonly status: 'SUCCEEDED' | 'FAILED';
  readonly error?: { readonly Error?: string; readonly Cause?: string } | undefined;
}

export type SweepRequest =
  | {
      readonly action: 'list';
      readonly runId: string;
      /** The sweep's execution ARN and input: its children name it as their parent. */
      readonly executionArn: string;
      readonly input: unknown;
      readonly startedAt?: string;
    }
  | {
      readonly action: 'summarize';
      readonly runId: string;
      readonly results: readonly ChildResult[];
      /** What "Discover stacks" found (the stacks the repository defines), or why it failed. */
      readonly discovery?: Discovery | undefined;
    };

/** The sweep's discovery of the repository's stacks: what it found, or the error it failed with. */
export type Discovery = { readonly commit: string; readonly stacks: number } | ChildResult['error'];

export interface SweepDeps {
  readonly registry: Pick<EnvironmentStore, 'list' | 'get'>;
  readonly handovers: Pick<HandoverStore, 'consume' | 'put'>;
  readonly runs: Pick<RunStore, 'recordStart'>;
  readonly putMetrics: (points: { stack: string; value: number; at: Date }[]) => Promise<void>;
  readonly publish: (subject: string, message: string) => Promise<void>;
  readonly now?: () => Date;
}

/**
 * The drift sweep's tasks: list the active environments (the Map runs drift-detection for each), then read
 * each one's result from the registry, put the DriftedComponents metric per stack, and send one summary.
 */
export async function sweep(
  req: SweepRequest,
  deps: SweepDeps,
): Promise<{ environments: SweepItem[]; count: number } | SweepSummary> {
  if (req.action === 'list') {
    // Who started the sweep (the API's caller, or the schedule / console), handed on to every check.
    const handover = await deps.handovers.consume(
      req.runId,
      req.executionArn,
      req.startedAt ? new Date(req.startedAt) : new Date(),
    );
    const origin = originOf(handover, DRIFT_SWEEP, req.input);
    await deps.runs.recordStart(req.runId, {
      workflow: DRIFT_SWEEP,
      startedAt: req.startedAt,
      origin: origin.kind,
      principal: origin.principal,
      startedBy: origin.principal ?? 'console',
    });
    const active = await deps.registry.list({ status: 'active' });
    const createdAt = (deps.now ?? (() => new Date()))().toISOString();
    const environments: SweepItem[] = [];
    for (const e of active) {
      const item: SweepItem = {
        tenant: e.tenant,
        account: e.account,
        environment: e.environment,
        stack: e.stack,
        // Named after the stack (a hash, within the 80 characters): a retried list hands over the same runs.
        runId: `${req.runId}-${createHash('sha256').update(e.stack).digest('hex').slice(0, 10)}`,
        input: {
          tenant: e.tenant,
          account: e.account,
          environment: e.environment,
          requestedBy: DRIFT_SWEEP,
          AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID: req.executionArn,
        },
      };
      await deps.handovers.put({
        runId: item.runId,
        workflow: 'drift-detection',
        input: item.input,
        origin: 'parent',
        principal: origin.principal,
        parentRunId: req.runId,
        createdAt,
      });
      environments.push(item);
    }
    return { environments, count: environments.length };
  }
  if (req.action !== 'summarize') throw new Error(`unknown drift-sweep action ${JSON.stringify(req)}`);
  const at = (deps.now ?? (() => new Date()))();
  const drifted: SweepSummary['drifted'] = [];
  const clean: string[] = [];
  const failed: { stack: string; error: string }[] = [];
  const points: { stack: string; value: number; at: Date }[] = [];
  for (const r of req.results) {
    const result: DriftResult | undefined = (await deps.registry.get(r.stack))?.lastDrift;
    if (r.status !== 'SUCCEEDED' || !result || result.runId !== r.runId) {
      failed.push({ stack: r.stack, error: childError(r) });
      continue;
    }
    points.push({ stack: r.stack, value: result.drifted.length, at });
    if (result.drifted.length > 0) drifted.push({ stack: r.stack, components: [...result.drifted] });
    else clean.push(r.stack);
  }
  if (points.length > 0) await deps.putMetrics(points);
  const unread =
    req.discovery && ('Error' in req.discovery || 'Cause' in req.discovery)
      ? describeFailure(req.discovery).reason.replace(/\s+/g, ' ').slice(0, 1000)
      : undefined;
  const notify = drifted.length > 0 || failed.length > 0 || unread !== undefined;
  if (notify) {
    const subject = `Tropos drift: ${drifted.length} of ${req.results.length} environments drifted${failed.length ? `, ${failed.length} not checked` : ''}`;
    const lines = [
      `Drift sweep ${req.runId} checked ${req.results.length} active environments at ${at.toISOString()}.`,
      ...(unread
        ? [
            `The repository's stacks could not be read (${unread}): only the environments already registered were checked.`,
          ]
        : []),
      '',
      ...(drifted.length
        ? ['Drifted:', ...drifted.map((d) => `  ${d.stack}: ${d.components.join(', ')}`), '']
        : ['Nothing drifted.', '']),
      ...(failed.length
        ? ['Not checked (the check failed):', ...failed.map((f) => `  ${f.stack}: ${f.error}`), '']
        : []),
      `In sync: ${clean.length ? clean.join(', ') : 'none'}`,
      '',
      'Each drifted stack: tropos runs --workflow drift-detection --stack <stack>, then plan-environment to review.',
    ];
    await deps.publish(subject, lines.join('\n'));
  }
  return {
    runId: req.runId,
    checked: req.results.length,
    drifted,
    clean,
    failed,
    notified: notify,
    ...(unread ? { repositoryUnread: unread } : {}),
  };
}

/** The child's error, from the Map's caught result (a failed child's cause is its DescribeExecution answer). */
function childError(r: ChildResult): string {
  if (r.status === 'SUCCEEDED') return 'the check recorded no result';
  const cause = r.error?.Cause ?? '';
  try {
    const child = JSON.parse(cause) as { Error?: string; Cause?: string };
    if (child.Error) return `${child.Error}: ${child.Cause ?? ''}`.slice(0, 500);
  } catch {
    // not JSON: the cause as it is
  }
  return `${r.error?.Error ?? 'Failed'}${cause ? `: ${cause.slice(0, 500)}` : ''}`;
}
