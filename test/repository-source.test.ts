// The infrastructure repository is the source of truth (issue 12): a component added to the user's repository is
// run — after its dependency — with nothing changed in Tropos's configuration, catalog or deployment, and
// `components=` runs exactly the components named, every time.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { RunDetail } from '../lib/records/run';
import { DEV, PROD, startTestPlane, TestPlane } from './helpers/local';

let t: TestPlane;
beforeAll(async () => {
  t = await startTestPlane();
});
afterAll(async () => t.close());

const byName = (d: RunDetail, step: string) =>
  Object.fromEntries(d.components.filter((c) => c.step === step).map((c) => [c.component, c]));

/** Adds an `sqs` component to the copy of the example repository: its folder, its catalog file, one stack's import. */
function addSqs(repo: string): void {
  mkdirSync(join(repo, 'components', 'terraform', 'sqs'));
  writeFileSync(
    join(repo, 'components', 'terraform', 'sqs', 'main.tf'),
    'terraform {\n  backend "s3" {}\n}\n\nresource "terraform_data" "queue" {}\n',
  );
  writeFileSync(
    join(repo, 'stacks', 'catalog', 'sqs.yaml'),
    'components:\n  terraform:\n    sqs:\n      settings:\n        depends_on:\n          1:\n            component: lambda\n      vars: {}\n',
  );
  const stack = join(repo, 'stacks', 'orgs', 'acme', 'dev', 'testenv-01.yaml');
  writeFileSync(
    stack,
    readFileSync(stack, 'utf8').replace('  - catalog/monitoring\n', '  - catalog/monitoring\n  - catalog/sqs\n'),
  );
}

test('a component added to the repository is planned and applied after its dependency; nothing in Tropos changes', async () => {
  t.scenario({});
  const before = await t.run('plan-environment', DEV);
  expect(before.run.status).toBe('SUCCEEDED');
  expect(Object.keys(byName(before, 'plan'))).not.toContain('sqs');
  const config = readFileSync(join(__dirname, '..', 'tropos.config.yaml'), 'utf8');
  const catalog = readFileSync(join(__dirname, '..', 'catalog', 'components.yaml'), 'utf8');

  addSqs(t.infraDir);

  const plan = await t.run('plan-environment', DEV);
  expect(plan.run.status).toBe('SUCCEEDED');
  expect(plan.run.resolved).toMatchObject({ engine: 'atmos', components: 15 });
  const planned = byName(plan, 'plan');
  expect(planned.sqs).toMatchObject({ status: 'SUCCEEDED', message: 'sqs: +1 ~0 -0' });
  expect(Date.parse(planned.sqs!.startedAt!)).toBeGreaterThanOrEqual(Date.parse(planned.lambda!.endedAt!));
  // monitoring depends on every other component of the stack (settings.depends_on in its catalog file), not on sqs:
  // it was written before sqs existed.

  const apply = await t.run('apply-environment', DEV);
  expect(apply.run.status).toBe('SUCCEEDED');
  const applied = byName(apply, 'apply');
  expect(applied.sqs).toMatchObject({ status: 'SUCCEEDED' });
  // Each build within its own limit: the catalog's default for rds (120 minutes), the configuration's for the rest.
  expect(applied.rds).toMatchObject({ timeoutMinutes: 120 });
  expect(applied.sqs).toMatchObject({ timeoutMinutes: 60 });
  expect(applied.vpc).toMatchObject({ timeoutMinutes: 60 });
  expect(Date.parse(applied.sqs!.startedAt!)).toBeGreaterThanOrEqual(Date.parse(applied.lambda!.endedAt!));
  const sqsApply = t.calls().find((c) => c.sub === 'apply' && c.component === 'sqs');
  expect(sqsApply?.chdir).toBe(join(t.infraDir, 'components', 'terraform', 'sqs'));

  // prod's stack does not import it: prod's plan has no sqs.
  const prod = await t.run('plan-environment', PROD);
  expect(prod.run.status).toBe('SUCCEEDED');
  expect(Object.keys(byName(prod, 'plan'))).not.toContain('sqs');
  expect(Object.keys(byName(prod, 'plan'))).toHaveLength(14);

  // Tropos's own files were not touched (and the control plane was not redeployed: the same one ran all of it).
  expect(readFileSync(join(__dirname, '..', 'tropos.config.yaml'), 'utf8')).toBe(config);
  expect(readFileSync(join(__dirname, '..', 'catalog', 'components.yaml'), 'utf8')).toBe(catalog);
}, 180_000);

test('components= runs exactly the components named, and nothing else — 12 times over', async () => {
  for (let i = 0; i < 12; i++) {
    t.scenario({});
    const asked = i % 2 === 0 ? ['sqs'] : ['acm', 'dns'];
    const d = await t.run('plan-environment', { ...DEV, components: asked.join(',') });
    expect(d.run.status).toBe('SUCCEEDED');
    expect(d.components.map((c) => c.component).sort()).toEqual([...asked].sort());
    // terraform itself was called for those components only.
    expect([...new Set(t.calls().map((c) => c.component))].sort()).toEqual([...asked].sort());
  }
}, 300_000);

test("a component the stack does not have is refused by name, with the stack's components", async () => {
  const d = await t.run('plan-environment', { ...PROD, components: 'sqs' });
  expect(d.run).toMatchObject({ status: 'FAILED', error: 'InvalidInput' });
  expect(d.run.cause).toMatch(
    /components: sqs is not a component of acme-prod-main \(commit \S+\); allowed: backend, vpc, /,
  );
  expect(d.components).toEqual([]);
});

test('a stack the repository does not define fails with StackNotResolved, naming the stacks it does define', async () => {
  const d = await t.run('plan-environment', { ...DEV, environment: 'nowhere' });
  expect(d.run).toMatchObject({ status: 'FAILED', error: 'StackNotResolved' });
  expect(d.run.cause).toContain('the repository does not define stack acme-dev-nowhere');
  expect(d.run.cause).toMatch(/Atmos's stacks: .*acme-dev-testenv-01/);
});

test('a dependency cycle in the repository is refused, naming it', async () => {
  const stackFile = join(t.infraDir, 'stacks', 'catalog', 'backend.yaml');
  const original = readFileSync(stackFile, 'utf8');
  try {
    // backend -> monitoring, while monitoring depends on everything.
    writeFileSync(
      stackFile,
      original.replace(
        '    backend:\n',
        '    backend:\n      settings:\n        depends_on:\n          1:\n            component: monitoring\n',
      ),
    );
    const d = await t.run('plan-environment', DEV);
    expect(d.run).toMatchObject({ status: 'FAILED', error: 'StackNotResolved' });
    expect(d.run.cause).toMatch(/in a cycle: .*backend.*monitoring|in a cycle: .*monitoring.*backend/);
  } finally {
    writeFileSync(stackFile, original);
  }
});

test("an onboarding's block may overlap no stack the repository defines, registered or not; those stacks enter the registry", async () => {
  t.scenario({});
  // A stack only the repository knows: never onboarded, never run.
  writeFileSync(
    join(t.infraDir, 'stacks', 'orgs', 'acme', 'dev', 'legacy.yaml'),
    [
      'import:',
      '  - catalog/backend',
      'vars:',
      '  tenant: acme',
      '  account: dev',
      '  stage: dev',
      '  environment: legacy',
      '  region: us-east-1',
      '  vpc_cidr: "10.77.0.0/16"',
      '',
    ].join('\n'),
  );
  const onboard = (environment: string, cidr: string) =>
    t.run('onboard-environment', {
      tenant: 'acme',
      account: 'dev',
      environment,
      vpc_cidr: cidr,
      tags: 'Owner=platform,CostCenter=1234',
    });
  const refused = await onboard('new-one', '10.77.4.0/24');
  expect(refused.run).toMatchObject({ status: 'FAILED', error: 'InvalidInput' });
  expect(refused.run.cause).toMatch(
    /vpc_cidr: 10\.77\.4\.0\/24 overlaps 10\.77\.0\.0\/16 of acme-dev-legacy, which the repository defines/,
  );
  expect(refused.components).toEqual([]); // nothing generated, nothing deployed
  const ok = await onboard('new-two', '10.78.0.0/16');
  expect(ok.run.status).toBe('SUCCEEDED');
  const legacy = (await t.get('/environments/acme-dev-legacy')).body;
  expect(legacy).toMatchObject({
    stack: 'acme-dev-legacy',
    status: 'active',
    source: 'repository',
    tier: 'dev', // its account's
    vpcCidr: '10.77.0.0/16',
  });
}, 180_000);

describe('ref: a run at a branch, a tag or a commit of the repository', () => {
  const git = (cwd: string, ...args: string[]) =>
    execFileSync('git', ['-c', 'user.name=test', '-c', 'user.email=test@localhost', ...args], {
      cwd,
      encoding: 'utf8',
    }).trim();

  test('works on that commit (exported once), whatever the folder holds; an unknown ref is refused naming it', async () => {
    t.scenario({});
    // A repository that is a git repository: main as the folder holds it now, and a branch that adds a component.
    const top = dirname(t.infraDir);
    git(top, 'init', '-q', '-b', 'main');
    git(top, 'add', '-A');
    git(top, 'commit', '-qm', 'main');
    const before = (await t.run('plan-environment', DEV)).components.map((c) => c.component).sort();
    git(top, 'checkout', '-q', '-b', 'feature/more');
    mkdirSync(join(t.infraDir, 'components', 'terraform', 'extra'));
    writeFileSync(
      join(t.infraDir, 'components', 'terraform', 'extra', 'main.tf'),
      'resource "terraform_data" "x" {}\n',
    );
    writeFileSync(
      join(t.infraDir, 'stacks', 'catalog', 'extra.yaml'),
      'components:\n  terraform:\n    extra:\n      settings:\n        depends_on:\n          1:\n            component: vpc\n',
    );
    const stack = join(t.infraDir, 'stacks', 'orgs', 'acme', 'dev', 'testenv-01.yaml');
    writeFileSync(stack, readFileSync(stack, 'utf8').replace('import:\n', 'import:\n  - catalog/extra\n'));
    git(top, 'add', '-A');
    git(top, 'commit', '-qm', 'extra');
    const feature = git(top, 'rev-parse', 'HEAD');
    git(top, 'checkout', '-q', 'main'); // the folder no longer has it

    const d = await t.run('plan-environment', { ...DEV, ref: 'feature/more' });
    expect(d.run.status).toBe('SUCCEEDED');
    expect(d.run.commit).toBe(feature);
    const planned = d.components.map((c) => c.component).sort();
    expect(planned).toEqual([...before, 'extra'].sort());
    // Every build of the run worked in the exported commit, not in the folder, and each says so on its record.
    const extra = t.calls().find((c) => c.component === 'extra' && c.sub === 'plan');
    expect(extra?.chdir).toBe(join(t.plane.dataDir, 'checkouts', feature, 'atmos', 'components', 'terraform', 'extra'));
    expect(new Set(d.components.map((c) => c.commit))).toEqual(new Set([feature]));

    // A branch can be planned, never applied: a mutating workflow runs only at infrastructure.ref.
    for (const workflow of ['apply-environment', 'destroy-environment']) {
      const apply = await t.post('/runs', { workflow, input: { ...DEV, ref: 'feature/more' } });
      expect(apply.status).toBe(400);
      expect(JSON.stringify(apply.body)).toContain(
        `${workflow} changes infrastructure, and only infrastructure.ref (\\"main\\") is ever applied`,
      );
    }

    // The same commit by its SHA; and without a ref, the folder as it is (main: no extra).
    const bySha = await t.run('plan-environment', { ...DEV, ref: feature });
    expect(bySha.run).toMatchObject({ status: 'SUCCEEDED', commit: feature });
    const plain = await t.run('plan-environment', DEV);
    expect(plain.components.map((c) => c.component)).not.toContain('extra');

    // An abbreviated SHA: a git server would not fetch it, so it is refused here too.
    const short = await t.run('plan-environment', { ...DEV, ref: feature.slice(0, 12) });
    expect(short.run).toMatchObject({ status: 'FAILED', error: 'StackNotResolved' });
    expect(short.run.cause).toContain('full 40-character SHA');

    const unknown = await t.run('plan-environment', { ...DEV, ref: 'no-such-branch' });
    expect(unknown.run).toMatchObject({ status: 'FAILED', error: 'StackNotResolved' });
    expect(unknown.run.cause).toContain(
      'ref no-such-branch is not a branch, a tag or a commit of the local repository',
    );

    // An option in disguise never reaches git: refused by the input's rule.
    const refused = await t.post('/runs', { workflow: 'plan-environment', input: { ...DEV, ref: '--upload-pack=x' } });
    expect(refused.status).toBe(400);
    expect(JSON.stringify(refused.body)).toContain('ref');
  }, 240_000);
});

test("a step's one build of a component the input names gets that component's own limit, as a worker's would", async () => {
  t.scenario({});
  for (const [component, minutes] of [
    ['rds', 120], // the catalog's default for rds
    ['vpc', 60], // the configuration's
  ] as const) {
    const d = await t.run('state-operations', { ...DEV, component, operation: 'lock-status' });
    expect(d.run.status).toBe('SUCCEEDED');
    expect(d.components.find((c) => c.component === component)).toMatchObject({ timeoutMinutes: minutes });
  }
}, 120_000);
