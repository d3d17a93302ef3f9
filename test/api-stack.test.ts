import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { Match } from 'aws-cdk-lib/assertions';
import { ROUTES } from '../lambdas/api/core';
import { ONBOARD_FIELDS } from '../lambdas/api/environments';
import { basePathOf } from '../lambdas/api/http';
import { ConfigSchema, type TroposConfig } from '../lib/config/schema';
import { config, ROOT } from './helpers/fixtures';
import { allStates, synthRealApp, synthWorkflows } from './helpers/synth';

/** The synthesized REST API's methods as `METHOD /path`, the path rebuilt from the resources' parents. */
function apiMethods(resources: Record<string, { Type: string; Properties: Record<string, unknown> }>): string[] {
  const pathOf = (ref: unknown): string => {
    if (typeof ref === 'object' && ref !== null && 'Fn::GetAtt' in ref) return ''; // the root resource
    const id = (ref as { Ref: string }).Ref;
    const r = resources[id]!;
    return `${pathOf(r.Properties.ParentId)}/${String(r.Properties.PathPart)}`;
  };
  return Object.values(resources)
    .filter((r) => r.Type === 'AWS::ApiGateway::Method')
    .map((m) => `${String(m.Properties.HttpMethod)} ${pathOf(m.Properties.ResourceId) || '/'}`)
    .sort();
}

const routes = ROUTES.map((r) => `${r.method} ${r.path}`).sort();

describe('the HTTP API on API Gateway', () => {
  const { template } = synthRealApp();
  const resources = template.toJSON().Resources as Record<
    string,
    { Type: string; Properties: Record<string, unknown> }
  >;

  test('one method per route of the handler, and no other', () => {
    expect(apiMethods(resources)).toEqual(routes);
  });

  test('IAM authorisation on every method', () => {
    const methods = Object.values(resources).filter((r) => r.Type === 'AWS::ApiGateway::Method');
    expect(methods.length).toBe(ROUTES.length);
    for (const m of methods)
      expect({ method: m.Properties.HttpMethod, auth: m.Properties.AuthorizationType }).toEqual({
        method: m.Properties.HttpMethod,
        auth: 'AWS_IAM',
      });
  });

  test('one managed policy per kind of caller, allowing execute-api:Invoke on exactly its routes, exported', () => {
    const policies = Object.entries(resources).filter(([, r]) => r.Type === 'AWS::IAM::ManagedPolicy');
    const byRole = Object.fromEntries(
      policies
        .filter(([, r]) => String(r.Properties.Description).startsWith('Tropos API, '))
        .map(([, r]) => {
          const doc = r.Properties.PolicyDocument as { Statement: { Action: string; Resource: unknown }[] };
          const description = String(r.Properties.Description);
          const role = /^Tropos API, (\w+):/.exec(description)?.[1] ?? '?';
          const stmt = doc.Statement[0]!;
          const arns = (Array.isArray(stmt.Resource) ? stmt.Resource : [stmt.Resource]).map((res) =>
            // Fn::Join of the execute-api ARN: the method and path are the last literal part.
            String(((res as { 'Fn::Join': [string, unknown[]] })['Fn::Join'][1].at(-1) as string) ?? ''),
          );
          return [role, { action: stmt.Action, arns: arns.sort() }];
        }),
    );
    const expected = (role: string) =>
      ROUTES.filter((r) => (r.callers as readonly string[]).includes(role))
        .map((r) => `/v1/${r.method}${r.path.replace(/\{\w+\}/g, '*')}`)
        .sort();
    for (const role of ['ticketing', 'operator', 'approver', 'reader']) {
      expect(byRole[role]).toEqual({ action: 'execute-api:Invoke', arns: expected(role) });
    }
    expect(expected('reader').every((a) => a.startsWith('/v1/GET/'))).toBe(true);
    expect(expected('ticketing')).toContain('/v1/POST/environments');
    expect(expected('ticketing')).not.toContain('/v1/POST/runs');
    expect(expected('approver')).toEqual(expect.arrayContaining(['/v1/POST/approvals/*']));
    expect(expected('operator')).not.toContain('/v1/POST/approvals/*');
    const outputs = template.toJSON().Outputs as Record<string, { Export?: { Name: string } }>;
    for (const role of ['ticketing', 'operator', 'approver', 'reader'])
      expect(Object.values(outputs).map((o) => o.Export?.Name)).toContain(`Tropos-${role}-policy`);
  });

  test('stage throttling, access logs and tracing from the configuration', () => {
    template.hasResourceProperties('AWS::ApiGateway::Stage', {
      StageName: 'v1',
      TracingEnabled: true,
      AccessLogSetting: Match.objectLike({ DestinationArn: Match.anyValue() }),
      MethodSettings: Match.arrayWith([
        Match.objectLike({
          ThrottlingRateLimit: config.api.throttling.rateLimit,
          ThrottlingBurstLimit: config.api.throttling.burstLimit,
        }),
      ]),
    });
  });
});

describe('scheduled drift detection', () => {
  test('an EventBridge Scheduler schedule with the configured expression starts the sweep', () => {
    const { template, stack } = synthRealApp();
    const sweep = stack.getLogicalId(stack.driftSweep!.stateMachine.node.defaultChild as never);
    const schedules = template.findResources('AWS::Scheduler::Schedule');
    expect(Object.values(schedules)).toHaveLength(1);
    const props = Object.values(schedules)[0]!.Properties as {
      ScheduleExpression: string;
      State: string;
      Target: { Arn: unknown; Input: string; RetryPolicy: unknown };
    };
    expect(props.ScheduleExpression).toBe(config.drift.schedule);
    expect(props.State).toBe('ENABLED');
    expect(props.Target.Arn).toEqual({ Ref: sweep });
    expect(JSON.parse(props.Target.Input)).toEqual({ requestedBy: 'schedule' });
  });

  test('without a drift section: daily at 06:00 UTC, five at once', () => {
    expect(ConfigSchema.shape.drift.parse(undefined)).toEqual({ schedule: 'cron(0 6 * * ? *)', maxConcurrency: 5 });
  });

  test.each([5, 2, 12])('the sweep runs at most drift.maxConcurrency = %i checks at once', (maxConcurrency) => {
    const custom: TroposConfig = { ...config, drift: { ...config.drift, maxConcurrency } };
    const texts = Object.fromEntries(
      ['drift-detection'].map((n) => [n, readFileSync(join(ROOT, 'workflows', `${n}.yaml`), 'utf8')]),
    );
    const { machines, template } = synthWorkflows(texts, { config: custom });
    const map = allStates(machines.get('tropos-drift-sweep')!.definition).get('Check each environment')!;
    expect(map).toMatchObject({ Type: 'Map', MaxConcurrency: maxConcurrency, ItemsPath: '$.sweep.environments' });
    const check = (map.ItemProcessor as { States: Record<string, Record<string, unknown>> }).States['Check drift']!;
    expect(check.Resource).toMatch(/states:startExecution\.sync:2$/);
    template.resourceCountIs('AWS::Scheduler::Schedule', 1);
  });

  test('no drift-detection workflow: no sweep and no schedule', () => {
    const texts = { validate: readFileSync(join(ROOT, 'workflows', 'validate.yaml'), 'utf8') };
    const { machines, template } = synthWorkflows(texts);
    expect(machines.has('tropos-drift-sweep')).toBe(false);
    template.resourceCountIs('AWS::Scheduler::Schedule', 0);
  });
});

describe('the OpenAPI document (api/openapi.yaml)', () => {
  const doc = parse(readFileSync(join(ROOT, 'api', 'openapi.yaml'), 'utf8')) as {
    openapi: string;
    security: unknown[];
    paths: Record<string, Record<string, { security?: unknown; parameters?: { name: string; in: string }[] }>>;
    components: { schemas: Record<string, { required?: string[]; properties?: Record<string, unknown> }> };
  };
  const documented = Object.entries(doc.paths)
    .flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`))
    .sort();

  test('is a valid OpenAPI 3 document', () => {
    const out = execFileSync(join(ROOT, 'node_modules', '.bin', 'validate-api'), [join(ROOT, 'api', 'openapi.yaml')], {
      encoding: 'utf8',
    });
    expect(JSON.parse(out)).toEqual({ valid: true });
  });

  test('documents exactly the routes the handler serves and API Gateway has', () => {
    expect(documented).toEqual(routes);
    const { template } = synthRealApp();
    expect(documented).toEqual(apiMethods(template.toJSON().Resources as never));
  });

  test('every operation is SigV4 (IAM) authorised', () => {
    expect(doc.security).toEqual([{ sigv4: [] }]);
    for (const ops of Object.values(doc.paths))
      for (const op of Object.values(ops)) expect(op.security).toBeUndefined();
  });

  test('path parameters are the routes’ parameters', () => {
    for (const [path, ops] of Object.entries(doc.paths)) {
      const inPath = [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]);
      for (const op of Object.values(ops))
        expect((op.parameters ?? []).filter((p) => p.in === 'path').map((p) => p.name)).toEqual(inPath);
    }
  });

  test('the onboarding body is the one the handler reads: same fields, same required ones', () => {
    const schema = doc.components.schemas.OnboardRequest!;
    expect(Object.keys(schema.properties ?? {}).sort()).toEqual(Object.keys(ONBOARD_FIELDS).sort());
    expect([...(schema.required ?? [])].sort()).toEqual(
      Object.entries(ONBOARD_FIELDS)
        .filter(([, f]) => f.required)
        .map(([k]) => k)
        .sort(),
    );
  });
});

describe('the URLs the API answers with', () => {
  test.each([
    ['/v1/environments', '/environments', '/v1'],
    ['/tropos/v1/runs/r-1', '/runs/r-1', '/tropos/v1'],
    ['/environments', '/environments', ''],
    [undefined, '/environments', ''],
  ])('request path %s, route %s: status URLs start with %p', (requestPath, routePath, expected) => {
    expect(basePathOf(requestPath, routePath)).toBe(expected);
  });
});
