import { Duration, Stack } from 'aws-cdk-lib';
import * as codebuild from 'aws-cdk-lib/aws-codebuild';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as s3assets from 'aws-cdk-lib/aws-s3-assets';
import * as secrets from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { join } from 'node:path';
import { stagesOf, type TroposConfig } from '../config/schema';
import { fillPattern, pascalCase, physicalName } from '../domain/naming';
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
/**
 * How long a build may wait in CodeBuild's queue for a free slot (a drift sweep starts many builds; a new account's
 * concurrency is low) before CodeBuild gives up on it. The state machine's build tasks allow for it.
 */
export const QUEUED_MINUTES = 60;
/** The "Resolve stack" build's limit: a checkout and `atmos describe stacks` (or a folder listing). */
export const RESOLVE_MINUTES = 20;

/** What the runners run: every terraform command, and `resolve` (the stack from the repository, plan-kind). */
export const RUNNER_COMMANDS = [...TERRAFORM_COMMANDS, 'resolve'] as const;
export type RunnerCommand = (typeof RUNNER_COMMANDS)[number];

export interface TerraformRunnersProps {
  readonly config: TroposConfig;
  readonly catalog: Catalog;
  /** The plan artifacts bucket, encrypted with `artifactsKey`. */
  readonly artifacts: s3.IBucket;
  /** The customer-managed key of the artifacts bucket: its policy names the runner roles as its only users. */
  readonly artifactsKey: kms.Key;
}

/**
 * One CodeBuild project per terraform command, sharing two roles — plan-kind and apply-kind — so that each runs
 * with the least privilege it needs and the target accounts trust exactly two roles. A build reaches the state
 * backend (S3 and the lock table, in Tropos's account), the artifacts bucket and its key with its own role; only
 * terraform's providers act in the target account, through a profile that assumes the kind's role there and
 * refreshes its credentials itself (buildspecs/scripts/tropos-terraform.sh). All run `buildspecs/terraform.yml`.
 */
export class TerraformRunners extends Construct {
  public readonly projects: ReadonlyMap<RunnerCommand, codebuild.Project>;
  /** Each project's CloudWatch Logs group (the API reads build logs from them). */
  public readonly logGroups: readonly logs.LogGroup[];
  public readonly encryptionKey: kms.Key;
  /** The role of plan-kind builds: the target accounts' read-only role trusts it. */
  public readonly planRole: iam.Role;
  /** The role of apply-kind builds: the target accounts' deploy role trusts it. */
  public readonly applyRole: iam.Role;

  constructor(scope: Construct, id: string, props: TerraformRunnersProps) {
    super(scope, id);
    const { config } = props;
    const stack = Stack.of(this);
    this.encryptionKey = new kms.Key(this, 'Key', {
      enableKeyRotation: true,
      description: `${config.name} terraform runs: build cache`,
    });
    const source = new s3assets.Asset(this, 'Buildspecs', { path: join(__dirname, '..', '..', 'buildspecs') });
    const token = config.infrastructure.tokenSecretName
      ? secrets.Secret.fromSecretNameV2(this, 'InfraToken', config.infrastructure.tokenSecretName)
      : undefined;
    const longest = Math.max(config.terraform.timeoutMinutes, props.catalog.longestTimeoutMinutes);

    // Fixed names: a target account's trust policy names them before Tropos is deployed (TargetAccountRolesStack).
    const role = (kind: 'plan' | 'apply') =>
      new iam.Role(this, kind === 'plan' ? 'PlanRole' : 'ApplyRole', {
        roleName: runnerRoleName(config, kind),
        assumedBy: new iam.ServicePrincipal('codebuild.amazonaws.com'),
        description: `${config.name}: ${kind}-kind terraform builds (they assume ${kind === 'plan' ? config.roles.plan : config.roles.apply} in the target accounts)`,
      });
    this.planRole = role('plan');
    this.applyRole = role('apply');
    for (const [kind, r] of [
      ['plan', this.planRole],
      ['apply', this.applyRole],
    ] as const) {
      const target = kind === 'plan' ? config.roles.plan : config.roles.apply;
      // Only this kind's role, only in the configured accounts.
      r.addToPrincipalPolicy(
        new iam.PolicyStatement({
          actions: ['sts:AssumeRole', 'sts:TagSession'],
          resources: Object.values(config.accounts).map((a) => `arn:${stack.partition}:iam::${a.id}:role/${target}`),
        }),
      );
      for (const statement of stateBackendAccess(config, stack, kind)) r.addToPrincipalPolicy(statement);
      token?.grantRead(r);
    }
    // Plans are written by plan-kind builds and read by apply-kind builds, under runs/ of the artifacts bucket.
    props.artifacts.grantPut(this.planRole, 'runs/*');
    props.artifacts.grantRead(this.planRole, 'runs/*');
    props.artifacts.grantRead(this.applyRole, 'runs/*');
    props.artifactsKey.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'RunnersWritePlans',
        principals: [this.planRole],
        actions: ['kms:Encrypt', 'kms:GenerateDataKey*', 'kms:Decrypt'],
        resources: ['*'],
      }),
    );
    props.artifactsKey.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'RunnersReadPlans',
        principals: [this.applyRole],
        actions: ['kms:Decrypt'],
        resources: ['*'],
      }),
    );

    const projects = new Map<RunnerCommand, codebuild.Project>();
    const logGroups: logs.LogGroup[] = [];
    for (const command of RUNNER_COMMANDS) {
      const applyKind = APPLY_KIND.has(command as TerraformCommand);
      const roleName = applyKind ? config.roles.apply : config.roles.plan;
      const logGroup = new logs.LogGroup(this, `${pascalCase(command)}Logs`, {
        retention: logs.RetentionDays.SIX_MONTHS,
      });
      logGroups.push(logGroup);
      const text = (value: string) => ({ type: codebuild.BuildEnvironmentVariableType.PLAINTEXT, value });
      const env: Record<string, codebuild.BuildEnvironmentVariable> = {
        TROPOS_COMMAND: text(command),
        TROPOS_ENGINE: text(config.engine),
        TROPOS_ROLE_NAME: text(roleName),
        TROPOS_LOCKING: text(config.stateBackend.locking),
        TROPOS_LOCK_TIMEOUT: text(config.terraform.lockTimeout),
        // The state backend lives in Tropos's region (seed 001), whatever the environment's region.
        TROPOS_BACKEND_REGION: text(config.region),
        TROPOS_ARTIFACTS_BUCKET: text(props.artifacts.bucketName),
        TROPOS_INFRA_URL: text(config.infrastructure.repositoryUrl),
        TROPOS_INFRA_REF: text(config.infrastructure.ref),
        // How the repository names the accounts' stacks (vars.stage), and the namespace Tropos runs.
        TROPOS_STAGES: text(JSON.stringify(stagesOf(config.accounts))),
        TROPOS_NAMESPACE: text(config.infrastructure.namespace ?? ''),
        TROPOS_REQUIRED_TAGS: text(config.tagsPolicy.required.join(',')),
        TROPOS_COMPLIANCE: text(
          JSON.stringify({
            requiredTags: config.tagsPolicy.required,
            unknown: config.compliance.unknown,
            rules: config.compliance.rules,
          }),
        ),
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

      const project = new codebuild.Project(this, pascalCase(command), {
        projectName: physicalName(config.name, `terraform-${command}`),
        description:
          command === 'resolve'
            ? "Tropos: resolves a run's stack from the infrastructure repository (components, dependencies, commit)"
            : `Tropos: terraform ${command} (${applyKind ? 'deploy' : 'read-only'} role ${roleName} in the target account)`,
        source: codebuild.Source.s3({ bucket: source.bucket, path: source.s3ObjectKey }),
        buildSpec: codebuild.BuildSpec.fromSourceFilename('terraform.yml'),
        role: applyKind ? this.applyRole : this.planRole,
        environment: {
          buildImage: codebuild.LinuxBuildImage.STANDARD_7_0,
          computeType: codebuild.ComputeType.SMALL,
          privileged: false,
          environmentVariables: env,
        },
        cache: codebuild.Cache.local(codebuild.LocalCacheMode.CUSTOM, codebuild.LocalCacheMode.SOURCE),
        timeout: Duration.minutes(command === 'resolve' ? RESOLVE_MINUTES : longest),
        queuedTimeout: Duration.minutes(QUEUED_MINUTES),
        encryptionKey: this.encryptionKey,
        logging: { cloudWatch: { logGroup } },
      });
      projects.set(command, project);
    }
    this.projects = projects;
    this.logGroups = logGroups;
  }

  public project(command: RunnerCommand): codebuild.Project {
    const p = this.projects.get(command);
    if (!p) throw new Error(`no terraform runner for command "${command}"; allowed: ${RUNNER_COMMANDS.join(', ')}`);
    return p;
  }
}

/** The fixed name of a kind's runner role: `<installation>-runner-plan` / `-apply`. */
export function runnerRoleName(config: Pick<TroposConfig, 'name'>, kind: 'plan' | 'apply'): string {
  return physicalName(config.name, `runner-${kind}`);
}

/**
 * What a kind of build may do on the state backends the configuration declares (bucket and lock-table name
 * patterns; `{tenant}` and the others stand for any value): read state (and its versions), and take locks — in the
 * lock table or as `<key>.tflock` objects. Apply-kind builds also write state.
 */
function stateBackendAccess(config: TroposConfig, stack: Stack, kind: 'plan' | 'apply'): iam.PolicyStatement[] {
  const any = { tenant: '*', account: '*', environment: '*', region: '*', awsAccountId: stack.account };
  const bucket = `arn:${stack.partition}:s3:::${fillPattern(config.stateBackend.bucket, any)}`;
  const table = stack.formatArn({
    service: 'dynamodb',
    resource: 'table',
    resourceName: fillPattern(config.stateBackend.lockTable, any),
  });
  const statements = [
    new iam.PolicyStatement({
      actions: ['s3:ListBucket', 's3:ListBucketVersions', 's3:GetBucketVersioning'],
      resources: [bucket],
    }),
    new iam.PolicyStatement({ actions: ['s3:GetObject', 's3:GetObjectVersion'], resources: [`${bucket}/*`] }),
    // Locks: S3 native locking writes `<key>.tflock`; DynamoDB locking an item per state.
    new iam.PolicyStatement({ actions: ['s3:PutObject', 's3:DeleteObject'], resources: [`${bucket}/*.tflock`] }),
    new iam.PolicyStatement({
      actions: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:DeleteItem', 'dynamodb:DescribeTable'],
      resources: [table],
    }),
  ];
  if (kind === 'apply')
    statements.push(
      new iam.PolicyStatement({ actions: ['s3:PutObject', 's3:DeleteObject'], resources: [`${bucket}/*`] }),
    );
  return statements;
}
