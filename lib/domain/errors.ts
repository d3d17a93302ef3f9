/**
 * The error names Tropos's tasks throw. Each name is a Step Functions error code: the Lambdas throw errors
 * with these names, and the compiled workflows `Catch` / `Retry` on them. One list for both sides.
 */
export const ErrorCode = {
  /** A run's input failed validation; the cause lists every bad field and what is allowed. */
  InvalidInput: 'InvalidInput',
  /** One or more components of a terraform step failed; the cause names them, and the skipped dependents. */
  ComponentFailed: 'ComponentFailed',
  /** None of a terraform step's components is a component of the stack: nothing ran. */
  NoComponents: 'NoComponents',
  /** One or more branches of a parallel step failed. */
  BranchFailed: 'BranchFailed',
  /** An approver rejected the plan. */
  ApprovalRejected: 'ApprovalRejected',
  /** Nobody answered an approval before its deadline. */
  ApprovalExpired: 'ApprovalExpired',
  /** Another mutating run holds the stack's lock. */
  StackLocked: 'StackLocked',
  /** A step ran without the earlier steps it relies on having run in the same run (see `requires`). */
  RequirementNotMet: 'RequirementNotMet',
  /** The plan file about to be applied is not the one that was approved. */
  PlanMismatch: 'PlanMismatch',
  /**
   * The stack could not be resolved from the infrastructure repository: the repository does not define it, a
   * dependency crosses stacks or forms a cycle, or the tools failed; the cause says which.
   */
  StackNotResolved: 'StackNotResolved',
  /** An operator stopped the run: the build a step was about to start was not started. */
  RunStopped: 'RunStopped',
} as const;

export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** One bad field of an input: which, what was wrong, and what is allowed. */
export interface FieldProblem {
  readonly field: string;
  readonly problem: string;
}

/** Thrown by validators; `name` is the Step Functions error code `InvalidInput`. */
export class InvalidInputError extends Error {
  public override readonly name = ErrorCode.InvalidInput;
  public readonly problems: readonly FieldProblem[];

  constructor(problems: readonly FieldProblem[]) {
    super(problems.map((p) => `${p.field}: ${p.problem}`).join('; '));
    this.problems = problems;
  }
}

/** Thrown when a terraform step ends with failed components (after all in-flight ones finished). */
export class ComponentFailedError extends Error {
  public override readonly name = ErrorCode.ComponentFailed;
}

/** Thrown when none of a terraform step's components is one of the stack's (a result would claim what never ran). */
export class NoComponentsError extends Error {
  public override readonly name = ErrorCode.NoComponents;
}

/** Thrown when the stack cannot be resolved from the repository, or does not match the run. */
export class StackNotResolvedError extends Error {
  public override readonly name = ErrorCode.StackNotResolved;
}

/** Thrown when a parallel step ends with failed branches (after all of them finished). */
export class BranchFailedError extends Error {
  public override readonly name = ErrorCode.BranchFailed;
}

/** Thrown instead of starting a build once an operator has asked the run to stop. */
export class RunStoppedError extends Error {
  public override readonly name = ErrorCode.RunStopped;
}
