import { Duration, Stack } from 'aws-cdk-lib';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import type { TroposConfig } from '../config/schema';
import { fillPattern } from '../domain/naming';
import { resultPath } from './names';

const TIMEOUT = sfn.Timeout.duration(Duration.minutes(1));

/**
 * The `state-backend` step: the seeds' bootstrap (S3 bucket + DynamoDB lock table) as direct service
 * integrations, no code. Idempotent: an existing bucket or table is kept and its settings are applied again.
 * Runs in the account and region Tropos is deployed to (seed 001: the shared account hosts the backend).
 */
export function compileStateBackend(scope: Construct, config: TroposConfig): sfn.IChainable {
  const stack = Stack.of(scope);
  const names = { tenant: '*', awsAccountId: stack.account };
  const bucketArn = `arn:${stack.partition}:s3:::${fillPattern(config.stateBackend.bucket, names)}`;
  const tableArn = stack.formatArn({
    service: 'dynamodb',
    resource: 'table',
    resourceName: fillPattern(config.stateBackend.lockTable, names),
  });
  const bucket = { 'Bucket.$': '$.context.stateBucket' };

  const s3 = (name: string, action: string, parameters: Record<string, unknown>) =>
    new tasks.CallAwsService(scope, name, {
      service: 's3',
      action,
      parameters: { ...bucket, ...parameters },
      iamResources: [bucketArn],
      iamAction: `s3:${iamActionOf(action)}`,
      resultPath: sfn.JsonPath.DISCARD,
      taskTimeout: TIMEOUT,
    });

  const create = new tasks.CallAwsService(scope, 'Create state bucket', {
    service: 's3',
    action: 'createBucket',
    parameters: {
      ...bucket,
      ...(config.region === 'us-east-1' ? {} : { CreateBucketConfiguration: { LocationConstraint: config.region } }),
    },
    iamResources: [bucketArn],
    resultPath: sfn.JsonPath.DISCARD,
    taskTimeout: TIMEOUT,
  });
  const versioning = s3('Enable state bucket versioning', 'putBucketVersioning', {
    VersioningConfiguration: { Status: 'Enabled' },
  });
  create.addCatch(versioning, { errors: ['S3.BucketAlreadyOwnedByYouException'], resultPath: sfn.JsonPath.DISCARD });

  const encryption = s3('Encrypt state bucket', 'putBucketEncryption', {
    ServerSideEncryptionConfiguration: {
      Rules: [{ ApplyServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms' }, BucketKeyEnabled: true }],
    },
  });
  const publicAccess = s3('Block public access to state bucket', 'putPublicAccessBlock', {
    PublicAccessBlockConfiguration: {
      BlockPublicAcls: true,
      IgnorePublicAcls: true,
      BlockPublicPolicy: true,
      RestrictPublicBuckets: true,
    },
  });
  const lifecycle = s3('Expire old state versions', 'putBucketLifecycleConfiguration', {
    LifecycleConfiguration: {
      Rules: [
        {
          ID: 'expire-noncurrent-state',
          Status: 'Enabled',
          Filter: { Prefix: '' },
          NoncurrentVersionExpiration: { NoncurrentDays: 90 },
        },
      ],
    },
  });
  const policy = new sfn.Pass(scope, 'State bucket policy', {
    parameters: {
      Version: '2012-10-17',
      Statement: [
        {
          Sid: 'DenyInsecureTransport',
          Effect: 'Deny',
          Principal: '*',
          Action: 's3:*',
          'Resource.$':
            "States.Array(States.Format('arn:aws:s3:::{}', $.context.stateBucket), States.Format('arn:aws:s3:::{}/*', $.context.stateBucket))",
          Condition: { Bool: { 'aws:SecureTransport': 'false' } },
        },
      ],
    },
    resultPath: '$.backendPolicy',
  });
  const tls = s3('Require TLS for state bucket', 'putBucketPolicy', {
    'Policy.$': 'States.JsonToString($.backendPolicy)',
  });

  const chain = sfn.Chain.start(create)
    .next(versioning)
    .next(encryption)
    .next(publicAccess)
    .next(lifecycle)
    .next(policy)
    .next(tls);

  const ready = new sfn.Pass(scope, 'State backend ready', {
    parameters: {
      'bucket.$': '$.context.stateBucket',
      'lockTable.$':
        config.stateBackend.locking === 'dynamodb' ? '$.context.lockTable' : "States.Format('none: S3 native locking')",
      locking: config.stateBackend.locking,
    },
    resultPath: resultPath('create-backend'),
  });
  if (config.stateBackend.locking !== 'dynamodb') return chain.next(ready);

  const table = { 'TableName.$': '$.context.lockTable' };
  const createTable = new tasks.CallAwsService(scope, 'Create lock table', {
    service: 'dynamodb',
    action: 'createTable',
    parameters: {
      ...table,
      AttributeDefinitions: [{ AttributeName: 'LockID', AttributeType: 'S' }],
      KeySchema: [{ AttributeName: 'LockID', KeyType: 'HASH' }],
      BillingMode: 'PAY_PER_REQUEST',
      SSESpecification: { Enabled: true },
    },
    iamResources: [tableArn],
    resultPath: sfn.JsonPath.DISCARD,
    taskTimeout: TIMEOUT,
  });
  const pitr = new tasks.CallAwsService(scope, 'Enable lock table recovery', {
    service: 'dynamodb',
    action: 'updateContinuousBackups',
    parameters: { ...table, PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true } },
    iamResources: [tableArn],
    resultPath: sfn.JsonPath.DISCARD,
    taskTimeout: TIMEOUT,
  });
  // A new table takes a few seconds to become ACTIVE; until then this call fails.
  pitr.addRetry({
    errors: ['DynamoDb.TableNotFoundException', 'DynamoDb.ContinuousBackupsUnavailableException'],
    interval: Duration.seconds(5),
    maxAttempts: 12,
    backoffRate: 1.5,
  });
  createTable.addCatch(pitr, { errors: ['DynamoDb.ResourceInUseException'], resultPath: sfn.JsonPath.DISCARD });
  return chain.next(createTable.next(pitr)).next(ready);
}

/** `putBucketVersioning` → `PutBucketVersioning`; the IAM action names of these calls differ. */
function iamActionOf(action: string): string {
  const special: Record<string, string> = {
    putBucketEncryption: 'PutEncryptionConfiguration',
    putPublicAccessBlock: 'PutBucketPublicAccessBlock',
    putBucketLifecycleConfiguration: 'PutLifecycleConfiguration',
  };
  return special[action] ?? action.charAt(0).toUpperCase() + action.slice(1);
}
