/**
 * Mutating state operations are mutating: force-unlock, restore and import take the stack lock and follow the tier's
 * approval policy (an approval without a plan, counted as a change — or, for a restore, a destroy); reading state
 * (list, lock-status, versions) takes neither, so it works on a stack another run holds.
 */
import { DEV, PROD, STAGING, startTestPlane, type TestPlane } from './helpers/local';

let t: TestPlane;
beforeAll(async () => {
  t = await startTestPlane();
}, 180_000);
afterAll(() => t.close());

const LOCK = { ID: 'f1e2', Who: 'jane@ci-runner', Operation: 'OperationTypeApply', Created: '2026-11-20T10:00:00Z' };
const start = async (workflow: string, input: Record<string, unknown>) => {
  const res = await t.post('/runs', { workflow, input });
  expect(res.status).toBe(202);
  return String(res.body.runId);
};

test('a prod force-unlock holds the stack lock and waits for approval, showing what it will do; approved, it runs', async () => {
  t.scenario({ lock: LOCK });
  const runId = await start('state-operations', { ...PROD, component: 'vpc', operation: 'unlock', lock_id: 'f1e2' });
  const waiting = await t.waitFor(runId, (d) => d.approvals.length > 0 || d.run.status !== 'RUNNING');
  expect(waiting.approvals[0]).toMatchObject({
    step: 'approve-unlock',
    status: 'PENDING',
    tier: 'prod',
    parameters: { operation: 'unlock', component: 'vpc', lock_id: 'f1e2', account: 'prod' },
  });
  expect(t.calls().filter((c) => c.sub === 'force-unlock')).toEqual([]);
  // It holds the stack: an apply meanwhile is refused…
  const apply = await t.run('apply-environment', PROD);
  expect(apply.run).toMatchObject({ status: 'FAILED', error: 'StackLocked' });
  expect(apply.run.cause).toContain(runId);
  // …but reading the state is not in its way (no lock taken, no approval asked).
  const status = await t.run('state-operations', { ...PROD, component: 'vpc', operation: 'lock-status' });
  expect(status.run.status).toBe('SUCCEEDED');
  expect(status.approvals).toEqual([]);
  expect((await t.post(`/approvals/${runId}.approve-unlock`, { decision: 'approve' })).status).toBe(200);
  const done = await t.waitFor(runId);
  expect(done.run.status).toBe('SUCCEEDED');
  expect(done.components.find((c) => c.step === 'repair')).toMatchObject({ message: 'force-unlocked f1e2 on vpc' });
  expect(t.calls().filter((c) => c.sub === 'force-unlock')).toHaveLength(1);
}, 180_000);

test('rejected, the repair never runs; the lock is given back', async () => {
  t.scenario({ lock: LOCK });
  const runId = await start('state-operations', { ...PROD, component: 'vpc', operation: 'unlock', lock_id: 'f1e2' });
  await t.waitFor(runId, (d) => d.approvals.length > 0);
  expect((await t.post(`/approvals/${runId}.approve-unlock`, { decision: 'reject' })).status).toBe(200);
  expect((await t.waitFor(runId)).run).toMatchObject({ status: 'FAILED', error: 'ApprovalRejected' });
  expect(t.calls().filter((c) => c.sub === 'force-unlock')).toEqual([]);
  expect((await t.post('/stacks/acme-prod-main/unlock', { reason: 'check' })).status).toBe(404);
}, 180_000);

test("staging's on-destroy policy asks for a restore (it can drop resources), not for a force-unlock", async () => {
  t.scenario({ lock: LOCK });
  const restore = await start('state-operations', {
    ...STAGING,
    component: 'vpc',
    operation: 'restore',
    version_id: 'v-1',
  });
  const waiting = await t.waitFor(restore, (d) => d.approvals.length > 0 || d.run.status !== 'RUNNING');
  expect(waiting.approvals[0]).toMatchObject({ step: 'approve-restore', status: 'PENDING' });
  await t.post(`/approvals/${restore}.approve-restore`, { decision: 'reject' });
  await t.waitFor(restore);
  const unlock = await t.run('state-operations', {
    ...STAGING,
    component: 'vpc',
    operation: 'unlock',
    lock_id: 'f1e2',
  });
  expect(unlock.run.status).toBe('SUCCEEDED');
  expect(unlock.approvals).toEqual([]);
}, 180_000);

test('import asks for approval in prod, not in dev', async () => {
  const input = { component: 'vpc', resource_type: 'aws_vpc', resource_id: 'vpc-12345' };
  const dev = await t.run('import', { ...DEV, ...input });
  expect(dev.run.status).toBe('SUCCEEDED');
  expect(dev.approvals).toEqual([]);
  const prod = await start('import', { ...PROD, ...input });
  const waiting = await t.waitFor(prod, (d) => d.approvals.length > 0 || d.run.status !== 'RUNNING');
  expect(waiting.approvals[0]).toMatchObject({
    step: 'approve',
    parameters: { resource_type: 'aws_vpc', resource_id: 'vpc-12345' },
  });
  const before = t.calls().filter((c) => c.sub === 'import').length;
  await t.post(`/approvals/${prod}.approve`, { decision: 'approve' });
  expect((await t.waitFor(prod)).run.status).toBe('SUCCEEDED');
  expect(t.calls().filter((c) => c.sub === 'import')).toHaveLength(before + 1);
}, 180_000);
