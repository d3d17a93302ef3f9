// Handovers against the local DynamoDB server: used up by one execution, trusted only fresh; and the run ledger
// giving back a lock a child took under the name of a parent that had already ended.
import { createTables, LOCAL_TABLE_NAMES, LocalDynamo, startLocalDynamo } from '../lib/local/dynamo';
import { HANDOVER_FRESH_MS, HandoverStore, originOf } from '../lib/records/handover';
import { RunStore } from '../lib/records/run-store';
import { StackLocks } from '../lib/records/stack-lock';
import { recordStateChange } from '../lambdas/record-run/core';

let dynamo: LocalDynamo;
let handovers: HandoverStore;
beforeAll(async () => {
  dynamo = await startLocalDynamo();
  await createTables(dynamo.client, LOCAL_TABLE_NAMES);
  handovers = new HandoverStore(dynamo.documents, LOCAL_TABLE_NAMES.runs);
});
afterAll(async () => dynamo.close());

const START = new Date('2026-12-01T12:00:00Z');
const arn = (name: string, n = 1) =>
  `arn:aws:states:us-east-1:000000000000:execution:tropos-apply-environment:${name}#${n}`;
const input = { tenant: 'acme', account: 'dev', environment: 'testenv-01' };

async function handOver(runId: string, createdAt = START) {
  await handovers.put({
    runId,
    workflow: 'apply-environment',
    input,
    origin: 'api',
    principal: 'local:alice',
    createdAt: createdAt.toISOString(),
  });
}

describe('a handover', () => {
  test('is used up by the first execution of its name; a retry of that execution keeps it, another gets none', async () => {
    await handOver('h-1');
    expect(await handovers.consume('h-1', arn('h-1'), START)).toMatchObject({ principal: 'local:alice' });
    expect(await handovers.consume('h-1', arn('h-1'), START)).toMatchObject({ consumedBy: arn('h-1') });
    expect(await handovers.consume('h-1', arn('h-1', 2), START)).toBeUndefined();
  });

  test('left behind by a start that never happened, it is not trusted later', async () => {
    await handOver('h-2', new Date(START.getTime() - HANDOVER_FRESH_MS - 1000));
    expect(await handovers.consume('h-2', arn('h-2'), START)).toBeUndefined();
    await handOver('h-3', new Date(START.getTime() - 60_000));
    expect(await handovers.consume('h-3', arn('h-3'), START)).toBeDefined();
    expect(await handovers.consume('h-none', arn('h-none'), START)).toBeUndefined();
  });

  test('is trusted only for its workflow and its exact input', async () => {
    await handOver('h-4');
    const h = await handovers.consume('h-4', arn('h-4'), START);
    expect(originOf(h, 'apply-environment', { ...input })).toMatchObject({ kind: 'api', principal: 'local:alice' });
    expect(originOf(h, 'destroy-environment', input)).toEqual({ kind: 'console' });
    expect(originOf(h, 'apply-environment', { ...input, fromStep: 'apply' })).toEqual({ kind: 'console' });
  });

  test('a second put of the same run with another input is refused', async () => {
    await handOver('h-5');
    await expect(
      handovers.put({
        runId: 'h-5',
        workflow: 'apply-environment',
        input: { x: 1 },
        origin: 'parent',
        createdAt: START.toISOString(),
      }),
    ).rejects.toThrow(/handed over already, with another input/);
  });
});

describe('the run ledger and a lock taken under an ended parent', () => {
  test("the child's end gives back the lock it took in its parent's name once the parent has ended", async () => {
    const runs = new RunStore(dynamo.documents, LOCAL_TABLE_NAMES.runs);
    const locks = new StackLocks(dynamo.documents, LOCAL_TABLE_NAMES.runs);
    // The parent ended; its child (replayed, or simply late) took the stack in the parent's name.
    await runs.recordRun({
      runId: 'parent-1',
      workflow: 'onboard-environment',
      status: 'ABORTED',
      input: {},
      startedAt: START.toISOString(),
      executionArn: 'p',
    });
    await runs.recordStart('parent-1-deploy', { stack: 'acme-dev-x', lockOwner: 'parent-1' });
    await locks.acquire('acme-dev-x', 'parent-1', 'apply-environment');
    await recordStateChange(
      {
        source: 'aws.states',
        'detail-type': 'Step Functions Execution Status Change',
        detail: {
          name: 'parent-1-deploy',
          status: 'FAILED',
          stateMachineArn: 'arn:aws:states:us-east-1:000000000000:stateMachine:tropos-apply-environment',
          executionArn: 'c',
          startDate: START.getTime(),
          stopDate: START.getTime() + 1000,
          input: '{}',
        },
      },
      {
        runs,
        locks,
        registry: { get: async () => undefined, markFailed: async () => undefined as never },
        callbacks: { secret: async () => 's', attempts: 1, backoffMs: 1 },
      },
    );
    expect(await locks.get('acme-dev-x')).toBeUndefined();
  });
});

describe('the run ledger gives a lock back before it records the end', () => {
  test('whoever reads the run as ended finds its stack free', async () => {
    const runs = new RunStore(dynamo.documents, LOCAL_TABLE_NAMES.runs);
    const locks = new StackLocks(dynamo.documents, LOCAL_TABLE_NAMES.runs);
    await runs.recordRun({
      runId: 'ended-1',
      workflow: 'apply-environment',
      status: 'RUNNING',
      input: {},
      startedAt: START.toISOString(),
      executionArn: 'e',
    });
    await runs.recordStart('ended-1', { stack: 'acme-dev-order' });
    await locks.acquire('acme-dev-order', 'ended-1', 'apply-environment');
    // What the lock looked like at the moment the end was recorded.
    const seen: (string | undefined)[] = [];
    const recording: RunStore = Object.create(runs) as RunStore;
    recording.recordRun = async (run) => {
      if (run.status !== 'RUNNING') seen.push((await locks.get('acme-dev-order'))?.holder);
      return runs.recordRun(run);
    };
    await recordStateChange(
      {
        source: 'aws.states',
        'detail-type': 'Step Functions Execution Status Change',
        detail: {
          name: 'ended-1',
          status: 'FAILED',
          stateMachineArn: 'arn:aws:states:us-east-1:000000000000:stateMachine:tropos-apply-environment',
          executionArn: 'e',
          startDate: START.getTime(),
          stopDate: START.getTime() + 1000,
          input: '{}',
        },
      },
      {
        runs: recording,
        locks,
        registry: { get: async () => undefined, markFailed: async () => undefined as never },
        callbacks: { secret: async () => 's', attempts: 1, backoffMs: 1 },
      },
    );
    expect(seen).toEqual([undefined]);
    expect((await runs.getRun('ended-1'))?.status).toBe('FAILED');
  });
});

describe('a stack lock whose holder has ended', () => {
  test('two runs taking it over at once: exactly one gets it, the other is told StackLocked', async () => {
    const locks = new StackLocks(dynamo.documents, LOCAL_TABLE_NAMES.runs);
    await locks.acquire('acme-dev-race', 'old-run', 'apply-environment', { execution: 'arn:old' });
    const ended = async (arn: string) => (arn === 'arn:old' ? 'FAILED' : undefined);
    const results = await Promise.allSettled(
      ['run-a', 'run-b', 'run-c'].map((r) =>
        locks.acquire('acme-dev-race', r, 'apply-environment', { execution: `arn:${r}`, ended }),
      ),
    );
    const won = results.filter((r) => r.status === 'fulfilled');
    expect(won).toHaveLength(1);
    const lock = (won[0] as PromiseFulfilledResult<Awaited<ReturnType<StackLocks['acquire']>>>).value;
    expect(lock.takenOver).toMatchObject({ from: 'old-run', status: 'FAILED' });
    expect(await locks.get('acme-dev-race')).toMatchObject({ holder: lock.holder, execution: `arn:${lock.holder}` });
    for (const r of results.filter((x) => x.status === 'rejected'))
      expect((r as PromiseRejectedResult).reason).toMatchObject({ name: 'StackLocked' });
    // The winner still runs: nobody takes it from it.
    await expect(
      locks.acquire('acme-dev-race', 'run-d', 'apply-environment', { execution: 'arn:run-d', ended }),
    ).rejects.toThrow(`stack acme-dev-race is locked by run ${lock.holder}`);
  });

  test('a lock without an execution (written before Tropos recorded one) is never taken over', async () => {
    const locks = new StackLocks(dynamo.documents, LOCAL_TABLE_NAMES.runs);
    await locks.acquire('acme-dev-old', 'old-run', 'apply-environment');
    await expect(
      locks.acquire('acme-dev-old', 'new-run', 'apply-environment', { ended: async () => 'SUCCEEDED' }),
    ).rejects.toThrow(/is locked by run old-run/);
  });
});
