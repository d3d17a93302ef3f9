import { z } from 'zod';
import { PARAMETER_NAMES } from '../domain/inputs';

/** Kebab-case ids for workflows, steps and branches: they become state names and record keys. */
const ID = z.string().regex(/^[a-z][a-z0-9-]{0,38}[a-z0-9]$/, 'kebab-case, 2-40 characters, like "apply-network"');

/** Terraform commands; each runs in its own CodeBuild project (least privilege: plan-kind vs apply-kind). */
export const TERRAFORM_COMMANDS = [
  'plan',
  'plan-destroy',
  'apply',
  'destroy',
  'drift',
  'validate',
  'lint',
  'compliance',
  'import',
  'state-inspect',
  'state-repair',
  'generate-config',
] as const;
export type TerraformCommand = (typeof TERRAFORM_COMMANDS)[number];

/** Checks a `validate` step can run, besides the input rules it always applies. */
/**
 * `stack-not-registered`: an onboarding's stack is not registered yet. (Whether a stack exists is the repository's
 * to say: every run that works on components resolves its stack from it, and fails when it is not defined there.)
 */
export const CHECKS = ['stack-not-registered', 'cidr-free', 'tags-policy'] as const;
export type Check = (typeof CHECKS)[number];

export const REGISTRY_ACTIONS = ['register', 'activate', 'record-drift', 'mark-destroyed'] as const;

const parameterName = z.enum(PARAMETER_NAMES as [string, ...string[]], {
  error: (issue) => `unknown parameter ${JSON.stringify(issue.input)}; allowed: ${PARAMETER_NAMES.join(', ')}`,
});

const When = z.strictObject({
  /** Runs only for these tiers. */
  tier: z.array(z.string()).min(1).optional(),
  /** Runs only when each named input parameter has one of the given values. */
  params: z.record(z.string(), z.array(z.string()).min(1)).optional(),
  /** Runs only when the named plan step found changes. */
  changes: ID.optional(),
  /** Runs only when the named plan step found something to destroy. */
  destroys: ID.optional(),
  /** Runs only when the run covers every component of the stack (no `components` subset was asked for). */
  wholeStack: z.literal(true).optional(),
});
export type When = z.infer<typeof When>;

const base = {
  name: ID,
  /** State-name title, e.g. "Plan" → "Plan vpc". Defaults to the name, capitalised. */
  title: z.string().min(1).max(40).optional(),
  description: z.string().optional(),
  when: When.optional(),
  /**
   * Earlier top-level steps whose outcome in this same run this step relies on (an apply relies on its plan and
   * its approval). `fromStep` may not skip them, and the step fails with RequirementNotMet if they did not run.
   */
  requires: z.array(ID).default([]),
};

const ValidateStep = z.strictObject({
  ...base,
  kind: z.literal('validate'),
  checks: z.array(z.enum(CHECKS)).default([]),
});

const TerraformStep = z.strictObject({
  ...base,
  kind: z.literal('terraform'),
  command: z.enum(TERRAFORM_COMMANDS),
  /**
   * A component set name from the catalog (`environment`), a list of components, `${component}` for the one
   * component named in the input, or absent for one repository-wide run (lint).
   */
  components: z.union([z.string(), z.array(z.string()).min(1)]).optional(),
  /** For apply / destroy: the plan step whose saved plan is applied. */
  plan: ID.optional(),
});

const ApprovalStep = z
  .strictObject({
    ...base,
    kind: z.literal('approval'),
    /** The plan step whose changes the tier's policy weighs (and the approver reviews). */
    plan: ID.optional(),
    /**
     * Without a plan (a state repair, an import): how the tier's policy counts what the step guards — a `change`
     * (asked by on-change and always) or a `destroy` (asked by on-destroy too). The approver sees the run's
     * parameters.
     */
    counts: z.enum(['change', 'destroy']).optional(),
  })
  .refine((s) => (s.plan === undefined) !== (s.counts === undefined), {
    message:
      'an approval step names either the plan it weighs (plan) or how its policy counts it (counts: change | destroy)',
  });

const WorkflowStep = z.strictObject({
  ...base,
  kind: z.literal('workflow'),
  workflow: ID,
  /** Input for the child: literals, or `${param}` to pass one of this run's parameters. */
  input: z.record(z.string(), z.string()).default({}),
});

const StateBackendStep = z.strictObject({ ...base, kind: z.literal('state-backend') });

const RegistryStep = z.strictObject({
  ...base,
  kind: z.literal('registry'),
  action: z.enum(REGISTRY_ACTIONS),
  of: ID.optional(),
});

export type ValidateStep = z.infer<typeof ValidateStep>;
export type TerraformStep = z.infer<typeof TerraformStep>;
export type ApprovalStep = z.infer<typeof ApprovalStep>;
export type WorkflowStep = z.infer<typeof WorkflowStep>;
export type StateBackendStep = z.infer<typeof StateBackendStep>;
export type RegistryStep = z.infer<typeof RegistryStep>;
export interface ParallelStep {
  readonly name: string;
  readonly title?: string | undefined;
  readonly description?: string | undefined;
  readonly when?: When | undefined;
  readonly requires: string[];
  readonly kind: 'parallel';
  readonly branches: Record<string, Step[]>;
}
export type Step =
  ValidateStep | TerraformStep | ApprovalStep | WorkflowStep | StateBackendStep | RegistryStep | ParallelStep;

export const STEP_KINDS = [
  'validate',
  'terraform',
  'approval',
  'workflow',
  'parallel',
  'state-backend',
  'registry',
] as const;

const ParallelStep: z.ZodType<ParallelStep> = z.lazy(() =>
  z.strictObject({ ...base, kind: z.literal('parallel'), branches: z.record(ID, z.array(StepSchema).min(1)) }),
);

export const StepSchema: z.ZodType<Step> = z.discriminatedUnion(
  'kind',
  [ValidateStep, TerraformStep, ApprovalStep, WorkflowStep, StateBackendStep, RegistryStep, ParallelStep as never],
  {
    error: (issue) =>
      issue.code === 'invalid_union' ? `unknown step kind; allowed: ${STEP_KINDS.join(', ')}` : undefined,
  },
);

export const WorkflowSchema = z.strictObject({
  name: ID,
  description: z.string().min(1),
  /**
   * Mutating workflows take the stack lock and change infrastructure: `true`, or `{ params: {...} }` for a workflow
   * whose runs change it only with those parameters (state-operations: unlock and restore; list does not).
   */
  mutating: z
    .union([z.boolean(), z.strictObject({ params: z.record(z.string(), z.array(z.string()).min(1)) })])
    .default(false),
  inputs: z
    .strictObject({
      required: z.array(parameterName).default([]),
      optional: z.array(parameterName).default([]),
      /** Values filled in when an optional parameter is absent: a literal or `${param}`. */
      defaults: z.record(z.string(), z.string()).default({}),
      /** Parameters required only when another has a given value: `operation=unlock: [lock_id]`. */
      requiredWhen: z.record(z.string().regex(/^\w+=[\w-]+$/, 'param=value'), z.array(parameterName)).default({}),
    })
    .prefault({}),
  /** An example console input, shown by `tropos describe` and the README (default: each required input's example). */
  example: z.record(z.string(), z.union([z.string(), z.boolean()])).optional(),
  steps: z.array(StepSchema).min(1),
});
export type WorkflowFile = z.infer<typeof WorkflowSchema>;
