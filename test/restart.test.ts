/**
 * A restart is not a loss: the local control plane, killed (SIGKILL) while a run holds its stack's lock and waits
 * for approval, is started again on the same data; the run its engine no longer knows is ended (ABORTED, with the
 * reason) through the run ledger, its lock given back, and the stack can be applied again.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from './helpers/fixtures';
import type { RunDetail } from '../lib/records/run';
import { PROD, STAND_INS } from './helpers/local';

let dir: string;
const children: ChildProcess[] = [];
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'tropos-restart-'));
  cpSync(join(ROOT, 'examples'), join(dir, 'examples'), { recursive: true });
});
afterAll(() => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

/** `tropos serve` as its own process, on the same data folder each time; its URL once it listens. */
async function serve(): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(
    process.execPath,
    [
      join(ROOT, 'bin', 'tropos'),
      '--data-dir',
      join(dir, 'data'),
      '--infra-dir',
      join(dir, 'examples', 'atmos'),
      'serve',
    ],
    { env: { ...process.env, PATH: `${STAND_INS}:${process.env.PATH}` }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  children.push(child);
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const deadline = Date.now() + 120_000;
  for (;;) {
    const m = /control plane on (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
    if (m) return { child, url: m[1]! };
    if (child.exitCode !== null) throw new Error(`tropos serve exited ${child.exitCode}: ${out}`);
    if (Date.now() > deadline) throw new Error(`tropos serve did not start: ${out}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const call = async (url: string, method: string, path: string, body?: unknown) => {
  const res = await fetch(`${url}${path}`, {
    method,
    headers: { 'content-type': 'application/json', 'x-tropos-user': 'operator' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
};
const waitFor = async (url: string, runId: string, until: (run: RunDetail) => boolean) => {
  const deadline = Date.now() + 120_000;
  for (;;) {
    const r = await call(url, 'GET', `/runs/${runId}`);
    if (r.status === 200 && until(r.body as unknown as RunDetail)) return r.body as unknown as RunDetail;
    if (Date.now() > deadline) throw new Error(`run ${runId}: ${JSON.stringify(r.body).slice(0, 400)}`);
    await new Promise((res) => setTimeout(res, 250));
  }
};

test('killed (SIGKILL) while a prod run waits for approval: after the restart the run is ABORTED and the stack free', async () => {
  const first = await serve();
  const started = await call(first.url, 'POST', '/runs', { workflow: 'apply-environment', input: PROD });
  expect(started.status).toBe(202);
  const runId = String(started.body.runId);
  await waitFor(first.url, runId, (d) => d.approvals.length > 0);
  first.child.kill('SIGKILL');
  await new Promise((r) => first.child.once('exit', r));

  const second = await serve();
  const d = await waitFor(second.url, runId, (x) => x.run.status !== 'RUNNING');
  expect(d.run).toMatchObject({ status: 'ABORTED', error: 'ControlPlaneRestarted' });
  expect(String(d.run.cause)).toContain('did not survive the restart');
  // The stack is free: the next apply takes its lock (no takeover needed: the ledger gave it back).
  const again = await call(second.url, 'POST', '/runs', { workflow: 'apply-backend', input: PROD });
  const next = await waitFor(
    second.url,
    String(again.body.runId),
    (x) => x.approvals.length > 0 || x.run.status !== 'RUNNING',
  );
  expect(next.run.status).toBe('RUNNING');
  expect(next.run.lockTakenOver).toBeUndefined();
  second.child.kill('SIGTERM');
  await new Promise((r) => second.child.once('exit', r));
}, 400_000);
