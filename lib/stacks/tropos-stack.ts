import { ArnFormat, CfnOutput, Duration, Stack, StackProps } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import { SqsDestination } from 'aws-cdk-lib/aws-lambda-destinations';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { ROUTES, type WorkflowEntry } from '../../lambdas/api/core';
import { pascalCase, stateMachineName } from '../domain/naming';
import { WorkflowCompiler } from '../compiler/compile';
import type { CompilerResources } from '../compiler/resources';
import type { TroposConfig } from '../config/schema';
import { ArtifactsBucket } from '../constructs/artifacts-bucket';
import { DeadLetters } from '../constructs/dead-letters';
import { DriftSweep } from '../constructs/drift-sweep';
import { HttpApi } from '../constructs/http-api';
import { TroposFunctions } from '../constructs/functions';
import { Records } from '../constructs/records';
import { TerraformRunners } from '../constructs/terraform-runners';
import { WorkflowStateMachine } from '../constructs/workflow-state-machine';
import type { Catalog } from '../workflow/catalog';
import { topologicalOrder } from '../workflow/graph';
import { allSteps, Workflow } from '../workflow/load';
import { workflowSpec } from '../workflow/spec';

export interface TroposStackProps extends StackProps {
  /** The validated configuration (`tropos.config.yaml`). */
  readonly config: TroposConfig;
  /** The component catalog (`catalog/components.yaml`). */
  readonly catalog: Catalog;
  /** Every workflow definition (`workflows/*.yaml`); each becomes one state machine. */
  readonly workflows: ReadonlyMap<string, Workflow>;
}

/** The whole of Tropos in one stack: records, artifacts, notifications, functions, runners, one state machine per workflow. */
export class TroposStack extends Stack {
  public readonly config: TroposConfig;
  public readonly records: Records;
  public readonly artifacts: ArtifactsBucket;
  public readonly notifications: sns.Topic;
  /** Encrypts the notifications topic; CloudWatch (alarms) may use it. */
  public readonly notificationsKey: kms.Key;
  /** Ledger events that could not be delivered to, or processed by, the run ledger. */
  public readonly ledgerDeadLetters: DeadLetters;
  public readonly functions: TroposFunctions;
  public readonly runners: TerraformRunners;
  public readonly stateMachines: ReadonlyMap<string, sfn.StateMachine>;
  /** Absent when the app has no drift-detection workflow (tests that compile a few workflows). */
  public readonly driftSweep?: DriftSweep;
  public readonly api: HttpApi;
  /** Signs the callbacks to ticketing systems (HMAC-SHA256). */
  public readonly callbackSecret: secretsmanager.ISecret;

  constructor(scope: Construct, id: string, props: TroposStackProps) {
    super(scope, id, { suppressTemplateIndentation: true, ...props });
    const { config, catalog, workflows } = props;
    this.config = config;

    this.records = new Records(this, 'Records');
    this.artifacts = new ArtifactsBucket(this, 'Artifacts');
    // A customer-managed key: CloudWatch alarms cannot publish to a topic encrypted with the aws/sns key.
    this.notificationsKey = new kms.Key(this, 'NotificationsKey', {
      enableKeyRotation: true,
      description: `${config.name}: encrypts the notifications topic (approvals, drift, alarms)`,
    });
    this.notificationsKey.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'CloudWatchAlarmsPublish',
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        resources: ['*'],
        conditions: { StringEquals: { 'aws:SourceAccount': this.account } },
      }),
    );
    this.notifications = new sns.Topic(this, 'Notifications', {
      displayName: 'Tropos',
      masterKey: this.notificationsKey,
      enforceSSL: true,
    });
    for (const email of config.notifications.emails)
      this.notifications.addSubscription(new subscriptions.EmailSubscription(email));
    this.callbackSecret = config.callbacks.secretName
      ? secretsmanager.Secret.fromSecretNameV2(this, 'CallbackSecret', config.callbacks.secretName)
      : new secretsmanager.Secret(this, 'CallbackSecret', {
          description: 'Tropos: HMAC-SHA256 key that signs callbacks to ticketing systems; share it with them',
          generateSecretString: { passwordLength: 48, excludePunctuation: true },
        });
    // What the API knows of each workflow (built into its bundle): how to validate its input, which state machine.
    const workflowEntries = Object.fromEntries(
      [...workflows.values()].map((wf) => {
        const first = wf.steps[0];
        const entry: WorkflowEntry = {
          spec: workflowSpec(wf),
          checks: first?.kind === 'validate' ? first.checks : [],
          stateMachineName: stateMachineName(config.name, wf.name),
        };
        return [wf.name, entry];
      }),
    );
    this.functions = new TroposFunctions(this, 'Functions', {
      config,
      catalog,
      records: this.records,
      notifications: this.notifications,
      callbackSecret: this.callbackSecret,
      workflowEntries,
      workflowNames: [...workflows.keys()],
    });
    this.runners = new TerraformRunners(this, 'Runners', {
      config,
      catalog,
      artifacts: this.artifacts.bucket,
      artifactsKey: this.artifacts.key,
    });
    // The scheduler reads each run's resolved stack, which the resolve build stores under runs/<runId>/resolve/.
    this.functions.componentGraph.addEnvironment('TROPOS_ARTIFACTS_BUCKET', this.artifacts.bucket.bucketName);
    this.functions.componentGraph.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['s3:GetObject'],
        resources: [this.artifacts.bucket.arnForObjects('runs/*/resolve/stack.json')],
      }),
    );
    this.functions.componentGraph.addToRolePolicy(
      new iam.PolicyStatement({ actions: ['kms:Decrypt'], resources: [this.artifacts.key.keyArn] }),
    );
    // The artifacts key names the functions that decrypt with it: the scheduler (resolved stacks), the API (plan texts).
    for (const [sid, fn] of [
      ['SchedulerReadsResolvedStacks', this.functions.componentGraph],
      ['ApiReadsPlanTexts', this.functions.api],
    ] as const)
      this.artifacts.key.addToResourcePolicy(
        new iam.PolicyStatement({ sid, principals: [fn.role!], actions: ['kms:Decrypt'], resources: ['*'] }),
      );
    // What the target accounts' roles must trust (TargetAccountRolesStack deploys them).
    new CfnOutput(this, 'PlanRunnerRoleArn', {
      value: this.runners.planRole.roleArn,
      description: `Trusted by ${config.roles.plan} (read-only) in every target account`,
    });
    new CfnOutput(this, 'ApplyRunnerRoleArn', {
      value: this.runners.applyRole.roleArn,
      description: `Trusted by ${config.roles.apply} (deploy) in every target account`,
    });

    // Callees first: a workflow step needs the state machine it starts.
    const calls = new Map(
      [...workflows.values()].map((wf) => [
        wf.name,
        allSteps(wf.steps).flatMap((s) => (s.kind === 'workflow' ? [s.workflow] : [])),
      ]),
    );
    const machines = new Map<string, sfn.StateMachine>();
    const resources: CompilerResources = {
      config,
      catalog,
      workflows,
      validateInput: this.functions.validateInput,
      componentGraph: this.functions.componentGraph,
      requestApproval: this.functions.requestApproval,
      environmentRegistry: this.functions.environmentRegistry,
      stackLock: this.functions.stackLock,
      runner: (command) => this.runners.project(command),
      stateMachine: (name) => {
        const m = machines.get(name);
        if (!m) throw new Error(`workflow "${name}" is not compiled yet`);
        return m;
      },
    };
    for (const name of topologicalOrder(calls)) {
      const workflow = workflows.get(name)!;
      const construct = new WorkflowStateMachine(this, pascalCase(name), {
        workflow,
        resources,
        alarmTopic: this.notifications,
      });
      machines.set(name, construct.stateMachine);
    }
    this.stateMachines = machines;

    if (machines.has('drift-detection'))
      this.driftSweep = new DriftSweep(this, 'DriftSweep', {
        config,
        fn: this.functions.driftSweep,
        driftDetection: resources.stateMachine('drift-detection'),
        childTimeout: WorkflowCompiler.maxDuration(resources),
        alarmTopic: this.notifications,
        // Atmos lists every stack of the repository; the plain-terraform layout's stacks need a tenant: the
        // configured one (infrastructure.tenant), else a run's (they are registered when a run reads them).
        ...(config.engine === 'atmos' || config.infrastructure.tenant
          ? {
              discover: {
                project: this.runners.project('resolve'),
                componentGraph: this.functions.componentGraph,
                tenant: config.infrastructure.tenant,
              },
            }
          : {}),
      });

    // The API starts any workflow through the state machine named after it (the ARN from this prefix).
    this.functions.api.addEnvironment(
      'TROPOS_STATE_MACHINE_ARN_PREFIX',
      this.formatArn({
        service: 'states',
        resource: 'stateMachine',
        resourceName: '',
        arnFormat: ArnFormat.COLON_RESOURCE_NAME,
      }),
    );
    if (this.driftSweep)
      this.functions.api.addEnvironment('TROPOS_DRIFT_SWEEP_ARN', this.driftSweep.stateMachine.stateMachineArn);
    for (const m of machines.values()) {
      m.grantStartExecution(this.functions.api);
      m.grantTaskResponse(this.functions.api); // approvals: SendTaskSuccess / SendTaskFailure
    }
    this.driftSweep?.stateMachine.grantStartExecution(this.functions.api); // POST /drift-sweeps
    // What the API reads besides the records, in a policy of its own (the role's default one is near its size limit):
    // where a build's log is (CodeBuild) and the log (CloudWatch Logs) for GET /runs/{id}/logs; a plan's text, which
    // each plan build stores beside its plan file, for GET /runs/{id}/plans/{component}.
    this.functions.api.addEnvironment('TROPOS_ARTIFACTS_BUCKET', this.artifacts.bucket.bucketName);
    new iam.Policy(this.functions.api, 'ReadsBuildsAndPlans', {
      roles: [this.functions.api.role!],
      statements: [
        new iam.PolicyStatement({
          actions: ['codebuild:BatchGetBuilds'],
          resources: [...this.runners.projects.values()].map((p) => p.projectArn),
        }),
        new iam.PolicyStatement({
          actions: ['logs:GetLogEvents'],
          resources: this.runners.logGroups.map((g) =>
            this.formatArn({
              service: 'logs',
              resource: 'log-group',
              resourceName: `${g.logGroupName}:log-stream:*`,
              arnFormat: ArnFormat.COLON_RESOURCE_NAME,
            }),
          ),
        }),
        new iam.PolicyStatement({
          actions: ['s3:GetObject'],
          resources: [this.artifacts.bucket.arnForObjects('runs/*/plan.txt')],
        }),
        new iam.PolicyStatement({ actions: ['kms:Decrypt'], resources: [this.artifacts.key.keyArn] }),
      ],
    });
    this.api = new HttpApi(this, 'Api', { config, handler: this.functions.api, routes: ROUTES });

    // The run ledger: execution status changes and build state changes, from EventBridge, whoever started the run.
    // What cannot be delivered (EventBridge gives up) or processed (the function fails every async attempt) is
    // kept in a dead-letter queue, alarmed: a lost end event is a stack lock nobody gives back.
    this.ledgerDeadLetters = new DeadLetters(this, 'LedgerDeadLetters', {
      description: 'a run-ledger event (execution or build state change)',
      alarmTopic: this.notifications,
    });
    this.functions.recordRun.configureAsyncInvoke({
      retryAttempts: 2,
      onFailure: new SqsDestination(this.ledgerDeadLetters.queue),
    });
    new CfnOutput(this, 'LedgerDeadLetterQueueUrl', {
      value: this.ledgerDeadLetters.queue.queueUrl,
      description: 'Run-ledger events that were not recorded: replay each into RecordRunFunctionName (README)',
    });
    new CfnOutput(this, 'RecordRunFunctionName', { value: this.functions.recordRun.functionName });
    if (this.driftSweep)
      new CfnOutput(this, 'DriftSweepDeadLetterQueueUrl', {
        value: this.driftSweep.deadLetters.queue.queueUrl,
        description: 'Scheduled drift sweeps that could not be started',
      });
    new CfnOutput(this, 'ApiUrl', {
      value: this.api.api.url,
      description: 'tropos --server <this URL> (requests signed with SigV4)',
    });
    const target = new targets.LambdaFunction(this.functions.recordRun, {
      retryAttempts: 185, // EventBridge's maximum: it retries for up to 24 hours
      maxEventAge: Duration.hours(24),
      deadLetterQueue: this.ledgerDeadLetters.queue,
    });
    new events.Rule(this, 'ExecutionStatusChanges', {
      description: 'Tropos run ledger: Step Functions execution status changes of the Tropos workflows',
      eventPattern: {
        source: ['aws.states'],
        detailType: ['Step Functions Execution Status Change'],
        detail: {
          stateMachineArn: [...machines.values(), ...(this.driftSweep ? [this.driftSweep.stateMachine] : [])].map(
            (m) => m.stateMachineArn,
          ),
        },
      },
      targets: [target],
    });
    new events.Rule(this, 'BuildStateChanges', {
      description: 'Tropos run ledger: CodeBuild build state changes of the Tropos terraform runners',
      eventPattern: {
        source: ['aws.codebuild'],
        detailType: ['CodeBuild Build State Change'],
        detail: { 'project-name': [...this.runners.projects.values()].map((p) => p.projectName) },
      },
      targets: [target],
    });
  }
}
