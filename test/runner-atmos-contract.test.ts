/**
 * The runner's atmos calls are the ones Atmos accepts: run through the control plane with the Atmos engine, every
 * call reaches the atmos stand-in (which finds atmos.yaml only through ATMOS_CLI_CONFIG_PATH / the working
 * directory, as Atmos does) and the terraform stand-in behind it (which refuses variables with a saved plan, as the
 * pinned terraform does). The old way of applying a saved plan (`-- PLANFILE`, so atmos adds -var-file) is refused.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEV, STAND_INS, startTestPlane, type TestPlane } from './helpers/local';

let t: TestPlane;
beforeAll(async () => {
  t = await startTestPlane(); // the Atmos layout
}, 120_000);
afterAll(async () => t.close());

test('plan gets the stack varfile; a saved plan is applied through --planfile, with no variables', async () => {
  t.scenario({ default: { plan: { add: 1, change: 0, destroy: 0 } } });
  const d = await t.run('apply-environment', DEV, 180_000);
  expect(d.run.status).toBe('SUCCEEDED');
  const calls = t.calls();
  const plans = calls.filter((c) => c.sub === 'plan');
  const applies = calls.filter((c) => c.sub === 'apply');
  expect(plans).toHaveLength(14);
  expect(applies).toHaveLength(14);
  // Atmos wrote each component's varfile for the stack and passed it to plan, in the component's folder.
  for (const p of plans) {
    expect(p.args).toContain(`-var-file=${d.run.stack}-${p.component}.terraform.tfvars.json`);
    expect(p.args).toContain('-detailed-exitcode');
    expect(p.chdir).toBe(join(t.infraDir, 'components', 'terraform', p.component));
  }
  // The saved plan, and nothing that sets a variable.
  for (const a of applies) {
    expect(a.args.filter((x) => x.startsWith('-var'))).toEqual([]);
    expect(a.args.at(-1)).toMatch(/\/tfplan$/);
  }
});

test('the old call (`apply C -s S -- PLANFILE`) gets -var-file from atmos, which terraform refuses with a saved plan', async () => {
  t.scenario({ default: { plan: { add: 1, change: 0, destroy: 0 } } });
  const env = {
    ...process.env,
    PATH: `${STAND_INS}:${process.env.PATH}`,
    ATMOS_CLI_CONFIG_PATH: t.infraDir,
    ATMOS_BASE_PATH: t.infraDir,
  };
  const atmos = (...args: string[]) => spawnSync(join(STAND_INS, 'atmos'), args, { cwd: t.dir, env, encoding: 'utf8' });
  const planFile = join(t.dir, 'vpc.tfplan');
  const plan = atmos(
    'terraform',
    'plan',
    'vpc',
    '-s',
    'acme-dev-testenv-01',
    '--',
    '-detailed-exitcode',
    `-out=${planFile}`,
  );
  expect(plan.status).toBe(2);
  const old = atmos('terraform', 'apply', 'vpc', '-s', 'acme-dev-testenv-01', '--', planFile);
  expect(old.status).toBe(1);
  expect(old.stderr).toContain("Can't set variables when applying a saved plan");
  const now = atmos('terraform', 'apply', 'vpc', '-s', 'acme-dev-testenv-01', '--planfile', planFile);
  expect(now.stderr).toBe('');
  expect(now.status).toBe(0);
  // And without ATMOS_CLI_CONFIG_PATH, outside the repository, atmos finds no atmos.yaml.
  const lost = spawnSync(join(STAND_INS, 'atmos'), ['terraform', 'plan', 'vpc', '-s', 'acme-dev-testenv-01'], {
    cwd: t.dir,
    env: { ...env, ATMOS_CLI_CONFIG_PATH: '', ATMOS_BASE_PATH: '' },
    encoding: 'utf8',
  });
  expect(lost.status).not.toBe(0);
  expect(lost.stderr).toContain('atmos.yaml CLI config file was not found');
});

test("a component whose folder is another's (metadata.component) is planned and read in that folder", async () => {
  // vpc-replica: Atmos's inheritance, terraform in components/terraform/vpc (the terraform stand-in, like terraform,
  // refuses a -chdir to a folder that is not there).
  const stack = join(t.infraDir, 'stacks', 'orgs', 'acme', 'dev', 'testenv-01.yaml');
  writeFileSync(
    stack,
    `${readFileSync(stack, 'utf8')}\ncomponents:\n  terraform:\n    vpc-replica:\n      metadata:\n        component: vpc\n      vars: {}\n`,
  );
  t.scenario({ default: { plan: { add: 1, change: 0, destroy: 0 } } });
  const d = await t.run('plan-environment', { ...DEV, components: 'vpc-replica' }, 120_000);
  expect(d.run.status).toBe('SUCCEEDED');
  expect(d.components.find((c) => c.component === 'vpc-replica')).toMatchObject({
    status: 'SUCCEEDED',
    plan: { add: 1 },
  });
  const show = t.calls().filter((c) => c.sub === 'show');
  expect(show.map((c) => c.chdir)).toEqual([
    join(t.infraDir, 'components', 'terraform', 'vpc'),
    join(t.infraDir, 'components', 'terraform', 'vpc'),
  ]);
});
