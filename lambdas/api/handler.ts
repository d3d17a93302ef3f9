import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { DescribeExecutionCommand, StartExecutionCommand, StopExecutionCommand } from '@aws-sdk/client-sfn';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { TABLES } from '../../lib/records/environment';
import { EnvironmentWriter, TicketStore } from '../../lib/records/environment-store';
import { ApprovalStore } from '../../lib/records/approval-store';
import { HandoverStore } from '../../lib/records/handover';
import { RunStore } from '../../lib/records/run-store';
import { StackLocks } from '../../lib/records/stack-lock';
import { StepFunctionsTokens } from '../shared/task-tokens';
import type { ValidatorSettings } from '../validate-input/core';
import { bundled, createLogger, dynamo, ownAccountId, requiredEnv, stepFunctions } from '../shared/runtime';
import { route, WorkflowEntry } from './core';
import { basePathOf } from './http';
import { cloudLogReader } from './logs';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { CodeBuildClient } from '@aws-sdk/client-codebuild';
import { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';

const logger = createLogger('api');
const sfn = stepFunctions();
const tokens = new StepFunctionsTokens(sfn);
const s3 = new S3Client({});
const deps = {
  runs: new RunStore(dynamo(), requiredEnv(TABLES.runs.env)),
  approvals: new ApprovalStore(dynamo(), requiredEnv(TABLES.runs.env)),
  answerTask: async (
    token: string,
    outcome: { ok: true; output: unknown } | { ok: false; error: string; cause: string },
  ) => (outcome.ok ? tokens.succeed(token, outcome.output) : tokens.fail(token, outcome.error, outcome.cause)),
  registry: new EnvironmentWriter(dynamo(), requiredEnv(TABLES.environments.env)),
  tickets: new TicketStore(dynamo(), requiredEnv(TABLES.environments.env)),
  handovers: new HandoverStore(dynamo(), requiredEnv(TABLES.runs.env)),
  driftSweepArn: process.env.TROPOS_DRIFT_SWEEP_ARN ?? '',
  settings: bundled<ValidatorSettings>('settings'),
  workflows: Object.fromEntries(
    Object.entries(bundled<Record<string, WorkflowEntry>>('workflows')).map(([name, w]) => [
      name,
      { ...w, stateMachineArn: `${requiredEnv('TROPOS_STATE_MACHINE_ARN_PREFIX')}${w.stateMachineName}` },
    ]),
  ),
  startExecution: async (stateMachineArn: string, name: string, input: Record<string, unknown>) => {
    const out = await sfn.send(new StartExecutionCommand({ stateMachineArn, name, input: JSON.stringify(input) }));
    return { executionArn: out.executionArn! };
  },
  stopExecution: async (executionArn: string, error: string, cause: string) => {
    await sfn.send(new StopExecutionCommand({ executionArn, error, cause }));
  },
  executionStatus: async (executionArn: string) => {
    try {
      return (await sfn.send(new DescribeExecutionCommand({ executionArn }))).status ?? 'UNKNOWN';
    } catch (e) {
      if ((e as Error).name === 'ExecutionDoesNotExist') return 'GONE';
      throw e;
    }
  },
  locks: new StackLocks(dynamo(), requiredEnv(TABLES.runs.env)),
  buildLog: cloudLogReader(new CodeBuildClient({}), new CloudWatchLogsClient({})),
  artifact: async (key: string) => {
    try {
      const out = await s3.send(new GetObjectCommand({ Bucket: requiredEnv('TROPOS_ARTIFACTS_BUCKET'), Key: key }));
      return (await out.Body?.transformToString('utf8')) ?? '';
    } catch (e) {
      if ((e as Error).name === 'NoSuchKey') return undefined;
      throw e;
    }
  },
};

/** API Gateway (REST, IAM-authorised) proxy handler; the local server calls it with the same event shape. */
export const handler = middy(
  async (event: APIGatewayProxyEvent, context: { invokedFunctionArn?: string }): Promise<APIGatewayProxyResult> => {
    const identity = event.requestContext?.identity?.userArn ?? event.requestContext?.identity?.user ?? 'anonymous';
    const res = await route(
      {
        method: event.httpMethod,
        path: event.path,
        query: event.queryStringParameters ?? {},
        headers: event.headers ?? {},
        body: event.isBase64Encoded && event.body ? Buffer.from(event.body, 'base64').toString('utf8') : event.body,
        identity,
        basePath: basePathOf(event.requestContext?.path, event.path),
      },
      { ...deps, settings: { ...deps.settings, awsAccountId: ownAccountId(context) } },
    );
    if (res.statusCode >= 500) logger.error('request failed', { path: event.path, status: res.statusCode });
    return {
      statusCode: res.statusCode,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(res.body),
    };
  },
).use(injectLambdaContext(logger));
