/**
 * A restart is not a loss: the local control plane, killed (SIGKILL) while a run holds its stack's lock, is started
 * again on the same data. A run its engine no longer knows is ended (ABORTED, with the reason) through the run
 * ledger and its lock given back — but only once the builds it had started have ended: they outlive the control
 * plane, and what they did (an apply) is adopted onto the records.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RunDetail } from '../lib/records/run';
import { DEV, PROD } from './helpers/local';
import { appliesIn, serveFolder, type ServeFolder } from './helpers/serve';

let f: ServeFolder;
beforeAll(() => (f = serveFolder('tropos-restart-')));
afterAll(() => f.close());

/** A scenario in which every apply takes `seconds`, each logged: its log, and the environment to serve it with. */
function slowApplies(name: string, seconds: number): { log: string; env: Record<string, string> } {
  const scenario = join(f.dir, `${name}.sh`);
  writeFileSync(scenario, `APPLY_SECONDS_default=${seconds}\n`);
  const log = join(f.dir, `${name}.jsonl`);
  return { log, env: { TROPOS_FAKE_TF_SH: scenario, TROPOS_FAKE_TF_LOG: log } };
}

/** An apply-environment of DEV started on `url`, once one of its applies runs: its run id. */
async function applyUnderWay(url: string): Promise<string> {
  const started = await f.call(url, 'POST', '/runs', { workflow: 'apply-environment', input: DEV });
  const runId = String(started.body.runId);
  await f.waitFor(url, runId, (d) => d.components.some((c) => c.step === 'apply' && c.status === 'RUNNING'));
  return runId;
}

/** Until terraform's apply has begun in one of the run's builds (the stand-in logs it before it sleeps). */
async function untilApplyBegun(log: string, runId: string): Promise<void> {
  for (let i = 0; i < 100 && appliesIn(log, runId).length === 0; i++) await new Promise((r) => setTimeout(r, 50));
  expect(appliesIn(log, runId).length).toBeGreaterThan(0);
}

/**
 * Afterwards: every apply of the run the terraform log shows is on its records, by its build, SUCCEEDED (none was
 * cut off), nothing is left RUNNING, and the stack's lock is free.
 */
async function expectAppliesRecorded(url: string, d: RunDetail, log: string): Promise<void> {
  const applies = appliesIn(log, d.run.runId);
  expect(applies.length).toBeGreaterThan(0);
  for (const a of applies)
    expect(d.components.find((c) => c.buildId === a.build)).toMatchObject({
      component: a.component,
      status: 'SUCCEEDED',
    });
  expect(d.components.filter((c) => c.status === 'RUNNING')).toEqual([]);
  expect((await f.call(url, 'POST', '/stacks/acme-dev-testenv-01/unlock', { reason: 'test' })).status).toBe(404);
}

test('killed (SIGKILL) while a prod run waits for approval: after the restart the run is ABORTED and the stack free', async () => {
  const first = await f.serve();
  const started = await f.call(first.url, 'POST', '/runs', { workflow: 'apply-environment', input: PROD });
  expect(started.status).toBe(202);
  const runId = String(started.body.runId);
  await f.waitFor(first.url, runId, (d) => d.approvals.length > 0);
  await first.kill();

  const second = await f.serve();
  const d = await f.waitFor(second.url, runId, (x) => x.run.status !== 'RUNNING');
  expect(d.run).toMatchObject({ status: 'ABORTED', error: 'ControlPlaneRestarted' });
  expect(String(d.run.cause)).toContain('did not survive the restart');
  // The stack is free: the next apply takes its lock (no takeover needed: the ledger gave it back).
  const again = await f.call(second.url, 'POST', '/runs', { workflow: 'apply-backend', input: PROD });
  const next = await f.waitFor(
    second.url,
    String(again.body.runId),
    (x) => x.approvals.length > 0 || x.run.status !== 'RUNNING',
  );
  expect(next.run.status).toBe('RUNNING');
  expect(next.run.lockTakenOver).toBeUndefined();
  await second.kill();
}, 400_000);

test('killed mid-apply: the applies run to their end, are adopted onto the records, and the lock is held until then', async () => {
  // Each apply takes 30 s (the stand-in's scenario, read by every build as it runs): longer than a restart.
  const { log, env } = slowApplies('long', 30);
  const first = await f.serve(env);
  const runId = await applyUnderWay(first.url);
  await first.kill();

  const second = await f.serve(env);
  // The builds still run: the run is RUNNING, its lock held — the unlock route names it as a run that still runs.
  const during = await f.call(second.url, 'GET', `/runs/${runId}`);
  const applying = (during.body as unknown as { components: { step: string; status: string }[] }).components.filter(
    (c) => c.step === 'apply' && c.status === 'RUNNING',
  );
  expect(applying.length).toBeGreaterThan(0);
  expect((during.body.run as { status: string }).status).toBe('RUNNING');
  const unlock = await f.call(second.url, 'POST', '/stacks/acme-dev-testenv-01/unlock', { reason: 'test' });
  expect(unlock).toMatchObject({ status: 409, body: { holderStatus: 'RUNNING' } });
  const d = await f.waitFor(second.url, runId, (x) => x.run.status !== 'RUNNING');
  expect(d.run).toMatchObject({ status: 'ABORTED', error: 'ControlPlaneRestarted' });
  await expectAppliesRecorded(second.url, d, log);
  await second.kill();
}, 400_000);

test('killed mid-apply, the applies end while it is down: the restart adopts them from their folders', async () => {
  const { log, env } = slowApplies('short', 2);
  const first = await f.serve(env);
  const runId = await applyUnderWay(first.url);
  await untilApplyBegun(log, runId);
  await first.kill();
  // Their 2 s applies end while nothing watches them (no control plane runs).
  await new Promise((r) => setTimeout(r, 5000));

  const second = await f.serve(env);
  const d = await f.waitFor(second.url, runId, (x) => x.run.status !== 'RUNNING', 60_000);
  expect(d.run).toMatchObject({ status: 'ABORTED', error: 'ControlPlaneRestarted' });
  await expectAppliesRecorded(second.url, d, log);
  await second.kill();
}, 400_000);

test('Ctrl-C (SIGINT) mid-apply: serve stops its runs as an operator would; the applies end, then it exits', async () => {
  const { log, env } = slowApplies('ctrl-c', 4);
  const first = await f.serve(env);
  const runId = await applyUnderWay(first.url);
  await untilApplyBegun(log, runId);
  first.child.kill('SIGINT');
  expect(await first.exited()).toBe(0);
  expect(first.output()).toContain('stopping 1 run(s): nothing new starts; builds in flight end first');

  const second = await f.serve(env);
  const d = await f.waitFor(second.url, runId, (x) => x.run.status !== 'RUNNING');
  expect(d.run).toMatchObject({
    status: 'ABORTED',
    error: 'RunStopped',
    cause: expect.stringMatching(/^stopped by local:\S+: tropos serve was stopped \(Ctrl-C\)$/),
  });
  // Every apply that started ran to its end before serve exited, and is on the records: none was interrupted.
  await expectAppliesRecorded(second.url, d, log);
  await second.kill();
}, 400_000);
