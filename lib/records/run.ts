import type { LockTakeover } from './stack-lock';
import type { PlanSummary } from '../domain/plan';
import type { SweepSummary } from '../domain/drift';

/** The run ledger's records, in the runs table: one Run per execution, one Step per step, one per component. */

export const RUN_STATUSES = ['RUNNING', 'SUCCEEDED', 'FAILED', 'TIMED_OUT', 'ABORTED'] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];

export interface Run {
  readonly runId: string;
  readonly workflow: string;
  readonly stack?: string | undefined;
  readonly status: RunStatus;
  readonly input: Record<string, unknown>;
  /**
   * Who or what started it, for display: the authenticated caller (API, CLI), `run <parent>`, or `console` (any
   * direct StartExecution: the console, a schedule, the SDK). Written by the run's first state.
   */
  readonly startedBy?: string | undefined;
  /** How it was started (`api`, `parent`, `console`), from its handover, never from its input. */
  readonly origin?: 'api' | 'parent' | 'console' | undefined;
  /** The run whose stack lock it works under, when not its own (a child on its parent's stack). */
  readonly lockOwner?: string | undefined;
  /** The authenticated caller behind it: the IAM principal (API), inherited from the parent; absent for `console`. */
  readonly principal?: string | undefined;
  /** Who the input says asked for it: self-declared, shown beside `principal`. */
  readonly requestedBy?: string | undefined;
  readonly dryRun?: boolean | undefined;
  readonly ticketId?: string | undefined;
  /** Where the outcome is POSTed when the run ends: only for runs the API started (the ticket is the caller's). */
  readonly callbackUrl?: string | undefined;
  /** The tier the run worked under (from the configuration; see lib/domain/tiers.ts). */
  readonly tier?: string | undefined;
  readonly parentRunId?: string | undefined;
  /** The ended run this one retries (POST /runs/{id}/retry): what succeeded there is reused, not run again. */
  readonly retryOf?: string | undefined;
  /** The latest retry of this run (written when it is started). */
  readonly retriedBy?: string | undefined;
  readonly startedAt: string;
  readonly endedAt?: string | undefined;
  readonly error?: string | undefined;
  readonly cause?: string | undefined;
  readonly executionArn: string;
  /** The stack lock this run took over from a run that had ended without giving it back (see StackLocks). */
  readonly lockTakenOver?: LockTakeover | undefined;
  /** An operator asked the run to stop (POST /runs/{id}/stop): nothing new starts; builds in flight end first. */
  readonly stopRequested?: { readonly by: string; readonly reason: string; readonly at: string } | undefined;
  /** An operator gave back the stack lock this run held (POST /stacks/{stack}/unlock). */
  readonly unlocked?:
    | {
        readonly stack: string;
        readonly by: string;
        readonly reason: string;
        readonly at: string;
        /** How the run's execution stood then (RUNNING when forced). */
        readonly holderStatus: string;
        readonly forced: boolean;
      }
    | undefined;
  /** A drift sweep's outcome (its execution's output): how many were checked, which drifted, which failed. */
  readonly summary?: SweepSummary | undefined;
  /** The signed callback of a run given a `callbackUrl`, once the run ended. */
  readonly callback?: CallbackRecord | undefined;
  /** The infrastructure repository's commit every build of the run worked on (from its "Resolve stack" step). */
  readonly commit?: string | undefined;
  /** What the run resolved from the repository: the engine, how many components, dependencies left out. */
  readonly resolved?:
    | {
        engine: string;
        /** The stack's name in the repository, when not Tropos's. */
        name?: string;
        components: number;
        ignored?: string[];
      }
    | undefined;
  /** The "Resolve stack" build: how it went, its log, and what it said (why it failed, or what it resolved). */
  readonly resolveBuild?:
    | {
        status: 'RUNNING' | 'SUCCEEDED' | 'FAILED';
        buildId: string;
        logs?: string | undefined;
        message?: string | undefined;
      }
    | undefined;
}

/** One delivery of a run's outcome to its callback URL: every attempt, and how it ended. */
export interface CallbackRecord {
  readonly url: string;
  readonly status: 'SENDING' | 'DELIVERED' | 'FAILED';
  /** When the delivery was claimed (a SENDING claim older than a ledger invocation can live is taken over). */
  readonly claimedAt?: string | undefined;
  /** The delivery's id (X-Tropos-Delivery), the same for every attempt, a takeover's included. */
  readonly delivery?: string | undefined;
  readonly attempts: readonly { readonly at: string; readonly statusCode?: number; readonly error?: string }[];
  readonly deliveredAt?: string | undefined;
}

export const COMPONENT_RECORD_STATUSES = ['RUNNING', 'SUCCEEDED', 'FAILED', 'SKIPPED'] as const;

/** One component of one terraform step of a run. */
export interface ComponentRecord {
  readonly runId: string;
  readonly step: string;
  readonly component: string;
  readonly command?: string | undefined;
  readonly status: (typeof COMPONENT_RECORD_STATUSES)[number];
  readonly startedAt?: string | undefined;
  readonly endedAt?: string | undefined;
  readonly buildId?: string | undefined;
  readonly logs?: string | undefined;
  readonly plan?: PlanSummary | undefined;
  readonly drifted?: boolean | undefined;
  readonly message?: string | undefined;
  /** A failure's own words: terraform's (or atmos's) last `Error:` block, its first 15 lines (the log has all). */
  readonly error?: string | undefined;
  /** The build's limit, in minutes (its own: the catalog's default for the component, else the configuration's). */
  readonly timeoutMinutes?: number | undefined;
  /** The repository commit the build worked on; every build of a run reports the run's one commit. */
  readonly commit?: string | undefined;
  /** The terraform version the build ran. */
  readonly terraformVersion?: string | undefined;
  /**
   * A retry's record copied from the run it retries, where this step's component had succeeded at the same commit:
   * not built again (a plan reused this way is applied from that run's artifacts, its SHA-256 checked).
   */
  readonly reusedFrom?: string | undefined;
}

/** One step of a run (terraform steps: their totals). */
export interface StepRecord {
  readonly runId: string;
  readonly step: string;
  readonly command?: string | undefined;
  readonly status: 'SUCCEEDED' | 'FAILED';
  readonly endedAt: string;
  readonly add?: number;
  readonly change?: number;
  readonly destroy?: number;
  readonly message?: string | undefined;
}

/** A run with everything recorded about it. */
export interface RunDetail {
  readonly run: Run;
  readonly steps: StepRecord[];
  readonly components: ComponentRecord[];
  readonly approvals: Record<string, unknown>[];
  /** The stack's components as the run resolved them, with what each depends on (its component graph). */
  readonly resolved?: { readonly component: string; readonly dependsOn: readonly string[] }[];
}

/** Sort keys of the items of a run. */
export const SK = {
  run: 'RUN',
  step: (step: string) => `STEP#${step}`,
  component: (step: string, component: string) => `COMPONENT#${step}#${component}`,
  approval: (step: string) => `APPROVAL#${step}`,
  graph: (step: string) => `GRAPH#${step}`,
  /** A component of the stack the run resolved from the repository. */
  resolved: (component: string) => `RESOLVED#${component}`,
  handover: 'HANDOVER',
  /** A step's single build about to start (`STARTING#<step>#<component>`), until the step records its end. */
  starting: 'STARTING#',
} as const;
