import {
  DeleteCommand,
  GetCommand,
  PutCommand,
  UpdateCommand,
  type DynamoDBDocumentClient,
} from '@aws-sdk/lib-dynamodb';
import { SK } from '../../lib/records/run';
import { batchPut, queryAll } from '../../lib/records/run-store';
import { byPriority, type NodeState, type ParkedWorker, type PoolNode, type PoolStore } from './scheduler';

/**
 * The worker pool of one (run, step) in the runs table: the step's progress item (`GRAPH#<step>`: how many
 * components, which have ended), one item per component (`GRAPH#<step>#C#<component>`: its dependencies within
 * the step, its dependents, its state, the dependencies that succeeded; for an apply, its reviewed plan) and one
 * per parked worker (`GRAPH#<step>#W#<worker>`: its task token). Single-item conditional writes only.
 */
export class DynamoPoolStore implements PoolStore {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly table: string,
  ) {}

  private stepKey(runId: string, step: string) {
    return { runId, sk: SK.graph(step) };
  }
  private nodeKey(runId: string, step: string, component: string) {
    return { runId, sk: `${SK.graph(step)}#C#${component}` };
  }
  private workerKey(runId: string, step: string, worker: number) {
    return { runId, sk: `${SK.graph(step)}#W#${String(worker).padStart(2, '0')}` };
  }

  public async prepare(runId: string, step: string, nodes: readonly PoolNode[]): Promise<void> {
    const items: Record<string, unknown>[] = nodes.map((n) => ({
      ...this.nodeKey(runId, step, n.component),
      component: n.component,
      deps: [...n.deps],
      dependents: [...n.dependents],
      state: n.state,
      priority: n.priority,
      reach: n.reach,
      ...(n.plan ? { plan: { ...n.plan } } : {}),
    }));
    await batchPut(this.db, this.table, items);
    // Last: a worker finds the step's components before it can find the step's total.
    await this.db.send(
      new PutCommand({ TableName: this.table, Item: { ...this.stepKey(runId, step), total: nodes.length } }),
    );
  }

  public async node(runId: string, step: string, component: string): Promise<PoolNode | undefined> {
    const out = await this.db.send(
      new GetCommand({ TableName: this.table, Key: this.nodeKey(runId, step, component), ConsistentRead: true }),
    );
    return out.Item ? toNode(out.Item) : undefined;
  }

  public async ready(runId: string, step: string): Promise<string[]> {
    return byPriority((await this.query(runId, `${SK.graph(step)}#C#`, 'READY')).map(toNode));
  }

  public claim(runId: string, step: string, component: string, worker: number): Promise<PoolNode | undefined> {
    return this.update(runId, step, component, ['READY'], 'RUNNING', { worker });
  }

  public async unclaim(runId: string, step: string, component: string): Promise<void> {
    await this.transition(runId, step, component, ['RUNNING'], 'READY');
  }

  public async finish(runId: string, step: string, component: string, how: 'SUCCEEDED' | 'FAILED'): Promise<PoolNode> {
    const node = await this.update(runId, step, component, ['RUNNING', how], how);
    if (!node) {
      const now = await this.node(runId, step, component);
      throw new Error(
        `component ${component} of step ${step} ended ${how}, but the pool has it ${now ? now.state : 'not at all'}: it was not handed to a worker`,
      );
    }
    return node;
  }

  public async arrive(runId: string, step: string, component: string, dep: string): Promise<PoolNode | undefined> {
    const out = await this.db.send(
      new UpdateCommand({
        TableName: this.table,
        Key: this.nodeKey(runId, step, component),
        UpdateExpression: 'ADD arrived :d',
        ConditionExpression: 'attribute_exists(sk)',
        ExpressionAttributeValues: { ':d': new Set([dep]) },
        ReturnValues: 'ALL_NEW',
      }),
    );
    const node = toNode(out.Attributes!);
    const arrived = (out.Attributes?.arrived as Set<string> | undefined)?.size ?? 0;
    if (node.state !== 'WAITING' || arrived < node.deps.length) return undefined;
    return this.update(runId, step, component, ['WAITING'], 'READY');
  }

  public async skip(runId: string, step: string, component: string): Promise<PoolNode | undefined> {
    return this.update(runId, step, component, ['WAITING', 'SKIPPED'], 'SKIPPED');
  }

  public async ended(runId: string, step: string, components: readonly string[]) {
    const out = await this.db.send(
      new UpdateCommand({
        TableName: this.table,
        Key: this.stepKey(runId, step),
        UpdateExpression: 'ADD endedSet :c',
        ExpressionAttributeValues: { ':c': new Set(components) },
        ReturnValues: 'ALL_NEW',
      }),
    );
    return toProgress(out.Attributes);
  }

  public async progress(runId: string, step: string) {
    const out = await this.db.send(
      new GetCommand({ TableName: this.table, Key: this.stepKey(runId, step), ConsistentRead: true }),
    );
    return toProgress(out.Item);
  }

  public async park(runId: string, step: string, worker: number, token: string): Promise<void> {
    await this.db.send(
      new PutCommand({ TableName: this.table, Item: { ...this.workerKey(runId, step, worker), worker, token } }),
    );
  }

  public async parked(runId: string, step: string): Promise<ParkedWorker[]> {
    const items = await this.query(runId, `${SK.graph(step)}#W#`);
    return items.map((i) => ({ worker: Number(i.worker), token: String(i.token) }));
  }

  public async unpark(runId: string, step: string, worker: number, token: string): Promise<boolean> {
    try {
      await this.db.send(
        new DeleteCommand({
          TableName: this.table,
          Key: this.workerKey(runId, step, worker),
          ConditionExpression: '#t = :t',
          ExpressionAttributeNames: { '#t': 'token' },
          ExpressionAttributeValues: { ':t': token },
        }),
      );
      return true;
    } catch (e) {
      if ((e as Error).name === 'ConditionalCheckFailedException') return false;
      throw e;
    }
  }

  private async query(runId: string, prefix: string, state?: NodeState): Promise<Record<string, unknown>[]> {
    return queryAll(this.db, {
      TableName: this.table,
      KeyConditionExpression: 'runId = :r AND begins_with(sk, :p)',
      ...(state
        ? {
            FilterExpression: '#s = :s',
            ExpressionAttributeNames: { '#s': 'state' },
            ExpressionAttributeValues: { ':r': runId, ':p': prefix, ':s': state },
          }
        : { ExpressionAttributeValues: { ':r': runId, ':p': prefix } }),
      ConsistentRead: true,
    });
  }

  /** Moves a component from one of `from` to `to`; false when it was in none of them. */
  private async transition(
    runId: string,
    step: string,
    component: string,
    from: readonly NodeState[],
    to: NodeState,
    extra: Record<string, unknown> = {},
  ): Promise<boolean> {
    return (await this.update(runId, step, component, from, to, extra)) !== undefined;
  }

  private async update(
    runId: string,
    step: string,
    component: string,
    from: readonly NodeState[],
    to: NodeState,
    extra: Record<string, unknown> = {},
  ): Promise<PoolNode | undefined> {
    const names: Record<string, string> = { '#s': 'state' };
    const values: Record<string, unknown> = { ':to': to };
    const sets = ['#s = :to'];
    Object.entries(extra).forEach(([k, v], i) => {
      names[`#x${i}`] = k;
      values[`:x${i}`] = v;
      sets.push(`#x${i} = :x${i}`);
    });
    from.forEach((s, i) => (values[`:f${i}`] = s));
    try {
      const out = await this.db.send(
        new UpdateCommand({
          TableName: this.table,
          Key: this.nodeKey(runId, step, component),
          UpdateExpression: `SET ${sets.join(', ')}`,
          ConditionExpression: from.map((_, i) => `#s = :f${i}`).join(' OR '),
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
          ReturnValues: 'ALL_NEW',
        }),
      );
      return toNode(out.Attributes!);
    } catch (e) {
      if ((e as Error).name === 'ConditionalCheckFailedException') return undefined;
      throw e;
    }
  }
}

function toNode(item: Record<string, unknown>): PoolNode {
  return {
    component: String(item.component),
    deps: (item.deps ?? []) as string[],
    dependents: (item.dependents ?? []) as string[],
    state: item.state as NodeState,
    priority: Number(item.priority ?? 0),
    reach: Number(item.reach ?? 0),
    ...(item.plan ? { plan: item.plan as PoolNode['plan'] } : {}),
  };
}

function toProgress(item: Record<string, unknown> | undefined): { ended: number; total: number } {
  return {
    ended: (item?.endedSet as Set<string> | undefined)?.size ?? 0,
    total: Number(item?.total ?? 0),
  };
}
