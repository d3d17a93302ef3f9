// Issue "Safety I": what a caller can make Tropos do. Each test reproduces one defect found from outside — through
// the local control plane's HTTP API and, where the console is a way in, through a console-style StartExecution
// (the Step Functions API, with whatever input the caller writes).
import { GetCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { existsSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { trustClient } from '../lib/local/iam/enforcement';
import type { Environment } from '../lib/records/environment';
import type { RunDetail } from '../lib/records/run';
import { DEV, PROD, startTestPlane, TestPlane } from './helpers/local';

jest.setTimeout(180_000);

let t: TestPlane;
beforeAll(async () => {
  t = await startTestPlane();
});
afterAll(async () => t?.close());
beforeEach(() => t.scenario({}));

/** The console's client: an operator's own call to Step Functions (not a Tropos role), marked as such. */
const sfn = () => {
  const client = new SFNClient({});
  trustClient(client);
  return client;
};
let consoleRuns = 0;

/** Starts an execution as the Step Functions console does: StartExecution with the caller's own input. */
async function startFromConsole(workflow: string, input: Record<string, unknown>): Promise<RunDetail> {
  consoleRuns += 1;
  const name = `console-${workflow}-${consoleRuns}-${Date.now()}`;
  await sfn().send(
    new StartExecutionCommand({
      stateMachineArn: t.plane.engine.machine(`tropos-${workflow}`).arn,
      name,
      input: JSON.stringify(input),
    }),
  );
  return t.waitFor(name);
}

async function lockOf(stack: string) {
  const out = await t.plane.dynamo.documents.send(
    new GetCommand({ TableName: t.plane.tables.runs, Key: { runId: `LOCK#${stack}`, sk: 'LOCK' } }),
  );
  return out.Item;
}

async function env(stack: string): Promise<Environment | undefined> {
  const res = await t.get(`/environments/${stack}`);
  return res.status === 200 ? (res.body as unknown as Environment) : undefined;
}

/** A POST /environments body: acme's dev account, the required tags, the ticketing system as requester. */
function onboarding(fields: Record<string, unknown>): Record<string, unknown> {
  return {
    tenant: 'acme',
    account: 'dev',
    region: 'us-east-1',
    tags: { Owner: 'platform', CostCenter: '1234' },
    requestedBy: 'servicenow@example.com',
    ...fields,
  };
}

/** POST /runs as a given (local, unauthenticated) user. */
async function startAs(user: string, workflow: string, input: Record<string, unknown>) {
  return t.post('/runs', { workflow, input }, { 'x-tropos-user': user });
}

async function answer(approvalId: string, user: string, decision: 'approve' | 'reject' = 'approve') {
  return t.post(`/approvals/${approvalId}`, { decision }, { 'x-tropos-user': user });
}

/** A failed run's cause: the Lambda error's message (Step Functions gives it as JSON). */
function causeOf(d: RunDetail): string {
  return (JSON.parse(d.run.cause ?? '{}') as { errorMessage?: string }).errorMessage ?? '';
}

function problemsOf(body: Record<string, unknown>): string[] {
  return ((body.problems ?? []) as { field: string; problem: string }[]).map((p) => `${p.field}: ${p.problem}`);
}

describe('critical: names, tiers and resumes', () => {
  test.each(['testenv-01\n', ' testenv-01', 'testenv-01 '])(
    'a name with surrounding whitespace (%j) runs under the normalised stack and leaves no lock behind',
    async (environment) => {
      // Act
      const started = await startAs('alice', 'apply-environment', { ...DEV, environment });
      expect(started.status).toBe(202);
      const d = await t.waitFor(String(started.body.runId));
      // Assess
      expect(d.run).toMatchObject({ status: 'SUCCEEDED', stack: 'acme-dev-testenv-01' });
      expect(await lockOf('acme-dev-testenv-01')).toBeUndefined();
      expect(await lockOf(`acme-dev-${environment}`)).toBeUndefined();
      const next = await t.run('apply-environment', DEV);
      expect(next.run.status).toBe('SUCCEEDED');
    },
  );

  test('the same from the console: the run ledger uses the validated stack, never the raw input', async () => {
    const d = await startFromConsole('apply-environment', { ...DEV, environment: 'testenv-01\n' });
    expect(d.run).toMatchObject({ status: 'SUCCEEDED', stack: 'acme-dev-testenv-01' });
    expect(await lockOf('acme-dev-testenv-01')).toBeUndefined();
  });

  test('POST /environments with untrimmed names: a failed onboarding is marked failed and its CIDR is free again', async () => {
    t.scenario({ default: { apply: 'fail' } });
    const res = await t.post(
      '/environments',
      onboarding({
        tenant: 'acme ',
        environment: 'trim-me\n',
        vpcCidr: '10.61.0.0/16',
        ticketId: 'CHG-TRIM-1',
      }),
    );
    expect(res.status).toBe(202);
    expect(res.body.stack).toBe('acme-dev-trim-me');
    const d = await t.waitFor(String(res.body.runId));
    expect(d.run).toMatchObject({ status: 'FAILED', stack: 'acme-dev-trim-me' });
    await until(async () => (await env('acme-dev-trim-me'))?.status === 'failed');
    expect(await lockOf('acme-dev-trim-me')).toBeUndefined();
    // The block is free: another environment may have it.
    t.scenario({});
    const again = await t.post(
      '/environments',
      onboarding({
        environment: 'trim-other',
        vpcCidr: '10.61.0.0/16',
        ticketId: 'CHG-TRIM-2',
      }),
    );
    expect(again.status).toBe(202);
    await t.waitFor(String(again.body.runId));
  });

  test('an onboarding cannot choose a looser tier than its account: POST /environments {account: prod, tier: dev} is 400', async () => {
    const res = await t.post(
      '/environments',
      onboarding({
        account: 'prod',
        environment: 'sneaky',
        vpcCidr: '10.62.0.0/16',
        tier: 'dev',
        ticketId: 'CHG-TIER-1',
      }),
    );
    expect(res.status).toBe(400);
    expect(problemsOf(res.body)).toEqual([
      expect.stringMatching(/^tier: "dev" is looser than the prod account's tier/),
    ]);
    expect(await env('acme-prod-sneaky')).toBeUndefined();
  });

  test('nor from the console: onboard-environment with a looser tier fails in its first state', async () => {
    const d = await startFromConsole('onboard-environment', {
      tenant: 'acme',
      account: 'prod',
      environment: 'sneaky2',
      vpc_cidr: '10.63.0.0/16',
      tier: 'dev',
      tags: 'Owner=platform,CostCenter=1234',
    });
    expect(d.run).toMatchObject({ status: 'FAILED', error: 'InvalidInput' });
    expect(causeOf(d)).toMatch(/tier: "dev" is looser than the prod account's tier/);
    expect(await env('acme-prod-sneaky2')).toBeUndefined();
  });

  test('a stricter tier may be asked for, and then holds for every later run of the stack', async () => {
    const res = await t.post(
      '/environments',
      onboarding({
        environment: 'careful',
        vpcCidr: '10.64.0.0/16',
        tier: 'prod',
        ticketId: 'CHG-TIER-2',
      }),
    );
    expect(res.status).toBe(202);
    // Its deploy asks for approval, as prod does.
    const child = `${String(res.body.runId)}-deploy`;
    const waiting = await t.waitFor(child, (d) => d.approvals.length > 0, 60_000);
    expect(waiting.approvals[0]).toMatchObject({ tier: 'prod', status: 'PENDING' });
    expect((await answer(`${child}.approve`, 'approver')).status).toBe(200);
    expect((await t.waitFor(String(res.body.runId))).run.status).toBe('SUCCEEDED');
    expect(await env('acme-dev-careful')).toMatchObject({ tier: 'prod', status: 'active' });
  });

  test('destroy-environment in prod refuses fromStep=deregister, naming what it would skip', async () => {
    const res = await startAs('alice', 'destroy-environment', { ...PROD, fromStep: 'deregister' });
    expect(res.status).toBe(400);
    expect(problemsOf(res.body)).toEqual([
      expect.stringMatching(/^fromStep: "deregister" would skip plan, approve, destroy, which deregister requires/),
    ]);
    const d = await startFromConsole('destroy-environment', { ...PROD, fromStep: 'deregister' });
    expect(d.run).toMatchObject({ status: 'FAILED', error: 'InvalidInput' });
    expect(t.calls()).toEqual([]);
    expect(await env('acme-prod-main')).toMatchObject({ status: 'active' });
  });

  test('a destroy that destroyed nothing (an empty or wrong state) does not deregister the environment', async () => {
    t.scenario({ default: { planDestroy: 0 } });
    const d = await t.run('destroy-environment', DEV);
    expect(d.run).toMatchObject({ status: 'FAILED', error: 'RequirementNotMet' });
    expect(d.run.cause).toMatch(/deregister relies on plan, approve, destroy having done their work/);
    expect(await env('acme-dev-testenv-01')).toMatchObject({ status: 'active' });
  });

  test('a components subset destroys those components and leaves the environment registered', async () => {
    t.scenario({ default: { plan: { add: 0, change: 0, destroy: 1 } } });
    const d = await t.run('destroy-environment', { ...DEV, components: 'monitoring' });
    expect(d.run.status).toBe('SUCCEEDED');
    expect(
      t
        .calls()
        .filter((c) => c.sub === 'apply')
        .map((c) => c.component),
    ).toEqual(['monitoring']);
    expect(await env('acme-dev-testenv-01')).toMatchObject({ status: 'active' });
  });

  test('onboard-environment refuses fromStep=activate (it would mark an environment active that was never deployed)', async () => {
    const res = await startAs('alice', 'onboard-environment', {
      tenant: 'acme',
      account: 'dev',
      environment: 'never-deployed',
      vpc_cidr: '10.65.0.0/16',
      tags: 'Owner=platform,CostCenter=1234',
      fromStep: 'activate',
    });
    expect(res.status).toBe(400);
    expect(problemsOf(res.body)).toEqual([
      expect.stringMatching(/^fromStep: "activate" would skip register, generate-config, deploy, which .* requires?/),
    ]);
    expect(await env('acme-dev-never-deployed')).toBeUndefined();
  });
});

describe('major: internal keys, authority, identity, tickets', () => {
  test.each([
    ['lockOwner', { lockOwner: 'someone-else' }],
    ['parentRunId', { parentRunId: 'apply-environment-20260101-000000-0000' }],
  ])('%s is refused from the console as from the API', async (key, extra) => {
    const d = await startFromConsole('apply-environment', { ...DEV, ...extra });
    expect(d.run).toMatchObject({ status: 'FAILED', error: 'InvalidInput' });
    expect(causeOf(d)).toContain(`${key}: is set by Tropos`);
    const api = await startAs('alice', 'apply-environment', { ...DEV, ...extra });
    expect(api.status).toBe(400);
    expect(await lockOf('acme-dev-testenv-01')).toBeUndefined();
  });

  test('a forged AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID makes no parent: the run takes its own lock', async () => {
    // A prod apply holds the stack, waiting for approval.
    const holder = await startAs('alice', 'apply-environment', PROD);
    const holderId = String(holder.body.runId);
    await t.waitFor(holderId, (d) => d.approvals.length > 0);
    const parentArn = `${t.plane.engine.machine('tropos-apply-environment').arn.replace(':stateMachine:', ':execution:')}:${holderId}`;
    const d = await startFromConsole('destroy-environment', {
      ...PROD,
      AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID: parentArn,
    });
    expect(d.run).toMatchObject({ status: 'FAILED', error: 'StackLocked', origin: 'console' });
    expect(d.run.parentRunId).toBeUndefined();
    expect((await answer(`${holderId}.approve`, 'approver', 'reject')).status).toBe(200);
    await t.waitFor(holderId);
  });

  test('a child run gets its parent and lock from its parent, not from its input', async () => {
    const d = await t.run('apply-environment', DEV);
    const child = await t.waitFor(`${d.run.runId}-post-validation`);
    expect(child.run).toMatchObject({ parentRunId: d.run.runId, origin: 'parent', status: 'SUCCEEDED' });
  });

  test('the requester cannot approve their own prod run; another approver can', async () => {
    const res = await startAs('alice', 'apply-environment', PROD);
    const runId = String(res.body.runId);
    await t.waitFor(runId, (d) => d.approvals.length > 0);
    const own = await answer(`${runId}.approve`, 'alice');
    expect(own.status).toBe(403);
    expect(own.body).toMatchObject({ error: 'Forbidden' });
    expect(String(own.body.message)).toMatch(/local:alice started run .* and may not approve it/);
    expect((await answer(`${runId}.approve`, 'approver')).status).toBe(200);
    const d = await t.waitFor(runId);
    expect(d.run.status).toBe('SUCCEEDED');
    expect(d.approvals[0]).toMatchObject({ decidedBy: 'local:approver', requestedByPrincipal: 'local:alice' });
  });

  test('the authenticated caller is recorded beside the self-declared requestedBy', async () => {
    const res = await startAs('alice', 'plan-environment', { ...DEV, requestedBy: 'the-ceo' });
    const d = await t.waitFor(String(res.body.runId));
    expect(d.run).toMatchObject({ requestedBy: 'the-ceo', principal: 'local:alice', origin: 'api' });
    const fromConsole = await startFromConsole('plan-environment', { ...DEV, requestedBy: 'the-ceo' });
    expect(fromConsole.run).toMatchObject({ requestedBy: 'the-ceo', origin: 'console', startedBy: 'console' });
    expect(fromConsole.run.principal).toBeUndefined();
  });

  test("a ticket is bound to the caller that first asked for its callback: nobody else's run can call back under it", async () => {
    const hook = await receiver();
    try {
      const withHook = { ...DEV, ticketId: 'CHG-BOUND-1', callbackUrl: hook.url };
      const first = await startAs('alice', 'plan-environment', withHook);
      expect(first.status).toBe(202);
      await t.waitFor(String(first.body.runId), (d) => d.run.callback?.status === 'DELIVERED');
      const again = await startAs('alice', 'plan-environment', withHook);
      expect(again.status).toBe(202);
      await t.waitFor(String(again.body.runId), (d) => d.run.callback?.status === 'DELIVERED');
      const stolen = await startAs('mallory', 'plan-environment', withHook);
      expect(stolen.status).toBe(403);
      expect(String(stolen.body.message)).toMatch(/ticket CHG-BOUND-1 belongs to local:alice/);
      // Without a callback a ticket id is only a label: it binds nobody.
      const label = await startAs('mallory', 'plan-environment', { ...DEV, ticketId: 'CHG-BOUND-1' });
      expect(label.status).toBe(202);
      await t.waitFor(String(label.body.runId));
      expect(hook.received).toBe(2);
    } finally {
      await hook.close();
    }
  });

  test('a run started directly (console) cannot be approved under separation of duties: the requester is unknown', async () => {
    const d = startFromConsole('apply-environment', PROD);
    const runId = await until(async () => {
      const runs = (await t.get('/runs?workflow=apply-environment&status=RUNNING')).body.runs as {
        runId: string;
        origin?: string;
      }[];
      return runs.find((r) => r.origin === 'console')?.runId;
    });
    await t.waitFor(runId, (x) => x.approvals.length > 0);
    const res = await answer(`${runId}.approve`, 'approver');
    expect(res.status).toBe(403);
    expect(String(res.body.message)).toMatch(
      /was started directly \(console or SDK\), so Tropos cannot tell who asked/,
    );
    expect((await answer(`${runId}.approve`, 'approver', 'reject')).status).toBe(403);
    t.plane.engine.stopExecution(
      t.plane.engine.listExecutions().find((e) => e.name === runId)!.executionArn,
      'States.Aborted',
      'test over',
    );
    await d;
  });

  test('a self-declared requestedBy blocks nobody: only the authenticated requester may not approve', async () => {
    const res = await startAs('alice', 'apply-environment', { ...PROD, requestedBy: 'local:approver' });
    const runId = String(res.body.runId);
    await t.waitFor(runId, (d) => d.approvals.length > 0);
    expect((await answer(`${runId}.approve`, 'approver')).status).toBe(200);
    expect((await t.waitFor(runId)).run.status).toBe('SUCCEEDED');
  });

  test('a console-started run cannot ask for a signed callback (nobody authenticated its ticket)', async () => {
    const d = await startFromConsole('plan-environment', {
      ...DEV,
      ticketId: 'CHG-FORGED',
      callbackUrl: 'http://127.0.0.1:9/hook',
    });
    expect(d.run).toMatchObject({ status: 'FAILED', error: 'InvalidInput' });
    expect(causeOf(d)).toMatch(/callbackUrl: only runs started through the API/);
    expect(d.run.callback).toBeUndefined();
  });
});

describe('minor', () => {
  test.each(['__proto__', 'constructor', 'toString', 'hasOwnProperty'])(
    'workflow name %s is 400 naming the workflows, not 500',
    async (workflow) => {
      const res = await startAs('alice', workflow, {});
      expect(res.status).toBe(400);
      expect(problemsOf(res.body)[0]).toMatch(/^workflow: .* is not a workflow; allowed: apply-backend/);
    },
  );

  test('GET /approvals?status=bogus is 400 naming the allowed values', async () => {
    const res = await t.get('/approvals?status=bogus');
    expect(res.status).toBe(400);
    expect(String(res.body.message)).toMatch(
      /status: "bogus" is not allowed; allowed: PENDING, APPROVED, REJECTED, EXPIRED/,
    );
  });

  test.each([
    ['an escape code', 'jane\u001b[2J'],
    ['a newline', 'jane\nApproved: yes'],
    ['a bidi override', 'jane\u202e'],
  ])('requestedBy with %s is refused', async (_, requestedBy) => {
    const res = await startAs('alice', 'plan-environment', { ...DEV, requestedBy });
    expect(res.status).toBe(400);
    expect(problemsOf(res.body)).toEqual([expect.stringMatching(/^requestedBy: must be printable text/)]);
  });

  test('an approval comment with escape codes is refused', async () => {
    const res = await t.post('/approvals/nope.approve', { decision: 'approve', comment: 'ok\u001b]0;pwned\u0007' });
    expect(res.status).toBe(400);
    expect(problemsOf(res.body)).toEqual([expect.stringMatching(/^comment: must be printable text/)]);
  });

  test.each([
    ['lock_id', { operation: 'unlock', lock_id: '-force' }],
    ['resource_address', { resource_address: '-var=x' }],
  ])('%s may not start with "-" (terraform would read an option)', async (field, extra) => {
    const workflow = field === 'lock_id' ? 'state-operations' : 'import';
    const base =
      field === 'lock_id'
        ? { ...DEV, component: 'vpc' }
        : { ...DEV, component: 'vpc', resource_type: 'terraform_data', resource_id: 'x' };
    const res = await startAs('alice', workflow, { ...base, ...extra });
    expect(res.status).toBe(400);
    expect(problemsOf(res.body)[0]).toMatch(new RegExp(`^${field}: `));
  });

  test.each([
    ['leading zeros', { vpc_cidr: '010.66.0.0/16' }, /^vpc_cidr: .*leading zero/],
    ['a reserved range', { vpc_cidr: '127.0.0.0/16' }, /^vpc_cidr: .*127\.0\.0\.0\/8/],
    ['multicast', { vpc_cidr: '224.1.0.0/16' }, /^vpc_cidr: .*224\.0\.0\.0\/4/],
    [
      'an unconfigured region',
      { region: 'ap-south-2' },
      /^region: "ap-south-2" is not a configured region; allowed: us-east-1/,
    ],
  ])('onboarding refuses %s', async (_, extra, pattern) => {
    const res = await startAs('alice', 'onboard-environment', {
      tenant: 'acme',
      account: 'dev',
      environment: 'minor-cidr',
      vpc_cidr: '10.66.0.0/16',
      tags: 'Owner=platform,CostCenter=1234',
      ...extra,
    });
    expect(res.status).toBe(400);
    expect(problemsOf(res.body)).toEqual([expect.stringMatching(pattern)]);
  });

  test('a dry-run onboarding registers nothing', async () => {
    const res = await startAs('alice', 'onboard-environment', {
      tenant: 'acme',
      account: 'dev',
      environment: 'dry-one',
      vpc_cidr: '10.67.0.0/16',
      tags: 'Owner=platform,CostCenter=1234',
      dryRun: true,
    });
    expect(res.status).toBe(202);
    const d = await t.waitFor(String(res.body.runId), undefined, 90_000);
    expect(d.run.status).toBe('SUCCEEDED');
    expect(await env('acme-dev-dry-one')).toBeUndefined();
    expect(existsSync(join(t.infraDir, 'stacks', 'orgs', 'acme', 'dev', 'dry-one.yaml'))).toBe(false);
  });

  test('callbackUrl: internal and metadata addresses are refused', async () => {
    for (const callbackUrl of [
      'https://[::ffff:169.254.169.254]/x',
      'https://10.0.0.5/hook',
      'https://intranet/hook',
    ]) {
      const res = await startAs('alice', 'plan-environment', { ...DEV, callbackUrl });
      expect(res.status).toBe(400);
      expect(problemsOf(res.body)[0]).toMatch(/^callbackUrl: /);
    }
  });

  test('a callback says whether the run was a dry run and who started it', async () => {
    // The local control plane answers callbacks to loopback; nothing listens on port 9, so the attempts fail:
    // what matters is the payload the ledger built.
    const res = await startAs('alice', 'plan-environment', {
      ...DEV,
      dryRun: true,
      ticketId: 'CHG-DRY-1',
      callbackUrl: 'http://127.0.0.1:9/hook',
    });
    const d = await t.waitFor(String(res.body.runId), (x) => x.run.callback?.status === 'FAILED', 120_000);
    expect(d.run.callback).toMatchObject({ status: 'FAILED' });
    const { callbackPayload } = await import('../lambdas/record-run/core');
    expect(callbackPayload(d.run, undefined)).toMatchObject({ dryRun: true, principal: 'local:alice' });
  });

  test('task tokens do not stay in DynamoDB once used', async () => {
    const res = await startAs('alice', 'apply-environment', PROD);
    const runId = String(res.body.runId);
    await t.waitFor(runId, (d) => d.approvals.length > 0);
    expect((await answer(`${runId}.approve`, 'approver')).status).toBe(200);
    await t.waitFor(runId);
    const items = await t.plane.dynamo.documents.send(
      new ScanCommand({
        TableName: t.plane.tables.runs,
        FilterExpression: 'runId = :r',
        ExpressionAttributeValues: { ':r': runId },
      }),
    );
    const text = JSON.stringify(items.Items);
    expect(text).not.toMatch(/"taskToken"/);
    expect(Object.keys(Object.assign({}, ...(items.Items ?? [])))).not.toContainEqual(expect.stringMatching(/^t_/));
  });
});

/** Polls until `check` answers something truthy, and returns it. */
async function until<T>(check: () => Promise<T | undefined | false>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A ticketing system's webhook on loopback: answers 204, counts what it received. */
async function receiver(): Promise<{ url: string; received: number; close(): Promise<void> }> {
  const state = { received: 0 };
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      state.received += 1;
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
    get received() {
      return state.received;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
