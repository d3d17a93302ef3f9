import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { TABLES } from '../../lib/records/environment';
import { createLogger, dynamo, requiredEnv } from '../shared/runtime';
import { StepFunctionsTokens } from '../shared/task-tokens';
import { ApprovalRequest, requestApproval } from './core';

const logger = createLogger('request-approval');
const table = requiredEnv(TABLES.runs.env);
const topicArn = requiredEnv('TROPOS_NOTIFICATIONS_TOPIC');
const sns = new SNSClient({});
const tokens = new StepFunctionsTokens();

/** The approval gate's task: records the request and notifies; the answer comes back with the task token. */
export const handler = middy(async (event: ApprovalRequest) => {
  const approval = await requestApproval(
    event,
    dynamo(),
    table,
    {
      publish: async (subject, message) => {
        await sns.send(new PublishCommand({ TopicArn: topicArn, Subject: subject.slice(0, 99), Message: message }));
      },
    },
    new Date(),
    tokens,
  );
  logger.info(approval.reusedFrom ? 'approval reused' : 'approval requested', {
    approvalId: approval.approvalId,
    stack: approval.stack,
    expiresAt: approval.expiresAt,
  });
  return { approvalId: approval.approvalId };
}).use(injectLambdaContext(logger));
