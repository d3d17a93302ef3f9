/** What a terraform run reports back: plan counts and the plan's identity, per component and per step. */

export const COMPONENT_STATUSES = ['SUCCEEDED', 'FAILED', 'SKIPPED'] as const;
export type ComponentStatus = (typeof COMPONENT_STATUSES)[number];

export interface PlanSummary {
  readonly add: number;
  readonly change: number;
  readonly destroy: number;
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
}

/** Names of the variables the buildspecs export (CodeBuild `exported-variables`). */
export const EXPORTED = {
  add: 'TROPOS_PLAN_ADD',
  change: 'TROPOS_PLAN_CHANGE',
  destroy: 'TROPOS_PLAN_DESTROY',
  sha256: 'TROPOS_PLAN_SHA256',
  prefix: 'TROPOS_ARTIFACTS_PREFIX',
  exitCode: 'TROPOS_EXIT_CODE',
  message: 'TROPOS_MESSAGE',
} as const;

/** Reads the exported variables of a build into a plan summary (absent when the run made no plan). */
export function planFromExported(vars: readonly { Name?: string; Value?: string }[] | undefined): {
  plan?: PlanSummary;
  exitCode?: number;
  message?: string;
} {
  // An exported variable the build never set arrives as ''.
  const get = (name: string) => vars?.find((v) => v.Name === name)?.Value || undefined;
  const num = (name: string) => {
    const n = Number(get(name));
    return Number.isFinite(n) ? n : 0;
  };
  const exit = get(EXPORTED.exitCode);
  const message = get(EXPORTED.message);
  const result: { plan?: PlanSummary; exitCode?: number; message?: string } = {};
  // A plan run exports its counts; an apply exports only the SHA-256 it applied (no plan of its own).
  if (get(EXPORTED.add) !== undefined) {
    result.plan = {
      add: num(EXPORTED.add),
      change: num(EXPORTED.change),
      destroy: num(EXPORTED.destroy),
      sha256: get(EXPORTED.sha256) || undefined,
      artifactsPrefix: get(EXPORTED.prefix) || undefined,
    };
  }
  if (exit !== undefined) result.exitCode = Number(exit);
  if (message) result.message = message;
  return result;
}

/** Pulls the build id, the log link and the failing phase's message out of a caught build error. */
export function describeFailure(error: { readonly Error?: string; readonly Cause?: string } | undefined): {
  reason: string;
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
    const said = planFromExported(build?.ExportedEnvironmentVariables).message;
    if (build && said) return { reason: said, buildId: build.Id, logs: build.Logs?.DeepLink };
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
