import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { TABLES } from '../../lib/records/environment';
import { EnvironmentStore } from '../../lib/records/environment-store';
import { createLogger, dynamo, jsonEnv, requiredEnv } from '../shared/runtime';
import { validateInput, ValidateRequest, ValidateResult, ValidatorSettings } from './core';

const logger = createLogger('validate-input');
const settings = jsonEnv<ValidatorSettings>('TROPOS_SETTINGS');
const registry = new EnvironmentStore(dynamo(), requiredEnv(TABLES.environments.env));

/** The first state of every workflow: checks the input and resolves the run context. */
export const handler = middy(async (event: ValidateRequest): Promise<ValidateResult> => {
  try {
    return await validateInput(event, settings, registry);
  } catch (e) {
    logger.warn('input rejected', { workflow: event.workflow.name, runId: event.runId, error: (e as Error).message });
    throw e;
  }
}).use(injectLambdaContext(logger));
