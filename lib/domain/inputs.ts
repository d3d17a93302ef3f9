/**
 * The input parameters a workflow may declare, with the rule each value must follow. Workflow files name
 * parameters from this list; the validator checks values against it; `tropos describe` and the README show it.
 */

export interface ParameterRule {
  readonly description: string;
  /** A value must match this (whole string). */
  readonly pattern?: RegExp;
  /** Words for the message when `pattern` does not match: what is allowed. */
  readonly allowed: string;
  /** Only these values are allowed. */
  readonly values?: readonly string[];
  readonly example: string;
}

const NAME = /^[a-z][a-z0-9-]*[a-z0-9]$/;
/** A component of the repository (Atmos component instances may have slashes: `eks/cluster`). */
const COMPONENT = /^[A-Za-z0-9][A-Za-z0-9_./-]{0,127}$/;
const COMPONENTS = /^[A-Za-z0-9][A-Za-z0-9_./-]{0,127}(,[A-Za-z0-9][A-Za-z0-9_./-]{0,127})*$/;

export const PARAMETERS = {
  tenant: {
    description: 'Tenant (organisation) the stack belongs to',
    pattern: /^[a-z][a-z0-9]{1,15}$/,
    allowed: '2-16 lowercase letters and digits, starting with a letter',
    example: 'acme',
  },
  account: {
    description: 'Account name, one of the accounts in tropos.config.yaml',
    pattern: NAME,
    allowed: 'a configured account name',
    example: 'dev',
  },
  environment: {
    description: 'Environment within the account',
    pattern: /^[a-z][a-z0-9-]{0,30}[a-z0-9]$/,
    allowed: '2-32 lowercase letters, digits and hyphens, starting with a letter, not ending with a hyphen',
    example: 'testenv-01',
  },
  region: {
    description: 'AWS region of the environment',
    pattern: /^[a-z]{2}(-gov)?-[a-z]+-\d$/,
    allowed: 'an AWS region name like us-east-1',
    example: 'us-west-2',
  },
  vpc_cidr: {
    description: 'IPv4 CIDR block of the environment VPC, /16 to /24, not overlapping any registered environment',
    allowed: 'an IPv4 network address with a /16 to /24 prefix, like 10.2.0.0/16',
    example: '10.2.0.0/16',
  },
  tier: {
    description: 'Tier of the environment (defaults to the tier of its account)',
    allowed: 'a configured tier',
    example: 'dev',
  },
  component: {
    description: 'One component of the stack (as the infrastructure repository defines it)',
    pattern: COMPONENT,
    allowed: 'a component of the stack in the repository (letters, digits, _ . / -)',
    example: 'vpc',
  },
  components: {
    description: 'Comma-separated subset of the stack components to run, exactly those (default: all of them)',
    pattern: COMPONENTS,
    allowed: "comma-separated components of the stack in the repository, or a set of the catalog's",
    example: 'vpc,eks',
  },
  resource_type: {
    description: 'Terraform resource type to import',
    pattern: /^[a-z][a-z0-9_]*$/,
    allowed: 'a terraform resource type like aws_vpc',
    example: 'aws_vpc',
  },
  resource_address: {
    description: 'Terraform address to import into (default: <resource_type>.this)',
    // Not starting with "-": terraform would read it as an option.
    pattern: /^[A-Za-z][A-Za-z0-9_.[\]"-]*$/,
    allowed: 'a terraform resource address like module.vpc.aws_vpc.this (starting with a letter)',
    example: 'aws_vpc.this',
  },
  resource_id: {
    description: 'Provider id of the existing resource to import',
    pattern: /^[A-Za-z0-9_./:@=,+-]{1,512}$/,
    allowed: 'a provider resource id like vpc-12345 (no spaces or shell characters)',
    example: 'vpc-12345',
  },
  operation: {
    description: 'State operation to run',
    allowed: 'one of the listed operations',
    values: ['list', 'lock-status', 'unlock', 'versions', 'restore'],
    example: 'lock-status',
  },
  lock_id: {
    description: 'Terraform state lock id to force-unlock (operation=unlock)',
    pattern: /^[A-Za-z0-9][A-Za-z0-9-]{0,63}$/,
    allowed:
      'the lock id shown by operation=lock-status (letters, digits and hyphens, starting with a letter or digit)',
    example: '2f1c0b0e-4c1d-4a2e-9f1a-7d3b2c1a0e9f',
  },
  version_id: {
    description: 'S3 object version of the state file to restore (operation=restore)',
    pattern: /^[A-Za-z0-9._-]{1,1024}$/,
    allowed: 'an S3 version id listed by operation=versions',
    example: '3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY',
  },
  tags: {
    description: 'Tags for the environment, as key=value pairs separated by commas',
    pattern: /^[A-Za-z0-9_.:/-]+=[^,=]*(,[A-Za-z0-9_.:/-]+=[^,=]*)*$/,
    allowed: 'comma-separated key=value pairs like Owner=platform,CostCenter=1234',
    example: 'Owner=platform,CostCenter=1234',
  },
  ref: {
    description:
      'Git ref of the infrastructure repository to run at: a branch, a tag or a full 40-character commit SHA (default: infrastructure.ref); resolved to one commit when the run starts, which every build of the run works on',
    // Git's own rules, narrowed: no leading '-' (an option to git), no '..', '//', '@{' or trailing '.lock' / '/'.
    pattern: /^(?!-)(?!.*\.\.)(?!.*\/\/)(?!.*@\{)(?!.*\.lock$)(?!.*\/$)[A-Za-z0-9._/@-]{1,200}$/,
    allowed:
      "a branch, tag or full commit SHA of the repository (letters, digits, . _ / @ -; not starting with '-', no '..')",
    example: 'feature/sqs',
  },
  source_environment: {
    description: 'Environment in the dev account to promote from (default: environment)',
    pattern: /^[a-z][a-z0-9-]{0,30}[a-z0-9]$/,
    allowed: '2-32 lowercase letters, digits and hyphens',
    example: 'testenv-01',
  },
} as const satisfies Record<string, ParameterRule>;

export type ParameterName = keyof typeof PARAMETERS;

export const PARAMETER_NAMES = Object.keys(PARAMETERS) as ParameterName[];

export function isParameterName(name: string): name is ParameterName {
  return Object.hasOwn(PARAMETERS, name);
}

/**
 * Reserved keys any run input may carry, besides the workflow's own parameters.
 * `callbackUrl` is where the run's outcome is POSTed, signed, when it ends (a ticketing system's hook).
 */
export const RESERVED_KEYS = ['fromStep', 'dryRun', 'requestedBy', 'ticketId', 'callbackUrl'] as const;
export type ReservedKey = (typeof RESERVED_KEYS)[number];

/**
 * Keys that decide who a run is and whose lock it works under. Tropos sets them itself, from the handover its
 * starter left (lib/records/handover.ts); an input that carries one is refused, whichever door it came through.
 */
export const INTERNAL_KEYS = ['parentRunId', 'lockOwner'] as const;

/**
 * `stack=`: a stack asked for by its name in the repository (Atmos's own naming, like `eg-acme-main-prd`), instead
 * of `tenant`, `account` and `environment`. Any workflow that takes those three takes it, except onboarding (a new
 * environment is not in the repository yet). The name is looked up in the registry, where every stack a run or a
 * drift sweep read from the repository is recorded; the run's resolve then checks the repository still names it so.
 */
export const STACK_INPUT = {
  name: 'stack',
  coordinates: ['tenant', 'account', 'environment'],
  pattern: /^[A-Za-z0-9][A-Za-z0-9_./-]{0,127}$/,
  description:
    "The stack by the repository's own name, instead of tenant, account and environment (a stack a run or a drift sweep has read from the repository)",
  allowed: 'a stack name of the repository (letters, digits, _ . / -), like eg-acme-main-prd',
} as const;

/**
 * Whether a workflow takes `stack=`: it requires tenant, account and environment of a stack that exists already
 * (not onboarding's `stack-not-registered` check).
 */
export function takesStackName(required: readonly string[], checks: readonly string[]): boolean {
  return STACK_INPUT.coordinates.every((c) => required.includes(c)) && !checks.includes('stack-not-registered');
}

/** A self-declared requester: printable text (no control, format or unassigned characters), 1-256 characters. */
export const REQUESTED_BY = /^[^\p{C}]{1,256}$/u;

/** A ticket id of a ticketing system (ServiceNow, Jira): CHG0012345, OPS-42. */
export const TICKET_ID = /^[A-Za-z0-9][A-Za-z0-9._:#/-]{0,127}$/;
