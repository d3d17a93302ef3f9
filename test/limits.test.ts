// The offline world as strict as AWS about its limits: each test crosses one and sees the failure AWS would give.
import { App, CfnResource } from 'aws-cdk-lib';
import { buildApp, FEATURE_FLAGS, synthWithinLimits } from '../lib/app';
import { validatorSettings } from '../lib/config/validator-settings';
import { AWS_LIMITS, executionNameProblem } from '../lib/limits/aws-limits';
import { assertTemplateWithinLimits, longestValue, templateFigures } from '../lib/limits/template-limits';
import { LocalEngine, TaskError } from '../lib/local/engine';
import { LocalFunctions } from '../lib/local/functions';
import { loadWorkflows } from '../lib/workflow/load';
import { workflowSpec } from '../lib/workflow/spec';
import { join } from 'node:path';
import { catalog, config, ROOT } from './helpers/fixtures';
import { startTestPlane } from './helpers/local';

jest.setTimeout(120_000);

// The asl-validator the local engine's library calls (its own copy), counted: each call is the real validation.
jest.mock('../node_modules/aws-local-stepfunctions/node_modules/asl-validator', () => {
  const real = jest.requireActual<(...args: unknown[]) => unknown>(
    '../node_modules/aws-local-stepfunctions/node_modules/asl-validator',
  );
  return jest.fn((...args: unknown[]) => real(...args));
});
// eslint-disable-next-line @typescript-eslint/no-require-imports
const aslValidations = require('../node_modules/aws-local-stepfunctions/node_modules/asl-validator') as jest.Mock;

/** The real app, not yet synthesized, without bundling (the limits do not depend on the bundles). */
function realApp() {
  return buildApp({ app: new App({ context: { ...FEATURE_FLAGS, 'aws:cdk:bundling-stacks': [] } }), nag: false });
}

describe('deploy-time limits, checked when the app is synthesized', () => {
  test('the real app is within every limit, with its figures', () => {
    const { app, stack } = realApp();
    expect(() => synthWithinLimits(app, stack)).not.toThrow();
  });

  test('fails when a function environment is over 4 KB (Lambda), naming the function', () => {
    const { app, stack } = realApp();
    stack.functions.api.addEnvironment('EXTRA', 'x'.repeat(3500));
    expect(() => synthWithinLimits(app, stack)).toThrow(/FunctionsApi\w+: Lambda environment bytes \d+ > 4096/);
  });

  test("fails for the environment the API function had before (settings and workflows as JSON): finding 1's regression", () => {
    const { app, stack } = realApp();
    const workflows = loadWorkflows(join(ROOT, 'workflows'), catalog);
    stack.functions.api.addEnvironment('TROPOS_SETTINGS', JSON.stringify(validatorSettings(config, catalog)));
    stack.functions.api.addEnvironment(
      'TROPOS_WORKFLOWS',
      JSON.stringify(Object.fromEntries([...workflows].map(([name, wf]) => [name, workflowSpec(wf)]))),
    );
    expect(() => synthWithinLimits(app, stack)).toThrow(/FunctionsApi\w+: Lambda environment bytes/);
  });

  test('a token is counted at its longest plausible value: a table name at 255, not the local name', () => {
    const template = {
      Resources: {
        T: { Type: 'AWS::DynamoDB::Table' },
        F: {
          Type: 'AWS::Lambda::Function',
          Properties: {
            Environment: { Variables: Object.fromEntries([...Array(16).keys()].map((i) => [`T${i}`, { Ref: 'T' }])) },
          },
        },
      },
    };
    // 16 × (3 + 255) > 4096: refused although each value is a short logical id here.
    expect(longestValue({ Ref: 'T' }, template, 'x')).toBe(255);
    expect(() => assertTemplateWithinLimits(template, 100)).toThrow(/F: Lambda environment bytes 41\d\d > 4096/);
    expect(() => longestValue({ Ref: 'Nope' }, template, 'F')).toThrow(/Ref to Nope, which is not in the template/);
    expect(() => longestValue({ 'Fn::GetAtt': ['T', 'Nonsense'] }, template, 'F')).toThrow(/cannot bound/);
  });

  test('fails when the stack has more than 500 resources (CloudFormation)', () => {
    const { app, stack } = realApp();
    for (let i = 0; i < 300; i++)
      new CfnResource(stack, `Pad${i}`, { type: 'AWS::CloudFormation::WaitConditionHandle' });
    // CDK itself refuses this one at synth too, in its own words; either way `cdk synth` fails.
    expect(() => synthWithinLimits(app, stack)).toThrow(
      /resources per stack \d+ > 500|greater than allowed maximum of 500/,
    );
  });

  test('fails when the template is over 1,000,000 bytes (CloudFormation)', () => {
    const { app, stack } = realApp();
    new CfnResource(stack, 'Big', {
      type: 'AWS::SSM::Parameter',
      properties: { Type: 'String', Value: 'x'.repeat(1_000_000) },
    });
    expect(() => synthWithinLimits(app, stack)).toThrow(/template: template bytes \d+ > 1000000/);
  });

  test('fails when a state machine definition is over 1,048,576 bytes (Step Functions)', () => {
    const definition = { StartAt: 'P', States: { P: { Type: 'Pass', Result: 'x'.repeat(1_100_000), End: true } } };
    const template = {
      Resources: {
        M: { Type: 'AWS::StepFunctions::StateMachine', Properties: { DefinitionString: JSON.stringify(definition) } },
      },
    };
    expect(() => assertTemplateWithinLimits(template, 1000)).toThrow(/M: state machine definition bytes \d+ > 1048576/);
    expect(templateFigures(template, 1000).map((f) => f.limit)).toEqual([
      'template bytes',
      'resources per stack',
      'state machine definition bytes',
    ]);
  });
});

/** A local engine over a hand-written template (no functions, no builds). */
function engineFor(definition: Record<string, unknown>): LocalEngine {
  const template = {
    Resources: {
      M: {
        Type: 'AWS::StepFunctions::StateMachine',
        Properties: { StateMachineName: 'tropos-limits', DefinitionString: JSON.stringify(definition) },
      },
    },
  };
  return new LocalEngine({
    template,
    region: 'us-east-1',
    functions: new LocalFunctions(template, 'us-east-1', '/nonexistent'),
    build: async () => ({ BuildStatus: 'SUCCEEDED' }),
    sdk: async () => ({}),
  });
}

describe('run-time limits, in the local engine', () => {
  test('history events are counted as Step Functions writes them: Pass then Succeed is 6 events', async () => {
    const engine = engineFor({
      StartAt: 'P',
      States: { P: { Type: 'Pass', Next: 'S' }, S: { Type: 'Succeed' } },
    });
    const e = engine.startExecution('tropos-limits', {}, 'six-events');
    await e.done;
    // ExecutionStarted, PassStateEntered, PassStateExited, SucceedStateEntered, SucceedStateExited, ExecutionSucceeded
    expect(e).toMatchObject({ status: 'SUCCEEDED', historyEvents: 6 });
  });

  test.each([
    [5_000, { status: 'SUCCEEDED', historyEvents: 4 * 5_000 + 6 }],
    [
      7_000,
      {
        status: 'FAILED',
        error: 'States.Runtime',
        cause: expect.stringMatching(/history reached 25001 events; a standard workflow allows 25000/),
      },
    ],
  ])('a Map of %i iterations (4 events each) against the 25,000-event history', async (items, expected) => {
    const engine = engineFor({
      StartAt: 'Each',
      States: {
        Each: {
          Type: 'Map',
          ItemsPath: '$.items',
          MaxConcurrency: 40,
          ItemProcessor: { StartAt: 'One', States: { One: { Type: 'Pass', Result: 1, End: true } } },
          ResultPath: null,
          End: true,
        },
      },
    });
    const e = engine.startExecution('tropos-limits', { items: [...Array(items).keys()] }, `map-${items}`);
    await e.done;
    // ExecutionStarted/Succeeded, MapStateEntered/Started/Succeeded/Exited; per item MapIterationStarted/Succeeded,
    // PassStateEntered/Exited.
    expect(e).toMatchObject(expected);
  });

  test('a state output over 256 KiB fails the execution with States.DataLimitExceeded', async () => {
    const engine = engineFor({
      StartAt: 'Grow',
      // The output holds the input's text twice.
      States: { Grow: { Type: 'Pass', Parameters: { 'a.$': '$.text', 'b.$': '$.text' }, End: true } },
    });
    const e = engine.startExecution('tropos-limits', { text: 'y'.repeat(100_000) }, 'big-ok');
    await e.done;
    expect(e.status).toBe('SUCCEEDED');
    const over = engine.startExecution('tropos-limits', { text: 'y'.repeat(140_000) }, 'big');
    await over.done;
    expect(over).toMatchObject({ status: 'FAILED', error: 'States.DataLimitExceeded' });
    expect(over.largestPayloadBytes).toBeGreaterThan(AWS_LIMITS.statePayloadBytes);
  });

  test('StartExecution refuses an input over 256 KiB and names Step Functions refuses', () => {
    const engine = engineFor({ StartAt: 'S', States: { S: { Type: 'Succeed' } } });
    expect(() => engine.startExecution('tropos-limits', { x: 'z'.repeat(270_000) }, 'in')).toThrow(TaskError);
    expect(() => engine.startExecution('tropos-limits', { x: 'z'.repeat(270_000) }, 'in')).toThrow(
      /InvalidExecutionInput|262144/,
    );
    for (const name of ['a'.repeat(81), 'has space', 'a/b', 'star*', 'tab\tname', ''])
      expect(() => engine.startExecution('tropos-limits', {}, name)).toThrow(
        expect.objectContaining({ name: 'InvalidName' }),
      );
    expect(() => engine.startExecution('tropos-limits', {}, 'a'.repeat(80))).not.toThrow();
    expect(executionNameProblem('onboard-environment-20261201-151648-c296-deploy')).toBeUndefined();
  });
});

describe('state machine definitions, in the local engine', () => {
  test('a definition is validated once, not at every execution start; an invalid one is refused at every start', async () => {
    const engine = engineFor({ StartAt: 'P', States: { P: { Type: 'Pass', End: true } } });
    aslValidations.mockClear();
    for (const name of ['first', 'second', 'third']) await engine.startExecution('tropos-limits', {}, name).done;
    expect(aslValidations).toHaveBeenCalledTimes(1);
    // A Next to no state: Step Functions refuses the definition; so does the local engine, every time, and the
    // execution's name stays free.
    const invalid = engineFor({ StartAt: 'P', States: { P: { Type: 'Pass', Next: 'Nowhere' } } });
    for (let i = 0; i < 2; i++)
      expect(() => invalid.startExecution('tropos-limits', {}, 'refused')).toThrow(/definition is invalid/);
    expect(invalid.listExecutions()).toEqual([]);
  });
});

describe('Lambda payload limits, in the local functions', () => {
  test('a request over 6 MB is refused as Lambda refuses it', async () => {
    const t = await startTestPlane();
    try {
      await expect(
        t.plane.functions.invokeFolder('api', { httpMethod: 'GET', path: '/runs', body: 'b'.repeat(6_300_000) }),
      ).rejects.toMatchObject({ name: 'Lambda.RequestTooLargeException' });
    } finally {
      await t.close();
    }
  });
});
