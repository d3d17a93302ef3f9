import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { TABLES } from '../../lib/records/environment';
import { EnvironmentWriter } from '../../lib/records/environment-store';
import { RunStore } from '../../lib/records/run-store';
import { resolvedKey, type BuildTimeouts } from '../../lib/domain/resolved';
import { bundled, createLogger, dynamo, requiredEnv, stepFunctions } from '../shared/runtime';
import { StepFunctionsTokens } from '../shared/task-tokens';
import { StopExecutionCommand } from '@aws-sdk/client-sfn';
import { ComponentGraph, GraphRequest, ResolvedSource } from './core';
import { DynamoPoolStore } from './dynamo-store';
import type { OrderSender, WorkerOrder } from './scheduler';

const logger = createLogger('component-graph');
const table = requiredEnv(TABLES.runs.env);
const sfn = stepFunctions();
const tokens = new StepFunctionsTokens(sfn);

/** Answers a worker; a token Step Functions no longer knows (its execution ended) is said, not thrown. */
const sender: OrderSender = {
  async send(token: string, order: WorkerOrder): Promise<boolean> {
    try {
      await tokens.succeed(token, order);
      return true;
    } catch (e) {
      const name = (e as Error).name;
      if (name === 'TaskTimedOut' || name === 'InvalidToken' || name === 'TaskDoesNotExist') return false;
      throw e;
    }
  },
};

/** What the resolve build stored, from the artifacts bucket. */
const s3 = new S3Client({});
const source: ResolvedSource = {
  async read(runId: string): Promise<unknown> {
    const bucket = requiredEnv('TROPOS_ARTIFACTS_BUCKET');
    const key = resolvedKey(runId);
    let text: string;
    try {
      const out = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      text = (await out.Body?.transformToString('utf8')) ?? '';
    } catch (e) {
      throw new Error(`cannot read the resolved stack s3://${bucket}/${key}: ${(e as Error).message}`);
    }
    try {
      return JSON.parse(text) as unknown;
    } catch (e) {
      throw new Error(`s3://${bucket}/${key} is not JSON: ${(e as Error).message}`);
    }
  },
};

const db = dynamo();
const graph = new ComponentGraph(
  new DynamoPoolStore(db, table),
  sender,
  new RunStore(db, table),
  source,
  new EnvironmentWriter(db, requiredEnv(TABLES.environments.env)),
  undefined,
  bundled<BuildTimeouts>('timeouts'),
  async (executionArn, error, cause) => {
    try {
      await sfn.send(new StopExecutionCommand({ executionArn, error, cause }));
    } catch (e) {
      // Stopped already (another worker's last build ended at the same moment): nothing to do.
      if ((e as Error).name !== 'ExecutionDoesNotExist') throw e;
    }
  },
);

/** The stack a run resolved, and the worker pools of its terraform steps. */
export const handler = middy(async (event: GraphRequest): Promise<unknown> => {
  logger.info('component graph', {
    action: event.action,
    step: 'step' in event ? event.step : undefined,
    component: 'component' in event ? event.component : 'finished' in event ? event.finished : undefined,
  });
  return graph.handle(event);
}).use(injectLambdaContext(logger));
