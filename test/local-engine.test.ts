import { GetCommand, PutCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { DescribeTableCommand } from '@aws-sdk/client-dynamodb';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RunDetail } from '../lib/records/run';
import { DEV, PROD, STAGING, startTestPlane, TestPlane } from './helpers/local';
import { runTable } from '../lib/cli/format';

jest.setTimeout(120_000);

let t: TestPlane;
beforeAll(async () => {
  t = await startTestPlane();
});
afterAll(async () => t.close());
beforeEach(() => t.scenario({}));

async function until(check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

const byComponent = (d: RunDetail, step: string) =>
  Object.fromEntries(d.components.filter((c) => c.step === step).map((c) => [c.component, c]));

test('runs on Node 22, the runtime Tropos targets', () => {
  expect(process.version).toMatch(/^v22\./);
});

describe('every workflow, end to end through the local engine (atmos layout, terraform stand-in)', () => {
  test('plan-environment: every component planned in dependency order; exit code 2 is recorded as changes', async () => {
    const d = await t.run('plan-environment', DEV);
    expect(d.run).toMatchObject({ status: 'SUCCEEDED', workflow: 'plan-environment', stack: 'acme-dev-testenv-01' });
    const plans = byComponent(d, 'plan');
    expect(Object.keys(plans).sort()).toEqual([
      'acm',
      'apigateway',
      'backend',
      'dns',
      'dynamodb',
      'ec2',
      'ecs',
      'eks',
      'iam',
      'lambda',
      'monitoring',
      'rds',
      'security-groups',
      'vpc',
    ]);
    for (const c of Object.values(plans))
      expect(c).toMatchObject({
        status: 'SUCCEEDED',
        plan: { add: 1, change: 0, destroy: 0, sha256: expect.stringMatching(/^[0-9a-f]{64}$/) },
      });
    expect(d.steps).toEqual([expect.objectContaining({ step: 'plan', status: 'SUCCEEDED', add: 14 })]);
    // Each component started after its own dependencies ended.
    expect(Date.parse(plans.vpc!.startedAt!)).toBeGreaterThanOrEqual(Date.parse(plans.backend!.endedAt!));
    expect(Date.parse(plans.monitoring!.startedAt!)).toBeGreaterThanOrEqual(
      Math.max(
        ...Object.values(plans)
          .filter((c) => c.component !== 'monitoring')
          .map((c) => Date.parse(c.endedAt!)),
      ),
    );
    // The plan files, their JSON and text are kept under the run's prefix.
    expect(existsSync(join(t.plane.dataDir, 'artifacts', 'runs', d.run.runId, 'plan', 'vpc', 'tfplan'))).toBe(true);
    expect(existsSync(join(t.plane.dataDir, 'artifacts', 'runs', d.run.runId, 'plan', 'vpc', 'plan.json'))).toBe(true);
    expect(
      t
        .calls()
        .filter((c) => c.sub === 'plan')
        .map((c) => c.args),
    ).toContainEqual(expect.arrayContaining(['-detailed-exitcode']));
  });

  test('apply-environment (dev): plan, apply exactly the saved plans, post-validation', async () => {
    const d = await t.run('apply-environment', DEV);
    expect(d.run.status).toBe('SUCCEEDED');
    const applies = byComponent(d, 'apply');
    expect(Object.values(applies).every((c) => c.status === 'SUCCEEDED')).toBe(true);
    expect(d.components.some((c) => c.step === 'drift' || c.step === 'compliance')).toBe(false); // prod / staging only
    const applied = t.calls().filter((c) => c.sub === 'apply');
    expect(applied).toHaveLength(14);
    for (const call of applied) expect(call.args.at(-1)).toMatch(/tfplan$/);
    const children = (await t.get(`/runs?parentRunId=${d.run.runId}`)).body.runs as {
      workflow: string;
      status: string;
      runId: string;
    }[];
    expect(children).toEqual([
      expect.objectContaining({ workflow: 'validate', status: 'SUCCEEDED', runId: `${d.run.runId}-post-validation` }),
    ]);
  });

  test('apply-environment (staging): compliance runs; a plan without destroys asks no approval', async () => {
    const d = await t.run('apply-environment', STAGING);
    expect(d.run.status).toBe('SUCCEEDED');
    expect(Object.keys(byComponent(d, 'compliance'))).toHaveLength(14);
    expect(d.approvals).toEqual([]);
  });

  test('apply-environment (staging): a plan that destroys something asks for approval', async () => {
    t.scenario({ components: { vpc: { plan: { add: 0, change: 0, destroy: 1 } } } });
    const runId = String((await t.post('/runs', { workflow: 'apply-environment', input: STAGING })).body.runId);
    const waiting = await t.waitFor(runId, (d) => d.approvals.length > 0 || d.run.status !== 'RUNNING');
    expect(waiting.approvals[0]).toMatchObject({ status: 'PENDING', tier: 'staging' });
    expect((await t.post(`/approvals/${runId}.approve`, { decision: 'approve' })).status).toBe(200);
    expect((await t.waitFor(runId)).run.status).toBe('SUCCEEDED');
  });

  test('a plan without changes skips approval and apply altogether', async () => {
    t.scenario({ default: { plan: { add: 0, change: 0, destroy: 0 } } });
    const d = await t.run('apply-environment', PROD);
    expect(d.run.status).toBe('SUCCEEDED');
    expect(byComponent(d, 'apply')).toEqual({});
    expect(d.approvals).toEqual([]);
    expect(t.calls().filter((c) => c.sub === 'apply')).toEqual([]);
  });

  test('apply-environment (prod) waits for approval; approved, it applies and records who approved and why', async () => {
    const started = await t.post('/runs', { workflow: 'apply-environment', input: PROD });
    const runId = String(started.body.runId);
    const waiting = await t.waitFor(runId, (d) => d.approvals.length > 0);
    expect(waiting.approvals[0]).toMatchObject({
      approvalId: `${runId}.approve`,
      status: 'PENDING',
      stack: 'acme-prod-main',
    });
    expect(byComponent(waiting, 'drift')).not.toEqual({}); // prod: drift check first
    expect(byComponent(waiting, 'apply')).toEqual({});
    await until(() => t.plane.outbox.some((m) => m.message.includes(`tropos approve ${runId}.approve`)));
    const pending = await t.get('/approvals?status=PENDING');
    expect(pending.body.approvals).toEqual(
      expect.arrayContaining([expect.objectContaining({ approvalId: `${runId}.approve` })]),
    );
    const answer = await t.post(
      `/approvals/${runId}.approve`,
      { decision: 'approve', comment: 'change CHG-42 approved' },
      { 'x-tropos-user': 'jane' },
    );
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({
      status: 'APPROVED',
      decidedBy: 'local:jane',
      comment: 'change CHG-42 approved',
    });
    const d = await t.waitFor(runId);
    expect(d.run.status).toBe('SUCCEEDED');
    expect(Object.values(byComponent(d, 'apply')).every((c) => c.status === 'SUCCEEDED')).toBe(true);
    expect(d.approvals[0]).toMatchObject({
      status: 'APPROVED',
      decidedBy: 'local:jane',
      comment: 'change CHG-42 approved',
    });
    // Answering twice is refused, and says how it was answered.
    const again = await t.post(`/approvals/${runId}.approve`, { decision: 'reject' });
    expect(again.status).toBe(409);
    expect(String(again.body.message)).toMatch(/already answered: approved by local:jane at/);
    // Task tokens are secrets: no answer, record or notification holds one.
    const shown = JSON.stringify([waiting, pending.body, answer.body, d, t.plane.outbox]);
    expect(t.plane.engine.issuedTokens.size).toBeGreaterThan(0);
    for (const token of t.plane.engine.issuedTokens) expect(shown).not.toContain(token);
    expect(shown).not.toContain('taskToken');
  });

  test('apply-environment (prod) rejected: the run fails with the rejection, nothing is applied', async () => {
    const started = await t.post('/runs', { workflow: 'apply-environment', input: PROD });
    const runId = String(started.body.runId);
    await t.waitFor(runId, (d) => d.approvals.length > 0);
    expect(
      (await t.post(`/approvals/${runId}.approve`, { decision: 'reject', comment: 'not in the change window' })).status,
    ).toBe(200);
    const d = await t.waitFor(runId);
    expect(d.run).toMatchObject({
      status: 'FAILED',
      error: 'ApprovalRejected',
      cause: expect.stringContaining(': not in the change window'),
    });
    expect(byComponent(d, 'apply')).toEqual({});
    expect(t.calls().filter((c) => c.sub === 'apply')).toEqual([]);
  });

  test('bad answers to an approval: 400 naming the field, 404 for an unknown approval', async () => {
    expect((await t.post('/approvals/nope.approve', { decision: 'approve' })).status).toBe(404);
    const bad = await t.post('/approvals/nope.approve', { decision: 'maybe' });
    expect(bad.status).toBe(400);
    expect(bad.body.problems).toEqual([
      { field: 'decision', problem: '"maybe" is not allowed; allowed: approve, reject' },
    ]);
  });

  test('apply-backend: the backend component only', async () => {
    const d = await t.run('apply-backend', DEV);
    expect(d.run.status).toBe('SUCCEEDED');
    expect(d.components.map((c) => `${c.step} ${c.component}`).sort()).toEqual(['apply backend', 'plan backend']);
    expect(d.run.resolveBuild).toMatchObject({
      status: 'SUCCEEDED',
      message: expect.stringMatching(/^resolved acme-dev-testenv-01 at /),
    });
  });

  test('bootstrap-backend: bucket (versioned, encrypted, public access blocked, TLS only) and lock table; idempotent', async () => {
    for (let i = 0; i < 2; i++) {
      const d = await t.run('bootstrap-backend', { tenant: 'globex' });
      expect(d.run.status).toBe('SUCCEEDED');
    }
    const bucket = JSON.parse(
      readFileSync(join(t.plane.dataDir, 's3', 'globex-terraform-state-000000000000', '.bucket.json'), 'utf8'),
    );
    expect(bucket.versioning).toEqual({ Status: 'Enabled' });
    expect(bucket.publicAccessBlock).toEqual({
      BlockPublicAcls: true,
      IgnorePublicAcls: true,
      BlockPublicPolicy: true,
      RestrictPublicBuckets: true,
    });
    expect(bucket.encryption.Rules[0].ApplyServerSideEncryptionByDefault.SSEAlgorithm).toBe('aws:kms');
    expect(bucket.policy.Statement[0]).toMatchObject({
      Effect: 'Deny',
      Condition: { Bool: { 'aws:SecureTransport': 'false' } },
      Resource: [
        'arn:aws:s3:::globex-terraform-state-000000000000',
        'arn:aws:s3:::globex-terraform-state-000000000000/*',
      ],
    });
    const table = await t.plane.dynamo.client.send(new DescribeTableCommand({ TableName: 'globex-terraform-locks' }));
    expect(table.Table?.KeySchema).toEqual([{ AttributeName: 'LockID', KeyType: 'HASH' }]);
  });

  test('onboard-environment: registers, writes the stack config, deploys, activates', async () => {
    const d = await t.run('onboard-environment', {
      tenant: 'acme',
      account: 'dev',
      environment: 'testenv-02',
      vpc_cidr: '10.2.0.0/16',
      tags: 'Owner=platform,CostCenter=42',
    });
    expect(d.run.status).toBe('SUCCEEDED');
    const env = await t.plane.dynamo.documents.send(
      new GetCommand({ TableName: t.plane.tables.environments, Key: { stack: 'acme-dev-testenv-02' } }),
    );
    expect(env.Item).toMatchObject({
      status: 'active',
      vpcCidr: '10.2.0.0/16',
      tier: 'dev',
      tags: { Owner: 'platform', CostCenter: '42' },
    });
    const stackFile = readFileSync(join(t.infraDir, 'stacks', 'orgs', 'acme', 'dev', 'testenv-02.yaml'), 'utf8');
    expect(stackFile).toContain('vpc_cidr: "10.2.0.0/16"');
    expect(stackFile).toContain('  - catalog/vpc');
    const children = (await t.get(`/runs?parentRunId=${d.run.runId}`)).body.runs as {
      workflow: string;
      status: string;
    }[];
    expect(children).toEqual([expect.objectContaining({ workflow: 'apply-environment', status: 'SUCCEEDED' })]);
  });

  test('drift-detection: exit code 2 is drift, recorded per component in the registry', async () => {
    t.scenario({
      default: { plan: { add: 0, change: 0, destroy: 0 } },
      components: {
        vpc: { plan: { add: 0, change: 2, destroy: 0 } },
        iam: { plan: { add: 1, change: 0, destroy: 0 } },
      },
    });
    const d = await t.run('drift-detection', STAGING);
    expect(d.run.status).toBe('SUCCEEDED');
    const env = await t.plane.dynamo.documents.send(
      new GetCommand({ TableName: t.plane.tables.environments, Key: { stack: 'acme-staging-main' } }),
    );
    expect(env.Item?.lastDrift).toMatchObject({
      runId: d.run.runId,
      drifted: expect.arrayContaining(['vpc', 'iam']),
      change: 2,
      add: 1,
    });
    expect((env.Item?.lastDrift as { drifted: string[] }).drifted).toHaveLength(2);
  });

  test('destroy-environment: dependents first, then marked destroyed', async () => {
    await t.run('onboard-environment', {
      tenant: 'acme',
      account: 'dev',
      environment: 'doomed',
      vpc_cidr: '10.3.0.0/16',
      tags: 'Owner=a,CostCenter=b',
    });
    t.scenario({});
    const d = await t.run('destroy-environment', { tenant: 'acme', account: 'dev', environment: 'doomed' });
    expect(d.run.status).toBe('SUCCEEDED');
    const destroys = byComponent(d, 'destroy');
    expect(Date.parse(destroys.backend!.startedAt!)).toBeGreaterThanOrEqual(Date.parse(destroys.vpc!.endedAt!));
    expect(Date.parse(destroys.vpc!.startedAt!)).toBeGreaterThanOrEqual(
      Date.parse(destroys['security-groups']!.endedAt!),
    );
    expect(
      t
        .calls()
        .filter((c) => c.sub === 'plan')
        .every((c) => c.args.includes('-destroy')),
    ).toBe(true);
    const env = await t.plane.dynamo.documents.send(
      new GetCommand({ TableName: t.plane.tables.environments, Key: { stack: 'acme-dev-doomed' } }),
    );
    expect(env.Item?.status).toBe('destroyed');
  });

  test.each([
    ['validate', 'terraform-validate', 'validate'],
    ['compliance-check', 'compliance', 'plan'],
  ])('%s: runs over every component', async (workflow, step, sub) => {
    const d = await t.run(workflow, DEV);
    expect(d.run.status).toBe('SUCCEEDED');
    expect(Object.keys(byComponent(d, step))).toHaveLength(14);
    expect(t.calls().some((c) => c.sub === sub)).toBe(true);
  });

  test('lint: one repository-wide run; unformatted files fail it', async () => {
    expect((await t.run('lint', {})).run.status).toBe('SUCCEEDED');
    t.scenario({ lint: 'fail' });
    const d = await t.run('lint', {});
    expect(d.run.status).toBe('FAILED');
    expect(d.components[0]).toMatchObject({
      component: 'repository',
      status: 'FAILED',
      message: expect.stringContaining('terraform fmt found unformatted files'),
    });
  });

  test('state-operations: lock-status names the holder; unlock reports it, then force-unlocks', async () => {
    t.scenario({
      lock: { ID: 'f1e2', Who: 'jane@ci-runner', Operation: 'OperationTypeApply', Created: '2026-11-20T10:00:00Z' },
    });
    const status = await t.run('state-operations', { ...DEV, component: 'vpc', operation: 'lock-status' });
    expect(status.run.status).toBe('SUCCEEDED');
    expect(status.components[0]?.message).toBe(
      'state of vpc is locked: id f1e2, held by jane@ci-runner, operation OperationTypeApply, since 2026-11-20T10:00:00Z',
    );
    const unlock = await t.run('state-operations', { ...DEV, component: 'vpc', operation: 'unlock', lock_id: 'f1e2' });
    expect(unlock.run.status).toBe('SUCCEEDED');
    expect(unlock.components[0]).toMatchObject({ step: 'repair', message: 'force-unlocked f1e2 on vpc' });
    expect(t.calls().find((c) => c.sub === 'force-unlock')?.args).toEqual(['-force', 'f1e2']);
    const build = readFileSync(unlock.components[0]!.logs!, 'utf8');
    expect(build).toContain('before forcing: state of vpc is locked: id f1e2, held by jane@ci-runner');
    // A made-up (or stale) id is refused before terraform runs, naming the lock there is.
    t.scenario({
      lock: { ID: 'f1e2', Who: 'jane@ci-runner', Operation: 'OperationTypeApply', Created: '2026-11-20T10:00:00Z' },
    });
    const wrong = await t.run('state-operations', {
      ...DEV,
      component: 'vpc',
      operation: 'unlock',
      lock_id: 'made-up',
    });
    expect(wrong.run.status).toBe('FAILED');
    expect(wrong.components[0]?.message).toBe(
      'refusing to force-unlock vpc: its lock is id f1e2, held by jane@ci-runner, operation OperationTypeApply, since 2026-11-20T10:00:00Z, not made-up (run operation=lock-status and give its id)',
    );
    expect(t.calls().filter((c) => c.sub === 'force-unlock')).toEqual([]);
    // No lock at all: nothing to force.
    t.scenario({});
    const none = await t.run('state-operations', { ...DEV, component: 'vpc', operation: 'unlock', lock_id: 'f1e2' });
    expect(none.components[0]?.message).toBe('state of vpc is not locked: nothing to force-unlock (lock_id f1e2)');
    // A lock that cannot be read (the lock table refuses the build): a failure naming it, never "not locked".
    t.scenario({ lock: 'unreadable' });
    const unreadable = await t.run('state-operations', { ...DEV, component: 'vpc', operation: 'lock-status' });
    expect(unreadable.run.status).toBe('FAILED');
    expect(unreadable.components[0]?.message).toMatch(
      /^cannot read the lock table acme-terraform-locks: .*AccessDenied/,
    );
    const blind = await t.run('state-operations', { ...DEV, component: 'vpc', operation: 'unlock', lock_id: 'f1e2' });
    expect(blind.run.status).toBe('FAILED');
    expect(blind.components[0]?.message).toMatch(/^cannot read the lock table acme-terraform-locks/);
    expect(t.calls().filter((c) => c.sub === 'force-unlock')).toEqual([]);
  });

  test('import: imports the resource into the component, then plans it', async () => {
    const d = await t.run('import', { ...DEV, component: 'vpc', resource_type: 'aws_vpc', resource_id: 'vpc-12345' });
    expect(d.run.status).toBe('SUCCEEDED');
    expect(
      t
        .calls()
        .find((c) => c.sub === 'import')
        ?.args.slice(-2),
    ).toEqual(['aws_vpc.this', 'vpc-12345']);
    expect(d.components.map((c) => `${c.step} ${c.component}`)).toEqual(['import vpc', 'plan vpc']);
  });

  test('platform: phases 1-3 in order, then 4-7 in parallel', async () => {
    t.scenario({ default: { plan: { add: 1, change: 0, destroy: 0 }, applySeconds: 0.3 } });
    const d = await t.run('platform', { tenant: 'acme', account: 'dev', environment: 'platform' });
    expect(d.run.status).toBe('SUCCEEDED');
    const at = (step: string) => d.components.find((c) => c.step === step)!;
    expect(Date.parse(at('phase-2').startedAt!)).toBeGreaterThanOrEqual(Date.parse(at('phase-1').endedAt!));
    expect(Date.parse(at('phase-3').startedAt!)).toBeGreaterThanOrEqual(Date.parse(at('phase-2').endedAt!));
    const late = ['phase-4', 'phase-5', 'phase-6', 'phase-7'].map(at);
    for (const p of late) expect(Date.parse(p.startedAt!)).toBeGreaterThanOrEqual(Date.parse(at('phase-3').endedAt!));
    // In parallel: all four started before any of them ended.
    expect(Math.max(...late.map((p) => Date.parse(p.startedAt!)))).toBeLessThan(
      Math.min(...late.map((p) => Date.parse(p.endedAt!))),
    );
  });

  test('promote: dev, then staging, then prod after its approval', async () => {
    const started = await t.post('/runs', {
      workflow: 'promote',
      input: { tenant: 'acme', environment: 'main', source_environment: 'testenv-01' },
    });
    const runId = String(started.body.runId);
    const prodRun = `${runId}-prod`;
    // Three stacks' drift, compliance, plan (and two applies) before prod's approval: on a slow 2-core machine
    // (CI measured ~90 s) more than a single run's budget.
    const prod = await t.waitFor(prodRun, (d) => d.approvals.length > 0, 240_000);
    const children = (await t.get(`/runs?parentRunId=${runId}`)).body.runs as {
      stack: string;
      status: string;
      runId: string;
    }[];
    const byStack = Object.fromEntries(children.map((c) => [c.stack, c]));
    expect(byStack['acme-dev-testenv-01']).toMatchObject({ status: 'SUCCEEDED', runId: `${runId}-dev` });
    expect(byStack['acme-staging-main']).toMatchObject({ status: 'SUCCEEDED', runId: `${runId}-staging` });
    expect(prod.approvals[0]).toMatchObject({ status: 'PENDING' });
    expect((await t.post(`/approvals/${prodRun}.approve`, { decision: 'approve' })).status).toBe(200);
    const d = await t.waitFor(runId, undefined, 150_000);
    expect(d.run.status).toBe('SUCCEEDED');
    const ends = ['dev', 'staging', 'prod'].map(async (s) => (await t.waitFor(`${runId}-${s}`)).run);
    const [dev, staging, prodDone] = await Promise.all(ends);
    expect(Date.parse(staging!.startedAt)).toBeGreaterThanOrEqual(Date.parse(dev!.endedAt!));
    expect(Date.parse(prodDone!.startedAt)).toBeGreaterThanOrEqual(Date.parse(staging!.endedAt!));
  }, 420_000);
});

describe('failures, resumption, dry runs and bad input', () => {
  test('a failing component: the run fails, in-flight siblings finish, dependents are skipped, the record says why', async () => {
    t.scenario({ components: { vpc: { apply: 'fail' }, iam: { applySeconds: 0.5 } } });
    const d = await t.run('apply-environment', DEV);
    expect(d.run.status).toBe('FAILED');
    expect(d.run.error).toBe('ComponentFailed');
    const applies = byComponent(d, 'apply');
    expect(applies.vpc).toMatchObject({
      status: 'FAILED',
      message: expect.stringContaining('terraform apply failed for vpc'),
    });
    expect(applies.vpc!.logs).toMatch(/build\.log$/);
    // Why, in terraform's own words: its Error: block, in the API's run answer and in `tropos runs show`.
    expect(applies.vpc!.error).toBe('Error: creating vpc: AccessDenied (stand-in)');
    expect(runTable(d)).toContain(
      `apply vpc failed:\n  │ Error: creating vpc: AccessDenied (stand-in)\n  log: ${applies.vpc!.logs}`,
    );
    expect(applies.iam!.status).toBe('SUCCEEDED'); // in flight when vpc failed
    expect(applies['security-groups']).toMatchObject({ status: 'SKIPPED', message: 'skipped: vpc failed' });
    expect(applies.monitoring!.status).toBe('SKIPPED');
    expect(d.steps.find((s) => s.step === 'apply')).toMatchObject({
      status: 'FAILED',
      message: expect.stringMatching(/vpc failed .*skipped because a dependency failed: .*security-groups/),
    });
    expect(
      t
        .calls()
        .filter((c) => c.sub === 'apply')
        .map((c) => c.component),
    ).not.toContain('security-groups');
  });

  test('a stale plan is reported as such', async () => {
    t.scenario({ components: { backend: { apply: 'stale' } } });
    const d = await t.run('apply-backend', DEV);
    expect(d.run.status).toBe('FAILED');
    expect(byComponent(d, 'apply').backend?.message).toContain('terraform refused a stale plan for backend');
  });

  test('fromStep skips the steps before it', async () => {
    const d = await t.run('apply-environment', { ...STAGING, fromStep: 'plan' });
    expect(d.run.status).toBe('SUCCEEDED');
    expect(byComponent(d, 'compliance')).toEqual({});
    expect(Object.keys(byComponent(d, 'plan'))).toHaveLength(14);
  });

  test('--dry-run runs the whole workflow and prints the commands; terraform is never called', async () => {
    const d = await t.run('apply-environment', { ...DEV, dryRun: true });
    expect(d.run.status).toBe('SUCCEEDED');
    expect(t.calls()).toEqual([]);
    const apply = byComponent(d, 'apply').vpc!;
    expect(readFileSync(apply.logs!, 'utf8')).toMatch(
      /^\[dry-run\] atmos terraform apply vpc -s acme-dev-testenv-01 --planfile \S+\/tfplan -- -input=false/m,
    );
  });

  test('bad input through the API: 400 naming every field, and no run started', async () => {
    const before = ((await t.get('/runs')).body.runs as unknown[]).length;
    const res = await t.post('/runs', { workflow: 'apply-environment', input: { tenant: 'Acme!', account: 'qa' } });
    expect(res.status).toBe(400);
    expect(res.body.problems).toEqual([
      { field: 'environment', problem: expect.stringContaining('is required') },
      { field: 'tenant', problem: expect.stringContaining('"Acme!" is not allowed') },
      { field: 'account', problem: expect.stringContaining('"qa" is not a configured account') },
    ]);
    const hijack = await t.post('/runs', { workflow: 'apply-backend', input: { ...DEV, lockOwner: 'someone-else' } });
    expect(hijack.status).toBe(400);
    expect(hijack.body.problems).toEqual([
      { field: 'lockOwner', problem: 'is set by Tropos for the runs a run starts, never by input; leave it out' },
    ]);
    const unknown = await t.post('/runs', { workflow: 'apply-everything', input: {} });
    expect(unknown.status).toBe(400);
    expect(String(unknown.body.message)).toMatch(
      /workflow: "apply-everything" is not a workflow; allowed: apply-backend, apply-environment/,
    );
    expect(((await t.get('/runs')).body.runs as unknown[]).length).toBe(before);
  });

  test('bad input started from the console fails in the first state with InvalidInput', async () => {
    const machine = t.plane.engine.machine('tropos-apply-environment');
    const execution = t.plane.engine.startExecution(machine.arn, { tenant: 'acme', account: 'dev', environmnet: 'x' });
    await execution.done;
    expect(execution).toMatchObject({ status: 'FAILED', error: 'InvalidInput' });
    expect(execution.cause).toContain('environmnet: is not an input of apply-environment');
    expect(execution.cause).toContain('environment: is required');
    const d = await t.waitFor(execution.name);
    expect(d.run).toMatchObject({ status: 'FAILED', startedBy: 'console', error: 'InvalidInput' });
  });

  test('malformed requests get 4xx with a reason', async () => {
    expect((await t.post('/runs', '{"workflow": ')).status).toBe(400);
    expect((await t.post('/runs', { workflow: 'lint' }, { 'content-type': 'text/plain' })).status).toBe(415);
    expect((await t.post('/runs', { workflow: 'lint', input: { x: 'y'.repeat(70_000) } })).status).toBe(413);
    expect((await t.get('/nope')).status).toBe(404);
  });
});

test('the definitions that run are the synthesized ones: every state machine of the template is loaded', () => {
  expect([...t.plane.engine.machines.keys()].sort()).toHaveLength(15); // 14 workflows and the drift sweep
});

test('records are in the local DynamoDB server', async () => {
  const out = await t.plane.dynamo.documents.send(new ScanCommand({ TableName: t.plane.tables.runs, Select: 'COUNT' }));
  expect(out.Count).toBeGreaterThan(0);
});

describe('without terraform or atmos on PATH', () => {
  let bare: TestPlane;
  beforeAll(async () => {
    bare = await startTestPlane({ terraformOnPath: false });
  });
  afterAll(async () => bare.close());

  test('without atmos the stack cannot be resolved: the run fails at once naming atmos and the version — a dry run too', async () => {
    for (const input of [DEV, { ...DEV, dryRun: true }]) {
      const d = await bare.run('plan-environment', input);
      expect(d.run).toMatchObject({ status: 'FAILED', error: 'StackNotResolved' });
      expect(d.run.cause).toContain(
        'atmos not found on PATH (Tropos wants atmos 1.163.0): the stack is resolved with Atmos itself, also in a dry run',
      );
      expect(d.run.resolveBuild).toMatchObject({ status: 'FAILED', logs: expect.stringMatching(/build\.log$/) });
      expect(d.components).toEqual([]); // nothing ran
    }
  });
});

describe('the plain-terraform layout (engine terraform, seed 003)', () => {
  let tf: TestPlane;
  beforeAll(async () => {
    tf = await startTestPlane({
      layout: 'terraform',
      configPath: join(__dirname, 'fixtures', 'terraform-engine.config.yaml'),
    });
  });
  afterAll(async () => tf.close());

  test("each component runs in environments/<account>/<environment>/<component> with the seeds' state key", async () => {
    tf.scenario({});
    const d = await tf.run('apply-environment', STAGING);
    expect(d.run.status).toBe('SUCCEEDED');
    const inits = tf.calls().filter((c) => c.sub === 'init' && c.component === 'vpc');
    expect(inits.length).toBeGreaterThan(0);
    expect(inits[0]!.chdir).toBe(join(tf.infraDir, 'environments', 'staging', 'main', 'vpc'));
    expect(inits[0]!.args).toEqual(
      expect.arrayContaining([
        '-backend-config=bucket=acme-terraform-state',
        '-backend-config=key=staging/main/vpc/terraform.tfstate',
        '-backend-config=dynamodb_table=acme-terraform-locks',
        '-backend-config=encrypt=true',
      ]),
    );
    const apply = tf.calls().find((c) => c.sub === 'apply' && c.component === 'vpc')!;
    expect(apply.args.at(-1)).toMatch(/tfplan$/);
  });

  test('onboard-environment writes a root per component (main.tf calling its module, terraform.tfvars) and applies there', async () => {
    tf.scenario({});
    const d = await tf.run('onboard-environment', {
      tenant: 'acme',
      account: 'dev',
      environment: 'tfnew',
      vpc_cidr: '10.44.0.0/16',
      tags: 'Owner=platform,CostCenter=7',
    });
    expect([d.run.status, d.run.cause]).toEqual(['SUCCEEDED', undefined]);
    const env = join(tf.infraDir, 'environments', 'dev', 'tfnew');
    const roots = readdirSync(env).sort();
    // One root per component the registry gives the stack (the tier's default set).
    const registered = (await tf.get('/environments/acme-dev-tfnew')).body.components as string[];
    expect(roots).toEqual([...registered].sort());
    expect(roots).toContain('vpc');
    for (const c of roots) {
      const main = readFileSync(join(env, c, 'main.tf'), 'utf8');
      const source = /source\s+=\s+"([^"]+)"/.exec(main)![1]!;
      expect(existsSync(join(env, c, source, 'main.tf'))).toBe(true);
      expect(readFileSync(join(env, c, 'terraform.tfvars'), 'utf8')).toContain('vpc_cidr    = "10.44.0.0/16"');
    }
    const applied = tf.calls().filter((c) => c.sub === 'apply' && c.chdir.startsWith(env));
    expect(applied.map((c) => c.component).sort()).toEqual(roots);
  });

  test("with infrastructure.tenant, a drift sweep first reads the layout's stacks: one no run has seen is registered and checked", async () => {
    tf.scenario({ default: { plan: { add: 0, change: 0, destroy: 0 } } });
    // A stack only the repository knows: never onboarded, never run, not registered.
    const root = join(tf.infraDir, 'environments', 'dev', 'tfunseen');
    mkdirSync(join(root, 'vpc'), { recursive: true });
    writeFileSync(join(root, 'vpc', 'main.tf'), 'terraform {\n  backend "s3" {}\n}\n');
    writeFileSync(join(root, 'tropos.json'), JSON.stringify({ vpc_cidr: '10.210.0.0/16' }));
    expect((await tf.get('/environments/acme-dev-tfunseen')).status).toBe(404);
    const started = await tf.post('/drift-sweeps', {});
    expect(started.status).toBe(202);
    const sweep = await tf.waitFor(String(started.body.runId), undefined, 540_000, 250);
    expect(sweep.run.status).toBe('SUCCEEDED');
    expect(sweep.run.summary?.repositoryUnread).toBeUndefined();
    const unseen = (await tf.get('/environments/acme-dev-tfunseen')).body;
    expect(unseen).toMatchObject({ source: 'repository', status: 'active', vpcCidr: '10.210.0.0/16' });
    expect(unseen.lastDrift).toMatchObject({ runId: expect.stringContaining(sweep.run.runId), change: 0 });
  }, 600_000);
});

describe('apply exactly what was approved', () => {
  test('a plan file changed between approval and apply: the apply refuses, the run fails, the record says why', async () => {
    t.scenario({});
    const started = await t.post('/runs', { workflow: 'apply-environment', input: PROD });
    const runId = String(started.body.runId);
    await t.waitFor(runId, (d) => d.approvals.length > 0);
    // Someone swaps the reviewed plan of vpc for another one.
    const planFile = join(t.plane.dataDir, 'artifacts', 'runs', runId, 'plan', 'vpc', 'tfplan');
    writeFileSync(planFile, `${readFileSync(planFile, 'utf8')}tampered=yes\n`);
    expect((await t.post(`/approvals/${runId}.approve`, { decision: 'approve' })).status).toBe(200);
    const d = await t.waitFor(runId);
    expect(d.run).toMatchObject({ status: 'FAILED', error: 'ComponentFailed' });
    const vpc = byComponent(d, 'apply').vpc!;
    expect(vpc).toMatchObject({
      status: 'FAILED',
      message: expect.stringMatching(
        /^PlanMismatch: the plan file of vpc has SHA-256 [0-9a-f]{64} but the reviewed plan was [0-9a-f]{64}; refusing to apply$/,
      ),
    });
    expect(
      t
        .calls()
        .filter((c) => c.sub === 'apply')
        .map((c) => c.component),
    ).not.toContain('vpc');
    expect(d.run.cause).toContain('PlanMismatch');
  });
});

describe('an approval past its deadline', () => {
  let short: TestPlane;
  beforeAll(async () => {
    short = await startTestPlane({ configPath: join(__dirname, 'fixtures', 'short-deadline.config.yaml') });
  });
  afterAll(async () => short.close());

  test('fails the run with ApprovalExpired; a late answer is refused', async () => {
    short.scenario({});
    const started = await short.post('/runs', { workflow: 'apply-environment', input: PROD });
    const runId = String(started.body.runId);
    const d = await short.waitFor(runId, undefined, 60_000);
    expect(d.run).toMatchObject({ status: 'FAILED', error: 'ApprovalExpired' });
    expect(byComponent(d, 'apply')).toEqual({});
    const late = await short.post(`/approvals/${runId}.approve`, { decision: 'approve' });
    expect(late.status).toBe(409);
    expect(String(late.body.message)).toMatch(/expired at .*ApprovalExpired/);
    expect((await short.get('/approvals?status=EXPIRED')).body.approvals).toEqual([
      expect.objectContaining({ approvalId: `${runId}.approve` }),
    ]);
  });
});

describe('stack locks', () => {
  const lockOf = async (plane: TestPlane, stack: string) =>
    (
      await plane.plane.dynamo.documents.send(
        new GetCommand({ TableName: plane.plane.tables.runs, Key: { runId: `LOCK#${stack}`, sk: 'LOCK' } }),
      )
    ).Item;

  test('a second mutating run on a locked stack fails at once with StackLocked naming the holder; the lock is given back', async () => {
    t.scenario({});
    const first = String((await t.post('/runs', { workflow: 'apply-environment', input: PROD })).body.runId);
    await t.waitFor(first, (d) => d.approvals.length > 0); // holds the lock while it waits
    expect(await lockOf(t, 'acme-prod-main')).toMatchObject({ holder: first, workflow: 'apply-environment' });
    const second = await t.run('apply-backend', PROD);
    expect(second.run).toMatchObject({ status: 'FAILED', error: 'StackLocked' });
    expect(second.run.cause).toMatch(
      new RegExp(`stack acme-prod-main is locked by run ${first} \\(apply-environment\\) since \\S+`),
    );
    expect(second.components).toEqual([]);
    // Reads are not mutating: they run while the stack is locked.
    expect((await t.run('validate', PROD)).run.status).toBe('SUCCEEDED');
    await t.post(`/approvals/${first}.approve`, { decision: 'reject' });
    expect((await t.waitFor(first)).run.status).toBe('FAILED');
    expect(await lockOf(t, 'acme-prod-main')).toBeUndefined();
  });

  test('given back after a failure and after an abort; shared with the runs a run starts', async () => {
    t.scenario({ components: { backend: { apply: 'fail' } } });
    expect((await t.run('apply-backend', DEV)).run.status).toBe('FAILED');
    expect(await lockOf(t, 'acme-dev-testenv-01')).toBeUndefined();
    t.scenario({ default: { applySeconds: 2 } });
    const runId = String((await t.post('/runs', { workflow: 'apply-backend', input: DEV })).body.runId);
    await t.waitFor(runId, (d) => d.components.some((c) => c.step === 'apply'));
    t.plane.engine.stopExecution(
      t.plane.engine.listExecutions().find((e) => e.name === runId)!.executionArn,
      'Test',
      'aborted by the test',
    );
    expect((await t.waitFor(runId)).run.status).toBe('ABORTED');
    expect(await lockOf(t, 'acme-dev-testenv-01')).toBeUndefined();
  });
});

describe('stack locks whose holder has ended', () => {
  const lockKey = (stack: string) => ({ runId: `LOCK#${stack}`, sk: 'LOCK' });
  const lockOf = async (stack: string) =>
    (await t.plane.dynamo.documents.send(new GetCommand({ TableName: t.plane.tables.runs, Key: lockKey(stack) }))).Item;

  test('a lock whose holder has ended (its end event lost) is taken over, and the takeover recorded', async () => {
    t.scenario({});
    const ended = await t.run('apply-backend', DEV);
    expect(ended.run.status).toBe('SUCCEEDED');
    // The ledger's release lost: the lock item as the ended run took it.
    const stale = {
      ...lockKey('acme-dev-testenv-01'),
      stack: 'acme-dev-testenv-01',
      holder: ended.run.runId,
      workflow: 'apply-backend',
      since: ended.run.startedAt,
      execution: ended.run.executionArn,
    };
    await t.plane.dynamo.documents.send(new PutCommand({ TableName: t.plane.tables.runs, Item: stale }));
    const next = await t.run('apply-backend', DEV);
    expect(next.run.status).toBe('SUCCEEDED');
    expect(next.run.lockTakenOver).toEqual({
      from: ended.run.runId,
      workflow: 'apply-backend',
      since: ended.run.startedAt,
      status: 'SUCCEEDED',
      at: expect.any(String),
    });
    expect(await lockOf('acme-dev-testenv-01')).toBeUndefined(); // given back as usual when it ended
    // A holder whose execution is gone (a control plane restarted with its engine in memory): taken over too.
    await t.plane.dynamo.documents.send(
      new PutCommand({
        TableName: t.plane.tables.runs,
        Item: {
          ...stale,
          holder: 'apply-backend-gone',
          execution: stale.execution.replace(ended.run.runId, 'apply-backend-gone'),
        },
      }),
    );
    const after = await t.run('apply-backend', DEV);
    expect(after.run).toMatchObject({
      status: 'SUCCEEDED',
      lockTakenOver: { from: 'apply-backend-gone', status: 'GONE' },
    });
  });

  test('a holder that still runs keeps its lock: StackLocked names it', async () => {
    t.scenario({});
    const first = String((await t.post('/runs', { workflow: 'apply-environment', input: PROD })).body.runId);
    await t.waitFor(first, (d) => d.approvals.length > 0);
    expect(await lockOf('acme-prod-main')).toMatchObject({
      holder: first,
      execution: expect.stringContaining(`:${first}`),
    });
    const second = await t.run('apply-backend', PROD);
    expect(second.run).toMatchObject({ status: 'FAILED', error: 'StackLocked' });
    expect(second.run.lockTakenOver).toBeUndefined();
    await t.post(`/approvals/${first}.approve`, { decision: 'reject' });
    expect((await t.waitFor(first)).run.status).toBe('FAILED');
  });
});

describe('fault injection: runs that fail, are rejected, aborted or time out at random steps', () => {
  let f: TestPlane;
  // The functions' logs (INFO), kept to check that no task token is ever logged.
  const logged: string[] = [];
  const write = process.stdout.write.bind(process.stdout);
  beforeAll(async () => {
    process.env.TROPOS_LAMBDA_LOG_LEVEL = 'INFO';
    process.stdout.write = ((chunk: string | Uint8Array) =>
      logged.push(String(chunk)) > 0) as typeof process.stdout.write;
    f = await startTestPlane({ configPath: join(__dirname, 'fixtures', 'short-deadline.config.yaml') });
  });
  afterAll(async () => {
    process.stdout.write = write;
    delete process.env.TROPOS_LAMBDA_LOG_LEVEL;
    await f.close();
  });

  test('50 executions: no lock is left held, every run record matches its execution', async () => {
    // platform fails at phase 2 (ingress); prod asks approval; everything else succeeds unless aborted.
    f.scenario({ components: { ingress: { apply: 'fail' } }, default: { applySeconds: 0.2 } });
    const choices = [
      { workflow: 'apply-backend', input: DEV },
      { workflow: 'apply-backend', input: STAGING },
      { workflow: 'apply-backend', input: PROD },
      { workflow: 'platform', input: { tenant: 'acme', account: 'dev', environment: 'platform' } },
    ];
    let seed = 42;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const runIds: string[] = [];
    for (let batch = 0; batch < 10; batch++) {
      await Promise.all(
        Array.from({ length: 5 }, async () => {
          const choice = choices[Math.floor(random() * choices.length)]!;
          const fate = random();
          const started = await f.post('/runs', choice);
          const runId = String(started.body.runId);
          runIds.push(runId);
          if (fate < 0.3) {
            await new Promise((r) => setTimeout(r, random() * 1500));
            const e = f.plane.engine.listExecutions().find((x) => x.name === runId);
            if (e) f.plane.engine.stopExecution(e.executionArn, 'Test', 'aborted by the fault injection');
          } else if (choice.input === PROD) {
            const d = await f.waitFor(runId, (x) => x.approvals.length > 0 || x.run.status !== 'RUNNING', 60_000);
            // approve, reject, or let it expire (the deadline is 7 s)
            if (d.approvals.length > 0 && fate < 0.55)
              await f.post(`/approvals/${runId}.approve`, { decision: 'approve' });
            else if (d.approvals.length > 0 && fate < 0.8)
              await f.post(`/approvals/${runId}.approve`, { decision: 'reject' });
          }
          await f.waitFor(runId, undefined, 60_000);
        }),
      );
    }
    expect(runIds).toHaveLength(50);
    const executions = new Map(f.plane.engine.listExecutions().map((e) => [e.name, e]));
    const outcomes = new Set<string>();
    for (const runId of runIds) {
      const d = await f.waitFor(runId);
      const execution = executions.get(runId)!;
      expect([runId, d.run.status]).toEqual([runId, execution.status]);
      outcomes.add(d.run.status === 'FAILED' ? d.run.error! : d.run.status);
    }
    // The injected fates really happened (which ones exactly depends on timing: a run may meet a locked stack).
    const allowed = ['ABORTED', 'ApprovalExpired', 'ApprovalRejected', 'ComponentFailed', 'SUCCEEDED', 'StackLocked'];
    expect([...outcomes].filter((o) => !allowed.includes(o))).toEqual([]);
    expect([...outcomes]).toEqual(expect.arrayContaining(['ABORTED', 'ComponentFailed', 'SUCCEEDED']));
    expect(outcomes.size).toBeGreaterThanOrEqual(5);
    await new Promise((r) => setTimeout(r, 200));
    const locks = await f.plane.dynamo.documents.send(
      new ScanCommand({
        TableName: f.plane.tables.runs,
        FilterExpression: 'begins_with(runId, :l)',
        ExpressionAttributeValues: { ':l': 'LOCK#' },
      }),
    );
    expect(locks.Items).toEqual([]);

    // Task tokens are secrets: none in any log line, build log, notification or record of all these runs.
    const buildLogs = readdirSync(join(f.plane.dataDir, 'builds')).map((b) =>
      readFileSync(join(f.plane.dataDir, 'builds', b, 'build.log'), 'utf8'),
    );
    const records = await Promise.all(runIds.map(async (id) => JSON.stringify((await f.get(`/runs/${id}`)).body)));
    const everything = [logged.join(''), ...buildLogs, JSON.stringify(f.plane.outbox), ...records].join('\n');
    expect(logged.join('')).toContain('"service":"tropos-component-graph"'); // the logs were captured
    expect(f.plane.engine.issuedTokens.size).toBeGreaterThan(20);
    for (const token of f.plane.engine.issuedTokens) expect(everything.includes(token)).toBe(false);
  });
});

test('no stack lock is left held by the runs of this file', async () => {
  await new Promise((r) => setTimeout(r, 300));
  const locks = await t.plane.dynamo.documents.send(
    new ScanCommand({
      TableName: t.plane.tables.runs,
      FilterExpression: 'begins_with(runId, :l)',
      ExpressionAttributeValues: { ':l': 'LOCK#' },
    }),
  );
  expect(locks.Items).toEqual([]);
});
