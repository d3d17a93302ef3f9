import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { CloudWatchClient, PutMetricDataCommand } from '@aws-sdk/client-cloudwatch';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { TABLES } from '../../lib/records/environment';
import { EnvironmentStore } from '../../lib/records/environment-store';
import { HandoverStore } from '../../lib/records/handover';
import { RunStore } from '../../lib/records/run-store';
import { createLogger, dynamo, requiredEnv } from '../shared/runtime';
import { DRIFT_METRIC, sweep, SweepRequest } from './core';

const logger = createLogger('drift-sweep');
const topicArn = requiredEnv('TROPOS_NOTIFICATIONS_TOPIC');
const registry = new EnvironmentStore(dynamo(), requiredEnv(TABLES.environments.env));
const runsTable = requiredEnv(TABLES.runs.env);
const handovers = new HandoverStore(dynamo(), runsTable);
const runs = new RunStore(dynamo(), runsTable);
const sns = new SNSClient({});
const cloudwatch = new CloudWatchClient({});

/** The drift sweep's list and summarize tasks. */
export const handler = middy(async (event: SweepRequest) => {
  const out = await sweep(event, {
    registry,
    handovers,
    runs,
    putMetrics: async (points) => {
      for (let i = 0; i < points.length; i += 500) {
        await cloudwatch.send(
          new PutMetricDataCommand({
            Namespace: DRIFT_METRIC.namespace,
            MetricData: points.slice(i, i + 500).map((p) => ({
              MetricName: DRIFT_METRIC.name,
              Dimensions: [{ Name: DRIFT_METRIC.dimension, Value: p.stack }],
              Value: p.value,
              Unit: 'Count',
              Timestamp: p.at,
            })),
          }),
        );
      }
    },
    publish: async (subject, message) => {
      await sns.send(new PublishCommand({ TopicArn: topicArn, Subject: subject.slice(0, 99), Message: message }));
    },
  });
  logger.info('drift sweep', { action: event.action, runId: event.runId });
  return out;
}).use(injectLambdaContext(logger));
