/**
 * An apply applies exactly what was reviewed: the plan file (SHA-256), made at the commit this build works on, with
 * the dependency lock file it was made with (stored beside the plan and put back in place at apply). Approval can
 * take a day: here the repository moves on while a prod run waits for it.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { RunDetail } from '../lib/records/run';
import { PROD, startTestPlane, type TestPlane } from './helpers/local';

let t: TestPlane;
beforeAll(async () => {
  t = await startTestPlane();
}, 120_000);
afterAll(async () => t.close());

const git = (...args: string[]) =>
  execFileSync('git', ['-c', 'user.name=test', '-c', 'user.email=test@localhost', ...args], {
    cwd: dirname(t.infraDir),
    encoding: 'utf8',
  }).trim();
const LOCK = () => join(t.infraDir, 'components', 'terraform', 'vpc', '.terraform.lock.hcl');
// A lock file as terraform writes it (the example's components use only built-in resources, which need none).
const lockText = (version: string) =>
  `# This file is maintained automatically by "terraform init".\nprovider "registry.terraform.io/hashicorp/aws" {\n  version     = "${version}"\n  constraints = "~> 5.0"\n  hashes = [\n    "h1:8bPuW+B5f6tlqcqsaZk5lNYM9kbL2KmC6ReqXr3h4bE=",\n  ]\n}\n`;

/** Starts apply-environment in prod, does `meanwhile` while it waits for approval, approves; the ended run. */
async function approveAfter(meanwhile: () => void): Promise<RunDetail> {
  t.scenario({
    components: { vpc: { plan: { add: 1, change: 0, destroy: 0 } } },
    default: { plan: { add: 0, change: 0, destroy: 0 } },
  });
  const started = await t.post('/runs', { workflow: 'apply-environment', input: { ...PROD, components: 'vpc' } });
  expect(started.status).toBe(202);
  const runId = String(started.body.runId);
  const waiting = await t.waitFor(runId, (d) => d.approvals.length > 0 || d.run.status !== 'RUNNING', 120_000);
  expect(waiting.approvals[0]).toMatchObject({ status: 'PENDING' });
  meanwhile();
  expect((await t.post(`/approvals/${runId}.approve`, { decision: 'approve' })).status).toBe(200);
  return t.waitFor(runId, undefined, 120_000);
}
const applyOf = (d: RunDetail) => d.components.find((c) => c.step === 'apply' && c.component === 'vpc');

describe('an apply refuses a plan made at another commit or with another lock file', () => {
  beforeAll(() => {
    writeFileSync(LOCK(), lockText('5.80.0'));
    git('init', '-q', '-b', 'main');
    git('add', '-A');
    git('commit', '-qm', 'main');
  });

  test('the same commit and lock file: applied, with the lock file stored beside the plan', async () => {
    const d = await approveAfter(() => undefined);
    expect(d.run.status).toBe('SUCCEEDED');
    expect(applyOf(d)?.status).toBe('SUCCEEDED');
    const plan = d.components.find((c) => c.step === 'plan' && c.component === 'vpc')!;
    const stored = join(t.plane.dataDir, 'artifacts', plan.plan!.artifactsPrefix!, 'terraform.lock.hcl');
    expect(readFileSync(stored, 'utf8')).toBe(lockText('5.80.0'));
    const meta = JSON.parse(
      readFileSync(join(t.plane.dataDir, 'artifacts', plan.plan!.artifactsPrefix!, 'plan-meta.json'), 'utf8'),
    ) as Record<string, string>;
    expect(meta).toMatchObject({ commit: git('rev-parse', 'HEAD'), planSha256: plan.plan!.sha256 });
    expect(applyOf(d)?.commit).toBe(meta.commit);
  }, 240_000);

  test('the repository moved on while the run waited: the apply refuses the plan, naming both commits', async () => {
    const planned = git('rev-parse', 'HEAD');
    let moved = '';
    const d = await approveAfter(() => {
      writeFileSync(join(t.infraDir, 'README.md'), 'changed while the run waited for approval\n');
      git('add', '-A');
      git('commit', '-qm', 'meanwhile');
      moved = git('rev-parse', 'HEAD');
    });
    expect(d.run.status).toBe('FAILED');
    expect(applyOf(d)).toMatchObject({ status: 'FAILED' });
    expect(applyOf(d)?.message).toBe(
      `PlanMismatch: the plan of vpc was made at commit ${planned}, but this build is at ${moved}; refusing to apply (plan again)`,
    );
    expect(t.calls().filter((c) => c.sub === 'apply')).toEqual([]);
  }, 240_000);

  test('another lock file at apply: refused; no lock file where the plan had one: the stored one is used', async () => {
    const d = await approveAfter(() => writeFileSync(LOCK(), lockText('5.81.0')));
    expect(d.run.status).toBe('FAILED');
    expect(applyOf(d)?.message).toMatch(
      /^PlanMismatch: the plan of vpc was made with another \.terraform\.lock\.hcl \(SHA-256 [0-9a-f]{12}, here [0-9a-f]{12}\); refusing to apply$/,
    );
    expect(t.calls().filter((c) => c.sub === 'apply')).toEqual([]);

    // A checkout without the lock file (a repository that does not commit it): the plan's own is put in place.
    writeFileSync(LOCK(), lockText('5.81.0'));
    const ok = await approveAfter(() => execFileSync('rm', ['-f', LOCK()]));
    expect(ok.run.status).toBe('SUCCEEDED');
    expect(existsSync(LOCK()) && readFileSync(LOCK(), 'utf8')).toBe(lockText('5.81.0'));
  }, 240_000);
});
