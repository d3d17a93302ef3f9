import { Duration } from 'aws-cdk-lib';
import * as codebuild from 'aws-cdk-lib/aws-codebuild';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as s3assets from 'aws-cdk-lib/aws-s3-assets';
import * as secrets from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { join } from 'node:path';
import type { TroposConfig } from '../config/schema';
import type { Catalog } from '../workflow/catalog';
import { TERRAFORM_COMMANDS, TerraformCommand } from '../workflow/schema';

/** Commands that change infrastructure or state: they run with the deploy role. The rest get the read-only role. */
export const APPLY_KIND: ReadonlySet<TerraformCommand> = new Set([
  'apply',
  'destroy',
  'import',
  'state-repair',
  'generate-config',
]);
/** Commands that save plan files to the artifacts bucket, and those that read them back. */
const WRITES_PLANS: ReadonlySet<TerraformCommand> = new Set(['plan', 'plan-destroy', 'drift']);
const READS_PLANS: ReadonlySet<TerraformCommand> = new Set(['apply', 'destroy']);

export interface TerraformRunnersProps {
  readonly config: TroposConfig;
  readonly catalog: Catalog;
  readonly artifacts: s3.IBucket;
}

/**
 * One CodeBuild project per terraform command, so that each runs with the least privilege it needs: plan-kind
 * projects may only assume the read-only role in the target accounts, apply-kind projects the deploy role.
 * All run `buildspecs/terraform.yml` with the scripts beside it.
 */
export class TerraformRunners extends Construct {
  public readonly projects: ReadonlyMap<TerraformCommand, codebuild.Project>;
  public readonly encryptionKey: kms.Key;

  constructor(scope: Construct, id: string, props: TerraformRunnersProps) {
    super(scope, id);
    const { config } = props;
    this.encryptionKey = new kms.Key(this, 'Key', {
      enableKeyRotation: true,
      description: 'Tropos terraform runs: build artifacts and logs',
    });
    const source = new s3assets.Asset(this, 'Buildspecs', { path: join(__dirname, '..', '..', 'buildspecs') });
    const token = config.infrastructure.tokenSecretName
      ? secrets.Secret.fromSecretNameV2(this, 'InfraToken', config.infrastructure.tokenSecretName)
      : undefined;
    const longest = Math.max(
      config.terraform.timeoutMinutes,
      ...[...props.catalog.components.values()].map((c) => c.timeoutMinutes ?? 0),
    );

    const projects = new Map<TerraformCommand, codebuild.Project>();
    for (const command of TERRAFORM_COMMANDS) {
      const applyKind = APPLY_KIND.has(command);
      const roleName = applyKind ? config.roles.apply : config.roles.plan;
      const logGroup = new logs.LogGroup(this, `${pascal(command)}Logs`, { retention: logs.RetentionDays.SIX_MONTHS });
      const text = (value: string) => ({ type: codebuild.BuildEnvironmentVariableType.PLAINTEXT, value });
      const env: Record<string, codebuild.BuildEnvironmentVariable> = {
        TROPOS_COMMAND: text(command),
        TROPOS_ENGINE: text(config.engine),
        TROPOS_ROLE_NAME: text(roleName),
        TROPOS_LOCKING: text(config.stateBackend.locking),
        TROPOS_ARTIFACTS_BUCKET: text(props.artifacts.bucketName),
        TROPOS_INFRA_URL: text(config.infrastructure.repositoryUrl),
        TROPOS_INFRA_REF: text(config.infrastructure.ref),
        TROPOS_REQUIRED_TAGS: text(config.tagsPolicy.required.join(',')),
        TERRAFORM_VERSION: text(config.tools.terraform.version),
        TERRAFORM_SHA256: text(config.tools.terraform.sha256 ?? ''),
        ATMOS_VERSION: text(config.tools.atmos?.version ?? ''),
        ATMOS_SHA256: text(config.tools.atmos?.sha256 ?? ''),
      };
      if (token)
        env.TROPOS_INFRA_TOKEN = {
          type: codebuild.BuildEnvironmentVariableType.SECRETS_MANAGER,
          value: token.secretName,
        };

      const project = new codebuild.Project(this, pascal(command), {
        projectName: `tropos-terraform-${command}`,
        description: `Tropos: terraform ${command} (${applyKind ? 'deploy' : 'read-only'} role ${roleName} in the target account)`,
        source: codebuild.Source.s3({ bucket: source.bucket, path: source.s3ObjectKey }),
        buildSpec: codebuild.BuildSpec.fromSourceFilename('terraform.yml'),
        environment: {
          buildImage: codebuild.LinuxBuildImage.STANDARD_7_0,
          computeType: codebuild.ComputeType.SMALL,
          privileged: false,
          environmentVariables: env,
        },
        cache: codebuild.Cache.local(codebuild.LocalCacheMode.CUSTOM, codebuild.LocalCacheMode.SOURCE),
        timeout: Duration.minutes(longest),
        encryptionKey: this.encryptionKey,
        logging: { cloudWatch: { logGroup } },
      });
      // Least privilege: only this kind's role, only in the configured accounts.
      project.addToRolePolicy(
        new iam.PolicyStatement({
          actions: ['sts:AssumeRole'],
          resources: Object.values(config.accounts).map((a) => `arn:aws:iam::${a.id}:role/${roleName}`),
        }),
      );
      if (WRITES_PLANS.has(command)) props.artifacts.grantPut(project, 'runs/*');
      if (READS_PLANS.has(command)) props.artifacts.grantRead(project, 'runs/*');
      token?.grantRead(project);
      projects.set(command, project);
    }
    this.projects = projects;
  }

  public project(command: TerraformCommand): codebuild.Project {
    const p = this.projects.get(command);
    if (!p) throw new Error(`no terraform runner for command "${command}"; allowed: ${TERRAFORM_COMMANDS.join(', ')}`);
    return p;
  }
}

function pascal(s: string): string {
  return s.replace(/(^|-)([a-z])/g, (_, __, c: string) => c.toUpperCase());
}
