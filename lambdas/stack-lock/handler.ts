import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { TABLES } from '../../lib/records/environment';
import { StackLocks } from '../../lib/records/stack-lock';
import { createLogger, dynamo, requiredEnv } from '../shared/runtime';

const logger = createLogger('stack-lock');
const locks = new StackLocks(dynamo(), requiredEnv(TABLES.runs.env));

/** The "Lock stack" state of mutating workflows. The run ledger gives the lock back when the run ends. */
export const handler = middy(async (event: { stack: string; owner: string; workflow: string }) => {
  const lock = await locks.acquire(event.stack, event.owner, event.workflow);
  logger.info('stack locked', { stack: event.stack, holder: event.owner });
  return lock;
}).use(injectLambdaContext(logger));
