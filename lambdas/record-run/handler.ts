import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { TABLES } from '../../lib/records/environment';
import { RunStore } from '../../lib/records/run-store';
import { StackLocks } from '../../lib/records/stack-lock';
import { createLogger, dynamo, requiredEnv } from '../shared/runtime';
import { recordStateChange, StateChangeEvent } from './core';

const logger = createLogger('record-run');
const runs = new RunStore(dynamo(), requiredEnv(TABLES.runs.env));
const locks = new StackLocks(dynamo(), requiredEnv(TABLES.runs.env));

/** Target of the EventBridge rules on execution status changes and build state changes. */
export const handler = middy(async (event: StateChangeEvent) => {
  const what = await recordStateChange(event, runs, locks);
  logger.info('recorded', { detailType: event['detail-type'], what });
  return { recorded: what };
}).use(injectLambdaContext(logger));
