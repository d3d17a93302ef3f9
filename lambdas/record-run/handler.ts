import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { TABLES } from '../../lib/records/environment';
import { EnvironmentWriter } from '../../lib/records/environment-store';
import { HandoverStore } from '../../lib/records/handover';
import { RunStore } from '../../lib/records/run-store';
import { StackLocks } from '../../lib/records/stack-lock';
import { StopExecutionCommand } from '@aws-sdk/client-sfn';
import { callbackSecret } from '../shared/secrets';
import { createLogger, dynamo, requiredEnv, stepFunctions } from '../shared/runtime';
import { LedgerDeps, recordStateChange, StateChangeEvent } from './core';

const logger = createLogger('record-run');
const sfn = stepFunctions();
const deps: LedgerDeps = {
  runs: new RunStore(dynamo(), requiredEnv(TABLES.runs.env)),
  locks: new StackLocks(dynamo(), requiredEnv(TABLES.runs.env)),
  registry: new EnvironmentWriter(dynamo(), requiredEnv(TABLES.environments.env)),
  callbacks: {
    secret: callbackSecret,
    attempts: Number(requiredEnv('TROPOS_CALLBACK_ATTEMPTS')),
    backoffMs: Number(requiredEnv('TROPOS_CALLBACK_BACKOFF_MS')),
    // Only the local control plane calls back to this machine (its receivers listen on loopback); on AWS a
    // loopback address is the Lambda's own host.
    allowLoopback: process.env.TROPOS_LOCAL === 'true',
  },
  // The function's own timeout: a claim older than that belongs to an invocation that has ended.
  claimStaleMs: Number(requiredEnv('TROPOS_LEDGER_TIMEOUT_SECONDS')) * 1000,
  installation: requiredEnv('TROPOS_INSTALLATION'),
  handovers: new HandoverStore(dynamo(), requiredEnv(TABLES.runs.env)),
  stopExecution: async (executionArn, error, cause) => {
    try {
      await sfn.send(new StopExecutionCommand({ executionArn, error, cause }));
    } catch (e) {
      // Stopped already (by the scheduler, or another build's end at the same moment).
      if ((e as Error).name !== 'ExecutionDoesNotExist') throw e;
    }
  },
};

/** Target of the EventBridge rules on execution status changes and build state changes. */
export const handler = middy(async (event: StateChangeEvent) => {
  const what = await recordStateChange(event, deps);
  logger.info('recorded', { detailType: event['detail-type'], what });
  return { recorded: what };
}).use(injectLambdaContext(logger));
