import { CreateTableCommand, DynamoDBClient, ResourceInUseException } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { TABLES } from '../records/environment';

/** A local DynamoDB-compatible server (dynalite) on loopback, in memory or persisted under a folder. */
export interface LocalDynamo {
  readonly endpoint: string;
  readonly client: DynamoDBClient;
  readonly documents: DynamoDBDocumentClient;
  close(): Promise<void>;
}

export async function startLocalDynamo(options: { path?: string; port?: number } = {}): Promise<LocalDynamo> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const dynalite = require('dynalite') as (opts: Record<string, unknown>) => Server;
  const server = dynalite({
    createTableMs: 0,
    deleteTableMs: 0,
    updateTableMs: 0,
    ...(options.path ? { path: options.path } : {}),
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const endpoint = `http://127.0.0.1:${port}`;
  const client = new DynamoDBClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  return {
    endpoint,
    client,
    documents: DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } }),
    close: async () => {
      client.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** The table names the local engine uses (the deployed ones come from CloudFormation). */
export const LOCAL_TABLE_NAMES = { runs: 'tropos-runs', environments: 'tropos-environments' } as const;

/** Creates the runs and environments tables with the keys and indexes of the deployed ones; existing ones are kept. */
export async function createTables(
  client: DynamoDBClient,
  names: { runs: string; environments: string } = LOCAL_TABLE_NAMES,
): Promise<void> {
  const S = 'S' as const;
  const runs = TABLES.runs;
  const envs = TABLES.environments;
  const definitions = [
    {
      TableName: names.runs,
      AttributeDefinitions: [runs.partitionKey, runs.sortKey, runs.byStack.partitionKey, runs.byStack.sortKey].map(
        (n) => ({ AttributeName: n, AttributeType: S }),
      ),
      KeySchema: [
        { AttributeName: runs.partitionKey, KeyType: 'HASH' as const },
        { AttributeName: runs.sortKey, KeyType: 'RANGE' as const },
      ],
      GlobalSecondaryIndexes: [
        {
          IndexName: runs.byStack.index,
          KeySchema: [
            { AttributeName: runs.byStack.partitionKey, KeyType: 'HASH' as const },
            { AttributeName: runs.byStack.sortKey, KeyType: 'RANGE' as const },
          ],
          Projection: { ProjectionType: 'ALL' as const },
        },
      ],
    },
    {
      TableName: names.environments,
      AttributeDefinitions: [envs.partitionKey, envs.byTenant.partitionKey].map((n) => ({
        AttributeName: n,
        AttributeType: S,
      })),
      KeySchema: [{ AttributeName: envs.partitionKey, KeyType: 'HASH' as const }],
      GlobalSecondaryIndexes: [
        {
          IndexName: envs.byTenant.index,
          KeySchema: [
            { AttributeName: envs.byTenant.partitionKey, KeyType: 'HASH' as const },
            { AttributeName: envs.byTenant.sortKey, KeyType: 'RANGE' as const },
          ],
          Projection: { ProjectionType: 'ALL' as const },
        },
      ],
    },
  ];
  for (const def of definitions) {
    try {
      await client.send(new CreateTableCommand({ ...def, BillingMode: 'PAY_PER_REQUEST' }));
    } catch (e) {
      if (!(e instanceof ResourceInUseException)) throw e;
    }
  }
}
