import { Duration } from 'aws-cdk-lib';
import * as codebuild from 'aws-cdk-lib/aws-codebuild';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as schedulerTargets from 'aws-cdk-lib/aws-scheduler-targets';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import type { TroposConfig } from '../config/schema';
import { lambdaTask, resolveBuild, START_RETRY } from '../compiler/tasks';
import { DRIFT_SWEEP } from '../domain/drift';
import { DeadLetters } from './dead-letters';
import { stateMachineName } from '../domain/naming';
import { monitoredStateMachine } from './workflow-state-machine';

export interface DriftSweepProps {
  readonly config: TroposConfig;
  /** The drift-sweep function (list, summarize). */
  readonly fn: lambda.IFunction;
  /** tropos-drift-detection: run once per environment as a child execution. */
  readonly driftDetection: sfn.IStateMachine;
  /** The longest one drift-detection run may take. */
  readonly childTimeout: Duration;
  readonly alarmTopic: sns.ITopic;
  /**
   * The resolve project and the component-graph function: the sweep first lists every stack the repository
   * defines, so that a stack no run has seen yet enters the registry and is checked too. Absent: only the
   * registry's environments are checked.
   */
  readonly discover?: {
    readonly project: codebuild.IProject;
    readonly componentGraph: lambda.IFunction;
    /** The plain-terraform layout's tenant (infrastructure.tenant): its stacks are named with it. */
    readonly tenant?: string | undefined;
  };
}

const LAMBDA_TIMEOUT = Duration.minutes(2);

/**
 * Scheduled drift detection: an EventBridge Scheduler schedule (config `drift.schedule`) starts
 * `tropos-drift-sweep`, which (with the Atmos engine) first registers the repository's stacks no run has seen,
 * then lists the active environments, runs drift-detection for each as a child execution
 * through a Map (at most `drift.maxConcurrency` at once; a failed check is caught and reported, never stopping
 * the others), then puts the DriftedComponents metric per stack and sends one summary notification.
 */
export class DriftSweep extends Construct {
  public readonly stateMachine: sfn.StateMachine;
  public readonly schedule: scheduler.Schedule;
  /** Scheduled starts that failed for good. */
  public readonly deadLetters: DeadLetters;

  constructor(scope: Construct, id: string, props: DriftSweepProps) {
    super(scope, id);
    const { config, fn } = props;
    const discovery = props.discover ? this.discovery(props.discover) : undefined;
    const list = lambdaTask(this, 'List active environments', {
      lambdaFunction: fn,
      payload: sfn.TaskInput.fromObject({
        action: 'list',
        'runId.$': '$$.Execution.Name',
        'executionArn.$': '$$.Execution.Id',
        'startedAt.$': '$$.Execution.StartTime',
        'input.$': '$$.Execution.Input',
      }),
      payloadResponseOnly: true,
      resultPath: '$.sweep',
      taskTimeout: sfn.Timeout.duration(LAMBDA_TIMEOUT),
    });
    const check = new tasks.StepFunctionsStartExecution(this, 'Check drift', {
      stateMachine: props.driftDetection,
      integrationPattern: sfn.IntegrationPattern.RUN_JOB,
      // The input handed over by the list task (with the key that links the child to the sweep in the console).
      input: sfn.TaskInput.fromJsonPathAt('$.item.input'),
      name: sfn.JsonPath.stringAt('$.item.runId'),
      resultPath: sfn.JsonPath.DISCARD,
      taskTimeout: sfn.Timeout.duration(props.childTimeout),
      comment: 'One environment: tropos-drift-detection records its result in the registry',
    });
    check.addRetry(START_RETRY.execution);
    const checked = new sfn.Pass(this, 'Checked', {
      parameters: { 'stack.$': '$.item.stack', 'runId.$': '$.item.runId', status: 'SUCCEEDED' },
    });
    const failed = new sfn.Pass(this, 'Check failed', {
      parameters: { 'stack.$': '$.item.stack', 'runId.$': '$.item.runId', status: 'FAILED', 'error.$': '$.error' },
    });
    check.addCatch(failed, { resultPath: '$.error' });
    const each = new sfn.Map(this, 'Check each environment', {
      itemsPath: '$.sweep.environments',
      maxConcurrency: config.drift.maxConcurrency,
      itemSelector: { 'item.$': '$$.Map.Item.Value' },
      resultPath: '$.results',
    });
    each.itemProcessor(check.next(checked));
    const summarize = lambdaTask(this, 'Summarize drift', {
      lambdaFunction: fn,
      payload: sfn.TaskInput.fromObject({
        action: 'summarize',
        'runId.$': '$$.Execution.Name',
        'results.$': '$.results',
        ...(discovery ? { 'discovery.$': '$.discovery' } : {}),
      }),
      payloadResponseOnly: true,
      taskTimeout: sfn.Timeout.duration(LAMBDA_TIMEOUT),
      comment: 'Puts DriftedComponents per stack; one notification names the drifted environments',
    });
    const { stateMachine } = monitoredStateMachine(this, {
      name: stateMachineName(config.name, DRIFT_SWEEP),
      description:
        "Drift sweep: reads the repository's stacks (Atmos), runs drift-detection for every active environment, puts the DriftedComponents metric per stack, and sends one summary of what drifted.",
      definition: discovery
        ? discovery.start.next(discovery.then(list)).next(each).next(summarize)
        : list.next(each).next(summarize),
      timeout: props.childTimeout.plus(Duration.hours(24)),
      alarmTopic: props.alarmTopic,
    });
    this.stateMachine = stateMachine;
    this.deadLetters = new DeadLetters(this, 'DeadLetters', {
      description: 'a scheduled drift sweep that could not be started',
      alarmTopic: props.alarmTopic,
    });
    this.schedule = new scheduler.Schedule(this, 'Schedule', {
      description: `Tropos drift sweep (${config.drift.schedule})`,
      schedule: scheduler.ScheduleExpression.expression(config.drift.schedule),
      target: new schedulerTargets.StepFunctionsStartExecution(stateMachine, {
        input: scheduler.ScheduleTargetInput.fromObject({ requestedBy: 'schedule' }),
        retryAttempts: 3,
        // A sweep the scheduler could not start is kept, and alarmed, rather than silently skipped.
        deadLetterQueue: this.deadLetters.queue,
      }),
    });
  }

  /**
   * "Discover stacks": the resolve build lists every stack the repository defines (at `infrastructure.ref`), and
   * "Record stacks" registers those the registry does not know (source repository, their network blocks). A
   * failure of either is caught: the sweep then checks the registry's environments, and its summary says why the
   * repository's were not read.
   */
  private discovery(d: NonNullable<DriftSweepProps['discover']>) {
    const build = resolveBuild(this, 'Discover stacks', d.project, {
      discover: true,
      // No stack of its own: every stack the repository defines.
      context: JSON.stringify({ stack: 'all', ...(d.tenant ? { tenant: d.tenant } : {}), dryRun: false }),
      comment: 'Lists the stacks the repository defines, with their network blocks',
    });
    const record = lambdaTask(this, 'Record stacks', {
      lambdaFunction: d.componentGraph,
      payload: sfn.TaskInput.fromObject({
        action: 'discovered',
        'runId.$': '$$.Execution.Name',
        stack: '',
        vpcCidr: null,
        dryRun: false,
      }),
      payloadResponseOnly: true,
      resultPath: '$.discovery',
      taskTimeout: sfn.Timeout.duration(LAMBDA_TIMEOUT),
      comment: "Registers the repository's stacks the registry does not know yet",
    });
    return {
      start: build,
      then: (next: sfn.IChainable) => {
        for (const task of [build, record]) task.addCatch(next, { resultPath: '$.discovery' });
        return record.next(next);
      },
    };
  }
}
