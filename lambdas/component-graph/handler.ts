import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { TABLES } from '../../lib/records/environment';
import { RunStore } from '../../lib/records/run-store';
import { createLogger, dynamo, requiredEnv } from '../shared/runtime';
import { StepFunctionsTokens } from '../shared/task-tokens';
import { ComponentGraph, GraphRequest } from './core';
import { DynamoGraphStore } from './dynamo-store';

const logger = createLogger('component-graph');
const table = requiredEnv(TABLES.runs.env);
const graph = new ComponentGraph(
  new DynamoGraphStore(dynamo(), table),
  new StepFunctionsTokens(),
  new RunStore(dynamo(), table),
);

/** Await / complete / summarize for the components of a terraform step. */
export const handler = middy(async (event: GraphRequest): Promise<unknown> => {
  logger.info('component graph', {
    action: event.action,
    step: event.step,
    component: 'component' in event ? event.component : undefined,
  });
  return graph.handle(event);
}).use(injectLambdaContext(logger));
