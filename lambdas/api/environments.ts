import { effectiveTier } from '../../lib/domain/tiers';
import { InvalidInputError, type FieldProblem } from '../../lib/domain/errors';
import { REQUESTED_BY, TICKET_ID } from '../../lib/domain/inputs';
import { DRIFT_SWEEP } from '../../lib/domain/drift';
import { ONBOARD_WORKFLOW } from '../../lib/domain/naming';
import { ENVIRONMENT_STATUSES, type Environment, type EnvironmentStatus } from '../../lib/records/environment';
import {
  CidrOverlapError,
  EnvironmentExistsError,
  TICKET_LEASE_MS,
  type Ticket,
} from '../../lib/records/environment-store';
import { executionInput, validateInput, type ValidateResult } from '../validate-input/core';
import { apiOrigin, bindTicket, startHandedOver, type ApiDeps } from './core';
import { ApiRequest, ApiResponse, HttpError, jsonBody, newRunId, refuseProblems } from './http';

/** The body of POST /environments and the workflow input each field becomes. */
export const ONBOARD_FIELDS = {
  tenant: { input: 'tenant', required: true },
  account: { input: 'account', required: true },
  environment: { input: 'environment', required: true },
  region: { input: 'region', required: true },
  vpcCidr: { input: 'vpc_cidr', required: true },
  tier: { input: 'tier', required: false },
  tags: { input: 'tags', required: false },
  ticketId: { input: 'ticketId', required: true },
  requestedBy: { input: 'requestedBy', required: true },
  callbackUrl: { input: 'callbackUrl', required: false },
} as const;
type OnboardField = keyof typeof ONBOARD_FIELDS;

const TAG_KEY = /^[A-Za-z0-9_.:/-]{1,128}$/;
const TAG_VALUE = /^[^,=]{0,256}$/;
/** How long a repeated ticket waits for the first request of that ticket to finish starting its run. */
const PENDING_TICKET_WAIT_MS = 10_000;

/**
 * POST /environments: a ticketing system onboards an environment. Checks every field (400 listing each bad one),
 * claims the ticket (the same ticket again answers with the same run, 200), registers the environment as
 * `onboarding` with its CIDR allocated race-free (409 naming the overlapping environment, or the stack when it is
 * registered), starts onboard-environment, and answers 202 with the run id and where to follow it.
 */
export async function onboard(req: ApiRequest, deps: ApiDeps, attempt = 0): Promise<ApiResponse> {
  const body = jsonBody(req);
  const entry = deps.workflows[ONBOARD_WORKFLOW];
  if (!entry) throw new HttpError(404, 'NotFound', `this deployment has no ${ONBOARD_WORKFLOW} workflow`);
  const { input, problems } = onboardInput(body);
  let validated: ValidateResult | undefined;
  try {
    // The workflow's own validation (names, account, tier, CIDR syntax and size, tags policy, callback URL);
    // conflicts with registered environments are the registration's to find (409), race-free.
    validated = await validateInput(
      { workflow: entry.spec, checks: ['tags-policy'], input, runId: 'api', origin: apiOrigin(req) },
      deps.settings,
      deps.registry,
    );
  } catch (e) {
    if (!(e instanceof InvalidInputError)) throw e;
    // A field the body's own checks refused already is not listed twice.
    const refused = new Set(problems.map((p) => p.field));
    for (const p of e.problems)
      if (!refused.has(bodyField(p.field))) problems.push({ field: bodyField(p.field), problem: p.problem });
  }
  refuseProblems(problems);
  const ctx = validated!.context;
  // Everything from here on uses the validated, normalised values (a trailing newline is not part of a name).
  const runInput = executionInput(validated!);
  const ticketId = runInput.ticketId as string;
  await bindTicket(ticketId, req, deps);
  const now = (deps.now ?? (() => new Date()))();
  const runId = newRunId(ONBOARD_WORKFLOW, now);
  const registration: Environment = {
    stack: ctx.stack,
    tenant: ctx.tenant,
    account: ctx.account,
    environment: ctx.environment,
    region: ctx.region,
    tier: ctx.tier,
    vpcCidr: runInput.vpc_cidr as string,
    status: 'onboarding',
    components: ctx.components,
    ...(typeof body.tags === 'object' && body.tags !== null ? { tags: body.tags as Record<string, string> } : {}),
    ticketId,
    runId,
    registeredBy: req.identity,
    createdAt: now.toISOString(),
    updatedAt: now.toISOString(),
  };
  const ticket = {
    ticketId,
    stack: ctx.stack,
    runId,
    createdAt: now.toISOString(),
    registration,
    input: runInput,
    caller: req.identity,
  };
  const claim = await deps.tickets.claim(ticket);
  if (!claim.claimed) {
    const answer = await sameTicket(claim.ticket, ctx.stack, req, deps);
    if (answer) return answer;
    if (attempt < 3) return onboard(req, deps, attempt + 1); // its first request was refused: try again
    throw new HttpError(409, 'TicketConflict', `ticket ${ticketId} is being handled by another request; retry later`);
  }
  await registerAndStart({ ...ticket, state: 'pending' }, entry.stateMachineArn, deps);
  return { statusCode: 202, body: onboardAnswer(req, runId, ctx.stack, ticketId, 'RUNNING') };
}

/**
 * Registers the ticket's environment (CIDR allocated race-free; idempotent for the ticket's run), starts its run
 * under the run id as execution name (a start for a name that exists starts nothing), and marks the ticket
 * started. A refused registration gives the ticket back (409). A start that fails keeps both: whether the
 * execution exists is unknown, so only a start under the same name — the ticket sent again after the lease —
 * may follow, never a new run.
 */
async function registerAndStart(ticket: Ticket, stateMachineArn: string, deps: ApiDeps): Promise<void> {
  const { ticketId, runId, stack } = ticket;
  const current = await deps.registry.get(stack);
  // Registered by this run already (a resumed request; its run may even have ended): nothing to register.
  if (current?.runId !== runId) {
    try {
      await deps.registry.register(ticket.registration);
    } catch (e) {
      await deps.tickets.release(ticketId, runId);
      if (e instanceof CidrOverlapError)
        throw new HttpError(409, 'CidrOverlap', e.message, {
          overlapping: e.overlapping,
          problems: [{ field: 'vpcCidr', problem: e.message }],
        });
      if (e instanceof EnvironmentExistsError)
        throw new HttpError(409, 'EnvironmentExists', `${e.message}; choose another environment name`, {
          problems: [{ field: 'environment', problem: e.message }],
        });
      throw e;
    }
  }
  try {
    await startHandedOver(deps, {
      stateMachineArn,
      runId,
      workflow: ONBOARD_WORKFLOW,
      input: ticket.input,
      principal: ticket.caller,
    });
  } catch (e) {
    // An execution of this name exists (started by the request this one resumes, or by a concurrent resumer, and
    // perhaps ended): it is the ticket's run.
    if ((e as Error).name !== 'ExecutionAlreadyExists')
      throw new HttpError(
        503,
        'StartFailed',
        `the onboarding run ${runId} could not be started (${(e as Error).message}); the ticket and the registration are kept: send the ticket again in ${TICKET_LEASE_MS / 60_000} minutes to retry the start under the same run`,
        { runId, stack },
      );
  }
  await deps.tickets.started(ticketId, runId);
}

/** The workflow input from the body, and the problems of the body's shape (unknown, missing, not a string). */
function onboardInput(body: Record<string, unknown>): { input: Record<string, unknown>; problems: FieldProblem[] } {
  const problems: FieldProblem[] = [];
  const input: Record<string, unknown> = {};
  const allowed = Object.keys(ONBOARD_FIELDS).join(', ');
  for (const key of Object.keys(body))
    if (!Object.hasOwn(ONBOARD_FIELDS, key))
      problems.push({ field: key, problem: `is not a field of POST /environments; allowed: ${allowed}` });
  for (const [field, spec] of Object.entries(ONBOARD_FIELDS) as [
    OnboardField,
    (typeof ONBOARD_FIELDS)[OnboardField],
  ][]) {
    const v = body[field];
    if (v === undefined || v === null || v === '') {
      if (spec.required) problems.push({ field, problem: 'is required' });
      continue;
    }
    if (field === 'tags') {
      const tags = tagsText(v);
      if (typeof tags === 'string') input.tags = tags;
      else problems.push({ field, problem: tags.problem });
      continue;
    }
    if (typeof v !== 'string') {
      problems.push({ field, problem: `must be a string; got ${Array.isArray(v) ? 'an array' : typeof v}` });
      continue;
    }
    if (field === 'ticketId' && !TICKET_ID.test(v))
      problems.push({
        field,
        problem: `"${v.slice(0, 140)}" is not allowed: 1-128 letters, digits and . _ : # / -, starting with a letter or digit (like CHG0012345)`,
      });
    else if (field === 'requestedBy' && (!REQUESTED_BY.test(v) || !v.trim()))
      problems.push({
        field,
        problem:
          'must be printable text of at most 256 characters (a name or an e-mail address; no control characters)',
      });
    input[spec.input] = v;
  }
  return { input, problems };
}

/** `{"Owner":"platform"}` → `Owner=platform`: the workflow's form of tags. */
function tagsText(v: unknown): string | { problem: string } {
  if (typeof v !== 'object' || v === null || Array.isArray(v))
    return { problem: 'must be an object of tag names to string values, like {"Owner":"platform"}' };
  const pairs: string[] = [];
  for (const [k, value] of Object.entries(v)) {
    if (!TAG_KEY.test(k))
      return { problem: `tag name "${k.slice(0, 140)}" is not allowed: 1-128 of A-Z a-z 0-9 _ . : / -` };
    if (typeof value !== 'string' || !TAG_VALUE.test(value))
      return { problem: `tag ${k} must have a string value of at most 256 characters without "," or "="` };
    pairs.push(`${k}=${value}`);
  }
  return pairs.join(',');
}

/** The body's name of a workflow input (the validator names inputs: vpc_cidr is the body's vpcCidr). */
function bodyField(inputName: string): string {
  const found = Object.entries(ONBOARD_FIELDS).find(([, spec]) => spec.input === inputName);
  return found ? found[0] : inputName;
}

function onboardAnswer(req: ApiRequest, runId: string, stack: string, ticketId: string, status: string) {
  return {
    runId,
    stack,
    ticketId,
    workflow: ONBOARD_WORKFLOW,
    status,
    statusUrl: `${req.basePath}/runs/${runId}`,
    environmentUrl: `${req.basePath}/environments/${stack}`,
  };
}

/**
 * A ticket seen before: the same run (200) once its request started it. A ticket for another stack is a
 * conflict. A request still starting the run is waited for; one abandoned (its function timed out between the
 * claim and the start) is finished by this one. Undefined when the first request gave the ticket up (it was
 * refused) and this one may try again.
 */
async function sameTicket(
  ticket: Ticket,
  stack: string,
  req: ApiRequest,
  deps: ApiDeps,
): Promise<ApiResponse | undefined> {
  if (ticket.stack !== stack)
    throw new HttpError(
      409,
      'TicketConflict',
      `ticket ${ticket.ticketId} already onboarded ${ticket.stack} (run ${ticket.runId}); a ticket onboards one environment`,
      { runId: ticket.runId, stack: ticket.stack },
    );
  const deadline = Date.now() + PENDING_TICKET_WAIT_MS;
  let current: Ticket | undefined = ticket;
  const abandoned = (t: Ticket) => Date.now() - Date.parse(t.createdAt) > TICKET_LEASE_MS;
  while (current?.state === 'pending' && !abandoned(current) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    current = await deps.tickets.get(ticket.ticketId);
  }
  if (!current || current.runId !== ticket.runId) return undefined;
  if (current.state === 'pending') {
    if (!abandoned(current))
      throw new HttpError(
        409,
        'TicketConflict',
        `ticket ${ticket.ticketId} is being handled by another request; retry later`,
        { runId: current.runId, stack: current.stack },
      );
    // One request finishes it: the one whose takeover renews the ticket's lease.
    if (!(await deps.tickets.takeOver(current, new Date())))
      throw new HttpError(
        409,
        'TicketConflict',
        `ticket ${ticket.ticketId} is being finished by another request; retry later`,
        { runId: current.runId, stack: current.stack },
      );
    await registerAndStart(current, deps.workflows[ONBOARD_WORKFLOW]!.stateMachineArn, deps);
  }
  const run = await deps.runs.getRun(current.runId);
  return {
    statusCode: 200,
    body: onboardAnswer(req, current.runId, current.stack, current.ticketId, run?.status ?? 'RUNNING'),
  };
}

/** GET /environments?tenant=&status= */
export async function listEnvironments(req: ApiRequest, deps: ApiDeps): Promise<ApiResponse> {
  const status = req.query.status;
  if (status !== undefined && !(ENVIRONMENT_STATUSES as readonly string[]).includes(status))
    throw new HttpError(
      400,
      'InvalidInput',
      `status: "${status}" is not allowed; allowed: ${ENVIRONMENT_STATUSES.join(', ')}`,
    );
  const environments = await deps.registry.list({ tenant: req.query.tenant, status: status as EnvironmentStatus });
  return { statusCode: 200, body: { environments: environments.map((e) => view(e, deps)) } };
}

/** GET /environments/{stack} */
export async function getEnvironment(stack: string, deps: ApiDeps): Promise<ApiResponse> {
  const env = await deps.registry.get(stack);
  if (!env) throw new HttpError(404, 'NotFound', `no environment ${stack}`);
  return { statusCode: 200, body: view(env, deps) };
}

function view(e: Environment, deps: Pick<ApiDeps, 'settings'>) {
  return {
    stack: e.stack,
    tenant: e.tenant,
    account: e.account,
    environment: e.environment,
    region: e.region,
    // A stack found in the repository has no tier of its own: its account's.
    tier: effectiveTier(deps.settings, e.account, e.tier || undefined),
    vpcCidr: e.vpcCidr ?? null,
    status: e.status,
    components: e.components ?? null,
    tags: e.tags ?? null,
    ticketId: e.ticketId ?? null,
    runId: e.runId ?? null,
    registeredBy: e.registeredBy ?? null,
    source: e.source ?? null,
    createdAt: e.createdAt,
    updatedAt: e.updatedAt,
    lastDrift: e.lastDrift ?? null,
    failure: e.failure ?? null,
  };
}

/** POST /drift-sweeps: starts a drift sweep now (the schedule starts the same one). */
export async function startDriftSweep(req: ApiRequest, deps: ApiDeps): Promise<ApiResponse> {
  if (req.body) {
    const extra = Object.keys(jsonBody(req));
    refuseProblems(
      extra.map((field) => ({ field, problem: 'is not a field of POST /drift-sweeps; send {} or no body' })),
    );
  }
  if (!deps.driftSweepArn) throw new HttpError(404, 'NotFound', 'this deployment has no drift-detection workflow');
  const runId = newRunId(DRIFT_SWEEP, (deps.now ?? (() => new Date()))());
  await startHandedOver(deps, {
    stateMachineArn: deps.driftSweepArn,
    runId,
    workflow: DRIFT_SWEEP,
    input: { requestedBy: req.identity },
    principal: req.identity,
  });
  return {
    statusCode: 202,
    body: { runId, workflow: 'drift-sweep', status: 'RUNNING', statusUrl: `${req.basePath}/runs/${runId}` },
  };
}
