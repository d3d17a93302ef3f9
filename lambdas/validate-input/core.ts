import { callbackUrlProblem } from '../../lib/domain/callback';
import { parseCidr, overlaps } from '../../lib/domain/cidr';
import { FieldProblem, InvalidInputError } from '../../lib/domain/errors';
import { isParameterName, PARAMETERS, ParameterRule, RESERVED_KEYS } from '../../lib/domain/inputs';
import { fillPattern, stackName } from '../../lib/domain/naming';
import { HOLDING_STATUSES, type Environment, type EnvironmentReader } from '../../lib/records/environment';
import type { Check } from '../../lib/workflow/schema';
import type { WorkflowSpec } from '../../lib/workflow/spec';

export type { WorkflowSpec };

/** What the validator needs of the configuration (handed to the function as JSON at deploy time). */
export interface ValidatorSettings {
  readonly region: string;
  readonly accounts: Readonly<Record<string, { id: string; tier: string; region?: string | undefined }>>;
  readonly tiers: Readonly<Record<string, { approval: string }>>;
  readonly stateBackend: { bucket: string; lockTable: string };
  readonly tagsPolicy: { required: readonly string[]; allowedValues: Readonly<Record<string, readonly string[]>> };
  /** Every component of the catalog, and the default components of a stack. */
  readonly components: readonly string[];
  readonly defaultComponents: readonly string[];
}

export interface ValidateRequest {
  readonly workflow: WorkflowSpec;
  readonly checks: readonly Check[];
  readonly input: unknown;
  readonly runId: string;
  readonly startedAt?: string;
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
  readonly components: string[];
  readonly stateBucket: string;
  readonly lockTable: string;
  readonly dryRun: boolean;
  readonly fromStepIndex: number;
  readonly mutating: boolean;
  /** The run whose stack lock this run works under: itself, or the run that started it. */
  readonly lockOwner: string;
}

export interface ValidateResult {
  readonly input: Record<string, unknown>;
  readonly context: RunContext;
  readonly results: Record<string, never>;
}

/** Keys Step Functions adds to a nested execution's input. */
const SFN_KEYS = new Set(['AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID']);
const MAX_VALUE_LENGTH = 1024;

/**
 * Checks a run's input: required parameters, naming rules, CIDR syntax and overlap, tags policy, whether the
 * stack is registered. Collects every problem before failing, so that one answer lists all bad fields.
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

  // Unknown keys: a typo must not be silently ignored.
  for (const key of Object.keys(raw)) {
    if (!declared.includes(key) && !(RESERVED_KEYS as readonly string[]).includes(key) && !SFN_KEYS.has(key)) {
      bad(key, `is not an input of ${wf.name}; allowed: ${[...declared, ...RESERVED_KEYS].join(', ')}`);
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
  for (const [name, d] of Object.entries(wf.inputs.defaults)) {
    if (values[name] === null) values[name] = 'ref' in d ? (values[d.ref] ?? null) : d.value;
  }
  for (const name of wf.inputs.required) {
    if (values[name] === null && !problems.some((p) => p.field === name)) {
      bad(name, `is required: ${describeRule(name)}`);
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
  const account = values.account ? settings.accounts[values.account] : undefined;
  if (values.account && !account && !problems.some((p) => p.field === 'account')) {
    bad(
      'account',
      `"${values.account}" is not a configured account; allowed: ${Object.keys(settings.accounts).join(', ')}`,
    );
  }
  if (values.tier && !settings.tiers[values.tier]) {
    bad('tier', `"${values.tier}" is not a configured tier; allowed: ${Object.keys(settings.tiers).join(', ')}`);
  }
  let cidr = undefined as ReturnType<typeof parseCidr> | undefined;
  if (values.vpc_cidr) {
    cidr = parseCidr(values.vpc_cidr);
    if (!cidr.ok) bad('vpc_cidr', `${cidr.reason}; ${PARAMETERS.vpc_cidr.allowed}`);
    else if (cidr.cidr.prefix < 16 || cidr.cidr.prefix > 24)
      bad('vpc_cidr', `/${cidr.cidr.prefix} is not allowed: the VPC prefix must be /16 to /24 (AWS VPC limits)`);
  }
  if (
    values.component &&
    !settings.components.includes(values.component) &&
    !problems.some((p) => p.field === 'component')
  ) {
    bad('component', `"${values.component}" is not a catalog component; allowed: ${settings.components.join(', ')}`);
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
  const fromStep = raw.fromStep;
  let fromStepIndex = 0;
  if (fromStep !== undefined && fromStep !== null && fromStep !== '') {
    const index = wf.steps.findIndex((s) => s.name === fromStep);
    if (typeof fromStep !== 'string' || index < 0) {
      bad(
        'fromStep',
        `${JSON.stringify(fromStep)} is not a step of ${wf.name}; allowed: ${wf.steps.map((s) => s.name).join(', ')}`,
      );
    } else {
      fromStepIndex = index;
    }
  }
  const dryRun = raw.dryRun ?? false;
  if (typeof dryRun !== 'boolean' && dryRun !== 'true' && dryRun !== 'false')
    bad('dryRun', `must be true or false; got ${describe(dryRun)}`);
  for (const key of ['requestedBy', 'ticketId', 'parentRunId', 'lockOwner'] as const) {
    const v = raw[key];
    if (v !== undefined && v !== null && (typeof v !== 'string' || v.length > 256))
      bad(key, 'must be a string of at most 256 characters');
  }
  if (raw.callbackUrl !== undefined && raw.callbackUrl !== null) {
    const problem = callbackUrlProblem(raw.callbackUrl);
    if (problem) bad('callbackUrl', problem);
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
    if (req.checks.includes('stack-registered') && !registered) {
      bad(
        'environment',
        `stack ${stack} is not registered; onboard it first (onboard-environment) or check tenant/account/environment`,
      );
    }
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

  // Components of the stack, and the optional subset asked for.
  const stackComponents = [...(registered?.components ?? settings.defaultComponents)];
  let components = stackComponents;
  if (values.components) {
    const asked = values.components.split(',');
    const unknown = asked.filter((c) => !stackComponents.includes(c));
    if (unknown.length > 0)
      bad(
        'components',
        `${unknown.join(', ')} ${unknown.length === 1 ? 'is' : 'are'} not components of ${stack || 'the stack'}; allowed: ${stackComponents.join(', ')}`,
      );
    components = stackComponents.filter((c) => asked.includes(c));
  }

  if (problems.length > 0) throw new InvalidInputError(problems);

  const tier = values.tier ?? registered?.tier ?? account?.tier ?? '';
  const region = values.region ?? registered?.region ?? account?.region ?? settings.region;
  const names = {
    tenant: values.tenant ?? '',
    account: values.account ?? '',
    environment: values.environment ?? '',
    region,
  };
  const input: Record<string, unknown> = { ...values };
  input.dryRun = dryRun === true || dryRun === 'true';
  for (const key of ['fromStep', 'requestedBy', 'ticketId', 'callbackUrl'] as const)
    input[key] = typeof raw[key] === 'string' ? raw[key] : null;
  input.parentRunId = typeof raw.parentRunId === 'string' ? raw.parentRunId : null;
  input.lockOwner = typeof raw.lockOwner === 'string' ? raw.lockOwner : null;

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
      components,
      stateBucket: names.tenant ? fillPattern(settings.stateBackend.bucket, names) : '',
      lockTable: names.tenant ? fillPattern(settings.stateBackend.lockTable, names) : '',
      dryRun: input.dryRun as boolean,
      fromStepIndex,
      mutating: wf.mutating,
      lockOwner: typeof raw.lockOwner === 'string' ? raw.lockOwner : req.runId,
    },
    results: {},
  };
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
