import { Duration, RemovalPolicy } from 'aws-cdk-lib';
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
 * Versioned, encrypted, public access blocked, TLS only, with access logs.
 */
export class ArtifactsBucket extends Construct {
  public readonly bucket: s3.Bucket;
  public readonly accessLogs: s3.Bucket;

  constructor(scope: Construct, id: string, props: ArtifactsBucketProps = {}) {
    super(scope, id);
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
      serverAccessLogsBucket: this.accessLogs,
      serverAccessLogsPrefix: 'artifacts/',
      lifecycleRules: [{ noncurrentVersionExpiration: Duration.days(props.noncurrentVersionDays ?? 90) }],
    });
  }
}
