import { DeleteCommand, GetCommand, PutCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { ErrorCode } from '../domain/errors';

/** Who holds a stack: one mutating run (and the runs it starts) at a time. */
export interface StackLock {
  readonly stack: string;
  /** The run that took the lock; its child runs share it. */
  readonly holder: string;
  readonly workflow: string;
  readonly since: string;
}

/** Thrown when another run holds the stack; `name` is the Step Functions error code `StackLocked`. */
export class StackLockedError extends Error {
  public override readonly name = ErrorCode.StackLocked;
}

/** The lock item of a stack, in the runs table. */
function key(stack: string) {
  return { runId: `LOCK#${stack}`, sk: 'LOCK' };
}

/** Stack locks: one conditional write to take, one to give back. */
export class StackLocks {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly table: string,
  ) {}

  /** Takes the stack for `owner` (or confirms it already holds it); throws StackLocked naming the holder. */
  public async acquire(stack: string, owner: string, workflow: string, now = new Date()): Promise<StackLock> {
    const lock: StackLock = { stack, holder: owner, workflow, since: now.toISOString() };
    try {
      await this.db.send(
        new PutCommand({
          TableName: this.table,
          Item: { ...key(stack), ...lock },
          ConditionExpression: 'attribute_not_exists(runId) OR holder = :owner',
          ExpressionAttributeValues: { ':owner': owner },
        }),
      );
      return lock;
    } catch (e) {
      if ((e as Error).name !== 'ConditionalCheckFailedException') throw e;
      const held = await this.get(stack);
      throw new StackLockedError(
        held
          ? `stack ${stack} is locked by run ${held.holder} (${held.workflow}) since ${held.since}; wait for it to end, or stop it`
          : `stack ${stack} was locked a moment ago; try again`,
      );
    }
  }

  /** Gives the stack back if `owner` holds it; false when it did not. */
  public async release(stack: string, owner: string): Promise<boolean> {
    try {
      await this.db.send(
        new DeleteCommand({
          TableName: this.table,
          Key: key(stack),
          ConditionExpression: 'holder = :owner',
          ExpressionAttributeValues: { ':owner': owner },
        }),
      );
      return true;
    } catch (e) {
      if ((e as Error).name === 'ConditionalCheckFailedException') return false;
      throw e;
    }
  }

  public async get(stack: string): Promise<StackLock | undefined> {
    const out = await this.db.send(new GetCommand({ TableName: this.table, Key: key(stack), ConsistentRead: true }));
    if (!out.Item) return undefined;
    const { stack: s, holder, workflow, since } = out.Item as StackLock;
    return { stack: s, holder, workflow, since };
  }
}
