import { type AwsEnv, type IamRequest, iamRequestsOfOperation, UnmappedAwsCallError } from './sdk-actions';

/**
 * What a state machine's role must be allowed for a Task state to run, from the state's `Resource` and its
 * effective parameters (the input the engine hands the task: `Parameters` with every `<field>.$` path resolved),
 * following "IAM policies for integrated services" of the Step Functions developer guide:
 *
 * - a Lambda ARN as Resource, or `lambda:invoke` (any pattern): lambda:InvokeFunction on the function (its ARN,
 *   with `:<qualifier>` when FunctionName has one; CDK grants `<arn>` and `<arn>:*`);
 * - `codebuild:startBuild`: codebuild:StartBuild on the project; `.sync` adds codebuild:StopBuild and
 *   codebuild:BatchGetBuilds on the project, and events:PutTargets, events:PutRule, events:DescribeRule on
 *   `rule/StepFunctionsGetEventForCodeBuildStartBuildRule` (the managed rule Step Functions watches builds with);
 * - `states:startExecution`: states:StartExecution on the state machine; `.sync` and `.sync:2` add
 *   states:DescribeExecution and states:StopExecution on the execution (`execution:<machine>:<name>`, the name
 *   `*` when the parameters give none) and the events actions on
 *   `rule/StepFunctionsGetEventsForStepFunctionsExecutionRule`;
 * - `sns:publish`, `sqs:sendMessage`, `dynamodb:getItem|putItem|updateItem|deleteItem`, `events:putEvents`: the API
 *   action on the topic, queue, table or bus;
 * - `aws-sdk:<service>:<action>`: the IAM action(s) of that API operation, as for an SDK call (sdk-actions.ts:
 *   S3's irregular names such as putBucketEncryption → s3:PutEncryptionConfiguration included).
 *
 * Anything else throws UnmappedAwsCallError.
 */

type Params = Record<string, unknown>;

/** Step Functions' aws-sdk service names that are not IAM prefixes. */
const SDK_INTEGRATION_PREFIXES: Readonly<Record<string, string>> = {
  sfn: 'states',
  cloudwatchlogs: 'logs',
  eventbridge: 'events',
};

const INTEGRATION = /^arn:([^:]+):states:::([^:]+):([^.]+)(?:\.(sync(?::2)?|waitForTaskToken))?$/;

/** A parameter the effective input must hold: throws for a path not yet resolved, or a missing one. */
function field(params: Params, name: string, resource: string): string {
  const value = params[name];
  if (typeof value === 'string' && value !== '') return value;
  if (`${name}.$` in params)
    throw new UnmappedAwsCallError(`${resource}: ${name}.$ is a path; resolve the parameters first`);
  throw new UnmappedAwsCallError(`${resource}: the parameters have no ${name}`);
}

const events = (env: AwsEnv, rule: string): IamRequest[] =>
  ['events:PutTargets', 'events:PutRule', 'events:DescribeRule'].map((action) => ({
    action,
    resource: `arn:${env.partition}:events:${env.region}:${env.account}:rule/${rule}`,
  }));

function lambdaInvoke(functionName: string, env: AwsEnv): IamRequest[] {
  return iamRequestsOfOperation('lambda', 'Invoke', { FunctionName: functionName }, env);
}

/** The IAM requests a Task state makes of its state machine's role. */
export function integrationRequestsOf(resource: string, parameters: Params | undefined, env: AwsEnv): IamRequest[] {
  const params = parameters ?? {};
  if (/^arn:[^:]+:lambda:[^:]+:\d{12}:function:/.test(resource)) return lambdaInvoke(resource, env);
  const m = INTEGRATION.exec(resource);
  if (!m) throw new UnmappedAwsCallError(`no IAM mapping for the task resource ${resource}`);
  const [, , service, action, pattern] = m as unknown as [string, string, string, string, string | undefined];
  const sync = pattern === 'sync' || pattern === 'sync:2';

  if (service === 'aws-sdk') {
    const [sdkService, sdkAction] = action.split(':') as [string, string | undefined];
    if (!sdkAction || sync) throw new UnmappedAwsCallError(`no IAM mapping for the task resource ${resource}`);
    // Any parameter may name the resource: every one must be resolved.
    const path = Object.keys(params).find((k) => k.endsWith('.$'));
    if (path) throw new UnmappedAwsCallError(`${resource}: ${path} is a path; resolve the parameters first`);
    const prefix = SDK_INTEGRATION_PREFIXES[sdkService] ?? sdkService;
    return iamRequestsOfOperation(prefix, sdkAction, params, env);
  }

  switch (`${service}:${action}`) {
    case 'lambda:invoke':
      if (sync) break;
      return lambdaInvoke(field(params, 'FunctionName', resource), env);
    case 'codebuild:startBuild': {
      const project = { projectName: field(params, 'ProjectName', resource) };
      if (!sync) return iamRequestsOfOperation('codebuild', 'StartBuild', project, env);
      return [
        ...['StartBuild', 'StopBuild', 'BatchGetBuilds'].flatMap((op) =>
          iamRequestsOfOperation('codebuild', op, project, env),
        ),
        ...events(env, 'StepFunctionsGetEventForCodeBuildStartBuildRule'),
      ];
    }
    case 'states:startExecution': {
      const machine = field(params, 'StateMachineArn', resource);
      const start = iamRequestsOfOperation('states', 'StartExecution', { stateMachineArn: machine }, env);
      if (!sync) return start;
      const name = typeof params.Name === 'string' ? params.Name : '*';
      const executionArn = machine.replace(/:stateMachine:([^:]+)(?::[^:]+)?$/, `:execution:$1:${name}`);
      return [
        ...start,
        ...['DescribeExecution', 'StopExecution'].flatMap((op) =>
          iamRequestsOfOperation('states', op, { executionArn }, env),
        ),
        ...events(env, 'StepFunctionsGetEventsForStepFunctionsExecutionRule'),
      ];
    }
    case 'sns:publish':
      if (sync) break;
      return iamRequestsOfOperation('sns', 'Publish', { TopicArn: field(params, 'TopicArn', resource) }, env);
    case 'sqs:sendMessage':
      if (sync) break;
      return iamRequestsOfOperation('sqs', 'SendMessage', { QueueUrl: field(params, 'QueueUrl', resource) }, env);
    case 'dynamodb:getItem':
    case 'dynamodb:putItem':
    case 'dynamodb:updateItem':
    case 'dynamodb:deleteItem':
      if (pattern) break;
      return iamRequestsOfOperation('dynamodb', action, { TableName: field(params, 'TableName', resource) }, env);
    case 'events:putEvents':
      if (sync) break;
      return iamRequestsOfOperation('events', 'PutEvents', params, env);
    default:
      break;
  }
  throw new UnmappedAwsCallError(`no IAM mapping for the task resource ${resource}`);
}

/**
 * Parameters with every `<field>.$` replaced by `<field>` and a sample value (`sample(path, field)`), nested objects
 * and arrays included: for checking a definition's tasks without running it.
 */
export function withSampleValues(parameters: unknown, sample: (path: string, field: string) => unknown): Params {
  const walk = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(walk);
    if (value === null || typeof value !== 'object') return value;
    return Object.fromEntries(
      Object.entries(value as Params).map(([k, v]) =>
        k.endsWith('.$') && typeof v === 'string' ? [k.slice(0, -2), sample(v, k.slice(0, -2))] : [k, walk(v)],
      ),
    );
  };
  return (walk(parameters ?? {}) as Params) ?? {};
}
