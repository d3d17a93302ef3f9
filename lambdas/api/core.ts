import { InvalidInputError } from '../../lib/domain/errors';
import type { EnvironmentWriter, TicketStore } from '../../lib/records/environment-store';
import {
  APPROVAL_STATUSES,
  ApprovalDecision,
  ApprovalRefused,
  ApprovalStore,
  ApprovalView,
} from '../../lib/records/approval-store';
import type { HandoverStore } from '../../lib/records/handover';
import { RUN_STATUSES } from '../../lib/records/run';
import type { RunStore } from '../../lib/records/run-store';
import type { Check } from '../../lib/workflow/schema';
import type { WorkflowSpec } from '../../lib/workflow/spec';
import { approverProblem } from './authority';
import { executionInput, validateInput, ValidatorSettings } from '../validate-input/core';
import { getEnvironment, listEnvironments, onboard, startDriftSweep } from './environments';
import { retryRun, stopRun, unlockStack } from './operations';
import { planText, runLog, type ArtifactReader, type BuildLogReader } from './logs';
import type { StackLocks } from '../../lib/records/stack-lock';
import { ApiRequest, ApiResponse, HttpError, jsonBody, newRunId, refuseProblems } from './http';

export type { ApiRequest, ApiResponse };

/** What the API knows of each workflow: how to validate its input, and which state machine runs it. */
export interface WorkflowEntry {
  readonly spec: WorkflowSpec;
  readonly checks: readonly Check[];
  readonly stateMachineName: string;
}

/** A workflow entry with its state machine's ARN (the handler builds it from the name and its account, region). */
export interface DeployedWorkflow extends WorkflowEntry {
  readonly stateMachineArn: string;
}

export interface ApiDeps {
  readonly runs: RunStore;
  readonly approvals: ApprovalStore;
  /** Answers a waiting approval task (SendTaskSuccess / SendTaskFailure). */
  readonly answerTask: (
    taskToken: string,
    outcome: { ok: true; output: unknown } | { ok: false; error: string; cause: string },
  ) => Promise<void>;
  /** The environment registry: read by validation, written by onboarding (CIDR allocation, registration). */
  readonly registry: EnvironmentWriter;
  /** Which run each ticket's onboarding started, and which caller each ticket belongs to. */
  readonly tickets: TicketStore;
  /** Where the API leaves, before it starts a run, who asked for it (the run's first state reads it). */
  readonly handovers: Pick<HandoverStore, 'put'>;
  readonly settings: ValidatorSettings;
  readonly workflows: Readonly<Record<string, DeployedWorkflow>>;
  /** The drift sweep's state machine ('' when the app has none). */
  readonly driftSweepArn: string;
  /** Starts the execution that is the run (StartExecution). */
  readonly startExecution: (
    stateMachineArn: string,
    name: string,
    input: Record<string, unknown>,
  ) => Promise<{ executionArn: string }>;
  /** Stops an execution (StopExecution): a run stopped with no build in flight. */
  readonly stopExecution: (executionArn: string, error: string, cause: string) => Promise<void>;
  /** How an execution stands (DescribeExecution): RUNNING, how it ended, or GONE. */
  readonly executionStatus: (executionArn: string) => Promise<string>;
  /** Reads a page of a build's log (CodeBuild + CloudWatch Logs). */
  readonly buildLog: BuildLogReader;
  /** Reads an object of the artifacts bucket (a plan's text). */
  readonly artifact: ArtifactReader;
  /** The stack locks (an operator's unlock). */
  readonly locks: Pick<StackLocks, 'get' | 'release'>;
  readonly now?: () => Date;
}

const APPROVAL_COMMENT = /^(?:[^\p{C}]|[\n\t]){0,1000}$/u;

type Handler = (req: ApiRequest, deps: ApiDeps, params: Record<string, string>) => Promise<ApiResponse>;

/**
 * The kinds of caller a deployment grants the API to, each through a managed IAM policy the stack exports
 * (lib/constructs/http-api.ts): what each may call is the `callers` of the routes.
 */
export const CALLER_ROLES = ['ticketing', 'operator', 'approver', 'reader'] as const;
export type CallerRole = (typeof CALLER_ROLES)[number];
const EVERYONE: readonly CallerRole[] = CALLER_ROLES;

/** The routes of the API: the local server and API Gateway serve these; `api/openapi.yaml` describes them. */
export const ROUTES: readonly {
  readonly method: string;
  readonly path: string;
  readonly handler: Handler;
  /** Which caller roles' IAM policies allow this route. */
  readonly callers: readonly CallerRole[];
}[] = [
  { method: 'POST', path: '/environments', handler: (req, deps) => onboard(req, deps), callers: ['ticketing'] },
  { method: 'GET', path: '/environments', handler: (req, deps) => listEnvironments(req, deps), callers: EVERYONE },
  {
    method: 'GET',
    path: '/environments/{stack}',
    handler: (_, deps, p) => getEnvironment(p.stack!, deps),
    callers: EVERYONE,
  },
  { method: 'POST', path: '/runs', handler: (req, deps) => startRun(req, deps), callers: ['operator'] },
  { method: 'GET', path: '/runs', handler: (req, deps) => listRuns(req, deps), callers: EVERYONE },
  { method: 'GET', path: '/runs/{id}', handler: (_, deps, p) => getRun(p.id!, deps), callers: EVERYONE },
  { method: 'GET', path: '/runs/{id}/logs', handler: (req, deps, p) => runLog(p.id!, req, deps), callers: EVERYONE },
  {
    method: 'GET',
    path: '/runs/{id}/plans/{component}',
    handler: (req, deps, p) => planText(p.id!, p.component!, req, deps),
    callers: EVERYONE,
  },
  {
    method: 'POST',
    path: '/runs/{id}/stop',
    handler: (req, deps, p) => stopRun(p.id!, req, deps),
    callers: ['operator'],
  },
  {
    method: 'POST',
    path: '/runs/{id}/retry',
    handler: (req, deps, p) => retryRun(p.id!, req, deps),
    callers: ['operator'],
  },
  {
    method: 'POST',
    path: '/stacks/{stack}/unlock',
    handler: (req, deps, p) => unlockStack(p.stack!, req, deps),
    callers: ['operator'],
  },
  { method: 'GET', path: '/approvals', handler: (req, deps) => listApprovals(req, deps), callers: EVERYONE },
  {
    method: 'POST',
    path: '/approvals/{id}',
    handler: (req, deps, p) => decide(p.id!, req, deps),
    callers: ['approver'],
  },
  { method: 'GET', path: '/workflows', handler: async (_, deps) => listWorkflows(deps), callers: EVERYONE },
  {
    method: 'POST',
    path: '/drift-sweeps',
    handler: (req, deps) => startDriftSweep(req, deps),
    callers: ['operator'],
  },
];

/** Matches a path against a route's template (`/runs/{id}`): the template's parameters, or undefined. */
function match(template: string, segments: readonly string[]): Record<string, string> | undefined {
  const parts = template.split('/').filter(Boolean);
  if (parts.length !== segments.length) return undefined;
  const params: Record<string, string> = {};
  for (const [i, part] of parts.entries()) {
    const segment = segments[i]!;
    if (part.startsWith('{')) params[part.slice(1, -1)] = decodeSegment(segment);
    else if (part !== segment) return undefined;
  }
  return params;
}

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new HttpError(
      400,
      'MalformedPath',
      `the path segment "${segment.slice(0, 100)}" is not valid percent-encoding`,
    );
  }
}

/** The HTTP API, one code path per operation, whichever door the request comes through. */
export async function route(req: ApiRequest, deps: ApiDeps): Promise<ApiResponse> {
  try {
    const segments = req.path.replace(/\/+$/, '').split('/').filter(Boolean);
    const matching = ROUTES.flatMap((r) => {
      const params = match(r.path, segments);
      return params ? [{ ...r, params }] : [];
    });
    const found = matching.find((r) => r.method === req.method);
    if (found) return await found.handler(req, deps, found.params);
    if (matching.length > 0)
      throw new HttpError(
        405,
        'MethodNotAllowed',
        `${req.method} ${req.path} is not allowed; use ${matching.map((r) => r.method).join(' or ')}`,
      );
    throw new HttpError(
      404,
      'NotFound',
      `no route ${req.method} ${req.path}; the API has ${ROUTES.map((r) => `${r.method} ${r.path}`).join(', ')}`,
    );
  } catch (e) {
    if (e instanceof HttpError)
      return { statusCode: e.statusCode, body: { error: e.error, message: e.message, ...e.extra } };
    throw e;
  }
}

function listWorkflows(deps: ApiDeps): ApiResponse {
  return {
    statusCode: 200,
    body: {
      workflows: Object.entries(deps.workflows).map(([name, w]) => ({
        name,
        inputs: w.spec.inputs,
        steps: w.spec.steps,
      })),
    },
  };
}

async function startRun(req: ApiRequest, deps: ApiDeps): Promise<ApiResponse> {
  const body = jsonBody(req);
  const unknownKeys = Object.keys(body).filter((k) => k !== 'workflow' && k !== 'input');
  const workflow = body.workflow;
  const names = Object.keys(deps.workflows).sort();
  const problems: { field: string; problem: string }[] = unknownKeys.map((k) => ({
    field: k,
    problem: 'is not a field of POST /runs; allowed: workflow, input',
  }));
  if (typeof workflow !== 'string' || !Object.hasOwn(deps.workflows, workflow)) {
    problems.push({
      field: 'workflow',
      problem: `${JSON.stringify(workflow ?? null)} is not a workflow; allowed: ${names.join(', ')}`,
    });
  }
  const input = body.input ?? {};
  if (typeof input !== 'object' || input === null || Array.isArray(input))
    problems.push({ field: 'input', problem: 'must be a JSON object of the workflow inputs' });
  refuseProblems(problems);
  return startValidated(req, deps, workflow as string, input as Record<string, unknown>);
}

/**
 * Validates a run's input as its first state will, then hands it over and starts it: 202 with the new run. A retry
 * names the run it retries (its handover says so; an input cannot).
 */
export async function startValidated(
  req: ApiRequest,
  deps: ApiDeps,
  workflow: string,
  input: Record<string, unknown>,
  retryOf?: string,
): Promise<ApiResponse> {
  const entry = deps.workflows[workflow]!;
  const runInput = { ...input, requestedBy: input.requestedBy ?? req.identity };
  let validated;
  try {
    // The same validation the run's first state does: a bad input starts nothing.
    validated = await validateInput(
      { workflow: entry.spec, checks: entry.checks, input: runInput, runId: 'api', origin: apiOrigin(req) },
      deps.settings,
      deps.registry,
    );
  } catch (e) {
    if (e instanceof InvalidInputError) throw new HttpError(400, 'InvalidInput', e.message, { problems: e.problems });
    throw e;
  }
  // A callback is signed in the ticket's name: only its owner may ask for one. (A ticket without a callback is a
  // label on the run, bound to nobody.)
  const ticketId = validated.input.ticketId;
  if (typeof ticketId === 'string' && typeof validated.input.callbackUrl === 'string')
    await bindTicket(ticketId, req, deps);
  const runId = newRunId(workflow, (deps.now ?? (() => new Date()))());
  // The run starts with its normalised input (trimmed names), handed over first with who asked for it.
  const { executionArn } = await startHandedOver(deps, {
    stateMachineArn: entry.stateMachineArn,
    runId,
    workflow,
    input: executionInput(validated),
    principal: req.identity,
    retryOf,
  });
  return {
    statusCode: 202,
    body: {
      runId,
      workflow,
      status: 'RUNNING',
      statusUrl: `${req.basePath}/runs/${runId}`,
      executionArn,
      ...(retryOf ? { retryOf, input: executionInput(validated) } : {}),
    },
  };
}

/** What the API's own validation is told about the run it may start: a caller it authenticated. */
export function apiOrigin(req: ApiRequest) {
  return { kind: 'api' as const, principal: req.identity };
}

/**
 * Binds a ticket to the caller: 403 when another caller used it first (callbacks are signed in its name). The caller
 * is its role, not its session: a ticketing system's sessions change names (task ids, instance ids).
 */
export async function bindTicket(ticketId: string, req: ApiRequest, deps: ApiDeps): Promise<void> {
  const caller = ticketOwnerOf(req.identity);
  const { owner, since } = await deps.tickets.bind(ticketId, caller, (deps.now ?? (() => new Date()))());
  if (owner !== caller)
    throw new HttpError(
      403,
      'TicketConflict',
      `ticket ${ticketId} belongs to ${owner} (first used ${since}); a ticket is used by the caller that first used it`,
      { problems: [{ field: 'ticketId', problem: `belongs to another caller (${owner})` }] },
    );
}

/** The owner of a ticket: the caller's role for a role session (`assumed-role/<role>`), else the caller. */
export function ticketOwnerOf(identity: string): string {
  return /^(arn:[^:]+:sts::\d{12}:assumed-role\/[^/]+)\/.+$/.exec(identity)?.[1] ?? identity;
}

/** Hands the run over (who asked, the exact input), then starts it: its first state trusts only that handover. */
export async function startHandedOver(
  deps: ApiDeps,
  run: {
    stateMachineArn: string;
    runId: string;
    workflow: string;
    input: Record<string, unknown>;
    principal: string;
    retryOf?: string | undefined;
  },
): Promise<{ executionArn: string }> {
  await deps.handovers.put({
    runId: run.runId,
    workflow: run.workflow,
    input: run.input,
    origin: 'api',
    principal: run.principal,
    ...(run.retryOf ? { retryOf: run.retryOf } : {}),
    createdAt: (deps.now ?? (() => new Date()))().toISOString(),
  });
  return deps.startExecution(run.stateMachineArn, run.runId, run.input);
}

async function listApprovals(req: ApiRequest, deps: ApiDeps): Promise<ApiResponse> {
  const status = req.query.status;
  if (status !== undefined && status !== 'all' && !(APPROVAL_STATUSES as readonly string[]).includes(status))
    throw new HttpError(
      400,
      'InvalidInput',
      `status: "${status}" is not allowed; allowed: ${APPROVAL_STATUSES.join(', ')}, all`,
    );
  return { statusCode: 200, body: { approvals: await deps.approvals.list(status === 'all' ? undefined : status) } };
}

/** Approve or reject: recorded once (who, when, comment), then the waiting task is answered. */
async function decide(approvalId: string, req: ApiRequest, deps: ApiDeps): Promise<ApiResponse> {
  const body = jsonBody(req);
  const problems: { field: string; problem: string }[] = [];
  if (body.decision !== 'approve' && body.decision !== 'reject')
    problems.push({
      field: 'decision',
      problem: `${JSON.stringify(body.decision ?? null)} is not allowed; allowed: approve, reject`,
    });
  // Shown in terminals and notifications: no control or format characters (a line break or tab is fine).
  if (body.comment !== undefined && (typeof body.comment !== 'string' || !APPROVAL_COMMENT.test(body.comment)))
    problems.push({
      field: 'comment',
      problem: 'must be printable text of at most 1000 characters (line breaks allowed; no control characters)',
    });
  for (const k of Object.keys(body).filter((k) => k !== 'decision' && k !== 'comment'))
    problems.push({ field: k, problem: 'is not a field of an approval answer; allowed: decision, comment' });
  refuseProblems(problems);
  const decision = body.decision as ApprovalDecision;
  const comment = body.comment as string | undefined;
  // Who may answer: the tier's approvers, and not the run's own requester (unless the tier allows it).
  const pending = await deps.approvals.get(approvalId);
  const problem = pending && approverProblem(deps.settings.tiers, pending, req.identity);
  if (problem) throw new HttpError(403, 'Forbidden', problem);
  let decided;
  try {
    decided = await deps.approvals.decide(
      approvalId,
      decision,
      req.identity,
      comment,
      (deps.now ?? (() => new Date()))(),
    );
  } catch (e) {
    if (e instanceof ApprovalRefused)
      throw new HttpError(e.status, e.status === 404 ? 'NotFound' : 'Conflict', e.message);
    throw e;
  }
  const { approval, taskToken } = decided;
  try {
    await answer(deps, decision, approval, taskToken);
  } catch (e) {
    // The task ended before the answer reached it (its deadline passed, or the run was stopped).
    if (!['TaskTimedOut', 'TaskDoesNotExist', 'InvalidToken'].includes((e as Error).name)) throw e;
    await deps.approvals.markExpired(approvalId);
    throw new HttpError(
      409,
      'Conflict',
      `approval ${approvalId} can no longer be answered: the run stopped waiting for it (deadline ${approval.expiresAt})`,
    );
  }
  return { statusCode: 200, body: approval };
}

function answer(deps: ApiDeps, decision: ApprovalDecision, approval: ApprovalView, taskToken: string): Promise<void> {
  return deps.answerTask(
    taskToken,
    decision === 'approve'
      ? {
          ok: true,
          output: { decision: 'approved', by: approval.decidedBy, at: approval.decidedAt, comment: approval.comment },
        }
      : {
          ok: false,
          error: 'ApprovalRejected',
          cause: `rejected by ${approval.decidedBy} at ${approval.decidedAt}${approval.comment ? `: ${approval.comment}` : ''}`,
        },
  );
}

async function listRuns(req: ApiRequest, deps: ApiDeps): Promise<ApiResponse> {
  const limit = req.query.limit ? Number(req.query.limit) : undefined;
  if (limit !== undefined && (!Number.isInteger(limit) || limit < 1 || limit > 1000))
    throw new HttpError(400, 'InvalidInput', 'limit: must be an integer from 1 to 1000');
  const status = req.query.status;
  if (status !== undefined && !(RUN_STATUSES as readonly string[]).includes(status))
    throw new HttpError(400, 'InvalidInput', `status: "${status}" is not allowed; allowed: ${RUN_STATUSES.join(', ')}`);
  // A typo in a filter is said, not answered with "no runs".
  const workflow = req.query.workflow;
  if (workflow !== undefined && !Object.hasOwn(deps.workflows, workflow))
    throw new HttpError(
      400,
      'InvalidInput',
      `workflow: "${workflow}" is not a workflow; allowed: ${Object.keys(deps.workflows).sort().join(', ')}`,
    );
  const stack = req.query.stack;
  if (stack !== undefined && !/^[a-z0-9][a-z0-9-]*$/.test(stack))
    throw new HttpError(400, 'InvalidInput', `stack: "${stack}" is not a stack name (like acme-dev-testenv-01)`);
  const runs = await deps.runs.listRuns({
    stack,
    workflow,
    status,
    parentRunId: req.query.parentRunId,
    limit,
  });
  return { statusCode: 200, body: { runs } };
}

async function getRun(runId: string, deps: ApiDeps): Promise<ApiResponse> {
  const detail = await deps.runs.getRunDetail(runId);
  if (!detail) throw new HttpError(404, 'NotFound', `no run ${runId}`);
  return { statusCode: 200, body: detail };
}
