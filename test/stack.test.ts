import { Match } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { APPLY_KIND } from '../lib/constructs/terraform-runners';
import { TERRAFORM_COMMANDS } from '../lib/workflow/schema';
import { config, ROOT } from './helpers/fixtures';
import { allStates, synthRealApp } from './helpers/synth';
// eslint-disable-next-line @typescript-eslint/no-require-imports
const aslValidator = require('asl-validator') as (d: unknown) => {
  isValid: boolean;
  errorsText: (sep?: string) => string;
};

describe('the Tropos stack (the real app: workflows/, catalog/, tropos.config.yaml)', () => {
  const { stack, template, machines } = synthRealApp();
  const workflowFiles = readdirSync(join(ROOT, 'workflows')).filter((f) => f.endsWith('.yaml'));

  test('one state machine per workflow file, named tropos-<workflow>', () => {
    // … and the drift sweep's.
    template.resourceCountIs('AWS::StepFunctions::StateMachine', workflowFiles.length + 1);
    expect(workflowFiles.length).toBeGreaterThanOrEqual(14);
    expect([...machines.keys()].sort()).toEqual(
      [...workflowFiles.map((f) => `tropos-${f.replace('.yaml', '')}`), 'tropos-drift-sweep'].sort(),
    );
  });

  test.each(readdirSync(join(__dirname, '..', 'workflows')).map((f) => `tropos-${f.replace('.yaml', '')}`))(
    '%s passes asl-validator',
    (name) => {
      const { definition } = machines.get(name)!;
      const result = aslValidator(definition);
      expect({ isValid: result.isValid, errors: result.errorsText('\n') }).toEqual({ isValid: true, errors: '' });
    },
  );

  test.each([...machines.keys()])(
    '%s: JSONPath only, every Task has TimeoutSeconds, retries transient errors, builds catch',
    (name) => {
      const { definition } = machines.get(name)!;
      expect(JSON.stringify(definition)).not.toMatch(
        /"QueryLanguage":"JSONata"|"Arguments"|"Assign"|"HeartbeatSeconds"|"Credentials"/,
      );
      const tasks = [...allStates(definition)].filter(([, s]) => s.Type === 'Task');
      const problems = tasks.flatMap(([stateName, state]) => {
        const resource = String(state.Resource);
        const retry = JSON.stringify(state.Retry ?? []);
        const found: string[] = [];
        if (typeof state.TimeoutSeconds !== 'number') found.push(`${stateName}: no TimeoutSeconds`);
        if (/:lambda:|lambda:invoke/.test(resource) && !retry.includes('Lambda.ServiceException'))
          found.push(`${stateName}: no Lambda retry`);
        if (resource.includes('codebuild:startBuild')) {
          if (!retry.includes('CodeBuild.AccountLimitExceededException'))
            found.push(`${stateName}: no CodeBuild retry`);
          // A failing build is caught in its branch: it never cancels an in-flight sibling.
          if (!JSON.stringify(state.Catch ?? []).includes('States.ALL'))
            found.push(`${stateName}: build failure not caught`);
        }
        if (
          resource.includes('states:startExecution') &&
          !retry.includes('StepFunctions.ExecutionLimitExceededException')
        )
          found.push(`${stateName}: no start retry`);
        return found;
      });
      expect(tasks.length).toBeGreaterThan(0);
      expect(problems).toEqual([]);
    },
  );

  test('cdk-nag AwsSolutions: no finding left unacknowledged', () => {
    const report = new AwsSolutionsChecks().validateScope(stack);
    const open = report.violations.flatMap((v) =>
      v.violatingResources.map((r) => `${v.ruleName} @ ${r.constructPath}`),
    );
    expect(open).toEqual([]);
  });

  test('every function runs Node.js 22, traced, with the SDK left to the runtime', () => {
    template.resourceCountIs('AWS::Lambda::Function', 8);
    template.allResourcesProperties('AWS::Lambda::Function', {
      Runtime: 'nodejs22.x',
      TracingConfig: { Mode: 'Active' },
    });
  });

  test('roles split plan/apply: each runner may assume only its kind of role, in the configured accounts', () => {
    for (const command of TERRAFORM_COMMANDS) {
      const role = APPLY_KIND.has(command) ? config.roles.apply : config.roles.plan;
      const other = APPLY_KIND.has(command) ? config.roles.plan : config.roles.apply;
      const project = stack.runners.project(command);
      const policy = JSON.stringify(
        template.findResources('AWS::IAM::Policy', {
          Properties: { Roles: [{ Ref: stack.getLogicalId(project.role!.node.defaultChild as never) }] },
        }),
      );
      for (const account of Object.values(config.accounts))
        expect(policy).toContain(`:iam::${account.id}:role/${role}"`);
      expect(policy).not.toContain(`role/${other}"`);
    }
    template.hasResourceProperties('AWS::CodeBuild::Project', {
      Name: 'tropos-terraform-plan',
      Environment: Match.objectLike({
        EnvironmentVariables: Match.arrayWith([
          { Name: 'TROPOS_ROLE_NAME', Type: 'PLAINTEXT', Value: config.roles.plan },
        ]),
      }),
    });
    template.hasResourceProperties('AWS::CodeBuild::Project', {
      Name: 'tropos-terraform-apply',
      Environment: Match.objectLike({
        EnvironmentVariables: Match.arrayWith([
          { Name: 'TROPOS_ROLE_NAME', Type: 'PLAINTEXT', Value: config.roles.apply },
        ]),
      }),
    });
  });

  test('runners pin terraform by version and SHA-256, and are encrypted with a rotated key', () => {
    template.hasResourceProperties('AWS::CodeBuild::Project', {
      Environment: Match.objectLike({
        EnvironmentVariables: Match.arrayWith([
          { Name: 'TERRAFORM_VERSION', Type: 'PLAINTEXT', Value: config.tools.terraform.version },
          { Name: 'TERRAFORM_SHA256', Type: 'PLAINTEXT', Value: config.tools.terraform.sha256 },
        ]),
      }),
      EncryptionKey: Match.anyValue(),
    });
    template.hasResourceProperties('AWS::KMS::Key', { EnableKeyRotation: true });
  });

  test('tables: point-in-time recovery, encryption, runs listed by stack', () => {
    template.resourceCountIs('AWS::DynamoDB::Table', 2);
    template.allResourcesProperties('AWS::DynamoDB::Table', {
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      SSESpecification: { SSEEnabled: true },
      BillingMode: 'PAY_PER_REQUEST',
    });
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      GlobalSecondaryIndexes: [
        Match.objectLike({
          IndexName: 'byStack',
          KeySchema: [
            { AttributeName: 'stack', KeyType: 'HASH' },
            { AttributeName: 'startedAt', KeyType: 'RANGE' },
          ],
        }),
      ],
    });
  });

  test('artifacts bucket: versioned, encrypted, public access blocked, TLS only', () => {
    const artifacts = stack.getLogicalId(stack.artifacts.bucket.node.defaultChild as never);
    template.hasResource('AWS::S3::Bucket', {
      Properties: Match.objectLike({
        VersioningConfiguration: { Status: 'Enabled' },
        BucketEncryption: Match.anyValue(),
        PublicAccessBlockConfiguration: {
          BlockPublicAcls: true,
          BlockPublicPolicy: true,
          IgnorePublicAcls: true,
          RestrictPublicBuckets: true,
        },
      }),
    });
    template.hasResourceProperties('AWS::S3::BucketPolicy', {
      Bucket: { Ref: artifacts },
      PolicyDocument: Match.objectLike({
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      }),
    });
  });

  test('state machines log at level ALL without execution data (task tokens are secrets), with X-Ray', () => {
    template.allResourcesProperties('AWS::StepFunctions::StateMachine', {
      LoggingConfiguration: Match.objectLike({ Level: 'ALL', IncludeExecutionData: false }),
      TracingConfiguration: { Enabled: true },
    });
  });

  test('approval gates wait for a task token, with the configured deadline', () => {
    const states = allStates(machines.get('tropos-apply-environment')!.definition);
    const approve = states.get('Approve apply')!;
    expect(approve.Resource).toMatch(/lambda:invoke.waitForTaskToken$/);
    expect(approve.TimeoutSeconds).toBe(config.approval.deadlineHours * 3600);
    expect(JSON.stringify(approve.Catch)).toContain('States.Timeout');
    expect(states.get('Approve apply expired')).toMatchObject({ Type: 'Fail', Error: 'ApprovalExpired' });
  });
});
