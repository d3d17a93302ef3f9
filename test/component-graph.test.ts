import { randomUUID } from 'node:crypto';
import { ComponentGraph, summarize, approvalRequired, NOT_IN_STACK, NOT_ASKED } from '../lambdas/component-graph/core';
import { DynamoPoolStore } from '../lambdas/component-graph/dynamo-store';
import { WorkerPool, type OrderSender, type WorkerOrder } from '../lambdas/component-graph/scheduler';
import { ComponentResult, describeFailure } from '../lib/domain/plan';
import type { ResolvedStack } from '../lib/domain/resolved';
import { createTables, LOCAL_TABLE_NAMES, LocalDynamo, startLocalDynamo } from '../lib/local/dynamo';
import { RunStore } from '../lib/records/run-store';
import { width } from '../lib/workflow/graph';
import { graphOf, SEED_001 } from './fixtures/seed-graph';

/** Task tokens answered in-process: each token is a promise the worker awaits, answered at most once. */
class Tokens implements OrderSender {
  private readonly waiting = new Map<string, (o: WorkerOrder) => void>();
  public readonly sent: string[] = [];
  public issue(): { token: string; order: Promise<WorkerOrder> } {
    const token = randomUUID();
    const order = new Promise<WorkerOrder>((resolve) => this.waiting.set(token, resolve));
    return { token, order };
  }
  public async send(token: string, order: WorkerOrder): Promise<boolean> {
    const answer = this.waiting.get(token);
    if (!answer) return false; // answered already: Step Functions would say TaskTimedOut
    this.waiting.delete(token);
    this.sent.push(token);
    answer(order);
    return true;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A stack as the resolve build stores it, from a dependency map. */
function stackOf(graph: ReadonlyMap<string, readonly string[]>): ResolvedStack {
  return {
    stack: 'acme-dev-testenv-01',
    engine: 'atmos',
    commit: 'abc123',
    components: [...graph].map(([name, deps]) => ({ name, folder: name, dependsOn: [...deps] })),
    ignored: [],
  };
}

interface StepRun {
  results: ComponentResult[];
  events: string[];
  built: string[];
  /** Which worker built each component. */
  builtBy: Record<string, number>;
  tokens: Tokens;
  workers: number;
  /** Each component's build limit, as its order gave it. */
  limits: Record<string, number>;
}

/**
 * Runs one terraform step the way its state machine does: "Record stack", "Prepare", then a Map of workers that
 * each call "next" (a task token), build what they are told, and call "next" again with how it ended — and the
 * summary from the records.
 */
async function runStep(
  dynamo: LocalDynamo,
  graph: ReadonlyMap<string, readonly string[]>,
  work: (c: string) => Promise<'SUCCEEDED' | 'FAILED'>,
  options: {
    select?: string[];
    asked?: string;
    reverse?: boolean;
    maxWorkers?: number;
    /** Seconds each component's apply took in an earlier run of the stack (recorded as that run's). */
    history?: Record<string, number>;
  } = {},
): Promise<StepRun> {
  const tokens = new Tokens();
  const runs = new RunStore(dynamo.documents, LOCAL_TABLE_NAMES.runs);
  const stack = stackOf(graph);
  const cg = new ComponentGraph(
    new DynamoPoolStore(dynamo.documents, LOCAL_TABLE_NAMES.runs),
    tokens,
    runs,
    { read: async () => stack },
    undefined,
    undefined,
    { defaultMinutes: 60, components: { rds: 120, eks: 120 } },
  );
  const runId = randomUUID();
  if (options.history) {
    const earlier = randomUUID();
    const run = {
      workflow: 'apply-environment',
      stack: stack.stack,
      status: 'SUCCEEDED',
      input: {},
      executionArn: 'arn',
    } as const;
    await runs.recordRun({ ...run, runId: earlier, startedAt: '2026-11-30T10:00:00.000Z' });
    for (const [component, seconds] of Object.entries(options.history))
      await runs.recordComponent({
        runId: earlier,
        step: 'apply',
        command: 'apply',
        component,
        status: 'SUCCEEDED',
        startedAt: '2026-11-30T10:01:00.000Z',
        endedAt: new Date(Date.parse('2026-11-30T10:01:00.000Z') + seconds * 1000).toISOString(),
      });
    await runs.recordRun({ ...run, runId, status: 'RUNNING', startedAt: new Date().toISOString() });
  }
  await cg.handle({
    action: 'resolved',
    runId,
    stack: stack.stack,
    account: 'dev',
    asked: options.asked ?? null,
    component: null,
  });
  const prepared = (await cg.handle({
    action: 'prepare',
    runId,
    step: 'apply',
    command: 'apply',
    select: options.select ?? null,
    reverse: options.reverse ?? false,
    asked: options.asked ?? null,
  })) as { workers: number[] };
  const workers = prepared.workers.slice(0, options.maxWorkers ?? prepared.workers.length);
  const events: string[] = [];
  const built: string[] = [];
  const builtBy: Record<string, number> = {};
  const limits: Record<string, number> = {};
  await Promise.all(
    workers.map(async (worker) => {
      let finished = '';
      let last: Record<string, unknown> = {};
      for (;;) {
        const { token, order } = tokens.issue();
        await cg.handle({
          action: 'next',
          taskToken: token,
          runId,
          step: 'apply',
          command: 'apply',
          worker,
          finished,
          last,
        });
        const o = await order;
        if (o.done) return;
        events.push(`start ${o.component}`);
        built.push(o.component);
        builtBy[o.component] = worker;
        limits[o.component] = o.timeoutMinutes;
        const status = await work(o.component);
        events.push(`end ${o.component}`);
        finished = o.component;
        last = status === 'SUCCEEDED' ? { buildId: `b-${o.component}` } : { Error: 'States.TaskFailed', Cause: 'boom' };
      }
    }),
  );
  const results = (await runs.components(runId, 'apply')) as ComponentResult[];
  return { results, events, built, builtBy, tokens, workers: prepared.workers.length, limits };
}

/** A random acyclic graph: each component depends on up to `fanIn` earlier ones. */
function randomGraph(n: number, fanIn: number, seed: number): Map<string, string[]> {
  let x = seed;
  const rand = () => (x = (x * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const names = Array.from({ length: n }, (_, i) => `c${String(i).padStart(3, '0')}`);
  return new Map(
    names.map((name, i) => [
      name,
      [...new Set(Array.from({ length: Math.floor(rand() * (fanIn + 1)) }, () => names[Math.floor(rand() * i)]!))]
        .filter((d) => d && i > 0)
        .sort(),
    ]),
  );
}

function expectOrdered(events: string[], graph: ReadonlyMap<string, readonly string[]>, built: string[]): void {
  for (const c of built)
    for (const d of graph.get(c) ?? [])
      if (built.includes(d)) expect([c, events.indexOf(`end ${d}`) < events.indexOf(`start ${c}`)]).toEqual([c, true]);
}

describe('the worker pool of a terraform step (over the local DynamoDB server)', () => {
  let dynamo: LocalDynamo;
  beforeAll(async () => {
    dynamo = await startLocalDynamo();
    await createTables(dynamo.client);
  });
  afterAll(async () => dynamo.close());

  const environment = graphOf(Object.keys(SEED_001));
  const names = [...environment.keys()];

  test('every component is built once, only after its own dependencies ended, within its own limit', async () => {
    const { events, results, built, workers, limits } = await runStep(dynamo, environment, async () => {
      await sleep(5 + Math.random() * 20);
      return 'SUCCEEDED';
    });
    // The catalog's defaults for rds and eks; the configuration's for the rest.
    expect(limits).toEqual(Object.fromEntries(names.map((c) => [c, c === 'rds' || c === 'eks' ? 120 : 60])));
    // As many workers as components can run at once (acm, rds, eks, ecs, ec2, dynamodb, lambda), not one each.
    expect(workers).toBe(7);
    expect([...built].sort()).toEqual([...names].sort());
    expectOrdered(events, environment, built);
    expect(results.every((r) => r.status === 'SUCCEEDED')).toBe(true);
  });

  test('a component starts when its own dependencies end, not when its level ends', async () => {
    // acm waits for dns only: it must start while vpc is still running. vpc's build lasts until acm has started
    // (or 20 s, when the scheduler waits for vpc's level: then acm starts after vpc ends, and the test fails) —
    // no race with the machine's load.
    let acmStarted!: () => void;
    const gate = new Promise<void>((resolve) => (acmStarted = resolve));
    const graph = graphOf(['backend', 'vpc', 'dns', 'acm']);
    const { events } = await runStep(dynamo, graph, async (c) => {
      if (c === 'acm') acmStarted();
      if (c === 'vpc') await Promise.race([gate, sleep(20_000)]);
      return 'SUCCEEDED';
    });
    expect(events.indexOf('start acm')).toBeLessThan(events.indexOf('end vpc'));
  });

  test.each([1, 2, 3])(
    'with %i worker(s) only (the Map starts fewer at once): no deadlock, every component once, in order',
    async (maxWorkers) => {
      const { events, built } = await runStep(dynamo, environment, async () => 'SUCCEEDED', { maxWorkers });
      expect([...built].sort()).toEqual([...names].sort());
      expectOrdered(events, environment, built);
    },
  );

  test('200 components with 40 workers: each built once, after its dependencies; at most 40 at a time', async () => {
    const graph = randomGraph(200, 4, 7);
    let running = 0;
    let most = 0;
    const { events, built, workers } = await runStep(dynamo, graph, async () => {
      most = Math.max(most, ++running);
      await sleep(Math.random() * 5);
      running--;
      return 'SUCCEEDED';
    });
    expect(workers).toBe(Math.min(40, width(graph)));
    expect(width(graph)).toBeGreaterThan(40);
    expect(built).toHaveLength(200);
    expect(new Set(built).size).toBe(200);
    expect(most).toBeLessThanOrEqual(40);
    expectOrdered(events, graph, built);
  }, 60_000);

  test('of the components ready at once, the one with the longest chain ahead starts first (critical-path order)', async () => {
    // a makes b, c and d ready at once; c has two more after it (c -> e -> f). One worker: the order is the choice.
    const graph = new Map([
      ['a', []],
      ['b', ['a']],
      ['c', ['a']],
      ['d', ['a']],
      ['e', ['c']],
      ['f', ['e']],
    ]);
    const ok = async () => 'SUCCEEDED' as const;
    // No earlier builds: every component counts the same, so the longest chain is the one with the most after it.
    const first = await runStep(dynamo, graph, ok, { maxWorkers: 1 });
    expect(first.built).toEqual(['a', 'c', 'e', 'f', 'b', 'd']);
    // The stack's earlier run says b takes 10 s (c, e, f one each): b's chain is the longest now.
    const timed = await runStep(dynamo, graph, ok, { maxWorkers: 1, history: { a: 1, b: 10, c: 1, d: 1, e: 1, f: 1 } });
    expect(timed.built).toEqual(['a', 'b', 'c', 'e', 'f', 'd']);
  });

  test('a node that carries no reviewed plan (a pool an earlier Tropos prepared) is handed out with a hash no plan has', async () => {
    // Run in flight across an upgrade: its apply must refuse (PlanMismatch), never read "no hash" as "nothing to apply".
    const sent: WorkerOrder[] = [];
    const pool = new WorkerPool(
      new DynamoPoolStore(dynamo.documents, LOCAL_TABLE_NAMES.runs),
      { send: async (_token, order) => (sent.push(order), true) },
      () => 60,
    );
    const runId = randomUUID();
    await pool.prepare(runId, 'apply', new Map([['vpc', []]]), 40); // no plans: as the earlier version wrote it
    await pool.park(runId, 'apply', 0, 'token-0');
    expect(sent).toHaveLength(1);
    expect(sent[0]).toMatchObject({ component: 'vpc', planSha256: expect.stringMatching(/^unknown \(/) });
    expect(sent[0]!.planSha256).not.toMatch(/^([0-9a-f]{64})?$/);
  });

  test("a stack's first run: a component with a longer build limit counts as longer (the catalog's rds before b)", async () => {
    // a makes b and rds ready at once, neither with anything after it. No earlier builds to estimate from: by name b
    // would go first; the catalog gives rds a 120-minute limit against the configuration's 60, so rds goes first.
    const graph = new Map([
      ['a', []],
      ['b', ['a']],
      ['rds', ['a']],
    ]);
    const ok = async () => 'SUCCEEDED' as const;
    expect((await runStep(dynamo, graph, ok, { maxWorkers: 1 })).built).toEqual(['a', 'rds', 'b']);
    // Once the stack has builds to go by, they decide: b took 10 s, rds 1 s.
    const timed = await runStep(dynamo, graph, ok, { maxWorkers: 1, history: { a: 1, b: 10, rds: 1 } });
    expect(timed.built).toEqual(['a', 'b', 'rds']);
  });

  test('of equal chains ahead, the component with more after it starts first (seed 001: vpc before iam and dns)', async () => {
    // No earlier builds. backend makes dns, iam and vpc ready at once; each has a chain of four ahead
    // (… -> apigateway -> monitoring), but vpc has 9 components after it, iam 7 and dns 3. Before, ties went by
    // name: dns, iam, vpc — and vpc is on the seed's critical path.
    const first = await runStep(dynamo, environment, async () => 'SUCCEEDED' as const, { maxWorkers: 1 });
    expect(first.built.slice(0, 2)).toEqual(['backend', 'vpc']);
    expect(first.built.indexOf('iam')).toBeLessThan(first.built.indexOf('dns'));
  });

  test('a build that makes two ready hands the higher priority to a parked worker, and takes the other itself', async () => {
    // A worker's own order takes effect only when its call returns (after its hand-outs); a parked worker's at once.
    // a makes b and c ready; c has d after it (the higher priority). The other worker is parked while a builds.
    const graph = new Map([
      ['a', []],
      ['b', ['a']],
      ['c', ['a']],
      ['d', ['c']],
    ]);
    const run = await runStep(dynamo, graph, async (c) => {
      if (c === 'a') await sleep(100);
      return 'SUCCEEDED';
    });
    expect(run.workers).toBe(2); // b and c (or b and d) can run at once
    expect(run.builtBy.c).not.toBe(run.builtBy.a);
    expect(run.builtBy.b).toBe(run.builtBy.a);
  });

  test('a build that makes several ready: they start in priority order, parked workers first, its own worker last', async () => {
    // a makes b, c and d ready; c has two components after it, d one, b none. With the old hand-out (the highest to a
    // parked worker, the next to a's own worker, the rest dispatched before a's call returned) c, then d started
    // last, after b: the second of the critical chains waited for every other hand-out.
    const graph = new Map([
      ['a', []],
      ['b', ['a']],
      ['c', ['a']],
      ['d', ['a']],
      ['e', ['c']],
      ['f', ['e']],
      ['g', ['d']],
    ]);
    const run = await runStep(dynamo, graph, async (c) => {
      await sleep(c === 'a' ? 100 : 200); // c, d and b all start before any of them ends
      return 'SUCCEEDED';
    });
    expect(run.built.slice(0, 4)).toEqual(['a', 'c', 'd', 'b']);
    expect(run.builtBy.b).toBe(run.builtBy.a);
    expect(new Set([run.builtBy.a, run.builtBy.c, run.builtBy.d]).size).toBe(3);
  });

  test('a failing component: in-flight siblings finish, its dependents are skipped with the reason', async () => {
    const { results, events } = await runStep(dynamo, environment, async (c) => {
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
    expect(by.apigateway!.message).toMatch(/^skipped: (vpc failed|\S+ skipped \(vpc failed\))$/);
    expect(() =>
      summarize({ action: 'summarize', runId: 'r', step: 'apply', command: 'apply', results, approvalPolicy: 'never' }),
    ).toThrow(
      /apply step "apply": vpc failed \(States.TaskFailed: boom\); skipped because a dependency failed: .*security-groups/,
    );
  });

  test('components= runs exactly those, dependencies among them kept; a listed step skips the rest', async () => {
    const asked = await runStep(dynamo, environment, async () => 'SUCCEEDED', { asked: 'acm,dns' });
    expect(asked.built.sort()).toEqual(['acm', 'dns']);
    expect(asked.events.indexOf('end dns')).toBeLessThan(asked.events.indexOf('start acm'));
    const listed = await runStep(dynamo, environment, async () => 'SUCCEEDED', {
      select: ['vpc', 'sqs', 'acm'],
      asked: 'acm,dns',
    });
    expect(listed.built).toEqual(['acm']);
    const by = Object.fromEntries(listed.results.map((r) => [r.component, r]));
    expect(by.vpc).toMatchObject({ status: 'SKIPPED', message: NOT_ASKED });
    expect(by.sqs).toMatchObject({ status: 'SKIPPED', message: NOT_IN_STACK });
  });

  test('a destroy runs dependents first', async () => {
    const graph = graphOf(['backend', 'vpc', 'security-groups']);
    const { events } = await runStep(dynamo, graph, async () => 'SUCCEEDED', { reverse: true });
    expect(events).toEqual([
      'start security-groups',
      'end security-groups',
      'start vpc',
      'end vpc',
      'start backend',
      'end backend',
    ]);
  });

  test("the components asked for must be the stack's; the stack must be the run's and of its account", async () => {
    const runs = new RunStore(dynamo.documents, LOCAL_TABLE_NAMES.runs);
    const stack = { ...stackOf(environment), account: 'dev' };
    const cg = new ComponentGraph(new DynamoPoolStore(dynamo.documents, LOCAL_TABLE_NAMES.runs), new Tokens(), runs, {
      read: async () => stack,
    });
    const base = {
      action: 'resolved' as const,
      runId: randomUUID(),
      stack: stack.stack,
      account: 'dev',
      asked: null,
      component: null,
    };
    await expect(cg.handle({ ...base, asked: 'vpc,sqs' })).rejects.toMatchObject({
      name: 'InvalidInput',
      problems: [
        {
          field: 'components',
          problem: expect.stringMatching(
            /^sqs is not a component of acme-dev-testenv-01 \(commit abc123\); allowed: backend, /,
          ),
        },
      ],
    });
    await expect(cg.handle({ ...base, component: 'sqs' })).rejects.toMatchObject({ name: 'InvalidInput' });
    await expect(cg.handle({ ...base, account: 'prod' })).rejects.toMatchObject({
      name: 'InvalidInput',
      problems: [{ field: 'account', problem: expect.stringContaining('its vars name "dev"') }],
    });
    await expect(cg.handle({ ...base, stack: 'acme-dev-other' })).rejects.toMatchObject({ name: 'StackNotResolved' });
    // stack=: the name the run was asked for by must still be the stack's in the repository at the run's commit.
    await expect(cg.handle({ ...base, askedStack: 'eg-acme-renamed-dev' })).rejects.toMatchObject({
      name: 'InvalidInput',
      problems: [
        {
          field: 'stack',
          problem: expect.stringMatching(
            /^the repository no longer names acme-dev-testenv-01 "eg-acme-renamed-dev" \(commit abc123\): its name there is "acme-dev-testenv-01"/,
          ),
        },
      ],
    });
    await expect(cg.handle({ ...base, askedStack: stack.stack })).resolves.toMatchObject({ commit: 'abc123' });
    await expect(
      cg.handle({ ...base, error: { Error: 'States.TaskFailed', Cause: 'the repository does not define stack x' } }),
    ).rejects.toMatchObject({
      name: 'StackNotResolved',
      message: expect.stringContaining('does not define stack x'),
    });
    await expect(cg.handle(base)).resolves.toMatchObject({ commit: 'abc123', components: names.length });
  });
});

describe("a step's single build and a stop (over the local DynamoDB server)", () => {
  let dynamo: LocalDynamo;
  beforeAll(async () => {
    dynamo = await startLocalDynamo();
    await createTables(dynamo.client, LOCAL_TABLE_NAMES);
  });
  afterAll(async () => dynamo.close());

  test('in flight from before its start; a stop then waits for it, and no build starts after the stop', async () => {
    const runs = new RunStore(dynamo.documents, LOCAL_TABLE_NAMES.runs);
    const stopped: string[] = [];
    const cg = new ComponentGraph(
      new DynamoPoolStore(dynamo.documents, LOCAL_TABLE_NAMES.runs),
      new Tokens(),
      runs,
      { read: async () => ({}) },
      undefined,
      undefined,
      undefined,
      async (execution, error, cause) => void stopped.push(`${execution} ${error} ${cause}`),
    );
    const runId = randomUUID();
    await runs.recordRun({
      runId,
      workflow: 'import',
      status: 'RUNNING',
      startedAt: new Date().toISOString(),
    } as never);
    const base = { runId, step: 'import', component: 'vpc', execution: 'arn:x' };
    // With the build's own limit: no timeouts given here, so the default (the configuration's).
    await expect(cg.handle({ action: 'starting', ...base })).resolves.toEqual({ starting: true, timeoutMinutes: 60 });
    // Before the ledger has heard of the build: in flight already, so a stop waits for it.
    expect(await runs.inFlight(runId)).toEqual([{ step: 'import', component: 'vpc' }]);
    await runs.recordStart(runId, { stopRequested: { by: 'op', reason: 'freeze', at: new Date().toISOString() } });
    // Another build of the run (a parallel branch) is not started; the run is not stopped while vpc is in flight.
    await expect(cg.handle({ action: 'starting', ...base, component: 'dns' })).rejects.toMatchObject({
      name: 'RunStopped',
      message: 'stopped by op: freeze; import of dns was not started',
    });
    expect(stopped).toEqual([]);
    // vpc's build ends: recorded, and the execution is stopped before its next state can start anything.
    await cg.handle({ action: 'complete', ...base, command: 'import', status: 'SUCCEEDED', build: {} });
    expect(await runs.inFlight(runId)).toEqual([]);
    expect(stopped).toEqual(['arn:x RunStopped stopped by op: freeze']);
  });
});

describe('step summaries', () => {
  const result = (component: string, add: number, change: number, destroy: number): ComponentResult => ({
    component,
    status: 'SUCCEEDED',
    plan: { add, change, destroy, sha256: `${component}-sha` },
  });
  const summarizePlan = (results: ComponentResult[], approvalPolicy: 'always' | 'on-change' | 'on-destroy' | 'never') =>
    summarize({ action: 'summarize', runId: 'r', step: 'plan', command: 'plan', results, approvalPolicy });

  test.each([
    ['always', 1, 0, 0, true],
    ['always', 0, 0, 0, false],
    ['on-destroy', 3, 1, 0, false],
    ['on-destroy', 0, 0, 1, true],
    ['never', 5, 5, 5, false],
  ] as const)('policy %s with +%i ~%i -%i asks for approval: %s', (policy, add, change, destroy, expected) => {
    const s = summarizePlan([result('vpc', add, change, destroy)], policy);
    expect(s.approvalRequired).toBe(expected);
    expect(approvalRequired(policy, add + change + destroy > 0, destroy > 0)).toBe(expected);
  });

  test.each([
    ['a move', { move: 1 }],
    ['an import', { import: 1 }],
    ['a forget (removed block)', { forget: 1 }],
    ['an output change', { outputs: 1 }],
  ] as const)(
    'a prod plan whose only change is %s (terraform exits 2) has changes and asks for approval',
    (_, extra) => {
      const s = summarizePlan(
        [
          {
            component: 'vpc',
            status: 'SUCCEEDED',
            plan: { add: 0, change: 0, destroy: 0, ...extra, changes: true, sha256: 'x' },
          },
          {
            component: 'iam',
            status: 'SUCCEEDED',
            plan: { add: 0, change: 0, destroy: 0, changes: false, sha256: 'y' },
          },
        ],
        'always',
      );
      expect(s).toMatchObject({ hasChanges: true, hasDestroys: false, approvalRequired: true });
      // on-change (staging) asks too; on-destroy (a tier that asks only for destroys) does not.
      expect(approvalRequired('on-change', s.hasChanges, s.hasDestroys)).toBe(true);
      expect(approvalRequired('on-destroy', s.hasChanges, s.hasDestroys)).toBe(false);
    },
  );

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

  test('totals and flags, counted from the records', () => {
    const s = summarizePlan(
      [
        result('vpc', 1, 2, 0),
        result('security-groups', 0, 0, 3),
        { component: 'dns', status: 'SKIPPED', message: 'not a component of this stack' },
      ],
      'on-destroy',
    );
    expect(s).toMatchObject({
      add: 1,
      change: 2,
      destroy: 3,
      hasChanges: true,
      hasDestroys: true,
      approvalRequired: true,
    });
    expect(s.counts).toEqual({ succeeded: 2, failed: 0, skipped: 1 });
    expect(s).not.toHaveProperty('components'); // the state carries totals; each component is in its record
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
