/** What a terraform run reports back: plan counts and the plan's identity, per component and per step. */

export const COMPONENT_STATUSES = ['SUCCEEDED', 'FAILED', 'SKIPPED'] as const;
export type ComponentStatus = (typeof COMPONENT_STATUSES)[number];

export interface PlanSummary {
  /** Counted as Terraform's own "Plan: …" line counts them (managed resources; a replace is one add and one destroy). */
  readonly add: number;
  readonly change: number;
  readonly destroy: number;
  /** Resources a `moved` block moves, an `import` block imports, a `removed` block forgets; root outputs changed. */
  readonly move?: number | undefined;
  readonly import?: number | undefined;
  readonly forget?: number | undefined;
  readonly outputs?: number | undefined;
  /**
   * Whether terraform found changes (`plan -detailed-exitcode` exited 2): moves, imports, forgets and output
   * changes included. Absent on records written before it was reported: the counts decide then.
   */
  readonly changes?: boolean | undefined;
  /**
   * The resources that change, one line each as terraform marks them ("+ aws_vpc.this", "-/+ …", "→ … (moved
   * from …)", "⇐ … (import)"), at most 1,500 characters ("… and N more"; plan.txt in the artifacts has it all).
   */
  readonly resources?: string | undefined;
  /** SHA-256 of the saved plan file; an apply refuses any other file. */
  readonly sha256?: string | undefined;
  /** Where the plan file, its JSON and its text rendering are stored in the artifacts bucket. */
  readonly artifactsPrefix?: string | undefined;
}

export interface ComponentResult {
  readonly component: string;
  readonly status: ComponentStatus;
  readonly buildId?: string | undefined;
  readonly logs?: string | undefined;
  readonly plan?: PlanSummary | undefined;
  /** True when `terraform plan -detailed-exitcode` exited 2 (changes) for a drift check. */
  readonly drifted?: boolean | undefined;
  /** A short line of what the run said: the failure reason, the skip reason, or the operation's answer. */
  readonly message?: string | undefined;
  /** The build's limit, in minutes. */
  readonly timeoutMinutes?: number | undefined;
  /** The commit of the infrastructure repository the build worked on. */
  readonly commit?: string | undefined;
  /** The terraform version the build ran. */
  readonly terraformVersion?: string | undefined;
}

/** Whether a plan changes anything: terraform's own answer (exit code 2) when reported, else its counts. */
export function planHasChanges(plan: PlanSummary | undefined): boolean {
  if (!plan) return false;
  if (plan.changes !== undefined) return plan.changes;
  return (
    plan.add +
      plan.change +
      plan.destroy +
      (plan.move ?? 0) +
      (plan.import ?? 0) +
      (plan.forget ?? 0) +
      (plan.outputs ?? 0) >
    0
  );
}

/** Names of the variables the buildspecs export (CodeBuild `exported-variables`). */
export const EXPORTED = {
  add: 'TROPOS_PLAN_ADD',
  change: 'TROPOS_PLAN_CHANGE',
  destroy: 'TROPOS_PLAN_DESTROY',
  move: 'TROPOS_PLAN_MOVE',
  import: 'TROPOS_PLAN_IMPORT',
  forget: 'TROPOS_PLAN_FORGET',
  outputs: 'TROPOS_PLAN_OUTPUTS',
  resources: 'TROPOS_PLAN_RESOURCES',
  changes: 'TROPOS_PLAN_CHANGES',
  sha256: 'TROPOS_PLAN_SHA256',
  prefix: 'TROPOS_ARTIFACTS_PREFIX',
  exitCode: 'TROPOS_EXIT_CODE',
  message: 'TROPOS_MESSAGE',
  /** The tool's own Error: block of a failure (first lines). */
  error: 'TROPOS_ERROR',
  commit: 'TROPOS_COMMIT_SHA',
  terraformVersion: 'TROPOS_TERRAFORM_VERSION',
} as const;

/** Reads the exported variables of a build into a plan summary (absent when the run made no plan). */
export function planFromExported(vars: readonly { Name?: string; Value?: string }[] | undefined): {
  plan?: PlanSummary;
  exitCode?: number;
  message?: string;
  error?: string;
  commit?: string;
  terraformVersion?: string;
} {
  // An exported variable the build never set arrives as ''.
  const get = (name: string) => vars?.find((v) => v.Name === name)?.Value || undefined;
  const num = (name: string) => {
    const n = Number(get(name));
    return Number.isFinite(n) ? n : 0;
  };
  const exit = get(EXPORTED.exitCode);
  const message = get(EXPORTED.message);
  const result: ReturnType<typeof planFromExported> = {};
  // A plan run exports its counts; an apply exports only the SHA-256 it applied (no plan of its own).
  if (get(EXPORTED.add) !== undefined) {
    result.plan = {
      add: num(EXPORTED.add),
      change: num(EXPORTED.change),
      destroy: num(EXPORTED.destroy),
      ...(get(EXPORTED.changes) !== undefined
        ? {
            move: num(EXPORTED.move),
            import: num(EXPORTED.import),
            forget: num(EXPORTED.forget),
            outputs: num(EXPORTED.outputs),
            changes: get(EXPORTED.changes) === 'true',
          }
        : {}),
      resources: get(EXPORTED.resources),
      sha256: get(EXPORTED.sha256) || undefined,
      artifactsPrefix: get(EXPORTED.prefix) || undefined,
    };
  }
  if (exit !== undefined) result.exitCode = Number(exit);
  if (message) result.message = message;
  const error = get(EXPORTED.error);
  if (error) result.error = error;
  const commit = get(EXPORTED.commit);
  if (commit) result.commit = commit;
  const terraformVersion = get(EXPORTED.terraformVersion);
  if (terraformVersion) result.terraformVersion = terraformVersion;
  return result;
}

/** Pulls the build id, the log link and the failing phase's message out of a caught build error. */
export function describeFailure(error: { readonly Error?: string; readonly Cause?: string } | undefined): {
  reason: string;
  /** The tool's own Error: block, when the build exported one. */
  error?: string;
  buildId?: string;
  logs?: string;
} {
  const name = error?.Error ?? 'States.TaskFailed';
  const cause = error?.Cause ?? '';
  try {
    const parsed = JSON.parse(cause) as {
      Build?: {
        Id?: string;
        Logs?: { DeepLink?: string };
        Phases?: { PhaseType?: string; PhaseStatus?: string; Contexts?: { Message?: string }[] }[];
        ExportedEnvironmentVariables?: { Name?: string; Value?: string }[];
      };
      errorMessage?: string;
    };
    const build = parsed.Build;
    // The runner's own account of the failure, when the build exported one.
    const exported = planFromExported(build?.ExportedEnvironmentVariables);
    const said = exported.message;
    if (build && said)
      return {
        reason: said,
        ...(exported.error ? { error: exported.error } : {}),
        buildId: build.Id,
        logs: build.Logs?.DeepLink,
      };
    if (build) {
      const phase = build.Phases?.find((p) => p.PhaseStatus === 'FAILED' || p.PhaseStatus === 'TIMED_OUT');
      const message = phase?.Contexts?.map((c) => c.Message)
        .filter(Boolean)
        .join('; ');
      return {
        reason: `${name}: ${phase ? `${phase.PhaseType} phase ${phase.PhaseStatus?.toLowerCase()}` : 'build failed'}${message ? `: ${message}` : ''}`,
        buildId: build.Id,
        logs: build.Logs?.DeepLink,
      };
    }
    if (parsed.errorMessage) return { reason: `${name}: ${parsed.errorMessage}` };
  } catch {
    // Not JSON: the cause is plain text.
  }
  return { reason: cause ? `${name}: ${cause.slice(0, 500)}` : name };
}
