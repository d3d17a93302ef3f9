import { isDeepStrictEqual } from 'node:util';
import { GetCommand, PutCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { SK } from './run';

/**
 * Who started a run, as Tropos itself knows it. Everything a caller writes — the input, its keys, the execution
 * name — can be forged from the Step Functions console. A handover is written by whoever starts a run on Tropos's
 * behalf (the API for a caller it authenticated, a run for its child, the drift sweep for each check) into the runs
 * table, which callers cannot write (IAM), keyed by the execution name, with the exact input it will start the
 * execution with. The run's first state uses it up (one execution only) and trusts it only when it is fresh (written
 * shortly before the execution started) and names the run's own workflow and input: a handover left behind by a
 * start that never happened cannot be picked up later.
 */
export interface Handover {
  /** The execution name the run will have. */
  readonly runId: string;
  readonly workflow: string;
  /** The input the execution is started with, exactly. */
  readonly input: Record<string, unknown>;
  readonly origin: 'api' | 'parent';
  /** The authenticated caller (the API's), or the parent run's. */
  readonly principal?: string | undefined;
  readonly parentRunId?: string | undefined;
  /** A child on its parent's stack works under the parent's lock: the run that holds it. */
  readonly lockOwner?: string | undefined;
  /** The commit of the infrastructure repository the parent resolved its stack at: the child works on it too. */
  readonly commit?: string | undefined;
  /** A retry (POST /runs/{id}/retry): the ended run whose succeeded work and approved plans it may reuse. */
  readonly retryOf?: string | undefined;
  readonly createdAt: string;
  /** The execution that used it up (its first state). */
  readonly consumedBy?: string;
}

/** How long before its execution started a handover may have been written (a start's retries included). */
export const HANDOVER_FRESH_MS = 15 * 60 * 1000;

/** How a run was started, resolved from its handover. */
export interface RunOrigin {
  /** `api`: a caller the API authenticated; `parent`: a run started it; `console`: any direct StartExecution. */
  readonly kind: 'api' | 'parent' | 'console';
  readonly principal?: string | undefined;
  readonly parentRunId?: string | undefined;
  readonly lockOwner?: string | undefined;
  /** The parent's commit (a child of a run that resolved its stack). */
  readonly commit?: string | undefined;
  /** The run this one retries (only ever from a handover: an input cannot claim another run's work). */
  readonly retryOf?: string | undefined;
}

/** The same JSON value (key order aside): compared as JSON, whatever realm or store the objects came from. */
function sameJson(a: unknown, b: unknown): boolean {
  return isDeepStrictEqual(JSON.parse(JSON.stringify(a ?? null)), JSON.parse(JSON.stringify(b ?? null)));
}

/** The run's origin: its handover's when that handover was for this workflow and exactly this input. */
export function originOf(handover: Handover | undefined, workflow: string, input: unknown): RunOrigin {
  if (!handover || handover.workflow !== workflow || !sameJson(handover.input, input)) return { kind: 'console' };
  return {
    kind: handover.origin,
    principal: handover.principal,
    parentRunId: handover.parentRunId,
    lockOwner: handover.lockOwner,
    commit: handover.commit,
    retryOf: handover.retryOf,
  };
}

/** Handovers in the runs table (item `HANDOVER` of the run): written once, before the execution is started. */
export class HandoverStore {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly table: string,
  ) {}

  /**
   * Writes the handover of a run about to be started. A second one for the same run id is refused: execution names
   * are unique per state machine, so an existing handover for the name is another start's (or a retry's, with the
   * same input: then it is kept).
   */
  public async put(h: Handover): Promise<void> {
    try {
      await this.db.send(
        new PutCommand({
          TableName: this.table,
          Item: { ...h, sk: SK.handover },
          ConditionExpression: 'attribute_not_exists(sk)',
        }),
      );
    } catch (e) {
      if ((e as Error).name !== 'ConditionalCheckFailedException') throw e;
      const existing = await this.get(h.runId);
      if (!existing || existing.workflow !== h.workflow || !sameJson(existing.input, h.input))
        throw new Error(`run ${h.runId} was handed over already, with another input`, { cause: e });
    }
  }

  /**
   * Uses up the run's handover for this execution: a conditional write that only the first execution of that name
   * (or a retry of the same first state) wins. Undefined when there is none, another execution used it, or it was
   * not written within HANDOVER_FRESH_MS before the execution started.
   */
  public async consume(runId: string, executionArn: string, startedAt: Date): Promise<Handover | undefined> {
    let item: Record<string, unknown> | undefined;
    try {
      const out = await this.db.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { runId, sk: SK.handover },
          UpdateExpression: 'SET consumedBy = :e',
          ConditionExpression: 'attribute_exists(sk) AND (attribute_not_exists(consumedBy) OR consumedBy = :e)',
          ExpressionAttributeValues: { ':e': executionArn },
          ReturnValues: 'ALL_NEW',
        }),
      );
      item = out.Attributes;
    } catch (e) {
      if ((e as Error).name === 'ConditionalCheckFailedException') return undefined;
      throw e;
    }
    if (!item) return undefined;
    const { sk: _sk, ...h } = item;
    const handover = h as unknown as Handover;
    const age = startedAt.getTime() - Date.parse(handover.createdAt);
    return age <= HANDOVER_FRESH_MS && age >= -60_000 ? handover : undefined;
  }

  public async get(runId: string): Promise<Handover | undefined> {
    const out = await this.db.send(
      new GetCommand({ TableName: this.table, Key: { runId, sk: SK.handover }, ConsistentRead: true }),
    );
    if (!out.Item) return undefined;
    const { sk: _sk, ...h } = out.Item;
    return h as Handover;
  }
}
