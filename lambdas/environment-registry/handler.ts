import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { TABLES } from '../../lib/records/environment';
import { EnvironmentWriter } from '../../lib/records/environment-store';
import { createLogger, dynamo, requiredEnv } from '../shared/runtime';
import { handleRegistry, RegistryRequest } from './core';

const logger = createLogger('environment-registry');
const registry = new EnvironmentWriter(dynamo(), requiredEnv(TABLES.environments.env));

/** A registry step's result: `status` is the step's (a later step's `requires` reads it), the entry beside it. */
export const handler = middy(async (event: RegistryRequest) => {
  logger.info('registry', { action: event.action, stack: event.context.stack, runId: event.runId });
  return { status: 'SUCCEEDED', action: event.action, entry: await handleRegistry(event, registry) };
}).use(injectLambdaContext(logger));
