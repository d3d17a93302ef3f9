import { Stack, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';

/**
 * The cdk-nag AwsSolutions findings Tropos accepts, each with the reason. A finding is accepted when both
 * its rule id and the path of the resource it is on match; anything else stays a finding and fails the tests.
 */
export const ACCEPTED_FINDINGS: readonly { rule: RegExp; path: RegExp; reason: string }[] = [
  {
    rule: /^AwsSolutions-IAM4\[Policy::.*service-role\/AWSLambdaBasicExecutionRole\]$/,
    path: /\/Functions\/\w+\/ServiceRole\//,
    reason: 'The AWS-managed basic execution role only lets a function write its own CloudWatch logs.',
  },
  {
    rule: /^AwsSolutions-L1$/,
    path: /\/Functions\//,
    reason: 'Tropos pins Node.js 22 (nodejs22.x): the runtime its handlers, tests and local engine are verified on.',
  },
  {
    rule: /^AwsSolutions-IAM5\[Resource::\*\]$/,
    path: /\/(Functions\/\w+\/ServiceRole|\w+\/Resource\/Role)\/DefaultPolicy\//,
    reason:
      'X-Ray PutTraceSegments / PutTelemetryRecords support no resource-level permissions (tracing is on everywhere).',
  },
  {
    rule: /^AwsSolutions-IAM5\[Resource::<Records\w+\.Arn>\/index\/\*\]$/,
    path: /\/Functions\//,
    reason: "Queries on the tables' own global secondary indexes (runs by stack, environments by tenant).",
  },
  {
    rule: /^AwsSolutions-IAM5\[Resource::<Functions\w+\.Arn>:\*\]$/,
    path: /\/Resource\/Role\/DefaultPolicy\//,
    reason: 'State machines invoke their own functions, any version or alias of them (CDK LambdaInvoke grant).',
  },
  {
    rule: /^AwsSolutions-IAM5\[Resource::arn:<AWS::Partition>:states:.*:execution:.*\*\]$/,
    path: /\/Resource\/Role\/DefaultPolicy\//,
    reason:
      'A workflow step describes and stops the executions of the one child state machine it starts (startExecution.sync:2).',
  },
  {
    rule: /^AwsSolutions-IAM5\[Resource::arn:<AWS::Partition>:states:.*:execution:[\w-]+:\*\]$/,
    path: /\/Functions\/(Api|StackLock|ComponentGraph|RecordRun)\/ServiceRole\/DefaultPolicy\//,
    reason:
      "The executions of Tropos's own workflows, each state machine by its exact name (the run id is known at run time only): the API describes and stops them (an operator's stop and unlock), the stack lock asks whether a lock's holder still runs, the scheduler and the run ledger stop a stopped run once its builds in flight have ended.",
  },
  {
    rule: /^AwsSolutions-IAM5\[Resource::arn:(aws|<AWS::Partition>):(s3:::\*-terraform-state-<AWS::AccountId>(\/\*|\/\*\.tflock)?|dynamodb:.*:table\/\*-terraform-locks)\]$/,
    path: /\/(BootstrapBackend|Runners\/(Plan|Apply)Role)\//,
    reason:
      'One state bucket and lock table per tenant (the configured name patterns); the tenant is known at run time only, so the names carry a wildcard for it; within a bucket, every state key (or its .tflock).',
  },
  {
    rule: /^AwsSolutions-IAM5\[Action::(s3:(GetObject|GetBucket|List|Abort)|kms:(ReEncrypt|GenerateDataKey))\*\]$/,
    path: /\/Runners\/(\w+\/Role|PlanRole|ApplyRole)\//,
    reason:
      "CDK grant helpers for the build source asset, the plan artifacts and the runners' KMS key; scoped to those resources.",
  },
  {
    rule: /^AwsSolutions-IAM5\[Resource::<Artifacts\w+\.Arn>\/runs\/\*\/resolve\/stack\.json\]$/,
    path: /\/Functions\/ComponentGraph\//,
    reason:
      "The scheduler reads each run's resolved stack (runs/<runId>/resolve/stack.json); the run id is known at run time only.",
  },
  {
    rule: /^AwsSolutions-IAM5\[Resource::<Artifacts\w+\.Arn>\/runs\/\*\]$/,
    path: /\/Runners\/(\w+\/Role|PlanRole|ApplyRole)\//,
    reason: 'Plan runs write and apply runs read the plan files of any run, all under runs/ of the artifacts bucket.',
  },
  {
    rule: /^AwsSolutions-IAM5\[Resource::arn:<AWS::Partition>:(logs|codebuild):.*(log-group:\/aws\/codebuild\/<Runners\w+>:\*|report-group\/<Runners\w+>-\*)\]$/,
    path: /\/Runners\/(\w+\/Role|PlanRole|ApplyRole)\//,
    reason: "CodeBuild's default grants for the project's own log streams and report groups.",
  },
  {
    rule: /^AwsSolutions-IAM5\[Resource::arn:<AWS::Partition>:logs:[a-z0-9-]+:<AWS::AccountId>:log-group:<Runners\w+Logs\w+>:log-stream:\*\]$/,
    path: /\/Functions\/Api\/ReadsBuildsAndPlans\//,
    reason:
      "GET /runs/{id}/logs reads a build's log stream (the build's uuid) in its runner's log group; builds are known at run time only.",
  },
  {
    rule: /^AwsSolutions-IAM5\[Resource::<Artifacts\w+\.Arn>\/runs\/\*\/plan\.txt\]$/,
    path: /\/Functions\/Api\/ReadsBuildsAndPlans\//,
    reason: "GET /runs/{id}/plans/{component} reads a plan's text, stored under its run's id (known at run time only).",
  },
  {
    rule: /^AwsSolutions-IAM5\[Resource::arn:<AWS::Partition>:execute-api:(<AWS::Region>|[a-z0-9-]+):<AWS::AccountId>:<Api\w+>\/v1\/(GET|POST)\/[\w/-]*\*(\/[\w-]+(\/\*)?)*\]$/,
    path: /\/Api\/\w+Policy\/Resource$/,
    reason:
      "A caller policy names each route it allows; a path parameter ({id}, {stack}) is one segment, '*' in an execute-api ARN.",
  },
  {
    rule: /^AwsSolutions-COG4$/,
    path: /\/Api\/Resource\/Default\//,
    reason: 'Every method is IAM-authorised (SigV4): ticketing systems call with an IAM role, not Cognito users.',
  },
  {
    rule: /^AwsSolutions-APIG2$/,
    path: /\/Api\/Resource\/Resource$/,
    reason:
      'The handler validates every body and answers 400 listing each bad field; a model validator would answer less.',
  },
  {
    rule: /^AwsSolutions-APIG3$/,
    path: /\/Api\/Resource\/DeploymentStage/,
    reason:
      "IAM authorisation and stage throttling guard the API; a WAF web ACL is the deployer's choice, not built in.",
  },
  {
    rule: /^AwsSolutions-IAM4\[Policy::.*AmazonAPIGatewayPushToCloudWatchLogs\]$/,
    path: /\/Api\/Resource\/CloudWatchRole\//,
    reason: "API Gateway's account-level role that writes the stage's logs (the AWS-managed policy CDK uses).",
  },
  {
    rule: /^AwsSolutions-SMG4$/,
    path: /\/CallbackSecret\//,
    reason:
      'The callback signing key is shared with ticketing systems; rotating it needs them, so it is rotated by hand.',
  },
  {
    rule: /^AwsSolutions-IAM5\[Resource::\*\]$/,
    path: /\/Functions\/DriftSweep\/ServiceRole\/DefaultPolicy\//,
    reason: 'cloudwatch:PutMetricData has no resources; a condition keeps it to the Tropos namespace.',
  },
  {
    rule: /^AwsSolutions-IAM5\[Action::kms:GenerateDataKey\*\]$/,
    path: /\/Functions\/(RequestApproval|DriftSweep)\/ServiceRole\/DefaultPolicy\//,
    reason: "Publishing to the notifications topic encrypts with its customer-managed key (the topic's grant).",
  },
  {
    rule: /^AwsSolutions-IAM4\[Policy::arn:<AWS::Partition>:iam::aws:policy\/(ReadOnlyAccess|AdministratorAccess)\]$/,
    path: /TargetAccountRoles\/(PlanRole|DeployRole)\/Resource$/,
    reason:
      "The target account's terraform roles: read-only for plans, and the deploy role's policies are the configuration's (roles.applyPolicies; narrow them to what you deploy).",
  },
  {
    rule: /^AwsSolutions-SQS3$/,
    path: /DeadLetters\/Resource\/Resource$/,
    reason: 'It is itself a dead-letter queue: what lands here is alarmed and replayed by an operator (README).',
  },
];

/** Acknowledges the accepted findings of the AwsSolutions pack on the resources they are on. */
export function acknowledgeNagFindings(stack: Stack): void {
  // (Used for the Tropos stack and the target-account roles stack alike.)
  const byPath = new Map(stack.node.findAll().map((c) => [c.node.path, c]));
  const report = new AwsSolutionsChecks().validateScope(stack);
  for (const violation of report.violations) {
    for (const resource of violation.violatingResources) {
      const path = resource.constructPath ?? '';
      const accepted = ACCEPTED_FINDINGS.find((a) => a.rule.test(violation.ruleName) && a.path.test(path));
      const target = byPath.get(path);
      if (accepted && target) Validations.of(target).acknowledge({ id: violation.ruleName, reason: accepted.reason });
    }
  }
}
