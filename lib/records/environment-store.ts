import {
  GetCommand,
  PutCommand,
  QueryCommand,
  UpdateCommand,
  type DynamoDBDocumentClient,
} from '@aws-sdk/lib-dynamodb';
import { Environment, EnvironmentReader, TABLES } from './environment';

/** The environment registry in DynamoDB. */
export class EnvironmentStore implements EnvironmentReader {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  public async get(stack: string): Promise<Environment | undefined> {
    const out = await this.db.send(new GetCommand({ TableName: this.tableName, Key: { stack }, ConsistentRead: true }));
    return out.Item as Environment | undefined;
  }

  public async listByTenant(tenant: string): Promise<Environment[]> {
    const items: Environment[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const out = await this.db.send(
        new QueryCommand({
          TableName: this.tableName,
          IndexName: TABLES.environments.byTenant.index,
          KeyConditionExpression: 'tenant = :t',
          ExpressionAttributeValues: { ':t': tenant },
          ExclusiveStartKey: start,
        }),
      );
      items.push(...((out.Items ?? []) as Environment[]));
      start = out.LastEvaluatedKey;
    } while (start);
    return items;
  }
}

/** Thrown when an environment is registered twice; `name` is a Step Functions error code. */
export class EnvironmentExistsError extends Error {
  public override readonly name = 'EnvironmentExists';
}

/** Writes to the registry: single-item conditional writes only (the local server has no transactions). */
export class EnvironmentWriter extends EnvironmentStore {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly table: string,
  ) {
    super(client, table);
  }

  /** Registers a new environment; refuses when the stack is registered and not destroyed. */
  public async register(env: Environment): Promise<Environment> {
    try {
      await this.client.send(
        new PutCommand({
          TableName: this.table,
          Item: env,
          ConditionExpression: 'attribute_not_exists(#s) OR #status = :destroyed',
          ExpressionAttributeNames: { '#s': 'stack', '#status': 'status' },
          ExpressionAttributeValues: { ':destroyed': 'destroyed' },
        }),
      );
      return env;
    } catch (e) {
      if ((e as Error).name === 'ConditionalCheckFailedException') {
        throw new EnvironmentExistsError(`stack ${env.stack} is already registered`);
      }
      throw e;
    }
  }

  /** Sets fields of a registered environment; fails when it is not registered. */
  public async update(stack: string, fields: Partial<Omit<Environment, 'stack'>>): Promise<Environment> {
    const entries = Object.entries({ ...fields, updatedAt: new Date().toISOString() }).filter(
      ([, v]) => v !== undefined,
    );
    const out = await this.client.send(
      new UpdateCommand({
        TableName: this.table,
        Key: { stack },
        UpdateExpression: `SET ${entries.map((_, i) => `#f${i} = :v${i}`).join(', ')}`,
        ConditionExpression: 'attribute_exists(#s)',
        ExpressionAttributeNames: { '#s': 'stack', ...Object.fromEntries(entries.map(([k], i) => [`#f${i}`, k])) },
        ExpressionAttributeValues: Object.fromEntries(entries.map(([, v], i) => [`:v${i}`, v])),
        ReturnValues: 'ALL_NEW',
      }),
    );
    return out.Attributes as Environment;
  }
}
