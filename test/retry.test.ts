/**
 * `tropos runs retry` / POST /runs/{id}/retry on the local control plane: a new run, linked to the failed one, that
 * runs again only what did not get done, reuses the plans (and a prod approval) of the run it retries while the
 * repository's commit and the plans' SHA-256 hold, and asks again when they do not.
 */
import { execFileSync } from 'node:child_process';
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RunDetail } from '../lib/records/run';
import { runTable } from '../lib/cli/format';
import { DEV, PROD, startTestPlane, type TestPlane } from './helpers/local';

let t: TestPlane;
const git = (...args: string[]) =>
  execFileSync('git', ['-c', 'user.name=test', '-c', 'user.email=test@localhost', ...args], {
    cwd: join(t.dir, 'examples'),
    encoding: 'utf8',
  }).trim();

beforeAll(async () => {
  t = await startTestPlane();
  // A git repository: a run records the commit it worked on, and a retry reuses only at the same commit.
  git('init', '-q', '-b', 'main');
  git('add', '-A');
  git('commit', '-qm', 'first');
}, 120_000);
afterAll(() => t?.close());

/** The components of a step of a run, by name. */
const byComponent = (d: RunDetail, step: string) =>
  Object.fromEntries(d.components.filter((c) => c.step === step).map((c) => [c.component, c]));

/** The components the terraform stand-in ran a subcommand for, sorted. */
const called = (sub: string) =>
  [
    ...new Set(
      t
        .calls()
        .filter((c) => c.sub === sub)
        .map((c) => c.component),
    ),
  ].sort();

async function retry(runId: string): Promise<{ runId: string; input: Record<string, unknown> }> {
  const res = await t.post(`/runs/${runId}/retry`, {});
  expect(res.status).toBe(202);
  expect(res.body.retryOf).toBe(runId);
  return res.body as { runId: string; input: Record<string, unknown> };
}

/** Waits for a prod run's approval and answers it. */
async function approve(runId: string): Promise<void> {
  await t.waitFor(runId, (d) => d.approvals.some((a) => a.status === 'PENDING'), 60_000);
  expect((await t.post(`/approvals/${runId}.approve`, { decision: 'approve' })).status).toBe(200);
}

test('a failed apply: the retry runs only the failed component and its skipped dependents, with the plans reused', async () => {
  t.scenario({ components: { acm: { apply: 'fail' } } });
  const failed = await t.run('apply-environment', DEV);
  expect(failed.run.status).toBe('FAILED');
  const applies = byComponent(failed, 'apply');
  expect(applies.acm!.status).toBe('FAILED');
  const undone = Object.values(applies)
    .filter((c) => c.status === 'FAILED' || c.message?.startsWith('skipped:'))
    .map((c) => c.component)
    .sort();
  expect(undone).toEqual(expect.arrayContaining(['acm', 'monitoring']));
  expect(undone).not.toContain('vpc');
  // How to go on, where an operator looks.
  expect(runTable(failed)).toContain(`tropos runs retry ${failed.run.runId}`);

  t.scenario({}); // the cause is fixed (and the terraform log starts afresh)
  const started = await retry(failed.run.runId);
  expect(String(started.input.components).split(',')).toEqual(undone);
  const d = await t.waitFor(started.runId, undefined, 120_000);
  expect(d.run.status).toBe('SUCCEEDED');
  expect(d.run.retryOf).toBe(failed.run.runId);
  // The terraform log: an apply for exactly those, and no second plan of anything.
  expect(called('apply')).toEqual(undone);
  expect(called('plan')).toEqual([]);
  for (const c of undone)
    expect(byComponent(d, 'plan')[c]).toMatchObject({
      status: 'SUCCEEDED',
      reusedFrom: failed.run.runId,
      plan: { sha256: byComponent(failed, 'plan')[c]!.plan!.sha256 },
    });
  // The retried run says it was retried, and by which run.
  const original = (await t.get(`/runs/${failed.run.runId}`)).body as unknown as RunDetail;
  expect(original.run.retriedBy).toBe(started.runId);
  // A succeeded run has nothing to retry.
  expect((await t.post(`/runs/${started.runId}/retry`, {})).body).toMatchObject({ error: 'RunSucceeded' });
}, 240_000);

test('prod: a retry applies the approved plans without asking again while the commit holds', async () => {
  t.scenario({ components: { acm: { apply: 'fail' } } });
  const started = await t.post('/runs', { workflow: 'apply-environment', input: PROD });
  const runId = String(started.body.runId);
  await approve(runId);
  const failed = await t.waitFor(runId, undefined, 120_000);
  expect(failed.run.status).toBe('FAILED');

  t.scenario({});
  const again = await retry(runId);
  const d = await t.waitFor(again.runId, undefined, 120_000);
  expect(d.run.status).toBe('SUCCEEDED');
  expect(d.approvals).toEqual([
    expect.objectContaining({
      status: 'APPROVED',
      decidedBy: 'local:approver',
      reusedFrom: runId,
      comment: expect.stringContaining(`approved in run ${runId} by local:approver`),
    }),
  ]);
  expect(called('apply').sort()).toEqual(String(again.input.components).split(','));
  expect(called('plan')).toEqual([]);
  // Nobody was asked: no approval notification for the retry.
  expect(t.plane.outbox.some((m) => m.message.includes(`tropos approve ${again.runId}`))).toBe(false);
}, 240_000);

test('prod: after a new commit the retry plans again and asks for approval again', async () => {
  t.scenario({ components: { acm: { apply: 'fail' } } });
  const started = await t.post('/runs', { workflow: 'apply-environment', input: PROD });
  const runId = String(started.body.runId);
  await approve(runId);
  expect((await t.waitFor(runId, undefined, 120_000)).run.status).toBe('FAILED');

  // The fix is a change in the repository: a new commit.
  appendFileSync(join(t.infraDir, 'README.md'), '\nretry test\n');
  git('add', '-A');
  git('commit', '-qm', 'fix');
  t.scenario({});
  const again = await retry(runId);
  await approve(again.runId); // asked again: the plans are new
  const d = await t.waitFor(again.runId, undefined, 120_000);
  expect(d.run.status).toBe('SUCCEEDED');
  expect(d.components.filter((c) => c.reusedFrom)).toEqual([]);
  expect(called('plan')).toEqual(String(again.input.components).split(','));
  expect(d.approvals).toEqual([expect.objectContaining({ status: 'APPROVED', decidedBy: 'local:approver' })]);
  expect(d.approvals[0]!.reusedFrom).toBeUndefined();
}, 240_000);

test('a retry is refused for a run that still runs, a child run and an unknown run; it takes no fields', async () => {
  expect((await t.post('/runs/no-such-run/retry', {})).status).toBe(404);
  t.scenario({ components: { vpc: { plan: 'error' } } });
  const failed = await t.run('plan-environment', DEV);
  expect(failed.run.status).toBe('FAILED');
  expect((await t.post(`/runs/${failed.run.runId}/retry`, { components: 'vpc' })).body).toMatchObject({
    error: 'InvalidInput',
    problems: [{ field: 'components', problem: 'is not a field of a retry; a retry takes no fields' }],
  });
  t.scenario({ default: { planSeconds: 3 } });
  const running = await t.post('/runs', { workflow: 'plan-environment', input: DEV });
  const res = await t.post(`/runs/${String(running.body.runId)}/retry`, {});
  expect(res).toMatchObject({ status: 409, body: { error: 'RunRunning' } });
  await t.waitFor(String(running.body.runId), undefined, 120_000);
}, 240_000);
