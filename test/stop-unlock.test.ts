/**
 * An operator's way out: stop a run (nothing new starts; an apply in flight is never interrupted) and give a stack's
 * lock back (refused while its holder runs, unless forced). Both are recorded on the run they concern.
 */
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import type { RunDetail } from '../lib/records/run';
import { DEV, PROD, startTestPlane, type TestPlane } from './helpers/local';

let t: TestPlane;
beforeAll(async () => {
  t = await startTestPlane();
}, 120_000);
afterAll(async () => t.close());

const lockOf = async (stack: string) =>
  (
    await t.plane.dynamo.documents.send(
      new GetCommand({ TableName: t.plane.tables.runs, Key: { runId: `LOCK#${stack}`, sk: 'LOCK' } }),
    )
  ).Item;
const start = async (workflow: string, input: Record<string, unknown>) => {
  const r = await t.post('/runs', { workflow, input });
  expect(r.status).toBe(202);
  return String(r.body.runId);
};
const applying = (d: RunDetail) => d.components.filter((c) => c.step === 'apply' && c.status === 'RUNNING');

describe('POST /runs/{id}/stop', () => {
  test('during an apply: the builds in flight finish, nothing new starts, the run ends ABORTED, the lock is free', async () => {
    // backend first (vpc, iam, dns... wait on it): a 3 s apply, so the stop lands while it runs.
    t.scenario({ default: { applySeconds: 0.2 }, components: { backend: { applySeconds: 3 } } });
    const runId = await start('apply-environment', DEV);
    const during = await t.waitFor(runId, (d) => applying(d).length > 0 || d.run.status !== 'RUNNING', 60_000);
    expect(applying(during).map((c) => c.component)).toEqual(['backend']);
    const stop = await t.post(`/runs/${runId}/stop`, { reason: 'change freeze' });
    expect(stop.status).toBe(202);
    expect(stop.body).toMatchObject({ status: 'STOPPING', inFlight: [{ step: 'apply', component: 'backend' }] });
    const stoppedAt = Date.now();

    const d = await t.waitFor(runId, undefined, 60_000);
    expect(d.run).toMatchObject({
      status: 'ABORTED',
      stopRequested: { by: 'local:requester', reason: 'change freeze' },
    });
    expect(d.run.cause).toBe('stopped by local:requester: change freeze');
    // The apply in flight ran to its end and is on the records; no other apply started.
    expect(d.components.find((c) => c.step === 'apply' && c.component === 'backend')).toMatchObject({
      status: 'SUCCEEDED',
    });
    const applies = t.calls().filter((c) => c.sub === 'apply');
    expect(applies.map((c) => c.component)).toEqual(['backend']);
    expect(Date.now() - stoppedAt).toBeGreaterThan(1000); // it waited for the build
    expect(await lockOf('acme-dev-testenv-01')).toBeUndefined();
  }, 120_000);

  test('two builds in flight in one step: the first to end takes nothing more, the last stops the run', async () => {
    // After backend, dns, iam and vpc run side by side: iam 1 s, vpc 3 s, dns 3 s.
    t.scenario({
      default: { applySeconds: 0.1 },
      components: { iam: { applySeconds: 1 }, vpc: { applySeconds: 3 }, dns: { applySeconds: 3 } },
    });
    const runId = await start('apply-environment', DEV);
    await t.waitFor(runId, (d) => applying(d).length >= 3 || d.run.status !== 'RUNNING', 60_000);
    const stop = await t.post(`/runs/${runId}/stop`, { reason: 'two in flight' });
    expect(stop.status).toBe(202);
    const d = await t.waitFor(runId, undefined, 60_000);
    expect(d.run.status).toBe('ABORTED');
    const applied = d.components.filter((c) => c.step === 'apply').map((c) => `${c.component}:${c.status}`);
    expect(applied.sort()).toEqual(['backend:SUCCEEDED', 'dns:SUCCEEDED', 'iam:SUCCEEDED', 'vpc:SUCCEEDED']);
    // iam ended first, and made nothing new start (its dependents wait on vpc too; acm on dns): four applies in all.
    expect(
      t
        .calls()
        .filter((c) => c.sub === 'apply')
        .map((c) => c.component)
        .sort(),
    ).toEqual(['backend', 'dns', 'iam', 'vpc']);
  }, 120_000);

  test("a step's single build (not a worker pool's) in flight: it ends, then the run ledger stops the run", async () => {
    t.scenario({ components: { vpc: { planSeconds: 3 } } });
    const runId = await start('import', { ...DEV, component: 'vpc', resource_type: 'aws_vpc', resource_id: 'vpc-1' });
    const planning = (d: RunDetail) => d.components.some((c) => c.step === 'plan' && c.status === 'RUNNING');
    await t.waitFor(runId, (d) => planning(d) || d.run.status !== 'RUNNING', 60_000);
    const stop = await t.post(`/runs/${runId}/stop`, { reason: 'enough' });
    expect(stop.body).toMatchObject({ status: 'STOPPING', inFlight: [{ step: 'plan', component: 'vpc' }] });
    const d = await t.waitFor(runId, undefined, 60_000);
    expect(d.run).toMatchObject({ status: 'ABORTED', cause: 'stopped by local:requester: enough' });
    expect(d.components.find((c) => c.step === 'plan')).toMatchObject({ status: 'SUCCEEDED' });
  }, 120_000);

  test("a run whose child run is applying (promote's dev stage): the stop reaches the child, whose apply ends; nothing new starts", async () => {
    t.scenario({ default: { applySeconds: 0.1 }, components: { backend: { applySeconds: 3 } } });
    const runId = await start('promote', { tenant: 'acme', environment: 'main', source_environment: 'testenv-01' });
    const childId = `${runId}-dev`;
    const during = await t.waitFor(childId, (d) => applying(d).length > 0 || d.run.status !== 'RUNNING', 60_000);
    expect(applying(during).map((c) => c.component)).toEqual(['backend']);
    const stop = await t.post(`/runs/${runId}/stop`, { reason: 'freeze' });
    expect(stop.status).toBe(202);
    expect(stop.body).toMatchObject({ status: 'STOPPING', children: [childId] });

    const child = await t.waitFor(childId, undefined, 60_000);
    expect(child.run).toMatchObject({
      status: 'ABORTED',
      stopRequested: { reason: `parent run ${runId} stopped: freeze` },
    });
    // The apply in flight ran to its end (it was not killed with its execution) and is on the records.
    expect(child.components.find((c) => c.step === 'apply' && c.component === 'backend')).toMatchObject({
      status: 'SUCCEEDED',
    });
    const parent = await t.waitFor(runId, undefined, 60_000);
    expect(['ABORTED', 'FAILED']).toContain(parent.run.status);
    expect(parent.run.stopRequested).toMatchObject({ reason: 'freeze' });
    // Nothing new: no other apply, no staging or prod stage.
    expect(
      t
        .calls()
        .filter((c) => c.sub === 'apply')
        .map((c) => c.component),
    ).toEqual(['backend']);
    expect((await t.get(`/runs/${runId}-staging`)).status).toBe(404);
    expect(await lockOf('acme-dev-testenv-01')).toBeUndefined();
  }, 120_000);

  test("a stop during a step's single build: the step after it never starts its build", async () => {
    t.scenario({ components: { vpc: { applySeconds: 2 } } });
    const runId = await start('import', { ...DEV, component: 'vpc', resource_type: 'aws_vpc', resource_id: 'vpc-1' });
    const importing = (d: RunDetail) => d.components.some((c) => c.step === 'import' && c.status === 'RUNNING');
    await t.waitFor(runId, (d) => importing(d) || d.run.status !== 'RUNNING', 60_000);
    const stop = await t.post(`/runs/${runId}/stop`, { reason: 'one step only' });
    expect(stop.body).toMatchObject({ status: 'STOPPING', inFlight: [{ step: 'import', component: 'vpc' }] });
    const d = await t.waitFor(runId, undefined, 60_000);
    expect(d.run).toMatchObject({ status: 'ABORTED', cause: 'stopped by local:requester: one step only' });
    expect(d.components.find((c) => c.step === 'import')).toMatchObject({ status: 'SUCCEEDED' });
    // Nothing new: the plan after the import was never started (no record, no terraform plan).
    expect(d.components.filter((c) => c.step === 'plan')).toEqual([]);
    expect(t.calls().filter((c) => c.sub === 'plan')).toEqual([]);
  }, 120_000);

  test('while it waits for approval (no build in flight): stopped at once; an ended run cannot be stopped', async () => {
    t.scenario({});
    const runId = await start('apply-environment', PROD);
    await t.waitFor(runId, (d) => d.approvals.length > 0, 60_000);
    const stop = await t.post(`/runs/${runId}/stop`, { reason: 'wrong window' });
    expect(stop).toMatchObject({ status: 200, body: { status: 'ABORTED' } });
    const d = await t.waitFor(runId);
    expect(d.run).toMatchObject({ status: 'ABORTED', stopRequested: { reason: 'wrong window' } });
    expect(await lockOf('acme-prod-main')).toBeUndefined();

    const again = await t.post(`/runs/${runId}/stop`, { reason: 'again' });
    expect(again.status).toBe(409);
    expect(again.body.message).toBe(`run ${runId} has ended already (ABORTED)`);
    expect((await t.post('/runs/no-such-run/stop', { reason: 'x' })).status).toBe(404);
    const noReason = await t.post(`/runs/${runId}/stop`, {});
    expect(noReason.status).toBe(400);
    expect(JSON.stringify(noReason.body)).toContain('reason');
  }, 120_000);
});

describe('POST /stacks/{stack}/unlock', () => {
  test('refused while the holder runs, allowed with force, recorded on the holder; not locked: 404', async () => {
    t.scenario({});
    const holder = await start('apply-environment', PROD);
    await t.waitFor(holder, (d) => d.approvals.length > 0, 60_000);

    const refused = await t.post('/stacks/acme-prod-main/unlock', { reason: 'stuck' });
    expect(refused.status).toBe(409);
    expect(refused.body).toMatchObject({ error: 'HolderRunning', holder, holderStatus: 'RUNNING' });
    expect(String(refused.body.message)).toContain(`stop it first (POST /runs/${holder}/stop), or unlock with force`);
    expect(await lockOf('acme-prod-main')).toMatchObject({ holder });

    const forced = await t.post('/stacks/acme-prod-main/unlock', { reason: 'holder wedged', force: true });
    expect(forced.status).toBe(200);
    expect(forced.body).toMatchObject({ stack: 'acme-prod-main', holder, forced: true, holderStatus: 'RUNNING' });
    expect(await lockOf('acme-prod-main')).toBeUndefined();
    const recorded = (await t.get(`/runs/${holder}`)).body.run as Record<string, unknown>;
    expect(recorded.unlocked).toMatchObject({
      stack: 'acme-prod-main',
      by: 'local:requester',
      reason: 'holder wedged',
      forced: true,
      holderStatus: 'RUNNING',
    });

    expect((await t.post('/stacks/acme-prod-main/unlock', { reason: 'again' })).status).toBe(404);
    const bad = await t.post('/stacks/acme-prod-main/unlock', { reason: 'x', force: 'yes', extra: 1 });
    expect(bad.status).toBe(400);
    expect(JSON.stringify(bad.body)).toContain('force');
    expect(JSON.stringify(bad.body)).toContain('extra');
    await t.post(`/runs/${holder}/stop`, { reason: 'test done' });
    await t.waitFor(holder);
  }, 120_000);
});
