/**
 * The cloud's checkout, for real: the runner script clones the infrastructure repository from a git server (here a
 * bare repository over file://) as a CodeBuild build does. A run resolves its stack at the tip of its ref; a child
 * run is handed its parent's commit and resolves at that commit, whatever the branch holds by then.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { handOver } from '../lambdas/validate-input/core';
import { originOf, type Handover } from '../lib/records/handover';
import { ROOT } from './helpers/fixtures';

const SCRIPT = join(ROOT, 'buildspecs', 'scripts', 'tropos-terraform.sh');
let dir: string;
const git = (cwd: string, ...args: string[]) =>
  execFileSync('git', ['-c', 'user.name=test', '-c', 'user.email=test@localhost', ...args], {
    cwd,
    encoding: 'utf8',
  }).trim();

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'tropos-checkout-'));
  // The example repository's plain-terraform layout, pushed to a "server".
  const work = join(dir, 'work');
  cpSync(join(ROOT, 'examples', 'terraform'), work, { recursive: true });
  cpSync(join(ROOT, 'examples', 'modules'), join(work, 'modules'), { recursive: true });
  git(work, 'init', '-q', '-b', 'main');
  git(work, 'add', '-A');
  git(work, 'commit', '-qm', 'first');
  git(dir, 'clone', '-q', '--bare', work, join(dir, 'server.git'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs the resolve build's script as CodeBuild would (no local folder: it clones); the stack it stored. */
function resolve(
  runId: string,
  context: Record<string, unknown>,
  env: Record<string, string> = {},
): { status: number | null; out: string; commit?: string } {
  const artifacts = join(dir, 'artifacts');
  const r = spawnSync('bash', [SCRIPT], {
    encoding: 'utf8',
    env: {
      PATH: process.env.PATH,
      HOME: dir,
      TROPOS_COMMAND: 'resolve',
      TROPOS_ENGINE: 'terraform',
      TROPOS_RUN_ID: runId,
      TROPOS_INFRA_URL: `file://${join(dir, 'server.git')}`,
      TROPOS_INFRA_REF: 'main',
      TROPOS_ARTIFACTS_DIR: artifacts,
      TROPOS_ARTIFACTS_BUCKET: 'artifacts',
      TROPOS_WORK_DIR: join(dir, 'builds', runId),
      TROPOS_EXPORTS: join(dir, `${runId}.exports`),
      TROPOS_CONTEXT: JSON.stringify({
        stack: 'acme-dev-testenv-01',
        tenant: 'acme',
        account: 'dev',
        environment: 'testenv-01',
        ...context,
      }),
      ...env,
    },
  });
  let commit: string | undefined;
  try {
    commit = (
      JSON.parse(readFileSync(join(artifacts, 'runs', runId, 'resolve', 'stack.json'), 'utf8')) as { commit: string }
    ).commit;
  } catch {
    commit = undefined;
  }
  return { status: r.status, out: r.stdout + r.stderr, commit };
}

test('a run resolves at its ref’s tip; a child at the commit its parent handed it, though main moved on', async () => {
  const first = git(join(dir, 'server.git'), 'rev-parse', 'main');
  const parent = resolve('parent', {});
  expect(parent.out).toContain(`resolved acme-dev-testenv-01 at ${first}: 14 components`);
  expect(parent).toMatchObject({ status: 0, commit: first });

  // main moves on while the parent runs.
  const work = join(dir, 'work');
  writeFileSync(join(work, 'README.md'), 'moved on\n');
  git(work, 'add', '-A');
  git(work, 'commit', '-qm', 'second');
  git(work, 'push', '-q', join(dir, 'server.git'), 'main');
  const second = git(join(dir, 'server.git'), 'rev-parse', 'main');
  expect(second).not.toBe(first);

  // The parent hands its commit over; the child's context carries it (from the handover only).
  const handovers: Handover[] = [];
  const recorder = { handovers: { put: async (h: Handover) => void handovers.push(h) } };
  const input = { tenant: 'acme', account: 'dev', environment: 'testenv-01' };
  await handOver(
    {
      action: 'handover',
      name: 'parent-post-validation',
      workflow: 'validate',
      parentRunId: 'parent',
      principal: '',
      commit: first,
      input,
    },
    recorder as never,
  );
  const origin = originOf(handovers[0], 'validate', input);
  expect(origin).toMatchObject({ kind: 'parent', commit: first });
  const child = resolve('parent-post-validation', { commit: origin.commit });
  expect(child).toMatchObject({ status: 0, commit: first });

  // A run of its own: the tip.
  expect(resolve('later', {})).toMatchObject({ status: 0, commit: second });
  // A local run's `working-tree` is not a commit: not handed over.
  await handOver(
    {
      action: 'handover',
      name: 'x',
      workflow: 'validate',
      parentRunId: 'p',
      principal: '',
      commit: 'working-tree',
      input,
    },
    recorder as never,
  );
  expect(handovers[1]?.commit).toBeUndefined();
});

test("onboarding's generated configuration is pushed, and its commit is what the deploy is handed", async () => {
  const exports = join(dir, 'generate.exports');
  const r = spawnSync('bash', [SCRIPT], {
    encoding: 'utf8',
    env: {
      PATH: process.env.PATH,
      HOME: dir,
      TROPOS_COMMAND: 'generate-config',
      TROPOS_ENGINE: 'terraform',
      TROPOS_RUN_ID: 'onboard-1',
      TROPOS_INFRA_URL: `file://${join(dir, 'server.git')}`,
      TROPOS_INFRA_REF: 'main',
      TROPOS_WORK_DIR: join(dir, 'builds', 'onboard-1'),
      TROPOS_EXPORTS: exports,
      TROPOS_STACK_COMPONENTS: '["vpc"]',
      TROPOS_PARAMS: JSON.stringify({
        tenant: 'acme',
        account: 'dev',
        environment: 'testenv-09',
        vpc_cidr: '10.9.0.0/16',
      }),
      TROPOS_CONTEXT: JSON.stringify({
        stack: 'acme-dev-testenv-09',
        tenant: 'acme',
        account: 'dev',
        environment: 'testenv-09',
        region: 'us-east-1',
      }),
    },
  });
  expect(r.stdout + r.stderr).toContain('stack configuration of acme-dev-testenv-09 written');
  const pushed = git(join(dir, 'server.git'), 'rev-parse', 'main');
  expect(readFileSync(exports, 'utf8')).toContain(`export TROPOS_COMMIT_SHA=${pushed}`);

  // The deploy's handover takes the commit the generate-config step recorded; promote's later stages, the first's.
  const handovers: Handover[] = [];
  const runs = {
    component: async (run: string, step: string, component: string) =>
      run === 'onboard-1' && step === 'generate-config' && component === 'repository' ? { commit: pushed } : undefined,
    getRun: async (run: string) => (run === 'promote-1-dev' ? { commit: 'c'.repeat(40) } : undefined),
  };
  const recorder = { handovers: { put: async (h: Handover) => void handovers.push(h) }, runs };
  const input = { tenant: 'acme', account: 'dev', environment: 'testenv-09' };
  await handOver(
    {
      action: 'handover',
      name: 'onboard-1-deploy',
      workflow: 'apply-environment',
      parentRunId: 'onboard-1',
      principal: '',
      commitFromRun: 'onboard-1',
      commitFromStep: 'generate-config',
      input,
    },
    recorder as never,
  );
  await handOver(
    {
      action: 'handover',
      name: 'promote-1-prod',
      workflow: 'apply-environment',
      parentRunId: 'promote-1',
      principal: '',
      commitFromRun: 'promote-1-dev',
      input,
    },
    recorder as never,
  );
  expect(handovers.map((h) => h.commit)).toEqual([pushed, 'c'.repeat(40)]);
});

test('a local folder works at the commit git finds for it (from a subfolder, through a symlink); in no repository, at its working tree', () => {
  const notGit = (src: string) => !src.split('/').includes('.git');
  // The roots in a subfolder of a larger repository, and a symlink to that subfolder: git finds the repository
  // above the folder's physical path, so must the runner (it looks for .git itself before it starts git).
  const mono = join(dir, 'mono');
  cpSync(join(dir, 'work'), join(mono, 'infra'), { recursive: true, filter: notGit });
  git(mono, 'init', '-q', '-b', 'main');
  git(mono, 'add', '-A');
  git(mono, 'commit', '-qm', 'mono');
  const monoHead = git(mono, 'rev-parse', 'HEAD');
  symlinkSync(join(mono, 'infra'), join(dir, 'infra-link'));
  // A copy in no repository (git agrees: precondition).
  const plain = join(dir, 'plain');
  cpSync(join(dir, 'work'), plain, { recursive: true, filter: notGit });
  expect(spawnSync('git', ['-C', plain, 'rev-parse', 'HEAD']).status).not.toBe(0);

  const local = (runId: string, folder: string) => resolve(runId, {}, { TROPOS_INFRA_DIR: folder });
  expect(local('local-root', join(dir, 'work'))).toMatchObject({
    status: 0,
    commit: git(join(dir, 'work'), 'rev-parse', 'HEAD'),
  });
  expect(local('local-sub', join(mono, 'infra'))).toMatchObject({ status: 0, commit: monoHead });
  expect(local('local-link', join(dir, 'infra-link'))).toMatchObject({ status: 0, commit: monoHead });
  expect(local('local-plain', plain)).toMatchObject({ status: 0, commit: 'working-tree' });
});
