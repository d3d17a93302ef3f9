import { CreateTableCommand, type DynamoDBClient, ResourceInUseException } from '@aws-sdk/client-dynamodb';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TaskError, type SdkTask } from './engine';

/**
 * The AWS SDK integrations the definitions use (bootstrap-backend's S3 bucket and DynamoDB lock table), locally:
 * DynamoDB calls go to the local DynamoDB server; S3 buckets are folders under .tropos/s3 with their settings.
 * Errors carry the names Step Functions gives them (`S3.BucketAlreadyOwnedByYouException`, ...).
 */
export function localSdk(dataDir: string, dynamo: DynamoDBClient): SdkTask {
  const bucketDir = (bucket: string) => join(dataDir, 's3', bucket);
  const settings = (bucket: string) => join(bucketDir(bucket), '.bucket.json');
  const update = (bucket: string, key: string, value: unknown) => {
    if (!existsSync(settings(bucket)))
      throw new TaskError('S3.NoSuchBucketException', `The specified bucket does not exist: ${bucket}`);
    const current = JSON.parse(readFileSync(settings(bucket), 'utf8')) as Record<string, unknown>;
    writeFileSync(settings(bucket), JSON.stringify({ ...current, [key]: value }, null, 2));
    return {};
  };
  return async (service, action, p) => {
    const bucket = String(p.Bucket ?? '');
    switch (`${service}:${action}`) {
      case 's3:createBucket':
        if (existsSync(settings(bucket)))
          throw new TaskError(
            'S3.BucketAlreadyOwnedByYouException',
            `Your previous request to create the named bucket succeeded and you already own it: ${bucket}`,
          );
        mkdirSync(bucketDir(bucket), { recursive: true });
        writeFileSync(
          settings(bucket),
          JSON.stringify(
            { createdAt: new Date().toISOString(), location: p.CreateBucketConfiguration ?? null },
            null,
            2,
          ),
        );
        return { Location: `/${bucket}` };
      case 's3:putBucketVersioning':
        return update(bucket, 'versioning', p.VersioningConfiguration);
      case 's3:putBucketEncryption':
        return update(bucket, 'encryption', p.ServerSideEncryptionConfiguration);
      case 's3:putPublicAccessBlock':
        return update(bucket, 'publicAccessBlock', p.PublicAccessBlockConfiguration);
      case 's3:putBucketLifecycleConfiguration':
        return update(bucket, 'lifecycle', p.LifecycleConfiguration);
      case 's3:putBucketPolicy':
        return update(bucket, 'policy', JSON.parse(String(p.Policy)));
      case 'dynamodb:createTable':
        try {
          return await dynamo.send(new CreateTableCommand(p as never));
        } catch (e) {
          if (e instanceof ResourceInUseException) throw new TaskError('DynamoDb.ResourceInUseException', e.message);
          throw new TaskError(`DynamoDb.${(e as Error).name}`, (e as Error).message);
        }
      case 'dynamodb:updateContinuousBackups':
        // The local DynamoDB server has no backups: recorded as asked.
        return {
          ContinuousBackupsDescription: {
            ContinuousBackupsStatus: 'ENABLED',
            PointInTimeRecoveryDescription: { PointInTimeRecoveryStatus: 'ENABLED' },
          },
        };
      default:
        throw new TaskError('States.Runtime', `the local engine does not implement aws-sdk:${service}:${action}`);
    }
  };
}

/** How long the local servers keep an idle connection: longer than any client here keeps one. */
export const KEEP_ALIVE_MS = 65_000;
