import { DeleteCommand, GetCommand, PutCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { ErrorCode } from '../domain/errors';

/** Who holds a stack: one mutating run (and the runs it starts) at a time. */
export interface StackLock {
  readonly stack: string;
  /** The run that took the lock; its child runs share it. */
  readonly holder: string;
  readonly workflow: string;
  readonly since: string;
  /** The holder's execution (its ARN): a later run asks Step Functions whether it still runs. */
  readonly execution?: string | undefined;
  /** When this lock was taken over from a holder that had ended: who, and how it had ended. */
  readonly takenOver?: LockTakeover | undefined;
}

/** A lock taken from a holder whose execution had ended without giving it back (a lost end event, a crash). */
export interface LockTakeover {
  readonly from: string;
  readonly workflow: string;
  readonly since: string;
  /** How the holder's execution had ended (SUCCEEDED, FAILED, ABORTED, TIMED_OUT), or GONE (no such execution). */
  readonly status: string;
  readonly at: string;
}

/** How a holder's execution stands: undefined while it runs, else how it ended (GONE: no such execution). */
export type ExecutionEnded = (executionArn: string) => Promise<string | undefined>;

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

  /**
   * Takes the stack for `owner` (or confirms it already holds it). A lock whose holder's execution has ended is
   * free: it is taken over — one conditional write on the very lock that was read, so two runs cannot both take it
   * — and the takeover is part of the answer. Throws StackLocked naming a holder that still runs.
   */
  public async acquire(
    stack: string,
    owner: string,
    workflow: string,
    options: { execution?: string; ended?: ExecutionEnded; now?: Date } = {},
  ): Promise<StackLock> {
    const now = options.now ?? new Date();
    const lock: StackLock = {
      stack,
      holder: owner,
      workflow,
      since: now.toISOString(),
      ...(options.execution ? { execution: options.execution } : {}),
    };
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
    }
    const held = await this.get(stack);
    if (!held) throw new StackLockedError(`stack ${stack} was locked a moment ago; try again`);
    const status = held.execution && options.ended ? await options.ended(held.execution) : undefined;
    if (status === undefined)
      throw new StackLockedError(
        `stack ${stack} is locked by run ${held.holder} (${held.workflow}) since ${held.since}; wait for it to end, or stop it`,
      );
    const takenOver: LockTakeover = {
      from: held.holder,
      workflow: held.workflow,
      since: held.since,
      status,
      at: now.toISOString(),
    };
    try {
      await this.db.send(
        new PutCommand({
          TableName: this.table,
          Item: { ...key(stack), ...lock, takenOver },
          // Exactly the lock that was read: another run that took it over first wins, and this one is refused.
          ConditionExpression: 'holder = :holder AND since = :since',
          ExpressionAttributeValues: { ':holder': held.holder, ':since': held.since },
        }),
      );
    } catch (e) {
      if ((e as Error).name !== 'ConditionalCheckFailedException') throw e;
      throw new StackLockedError(`stack ${stack} was taken over by another run a moment ago; try again`);
    }
    return { ...lock, takenOver };
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
    const { stack: s, holder, workflow, since, execution } = out.Item as StackLock;
    return { stack: s, holder, workflow, since, ...(execution ? { execution } : {}) };
  }
}
