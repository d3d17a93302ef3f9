import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { stackName, type StackCoordinates } from '../lib/domain/naming';
import { EnvironmentWriter } from '../lib/records/environment-store';
import type { Environment } from '../lib/records/environment';
import { ROOT } from './helpers/fixtures';
import { startTestPlane, TestPlane } from './helpers/local';

jest.setTimeout(600_000);

/** The sweep's limit in this test: not the default (5), so that the test shows the config is what sets it. */
const MAX_CONCURRENCY = 3;
const NEW_ENVIRONMENTS = 20;
const COMPONENTS = ['backend', 'vpc', 'iam', 'security-groups'];

let t: TestPlane;
let configDir: string;
beforeAll(async () => {
  configDir = mkdtempSync(join(tmpdir(), 'tropos-drift-config-'));
  const config = parse(readFileSync(join(ROOT, 'tropos.config.yaml'), 'utf8')) as { drift: Record<string, unknown> };
  config.drift.maxConcurrency = MAX_CONCURRENCY;
  writeFileSync(join(configDir, 'tropos.config.yaml'), stringify(config));
  t = await startTestPlane({ configPath: join(configDir, 'tropos.config.yaml') });
});
afterAll(async () => {
  await t?.close();
  rmSync(configDir, { recursive: true, force: true });
});

/** Where the drift-detection child executions of a sweep ran: the most of them running at one moment. */
function peakConcurrency(spans: { start: number; stop: number }[]): number {
  const events = spans.flatMap((s) => [
    { at: s.start, delta: 1 },
    { at: s.stop, delta: -1 },
  ]);
  // An execution that stops at the very moment another starts does not overlap it.
  events.sort((a, b) => a.at - b.at || a.delta - b.delta);
  let now = 0;
  let peak = 0;
  for (const e of events) peak = Math.max(peak, (now += e.delta));
  return peak;
}

test('peakConcurrency counts overlaps, not touching spans', () => {
  expect(peakConcurrency([])).toBe(0);
  expect(
    peakConcurrency([
      { start: 0, stop: 10 },
      { start: 10, stop: 20 },
    ]),
  ).toBe(1);
  expect(
    peakConcurrency([
      { start: 0, stop: 10 },
      { start: 5, stop: 20 },
      { start: 6, stop: 7 },
      { start: 15, stop: 16 },
    ]),
  ).toBe(3);
});

/** A stack of the repository (the copy the test plane runs in) with the given components. */
function writeStack(environment: string, cidr: string): void {
  writeFileSync(
    join(t.infraDir, 'stacks', 'orgs', 'acme', 'dev', `${environment}.yaml`),
    stringify({
      import: COMPONENTS.map((c) => `catalog/${c}`),
      vars: { tenant: 'acme', account: 'dev', stage: 'dev', environment, region: 'us-east-1', vpc_cidr: cidr },
      terraform: { backend_type: 's3', backend: { s3: { bucket: 'acme-terraform-state', region: 'us-east-1' } } },
    }),
  );
}

test(`a drift sweep over ${NEW_ENVIRONMENTS} + the example environments: each checked, recorded, one summary, at most ${MAX_CONCURRENCY} at once`, async () => {
  // Twenty more active environments, in the repository and registered as onboarding leaves them.
  for (let i = 1; i <= NEW_ENVIRONMENTS; i++) writeStack(`sweep-${i}`, `10.${100 + i}.0.0/16`);
  const registry = new EnvironmentWriter(t.plane.dynamo.documents, t.plane.tables.environments);
  const now = new Date().toISOString();
  for (let i = 1; i <= NEW_ENVIRONMENTS; i++) {
    const env: Environment = {
      stack: `acme-dev-sweep-${i}`,
      tenant: 'acme',
      account: 'dev',
      environment: `sweep-${i}`,
      region: 'us-east-1',
      tier: 'dev',
      vpcCidr: `10.${100 + i}.0.0/16`,
      status: 'active',
      components: COMPONENTS,
      createdAt: now,
      updatedAt: now,
    };
    await registry.register(env);
  }
  // A destroyed environment is not swept.
  await registry.register({
    stack: 'acme-dev-gone',
    tenant: 'acme',
    account: 'dev',
    environment: 'gone',
    region: 'us-east-1',
    tier: 'dev',
    status: 'destroyed',
    createdAt: now,
    updatedAt: now,
  });
  const active = (await registry.list({ status: 'active' })).map((e) => e.stack).sort();
  expect(active.length).toBeGreaterThanOrEqual(NEW_ENVIRONMENTS + 4);

  // Drift in some: which components, per stack. Each plan takes a moment, so that the checks overlap.
  const drift: Record<string, string[]> = {
    'acme-dev-sweep-2': ['vpc'],
    'acme-dev-sweep-7': ['iam', 'security-groups'],
    'acme-dev-sweep-13': ['backend'],
    'acme-dev-sweep-20': ['vpc', 'iam'],
    'acme-staging-main': ['vpc'],
  };
  t.scenario({
    default: { plan: { add: 0, change: 0, destroy: 0 }, planSeconds: 0.2 },
    stacks: Object.fromEntries(
      Object.entries(drift).map(([stack, components]) => [
        stack,
        { components: Object.fromEntries(components.map((c) => [c, { plan: { add: 0, change: 1, destroy: 0 } }])) },
      ]),
    ),
  });
  const outboxBefore = t.plane.outbox.length;

  const started = await t.post('/drift-sweeps', {});
  expect(started.status).toBe(202);
  const sweepId = String(started.body.runId);
  const sweep = await t.waitFor(sweepId, undefined, 540_000, 250);
  expect(sweep.run).toMatchObject({ status: 'SUCCEEDED', workflow: 'drift-sweep' });
  // The sweep's own account, kept on its run record.
  expect(sweep.run.summary).toMatchObject({ runId: sweepId, checked: active.length, failed: [], notified: true });
  expect(sweep.run.summary!.drifted.map((d) => d.stack).sort()).toEqual(Object.keys(drift).sort());

  // One drift-detection child per active environment, named after the sweep.
  const children = t.plane.engine
    .listExecutions()
    .filter(
      (e) => e.stateMachineArn.endsWith(':stateMachine:tropos-drift-detection') && e.name.startsWith(`${sweepId}-`),
    );
  const childOf = new Map(children.map((c) => [stackName(c.input as StackCoordinates), c]));
  expect([...childOf.keys()].sort()).toEqual(active);
  expect(children).toHaveLength(active.length);
  expect(children.every((c) => c.status === 'SUCCEEDED')).toBe(true);
  // Their run records name the sweep as their parent.
  const childRuns = (await t.get(`/runs?parentRunId=${sweepId}`)).body.runs as { stack: string }[];
  expect(childRuns.map((r) => r.stack).sort()).toEqual(active);

  // Concurrency, measured from the executions' own start and stop times: never above the configured limit
  // (and the checks did overlap: the sweep is not one at a time).
  const peak = peakConcurrency(children.map((c) => ({ start: c.startDate.getTime(), stop: c.stopDate!.getTime() })));
  expect(peak).toBeLessThanOrEqual(MAX_CONCURRENCY);
  expect(peak).toBeGreaterThan(1);

  // The registry: every environment has this sweep's result, with exactly its drifted components.
  for (const stack of active) {
    const env = (await t.get(`/environments/${stack}`)).body as { lastDrift: Record<string, unknown> };
    expect({ stack, lastDrift: env.lastDrift }).toEqual({
      stack,
      lastDrift: expect.objectContaining({
        runId: childOf.get(stack)!.name,
        drifted: expect.arrayContaining(drift[stack] ?? []),
        change: (drift[stack] ?? []).length,
        checkedAt: expect.any(String),
      }),
    });
    expect((env.lastDrift.drifted as string[]).length).toBe((drift[stack] ?? []).length);
  }

  // One summary notification, naming exactly the drifted environments (and their components).
  const messages = t.plane.outbox.slice(outboxBefore).filter((m) => m.subject?.startsWith('Tropos drift'));
  expect(messages).toHaveLength(1);
  const message = messages[0]!;
  expect(message.subject).toBe(`Tropos drift: ${Object.keys(drift).length} of ${active.length} environments drifted`);
  const body = message.message;
  const driftedSection = body.split('Drifted:\n')[1]!.split('\n\n')[0]!;
  const named = Object.fromEntries(
    driftedSection.split('\n').map((l) => {
      const [stack, components] = l.trim().split(': ');
      return [stack!, components!.split(', ').sort()];
    }),
  );
  expect(named).toEqual(Object.fromEntries(Object.entries(drift).map(([s, c]) => [s, [...c].sort()])));
  expect(body).not.toContain('Not checked');

  // The DriftedComponents metric, once per stack, with its count.
  const metrics = (await t.get('/local/metrics')).body.metrics as {
    MetricName: string;
    Dimensions: { Name: string; Value: string }[];
    Value: number;
  }[];
  const points = metrics.filter((m) => m.MetricName === 'DriftedComponents');
  expect(points.map((p) => p.Dimensions[0]!.Value).sort()).toEqual(active);
  for (const p of points) expect(p.Value).toBe((drift[p.Dimensions[0]!.Value] ?? []).length);
});

test("a sweep first reads the repository's stacks: one no run has seen is registered and checked; if they cannot be read, the registry's are checked and the summary says why", async () => {
  t.scenario({ default: { plan: { add: 0, change: 0, destroy: 0 } } });
  // A stack only the repository knows: never onboarded, never run, not registered.
  writeStack('unseen', '10.200.0.0/16');
  expect((await t.get('/environments/acme-dev-unseen')).status).toBe(404);
  const sweep = async () => {
    const started = await t.post('/drift-sweeps', {});
    expect(started.status).toBe(202);
    return t.waitFor(String(started.body.runId), undefined, 540_000, 250);
  };
  const first = await sweep();
  expect(first.run.status).toBe('SUCCEEDED');
  const unseen = (await t.get('/environments/acme-dev-unseen')).body;
  expect(unseen).toMatchObject({ source: 'repository', status: 'active', vpcCidr: '10.200.0.0/16' });
  expect(unseen.lastDrift).toMatchObject({ runId: expect.stringContaining(first.run.runId), change: 0 });

  // A stack file Atmos cannot read: the repository's stacks cannot be listed. The sweep goes on with the registry.
  const broken = join(t.infraDir, 'stacks', 'orgs', 'acme', 'dev', 'broken.yaml');
  writeFileSync(broken, 'vars: [not closed\n');
  try {
    const outboxBefore = t.plane.outbox.length;
    const second = await sweep();
    expect(second.run.status).toBe('SUCCEEDED');
    expect(second.run.summary).toMatchObject({
      notified: true,
      repositoryUnread: expect.stringMatching(
        /^atmos describe stacks failed: [^]*invalid stack manifest '.*broken.yaml'/,
      ),
    });
    expect(first.run.summary!.repositoryUnread).toBeUndefined();
    // Every registered environment was still checked — and each check failed for the same reason (it resolves its
    // stack from the same repository), which the summary names per stack.
    expect(second.run.summary!.checked).toBe(first.run.summary!.checked);
    expect(second.run.summary!.failed).toHaveLength(second.run.summary!.checked);
    for (const f of second.run.summary!.failed) expect(f.error).toContain('invalid stack manifest');
    const message = t.plane.outbox.slice(outboxBefore).find((m) => m.subject?.startsWith('Tropos drift'));
    expect(message?.message).toMatch(
      /The repository's stacks could not be read \(atmos describe stacks failed: .+\): only the environments already registered were checked\./,
    );
  } finally {
    rmSync(broken);
  }
});
