import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { WorkflowCompiler } from '../compiler/compile';
import type { CompilerResources } from '../compiler/resources';
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

/**
 * One workflow file compiled into one state machine `tropos-<workflow>`: JSONPath ASL, logging at level ALL
 * (without execution data: task tokens are secrets), X-Ray tracing, and alarms on failed, timed-out and
 * aborted executions.
 */
export class WorkflowStateMachine extends Construct {
  public readonly stateMachine: sfn.StateMachine;
  public readonly alarms: cloudwatch.Alarm[];

  constructor(scope: Construct, id: string, props: WorkflowStateMachineProps) {
    super(scope, id);
    const { workflow, resources } = props;
    const logGroup = new logs.LogGroup(this, 'Logs', {
      logGroupName: `/aws/vendedlogs/states/tropos-${workflow.name}`,
      retention: logs.RetentionDays.SIX_MONTHS,
    });
    const definition = new WorkflowCompiler(this, workflow, resources).compile();
    this.stateMachine = new sfn.StateMachine(this, 'Resource', {
      stateMachineName: `tropos-${workflow.name}`,
      comment: workflow.description.slice(0, 1000),
      definitionBody: sfn.DefinitionBody.fromChainable(definition),
      queryLanguage: sfn.QueryLanguage.JSON_PATH,
      logs: { destination: logGroup, level: sfn.LogLevel.ALL, includeExecutionData: false },
      tracingEnabled: true,
      timeout: WorkflowCompiler.maxDuration(resources),
    });
    const metrics: [string, cloudwatch.IMetric][] = [
      ['Failed', this.stateMachine.metricFailed({ period: Duration.minutes(5) })],
      ['TimedOut', this.stateMachine.metricTimedOut({ period: Duration.minutes(5) })],
      ['Aborted', this.stateMachine.metricAborted({ period: Duration.minutes(5) })],
    ];
    this.alarms = metrics.map(([name, metric]) => {
      const alarm = new cloudwatch.Alarm(this, `${name}Alarm`, {
        alarmDescription: `tropos-${workflow.name}: an execution ${name.toLowerCase()}`,
        metric,
        threshold: 1,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
      if (props.alarmTopic) alarm.addAlarmAction(new actions.SnsAction(props.alarmTopic));
      return alarm;
    });
  }
}
