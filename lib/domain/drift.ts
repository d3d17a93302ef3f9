/** The CloudWatch metric of drift: components drifted, per stack (dimension `Stack`), put by each drift sweep. */
export const DRIFT_METRIC = { namespace: 'Tropos', name: 'DriftedComponents', dimension: 'Stack' } as const;

/** The drift sweep: its state machine is `tropos-drift-sweep`, its runs `drift-sweep-…`. */
export const DRIFT_SWEEP = 'drift-sweep';

/** What a drift sweep ends with (its execution's output, kept on its run record as `summary`). */
export interface SweepSummary {
  readonly runId: string;
  readonly checked: number;
  readonly drifted: { readonly stack: string; readonly components: readonly string[] }[];
  readonly clean: string[];
  readonly failed: { readonly stack: string; readonly error: string }[];
  readonly notified: boolean;
  /** Why the repository's stacks could not be read first (only registered environments were checked then). */
  readonly repositoryUnread?: string;
}
