// Stack names from the repository's own naming (issue 12): a repository whose Atmos stacks are named
// {namespace}-{tenant}-{environment}-{stage}, with a stage that is not the account's name, is planned, applied and
// onboarded through the control plane. Tropos keeps its own name for a stack (<tenant>-<account>-<environment>:
// locks, the registry, records, approval tiers); the runner gives Atmos the repository's name, and the atmos
// stand-in refuses any other, as Atmos does.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { renameStacksCloudPosseStyle, ROOT } from './helpers/fixtures';
import { DEV, PROD, startTestPlane, TestPlane } from './helpers/local';

jest.setTimeout(300_000);

let t: TestPlane;
let configDir: string;
beforeAll(async () => {
  configDir = mkdtempSync(join(tmpdir(), 'tropos-naming-config-'));
  const config = parse(readFileSync(join(ROOT, 'tropos.config.yaml'), 'utf8')) as {
    accounts: Record<string, Record<string, unknown>>;
    infrastructure: Record<string, unknown>;
  };
  config.accounts.dev!.stage = 'development';
  config.infrastructure.namespace = 'eg';
  writeFileSync(join(configDir, 'tropos.config.yaml'), stringify(config));
  t = await startTestPlane({ configPath: join(configDir, 'tropos.config.yaml') });
  renameStacksCloudPosseStyle(t.infraDir);
});
afterAll(async () => {
  await t?.close();
  rmSync(configDir, { recursive: true, force: true });
});

test("plan and apply run the stack under the name Atmos gives it; records, locks and tiers keep Tropos's", async () => {
  t.scenario({});
  const plan = await t.run('plan-environment', DEV);
  expect(plan.run).toMatchObject({ status: 'SUCCEEDED', stack: 'acme-dev-testenv-01' });
  expect(plan.run.resolved).toMatchObject({ engine: 'atmos', name: 'eg-acme-testenv-01-development', components: 14 });
  expect(plan.components.filter((c) => c.status === 'SUCCEEDED')).toHaveLength(14);

  const apply = await t.run('apply-environment', DEV);
  expect(apply.run.status).toBe('SUCCEEDED');
  expect(apply.run.tier).toBe('dev');
  expect(apply.components.filter((c) => c.step === 'apply' && c.status === 'SUCCEEDED')).toHaveLength(14);

  // prod keeps its stage (its name): found by its vars all the same, since Atmos names it eg-acme-main-prod.
  const prod = await t.run('plan-environment', PROD);
  expect(prod.run.status).toBe('SUCCEEDED');
  expect(prod.run.resolved?.name).toBe('eg-acme-main-prod');
  expect(prod.run.tier).toBe('prod');
});

test("a stack is only the account's whose stage it carries: the same environment under another account is not defined", async () => {
  t.scenario({});
  const d = await t.run('plan-environment', { ...DEV, account: 'staging' });
  expect(d.run).toMatchObject({ status: 'FAILED', error: 'StackNotResolved' });
  expect(d.run.cause).toContain('does not define stack acme-staging-testenv-01');
  expect(d.run.cause).toContain('stage: staging');
  expect(d.components).toEqual([]);
});

test("an onboarding writes a stack Atmos names the repository's way (namespace, stage), and deploys it by that name", async () => {
  t.scenario({});
  const d = await t.run('onboard-environment', {
    tenant: 'acme',
    account: 'dev',
    environment: 'named-01',
    vpc_cidr: '10.91.0.0/16',
    tags: 'Owner=platform,CostCenter=1234',
  });
  expect(d.run.status).toBe('SUCCEEDED');
  const written = readFileSync(join(t.infraDir, 'stacks', 'orgs', 'acme', 'dev', 'named-01.yaml'), 'utf8');
  expect(written).toContain('  namespace: "eg"\n');
  expect(written).toContain('  stage: "development"\n');
  const env = (await t.get('/environments/acme-dev-named-01')).body;
  expect(env).toMatchObject({ stack: 'acme-dev-named-01', status: 'active', vpcCidr: '10.91.0.0/16' });
});
