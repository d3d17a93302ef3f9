import { CALLBACK_ATTEMPT_SECONDS } from '../domain/callback';
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
  terraform: z
    .strictObject({
      /** Build timeout for one component run. */
      timeoutMinutes: z.number().int().min(5).max(480).default(60),
    })
    .prefault({}),
});

export type TroposConfig = z.infer<typeof ConfigSchema>;
