import { randomBytes } from 'node:crypto';
import { InvalidInputError } from '../../lib/domain/errors';
import type { EnvironmentReader } from '../../lib/records/environment';
import { ApprovalDecision, ApprovalRefused, ApprovalStore, ApprovalView } from '../../lib/records/approval-store';
import type { RunStore } from '../../lib/records/run-store';
import type { Check } from '../../lib/workflow/schema';
import type { WorkflowSpec } from '../../lib/workflow/spec';
import { validateInput, ValidatorSettings } from '../validate-input/core';

/** What the API knows of each workflow: how to validate its input, and which state machine runs it. */
export interface WorkflowEntry {
  readonly spec: WorkflowSpec;
  readonly checks: readonly Check[];
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
  readonly registry: EnvironmentReader;
  readonly settings: ValidatorSettings;
  readonly workflows: Readonly<Record<string, WorkflowEntry>>;
  /** Starts the execution that is the run (StartExecution). */
  readonly startExecution: (
    stateMachineArn: string,
    name: string,
    input: Record<string, unknown>,
  ) => Promise<{ executionArn: string }>;
  readonly now?: () => Date;
}

export interface ApiRequest {
  readonly method: string;
  readonly path: string;
  readonly query: Readonly<Record<string, string | undefined>>;
  readonly headers: Readonly<Record<string, string | undefined>>;
  readonly body: string | null;
  /** The caller: the IAM principal on AWS, the local user locally. */
  readonly identity: string;
}

export interface ApiResponse {
  readonly statusCode: number;
  readonly body: unknown;
}

const INTERNAL_KEYS = ['parentRunId', 'lockOwner'] as const;

/** Request bodies larger than this get 413. */
export const MAX_BODY_BYTES = 64 * 1024;

class HttpError extends Error {
  constructor(
    public readonly statusCode: number,
    public readonly error: string,
    message: string,
    public readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

/** A run id is the execution name: the workflow, when, and a random suffix (`plan-environment-20261122-031500-3f9a`). */
export function newRunId(workflow: string, now: Date): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  return `${workflow}-${stamp}-${randomBytes(2).toString('hex')}`;
}

/** The HTTP API, one code path per operation, whichever door the request comes through. */
export async function route(req: ApiRequest, deps: ApiDeps): Promise<ApiResponse> {
  try {
    const segments = req.path.replace(/\/+$/, '').split('/').filter(Boolean);
    const [resource, id, ...rest] = segments;
    if (resource === 'runs' && rest.length === 0) {
      if (!id && req.method === 'POST') return await startRun(req, deps);
      if (!id && req.method === 'GET') return await listRuns(req, deps);
      if (id && req.method === 'GET') return await getRun(decodeURIComponent(id), deps);
      throw new HttpError(
        405,
        'MethodNotAllowed',
        `${req.method} ${req.path} is not allowed; use ${id ? 'GET' : 'GET or POST'}`,
      );
    }
    if (resource === 'approvals' && rest.length === 0) {
      if (!id && req.method === 'GET')
        return { statusCode: 200, body: { approvals: await deps.approvals.list(req.query.status) } };
      if (id && req.method === 'POST') return await decide(decodeURIComponent(id), req, deps);
      throw new HttpError(
        405,
        'MethodNotAllowed',
        `${req.method} ${req.path} is not allowed; use ${id ? 'POST' : 'GET'}`,
      );
    }
    if (resource === 'workflows' && !id && req.method === 'GET') {
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
    throw new HttpError(
      404,
      'NotFound',
      `no route ${req.method} ${req.path}; the API has POST /runs, GET /runs, GET /runs/{id}, GET /approvals, POST /approvals/{id}, GET /workflows`,
    );
  } catch (e) {
    if (e instanceof HttpError)
      return { statusCode: e.statusCode, body: { error: e.error, message: e.message, ...e.extra } };
    throw e;
  }
}

/** Parses a JSON object body: 413 when too large, 415 when not JSON, 400 when malformed. */
export function jsonBody(req: ApiRequest): Record<string, unknown> {
  const body = req.body ?? '';
  if (Buffer.byteLength(body) > MAX_BODY_BYTES)
    throw new HttpError(
      413,
      'PayloadTooLarge',
      `the body is ${Buffer.byteLength(body)} bytes; at most ${MAX_BODY_BYTES} are accepted`,
    );
  const type = Object.entries(req.headers).find(([k]) => k.toLowerCase() === 'content-type')?.[1] ?? '';
  if (!/^application\/json\b/i.test(type))
    throw new HttpError(
      415,
      'UnsupportedMediaType',
      `Content-Type must be application/json; got ${type ? `"${type}"` : 'none'}`,
    );
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch (e) {
    throw new HttpError(400, 'MalformedJson', `the body is not valid JSON: ${(e as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    throw new HttpError(400, 'MalformedJson', 'the body must be a JSON object');
  return parsed as Record<string, unknown>;
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
  if (typeof workflow !== 'string' || !deps.workflows[workflow]) {
    problems.push({
      field: 'workflow',
      problem: `${JSON.stringify(workflow ?? null)} is not a workflow; allowed: ${names.join(', ')}`,
    });
  }
  const input = body.input ?? {};
  if (typeof input !== 'object' || input === null || Array.isArray(input))
    problems.push({ field: 'input', problem: 'must be a JSON object of the workflow inputs' });
  // Set only by a parent run for its child (sharing the parent's stack lock): never by a caller.
  for (const key of INTERNAL_KEYS) {
    if (typeof input === 'object' && input !== null && key in input)
      problems.push({ field: `input.${key}`, problem: 'is set by Tropos for the runs a run starts; leave it out' });
  }
  if (problems.length > 0)
    throw new HttpError(400, 'InvalidInput', problems.map((p) => `${p.field}: ${p.problem}`).join('; '), { problems });
  const entry = deps.workflows[workflow as string]!;
  const runInput = {
    ...(input as Record<string, unknown>),
    requestedBy: (input as Record<string, unknown>).requestedBy ?? req.identity,
  };
  try {
    // The same validation the run's first state does: a bad input starts nothing.
    await validateInput(
      { workflow: entry.spec, checks: entry.checks, input: runInput, runId: 'api' },
      deps.settings,
      deps.registry,
    );
  } catch (e) {
    if (e instanceof InvalidInputError) throw new HttpError(400, 'InvalidInput', e.message, { problems: e.problems });
    throw e;
  }
  const runId = newRunId(workflow as string, (deps.now ?? (() => new Date()))());
  const { executionArn } = await deps.startExecution(entry.stateMachineArn, runId, runInput);
  return { statusCode: 202, body: { runId, workflow, status: 'RUNNING', statusUrl: `/runs/${runId}`, executionArn } };
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
  if (body.comment !== undefined && (typeof body.comment !== 'string' || body.comment.length > 1000))
    problems.push({ field: 'comment', problem: 'must be a string of at most 1000 characters' });
  for (const k of Object.keys(body).filter((k) => k !== 'decision' && k !== 'comment'))
    problems.push({ field: k, problem: 'is not a field of an approval answer; allowed: decision, comment' });
  if (problems.length > 0)
    throw new HttpError(400, 'InvalidInput', problems.map((p) => `${p.field}: ${p.problem}`).join('; '), { problems });
  const decision = body.decision as ApprovalDecision;
  const comment = body.comment as string | undefined;
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
  const runs = await deps.runs.listRuns({
    stack: req.query.stack,
    workflow: req.query.workflow,
    status: req.query.status,
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
