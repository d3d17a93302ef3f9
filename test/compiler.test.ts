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

  test('the stack is resolved from the repository once, after validation, before any terraform step', () => {
    expect(states.get('Validate input')!.Next).toBe('Resolve stack');
    const resolve = states.get('Resolve stack')!;
    expect(resolve).toMatchObject({ Type: 'Task', ResultPath: null, Next: 'Record stack' });
    expect(resolve.Resource).toMatch(/codebuild:startBuild.sync$/);
    expect(resolve.Catch).toEqual([
      { ErrorEquals: ['States.ALL'], ResultPath: '$.resolveError', Next: 'Resolve stack failed' },
    ]);
    expect(states.get('Record stack')).toMatchObject({
      ResultPath: '$.stack',
      Parameters: expect.objectContaining({
        action: 'resolved',
        'asked.$': '$.context.asked',
        'stack.$': '$.context.stack',
      }),
    });
    expect(states.get('Resolve stack failed')!.Parameters).toMatchObject({
      action: 'resolved',
      'error.$': '$.resolveError',
    });
  });

  test('a terraform step is a pool of workers, whatever the number of components: prepare, Map, summarize', () => {
    expect(states.get('Prepare plan')).toMatchObject({
      ResultPath: '$.pool',
      Next: 'Plan components',
      Parameters: expect.objectContaining({
        action: 'prepare',
        select: ['backend', 'vpc', 'iam', 'eks'],
        reverse: false,
      }),
    });
    const pool = states.get('Plan components')!;
    expect(pool).toMatchObject({
      Type: 'Map',
      ItemsPath: '$.pool.workers',
      MaxConcurrency: 40,
      ResultPath: null,
      Next: 'Summarize plan',
    });
    // The same states for 4 components as for 400: no state names a component.
    const inside = [...allStates((pool.ItemProcessor as never) ?? {}).keys()].sort();
    expect(inside).toEqual(['Next plan component', 'Plan component', 'Plan: more?', 'Plan: worker done']);
    const next = states.get('Next plan component')!;
    expect(next.Resource).toMatch(/lambda:invoke.waitForTaskToken$/);
    expect(next).toMatchObject({ ResultPath: '$.next', Next: 'Plan: more?' });
    expect(states.get('Plan: more?')).toMatchObject({
      Choices: [{ Variable: '$.next.done', BooleanEquals: true, Next: 'Plan: worker done' }],
      Default: 'Plan component',
    });
  });

  test('destroy reverses the dependency order: dependents first', () => {
    const destroy = allStates(machines.get('tropos-destroy-things')!.definition);
    expect(destroy.get('Prepare destroy')!.Parameters).toMatchObject({ reverse: true });
  });

  test('a failing build is caught and handed to the next ask, so the worker (and its siblings) keep going', () => {
    const build = states.get('Plan component')!;
    expect(build.Resource).toMatch(/codebuild:startBuild.sync$/);
    expect(build.Catch).toEqual([{ ErrorEquals: ['States.ALL'], ResultPath: '$.last', Next: 'Next plan component' }]);
    expect(build).toMatchObject({ ResultPath: '$.last', Next: 'Next plan component' });
    expect((states.get('Next plan component')!.Parameters as { Payload: unknown }).Payload).toMatchObject({
      action: 'next',
      'finished.$': '$.next.component',
      'last.$': '$.last',
    });
  });

  test("apply takes the reviewed plan SHA-256 the scheduler hands out with each component, and the run's commit", () => {
    const env = (
      states.get('Apply component')!.Parameters as {
        EnvironmentVariablesOverride: { Name: string; 'Value.$'?: string; Value?: string }[];
      }
    ).EnvironmentVariablesOverride;
    expect(env).toEqual(
      expect.arrayContaining([
        { Name: 'TROPOS_COMPONENT', Type: 'PLAINTEXT', 'Value.$': '$.next.component' },
        { Name: 'TROPOS_PLAN_SHA256_EXPECTED', Type: 'PLAINTEXT', 'Value.$': '$.next.planSha256' },
        { Name: 'TROPOS_COMMIT', Type: 'PLAINTEXT', 'Value.$': '$.stack.commit' },
      ]),
    );
    expect((states.get('Next apply component')!.Parameters as { Payload: unknown }).Payload).toMatchObject({
      planStep: 'plan',
    });
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
      Default: 'Prepare apply',
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

  test("a child's commit: the stack its parent resolved, the commit a step pushed, or the first stage's", () => {
    const { machines: m } = synthWorkflows({
      stages: `name: stages
${HEAD}  - name: first
    kind: workflow
    workflow: child
  - name: second
    kind: workflow
    workflow: child
`,
      onboard: `name: onboard
mutating: true
${HEAD}  - name: gen
    kind: terraform
    command: generate-config
  - name: deploy
    kind: workflow
    workflow: child
`,
      child: `name: child
${HEAD}`,
    });
    const stages = allStates(m.get('tropos-stages')!.definition as never);
    expect(stages.get('Hand over first')).not.toHaveProperty('Parameters.commitFromRun.$');
    expect(stages.get('Hand over second')).toMatchObject({
      Parameters: { 'commitFromRun.$': "States.Format('{}-{}', $$.Execution.Name, 'first')" },
    });
    const onboard = allStates(m.get('tropos-onboard')!.definition as never);
    expect(onboard.get('Hand over deploy')).toMatchObject({
      Parameters: { 'commitFromRun.$': '$$.Execution.Name', commitFromStep: 'gen' },
    });
  });
});
