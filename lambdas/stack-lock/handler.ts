import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { DescribeExecutionCommand } from '@aws-sdk/client-sfn';
import { TABLES } from '../../lib/records/environment';
import { RunStore } from '../../lib/records/run-store';
import { StackLocks } from '../../lib/records/stack-lock';
import { createLogger, dynamo, requiredEnv, stepFunctions } from '../shared/runtime';

const logger = createLogger('stack-lock');
const table = requiredEnv(TABLES.runs.env);
const locks = new StackLocks(dynamo(), table);
const runs = new RunStore(dynamo(), table);
const sfn = stepFunctions();

/** How an execution stands: undefined while it runs; how it ended; GONE when Step Functions has no such execution. */
async function ended(executionArn: string): Promise<string | undefined> {
  try {
    const out = await sfn.send(new DescribeExecutionCommand({ executionArn }));
    return out.status === 'RUNNING' || out.status === 'PENDING_REDRIVE' ? undefined : out.status;
  } catch (e) {
    if ((e as Error).name === 'ExecutionDoesNotExist') return 'GONE';
    throw e;
  }
}

/**
 * The "Lock stack" state of mutating workflows. The run ledger gives the lock back when the run ends; a lock whose
 * holder has ended without that (a lost end event, a crash) is taken over, and the takeover recorded on the run.
 */
export const handler = middy(async (event: { stack: string; owner: string; workflow: string; execution?: string }) => {
  const lock = await locks.acquire(event.stack, event.owner, event.workflow, {
    execution: event.execution,
    ended,
  });
  if (lock.takenOver) {
    logger.warn('stack lock taken over from an ended run', { stack: event.stack, ...lock.takenOver });
    await runs.recordStart(event.owner, { lockTakenOver: lock.takenOver });
  }
  logger.info('stack locked', { stack: event.stack, holder: event.owner });
  return lock;
}).use(injectLambdaContext(logger));
