import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { createTables, LOCAL_TABLE_NAMES, LocalDynamo, startLocalDynamo } from '../lib/local/dynamo';
import { CALLBACK_CLAIM_STALE_MS, RunStore } from '../lib/records/run-store';
import type { Environment, EnvironmentStatus } from '../lib/records/environment';
import {
  CidrOverlapError,
  EnvironmentExistsError,
  EnvironmentWriter,
  Held,
  IN_FLIGHT_MS,
  isHeld,
  TicketStore,
} from '../lib/records/environment-store';

const NOW = Date.parse('2026-11-22T12:00:00Z');
const held = (runId: string, ageMs: number): Held => ({
  cidr: '10.1.0.0/16',
  runId,
  at: new Date(NOW - ageMs).toISOString(),
});

describe('isHeld: does an allocated block still belong to its stack?', () => {
  const cases: [string, boolean, { status: EnvironmentStatus; runId?: string } | undefined, Held][] = [
    ['active', true, { status: 'active', runId: 'r1' }, held('r1', IN_FLIGHT_MS * 10)],
    ['onboarding, by its run', true, { status: 'onboarding', runId: 'r1' }, held('r1', IN_FLIGHT_MS * 10)],
    ['onboarding, by another run', true, { status: 'onboarding', runId: 'r2' }, held('r1', IN_FLIGHT_MS * 10)],
    [
      'failed, by the run that allocated it (release unfinished)',
      false,
      { status: 'failed', runId: 'r1' },
      held('r1', 0),
    ],
    ['destroyed, by the run that allocated it', false, { status: 'destroyed', runId: 'r1' }, held('r1', 0)],
    ['failed by an earlier run, a new onboarding in flight', true, { status: 'failed', runId: 'r0' }, held('r1', 1000)],
    [
      'failed by an earlier run, the new onboarding died long ago',
      false,
      { status: 'failed', runId: 'r0' },
      held('r1', IN_FLIGHT_MS + 1),
    ],
    ['not registered yet, allocated just now', true, undefined, held('r1', 1000)],
    ['not registered yet, allocated just under the limit', true, undefined, held('r1', IN_FLIGHT_MS - 1)],
    ['never registered: its onboarding died', false, undefined, held('r1', IN_FLIGHT_MS)],
  ];
  test.each(cases)('%s → held: %s', (_, expected, env, h) => {
    expect(isHeld(env, h, NOW)).toBe(expected);
  });
});

describe('the registry against the local DynamoDB server', () => {
  let dynamo: LocalDynamo;
  let registry: EnvironmentWriter;
  let tickets: TicketStore;
  beforeAll(async () => {
    dynamo = await startLocalDynamo();
    await createTables(dynamo.client, LOCAL_TABLE_NAMES);
    registry = new EnvironmentWriter(dynamo.documents, LOCAL_TABLE_NAMES.environments);
    tickets = new TicketStore(dynamo.documents, LOCAL_TABLE_NAMES.environments);
  });
  afterAll(async () => dynamo.close());

  const env = (environment: string, vpcCidr: string, runId: string, tenant = 'acme'): Environment => ({
    stack: `${tenant}-dev-${environment}`,
    tenant,
    account: 'dev',
    environment,
    region: 'us-east-1',
    tier: 'dev',
    vpcCidr,
    status: 'onboarding',
    runId,
    createdAt: new Date().toISOString(),
    updatedAt: new Date().toISOString(),
  });

  test('register allocates; an overlap is refused naming the holder; a failure gives the block back', async () => {
    await registry.register(env('a', '10.1.0.0/16', 'run-a'));
    expect(await registry.allocation('acme')).toEqual({ 'acme-dev-a': '10.1.0.0/16' });
    await expect(registry.register(env('b', '10.1.128.0/17', 'run-b'))).rejects.toThrow(CidrOverlapError);
    await expect(registry.register(env('b', '10.1.128.0/17', 'run-b'))).rejects.toMatchObject({
      overlapping: { stack: 'acme-dev-a', vpcCidr: '10.1.0.0/16' },
    });
    // Another tenant's blocks are its own.
    await registry.register(env('a', '10.1.0.0/16', 'run-x', 'globex'));

    // Registering again for the same run is the same registration; for another run, it is taken.
    await expect(registry.register(env('a', '10.1.0.0/16', 'run-a'))).resolves.toMatchObject({ runId: 'run-a' });
    await expect(registry.register(env('a', '10.9.0.0/16', 'run-other'))).rejects.toThrow(EnvironmentExistsError);

    // Only the run that registered it can fail it.
    expect(await registry.markFailed('acme-dev-a', 'run-other', { error: 'X', cause: 'y' })).toBeUndefined();
    const failed = await registry.markFailed('acme-dev-a', 'run-a', { error: 'ComponentFailed', cause: 'vpc' });
    expect(failed).toMatchObject({ status: 'failed', failure: { error: 'ComponentFailed', cause: 'vpc' } });
    expect(await registry.allocation('acme')).toEqual({});
    await expect(registry.register(env('b', '10.1.128.0/17', 'run-b'))).resolves.toMatchObject({
      status: 'onboarding',
    });
  });

  test("the repository's own names of its stacks are recorded: found by name, the last name wins, never listed", async () => {
    const seen = (name: string, environment: string) => ({
      stack: `umbrella-prod-${environment}`,
      name,
      tenant: 'umbrella',
      account: 'prod',
      environment,
    });
    // Registered by an earlier run (no name then): its name is recorded all the same.
    await registry.register({
      ...env('x', '10.60.0.0/16', 'run-n', 'umbrella'),
      stack: 'umbrella-prod-main',
      account: 'prod',
    });
    expect(
      await registry.recordSeen([seen('eg-umbrella-main-prd', 'main'), seen('eg-umbrella-edge-prd', 'edge')], 'run-1'),
    ).toEqual([]);
    expect(await registry.byName('eg-umbrella-main-prd')).toMatchObject({
      stack: 'umbrella-prod-main',
      account: 'prod',
      name: 'eg-umbrella-main-prd',
      status: 'onboarding',
    });
    expect(await registry.byName('eg-umbrella-edge-prd')).toMatchObject({
      stack: 'umbrella-prod-edge',
      name: 'eg-umbrella-edge-prd',
      source: 'repository',
    });
    expect(await registry.byName('umbrella-prod-edge')).toMatchObject({ stack: 'umbrella-prod-edge' });
    expect(await registry.byName('eg-umbrella-nowhere-prd')).toBeUndefined();
    expect(await registry.byName('#name#eg-umbrella-main-prd')).toBeUndefined();
    // Renamed in the repository: the new name finds it; the old one still points at it until a run checks it.
    await registry.recordSeen([seen('acme-umbrella-main-production', 'main')], 'run-2');
    expect(await registry.byName('acme-umbrella-main-production')).toMatchObject({ stack: 'umbrella-prod-main' });
    const listed = (await registry.list()).map((e) => e.stack);
    expect(listed.filter((s) => s.startsWith('umbrella-'))).toEqual(['umbrella-prod-edge', 'umbrella-prod-main']);
    expect(listed.some((s) => s.startsWith('#'))).toBe(false);
  });

  test('destroyed environments give their block back; failed and destroyed stacks may be onboarded again', async () => {
    await registry.register(env('c', '10.3.0.0/16', 'run-c'));
    await registry.update('acme-dev-c', { status: 'active' });
    await registry.markDestroyed('acme-dev-c', 'run-destroy');
    expect((await registry.allocation('acme'))['acme-dev-c']).toBeUndefined();
    await expect(registry.register(env('c', '10.3.0.0/16', 'run-c2'))).resolves.toMatchObject({ runId: 'run-c2' });
    // A late release for the earlier run (a destroy racing this re-onboarding) leaves the new run's block alone.
    await registry.release('acme', 'acme-dev-c', 'run-c');
    expect((await registry.allocation('acme'))['acme-dev-c']).toBe('10.3.0.0/16');
  });

  test('the same run registering twice at once (a concurrent resume, an SDK retry): one registration, block kept', async () => {
    const e = env('twin', '10.4.0.0/16', 'run-twin');
    const both = await Promise.allSettled([registry.register(e), registry.register(e)]);
    expect(both.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled']);
    expect((await registry.allocation('acme'))['acme-dev-twin']).toBe('10.4.0.0/16');
    // Another run still may not take the stack.
    await expect(registry.register(env('twin', '10.4.0.0/16', 'run-other'))).rejects.toThrow(EnvironmentExistsError);
  });

  test('an abandoned ticket is taken over by exactly one of the requests that find it', async () => {
    const old = new Date(Date.now() - 10 * 60_000).toISOString();
    const ticket = {
      ticketId: 'CHG-abandoned',
      stack: 'acme-dev-ab',
      runId: 'run-ab',
      createdAt: old,
      registration: env('ab', '10.5.0.0/16', 'run-ab'),
      input: {},
      caller: 'me',
    };
    await tickets.claim(ticket);
    const found = (await tickets.get('CHG-abandoned'))!;
    const takeovers = await Promise.all(Array.from({ length: 5 }, () => tickets.takeOver(found, new Date())));
    expect(takeovers.filter(Boolean)).toHaveLength(1);
    expect((await tickets.get('CHG-abandoned'))!.createdAt).not.toBe(old);
  });

  test('a long stack or tenant is simply not registered (no DynamoDB key error)', async () => {
    expect(await registry.get('a'.repeat(5000))).toBeUndefined();
    expect(await registry.listByTenant('t'.repeat(5000))).toEqual([]);
  });

  test('a run whose build wrote its item before the ledger recorded its start reads as RUNNING, then as recorded', async () => {
    const runs = new RunStore(dynamo.documents, LOCAL_TABLE_NAMES.runs);
    const runId = `drift-sweep-early-${Date.now()}`;
    await runs.recordResolveBuild(runId, { status: 'RUNNING', buildId: 'tropos-terraform-resolve:1' });
    expect((await runs.getRun(runId))?.status).toBe('RUNNING');
    expect((await runs.getRunDetail(runId))?.run.status).toBe('RUNNING');
    await runs.recordRun({
      runId,
      workflow: 'drift-sweep',
      stack: '',
      status: 'SUCCEEDED',
      startedAt: new Date().toISOString(),
    } as never);
    expect((await runs.getRun(runId))?.status).toBe('SUCCEEDED');
  });

  test('a callback is claimed once; a claim older than a ledger invocation lives is taken over', async () => {
    const runs = new RunStore(dynamo.documents, LOCAL_TABLE_NAMES.runs);
    const now = new Date('2026-11-22T12:00:00Z');
    await runs.recordRun({
      runId: 'cb-run',
      workflow: 'onboard-environment',
      status: 'SUCCEEDED',
      input: {},
      startedBy: 'me',
      startedAt: now.toISOString(),
      executionArn: 'arn:x',
    });
    const first = await runs.claimCallback('cb-run', 'https://x.example/h', now, CALLBACK_CLAIM_STALE_MS);
    expect(first).toEqual({ claimedAt: now.toISOString(), delivery: expect.any(String) });
    const soon = new Date(now.getTime() + 60_000);
    expect(await runs.claimCallback('cb-run', 'https://x.example/h', soon, CALLBACK_CLAIM_STALE_MS)).toBeUndefined();
    // The first invocation died mid-delivery: a later delivery of the event takes over, with the same delivery id.
    const later = new Date(now.getTime() + CALLBACK_CLAIM_STALE_MS + 1000);
    const takeover = await runs.claimCallback('cb-run', 'https://x.example/h', later, CALLBACK_CLAIM_STALE_MS);
    expect(takeover).toEqual({ claimedAt: later.toISOString(), delivery: first!.delivery });
    // The dead invocation's record (had it come back) would not overwrite the takeover's.
    const done = { url: 'https://x.example/h', status: 'DELIVERED' as const, attempts: [] };
    expect(await runs.recordCallback('cb-run', done, first!.claimedAt)).toBe(false);
    expect(await runs.recordCallback('cb-run', done, takeover!.claimedAt)).toBe(true);
    // Once delivered (or failed for good), never again.
    const muchLater = new Date(later.getTime() + 2 * CALLBACK_CLAIM_STALE_MS);
    expect(
      await runs.claimCallback('cb-run', 'https://x.example/h', muchLater, CALLBACK_CLAIM_STALE_MS),
    ).toBeUndefined();
  });

  test('the allocation starts from the environments registered before it existed (seeded without one)', async () => {
    // An environment written directly (as the local control plane seeds its examples), before any allocation item.
    await dynamo.documents.send(
      new PutCommand({
        TableName: LOCAL_TABLE_NAMES.environments,
        Item: { ...env('old', '10.50.0.0/16', 'seed', 'initech'), status: 'active' },
      }),
    );
    await expect(registry.register(env('new', '10.50.1.0/24', 'run-n', 'initech'))).rejects.toMatchObject({
      overlapping: { stack: 'initech-dev-old' },
    });
  });

  test('tickets: claimed once; given back only by the run that claimed it', async () => {
    const ticket = {
      ticketId: 'CHG1',
      stack: 'acme-dev-t',
      runId: 'run-1',
      createdAt: new Date().toISOString(),
      registration: env('t', '10.99.0.0/16', 'run-1'),
      input: { tenant: 'acme' },
      caller: 'arn:aws:iam::1:role/servicenow',
    };
    expect(await tickets.claim(ticket)).toEqual({ claimed: true });
    expect(await tickets.claim({ ...ticket, runId: 'run-2' })).toMatchObject({
      claimed: false,
      ticket: { runId: 'run-1', state: 'pending' },
    });
    await tickets.release('CHG1', 'run-2');
    expect(await tickets.get('CHG1')).toMatchObject({ runId: 'run-1' });
    await expect(tickets.started('CHG1', 'run-2')).rejects.toThrow(/conditional/i);
    await tickets.started('CHG1', 'run-1');
    expect(await tickets.get('CHG1')).toMatchObject({ state: 'started', caller: 'arn:aws:iam::1:role/servicenow' });
    // Never creates a ticket that was not claimed.
    await expect(tickets.started('CHG-unknown', 'run-1')).rejects.toThrow(/conditional/i);
    expect(await tickets.get('CHG-unknown')).toBeUndefined();
    // Tickets and allocations share the registry table but are never listed as environments.
    expect((await registry.list({})).map((e) => e.stack)).not.toContainEqual(expect.stringMatching(/^#/));
  });
});
