import { GetCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { EndState, GraphState, GraphStore } from './core';

/**
 * The component graph of one (run, step) in the runs table, item `sk = GRAPH#<step>`. Each component's
 * dependencies, token, end and release are flat attributes (`d_<c>`, `t_<c>`, `e_<c>`, `r_<c>`) so that one
 * UpdateItem sets them without first creating a map.
 */
export class DynamoGraphStore implements GraphStore {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  private key(runId: string, step: string) {
    return { runId, sk: `GRAPH#${step}` };
  }

  public async await(
    runId: string,
    step: string,
    component: string,
    token: string,
    dependsOn: readonly string[],
    stackComponents: readonly string[],
  ): Promise<GraphState> {
    const out = await this.db.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: this.key(runId, step),
        UpdateExpression: 'SET stackComponents = if_not_exists(stackComponents, :s), #d = :d, #t = :t',
        ExpressionAttributeNames: { '#d': `d_${component}`, '#t': `t_${component}` },
        ExpressionAttributeValues: { ':d': dependsOn, ':s': stackComponents, ':t': token },
        ReturnValues: 'ALL_NEW',
      }),
    );
    return toState(out.Attributes);
  }

  public async end(runId: string, step: string, component: string, how: EndState): Promise<GraphState> {
    const out = await this.db.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: this.key(runId, step),
        UpdateExpression: 'SET #e = :e',
        ExpressionAttributeNames: { '#e': `e_${component}` },
        ExpressionAttributeValues: { ':e': how },
        ReturnValues: 'ALL_NEW',
      }),
    );
    return toState(out.Attributes);
  }

  public async read(runId: string, step: string): Promise<GraphState> {
    const out = await this.db.send(
      new GetCommand({ TableName: this.tableName, Key: this.key(runId, step), ConsistentRead: true }),
    );
    return toState(out.Item);
  }

  public async claimRelease(runId: string, step: string, component: string): Promise<string | undefined> {
    try {
      const out = await this.db.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: this.key(runId, step),
          UpdateExpression: 'SET #r = :r REMOVE #t',
          ConditionExpression: 'attribute_not_exists(#r) AND attribute_exists(#t)',
          ExpressionAttributeNames: { '#r': `r_${component}`, '#t': `t_${component}` },
          ExpressionAttributeValues: { ':r': true },
          ReturnValues: 'UPDATED_OLD',
        }),
      );
      return out.Attributes?.[`t_${component}`] as string | undefined;
    } catch (e) {
      if ((e as Error).name === 'ConditionalCheckFailedException') return undefined;
      throw e;
    }
  }
}

function toState(item: Record<string, unknown> | undefined): GraphState {
  const tokens: Record<string, string> = {};
  const ended: Record<string, EndState> = {};
  const graph: Record<string, string[]> = {};
  for (const [k, v] of Object.entries(item ?? {})) {
    if (k.startsWith('d_')) graph[k.slice(2)] = v as string[];
    else if (k.startsWith('t_')) tokens[k.slice(2)] = v as string;
    else if (k.startsWith('e_')) ended[k.slice(2)] = v as EndState;
  }
  return {
    graph,
    stackComponents: (item?.stackComponents ?? []) as string[],
    tokens,
    ended,
  };
}
