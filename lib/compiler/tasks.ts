import { Duration } from 'aws-cdk-lib';
import * as codebuild from 'aws-cdk-lib/aws-codebuild';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import type { Construct } from 'constructs';
import { QUEUED_MINUTES, RESOLVE_MINUTES } from '../constructs/terraform-runners';

/**
 * A Lambda task as every Tropos state invokes one: Lambda's transient errors (the ones CDK's
 * retryOnServiceExceptions names) and throttling — a new account's low concurrency meets 14- and 24-branch
 * Parallels and sweeps — retried in one rule, with backoff and full jitter: 9 retries, each wait drawn up to
 * 2, 4, … 60 s (at most ~6 minutes in all, ~3 expected).
 */
export function lambdaTask(scope: Construct, id: string, props: tasks.LambdaInvokeProps): tasks.LambdaInvoke {
  const task = new tasks.LambdaInvoke(scope, id, { ...props, retryOnServiceExceptions: false });
  task.addRetry({
    errors: [
      'Lambda.ClientExecutionTimeoutException',
      'Lambda.ServiceException',
      'Lambda.AWSLambdaException',
      'Lambda.SdkClientException',
      'Lambda.TooManyRequestsException',
    ],
    interval: Duration.seconds(2),
    maxAttempts: 10,
    backoffRate: 2,
    maxDelay: Duration.seconds(60),
    jitterStrategy: sfn.JitterType.FULL,
  });
  return task;
}

/** Retries of a task that starts work (a build, an execution) when the account's concurrency is used up. */
export const START_RETRY = {
  /**
   * CodeBuild queues builds past the account's concurrency and refuses a start only when its queue is full:
   * 24 retries, each wait drawn up to 15, 30, … 300 s (full jitter: ~1 hour expected, ~1.9 at most).
   */
  build: {
    errors: ['CodeBuild.AccountLimitExceededException'],
    interval: Duration.seconds(15),
    maxAttempts: 24,
    backoffRate: 2,
    maxDelay: Duration.minutes(5),
    jitterStrategy: sfn.JitterType.FULL,
  },
  execution: {
    errors: ['StepFunctions.ExecutionLimitExceededException'],
    interval: Duration.seconds(5),
    maxAttempts: 8,
    backoffRate: 2,
    maxDelay: Duration.minutes(2),
    jitterStrategy: sfn.JitterType.FULL,
  },
} satisfies Record<string, sfn.RetryProps>;

/**
 * A build of the resolve project (runs/<runId>/resolve/stack.json in the artifacts bucket): "Resolve stack" reads
 * the run's stack, "Discover stacks" (`discover`) lists every stack the repository defines. Its result is not kept
 * in the state: the component-graph function reads it from the bucket. Its limit covers the project's own and the
 * time it may spend queued.
 */
export function resolveBuild(
  scope: Construct,
  id: string,
  project: codebuild.IProject,
  options: {
    readonly discover: boolean;
    /** The run's context (TROPOS_CONTEXT): a JSONPath string, or a fixed JSON text. */
    readonly context: string;
    /** The run's parameters (TROPOS_PARAMS), when it has any. */
    readonly params?: string;
    readonly comment: string;
  },
): tasks.CodeBuildStartBuild {
  const text = (value: string) => ({ type: codebuild.BuildEnvironmentVariableType.PLAINTEXT, value });
  const build = new tasks.CodeBuildStartBuild(scope, id, {
    project,
    integrationPattern: sfn.IntegrationPattern.RUN_JOB,
    environmentVariablesOverride: {
      TROPOS_RUN_ID: text(sfn.JsonPath.stringAt('$$.Execution.Name')),
      TROPOS_STEP: text('resolve'),
      ...(options.discover ? { TROPOS_DISCOVER: text('true') } : {}),
      TROPOS_CONTEXT: text(options.context),
      ...(options.params ? { TROPOS_PARAMS: text(options.params) } : {}),
    },
    resultPath: sfn.JsonPath.DISCARD,
    taskTimeout: sfn.Timeout.duration(Duration.minutes(RESOLVE_MINUTES + QUEUED_MINUTES + 10)),
    comment: options.comment,
  });
  build.addRetry(START_RETRY.build);
  return build;
}
