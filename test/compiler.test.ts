import { allStates, synthWorkflows } from './helpers/synth';

const HEAD = `description: test
inputs:
  required: [tenant, account, environment]
steps:
  - name: validate
    kind: validate
`;

describe('the workflow compiler', () => {
  const { machines } = synthWorkflows({
    'apply-things': `name: apply-things\n${HEAD}
  - name: plan
    kind: terraform
    command: plan
    components: [backend, vpc, iam, eks]
  - name: approve
    title: Approve apply
    kind: approval
    plan: plan
  - name: apply
    kind: terraform
    command: apply
    plan: plan
    components: [backend, vpc, iam, eks]
    when: { changes: plan }
    requires: [plan, approve]
  - name: check
    kind: terraform
    command: validate
    components: [vpc]
    when: { tier: [staging, prod] }
`,
    'destroy-things': `name: destroy-things\n${HEAD}
  - name: plan
    kind: terraform
    command: plan-destroy
    components: [backend, vpc, eks]
  - name: destroy
    kind: terraform
    command: destroy
    plan: plan
    components: [backend, vpc, eks]
    requires: [plan]
`,
  });
  const apply = machines.get('tropos-apply-things')!.definition as {
    StartAt: string;
    States: Record<string, Record<string, unknown>>;
  };
  const states = allStates(apply);

  test('the first state validates the input and replaces the state with {input, context, results}', () => {
    expect(apply.StartAt).toBe('Validate input');
    expect(states.get('Validate input')).toMatchObject({
      Type: 'Task',
      Parameters: expect.objectContaining({ 'input.$': '$' }),
    });
    // ResultPath left at its default: the result becomes the whole state.
    expect(states.get('Validate input')).not.toHaveProperty('ResultPath');
  });

  test('one Parallel branch per component, in dependency order, with readable state names', () => {
    const plan = states.get('Plan components')!;
    expect(plan.Type).toBe('Parallel');
    const branches = plan.Branches as { StartAt: string }[];
    expect(branches.map((b) => b.StartAt)).toEqual([
      'Await plan backend',
      'Await plan iam',
      'Await plan vpc',
      'Await plan eks',
    ]);
    for (const name of [
      'Plan vpc',
      'Plan vpc done',
      'Plan vpc failed',
      'Plan vpc skipped',
      'Run plan vpc?',
      'Summarize plan',
      'Apply eks',
    ]) {
      expect(states.has(name)).toBe(true);
    }
  });

  test('each branch awaits exactly its own dependencies (no levels)', () => {
    const payload = (name: string) => (states.get(name)!.Parameters as { Payload: Record<string, unknown> }).Payload;
    expect(payload('Await plan backend')).toMatchObject({ action: 'await', component: 'backend', dependsOn: [] });
    expect(payload('Await plan vpc')).toMatchObject({ dependsOn: ['backend'] });
    expect(payload('Await plan eks')).toMatchObject({ dependsOn: ['iam', 'vpc'] });
    expect(states.get('Await plan eks')!.Resource).toMatch(/lambda:invoke.waitForTaskToken$/);
  });

  test('destroy reverses the dependency order: dependents first', () => {
    const destroy = allStates(machines.get('tropos-destroy-things')!.definition);
    const payload = (name: string) => (destroy.get(name)!.Parameters as { Payload: Record<string, unknown> }).Payload;
    expect(payload('Await destroy eks')).toMatchObject({ dependsOn: [] });
    expect(payload('Await destroy vpc')).toMatchObject({ dependsOn: ['eks'] });
    expect(payload('Await destroy backend')).toMatchObject({ dependsOn: ['vpc'] });
  });

  test('a failing build is caught inside its branch and recorded, so siblings keep running', () => {
    const build = states.get('Plan vpc')!;
    expect(build.Resource).toMatch(/codebuild:startBuild.sync$/);
    expect(build.Catch).toEqual([{ ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: 'Plan vpc failed' }]);
    expect(states.get('Plan vpc failed')!.Parameters).toMatchObject({
      action: 'complete',
      status: 'FAILED',
      component: 'vpc',
    });
    // The step fails afterwards, in the summary, once every branch has ended.
    expect(states.get('Plan components')!.Next).toBe('Summarize plan');
  });

  test('apply reads the reviewed plan SHA-256 of its own component', () => {
    const env = (
      states.get('Apply eks')!.Parameters as {
        EnvironmentVariablesOverride: { Name: string; 'Value.$'?: string; Value?: string }[];
      }
    ).EnvironmentVariablesOverride;
    expect(env).toEqual(
      expect.arrayContaining([
        { Name: 'TROPOS_PLAN_SHA256_EXPECTED', Type: 'PLAINTEXT', 'Value.$': '$.results.plan.shas.eks' },
      ]),
    );
  });

  test('guards: fromStep, when (changes, tier, the approval policy), then requirements — in that order', () => {
    expect(states.get('Run Apply?')).toMatchObject({
      Type: 'Choice',
      Choices: [
        { Variable: '$.context.fromStepIndex', NumericGreaterThan: 3, Next: 'Not run apply' },
        { Not: { Variable: '$.results.plan.hasChanges', BooleanEquals: true }, Next: 'Skip Apply' },
        {
          Not: {
            And: [
              // The plan step did its work (SUCCEEDED); the approval was given or not needed (not skipped by fromStep).
              {
                And: [
                  { Variable: '$.results.plan.status', IsPresent: true },
                  { Variable: '$.results.plan.status', StringEquals: 'SUCCEEDED' },
                ],
              },
              {
                And: [
                  { Variable: '$.results.approve', IsPresent: true },
                  { Not: { Variable: '$.results.approve.notRun', IsPresent: true } },
                ],
              },
            ],
          },
          Next: 'Apply: requirements not met',
        },
      ],
      Default: 'Apply components',
    });
    expect(states.get('Apply: requirements not met')).toMatchObject({ Type: 'Fail', Error: 'RequirementNotMet' });
    expect(states.get('Not run apply')).toMatchObject({
      Type: 'Pass',
      ResultPath: '$.results.apply',
      Result: { status: 'SKIPPED', notRun: true },
    });
    expect(JSON.stringify(states.get('Run Check?'))).toContain(
      '{"Not":{"Or":[{"Variable":"$.context.tier","StringEquals":"staging"},{"Variable":"$.context.tier","StringEquals":"prod"}]},"Next":"Skip Check"}',
    );
    expect(JSON.stringify(states.get('Run Approve apply?'))).toContain(
      '{"Not":{"Variable":"$.results.plan.approvalRequired","BooleanEquals":true},"Next":"Skip Approve apply"}',
    );
    expect(states.get('Skip Apply')).toMatchObject({
      Type: 'Pass',
      ResultPath: '$.results.apply',
      Result: { status: 'SKIPPED', hasChanges: false },
    });
    expect(states.get('Skip Apply')).not.toHaveProperty('Result.notRun');
  });

  test('a child workflow is handed over before it is started: its input comes from the handover', () => {
    const { machines: m } = synthWorkflows({
      parent: `name: parent\nmutating: true\n${HEAD}  - name: child\n    kind: workflow\n    workflow: child\n`,
      child: `name: child\n${HEAD}`,
    });
    const parent = allStates(m.get('tropos-parent')!.definition as never);
    expect(parent.get('Hand over child')).toMatchObject({
      Type: 'Task',
      ResultPath: '$.handover',
      Next: 'Child',
      Parameters: {
        action: 'handover',
        workflow: 'child',
        'parentRunId.$': '$$.Execution.Name',
        'principal.$': '$.context.principal',
        'lockOwner.$': '$.context.lockOwner',
        input: expect.objectContaining({
          'tenant.$': '$.input.tenant',
          'AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID.$': '$$.Execution.Id',
        }),
      },
    });
    expect(parent.get('Child')).toMatchObject({ Parameters: { 'Input.$': '$.handover.input' } });
    expect(JSON.stringify(parent.get('Hand over child'))).not.toMatch(
      /parentRunId.\$":"\$\.input|lockOwner.\$":"\$\.input/,
    );
  });
});
