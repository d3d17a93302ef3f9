// Issue "Deployable on AWS": each finding of the template review, as a CDK assertion on the synthesized app (and,
// for the runner, on what its script does), so that none can come back unseen.
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { App } from 'aws-cdk-lib';
import { ConfigSchema } from '../lib/config/schema';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { buildApp, FEATURE_FLAGS } from '../lib/app';
import { QUEUED_MINUTES, RESOLVE_MINUTES } from '../lib/constructs/terraform-runners';
import { config, ROOT } from './helpers/fixtures';
import { allStates, synthRealApp } from './helpers/synth';

type Resources = Record<string, { Type: string; Properties: Record<string, unknown> }>;

const { template, stack, machines } = synthRealApp();
const resources = template.toJSON().Resources as Resources;
const ofType = (type: string) => Object.entries(resources).filter(([, r]) => r.Type === type);
const json = (v: unknown) => JSON.stringify(v);

/** The app for another configuration (the example with some fields changed), without bundling. */
function appFor(changes: Record<string, unknown>) {
  const text = readFileSync(join(ROOT, 'tropos.config.yaml'), 'utf8');
  const dir = mkdtempSync(join(tmpdir(), 'tropos-config-'));
  const path = join(dir, 'tropos.config.yaml');
  const parsed = { ...(parse(text) as Record<string, unknown>), ...changes };
  writeFileSync(path, stringify(parsed));
  return buildApp({
    configPath: path,
    app: new App({ context: { ...FEATURE_FLAGS, 'aws:cdk:bundling-stacks': [] } }),
    nag: false,
  });
}

describe('the findings of the template review, each fixed', () => {
  test('1. no function environment carries the settings or workflow specs (built into the bundles instead)', () => {
    for (const [, fn] of ofType('AWS::Lambda::Function')) {
      const vars = (fn.Properties.Environment as { Variables: Record<string, unknown> }).Variables;
      expect(Object.keys(vars)).not.toEqual(expect.arrayContaining(['TROPOS_SETTINGS']));
      expect(Object.keys(vars)).not.toEqual(expect.arrayContaining(['TROPOS_WORKFLOWS']));
    }
  });

  test("2. the component-graph role may answer its state machines' tasks (SendTaskSuccess), by name", () => {
    const role = stack.getLogicalId(stack.functions.componentGraph.role!.node.defaultChild as never);
    const policy = json(template.findResources('AWS::IAM::Policy', { Properties: { Roles: [{ Ref: role }] } }));
    expect(policy).toContain('"states:SendTaskSuccess"');
    expect(policy).toContain(`:stateMachine:${config.name}-plan-environment"`);
    expect(policy).not.toContain(`:stateMachine:${config.name}-*"`);
  });

  test('3. runners reach state, locks and artifacts with their own role; the artifacts key names its users', () => {
    const plan = stack.getLogicalId(stack.runners.planRole.node.defaultChild as never);
    const apply = stack.getLogicalId(stack.runners.applyRole.node.defaultChild as never);
    const policyOf = (role: string) =>
      json(template.findResources('AWS::IAM::Policy', { Properties: { Roles: [{ Ref: role }] } }));
    for (const role of [plan, apply]) {
      expect(policyOf(role)).toContain('-terraform-state-');
      expect(policyOf(role)).toContain('"dynamodb:PutItem"'); // locks, in Tropos's account
    }
    // Only the apply kind writes state objects other than a lock file.
    const writesState = (role: string) =>
      Object.values(template.findResources('AWS::IAM::Policy', { Properties: { Roles: [{ Ref: role }] } })).some((p) =>
        (
          p as { Properties: { PolicyDocument: { Statement: { Action: unknown; Resource: unknown }[] } } }
        ).Properties.PolicyDocument.Statement.some(
          (st) => json(st.Action).includes('s3:PutObject') && /-terraform-state-.*"\/\*"/.test(json(st.Resource)),
        ),
      );
    expect(writesState(apply)).toBe(true);
    expect(writesState(plan)).toBe(false);
    // The artifacts bucket's key: the account administers it; only the runner roles (and the scheduler, which reads
    // each run's resolved stack, and the API, which reads plan texts) use it, named.
    const artifactsKey = stack.getLogicalId(stack.artifacts.key.node.defaultChild as never);
    const keyPolicy = resources[artifactsKey]!.Properties.KeyPolicy as { Statement: Record<string, unknown>[] };
    const users = keyPolicy.Statement.filter(
      (s) => json(s.Action).includes('kms:Decrypt') && json(s.Principal).includes('AWS'),
    );
    const scheduler = stack.getLogicalId(stack.functions.componentGraph.role!.node.defaultChild as never);
    const api = stack.getLogicalId(stack.functions.api.role!.node.defaultChild as never);
    expect(users.map((s) => json(s.Principal)).sort()).toEqual(
      [apply, plan, scheduler, api].map((role) => json({ AWS: { 'Fn::GetAtt': [role, 'Arn'] } })).sort(),
    );
    // The API only decrypts, and reads plan texts only.
    expect(users.find((s) => json(s.Principal).includes(api))!.Action).toBe('kms:Decrypt');
    expect(policyOf(api)).toContain('/runs/*/plan.txt');
    expect(policyOf(api)).not.toMatch(/"s3:(PutObject|DeleteObject)|\/runs\/\*"/);
    // The scheduler only decrypts, and reads resolved stacks only.
    expect(users.find((s) => json(s.Principal).includes(scheduler))!.Action).toBe('kms:Decrypt');
    expect(policyOf(scheduler)).toContain('/runs/*/resolve/stack.json');
    expect(policyOf(scheduler)).not.toMatch(/"s3:(PutObject|DeleteObject)/);
    const admin = keyPolicy.Statement.find((s) => s.Sid === 'AccountAdministersTheKey')!;
    expect(json(admin.Action)).not.toMatch(/kms:(Decrypt|Encrypt|GenerateDataKey)"/);
    template.hasResourceProperties('AWS::S3::Bucket', {
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [
          {
            BucketKeyEnabled: true,
            ServerSideEncryptionByDefault: {
              SSEAlgorithm: 'aws:kms',
              KMSMasterKeyID: { 'Fn::GetAtt': [artifactsKey, 'Arn'] },
            },
          },
        ],
      },
    });
    expect(readFileSync(join(ROOT, 'buildspecs', 'scripts', 'tropos-terraform.sh'), 'utf8')).not.toContain(
      '--sse aws:kms',
    );
  });

  test("3-4. the runner: providers through a refreshing profile in the target account, the backend with the build role, in Tropos's region", () => {
    const dir = mkdtempSync(join(tmpdir(), 'tropos-runner-'));
    const bin = join(dir, 'bin');
    mkdirSync(bin);
    // A terraform that records what it was given: its arguments and the credentials' environment.
    writeFileSync(
      join(bin, 'terraform'),
      `#!/usr/bin/env bash\nprintf '%s|AWS_PROFILE=%s|TF_CLI_ARGS_init=%s\\n' "$*" "\${AWS_PROFILE:-}" "\${TF_CLI_ARGS_init:-}" >>"${dir}/calls"\n[ "$2" = plan ] && exit 0\nexit 0\n`,
    );
    chmodSync(join(bin, 'terraform'), 0o755);
    // What the run's Resolve stack left for the component (its state settings).
    const settings = join(dir, 'artifacts', 'runs', 'run-1', 'resolve', 'components');
    mkdirSync(settings, { recursive: true });
    writeFileSync(join(settings, 'vpc.sh'), "state_key='dev/testenv-01/vpc/terraform.tfstate'\nfolder='vpc'\n");
    const r = spawnSync('bash', [join(ROOT, 'buildspecs', 'scripts', 'tropos-terraform.sh')], {
      encoding: 'utf8',
      env: {
        PATH: `${bin}:${process.env.PATH}`,
        TERRAFORM_VERSION: '1.9.8',
        TROPOS_ARTIFACTS_DIR: join(dir, 'artifacts'),
        TROPOS_COMMAND: 'validate',
        TROPOS_COMPONENT: 'vpc',
        TROPOS_ENGINE: 'terraform',
        TROPOS_INFRA_DIR: join(ROOT, 'examples', 'terraform'),
        TROPOS_WORK_DIR: join(dir, 'work'),
        TROPOS_EXPORTS: join(dir, 'exports'),
        TROPOS_ROLE_NAME: 'tropos-terraform-plan',
        TROPOS_BACKEND_REGION: 'us-east-1',
        TROPOS_CONTEXT: JSON.stringify({
          stack: 'acme-dev-testenv-01',
          account: 'dev',
          environment: 'testenv-01',
          region: 'eu-west-1',
          accountId: '222222222222',
          stateBucket: 'acme-terraform-state-111111111111',
          lockTable: 'acme-terraform-locks',
        }),
        TROPOS_RUN_ID: 'run-1',
      },
    });
    expect(r.stdout).toContain('providers act as arn:aws:iam::222222222222:role/tropos-terraform-plan');
    const profiles = readFileSync(join(dir, 'work', 'aws-config'), 'utf8');
    expect(profiles).toMatch(
      /\[profile tropos-target\]\nrole_arn = arn:aws:iam::222222222222:role\/tropos-terraform-plan\ncredential_source = EcsContainer\nrole_session_name = tropos-run-1\nregion = eu-west-1/,
    );
    expect(profiles).toMatch(/\[profile tropos-build\]\ncredential_source = EcsContainer\nregion = us-east-1/);
    const calls = readFileSync(join(dir, 'calls'), 'utf8');
    expect(calls).toContain('AWS_PROFILE=tropos-target|TF_CLI_ARGS_init=-backend-config=profile=tropos-build');
  });

  test('5. the notifications topic uses a customer-managed key CloudWatch may use', () => {
    const key = stack.getLogicalId(stack.notificationsKey.node.defaultChild as never);
    template.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: { 'Fn::GetAtt': [key, 'Arn'] } });
    const policy = json(resources[key]!.Properties.KeyPolicy);
    expect(policy).toContain('"Service":"cloudwatch.amazonaws.com"');
    expect(json(template.toJSON())).not.toContain('alias/aws/sns');
  });

  test("6. the backend region is Tropos's on every runner; bootstrap-backend takes no region", () => {
    for (const [, p] of ofType('AWS::CodeBuild::Project'))
      expect((p.Properties.Environment as { EnvironmentVariables: unknown[] }).EnvironmentVariables).toContainEqual({
        Name: 'TROPOS_BACKEND_REGION',
        Type: 'PLAINTEXT',
        Value: config.region,
      });
    expect(readFileSync(join(ROOT, 'buildspecs', 'scripts', 'tropos-terraform.sh'), 'utf8')).toContain(
      'region=${TROPOS_BACKEND_REGION',
    );
    expect(readFileSync(join(ROOT, 'workflows', 'bootstrap-backend.yaml'), 'utf8')).not.toMatch(/optional: \[region\]/);
  });

  test('7. every Lambda task retries throttling; builds retry a full queue and their timeouts allow for queueing', () => {
    type Retry = { ErrorEquals: string[]; MaxAttempts?: number; MaxDelaySeconds?: number; JitterStrategy?: string };
    const tasks = [...machines.values()].flatMap((m) =>
      [...allStates(m.definition)].filter(([, state]) => state.Type === 'Task'),
    );
    const retryOf = (state: Record<string, unknown>, error: string) =>
      ((state.Retry ?? []) as Retry[]).find((r) => r.ErrorEquals.includes(error));
    const lambdaTasks = tasks.filter(([, state]) => String(state.Resource).includes(':lambda:invoke'));
    const builds = tasks.filter(([, state]) => String(state.Resource).includes(':codebuild:startBuild'));
    // The same few states whatever the number of components (worker pools): every workflow's, all checked.
    expect(lambdaTasks.length).toBeGreaterThan(20);
    expect(builds.length).toBeGreaterThan(20);
    // Every Lambda task: throttling retried with full jitter, at most a minute apart.
    expect(
      lambdaTasks
        .filter(([, state]) => {
          const r = retryOf(state, 'Lambda.TooManyRequestsException');
          return !(r?.JitterStrategy === 'FULL' && r.MaxDelaySeconds === 60);
        })
        .map(([name]) => name),
    ).toEqual([]);
    // Every build: a full queue retried at least 10 times; the task's limit covers the build and its queueing.
    // (The resolve project — Resolve stack, Discover stacks — has its own, shorter limit.)
    const resolveBuilds = new Set(['Resolve stack', 'Discover stacks']);
    const queueing = (name: string) =>
      ((resolveBuilds.has(name) ? RESOLVE_MINUTES : config.terraform.timeoutMinutes) + QUEUED_MINUTES) * 60;
    expect(
      builds
        .filter(([name, state]) => {
          const r = retryOf(state, 'CodeBuild.AccountLimitExceededException');
          return !((r?.MaxAttempts ?? 0) >= 10 && (state.TimeoutSeconds as number) >= queueing(name));
        })
        .map(([name]) => name),
    ).toEqual([]);
    template.allResourcesProperties('AWS::CodeBuild::Project', { QueuedTimeoutInMinutes: QUEUED_MINUTES });
  });

  test('8. ledger events and scheduled sweeps that cannot be delivered land in alarmed dead-letter queues', () => {
    for (const [, rule] of ofType('AWS::Events::Rule'))
      for (const t of rule.Properties.Targets as Record<string, unknown>[])
        expect(t).toMatchObject({
          DeadLetterConfig: { Arn: expect.anything() },
          RetryPolicy: { MaximumRetryAttempts: 185 },
        });
    template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      DestinationConfig: { OnFailure: { Destination: Match.anyValue() } },
    });
    template.hasResourceProperties('AWS::Scheduler::Schedule', {
      Target: Match.objectLike({ DeadLetterConfig: { Arn: Match.anyValue() } }),
    });
    const queues = ofType('AWS::SQS::Queue').map(([id]) => id);
    expect(queues.length).toBe(2);
    for (const q of queues)
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        MetricName: 'ApproximateNumberOfMessagesVisible',
        Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [q, 'QueueName'] } }],
        AlarmActions: Match.anyValue(),
      });
  });

  test('9. physical names carry the installation name; runner role ARNs are outputs; the default bucket carries the account id', () => {
    const { stack: b } = appFor({ name: 'tropos-b' });
    expect(b.stackName).toBe('TroposB');
    const t = Template.fromStack(b);
    const names = (type: string, key: string) =>
      Object.values(t.findResources(type)).map((r) =>
        String((r as { Properties: Record<string, unknown> }).Properties[key]),
      );
    expect(names('AWS::StepFunctions::StateMachine', 'StateMachineName').every((n) => n.startsWith('tropos-b-'))).toBe(
      true,
    );
    expect(names('AWS::CodeBuild::Project', 'Name').every((n) => n.startsWith('tropos-b-terraform-'))).toBe(true);
    expect(
      names('AWS::IAM::Role', 'RoleName')
        .filter((n) => n !== 'undefined')
        .sort(),
    ).toEqual(['tropos-b-runner-apply', 'tropos-b-runner-plan']);
    expect(names('AWS::ApiGateway::RestApi', 'Name')).toEqual(['tropos-b']);
    expect(Object.keys(t.toJSON().Outputs)).toEqual(
      expect.arrayContaining(['PlanRunnerRoleArn', 'ApplyRunnerRoleArn']),
    );
    // The default state bucket name is the tenant's and the account's: bucket names are global.
    const withoutBucket = structuredClone(config) as { stateBackend: { bucket?: string } };
    delete withoutBucket.stateBackend.bucket;
    expect(ConfigSchema.parse(withoutBucket).stateBackend.bucket).toBe('{tenant}-terraform-state-{awsAccountId}');
  });
});

describe('the target-account roles, as code', () => {
  const { targetRoles } = buildApp({
    app: new App({ context: { ...FEATURE_FLAGS, 'aws:cdk:bundling-stacks': [] } }),
    nag: false,
  });
  const t = Template.fromStack(targetRoles);

  test.each([
    ['PlanRole', config.roles.plan, 'runner-plan', 'ReadOnlyAccess'],
    ['DeployRole', config.roles.apply, 'runner-apply', 'AdministratorAccess'],
  ])(
    '%s: named as the configuration says, trusting exactly the Tropos runner role of its kind',
    (_, name, runner, policy) => {
      const roles = Object.values(t.findResources('AWS::IAM::Role'));
      expect(roles).toHaveLength(2);
      t.hasResourceProperties('AWS::IAM::Role', {
        RoleName: name,
        AssumeRolePolicyDocument: {
          Statement: [
            {
              Action: 'sts:AssumeRole',
              Effect: 'Allow',
              Principal: {
                AWS: {
                  'Fn::Join': [
                    '',
                    [
                      'arn:',
                      { Ref: 'AWS::Partition' },
                      ':iam::',
                      { Ref: 'TroposAccountId' },
                      `:role/${config.name}-${runner}`,
                    ],
                  ],
                },
              },
            },
          ],
        },
        ManagedPolicyArns: [{ 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, `:iam::aws:policy/${policy}`]] }],
      });
    },
  );

  test('takes the Tropos account as a parameter, outputs both role ARNs, and is environment-agnostic (StackSet-ready)', () => {
    expect(t.toJSON().Parameters.TroposAccountId).toMatchObject({ Type: 'String', AllowedPattern: '^\\d{12}$' });
    expect(Object.keys(t.toJSON().Outputs).sort()).toEqual(['DeployRoleArn', 'PlanRoleArn']);
    expect(targetRoles.environment).toBe('aws://unknown-account/unknown-region');
    // Deployable into an account that was never CDK-bootstrapped (a StackSet target): no bootstrap version check.
    expect(t.toJSON().Parameters.BootstrapVersion).toBeUndefined();
    expect(t.toJSON().Rules?.CheckBootstrapVersion).toBeUndefined();
  });
});

describe('the README\'s "Deploy to AWS", as far as offline allows', () => {
  test('step 2-4: cdk synth with a sample configuration gives both stacks, with the outputs the README names', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tropos-deploy-'));
    const sample = {
      ...(parse(readFileSync(join(ROOT, 'tropos.config.yaml'), 'utf8')) as object),
      name: 'tropos-demo',
    };
    writeFileSync(join(dir, 'tropos.config.yaml'), stringify(sample));
    const r = spawnSync('npx', ['cdk', 'synth', '--quiet', '--output', join(dir, 'out')], {
      cwd: ROOT,
      encoding: 'utf8',
      env: { ...process.env, TROPOS_CONFIG: join(dir, 'tropos.config.yaml') },
    });
    expect(r.status).toBe(0);
    const main = JSON.parse(readFileSync(join(dir, 'out', 'TroposDemo.template.json'), 'utf8'));
    const roles = JSON.parse(readFileSync(join(dir, 'out', 'TroposDemoTargetAccountRoles.template.json'), 'utf8'));
    expect(Object.keys(main.Outputs)).toEqual(
      expect.arrayContaining([
        'ApiUrl',
        'PlanRunnerRoleArn',
        'ApplyRunnerRoleArn',
        'LedgerDeadLetterQueueUrl',
        'RecordRunFunctionName',
        'DriftSweepDeadLetterQueueUrl',
      ]),
    );
    expect(
      Object.keys(main.Outputs).filter((k) => /^Api(Ticketing|Operator|Approver|Reader)PolicyArn/.test(k)),
    ).toHaveLength(4);
    expect(Object.keys(roles.Outputs).sort()).toEqual(['DeployRoleArn', 'PlanRoleArn']);
    expect(roles.Parameters.TroposAccountId).toBeDefined();
  }, 120_000);
});
