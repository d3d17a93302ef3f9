import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { createTables, LOCAL_TABLE_NAMES, LocalDynamo, startLocalDynamo } from '../lib/local/dynamo';
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

  test('destroyed environments give their block back; failed and destroyed stacks may be onboarded again', async () => {
    await registry.register(env('c', '10.3.0.0/16', 'run-c'));
    await registry.update('acme-dev-c', { status: 'active' });
    await registry.markDestroyed('acme-dev-c', 'run-destroy');
    expect((await registry.allocation('acme'))['acme-dev-c']).toBeUndefined();
    await expect(registry.register(env('c', '10.3.0.0/16', 'run-c2'))).resolves.toMatchObject({ runId: 'run-c2' });
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
    const ticket = { ticketId: 'CHG1', stack: 'acme-dev-t', runId: 'run-1', createdAt: new Date().toISOString() };
    expect(await tickets.claim(ticket)).toEqual({ claimed: true });
    expect(await tickets.claim({ ...ticket, runId: 'run-2' })).toMatchObject({
      claimed: false,
      ticket: { runId: 'run-1', state: 'pending' },
    });
    await tickets.release('CHG1', 'run-2');
    expect(await tickets.get('CHG1')).toMatchObject({ runId: 'run-1' });
    await tickets.started('CHG1');
    expect(await tickets.get('CHG1')).toMatchObject({ state: 'started' });
    // Tickets and allocations share the registry table but are never listed as environments.
    expect((await registry.list({})).map((e) => e.stack)).not.toContainEqual(expect.stringMatching(/^#/));
  });
});
