/**
 * AWS-managed policies the template attaches by ARN. Their documents are AWS's, not in the template: only a tiny
 * table of the ones Tropos attaches is kept here, and only their CloudWatch Logs statements (what these two grant),
 * written from AWS's published documents. A role with an AWS-managed policy not in this table gets nothing from it
 * locally, and `RolePolicies.unknownManagedPolicyArns` names it.
 */
export const AWS_MANAGED_POLICIES: Readonly<Record<string, unknown>> = {
  'service-role/AWSLambdaBasicExecutionRole': {
    Version: '2012-10-17',
    Statement: [
      {
        Effect: 'Allow',
        Action: ['logs:CreateLogGroup', 'logs:CreateLogStream', 'logs:PutLogEvents'],
        Resource: '*',
      },
    ],
  },
  'service-role/AmazonAPIGatewayPushToCloudWatchLogs': {
    Version: '2012-10-17',
    Statement: [
      {
        Effect: 'Allow',
        Action: [
          'logs:CreateLogGroup',
          'logs:CreateLogStream',
          'logs:DescribeLogGroups',
          'logs:DescribeLogStreams',
          'logs:PutLogEvents',
          'logs:GetLogEvents',
          'logs:FilterLogEvents',
        ],
        Resource: '*',
      },
    ],
  },
};

/** The path and name of an AWS-managed policy ARN (`arn:<partition>:iam::aws:policy/<path/name>`), else undefined. */
export function awsManagedPolicyName(arn: string): string | undefined {
  return /^arn:[^:]+:iam::aws:policy\/(.+)$/.exec(arn)?.[1];
}
