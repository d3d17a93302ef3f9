import { RemovalPolicy } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import { Construct } from 'constructs';
import { TABLES } from '../records/environment';

/**
 * The DynamoDB tables: runs (a Run item, Step items, component-graph and approval items per run; listed by stack
 * through a GSI) and the environment registry (listed by tenant). Point-in-time recovery, encryption and deletion
 * protection on.
 */
export class Records extends Construct {
  public readonly runs: dynamodb.Table;
  public readonly environments: dynamodb.Table;

  constructor(scope: Construct, id: string) {
    super(scope, id);
    const common = {
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      encryption: dynamodb.TableEncryption.AWS_MANAGED,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      removalPolicy: RemovalPolicy.RETAIN,
      // RETAIN covers CloudFormation only: the ledger and the registry (the CIDR allocations) are refused to a
      // DeleteTable from the console, the CLI or a script too. Turning it off is a deliberate change of its own.
      deletionProtection: true,
    };
    const s = dynamodb.AttributeType.STRING;
    this.runs = new dynamodb.Table(this, 'Runs', {
      ...common,
      partitionKey: { name: TABLES.runs.partitionKey, type: s },
      sortKey: { name: TABLES.runs.sortKey, type: s },
    });
    this.runs.addGlobalSecondaryIndex({
      indexName: TABLES.runs.byStack.index,
      partitionKey: { name: TABLES.runs.byStack.partitionKey, type: s },
      sortKey: { name: TABLES.runs.byStack.sortKey, type: s },
    });
    this.environments = new dynamodb.Table(this, 'Environments', {
      ...common,
      partitionKey: { name: TABLES.environments.partitionKey, type: s },
    });
    this.environments.addGlobalSecondaryIndex({
      indexName: TABLES.environments.byTenant.index,
      partitionKey: { name: TABLES.environments.byTenant.partitionKey, type: s },
      sortKey: { name: TABLES.environments.byTenant.sortKey, type: s },
    });
  }
}
