import type * as codebuild from 'aws-cdk-lib/aws-codebuild';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import type { TroposConfig } from '../config/schema';
import type { Catalog } from '../workflow/catalog';
import type { Workflow } from '../workflow/load';
import type { RunnerCommand } from '../constructs/terraform-runners';

/** What compiled workflows call: the functions, the terraform runners and the other workflows. */
export interface CompilerResources {
  readonly config: TroposConfig;
  readonly catalog: Catalog;
  /** Every workflow, for the inputs of nested executions. */
  readonly workflows: ReadonlyMap<string, Workflow>;
  /** Checks a run's input and resolves its context (stack, tier, account id, components). */
  readonly validateInput: lambda.IFunction;
  /** Records the resolved stack, and schedules the components of a terraform step (its worker pool). */
  readonly componentGraph: lambda.IFunction;
  /** Stores an approval request and notifies; answered with the task token. */
  readonly requestApproval: lambda.IFunction;
  /** Takes a stack's lock for a mutating run. */
  readonly stackLock: lambda.IFunction;
  /** Writes to the environment registry. */
  readonly environmentRegistry: lambda.IFunction;
  /** The CodeBuild project that runs a terraform command. */
  readonly runner: (command: RunnerCommand) => codebuild.IProject;
  /** The state machine of another workflow (already created: callees are compiled first). */
  readonly stateMachine: (workflow: string) => sfn.IStateMachine;
}
