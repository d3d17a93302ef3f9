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

test("stack= asks by the repository's name: the run is Tropos's stack, at its account's tier (prod still asks)", async () => {
  t.scenario({ components: { vpc: { plan: { add: 1, change: 0, destroy: 0 } } } });
  // The first test's resolves recorded every stack the repository defines, by its Atmos name too.
  const plan = await t.run('plan-environment', { stack: 'eg-acme-testenv-01-development' });
  expect(plan.run).toMatchObject({ status: 'SUCCEEDED', stack: 'acme-dev-testenv-01', tier: 'dev' });
  expect(plan.run.resolved?.name).toBe('eg-acme-testenv-01-development');

  // prod by its name: the lock, the records and the approval are prod's, as if asked by tenant/account/environment.
  const started = await t.post('/runs', { workflow: 'apply-environment', input: { stack: 'eg-acme-main-prod' } });
  expect(started.status).toBe(202);
  const runId = String(started.body.runId);
  const waiting = await t.waitFor(runId, (d) => d.approvals.length > 0 || d.run.status !== 'RUNNING');
  expect(waiting.run).toMatchObject({ status: 'RUNNING', stack: 'acme-prod-main', tier: 'prod' });
  expect(waiting.approvals[0]).toMatchObject({ status: 'PENDING', stack: 'acme-prod-main' });
  const byCoordinates = await t.post('/runs', { workflow: 'apply-environment', input: PROD });
  const second = await t.waitFor(String(byCoordinates.body.runId));
  expect(second.run).toMatchObject({ status: 'FAILED', error: 'StackLocked' });
  await t.post(`/approvals/${runId}.approve`, { decision: 'reject', comment: 'not now' });
  expect((await t.waitFor(runId)).run.status).toBe('FAILED');
  expect(t.calls().filter((c) => c.sub === 'apply')).toEqual([]);

  // A name no resolve has read is refused before anything starts, naming the field.
  const unknown = await t.post('/runs', { workflow: 'plan-environment', input: { stack: 'eg-acme-nowhere-prod' } });
  expect(unknown.status).toBe(400);
  expect(JSON.stringify(unknown.body)).toContain('"field":"stack"');
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
