import { randomUUID } from 'node:crypto';
import {
  ComponentGraph,
  GateDecision,
  summarize,
  approvalRequired,
  describeFailure,
  NOT_IN_STACK,
} from '../lambdas/component-graph/core';
import { DynamoGraphStore } from '../lambdas/component-graph/dynamo-store';
import { ComponentResult } from '../lib/domain/plan';
import { createTables, LOCAL_TABLE_NAMES, LocalDynamo, startLocalDynamo } from '../lib/local/dynamo';
import { topologicalOrder } from '../lib/workflow/graph';
import { RunStore } from '../lib/records/run-store';
import { catalog } from './helpers/fixtures';

/** Task tokens answered in-process: each token is a promise a branch awaits. */
class Tokens {
  private readonly waiting = new Map<string, (d: GateDecision) => void>();
  public readonly sent: string[] = [];
  public issue(): { token: string; decision: Promise<GateDecision> } {
    const token = randomUUID();
    const decision = new Promise<GateDecision>((resolve) => this.waiting.set(token, resolve));
    return { token, decision };
  }
  public async succeed(token: string, output: GateDecision): Promise<void> {
    this.sent.push(token);
    this.waiting.get(token)?.(output);
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs the branches of one terraform step the way the Parallel state does, all at once. */
async function runStep(
  dynamo: LocalDynamo,
  components: string[],
  stackComponents: string[],
  work: (c: string) => Promise<'SUCCEEDED' | 'FAILED'>,
): Promise<{ results: ComponentResult[]; events: string[]; tokens: Tokens }> {
  const tokens = new Tokens();
  const graph = new ComponentGraph(
    new DynamoGraphStore(dynamo.documents, LOCAL_TABLE_NAMES.runs),
    tokens,
    new RunStore(dynamo.documents, LOCAL_TABLE_NAMES.runs),
  );
  const deps = catalog.graphOf(components);
  const runId = randomUUID();
  const events: string[] = [];
  const results = await Promise.all(
    topologicalOrder(deps).map(async (component) => {
      const { token, decision } = tokens.issue();
      await graph.handle({
        action: 'await',
        taskToken: token,
        runId,
        step: 'apply',
        component,
        dependsOn: deps.get(component)!,
        stackComponents,
      });
      const gate = await decision;
      if (!gate.run) {
        events.push(`skip ${component}`);
        return { component, status: 'SKIPPED', message: gate.reason } as ComponentResult;
      }
      events.push(`start ${component}`);
      const status = await work(component);
      events.push(`end ${component}`);
      return graph.handle({
        action: 'complete',
        runId,
        step: 'apply',
        command: 'apply',
        component,
        status,
        error: { Error: 'States.TaskFailed', Cause: 'boom' },
      }) as Promise<ComponentResult>;
    }),
  );
  return { results, events, tokens };
}

describe('component graph scheduling (over the local DynamoDB server)', () => {
  let dynamo: LocalDynamo;
  beforeAll(async () => {
    dynamo = await startLocalDynamo();
    await createTables(dynamo.client);
  });
  afterAll(async () => dynamo.close());

  const environment = [...catalog.sets.get('environment')!];

  test('every component starts only after its own dependencies ended, and each is released once', async () => {
    const { events, results, tokens } = await runStep(dynamo, environment, environment, async () => {
      await sleep(5 + Math.random() * 20);
      return 'SUCCEEDED';
    });
    const deps = catalog.graphOf(environment);
    for (const c of environment) {
      for (const d of deps.get(c)!) expect(events.indexOf(`end ${d}`)).toBeLessThan(events.indexOf(`start ${c}`));
    }
    expect(results.every((r) => r.status === 'SUCCEEDED')).toBe(true);
    expect(new Set(tokens.sent).size).toBe(tokens.sent.length);
    expect(tokens.sent).toHaveLength(environment.length);
  });

  test('a component starts when its own dependencies end, not when its level ends', async () => {
    // acm waits for dns only: it must start before slow vpc ends.
    const durations: Record<string, number> = { vpc: 300, dns: 10 };
    const { events } = await runStep(
      dynamo,
      ['backend', 'vpc', 'dns', 'acm'],
      ['backend', 'vpc', 'dns', 'acm'],
      async (c) => {
        await sleep(durations[c] ?? 5);
        return 'SUCCEEDED';
      },
    );
    expect(events.indexOf('start acm')).toBeLessThan(events.indexOf('end vpc'));
  });

  test('a failing component: in-flight siblings finish, its dependents are skipped with the reason', async () => {
    const { results, events } = await runStep(dynamo, environment, environment, async (c) => {
      await sleep(c === 'iam' ? 80 : 5);
      return c === 'vpc' ? 'FAILED' : 'SUCCEEDED';
    });
    const by = Object.fromEntries(results.map((r) => [r.component, r]));
    expect(by.vpc).toMatchObject({ status: 'FAILED', message: 'States.TaskFailed: boom' });
    expect(by.iam!.status).toBe('SUCCEEDED'); // in flight when vpc failed, not cancelled
    expect(by.dns!.status).toBe('SUCCEEDED');
    expect(by.acm!.status).toBe('SUCCEEDED');
    for (const skipped of [
      'security-groups',
      'rds',
      'eks',
      'ecs',
      'ec2',
      'lambda',
      'dynamodb',
      'apigateway',
      'monitoring',
    ]) {
      expect([skipped, by[skipped]!.status]).toEqual([skipped, 'SKIPPED']);
      expect(events).not.toContain(`start ${skipped}`);
    }
    expect(by['security-groups']!.message).toBe('skipped: vpc failed');
    expect(by.apigateway!.message).toMatch(/^skipped: .*(lambda|vpc) (skipped|failed)/);
    expect(() =>
      summarize({ action: 'summarize', runId: 'r', step: 'apply', command: 'apply', results, approvalPolicy: 'never' }),
    ).toThrow(
      /apply step "apply": vpc failed \(States.TaskFailed: boom\); skipped because a dependency failed: .*security-groups/,
    );
  });

  test('components the stack does not have are skipped at once and do not block their dependents', async () => {
    const { results, events } = await runStep(
      dynamo,
      ['backend', 'vpc', 'dns', 'acm'],
      ['backend', 'vpc', 'acm'],
      async () => 'SUCCEEDED',
    );
    const by = Object.fromEntries(results.map((r) => [r.component, r]));
    expect(by.dns).toMatchObject({ status: 'SKIPPED', message: 'not a component of this stack' });
    expect(by.acm!.status).toBe('SUCCEEDED');
    expect(events).toContain('start acm');
  });
});

describe('step summaries', () => {
  const result = (component: string, add: number, change: number, destroy: number): ComponentResult => ({
    component,
    status: 'SUCCEEDED',
    plan: { add, change, destroy, sha256: `${component}-sha` },
  });

  test.each([
    ['always', 1, 0, 0, true],
    ['always', 0, 0, 0, false],
    ['on-destroy', 3, 1, 0, false],
    ['on-destroy', 0, 0, 1, true],
    ['never', 5, 5, 5, false],
  ] as const)('policy %s with +%i ~%i -%i asks for approval: %s', (policy, add, change, destroy, expected) => {
    const s = summarize({
      action: 'summarize',
      runId: 'r',
      step: 'plan',
      command: 'plan',
      results: [result('vpc', add, change, destroy)],
      approvalPolicy: policy,
    });
    expect(s.approvalRequired).toBe(expected);
    expect(approvalRequired(policy, add + change + destroy > 0, destroy > 0)).toBe(expected);
  });

  test('a step none of whose components the stack has fails with NoComponents: nothing ran, nothing to claim', () => {
    const absent = (component: string): ComponentResult => ({ component, status: 'SKIPPED', message: NOT_IN_STACK });
    const request = (results: ComponentResult[]) => () =>
      summarize({ action: 'summarize', runId: 'r', step: 'drift', command: 'drift', results, approvalPolicy: 'never' });
    expect(request([absent('vpc'), absent('iam')])).toThrow(
      expect.objectContaining({
        name: 'NoComponents',
        message: 'drift step "drift": none of its components (vpc, iam) is a component of this stack; nothing was run',
      }),
    );
    // One that ran is enough; so is a step of no components at all (a repository-wide step).
    expect(request([absent('vpc'), result('iam', 0, 0, 0)])()).toMatchObject({ status: 'SUCCEEDED' });
    expect(request([])()).toMatchObject({ status: 'SUCCEEDED' });
  });

  test('totals, flags and SHA-256 per component', () => {
    const s = summarize({
      action: 'summarize',
      runId: 'r',
      step: 'plan',
      command: 'plan',
      results: [
        result('vpc', 1, 2, 0),
        result('security-groups', 0, 0, 3),
        { component: 'dns', status: 'SKIPPED', message: 'not a component of this stack' },
      ],
      approvalPolicy: 'on-destroy',
    });
    expect(s).toMatchObject({
      add: 1,
      change: 2,
      destroy: 3,
      hasChanges: true,
      hasDestroys: true,
      approvalRequired: true,
    });
    expect(s.shas).toEqual({ vpc: 'vpc-sha', security_groups: 'security-groups-sha', dns: '' });
  });

  test('a build failure names the failing phase and keeps the log link', () => {
    const cause = JSON.stringify({
      Build: {
        Id: 'b:1',
        Logs: { DeepLink: 'https://logs' },
        Phases: [
          {
            PhaseType: 'BUILD',
            PhaseStatus: 'FAILED',
            Contexts: [{ Message: 'COMMAND_EXECUTION_ERROR: exit status 1' }],
          },
        ],
      },
    });
    expect(describeFailure({ Error: 'States.TaskFailed', Cause: cause })).toEqual({
      reason: 'States.TaskFailed: BUILD phase failed: COMMAND_EXECUTION_ERROR: exit status 1',
      buildId: 'b:1',
      logs: 'https://logs',
    });
  });
});
