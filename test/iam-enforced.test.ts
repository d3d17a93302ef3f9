// IAM enforced offline, end to end: the local control plane authorizes every function's AWS calls and every
// state machine's tasks against the synthesized template's policies. Take one grant away, and the run fails the
// way AWS would fail it, naming the role, the action and the resource.
import type { Template } from '../lib/local/definitions';
import { callCounts } from '../lib/local/iam/enforcement';
import { DEV, startTestPlane } from './helpers/local';

jest.setTimeout(180_000);

type Statement = { Action: string | string[]; Effect: string; Resource: unknown };

/** The template without the statements of `roleOf(function)`'s policies that allow `action`. */
function withoutGrant(action: string, functionPrefix: string) {
  return (template: Template): Template => {
    const fn = Object.entries(template.Resources).find(
      ([id, r]) => r.Type === 'AWS::Lambda::Function' && id.startsWith(functionPrefix),
    )!;
    const role = ((fn[1].Properties!.Role as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'] ?? [])[0];
    let removed = 0;
    for (const r of Object.values(template.Resources)) {
      if (r.Type !== 'AWS::IAM::Policy') continue;
      const props = r.Properties as { Roles: { Ref: string }[]; PolicyDocument: { Statement: Statement[] } };
      if (!props.Roles.some((x) => x.Ref === role)) continue;
      const before = props.PolicyDocument.Statement.length;
      props.PolicyDocument.Statement = props.PolicyDocument.Statement.filter(
        (s) => !(Array.isArray(s.Action) ? s.Action : [s.Action]).includes(action),
      );
      removed += before - props.PolicyDocument.Statement.length;
    }
    if (removed === 0) throw new Error(`no statement of ${functionPrefix}'s role allows ${action}`);
    return template;
  };
}

describe('IAM enforced by the local control plane', () => {
  test('a run works with the grants the template has, and every call was authorized for its role', async () => {
    const t = await startTestPlane();
    try {
      const d = await t.run('plan-environment', DEV);
      expect(d.run.status).toBe('SUCCEEDED');
      const counts = t.plane.iam.counts();
      const role = (prefix: string) => Object.entries(counts).find(([id]) => id.startsWith(prefix))?.[1] ?? 0;
      // Functions (their SDK calls), state machines (their tasks), services (EventBridge, API Gateway invoking).
      for (const prefix of [
        'FunctionsValidateInput',
        'FunctionsComponentGraph',
        'FunctionsRecordRun',
        'FunctionsApi',
        'PlanEnvironmentRole',
      ])
        expect({ prefix, calls: role(prefix) }).toEqual({ prefix, calls: expect.any(Number) as number });
      expect(role('FunctionsComponentGraph')).toBeGreaterThan(14); // a release per component at least
      expect(counts['events.amazonaws.com']).toBeGreaterThan(0);
      expect(counts['apigateway.amazonaws.com']).toBeGreaterThan(0);
      // The report: calls authorized per role.
      console.log(
        `IAM enforced: calls authorized per role\n${Object.entries(counts)
          .sort(([a], [b]) => a.localeCompare(b))
          .map(([r, n]) => `  ${r.padEnd(60)} ${n}`)
          .join(
            '\n',
          )}\nSDK calls per principal (control-plane = its own marked clients): ${JSON.stringify(callCounts())}`,
      );
    } finally {
      await t.close();
    }
  });

  test('without states:SendTaskSuccess on the component-graph role, the run fails naming role, action and resource', async () => {
    const t = await startTestPlane({
      alterTemplate: withoutGrant('states:SendTaskSuccess', 'FunctionsComponentGraph'),
    });
    try {
      const d = await t.run('plan-environment', DEV);
      expect(d.run.status).toBe('FAILED');
      expect(d.run.cause).toMatch(
        /User: arn:aws:sts::000000000000:assumed-role\/\S*ComponentGraph\S*\/local is not authorized to perform: states:SendTaskSuccess on resource: arn:aws:states:us-east-1:000000000000:stateMachine:tropos-plan-environment/,
      );
    } finally {
      await t.close();
    }
  });

  test("without dynamodb:PutItem on the validator's role, the first state fails: AccessDeniedException", async () => {
    const t = await startTestPlane({ alterTemplate: withoutGrant('dynamodb:PutItem', 'FunctionsValidateInput') });
    try {
      const d = await t.run('plan-environment', DEV);
      expect(d.run).toMatchObject({ status: 'FAILED', error: 'AccessDeniedException' });
      expect(d.run.cause).toMatch(
        /ValidateInput\S*\/local is not authorized to perform: dynamodb:\w+ on resource: arn:aws:dynamodb:/,
      );
    } finally {
      await t.close();
    }
  });
});
