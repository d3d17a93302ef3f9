import { GetCommand, PutCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { RunStore } from '../../lib/records/run-store';
import type { StepSummary } from '../component-graph/core';

export interface ApprovalRequest {
  readonly taskToken: string;
  readonly runId: string;
  readonly workflow: string;
  readonly step: string;
  readonly stack: string;
  readonly tier: string;
  readonly requestedBy: string | null;
  /** The caller Tropos authenticated for the run ('' for a run started directly, e.g. from the console). */
  readonly principal: string;
  readonly plan?: StepSummary;
  /** The plan step: its component records give the plan of each component (the summary carries totals only). */
  readonly planStep?: string;
  /** An approval without a plan (a state repair, an import): the run's parameters, which say what it will do. */
  readonly parameters?: Record<string, unknown>;
  /** The task's TimeoutSeconds: past it the run fails with ApprovalExpired. */
  readonly deadlineSeconds: number;
}

/** An approval as recorded and shown; the task token is stored apart and never part of what is shown. */
export interface Approval {
  readonly approvalId: string;
  readonly runId: string;
  readonly workflow: string;
  readonly step: string;
  readonly stack: string;
  readonly tier: string;
  readonly status: 'PENDING' | 'APPROVED' | 'REJECTED' | 'EXPIRED';
  /** Self-declared (the run's input), and the authenticated caller behind the run (null when started directly). */
  readonly requestedBy: string | null;
  readonly requestedByPrincipal: string | null;
  readonly requestedAt: string;
  readonly expiresAt: string;
  readonly plan: readonly {
    component: string;
    add: number;
    change: number;
    destroy: number;
    sha256?: string | undefined;
    /** The resources that change (see PlanSummary.resources). */
    resources?: string | undefined;
  }[];
  /** For an approval without a plan: what the run was asked to do (its parameters that are set). */
  readonly parameters?: Record<string, string> | undefined;
  /** Answered (a retry's): by whom, when, and why. */
  readonly decidedBy?: string | undefined;
  readonly decidedAt?: string | undefined;
  readonly comment?: string | undefined;
  /** A retry's approval given in the run it retries, for exactly these plans (same SHA-256, same commit). */
  readonly reusedFrom?: string | undefined;
}

/** Answers the approval's own task (a retry's reused approval): SendTaskSuccess. */
export interface TaskAnswer {
  succeed(token: string, output: unknown): Promise<void>;
}

export interface Notifier {
  publish(subject: string, message: string): Promise<void>;
}

/** The id an approval is answered by: the run and the step, so one run's approvals never collide. */
export function approvalId(runId: string, step: string): string {
  return `${runId}.${step}`;
}

/** Stores the approval request (with its token, apart) and sends a notification that says how to answer. */
export async function requestApproval(
  req: ApprovalRequest,
  db: DynamoDBDocumentClient,
  table: string,
  notifier: Notifier,
  now = new Date(),
  tasks?: TaskAnswer,
): Promise<Approval> {
  const store = new RunStore(db, table);
  const planned = req.planStep ? (await store.components(req.runId, req.planStep)).filter((c) => c.plan) : [];
  const parameters = req.parameters
    ? Object.fromEntries(
        Object.entries(req.parameters).filter(
          (e): e is [string, string] => typeof e[1] === 'string' && e[0] !== 'requestedBy',
        ),
      )
    : undefined;
  const approval: Approval = {
    approvalId: approvalId(req.runId, req.step),
    runId: req.runId,
    workflow: req.workflow,
    step: req.step,
    stack: req.stack,
    tier: req.tier,
    status: 'PENDING',
    requestedBy: req.requestedBy,
    requestedByPrincipal: req.principal || null,
    requestedAt: now.toISOString(),
    expiresAt: new Date(now.getTime() + req.deadlineSeconds * 1000).toISOString(),
    plan: planned
      .sort((a, b) => a.component.localeCompare(b.component))
      .map((c) => ({
        component: c.component,
        add: c.plan!.add,
        change: c.plan!.change,
        destroy: c.plan!.destroy,
        sha256: c.plan!.sha256,
        resources: c.plan!.resources,
      }))
      .map(withinBudget()),
    ...(parameters ? { parameters } : {}),
  };
  const earlier = tasks && (await reusableApproval(req, planned, store, db, table));
  if (earlier) {
    // A retry whose every plan is the retried run's, unchanged: that run's approval holds. Recorded as given, and
    // the run goes on without asking again (nothing to notify).
    const reused: Approval = {
      ...approval,
      status: 'APPROVED',
      decidedBy: earlier.decidedBy,
      decidedAt: now.toISOString(),
      comment: `approved in run ${earlier.runId} by ${earlier.decidedBy} at ${earlier.decidedAt}; this retry applies the same plans (same SHA-256, same commit)`,
      reusedFrom: earlier.runId,
    };
    await db.send(
      new PutCommand({
        TableName: table,
        Item: { ...reused, sk: `APPROVAL#${req.step}` },
        ConditionExpression: 'attribute_not_exists(sk)',
      }),
    );
    await tasks.succeed(req.taskToken, {
      decision: 'approved',
      by: reused.decidedBy,
      at: reused.decidedAt,
      comment: reused.comment,
    });
    return reused;
  }
  await db.send(
    new PutCommand({
      TableName: table,
      Item: { ...approval, sk: `APPROVAL#${req.step}`, taskToken: req.taskToken },
      ConditionExpression: 'attribute_not_exists(sk)',
    }),
  );
  await notifier.publish(`Tropos: approve ${req.workflow} on ${req.stack}?`, approvalMessage(approval));
  return approval;
}

/**
 * The approval a retry may reuse: the retried run's approval of the same step, APPROVED, when every plan this run
 * would apply is one that run's approval covered, reused unchanged (its SHA-256; plans are reused only at the same
 * commit, see ComponentGraph.reuse). Undefined otherwise: then the approval is asked again.
 */
async function reusableApproval(
  req: ApprovalRequest,
  planned: readonly { component: string; reusedFrom?: string | undefined; plan?: { sha256?: string | undefined } }[],
  store: RunStore,
  db: DynamoDBDocumentClient,
  table: string,
): Promise<{ runId: string; decidedBy: string; decidedAt: string } | undefined> {
  if (planned.length === 0 || planned.some((c) => !c.reusedFrom || !c.plan?.sha256)) return undefined;
  const retryOf = (await store.getRun(req.runId))?.retryOf;
  if (!retryOf) return undefined;
  const out = await db.send(
    new GetCommand({ TableName: table, Key: { runId: retryOf, sk: `APPROVAL#${req.step}` }, ConsistentRead: true }),
  );
  const earlier = out.Item as (Approval & { decidedBy?: string; decidedAt?: string }) | undefined;
  if (earlier?.status !== 'APPROVED' || !earlier.decidedBy || !earlier.decidedAt) return undefined;
  const approved = new Map(earlier.plan.map((p) => [p.component, p.sha256]));
  if (planned.some((c) => approved.get(c.component) !== c.plan!.sha256)) return undefined;
  return { runId: retryOf, decidedBy: earlier.decidedBy, decidedAt: earlier.decidedAt };
}

/**
 * The approval's resource lists, within one budget for all components (an SNS message holds 256 KB, an item 400
 * KB): the components past it say so and are a `tropos plan show` away.
 */
const RESOURCES_BUDGET = 100_000;
function withinBudget(): <T extends { resources?: string | undefined }>(p: T) => T {
  let left = RESOURCES_BUDGET;
  return (p) => {
    if (!p.resources) return p;
    left -= p.resources.length;
    return left >= 0 ? p : { ...p, resources: '(the list is left out here: tropos plan show <runId> has it)' };
  };
}

export function approvalMessage(a: Approval): string {
  const lines = a.plan.flatMap((p) => [
    `  ${p.component}: +${p.add} ~${p.change} -${p.destroy}${p.sha256 ? `  (plan sha256 ${p.sha256.slice(0, 12)}…)` : ''}`,
    ...(p.resources ? p.resources.split('\n').map((r) => `      ${r}`) : []),
  ]);
  return [
    `Run ${a.runId} (${a.workflow}) on stack ${a.stack} (tier ${a.tier}) waits for approval of step "${a.step}".`,
    `Requested by ${a.requestedBy ?? 'unknown'} (${a.requestedByPrincipal ?? 'started directly, caller unknown'}) at ${a.requestedAt}; expires at ${a.expiresAt}.`,
    ...(a.parameters
      ? ['It will run with:', ...Object.entries(a.parameters).map(([k, v]) => `  ${k}: ${v}`)]
      : ['Plan:', ...lines]),
    '',
    `Answer: tropos approve ${a.approvalId} --comment "…"   or   tropos reject ${a.approvalId} --comment "…"`,
    `   or: POST /approvals/${a.approvalId} {"decision":"approve"|"reject","comment":"…"}`,
  ].join('\n');
}
