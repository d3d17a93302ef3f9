import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { TABLES } from '../../lib/records/environment';
import { EnvironmentWriter } from '../../lib/records/environment-store';
import { createLogger, dynamo, requiredEnv } from '../shared/runtime';
import { handleRegistry, RegistryRequest } from './core';

const logger = createLogger('environment-registry');
const registry = new EnvironmentWriter(dynamo(), requiredEnv(TABLES.environments.env));

export const handler = middy(async (event: RegistryRequest) => {
  logger.info('registry', { action: event.action, stack: event.context.stack, runId: event.runId });
  return handleRegistry(event, registry);
}).use(injectLambdaContext(logger));
