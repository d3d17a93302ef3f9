import { callbackUrlProblem } from '../../lib/domain/callback';
import { parseCidr, overlaps, vpcCidrProblem } from '../../lib/domain/cidr';
import { FieldProblem, InvalidInputError } from '../../lib/domain/errors';
import {
  INTERNAL_KEYS,
  isParameterName,
  PARAMETERS,
  ParameterRule,
  RESERVED_KEYS,
  REQUESTED_BY,
  STACK_INPUT,
  takesStackName,
  TICKET_ID,
} from '../../lib/domain/inputs';
import { effectiveTier, tierProblem, type TierPolicy } from '../../lib/domain/tiers';
import { originOf, type HandoverStore, type RunOrigin } from '../../lib/records/handover';
import type { RunStore } from '../../lib/records/run-store';
import { fillPattern, stackName } from '../../lib/domain/naming';
import { HOLDING_STATUSES, type Environment, type EnvironmentReader } from '../../lib/records/environment';
import type { Check } from '../../lib/workflow/schema';
import type { WorkflowSpec } from '../../lib/workflow/spec';

export type { WorkflowSpec };

/** What the validator needs of the configuration (handed to the function as JSON at deploy time). */
export interface ValidatorSettings {
  readonly region: string;
  /** Regions an environment may be in: Tropos's own, the accounts' and `regions` of the configuration. */
  readonly regions: readonly string[];
  readonly accounts: Readonly<Record<string, { id: string; tier: string; region?: string | undefined }>>;
  /** Each tier's approval policy, and who may answer its approvals (see lambdas/api/authority.ts). */
  readonly tiers: Readonly<Record<string, TierPolicy>>;
  readonly stateBackend: { bucket: string; lockTable: string };
  /** Tropos's own AWS account id (the state backend's): the handler adds it from its function's ARN. */
  readonly awsAccountId?: string;
  readonly tagsPolicy: { required: readonly string[]; allowedValues: Readonly<Record<string, readonly string[]>> };
  /** The catalog's named sets (`components=<set>` runs the set's components the stack has). */
  readonly sets: Readonly<Record<string, readonly string[]>>;
  /** The components a new stack's configuration gets (onboarding), unless `components` names others. */
  readonly defaultComponents: readonly string[];
  /** The configuration's `infrastructure.ref`: the only ref a mutating workflow runs at. */
  readonly infrastructureRef: string;
}

export interface ValidateRequest {
  readonly workflow: WorkflowSpec;
  readonly checks: readonly Check[];
  readonly input: unknown;
  readonly runId: string;
  readonly startedAt?: string;
  /**
   * Who started the run, as Tropos recorded it (never read from the input). Absent where it is not known: the
   * API's own check before it starts a run passes `api`; a later validate step of a run has none.
   */
  readonly origin?: RunOrigin;
  /** The run's first state (it resolves who started the run, from its handover). */
  readonly first?: boolean;
  /** The execution's ARN (`$$.Execution.Id`): what uses the handover up. */
  readonly executionArn?: string;
}

/** What every later state reads: the resolved stack and run settings. Empty strings where not applicable. */
export interface RunContext {
  readonly runId: string;
  readonly workflow: string;
  readonly stack: string;
  readonly tenant: string;
  readonly account: string;
  readonly environment: string;
  readonly region: string;
  readonly tier: string;
  readonly accountId: string;
  readonly approvalPolicy: string;
  /** The components a new stack's generated configuration gets (onboarding): those asked for, or the defaults. */
  readonly components: string[];
  /** `components=`, sets expanded ("vpc,iam"), or null for the whole stack (checked when the run resolves it). */
  readonly asked: string | null;
  /** `component=`, or null. */
  readonly component: string | null;
  readonly stateBucket: string;
  readonly lockTable: string;
  readonly dryRun: boolean;
  readonly fromStepIndex: number;
  readonly mutating: boolean;
  /** The run covers every component of the stack (no `components` subset). */
  readonly wholeStack: boolean;
  /** The run whose stack lock this run works under: itself, or the parent that handed it its lock. */
  readonly lockOwner: string;
  /** How the run was started: `api`, `parent` (a run that started it) or `console` (any direct StartExecution). */
  readonly origin: string;
  /** The authenticated caller behind the run ('' when it was started directly, e.g. from the console). */
  readonly principal: string;
  /** The run that started this one ('' when none). */
  readonly parentRunId: string;
  /** The commit a child works on (its parent's, handed over); '' for a run of its own (its ref's tip). */
  readonly commit: string;
  /** `stack=`: the stack's name in the repository the run was asked for by ('' when asked by its coordinates). */
  readonly askedStack: string;
}

export interface ValidateResult {
  readonly input: Record<string, unknown>;
  readonly context: RunContext;
  readonly results: Record<string, never>;
}

/**
 * The key Step Functions adds to a nested execution's input. Accepted (a child has it) but never trusted: who
 * started a run is what its handover says.
 */
const SFN_KEYS = new Set(['AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID']);
const MAX_VALUE_LENGTH = 1024;

/**
 * Checks a run's input: required parameters, naming rules, CIDR syntax and overlap, tags policy, whether the
 * the onboarding checks against the registry. Collects every problem before failing, so that one answer lists all bad fields.
 */
export async function validateInput(
  req: ValidateRequest,
  settings: ValidatorSettings,
  registry: EnvironmentReader,
): Promise<ValidateResult> {
  const problems: FieldProblem[] = [];
  const bad = (field: string, problem: string) => problems.push({ field, problem });
  const wf = req.workflow;
  const declared = [...wf.inputs.required, ...wf.inputs.optional];

  if (typeof req.input !== 'object' || req.input === null || Array.isArray(req.input)) {
    throw new InvalidInputError([
      {
        field: '(input)',
        problem: `must be a JSON object of key/value pairs like {"tenant":"acme"}; got ${describe(req.input)}`,
      },
    ]);
  }
  const raw = req.input as Record<string, unknown>;
  const byName = takesStackName(wf.inputs.required, req.checks);
  const accepted = [...declared, ...(byName ? [STACK_INPUT.name] : []), ...RESERVED_KEYS];

  // Unknown keys: a typo must not be silently ignored.
  for (const key of Object.keys(raw)) {
    if ((INTERNAL_KEYS as readonly string[]).includes(key))
      bad(key, 'is set by Tropos for the runs a run starts, never by input; leave it out');
    else if (key === STACK_INPUT.name && !byName && declared.includes('tenant'))
      bad(
        key,
        `${wf.name} takes a new environment's tenant, account and environment, not a stack of the repository; allowed: ${accepted.join(', ')}`,
      );
    else if (!accepted.includes(key) && !SFN_KEYS.has(key)) {
      bad(key, `is not an input of ${wf.name}; allowed: ${accepted.join(', ')}`);
    }
  }

  // Parameter values: strings (numbers and booleans are accepted and turned into strings).
  const values: Record<string, string | null> = {};
  for (const name of declared) {
    const v = raw[name];
    if (v === undefined || v === null || v === '') {
      values[name] = null;
      continue;
    }
    if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') {
      bad(name, `must be a string; got ${describe(v)}`);
      values[name] = null;
      continue;
    }
    const s = String(v).trim();
    if (s.length > MAX_VALUE_LENGTH) {
      bad(name, `is ${s.length} characters long; at most ${MAX_VALUE_LENGTH} are allowed`);
      values[name] = null;
      continue;
    }
    values[name] = s;
  }
  // `stack=`: the coordinates of the stack the repository names so, from the registry.
  const askedStack = byName ? await coordinatesOfStack(raw[STACK_INPUT.name], values, registry, bad) : '';
  for (const [name, d] of Object.entries(wf.inputs.defaults)) {
    if (values[name] === null) values[name] = 'ref' in d ? (values[d.ref] ?? null) : d.value;
  }
  for (const name of wf.inputs.required) {
    const coordinate = byName && (STACK_INPUT.coordinates as readonly string[]).includes(name);
    if (coordinate && problems.some((p) => p.field === STACK_INPUT.name)) continue;
    if (values[name] === null && !problems.some((p) => p.field === name)) {
      bad(
        name,
        `is required: ${describeRule(name)}${coordinate ? ` (or ${STACK_INPUT.name}=<the stack's name in the repository>)` : ''}`,
      );
    }
  }
  for (const [condition, names] of Object.entries(wf.inputs.requiredWhen)) {
    const [param, expected] = condition.split('=');
    if (param !== undefined && values[param] === expected) {
      for (const n of names)
        if (values[n] === null) bad(n, `is required when ${param}=${expected}: ${describeRule(n)}`);
    }
  }
  for (const [name, value] of Object.entries(values)) {
    if (value === null || !isParameterName(name)) continue;
    const rule: ParameterRule = PARAMETERS[name];
    if (rule.values && !rule.values.includes(value))
      bad(name, `"${value}" is not allowed; allowed: ${rule.values.join(', ')}`);
    else if (rule.pattern && !rule.pattern.test(value)) bad(name, `"${value}" is not allowed: ${rule.allowed}`);
  }

  // Values that depend on the configuration.
  // Only the configured branch is ever applied: another ref (a pull request's branch) can be planned, never applied.
  if (
    wf.mutating &&
    values.ref &&
    values.ref !== settings.infrastructureRef &&
    !problems.some((p) => p.field === 'ref')
  )
    bad(
      'ref',
      `"${values.ref}": ${wf.name} changes infrastructure, and only infrastructure.ref ("${settings.infrastructureRef}") is ever applied; allowed: ${settings.infrastructureRef} (or leave ref out). Plan another ref with plan-environment ref=${values.ref}`,
    );
  const account = values.account ? settings.accounts[values.account] : undefined;
  if (values.account && !account && !problems.some((p) => p.field === 'account')) {
    bad(
      'account',
      `"${values.account}" is not a configured account; allowed: ${Object.keys(settings.accounts).join(', ')}`,
    );
  }
  if (values.tier && !settings.tiers[values.tier]) {
    bad('tier', `"${values.tier}" is not a configured tier; allowed: ${Object.keys(settings.tiers).join(', ')}`);
  } else if (values.tier && account) {
    const problem = tierProblem(settings, values.account!, values.tier);
    if (problem) bad('tier', problem);
  }
  if (values.region && !settings.regions.includes(values.region) && !problems.some((p) => p.field === 'region'))
    bad('region', `"${values.region}" is not a configured region; allowed: ${settings.regions.join(', ')}`);
  let cidr = undefined as ReturnType<typeof parseCidr> | undefined;
  if (values.vpc_cidr) {
    cidr = parseCidr(values.vpc_cidr);
    if (!cidr.ok) bad('vpc_cidr', `${cidr.reason}; ${PARAMETERS.vpc_cidr.allowed}`);
    else if (cidr.cidr.prefix < 16 || cidr.cidr.prefix > 24)
      bad('vpc_cidr', `/${cidr.cidr.prefix} is not allowed: the VPC prefix must be /16 to /24 (AWS VPC limits)`);
    else {
      const reserved = vpcCidrProblem(cidr.cidr);
      if (reserved) bad('vpc_cidr', reserved);
    }
  }
  const tags = values.tags ? parseTags(values.tags) : {};
  if (req.checks.includes('tags-policy')) {
    for (const key of settings.tagsPolicy.required) {
      if (!tags[key])
        bad(
          'tags',
          `the tags policy requires a "${key}" tag (tags=${settings.tagsPolicy.required.map((k) => `${k}=…`).join(',')})`,
        );
    }
    for (const [key, allowed] of Object.entries(settings.tagsPolicy.allowedValues)) {
      const v = tags[key];
      if (v !== undefined && !allowed.includes(v))
        bad('tags', `tag ${key}="${v}" is not allowed; allowed: ${allowed.join(', ')}`);
    }
  }

  // Reserved keys.
  const fromStepIndex = fromStepOf(raw.fromStep, wf, bad);
  const dryRun = raw.dryRun ?? false;
  if (typeof dryRun !== 'boolean' && dryRun !== 'true' && dryRun !== 'false')
    bad('dryRun', `must be true or false; got ${describe(dryRun)}`);
  const requestedBy = raw.requestedBy;
  if (
    requestedBy !== undefined &&
    requestedBy !== null &&
    (typeof requestedBy !== 'string' || !REQUESTED_BY.test(requestedBy))
  )
    bad(
      'requestedBy',
      'must be printable text of at most 256 characters (a name or an e-mail address; no control characters)',
    );
  const ticketId = raw.ticketId;
  if (ticketId !== undefined && ticketId !== null && (typeof ticketId !== 'string' || !TICKET_ID.test(ticketId)))
    bad('ticketId', 'must be 1-128 letters, digits and . _ : # / -, starting with a letter or digit (like CHG0012345)');
  if (raw.callbackUrl !== undefined && raw.callbackUrl !== null) {
    const problem = callbackUrlProblem(raw.callbackUrl, { allowLoopback: process.env.TROPOS_LOCAL === 'true' });
    if (problem) bad('callbackUrl', problem);
    // A signed callback vouches for the ticket: only for a caller the API authenticated (and bound the ticket to).
    else if (req.origin && req.origin.kind !== 'api')
      bad(
        'callbackUrl',
        'only runs started through the API (POST /runs, POST /environments) may have a callback: the API authenticates the caller and binds the ticket to it; this run was started directly',
      );
  }

  // Checks against the registry, only when the fields they need are valid.
  const coordinatesOk =
    !!values.tenant &&
    !!values.account &&
    !!values.environment &&
    !problems.some((p) => ['tenant', 'account', 'environment'].includes(p.field));
  const stack = coordinatesOk
    ? stackName({ tenant: values.tenant!, account: values.account!, environment: values.environment! })
    : '';
  let registered: Environment | undefined;
  if (coordinatesOk) {
    registered = await registry.get(stack);
    if (registered?.status === 'destroyed') registered = undefined;
    // Registered for this very run (the API registers an onboarding before it starts the run) is not in the way;
    // nor is a failed onboarding: the stack can be onboarded again.
    const holder =
      registered &&
      HOLDING_STATUSES.includes(registered.status) &&
      !(registered.status === 'onboarding' && registered.runId === req.runId);
    if (req.checks.includes('stack-not-registered') && registered && holder) {
      bad(
        'environment',
        `stack ${stack} is already registered (status ${registered.status}); choose another environment name`,
      );
    }
  }
  if (req.checks.includes('cidr-free') && values.tenant && cidr?.ok && !problems.some((p) => p.field === 'vpc_cidr')) {
    for (const env of await registry.listByTenant(values.tenant)) {
      if (env.stack === stack || !HOLDING_STATUSES.includes(env.status) || !env.vpcCidr) continue;
      const theirs = parseCidr(env.vpcCidr);
      if (theirs.ok && overlaps(cidr.cidr, theirs.cidr)) {
        bad(
          'vpc_cidr',
          `${values.vpc_cidr} overlaps ${env.vpcCidr} of ${env.stack}; choose a block that overlaps no registered environment`,
        );
      }
    }
  }

  // The subset asked for: names of the repository's components, or the catalog's sets (expanded). Whether the stack
  // has them is known once the run resolves it from the repository.
  const asked = values.components
    ? [...new Set(values.components.split(',').flatMap((c) => settings.sets[c] ?? [c]))]
    : undefined;

  if (problems.length > 0) throw new InvalidInputError(problems);

  // The tier is the account's, from the configuration: a registration (or an onboarding) may only make it stricter.
  const tier = account ? effectiveTier(settings, values.account!, values.tier ?? registered?.tier) : '';
  const region = values.region ?? registered?.region ?? account?.region ?? settings.region;
  const names = {
    tenant: values.tenant ?? '',
    account: values.account ?? '',
    environment: values.environment ?? '',
    region,
    awsAccountId: settings.awsAccountId ?? '',
  };
  const input: Record<string, unknown> = { ...values, ...(askedStack ? { [STACK_INPUT.name]: askedStack } : {}) };
  input.dryRun = dryRunAsked(dryRun);
  for (const key of ['fromStep', 'requestedBy', 'ticketId', 'callbackUrl'] as const)
    input[key] = typeof raw[key] === 'string' ? raw[key] : null;
  const origin = req.origin ?? { kind: 'console' };

  return {
    input,
    context: {
      runId: req.runId,
      workflow: wf.name,
      stack,
      tenant: names.tenant,
      account: names.account,
      environment: names.environment,
      region,
      tier,
      accountId: account?.id ?? '',
      approvalPolicy: settings.tiers[tier]?.approval ?? 'always',
      components: asked ?? [...settings.defaultComponents],
      asked: asked ? asked.join(',') : null,
      component: values.component ?? null,
      stateBucket: names.tenant ? fillPattern(settings.stateBackend.bucket, names) : '',
      lockTable: names.tenant ? fillPattern(settings.stateBackend.lockTable, names) : '',
      dryRun: input.dryRun as boolean,
      fromStepIndex,
      mutating: wf.mutating,
      wholeStack: !values.components,
      lockOwner: origin.lockOwner ?? req.runId,
      origin: origin.kind,
      principal: origin.principal ?? '',
      parentRunId: origin.parentRunId ?? '',
      // A child's: its parent's commit, which its Resolve stack checks out ('' for a run of its own: the ref's tip).
      commit: origin.commit ?? '',
      askedStack,
    },
    results: {},
  };
}

/**
 * `stack=<name>`: fills tenant, account and environment from the registry's record of the stack the repository
 * names so (or of Tropos's own name). Coordinates given beside it must be the stack's. Returns the name ('' when
 * not asked, or refused).
 */
async function coordinatesOfStack(
  value: unknown,
  values: Record<string, string | null>,
  registry: EnvironmentReader,
  bad: (field: string, problem: string) => void,
): Promise<string> {
  if (value === undefined || value === null || value === '') return '';
  const name = typeof value === 'string' ? value.trim() : '';
  if (!STACK_INPUT.pattern.test(name)) {
    bad(STACK_INPUT.name, `${JSON.stringify(value)} is not allowed: ${STACK_INPUT.allowed}`);
    return '';
  }
  const env = await registry.byName(name);
  if (!env || env.status === 'destroyed') {
    bad(
      STACK_INPUT.name,
      `"${name}" is not a stack Tropos has read from the repository: a stack is known by its name once a drift sweep or a run of any stack of the repository has read it (tropos drift-sweep; tropos envs lists them); or ask by tenant, account and environment`,
    );
    return '';
  }
  let ok = true;
  for (const c of STACK_INPUT.coordinates) {
    const given = values[c];
    if (given !== null && given !== undefined && given !== env[c]) {
      bad(
        c,
        `"${given}" is not the ${c} of stack ${name} ("${env[c]}"); give ${STACK_INPUT.name} or the ${c}, or both alike`,
      );
      ok = false;
    }
    values[c] = env[c];
  }
  return ok ? name : '';
}

/**
 * The index of the step `fromStep` names; refused when it is not a step, or when it would skip a step that a
 * later one requires (an apply without its approved plan, a deregistration without its destroy).
 */
function fromStepOf(value: unknown, wf: WorkflowSpec, bad: (field: string, problem: string) => void): number {
  if (value === undefined || value === null || value === '') return 0;
  const names = wf.steps.map((s) => s.name);
  const index = typeof value === 'string' ? names.indexOf(value) : -1;
  if (index < 0) {
    bad('fromStep', `${JSON.stringify(value)} is not a step of ${wf.name}; allowed: ${names.join(', ')}`);
    return 0;
  }
  const skipped = (from: number) => (step: { requires: readonly string[] }) =>
    step.requires.filter((r) => names.indexOf(r) < from);
  const needs = (from: number) => wf.steps.slice(from).flatMap(skipped(from));
  const missing = [...new Set(needs(index))];
  if (missing.length > 0) {
    const who = wf.steps
      .slice(index)
      .filter((s) => skipped(index)(s).length > 0)
      .map((s) => s.name);
    const allowed = names.filter((_, i) => needs(i).length === 0);
    bad(
      'fromStep',
      `"${value}" would skip ${names.filter((n) => missing.includes(n)).join(', ')}, which ${who.join(', ')} ${who.length === 1 ? 'requires' : 'require'} to have run in the same run; allowed: ${allowed.join(', ')} (to re-run what failed, start the workflow again)`,
    );
  }
  return index;
}

function dryRunAsked(v: unknown): boolean {
  return v === true || v === 'true';
}

/** `Owner=platform,CostCenter=1234` → `{Owner: 'platform', CostCenter: '1234'}`. */
export function parseTags(text: string): Record<string, string> {
  const tags: Record<string, string> = {};
  for (const pair of text.split(',')) {
    const [k, ...v] = pair.split('=');
    if (k) tags[k.trim()] = v.join('=').trim();
  }
  return tags;
}

function describeRule(name: string): string {
  if (!isParameterName(name)) return name;
  const rule: ParameterRule = PARAMETERS[name];
  return `${rule.description}; ${rule.values ? `one of ${rule.values.join(', ')}` : rule.allowed} (e.g. ${name}=${rule.example})`;
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'object' ? 'an object' : `${typeof v} ${JSON.stringify(v)}`;
}

/** Where the first state of a run reads its handover and writes what it resolved (the runs table). */
export interface RunRecorder {
  readonly handovers: Pick<HandoverStore, 'consume' | 'put'>;
  readonly runs: Pick<RunStore, 'recordStart'>;
}

/**
 * The first state of a run: resolves who started it from its handover (never from its input), validates the
 * input, and records on the run what every later reader uses — the validated stack, the tier, who started it —
 * so that nothing re-derives them from the raw input. Who started it is recorded even when the input is refused.
 */
export async function validateRun(
  req: ValidateRequest,
  settings: ValidatorSettings,
  registry: EnvironmentReader,
  recorder: RunRecorder,
): Promise<ValidateResult> {
  if (!req.first) return validateInput(req, settings, registry);
  const startedAt = req.startedAt ? new Date(req.startedAt) : new Date();
  const handover = req.executionArn
    ? await recorder.handovers.consume(req.runId, req.executionArn, startedAt)
    : undefined;
  const origin = originOf(handover, req.workflow.name, req.input);
  const raw = (typeof req.input === 'object' && req.input !== null ? req.input : {}) as Record<string, unknown>;
  const text = (v: unknown, rule: RegExp) => (typeof v === 'string' && rule.test(v) ? v : undefined);
  const started = {
    workflow: req.workflow.name,
    startedAt: req.startedAt,
    origin: origin.kind,
    principal: origin.principal || undefined,
    parentRunId: origin.parentRunId,
    lockOwner: origin.lockOwner,
    retryOf: origin.retryOf,
    startedBy: origin.parentRunId ? `run ${origin.parentRunId}` : (origin.principal ?? 'console'),
    requestedBy: text(raw.requestedBy, REQUESTED_BY),
    ticketId: text(raw.ticketId, TICKET_ID),
  };
  let result: ValidateResult;
  try {
    result = await validateInput({ ...req, origin }, settings, registry);
  } catch (e) {
    await recorder.runs.recordStart(req.runId, started);
    throw e;
  }
  const { context, input } = result;
  await recorder.runs.recordStart(req.runId, {
    ...started,
    stack: context.stack || undefined,
    tier: context.tier || undefined,
    dryRun: context.dryRun,
    callbackUrl: origin.kind === 'api' && typeof input.callbackUrl === 'string' ? input.callbackUrl : undefined,
  });
  return result;
}

/** A parent's handover of a child run it is about to start (`action: handover`). */
export interface HandoverRequest {
  readonly action: 'handover';
  /** The child's execution name. */
  readonly name: string;
  readonly workflow: string;
  readonly parentRunId: string;
  /** The parent's principal ('' when it has none). */
  readonly principal: string;
  /** The parent's lock owner, for a child on the parent's stack. */
  readonly lockOwner?: string;
  /** The commit the parent resolved its stack at: every build of the child works on it too. */
  readonly commit?: string;
  /** Else the commit a run of the ledger worked on (promote: its first stage's), or that a step of it pushed. */
  readonly commitFromRun?: string;
  readonly commitFromStep?: string;
  readonly input: Record<string, unknown>;
}

/** Writes the child's handover; answers with the input to start it with (the very one handed over). */
export async function handOver(
  req: HandoverRequest,
  recorder: Pick<RunRecorder, 'handovers'> & { runs?: Pick<RunStore, 'getRun' | 'component'> },
  now = new Date(),
): Promise<{ input: Record<string, unknown> }> {
  let commit = req.commit;
  if (!commit && req.commitFromRun && recorder.runs)
    commit = req.commitFromStep
      ? (await recorder.runs.component(req.commitFromRun, req.commitFromStep, 'repository'))?.commit
      : (await recorder.runs.getRun(req.commitFromRun))?.commit;
  await recorder.handovers.put({
    runId: req.name,
    workflow: req.workflow,
    input: req.input,
    origin: 'parent',
    principal: req.principal || undefined,
    parentRunId: req.parentRunId,
    lockOwner: req.lockOwner || undefined,
    // A full SHA only: a local run on a folder that is not a git repository has the commit `working-tree`.
    commit: commit && /^[0-9a-f]{40}$/.test(commit) ? commit : undefined,
    createdAt: now.toISOString(),
  });
  return { input: req.input };
}

/** The input a validated run is started with: its normalised values, without the absent ones. */
export function executionInput(result: ValidateResult): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(result.input).filter(([, v]) => v !== null && v !== undefined && v !== false),
  );
}
