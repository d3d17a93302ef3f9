import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';

export interface DeadLettersProps {
  /** What lands here, for the alarm's description (and the operator who reads it). */
  readonly description: string;
  /** Where the alarm notifies. */
  readonly alarmTopic: sns.ITopic;
}

/**
 * A dead-letter queue for events Tropos could not deliver or process (a ledger event, a scheduled start), kept for
 * 14 days, encrypted, TLS only — and an alarm as soon as one message is in it: a lost ledger event is a stack lock
 * nobody gives back. The README says how to replay its messages.
 */
export class DeadLetters extends Construct {
  public readonly queue: sqs.Queue;
  public readonly alarm: cloudwatch.Alarm;

  constructor(scope: Construct, id: string, props: DeadLettersProps) {
    super(scope, id);
    this.queue = new sqs.Queue(this, 'Resource', {
      retentionPeriod: Duration.days(14),
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.alarm = new cloudwatch.Alarm(this, 'Alarm', {
      alarmDescription: `Tropos: ${props.description} landed in the dead-letter queue; replay it (README, "Deploy to AWS")`,
      metric: this.queue.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(5) }),
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    this.alarm.addAlarmAction(new actions.SnsAction(props.alarmTopic));
  }
}
