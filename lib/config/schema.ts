import { CALLBACK_ATTEMPT_SECONDS } from '../domain/callback';
import { PARAMETERS } from '../domain/inputs';
import { z } from 'zod';

/** The approval policy of a tier (seed 004: dev never, staging on destroys, prod always). */
export const APPROVAL_POLICIES = ['always', 'on-destroy', 'on-change', 'never'] as const;
export type ApprovalPolicy = (typeof APPROVAL_POLICIES)[number];

const NAME = /^[a-z][a-z0-9-]*[a-z0-9]$/;
const VERSION = /^\d+\.\d+\.\d+$/;

const tool = z.strictObject({
  version: z.string().regex(VERSION, 'a version like 1.9.8'),
  sha256: z
    .string()
    .regex(/^[0-9a-f]{64}$/, '64 lowercase hex digits: the SHA-256 of the linux_amd64 release archive')
    .optional()
    .describe('the pinned SHA-256 of the linux_amd64 archive; when absent the published SHA256SUMS is trusted'),
});

const account = z.strictObject({
  id: z.string().regex(/^\d{12}$/, 'a 12-digit AWS account id'),
  tier: z.string().regex(NAME, 'a tier name from `tiers`'),
  region: z
    .string()
    .regex(/^[a-z]{2}(-gov)?-[a-z]+-\d$/, 'an AWS region like us-east-1')
    .optional(),
  /**
   * The stage the repository's stacks carry for this account (Atmos's `vars.stage`, the `{stage}` of its stack
   * names), when it is not the account's name: `prd` for `prod`, say. A stack names its account by `vars.account`,
   * else by this stage.
   */
  stage: z
    .string()
    .regex(/^[a-z0-9][a-z0-9_-]{0,39}$/, 'a stage name: lowercase letters, digits, _ and -')
    .optional(),
});

/** Each account's stage in the repository: `accounts.<name>.stage`, else the account's name. */
export function stagesOf(accounts: Record<string, { stage?: string | undefined }>): Record<string, string> {
  return Object.fromEntries(Object.entries(accounts).map(([name, a]) => [name, a.stage ?? name]));
}

/** The longest one callback delivery may take: the run ledger's Lambda (at most 900 s) less a minute for the rest. */
export const MAX_CALLBACK_SECONDS = 840;

/** The worst case of one delivery: every attempt timing out, and every backoff at its longest (jitter ×1.25). */
export function callbackSeconds(c: { attempts: number; backoffSeconds: number }): number {
  return c.attempts * CALLBACK_ATTEMPT_SECONDS + c.backoffSeconds * 1.25 * (2 ** Math.max(0, c.attempts - 1) - 1);
}

/**
 * The ids of the compliance check's built-in rules (buildspecs/scripts/compliance.js, which exports the same list):
 * a finding's `rule`, and ids a user rule may not take.
 */
export const BUILT_IN_COMPLIANCE_RULES = [
  'ebs-encrypted',
  'rds-instance-encrypted',
  'rds-cluster-encrypted',
  's3-public-access-block',
  's3-public-acl',
  'public-ingress',
  'required-tags',
] as const;

/** The operators of a user compliance rule: a rule has exactly one. */
export const COMPLIANCE_OPERATORS = [
  'equals',
  'in',
  'notIn',
  'present',
  'matches',
  'lessThanOrEqual',
  'greaterThanOrEqual',
] as const;

const scalar = z.union([z.string(), z.number(), z.boolean()], 'a string, number or boolean');

/**
 * A rule of the installation's own, checked on each planned resource of its types as the built-in ones are
 * (compliance.js): every value `attribute` reaches in the resource's planned `after` must satisfy the rule's one
 * operator; a value unknown at plan time makes the finding "unknown".
 */
const complianceRule = z
  .strictObject({
    id: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, 'a rule id (letters, digits, _ . -, at most 64), like no-gp2')
      .superRefine((id, ctx) => {
        if ((BUILT_IN_COMPLIANCE_RULES as readonly string[]).includes(id))
          ctx.addIssue({ code: 'custom', message: `"${id}" is a built-in rule's id; give the rule an id of its own` });
      }),
    /** Resource types the rule applies to; `*` matches any characters (`aws_*`). */
    resourceTypes: z
      .array(z.string().regex(/^[a-z0-9_*]+$/, 'a resource type like aws_ebs_volume (* matches any characters)'))
      .min(1, 'list at least one resource type, like [aws_ebs_volume]'),
    /**
     * A dotted path into the planned resource: `type`, `tags.Owner`, `ingress.*.cidr_blocks` (`*`: every element of
     * a list or value of a map; a name applied to a block, a list in the plan, applies to each element).
     */
    attribute: z
      .string()
      .regex(/^[^.]+(\.[^.]+)*$/, 'a dotted path into the planned resource, like ingress.*.cidr_blocks'),
    /** Said before the detail of each finding. */
    message: z.string().min(1).optional(),
    equals: scalar.optional(),
    in: z.array(scalar).min(1, 'list at least one value').optional(),
    notIn: z.array(scalar).min(1, 'list at least one value').optional(),
    /** true: set (not null, "", [] or {}); false: not set. */
    present: z.boolean().optional(),
    /** A JavaScript regular expression, unanchored (use ^ and $). */
    matches: z
      .string()
      .superRefine((source, ctx) => {
        try {
          new RegExp(source);
        } catch (e) {
          ctx.addIssue({
            code: 'custom',
            message: `"${source}" is not a valid regular expression (${(e as Error).message})`,
          });
        }
      })
      .optional(),
    lessThanOrEqual: z.number().optional(),
    greaterThanOrEqual: z.number().optional(),
  })
  .superRefine((rule, ctx) => {
    const given = COMPLIANCE_OPERATORS.filter((o) => rule[o] !== undefined);
    if (given.length !== 1)
      ctx.addIssue({
        code: 'custom',
        message: `give exactly one operator of ${COMPLIANCE_OPERATORS.join(', ')} (${given.length ? `has ${given.join(', ')}` : 'has none'})`,
      });
  });

export const ConfigSchema = z.strictObject({
  /**
   * The installation's name: the prefix of every physical name (state machines `<name>-<workflow>`, CodeBuild
   * projects, log groups, the API), so that a second installation can live in the same account and region.
   */
  name: z
    .string()
    .regex(/^[a-z][a-z0-9-]{0,19}$/, 'a lowercase name of 1-20 letters, digits and hyphens, like tropos or tropos-stg')
    .default('tropos'),
  /** Region where Tropos itself and the state backend live. */
  region: z.string().regex(/^[a-z]{2}(-gov)?-[a-z]+-\d$/, 'an AWS region like us-east-1'),
  /**
   * Other regions environments may be in, besides `region` and the accounts' own (an onboarding naming any other
   * region is refused).
   */
  regions: z.array(z.string().regex(/^[a-z]{2}(-gov)?-[a-z]+-\d$/, 'an AWS region like us-east-1')).default([]),
  /** `atmos` runs `atmos terraform <cmd> <component> -s <stack>`; `terraform` runs in component folders. */
  engine: z.enum(['atmos', 'terraform']),
  tools: z.strictObject({ terraform: tool, atmos: tool.optional() }),
  infrastructure: z.strictObject({
    repositoryUrl: z.string().min(1, 'the git URL of the infrastructure repository'),
    ref: z.string().min(1).default('main'),
    /** Secrets Manager secret holding a token to clone a private repository. */
    tokenSecretName: z.string().min(1).optional(),
    /**
     * The local control plane's copy of the repository (a path; relative paths from the configuration file's
     * folder): what `tropos serve` and the CLI's embedded control plane run in. `--infra-dir` and $TROPOS_INFRA_DIR win.
     */
    localPath: z.string().min(1).optional(),
    /**
     * The namespace (Atmos's `vars.namespace`) of the stacks Tropos runs, when the repository's stacks carry
     * several: only that namespace's stacks are resolved, and onboarding writes it into a new stack.
     */
    namespace: z
      .string()
      .regex(/^[a-z0-9][a-z0-9_-]{0,39}$/, 'a namespace: lowercase letters, digits, _ and -')
      .optional(),
    /**
     * The plain-terraform engine: the tenant of the repository's stacks (its layout, environments/<account>/
     * <environment>, names none). With it, every drift sweep first reads every stack the repository defines, as
     * with Atmos; without it, a stack enters the registry when a run of the repository reads it.
     */
    tenant: z.string().regex(PARAMETERS.tenant.pattern, `a tenant: ${PARAMETERS.tenant.allowed}`).optional(),
  }),
  stateBackend: z
    .strictObject({
      // Bucket names are global: the default carries Tropos's AWS account id ({awsAccountId}).
      bucket: z
        .string()
        .refine(
          (p) =>
            /^[a-z0-9][a-z0-9.-]{1,40}[a-z0-9]$/.test(
              p.replace(/\{(tenant|account|environment|region|awsAccountId)\}/g, 'x'),
            ),
          'a bucket name pattern: lowercase letters, digits, dots and hyphens, with {tenant}, {account}, {environment}, {region}, {awsAccountId}',
        )
        .default('{tenant}-terraform-state-{awsAccountId}'),
      lockTable: z.string().min(3).default('{tenant}-terraform-locks'),
      /** `dynamodb` (the seeds) or `s3-native` (`use_lockfile`, Terraform >= 1.10). */
      locking: z.enum(['dynamodb', 's3-native']).default('dynamodb'),
    })
    .prefault({}),
  accounts: z.record(z.string().regex(NAME, 'a lowercase account name'), account),
  roles: z
    .strictObject({
      /** Read-only role assumed in the target account by plan-kind runs. */
      plan: z.string().regex(/^[\w+=,.@-]{1,64}$/, 'an IAM role name'),
      /** Deploy role assumed in the target account by apply-kind runs. */
      apply: z.string().regex(/^[\w+=,.@-]{1,64}$/, 'an IAM role name'),
      /** Managed policies (AWS-managed names or ARNs) of the plan role the target-account stack creates. */
      planPolicies: z.array(z.string().min(1)).min(1).default(['ReadOnlyAccess']),
      /** Managed policies of the deploy role the target-account stack creates (narrow it to what you deploy). */
      applyPolicies: z.array(z.string().min(1)).min(1).default(['AdministratorAccess']),
    })
    .prefault({ plan: 'tropos-terraform-plan', apply: 'tropos-terraform-deploy' }),
  tiers: z.record(
    z.string().regex(NAME, 'a lowercase tier name'),
    z.strictObject({
      approval: z.enum(APPROVAL_POLICIES),
      /**
       * Who may answer this tier's approvals: IAM principal ARNs, `*` wildcards allowed; a role ARN also matches
       * its sessions. Absent: every caller the approver IAM policy lets call POST /approvals.
       */
      approvers: z
        .array(
          z
            .string()
            .regex(
              /^(arn:aws[\w-]*:(iam|sts)::(\d{12}|\*):[\w+=,.@*/-]+|local:[\w.@*-]+)$/,
              'an IAM principal ARN like arn:aws:iam::111122223333:role/platform-approvers (wildcards *), or local:<user> for the local control plane',
            )
            .refine(
              (p) => !/:role\//.test(p) || /^arn:aws[\w-]*:iam::\d{12}:role\/[\w+=,.@-]+$/.test(p),
              'a role ARN names one role, without a path or a wildcard (a role session carries neither); for several, list them, or match sessions with arn:aws:sts::<account>:assumed-role/<role>/*',
            ),
        )
        .min(1)
        .optional(),
      /** Whether the caller that started a run may approve it (separation of duties: no, unless said here). */
      selfApproval: z.boolean().default(false),
    }),
  ),
  approval: z.strictObject({ deadlineHours: z.number().positive().max(8760).default(24) }).prefault({}),
  drift: z
    .strictObject({
      schedule: z
        .string()
        .regex(/^(cron|rate)\(.+\)$/, 'an EventBridge Scheduler expression like cron(0 6 * * ? *)')
        .default('cron(0 6 * * ? *)'),
      maxConcurrency: z.number().int().min(1).max(40).default(5),
    })
    .prefault({}),
  notifications: z.strictObject({ emails: z.array(z.email()).default([]) }).prefault({}),
  /** Signed callbacks to ticketing systems when a run given a `callbackUrl` ends. */
  callbacks: z
    .strictObject({
      /** Secrets Manager secret (name) holding the HMAC-SHA256 signing secret; absent: Tropos creates one. */
      secretName: z
        .string()
        .regex(/^[\w/+=.@-]{1,512}$/, 'a Secrets Manager secret name like tropos/callback-signing')
        .optional(),
      /** Attempts in all (the first included); network errors, timeouts, 5xx, 408 and 429 are retried. */
      attempts: z.number().int().min(1).max(10).default(5),
      /** Wait before the second attempt, doubled for each next one. */
      backoffSeconds: z.number().min(0.01).max(60).default(2),
    })
    .superRefine((c, ctx) => {
      const need = callbackSeconds(c);
      if (need > MAX_CALLBACK_SECONDS)
        ctx.addIssue({
          code: 'custom',
          message: `${c.attempts} attempts with backoffSeconds ${c.backoffSeconds} can take ${Math.ceil(need)} s; the run ledger delivers within one Lambda invocation (at most ${MAX_CALLBACK_SECONDS} s): lower attempts or backoffSeconds`,
        });
    })
    .prefault({}),
  /** The HTTP API (API Gateway, IAM-authorised). */
  api: z
    .strictObject({
      throttling: z
        .strictObject({
          /** Steady requests per second, over all callers. */
          rateLimit: z.number().int().min(1).max(10000).default(20),
          /** Requests allowed in a burst. */
          burstLimit: z.number().int().min(1).max(5000).default(40),
        })
        .prefault({}),
    })
    .prefault({}),
  tagsPolicy: z
    .strictObject({
      required: z.array(z.string().min(1)).default([]),
      allowedValues: z.record(z.string(), z.array(z.string())).default({}),
    })
    .prefault({}),
  /**
   * The compliance check (the `compliance` command: its plan is evaluated by buildspecs/scripts/compliance.js against
   * the built-in rules, `tagsPolicy.required` and these rules).
   */
  compliance: z
    .strictObject({
      /**
       * What a value unknown at plan time (computed during the apply) does to the check: `fail` (the default: a gate
       * lets through only what it can see complies) or `warn` (reported, not failing).
       */
      unknown: z.enum(['fail', 'warn']).default('fail'),
      /** The installation's own rules, as data. */
      rules: z
        .array(complianceRule)
        .default([])
        .superRefine((rules, ctx) => {
          const seen = new Map<string, number>();
          rules.forEach((rule, i) => {
            const first = seen.get(rule.id);
            if (first !== undefined)
              ctx.addIssue({
                code: 'custom',
                path: [i, 'id'],
                message: `"${rule.id}" is already the id of rules[${first}]; each rule needs an id of its own`,
              });
            else seen.set(rule.id, i);
          });
        }),
    })
    .prefault({}),
  terraform: z
    .strictObject({
      /** Build timeout for one component run. */
      timeoutMinutes: z.number().int().min(5).max(480).default(60),
      /** How long terraform waits for a state lock another operation holds (its -lock-timeout). */
      lockTimeout: z
        .string()
        .regex(
          /^[1-9][0-9]*(s|m|h)$/,
          'must be a duration terraform takes: a whole number of s, m or h, like 30s or 5m',
        )
        .default('5m'),
    })
    .prefault({}),
});

export type TroposConfig = z.infer<typeof ConfigSchema>;
