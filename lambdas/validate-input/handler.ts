import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { TABLES } from '../../lib/records/environment';
import { EnvironmentStore } from '../../lib/records/environment-store';
import { HandoverStore } from '../../lib/records/handover';
import { RunStore } from '../../lib/records/run-store';
import { bundled, createLogger, dynamo, ownAccountId, requiredEnv } from '../shared/runtime';
import { handOver, HandoverRequest, validateRun, ValidateRequest, ValidateResult, ValidatorSettings } from './core';

const logger = createLogger('validate-input');
const settings = bundled<ValidatorSettings>('settings');
const registry = new EnvironmentStore(dynamo(), requiredEnv(TABLES.environments.env));
const runsTable = requiredEnv(TABLES.runs.env);
const recorder = { handovers: new HandoverStore(dynamo(), runsTable), runs: new RunStore(dynamo(), runsTable) };

/**
 * The first state of every workflow: checks the input, resolves the run context and who started the run. Also
 * the "Hand over" state before a child run: the child's first state finds who started it there.
 */
export const handler = middy(
  async (
    event: ValidateRequest | HandoverRequest,
    context: { invokedFunctionArn?: string },
  ): Promise<ValidateResult | { input: Record<string, unknown> }> => {
    if ('action' in event && event.action === 'handover') return handOver(event, recorder);
    const req = event as ValidateRequest;
    try {
      return await validateRun(req, { ...settings, awsAccountId: ownAccountId(context) }, registry, recorder);
    } catch (e) {
      logger.warn('input rejected', { workflow: req.workflow.name, runId: req.runId, error: (e as Error).message });
      throw e;
    }
  },
).use(injectLambdaContext(logger));
