import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { WorkflowCompiler } from '../compiler/compile';
import type { CompilerResources } from '../compiler/resources';
import { stateMachineName } from '../domain/naming';
import type { Workflow } from '../workflow/load';

export interface WorkflowStateMachineProps {
  /** The workflow definition to compile (`workflows/<name>.yaml`). */
  readonly workflow: Workflow;
  /** The functions, runners and other workflows its states call. */
  readonly resources: CompilerResources;
  /**
   * Where alarms on failed, timed-out and aborted executions notify.
   * @default - alarms without actions
   */
  readonly alarmTopic?: sns.ITopic;
}

/** One workflow file compiled into one monitored state machine `<installation>-<workflow>`. */
export class WorkflowStateMachine extends Construct {
  public readonly stateMachine: sfn.StateMachine;
  public readonly alarms: cloudwatch.Alarm[];

  constructor(scope: Construct, id: string, props: WorkflowStateMachineProps) {
    super(scope, id);
    const { workflow, resources } = props;
    const definition = new WorkflowCompiler(this, workflow, resources).compile();
    const { stateMachine, alarms } = monitoredStateMachine(this, {
      name: stateMachineName(resources.config.name, workflow.name),
      description: workflow.description,
      definition,
      timeout: WorkflowCompiler.maxDuration(resources),
      alarmTopic: props.alarmTopic,
    });
    this.stateMachine = stateMachine;
    this.alarms = alarms;
  }
}

/**
 * The state machine `<name>` (already prefixed with the installation's name) in `scope`: JSONPath ASL, logging at level ALL (without execution data: task
 * tokens are secrets), X-Ray tracing, and alarms on failed, timed-out and aborted executions.
 */
export function monitoredStateMachine(
  scope: Construct,
  props: {
    readonly name: string;
    readonly description: string;
    readonly definition: sfn.IChainable;
    readonly timeout: Duration;
    readonly alarmTopic?: sns.ITopic | undefined;
  },
): { stateMachine: sfn.StateMachine; alarms: cloudwatch.Alarm[] } {
  const logGroup = new logs.LogGroup(scope, 'Logs', {
    logGroupName: `/aws/vendedlogs/states/${props.name}`,
    retention: logs.RetentionDays.SIX_MONTHS,
  });
  const stateMachine = new sfn.StateMachine(scope, 'Resource', {
    stateMachineName: props.name,
    comment: props.description.slice(0, 1000),
    definitionBody: sfn.DefinitionBody.fromChainable(props.definition),
    queryLanguage: sfn.QueryLanguage.JSON_PATH,
    logs: { destination: logGroup, level: sfn.LogLevel.ALL, includeExecutionData: false },
    tracingEnabled: true,
    timeout: props.timeout,
  });
  const metrics: [string, cloudwatch.IMetric][] = [
    ['Failed', stateMachine.metricFailed({ period: Duration.minutes(5) })],
    ['TimedOut', stateMachine.metricTimedOut({ period: Duration.minutes(5) })],
    ['Aborted', stateMachine.metricAborted({ period: Duration.minutes(5) })],
  ];
  const alarms = metrics.map(([name, metric]) => {
    const alarm = new cloudwatch.Alarm(scope, `${name}Alarm`, {
      alarmDescription: `${props.name}: an execution ${name.toLowerCase()}`,
      metric,
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    if (props.alarmTopic) alarm.addAlarmAction(new actions.SnsAction(props.alarmTopic));
    return alarm;
  });
  return { stateMachine, alarms };
}
