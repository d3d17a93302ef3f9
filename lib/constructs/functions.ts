import { ArnFormat, Duration, Stack } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { join } from 'node:path';
import { callbackSeconds, type TroposConfig } from '../config/schema';
import { DRIFT_METRIC } from '../domain/drift';
import { stateMachineName } from '../domain/naming';
import { validatorSettings } from '../config/validator-settings';
import { TABLES } from '../records/environment';
import type { Catalog } from '../workflow/catalog';
import type { BuildTimeouts } from '../domain/resolved';
import type { Records } from './records';

const ROOT_DIR = join(__dirname, '..', '..');
const LAMBDAS = join(ROOT_DIR, 'lambdas');

/** The runtime of every function: Node 22, the runtime Tropos targets (and its tests run on). */
export const RUNTIME = lambda.Runtime.NODEJS_22_X;

export interface TroposFunctionsProps {
  readonly config: TroposConfig;
  readonly catalog: Catalog;
  readonly records: Records;
  readonly notifications: sns.ITopic;
  /** The HMAC secret that signs callbacks to ticketing systems. */
  readonly callbackSecret: secretsmanager.ISecret;
  /** What the API knows of each workflow: its input spec, first checks and state machine name (built in). */
  readonly workflowEntries: Readonly<Record<string, unknown>>;
  /** Every workflow's name (its state machine is `<installation>-<name>`). */
  readonly workflowNames: readonly string[];
}

/** The Lambda functions the workflows call; each is a thin middy handler over a pure core in `lambdas/<name>/`. */
export class TroposFunctions extends Construct {
  public readonly validateInput: nodejs.NodejsFunction;
  public readonly componentGraph: nodejs.NodejsFunction;
  public readonly requestApproval: nodejs.NodejsFunction;
  public readonly environmentRegistry: nodejs.NodejsFunction;
  /** Takes stack locks (the run ledger gives them back). */
  public readonly stackLock: nodejs.NodejsFunction;
  /** The HTTP API's handler (API Gateway and the local server). */
  public readonly api: nodejs.NodejsFunction;
  /** The run ledger's writer: target of the execution and build state-change rules; sends the callbacks. */
  public readonly recordRun: nodejs.NodejsFunction;
  /** The drift sweep's tasks: list active environments, summarize (metrics, one notification). */
  public readonly driftSweep: nodejs.NodejsFunction;

  constructor(scope: Construct, id: string, props: TroposFunctionsProps) {
    super(scope, id);
    const { config, catalog, records } = props;
    const tables = {
      [TABLES.runs.env]: records.runs.tableName,
      [TABLES.environments.env]: records.environments.tableName,
    };

    const settings = validatorSettings(config, catalog);
    this.validateInput = this.fn('ValidateInput', 'validate-input', tables, { bundled: { settings } });
    records.environments.grantReadData(this.validateInput);
    // Handovers are read and written, and each run's validated stack and starter recorded, in the runs table.
    records.runs.grantReadWriteData(this.validateInput);

    // Each component's build limit (the catalog's defaults, else the configuration's) is built into its bundle.
    const timeouts: BuildTimeouts = {
      defaultMinutes: config.terraform.timeoutMinutes,
      components: Object.fromEntries(
        [...catalog.defaults].flatMap(([c, d]) => (d.timeoutMinutes ? [[c, d.timeoutMinutes]] : [])),
      ),
    };
    this.componentGraph = this.fn('ComponentGraph', 'component-graph', tables, { bundled: { timeouts } });
    records.runs.grantReadWriteData(this.componentGraph);
    // Every stack the repository defines enters the registry (with its network block) when a run resolves one.
    records.environments.grantReadWriteData(this.componentGraph);
    // A stopped run is stopped by the last of its builds in flight to end (its own execution).
    this.componentGraph.addToRolePolicy(
      executionsPolicy(['states:StopExecution'], props.workflowNames, config.name, this),
    );
    // It releases each component's Await task (SendTaskSuccess); the approval gate its own task, when a retry reuses
    // an approval. By name, not by reference: the state machines reference these functions, so a reference back
    // would be a circular dependency CloudFormation refuses. Each workflow's state machine by its exact name (a
    // wildcard would reach another installation's).
    const taskResponse = () =>
      new iam.PolicyStatement({
        actions: ['states:SendTaskSuccess', 'states:SendTaskFailure', 'states:SendTaskHeartbeat'],
        resources: props.workflowNames.map((name) =>
          Stack.of(this).formatArn({
            service: 'states',
            resource: 'stateMachine',
            resourceName: stateMachineName(config.name, name),
            arnFormat: ArnFormat.COLON_RESOURCE_NAME,
          }),
        ),
      });
    this.componentGraph.addToRolePolicy(taskResponse());

    this.requestApproval = this.fn('RequestApproval', 'request-approval', {
      ...tables,
      TROPOS_NOTIFICATIONS_TOPIC: props.notifications.topicArn,
    });
    records.runs.grantReadWriteData(this.requestApproval); // reads the plan step's component records
    props.notifications.grantPublish(this.requestApproval);
    this.requestApproval.addToRolePolicy(taskResponse()); // a retry's reused approval: answers its own task

    this.environmentRegistry = this.fn('EnvironmentRegistry', 'environment-registry', tables);
    records.environments.grantReadWriteData(this.environmentRegistry);

    this.stackLock = this.fn('StackLock', 'stack-lock', tables);
    records.runs.grantReadWriteData(this.stackLock);
    // A lock whose holder has ended is free: it asks Step Functions how the holder's execution stands. Each
    // workflow's executions by the state machine's exact name (by name: the state machines reference this function).
    this.stackLock.addToRolePolicy(
      executionsPolicy(['states:DescribeExecution'], props.workflowNames, config.name, this),
    );

    // The workflows (each one's input spec and state machine name) are built into its bundle with the settings.
    this.api = this.fn('Api', 'api', tables, { bundled: { settings, workflows: props.workflowEntries } });
    records.runs.grantReadWriteData(this.api); // approvals are answered through the API
    records.environments.grantReadWriteData(this.api); // onboarding registers (CIDR allocation, tickets)
    // An operator's stop (StopExecution) and unlock (how the lock's holder stands: DescribeExecution).
    this.api.addToRolePolicy(
      executionsPolicy(['states:DescribeExecution', 'states:StopExecution'], props.workflowNames, config.name, this),
    );

    // Callbacks are retried with backoff inside the ledger's invocation: room for every attempt.
    const { attempts, backoffSeconds } = config.callbacks;
    const ledgerSeconds = Math.min(900, Math.ceil(60 + callbackSeconds(config.callbacks)));
    this.recordRun = this.fn(
      'RecordRun',
      'record-run',
      {
        ...tables,
        TROPOS_CALLBACK_SECRET_ID: props.callbackSecret.secretArn,
        TROPOS_CALLBACK_ATTEMPTS: String(attempts),
        TROPOS_CALLBACK_BACKOFF_MS: String(Math.round(backoffSeconds * 1000)),
        TROPOS_LEDGER_TIMEOUT_SECONDS: String(ledgerSeconds),
        TROPOS_INSTALLATION: config.name,
      },
      { timeout: Duration.seconds(ledgerSeconds) },
    );
    records.runs.grantReadWriteData(this.recordRun);
    records.environments.grantReadWriteData(this.recordRun); // a failed onboarding: environment failed, CIDR given back
    props.callbackSecret.grantRead(this.recordRun);
    // A stopped run's last build in flight to end stops its execution (a step's single build included).
    this.recordRun.addToRolePolicy(executionsPolicy(['states:StopExecution'], props.workflowNames, config.name, this));

    this.driftSweep = this.fn('DriftSweep', 'drift-sweep', {
      ...tables,
      TROPOS_NOTIFICATIONS_TOPIC: props.notifications.topicArn,
    });
    records.environments.grantReadData(this.driftSweep);
    records.runs.grantReadWriteData(this.driftSweep); // the sweep's own start, and a handover per check
    props.notifications.grantPublish(this.driftSweep);
    this.driftSweep.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['cloudwatch:PutMetricData'],
        resources: ['*'], // PutMetricData has no resource; the condition keeps it to Tropos's namespace
        conditions: { StringEquals: { 'cloudwatch:namespace': DRIFT_METRIC.namespace } },
      }),
    );
  }

  private fn(
    id: string,
    folder: string,
    environment: Record<string, string>,
    options: { timeout?: Duration; bundled?: Record<string, unknown> } = {},
  ): nodejs.NodejsFunction {
    const logGroup = new logs.LogGroup(this, `${id}Logs`, { retention: logs.RetentionDays.THREE_MONTHS });
    return new nodejs.NodejsFunction(this, id, {
      entry: join(LAMBDAS, folder, 'handler.ts'),
      // The repository, wherever the app is synthesized from (the local control plane runs in any folder).
      projectRoot: ROOT_DIR,
      depsLockFilePath: join(ROOT_DIR, 'package-lock.json'),
      handler: 'handler',
      runtime: RUNTIME,
      architecture: lambda.Architecture.ARM_64,
      memorySize: 256,
      timeout: options.timeout ?? Duration.seconds(60),
      tracing: lambda.Tracing.ACTIVE,
      logGroup,
      // TROPOS_FUNCTION names the handler folder: the local engine runs lambdas/<folder>/handler.ts in-process.
      environment: { ...environment, TROPOS_FUNCTION: folder, POWERTOOLS_LOG_LEVEL: 'INFO' },
      bundling: {
        minify: true,
        sourceMap: false,
        target: 'node22',
        format: nodejs.OutputFormat.CJS,
        logLevel: nodejs.LogLevel.WARNING,
        // The AWS SDK v3 is part of the runtime.
        externalModules: ['@aws-sdk/*'],
        // What the function reads of the configuration, built in (lambdas/shared/runtime.ts `bundled`).
        define: { __TROPOS_BUNDLED__: JSON.stringify(options.bundled ?? {}) },
      },
    });
  }
}

/** Actions on the executions of Tropos's workflows, each state machine by its exact name (by name: the state
 * machines reference the functions, so a reference back would be a circular dependency). */
function executionsPolicy(
  actions: string[],
  workflowNames: readonly string[],
  installation: string,
  scope: Construct,
): iam.PolicyStatement {
  return new iam.PolicyStatement({
    actions,
    resources: workflowNames.map((name) =>
      Stack.of(scope).formatArn({
        service: 'states',
        resource: 'execution',
        resourceName: `${stateMachineName(installation, name)}:*`,
        arnFormat: ArnFormat.COLON_RESOURCE_NAME,
      }),
    ),
  });
}
