import { isDeepStrictEqual } from 'node:util';
import { GetCommand, PutCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { SK } from './run';

/**
 * Who started a run, as Tropos itself knows it. Everything a caller writes — the input, its keys, the execution
 * name — can be forged from the Step Functions console; a handover cannot: whoever starts a run on Tropos's behalf
 * (the API for a caller it authenticated, a run for its child, the drift sweep for each check) first writes one into
 * the runs table, which callers cannot write (IAM), keyed by the execution name, with the exact input it will start
 * the execution with. The run's first state trusts the handover only when its own workflow and input are those.
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
  readonly createdAt: string;
}

/** How a run was started, resolved from its handover. */
export interface RunOrigin {
  /** `api`: a caller the API authenticated; `parent`: a run started it; `console`: any direct StartExecution. */
  readonly kind: 'api' | 'parent' | 'console';
  readonly principal?: string | undefined;
  readonly parentRunId?: string | undefined;
  readonly lockOwner?: string | undefined;
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

  public async get(runId: string): Promise<Handover | undefined> {
    const out = await this.db.send(
      new GetCommand({ TableName: this.table, Key: { runId, sk: SK.handover }, ConsistentRead: true }),
    );
    if (!out.Item) return undefined;
    const { sk: _sk, ...h } = out.Item;
    return h as Handover;
  }
}
