import { Duration } from 'aws-cdk-lib';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import type { Construct } from 'constructs';

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
