import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { main } from '../lib/cli/main';
import { DEV, startTestPlane, TestPlane } from './helpers/local';

jest.setTimeout(120_000);

let t: TestPlane;
beforeAll(async () => {
  t = await startTestPlane();
});
afterAll(async () => t.close());
beforeEach(() => t.scenario({}));

/** Runs the CLI in-process against the test control plane; returns the exit code and what it printed. */
async function tropos(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(['--server', t.plane.url, ...args], { out: (s) => out.push(s), err: (s) => err.push(s) });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

const stack = ['tenant=acme', 'account=dev', 'environment=testenv-01'];

describe('tropos workflow', () => {
  test('streams one line per step and component, ends with a summary, exits 0', async () => {
    const r = await tropos('workflow', 'plan-environment', ...stack);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^Run plan-environment-\S+: plan-environment$/m);
    expect(r.out).toMatch(/^✓ plan vpc done \d+\.\ds {2}\+1 ~0 -0$/m);
    expect(r.out).toMatch(/^✓ step plan done {2}\+14 ~0 -0$/m);
    expect(r.out).toMatch(/^✓ plan-environment SUCCEEDED in \d+\.\ds/m);
    // dependency order: a component's line comes after its dependencies' lines
    const lines = r.out.split('\n');
    const done = (c: string) => lines.findIndex((l) => l.startsWith(`✓ plan ${c} done`));
    expect(done('backend')).toBeLessThan(done('vpc'));
    expect(done('vpc')).toBeLessThan(done('security-groups'));
    expect(done('eks')).toBeLessThan(done('monitoring'));
  });

  test('a failed run exits 1, naming the failed component, the reason and the log', async () => {
    t.scenario({ components: { vpc: { plan: 'error' } } });
    const r = await tropos('workflow', 'plan-environment', ...stack);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/^✗ plan vpc failed .*terraform plan failed for vpc \(exit 1\)/m);
    expect(r.out).toMatch(/^ {4}log: \/.*build\.log$/m);
    expect(r.out).toMatch(/^– plan security-groups skipped: vpc failed$/m);
    expect(r.out).toMatch(/^✗ plan-environment FAILED/m);
    expect(r.out).toMatch(/ComponentFailed: plan step "plan": vpc failed/);
    const runId = /^Run (\S+): plan-environment$/m.exec(r.out)![1]!;
    // Why, in the build's own log, through the API: the run's one failed build by default.
    const log = await tropos('logs', runId);
    expect(log.code).toBe(0);
    expect(log.out).toMatch(/^\+ (atmos|terraform) .*plan/m);
    expect(log.out).toContain('Error:');
    expect((await tropos('logs', runId, 'vpc', '--step', 'plan')).out).toBe(log.out);
    const unknown = await tropos('logs', runId, 'nosuch');
    expect(unknown.code).toBe(2);
    expect(unknown.err).toMatch(/name the build: component \(and step\) of one of .*plan\/vpc/);
    // How to go on: the exact command, which works once the cause is gone.
    expect(r.out).toContain(`  tropos runs retry ${runId}   (runs again only what did not get done)`);
    t.scenario({});
    const retried = await tropos('runs', 'retry', runId);
    expect(retried.code).toBe(0);
    // Only what did not get done: vpc and what was skipped after it.
    expect(retried.out).toMatch(
      new RegExp(
        `^Run plan-environment-\\S+: plan-environment, retrying run ${runId} \\(components .*\\bvpc\\b.*\\)$`,
        'm',
      ),
    );
    expect(retried.out).not.toMatch(/^✓ plan backend done/m);
    expect(retried.out).toMatch(/^✓ plan-environment SUCCEEDED in/m);
    expect((await tropos('runs', 'show', runId)).out).toMatch(/^Retried {3}by run plan-environment-\S+$/m);
    // Nothing to retry in a run that succeeded: a usage error that says so.
    const again = await tropos('runs', 'retry', /^Run (\S+): plan-environment, retrying/m.exec(retried.out)![1]!);
    expect(again.code).toBe(2);
    expect(again.err).toMatch(/succeeded: there is nothing to retry/);
  });

  test('logs --follow prints a running build as it writes, until it ends', async () => {
    t.scenario({ components: { vpc: { planSeconds: 4 } } });
    const started = await t.post('/runs', { workflow: 'plan-environment', input: DEV });
    const runId = String(started.body.runId);
    await t.waitFor(runId, (d) => d.components.some((c) => c.component === 'vpc' && c.status === 'RUNNING'));
    const r = await tropos('logs', runId, 'vpc', '--follow');
    expect(r.code).toBe(0);
    // It returned once the build had ended, with the whole log.
    const d = (await t.get(`/runs/${runId}`)).body as unknown as {
      components: { component: string; status: string; logs?: string }[];
    };
    const vpc = d.components.find((c) => c.component === 'vpc')!;
    expect(vpc.status).toBe('SUCCEEDED');
    expect(r.out).toBe(readFileSync(vpc.logs!, 'utf8').trimEnd());
    await t.waitFor(runId);
  });

  test('--dry-run prints every component in dependency order with the commands it would run', async () => {
    const r = await tropos('workflow', 'apply-environment', ...stack, '--dry-run');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(
      /^ {4}atmos terraform apply vpc -s acme-dev-testenv-01 --planfile \S+tfplan -- -input=false -no-color -lock-timeout=5m$/m,
    );
    expect(r.out).toMatch(/^ {4}atmos terraform plan backend -s acme-dev-testenv-01 -- .*-detailed-exitcode/m);
    const lines = r.out.split('\n');
    const at = (c: string) => lines.findIndex((l) => l.startsWith(`✓ apply ${c} done`));
    expect(at('backend')).toBeLessThan(at('vpc'));
    expect(at('apigateway')).toBeLessThan(at('monitoring'));
    expect(t.calls()).toEqual([]);
  });

  test('--from-step and --json', async () => {
    const r = await tropos(
      'workflow',
      'apply-environment',
      'tenant=acme',
      'account=staging',
      'environment=main',
      '--from-step',
      'plan',
      '--json',
    );
    expect(r.code).toBe(0);
    const detail = JSON.parse(r.out) as {
      run: { status: string; input: Record<string, unknown> };
      components: { step: string }[];
    };
    expect(detail.run.status).toBe('SUCCEEDED');
    expect(detail.run.input.fromStep).toBe('plan');
    expect(detail.components.some((c) => c.step === 'compliance')).toBe(false);
  });

  test.each([
    [
      ['workflow', 'apply-everything', ...stack],
      /unknown workflow "apply-everything"; allowed: apply-backend, apply-environment/,
    ],
    [
      ['workflow', 'apply-environment', 'tenant=acme'],
      /apply-environment: invalid input\n {2}account: is required[\s\S]*environment: is required[\s\S]*tropos describe apply-environment/,
    ],
    [['workflow', 'apply-environment', 'tenant'], /"tenant" is not key=value/],
    [
      ['workflow', 'apply-environment', ...stack, '--from-step', 'aply'],
      /fromStep: "aply" is not a step of apply-environment; allowed: validate, drift/,
    ],
    [['workflow'], /missing required argument 'name'/],
    [['frobnicate'], /unknown command 'frobnicate'/],
    [['runs', 'show', 'no-such-run'], /no run no-such-run/],
  ])('bad usage %j exits 2 with what is allowed', async (args, message) => {
    const r = await tropos(...args);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(message);
  });

  test('--help on every command, exit 0', async () => {
    for (const cmd of [
      [],
      ['workflow'],
      ['runs'],
      ['runs', 'show'],
      ['describe'],
      ['graph'],
      ['serve'],
      ['outbox'],
      ['envs'],
      ['drift-sweep'],
    ]) {
      const r = await tropos(...cmd, '--help');
      expect([cmd.join(' '), r.code]).toEqual([cmd.join(' '), 0]);
      expect(r.out).toMatch(/^Usage: tropos/);
    }
  });
});

describe('tropos runs, describe, graph', () => {
  test('runs lists runs; runs show prints the table of steps and components', async () => {
    const d = await t.run('plan-environment', DEV);
    const list = await tropos('runs', '--stack', 'acme-dev-testenv-01');
    expect(list.code).toBe(0);
    expect(list.out).toContain(d.run.runId);
    expect(list.out.split('\n')[0]).toMatch(/^RUN +STATUS +STACK +STARTED +TIME +REASON$/);
    // A failed run says why, on its line.
    t.scenario({ components: { vpc: { plan: 'error' } } });
    const failed = await t.run('plan-environment', DEV);
    const failedLine = (await tropos('runs', '--status', 'FAILED')).out
      .split('\n')
      .find((l) => l.startsWith(failed.run.runId));
    expect(failedLine).toMatch(/FAILED .*ComponentFailed: plan step "plan": vpc failed/);
    // A typo in a filter is said, naming what is allowed — not answered with "no runs".
    const typo = await tropos('runs', '--workflow', 'plan-enviroment');
    expect(typo.code).not.toBe(0);
    expect(typo.err).toMatch(/workflow: "plan-enviroment" is not a workflow; allowed: .*plan-environment/);
    const show = await tropos('runs', 'show', d.run.runId);
    expect(show.code).toBe(0);
    expect(show.out).toMatch(/^Workflow {2}plan-environment {3}Stack acme-dev-testenv-01$/m);
    expect(show.out).toMatch(/^STEP +COMPONENT +STATUS +TIME +PLAN +DETAIL$/m);
    expect(show.out).toMatch(/^plan +monitoring +SUCCEEDED +\d+\.\ds +\+1 ~0 -0 +monitoring: \+1 ~0 -0$/m);
    const json = JSON.parse((await tropos('runs', 'show', d.run.runId, '--json')).out) as { components: unknown[] };
    expect(json.components).toHaveLength(14);
  });

  test('runs show lists the runs a run started (an onboarding: its deploy)', async () => {
    const d = await t.run(
      'onboard-environment',
      {
        tenant: 'acme',
        account: 'dev',
        environment: 'testenv-77',
        vpc_cidr: '10.77.0.0/16',
        tags: 'Owner=platform,CostCenter=1234',
      },
      180_000,
    );
    expect(d.run.status).toBe('SUCCEEDED');
    const show = await tropos('runs', 'show', d.run.runId);
    expect(show.out).toMatch(
      /^Runs it started:\n {2}(onboard-environment-\S+-deploy) {2}apply-environment {2}SUCCEEDED {2}acme-dev-testenv-77 {3}\(tropos runs show \1\)$/m,
    );
    // A repository-wide build (generate-config) is one row, named "repository".
    expect(show.out.split('\n').filter((l) => l.startsWith('generate-config '))).toEqual([
      expect.stringMatching(/^generate-config +repository +SUCCEEDED/),
    ]);
  });

  test('describe: inputs, steps, example input', async () => {
    const r = await tropos('describe', 'state-operations');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(
      /^ {2}operation +required +State operation to run \(list \| lock-status \| unlock \| versions \| restore\)$/m,
    );
    expect(r.out).toContain('(lock_id required when operation=unlock)');
    expect(r.out).toMatch(/repair .*\[when operation is unlock or restore\]/);
    expect(r.out).toContain(
      'tropos workflow state-operations tenant=acme account=dev environment=testenv-01 component=vpc operation=lock-status',
    );
  });

  test('graph: a Mermaid flowchart with the steps, their components and the guards; every subgraph closed', async () => {
    const r = await tropos('graph', 'apply-environment');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^flowchart TD$/m);
    expect(r.out).toContain('subgraph apply["apply: terraform apply"]');
    expect(r.out).toContain('apply__stack["every component of the stack, in dependency order (from the repository)"]');
    const opened = r.out.split('\n').filter((l) => l.trim().startsWith('subgraph ')).length;
    expect(r.out.split('\n').filter((l) => l.trim() === 'end')).toHaveLength(opened);
    expect(r.out).toContain('drift -->|"when tier is staging or prod"| compliance');
    expect(r.out).toContain('plan -->|"when the tier\'s policy asks for plan"| approve');
  });

  test('graph --format dot: the same graph for Graphviz, steps as clusters; an unknown format is refused', async () => {
    const r = await tropos('graph', 'platform', '--format', 'dot');
    expect(r.code).toBe(0);
    const lines = r.out.split('\n');
    expect(lines[0]).toBe('digraph "platform" {');
    expect(r.out).toContain('subgraph cluster_phase_1 {');
    expect(r.out).toContain('  approve [label="approve: approval", shape=hexagon];');
    // An edge into a step's cluster lands on its first node, clipped at the cluster.
    expect(r.out).toMatch(/^ {2}approve -> phase_1__\S+ \[label="when plan has changes", lhead=cluster_phase_1\];$/m);
    // Balanced braces, and every edge names declared nodes.
    expect(r.out.split('{').length).toBe(r.out.split('}').length);
    const declared = new Set(lines.flatMap((l) => /^\s*(\w+) \[label=/.exec(l)?.slice(1) ?? []));
    for (const [, from, to] of r.out.matchAll(/^\s*(\w+) -> (\w+)/gm)) {
      expect(declared).toContain(from);
      expect(declared).toContain(to);
    }
    const bad = await tropos('graph', 'platform', '--format', 'svg');
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/--format: "svg" is not allowed; allowed: mermaid, dot/);
  });
});

describe('tropos approvals, approve, reject', () => {
  test('--as names the local user: the requester may not approve their own prod run, another user may', async () => {
    const started = await t.post(
      '/runs',
      { workflow: 'apply-environment', input: { tenant: 'acme', account: 'prod', environment: 'main' } },
      { 'x-tropos-user': 'alice' },
    );
    const runId = String(started.body.runId);
    await t.waitFor(runId, (d) => d.approvals.length > 0);
    const own = await tropos('--as', 'alice', 'approve', `${runId}.approve`);
    expect(own.code).toBe(2);
    expect(own.err).toMatch(/local:alice started run \S+ and may not approve it/);
    const other = await tropos('--as', 'bob', 'approve', `${runId}.approve`);
    expect(other.code).toBe(0);
    expect(other.out).toMatch(new RegExp(`^${runId}\\.approve: approved by local:bob at `));
    expect((await t.waitFor(runId)).run.status).toBe('SUCCEEDED');
  });

  test('lists the pending approval, approves it once, refuses a second answer', async () => {
    const started = await t.post('/runs', {
      workflow: 'apply-environment',
      input: { tenant: 'acme', account: 'prod', environment: 'main' },
    });
    const runId = String(started.body.runId);
    await t.waitFor(runId, (d) => d.approvals.length > 0);
    const list = await tropos('approvals');
    expect(list.code).toBe(0);
    expect(list.out).toContain(`${runId}.approve  PENDING  apply-environment on acme-prod-main`);
    expect(list.out).toContain(`answer: tropos approve ${runId}.approve`);
    // The approver sees the resources each plan changes, not only counts.
    expect(list.out).toMatch(/^ {6}vpc:\n {8}\+ terraform_data\.vpc_0$/m);
    // …and reviews them whole with plan show.
    const review = await tropos('plan', 'show', runId, 'vpc', '--step', 'plan');
    expect(review.code).toBe(0);
    expect(review.out).toMatch(
      /^plan vpc: \+1 ~0 -0\n {4}\+ terraform_data\.vpc_0\n {4}plan sha256 [0-9a-f]{64}\n {4}full plan: runs\/\S+\/plan\/vpc\/plan\.txt \(artifacts\)$/,
    );
    // The rendered plan text, through the API (GET /runs/{id}/plans/{component}): the file the build stored.
    const withText = await tropos('plan', 'show', runId, 'vpc', '--step', 'plan', '--text');
    const prefix = /full plan: (\S+)\/plan\.txt/.exec(review.out)![1]!;
    const stored = readFileSync(join(t.dir, 'data', 'artifacts', prefix, 'plan.txt'), 'utf8');
    expect(stored).toContain('Plan: 1 to add, 0 to change, 0 to destroy.');
    expect(withText.out).toBe(
      `${review.out}\n\n${stored
        .trimEnd()
        .split('\n')
        .map((l) => `    ${l}`)
        .join('\n')}\n`,
    );
    const unknown = await tropos('plan', 'show', runId, 'nope');
    expect(unknown.code).toBe(2);
    expect(unknown.err).toMatch(/nope: run \S+ has no plan of that component; planned: .*vpc/);
    const ok = await tropos('approve', `${runId}.approve`, '--comment', 'CHG-7');
    expect(ok.code).toBe(0);
    expect(ok.out).toMatch(new RegExp(`^${runId}\\.approve: approved by local:\\S+ at \\S+ \\(CHG-7\\)$`));
    const twice = await tropos('reject', `${runId}.approve`);
    expect(twice.code).toBe(2);
    expect(twice.err).toMatch(/already answered: approved by/);
    expect((await t.waitFor(runId)).run.status).toBe('SUCCEEDED');
    // No task token in anything the CLI printed.
    const printed = [list, ok, twice, await tropos('runs', 'show', runId)].map((r) => r.out + r.err).join('\n');
    expect(t.plane.engine.issuedTokens.size).toBeGreaterThan(0);
    for (const token of t.plane.engine.issuedTokens) expect(printed.includes(token)).toBe(false);
  });
});

describe('tropos runs stop, unlock', () => {
  test('unlock is refused while the holder runs; runs stop ends it; then the stack is not locked', async () => {
    const started = await t.post('/runs', {
      workflow: 'apply-environment',
      input: { tenant: 'acme', account: 'prod', environment: 'main' },
    });
    const runId = String(started.body.runId);
    await t.waitFor(runId, (d) => d.approvals.length > 0);
    const held = await tropos('unlock', 'acme-prod-main', '--reason', 'stuck?');
    expect(held.code).toBe(2);
    expect(held.err).toContain(`run ${runId} (apply-environment), which holds acme-prod-main since`);
    expect(held.err).toContain('still runs: stop it first');
    const noReason = await tropos('runs', 'stop', runId);
    expect(noReason.code).toBe(2);
    expect(noReason.err).toMatch(/--reason/);
    const stop = await tropos('runs', 'stop', runId, '--reason', 'wrong window');
    expect(stop).toMatchObject({ code: 0, out: `${runId}: stopped (no build was in flight)` });
    expect((await t.waitFor(runId)).run).toMatchObject({
      status: 'ABORTED',
      stopRequested: { reason: 'wrong window' },
    });
    const again = await tropos('runs', 'stop', runId, '--reason', 'again');
    expect(again).toMatchObject({ code: 2 });
    expect(again.err).toContain(`run ${runId} has ended already (ABORTED)`);
    const free = await tropos('unlock', 'acme-prod-main', '--reason', 'stuck?');
    expect(free.code).toBe(2);
    expect(free.err).toContain('stack acme-prod-main is not locked');
  });
});

describe('tropos envs, drift-sweep', () => {
  test('envs: every registered environment with status, CIDR, tier and drift; filters; bad status exits 2', async () => {
    const r = await tropos('envs');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^STACK +STATUS +CIDR +TIER +DRIFT$/m);
    expect(r.out).toMatch(/^acme-prod-main +active +10\.20\.0\.0\/16 +prod +(never checked|in sync|\d+ drifted)/m);
    expect(r.out).toMatch(/^\d+ environments; \d+ drifted at their last check; \d+ active never checked$/m);
    const json = JSON.parse((await tropos('envs', '--tenant', 'acme', '--status', 'active', '--json')).out) as {
      stack: string;
      status: string;
    }[];
    expect(json.length).toBeGreaterThanOrEqual(4);
    expect(json.every((e) => e.status === 'active')).toBe(true);
    expect((await tropos('envs', '--tenant', 'globex')).out).toBe('no environments');
    const bad = await tropos('envs', '--status', 'sleeping');
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/Allowed choices are onboarding, active, failed, destroyed/);
  });

  test('drift-sweep: one line per environment as its check ends, the drifted ones named, exit 0; envs shows it', async () => {
    t.scenario({
      default: { plan: { add: 0, change: 0, destroy: 0 } },
      stacks: { 'acme-staging-main': { components: { vpc: { plan: { add: 0, change: 2, destroy: 0 } } } } },
    });
    const r = await tropos('drift-sweep');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^Drift sweep drift-sweep-\S+: checking (\d+) active environments$/m);
    const active = Number(/checking (\d+) active/.exec(r.out)![1]);
    const lines = r.out.split('\n').filter((l) => /^\[ ?\d+\/\d+\] /.test(l));
    expect(lines).toHaveLength(active);
    expect(lines).toContainEqual(expect.stringMatching(/^\[ ?\d+\/\d+\] ! acme-staging-main drifted: vpc$/));
    expect(lines).toContainEqual(expect.stringMatching(/^\[ ?\d+\/\d+\] ✓ acme-dev-testenv-01 in sync$/));
    expect(r.out).toMatch(
      new RegExp(`^✓ drift sweep done in \\d+\\.\\ds: ${active} environments, 1 drifted, 0 could not be checked`, 'm'),
    );
    expect(r.out).toMatch(/^ {2}drifted {6}acme-staging-main: vpc$/m);
    const drifted = await tropos('envs', '--drifted');
    expect(drifted.out).toMatch(/^acme-staging-main +active +10\.10\.0\.0\/16 +staging +1 drifted: vpc \(checked /m);
    expect(drifted.out).not.toContain('acme-prod-main');
  });

  test('drift-sweep: a check that fails is reported with its reason and the command exits 1', async () => {
    t.scenario({
      default: { plan: { add: 0, change: 0, destroy: 0 } },
      stacks: { 'acme-prod-main': { components: { vpc: { plan: 'error' } } } },
    });
    const text = await tropos('drift-sweep');
    expect(text.code).toBe(1);
    expect(text.out).toMatch(
      /^\[ ?\d+\/\d+\] ✗ acme-prod-main: check failed: ComponentFailed: drift step "drift": vpc failed/m,
    );
    expect(text.out).toMatch(/^✗ drift sweep done in .*, 1 could not be checked/m);
    expect(text.out).toMatch(/^ {2}not checked {2}acme-prod-main \(why: above/m);
    const r = await tropos('drift-sweep', '--json');
    expect(r.code).toBe(1);
    const outcome = JSON.parse(r.out) as {
      status: string;
      checks: { stack: string; drifted?: string[]; reason?: string }[];
    };
    expect(outcome.status).toBe('SUCCEEDED');
    const prod = outcome.checks.find((c) => c.stack === 'acme-prod-main')!;
    expect(prod.drifted).toBeUndefined();
    expect(prod.reason).toMatch(/vpc/);
    expect(outcome.checks.filter((c) => c.stack !== 'acme-prod-main').every((c) => c.drifted?.length === 0)).toBe(true);
  });
});
