/**
 * Fault injection: the local control plane runs as its own process (`tropos serve`) and is killed (SIGKILL) at
 * random points of ≥ 20 runs — plans, applies, prod applies waiting for approval or approved and applying — and
 * started again on the same data each time. Afterwards: no lock is held (every run has ended, none holds one), every
 * run record has ended with its components, and every apply the terraform log shows is on the records with its
 * outcome — the builds outlived the kills and were adopted.
 *
 * The points are random; the seed is printed, and TROPOS_FAULT_SEED=<seed> replays a sequence.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RunDetail } from '../lib/records/run';
import { DEV, PROD, STAGING } from './helpers/local';
import { appliesIn, serveFolder, type ServeFolder, type Served } from './helpers/serve';

let f: ServeFolder;
beforeAll(() => (f = serveFolder('tropos-faults-')));
afterAll(() => (process.env.KEEP ? console.log(f.dir) : f.close()));

/** A small seeded generator (mulberry32): the same seed, the same kill points. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const STACKS = [DEV, STAGING, PROD];
const stackOf = (s: (typeof STACKS)[number]) => `${s.tenant}-${s.account}-${s.environment}`;
const RUNS = 20;

test(`killed at random points of ${RUNS} runs and restarted each time: nothing is lost`, async () => {
  const seed = Number(process.env.TROPOS_FAULT_SEED ?? Date.now() % 1_000_000);
  console.log(`fault injection seed ${seed} (TROPOS_FAULT_SEED=${seed} replays it)`);
  const rnd = random(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const scenario = join(f.dir, 'applies.sh');
  writeFileSync(scenario, 'APPLY_SECONDS_default=2\n');
  const log = join(f.dir, 'terraform.jsonl');
  const env = { TROPOS_FAKE_TF_SH: scenario, TROPOS_FAKE_TF_LOG: log };

  const started: string[] = [];
  const kills: string[] = [];
  // What a round waits for before the kill: a random delay; an apply in flight (then a random bit more); a run
  // asking for approval. Each with a deadline: the kill comes regardless.
  const moments = ['delay', 'mid-apply', 'mid-apply', 'approval'] as const;
  const anyRun = async (url: string, ids: string[], until: (d: RunDetail) => boolean) => {
    for (const id of ids) {
      const r = await f.call(url, 'GET', `/runs/${id}`);
      if (r.status === 200 && until(r.body as unknown as RunDetail)) return true;
    }
    return false;
  };
  let plane: Served = await f.serve(env);
  // Whether a kill came while a prod run waited for its approval (the first round makes sure of one).
  let killedWhileAsking = false;
  while (started.length < RUNS) {
    const round: string[] = [];
    const first = started.length === 0;
    for (let k = first ? 1 : 1 + Math.floor(rnd() * 3); k > 0; k--) {
      const workflow = first
        ? 'apply-environment'
        : pick(['plan-environment', 'apply-environment', 'apply-environment']);
      // A few components each (the whole stack too, now and then), so that runs get to their applies.
      const components = pick(['vpc', 'backend,vpc,iam', 'dns,acm', undefined]);
      const input = { ...(first ? PROD : pick(STACKS)), ...(components ? { components } : {}) };
      const res = await f.call(plane.url, 'POST', '/runs', { workflow, input });
      expect(res.status).toBe(202);
      round.push(String(res.body.runId));
    }
    started.push(...round);
    const moment = first ? 'approval' : pick(moments);
    const deadline = Date.now() + 60_000;
    if (moment === 'delay') await new Promise((r) => setTimeout(r, 300 + Math.floor(rnd() * 8000)));
    else
      while (Date.now() < deadline) {
        const applying = (d: RunDetail) => d.components.some((c) => c.step === 'apply' && c.status === 'RUNNING');
        const asking = (d: RunDetail) => d.approvals.some((a) => a.status === 'PENDING');
        if (await anyRun(plane.url, round, moment === 'mid-apply' ? applying : asking)) break;
        await new Promise((r) => setTimeout(r, 100));
      }
    // Approve what waits, now and then: the approved apply is then under way at the kill.
    if (!first && rnd() < 0.5) {
      const pending = await f.call(plane.url, 'GET', '/approvals?status=PENDING');
      for (const a of (pending.body.approvals ?? []) as { approvalId: string }[])
        await f.call(plane.url, 'POST', `/approvals/${a.approvalId}`, { decision: 'approve' });
    }
    await new Promise((r) => setTimeout(r, Math.floor(rnd() * 1500)));
    kills.push(moment);
    const askingNow = (d: RunDetail) => d.run.tier === 'prod' && d.approvals.some((a) => a.status === 'PENDING');
    if (await anyRun(plane.url, round, askingNow)) killedWhileAsking = true;
    await plane.kill();
    plane = await f.serve(env);
  }

  expect(killedWhileAsking).toBe(true);
  // Every run ends: cut off by a kill (ABORTED once its builds have ended and been adopted), or ran to its end.
  const runs = new Map<string, RunDetail>();
  for (const id of started) runs.set(id, await f.waitFor(plane.url, id, (d) => d.run.status !== 'RUNNING', 180_000));
  const statuses = [...runs.values()].map((d) => d.run.status);
  console.log(`${started.length} runs, ${kills.length} kills; ended: ${JSON.stringify(count(statuses))}`);
  for (const d of runs.values()) expect(d.components.filter((c) => c.status === 'RUNNING')).toEqual([]);
  const aborted = [...runs.values()].filter((d) => d.run.status === 'ABORTED');
  expect(aborted.map((d) => d.run.error)).toEqual(aborted.map(() => 'ControlPlaneRestarted'));
  // No lock is held by an ended run (none runs: none is held at all).
  for (const s of STACKS) {
    const unlock = await f.call(plane.url, 'POST', `/stacks/${stackOf(s)}/unlock`, { reason: 'fault injection check' });
    expect({ stack: stackOf(s), status: unlock.status }).toEqual({ stack: stackOf(s), status: 404 });
  }
  // Every apply terraform was asked for is on its run's records, by its build, with its outcome.
  const applies = appliesIn(log);
  console.log(`${applies.length} applies in the terraform log; kills: ${kills.join(', ')}`);
  // The kills cut applies in flight (the rounds wait for some): what the test is about.
  expect(applies.length).toBeGreaterThan(0);
  for (const a of applies) {
    const record = runs.get(a.run!)?.components.find((c) => c.buildId === a.build);
    expect({ apply: a, record: record && { component: record.component, status: record.status } }).toEqual({
      apply: a,
      record: { component: a.component, status: 'SUCCEEDED' },
    });
  }
  // The records match the executions: one more restart finds nothing to end.
  await plane.kill();
  plane = await f.serve(env);
  for (const [id, d] of runs)
    expect((await f.call(plane.url, 'GET', `/runs/${id}`)).body.run).toMatchObject({ status: d.run.status });
  await plane.kill();
}, 1_500_000);

function count(xs: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const x of xs) out[x] = (out[x] ?? 0) + 1;
  return out;
}
