import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';

export interface ArtifactsBucketProps {
  /**
   * Days after which old versions of plan files are deleted.
   * @default 90
   */
  readonly noncurrentVersionDays?: number;
}

/**
 * Where terraform runs keep their plan files, plan JSON and text renderings, under `runs/<runId>/<step>/<component>/`.
 * Versioned, encrypted with a customer-managed key, public access blocked, TLS only, with access logs. The key's
 * policy lets the account administer it but names its users one by one (`key.addToResourcePolicy`, by the runners):
 * no IAM policy alone can read a plan.
 */
export class ArtifactsBucket extends Construct {
  public readonly bucket: s3.Bucket;
  public readonly accessLogs: s3.Bucket;
  public readonly key: kms.Key;

  constructor(scope: Construct, id: string, props: ArtifactsBucketProps = {}) {
    super(scope, id);
    const account = new iam.AccountRootPrincipal();
    this.key = new kms.Key(this, 'Key', {
      enableKeyRotation: true,
      description: 'Tropos plan artifacts (plan files, their JSON and text)',
      removalPolicy: RemovalPolicy.RETAIN,
      policy: new iam.PolicyDocument({
        statements: [
          new iam.PolicyStatement({
            sid: 'AccountAdministersTheKey',
            principals: [account],
            // Administration only: using the key (Encrypt, Decrypt, GenerateDataKey) is granted by name.
            actions: [
              'kms:Create*',
              'kms:Describe*',
              'kms:Enable*',
              'kms:List*',
              'kms:Put*',
              'kms:Update*',
              'kms:Revoke*',
              'kms:Disable*',
              'kms:Get*',
              'kms:Delete*',
              'kms:TagResource',
              'kms:UntagResource',
              'kms:ScheduleKeyDeletion',
              'kms:CancelKeyDeletion',
            ],
            resources: ['*'],
          }),
        ],
      }),
    });
    const secure = {
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      versioned: true,
      removalPolicy: RemovalPolicy.RETAIN,
    };
    this.accessLogs = new s3.Bucket(this, 'AccessLogs', {
      ...secure,
      lifecycleRules: [{ expiration: Duration.days(365), noncurrentVersionExpiration: Duration.days(30) }],
    });
    this.bucket = new s3.Bucket(this, 'Resource', {
      ...secure,
      encryption: s3.BucketEncryption.KMS,
      encryptionKey: this.key,
      bucketKeyEnabled: true,
      serverAccessLogsBucket: this.accessLogs,
      serverAccessLogsPrefix: 'artifacts/',
      lifecycleRules: [{ noncurrentVersionExpiration: Duration.days(props.noncurrentVersionDays ?? 90) }],
    });
  }
}
