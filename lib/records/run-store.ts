import { randomUUID } from 'node:crypto';
import {
  BatchWriteCommand,
  DeleteCommand,
  GetCommand,
  PutCommand,
  QueryCommand,
  type QueryCommandInput,
  ScanCommand,
  UpdateCommand,
  type DynamoDBDocumentClient,
} from '@aws-sdk/lib-dynamodb';
import type { ResolvedComponent, ResolvedStack } from '../domain/resolved';
import { TABLES } from './environment';
import { CallbackRecord, ComponentRecord, Run, RunDetail, RunStatus, SK, StepRecord } from './run';

/** Fields never returned by reads: task tokens are secrets. */
const SECRET_FIELDS = ['taskToken'];

function clean<T>(item: Record<string, unknown>): T {
  const copy = { ...item };
  for (const f of SECRET_FIELDS) delete copy[f];
  delete copy.sk;
  return copy as T;
}

/** Sets the given fields of an item (creating it), with single-item writes only. */
async function setFields(
  db: DynamoDBDocumentClient,
  table: string,
  key: Record<string, string>,
  fields: Record<string, unknown>,
  condition?: string,
  extra?: { names: Record<string, string>; values: Record<string, unknown> },
) {
  const entries = Object.entries(fields).filter(([, v]) => v !== undefined);
  if (entries.length === 0) return;
  await db.send(
    new UpdateCommand({
      TableName: table,
      Key: key,
      UpdateExpression: `SET ${entries.map((_, i) => `#f${i} = :v${i}`).join(', ')}`,
      ExpressionAttributeNames: {
        ...Object.fromEntries(entries.map(([k], i) => [`#f${i}`, k])),
        ...extra?.names,
      },
      ExpressionAttributeValues: {
        ...Object.fromEntries(entries.map(([, v], i) => [`:v${i}`, v])),
        ...extra?.values,
      },
      ...(condition ? { ConditionExpression: condition } : {}),
    }),
  );
}

/** Every item a query matches, page after page. */
export async function queryAll(
  db: DynamoDBDocumentClient,
  input: Omit<QueryCommandInput, 'ExclusiveStartKey'>,
): Promise<Record<string, unknown>[]> {
  const items: Record<string, unknown>[] = [];
  let start: Record<string, unknown> | undefined;
  do {
    const out = await db.send(new QueryCommand({ ...input, ExclusiveStartKey: start }));
    items.push(...(out.Items ?? []));
    start = out.LastEvaluatedKey;
  } while (start);
  return items;
}

/** Puts items 25 at a time, retrying what DynamoDB leaves unprocessed. */
export async function batchPut(db: DynamoDBDocumentClient, table: string, items: readonly Record<string, unknown>[]) {
  for (let i = 0; i < items.length; i += 25) {
    let requests: Record<string, unknown>[] | undefined = items
      .slice(i, i + 25)
      .map((Item) => ({ PutRequest: { Item } }));
    for (let attempt = 0; requests && requests.length > 0; attempt++) {
      if (attempt > 8)
        throw new Error(`cannot write ${items.length} items to ${table}: DynamoDB kept them unprocessed`);
      if (attempt > 0) await new Promise((r) => setTimeout(r, 50 * 2 ** attempt));
      const out = await db.send(new BatchWriteCommand({ RequestItems: { [table]: requests as never } }));
      requests = out.UnprocessedItems?.[table] as Record<string, unknown>[] | undefined;
    }
  }
}

/** The fields of a Run its first state writes (see recordStart). */
export type RunStart = Partial<
  Pick<
    Run,
    | 'workflow'
    | 'stack'
    | 'startedAt'
    | 'startedBy'
    | 'origin'
    | 'principal'
    | 'parentRunId'
    | 'lockOwner'
    | 'retryOf'
    | 'retriedBy'
    | 'requestedBy'
    | 'ticketId'
    | 'callbackUrl'
    | 'dryRun'
    | 'tier'
    | 'lockTakenOver'
    | 'stopRequested'
    | 'unlocked'
  >
>;

export interface RunFilter {
  readonly stack?: string | undefined;
  readonly workflow?: string | undefined;
  readonly status?: string | undefined;
  readonly parentRunId?: string | undefined;
  readonly limit?: number | undefined;
}

/** A callback claim this old belongs to a ledger invocation that is over (Lambda lives at most 15 minutes); the
 * ledger passes its own, shorter timeout. */
export const CALLBACK_CLAIM_STALE_MS = 15 * 60 * 1000;

/** The run ledger in DynamoDB. */
export class RunStore {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly table: string,
  ) {}

  /**
   * Records a run's status. A RUNNING event never overwrites an end (events can arrive out of order); an end is
   * written once.
   */
  public async recordRun(run: Run): Promise<void> {
    const { runId, status, ...rest } = run;
    await this.setUnlessEnded({ runId, sk: SK.run }, status, rest);
  }

  /**
   * What the run's first state resolved: its validated stack and who started it. Never the status (the ledger's),
   * so it cannot bring an ended run back; `undefined` fields are left as they are.
   */
  public async recordStart(runId: string, fields: RunStart): Promise<void> {
    await setFields(this.db, this.table, { runId, sk: SK.run }, { ...fields });
  }

  public async recordComponent(c: ComponentRecord): Promise<void> {
    const { runId, step, component, status, ...rest } = c;
    await this.setUnlessEnded({ runId, sk: SK.component(step, component) }, status, { step, component, ...rest });
  }

  /**
   * Sets a record's fields. A RUNNING status never overwrites an end: state-change events can arrive out of
   * order (EventBridge does not keep order), and a late "started" must not bring an ended run back.
   */
  private async setUnlessEnded(
    key: Record<string, string>,
    status: string,
    fields: Record<string, unknown>,
  ): Promise<void> {
    try {
      // `status` first: the condition names it as #f0.
      await setFields(
        this.db,
        this.table,
        key,
        { status, ...fields },
        status === 'RUNNING' ? 'attribute_not_exists(#f0) OR #f0 = :v0' : undefined,
      );
    } catch (e) {
      if ((e as Error).name !== 'ConditionalCheckFailedException') throw e;
    }
  }

  /** Claims the sending of a run's callback: true once, false for every later delivery of the same end event. */
  /**
   * Claims the delivery of a run's callback: once, unless the claim is older than a ledger invocation can live
   * (`staleAfterMs`: it died mid-delivery, and this delivery of the event takes it over, with the same delivery id).
   * Undefined when another invocation holds it, or it was delivered or failed for good.
   */
  public async claimCallback(
    runId: string,
    url: string,
    now = new Date(),
    staleAfterMs = CALLBACK_CLAIM_STALE_MS,
  ): Promise<{ claimedAt: string; delivery: string } | undefined> {
    const claimedAt = now.toISOString();
    const sending: CallbackRecord = { url, status: 'SENDING', attempts: [], claimedAt, delivery: randomUUID() };
    try {
      const out = await this.db.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { runId, sk: SK.run },
          UpdateExpression: 'SET #c = :c',
          ConditionExpression: 'attribute_not_exists(#c) OR (#c.#s = :sending AND #c.#at < :stale)',
          ExpressionAttributeNames: { '#c': 'callback', '#s': 'status', '#at': 'claimedAt' },
          ExpressionAttributeValues: {
            ':c': sending,
            ':sending': 'SENDING',
            ':stale': new Date(now.getTime() - staleAfterMs).toISOString(),
          },
          ReturnValues: 'UPDATED_OLD',
        }),
      );
      const earlier = (out.Attributes?.callback as CallbackRecord | undefined)?.delivery;
      if (!earlier) return { claimedAt, delivery: sending.delivery! };
      // Taken over: the receiver may have the earlier attempts' body already; the same id lets it tell.
      await setFields(this.db, this.table, { runId, sk: SK.run }, { callback: { ...sending, delivery: earlier } });
      return { claimedAt, delivery: earlier };
    } catch (e) {
      if ((e as Error).name === 'ConditionalCheckFailedException') return undefined;
      throw e;
    }
  }

  /** Records how a delivery ended, if its claim is still the one given (a takeover's record wins). */
  public async recordCallback(runId: string, callback: CallbackRecord, claimedAt?: string): Promise<boolean> {
    try {
      await this.db.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { runId, sk: SK.run },
          UpdateExpression: 'SET #c = :c',
          ...(claimedAt
            ? {
                ConditionExpression: '#c.#at = :at',
                ExpressionAttributeNames: { '#c': 'callback', '#at': 'claimedAt' },
                ExpressionAttributeValues: { ':c': callback, ':at': claimedAt },
              }
            : { ExpressionAttributeNames: { '#c': 'callback' }, ExpressionAttributeValues: { ':c': callback } }),
        }),
      );
      return true;
    } catch (e) {
      if ((e as Error).name === 'ConditionalCheckFailedException') return false;
      throw e;
    }
  }

  /**
   * The stack the run's resolve build read from the repository: on the run (commit, engine, how many components,
   * what was left out) and one item per component (`RESOLVED#<component>`: its dependencies and folder).
   */
  public async recordResolved(runId: string, stack: ResolvedStack): Promise<void> {
    await setFields(
      this.db,
      this.table,
      { runId, sk: SK.run },
      {
        commit: stack.commit,
        resolved: {
          engine: stack.engine,
          ...(stack.name && stack.name !== stack.stack ? { name: stack.name } : {}),
          components: stack.components.length,
          ...(stack.ignored.length > 0 ? { ignored: stack.ignored.slice(0, 50) } : {}),
        },
      },
    );
    const items = stack.components.map((c) => ({
      runId,
      sk: SK.resolved(c.name),
      component: c.name,
      dependsOn: [...c.dependsOn],
      folder: c.folder,
      ...(c.workspace ? { workspace: c.workspace } : {}),
      ...(c.stateKey ? { stateKey: c.stateKey } : {}),
    }));
    await batchPut(this.db, this.table, items);
  }

  /** The run's "Resolve stack" build: its status, log and message (an end is not overwritten by a late start). */
  public async recordResolveBuild(runId: string, build: NonNullable<Run['resolveBuild']>): Promise<void> {
    try {
      await setFields(
        this.db,
        this.table,
        { runId, sk: SK.run },
        { resolveBuild: build },
        build.status === 'RUNNING' ? 'attribute_not_exists(resolveBuild) OR resolveBuild.#s = :running' : undefined,
        build.status === 'RUNNING' ? { names: { '#s': 'status' }, values: { ':running': 'RUNNING' } } : undefined,
      );
    } catch (e) {
      if ((e as Error).name !== 'ConditionalCheckFailedException') throw e;
    }
  }

  /** The run's resolved components (empty when its stack was not resolved). */
  public async resolvedComponents(runId: string): Promise<ResolvedComponent[]> {
    const items = await this.queryPrefix(runId, SK.resolved(''));
    return items.map((i) => ({
      name: String(i.component),
      dependsOn: (i.dependsOn ?? []) as string[],
      folder: String(i.folder ?? i.component),
      workspace: i.workspace as string | undefined,
      stateKey: i.stateKey as string | undefined,
    }));
  }

  /** The component records of one step of a run. */
  public async components(runId: string, step: string): Promise<ComponentRecord[]> {
    return (await this.queryPrefix(runId, SK.component(step, ''))).map((i) => clean<ComponentRecord>(i));
  }

  /**
   * How long each component's builds of a terraform command last on this stack, from its latest runs (the newest
   * build that succeeded, not a reused record): the worker pool's estimate for critical-path scheduling. At most
   * `runs` runs are read, the run asking left out.
   */
  public async recentBuildSeconds(
    stack: string,
    command: string,
    except: string,
    runs = 5,
  ): Promise<Map<string, number>> {
    const out = await this.db.send(
      new QueryCommand({
        TableName: this.table,
        IndexName: TABLES.runs.byStack.index,
        KeyConditionExpression: '#s = :s',
        ExpressionAttributeNames: { '#s': 'stack' },
        ExpressionAttributeValues: { ':s': stack },
        ScanIndexForward: false,
        Limit: runs + 1,
      }),
    );
    const recent = (out.Items ?? [])
      .filter((i) => i.sk === SK.run && i.runId !== except)
      .map((i) => String(i.runId))
      .slice(0, runs);
    const seconds = new Map<string, number>();
    const records = await Promise.all(recent.map((r) => this.queryPrefix(r, 'COMPONENT#')));
    for (const record of records.flat().map((i) => clean<ComponentRecord>(i))) {
      if (seconds.has(record.component) || record.command !== command || record.status !== 'SUCCEEDED') continue;
      if (record.reusedFrom || !record.startedAt || !record.endedAt) continue;
      const s = (Date.parse(record.endedAt) - Date.parse(record.startedAt)) / 1000;
      if (Number.isFinite(s) && s >= 0) seconds.set(record.component, s);
    }
    return seconds;
  }

  public async component(runId: string, step: string, component: string): Promise<ComponentRecord | undefined> {
    const out = await this.db.send(
      new GetCommand({
        TableName: this.table,
        Key: { runId, sk: SK.component(step, component) },
        ConsistentRead: true,
      }),
    );
    return out.Item ? clean<ComponentRecord>(out.Item) : undefined;
  }

  private async queryPrefix(runId: string, prefix: string): Promise<Record<string, unknown>[]> {
    return queryAll(this.db, {
      TableName: this.table,
      KeyConditionExpression: 'runId = :r AND begins_with(sk, :p)',
      ExpressionAttributeValues: { ':r': runId, ':p': prefix },
      ConsistentRead: true,
    });
  }

  public async recordStep(s: StepRecord): Promise<void> {
    const { runId, step, ...fields } = s;
    await setFields(this.db, this.table, { runId, sk: SK.step(step) }, { step, ...fields });
  }

  public async getRun(runId: string): Promise<Run | undefined> {
    const out = await this.db.send(
      new GetCommand({ TableName: this.table, Key: { runId, sk: SK.run }, ConsistentRead: true }),
    );
    return out.Item ? runOf(out.Item) : undefined;
  }

  /**
   * A step's single build is about to start (written before StartBuild, removed when the step records its end): in
   * flight for a stop from this moment, not only once the ledger has seen the build start.
   */
  public async markStarting(runId: string, step: string, component: string): Promise<void> {
    await this.db.send(
      new PutCommand({
        TableName: this.table,
        Item: { runId, sk: `${SK.starting}${step}#${component}`, step, component, at: new Date().toISOString() },
      }),
    );
  }

  public async clearStarting(runId: string, step: string, component: string): Promise<void> {
    await this.db.send(
      new DeleteCommand({ TableName: this.table, Key: { runId, sk: `${SK.starting}${step}#${component}` } }),
    );
  }

  /**
   * The builds of a run that are in flight: components a worker pool handed out and has not heard back from, and
   * single builds about to start, or that the ledger saw start and not end. A stop lets these end; nothing new
   * starts.
   */
  public async inFlight(runId: string): Promise<{ step: string; component: string }[]> {
    const items = await queryAll(this.db, {
      TableName: this.table,
      KeyConditionExpression: 'runId = :r',
      ExpressionAttributeValues: { ':r': runId },
      ConsistentRead: true,
    });
    const found = new Map<string, { step: string; component: string }>();
    for (const i of items) {
      const sk = String(i.sk);
      const pool = /^GRAPH#(.+)#C#(.+)$/.exec(sk);
      if (pool && i.state === 'RUNNING') found.set(`${pool[1]}/${pool[2]}`, { step: pool[1]!, component: pool[2]! });
      if ((sk.startsWith('COMPONENT#') && i.status === 'RUNNING') || sk.startsWith(SK.starting))
        found.set(`${String(i.step)}/${String(i.component)}`, { step: String(i.step), component: String(i.component) });
    }
    return [...found.values()];
  }

  /** A run with its steps, components and approvals; undefined when there is no such run. */
  public async getRunDetail(runId: string): Promise<RunDetail | undefined> {
    const items = await queryAll(this.db, {
      TableName: this.table,
      KeyConditionExpression: 'runId = :r',
      ExpressionAttributeValues: { ':r': runId },
      ConsistentRead: true,
    });
    const run = items.find((i) => i.sk === SK.run);
    if (!run) return undefined;
    const of = (prefix: string) => items.filter((i) => String(i.sk).startsWith(prefix));
    return {
      run: runOf(run),
      steps: of('STEP#').map((i) => clean<StepRecord>(i)),
      components: of('COMPONENT#')
        .map((i) => clean<ComponentRecord>(i))
        .sort((a, b) => (a.startedAt ?? a.endedAt ?? '').localeCompare(b.startedAt ?? b.endedAt ?? '')),
      approvals: of('APPROVAL#').map((i) => clean<Record<string, unknown>>(i)),
      resolved: of(SK.resolved('')).map((i) => ({
        component: String(i.component),
        dependsOn: (i.dependsOn ?? []) as string[],
      })),
    };
  }

  /** Runs, newest first; by stack through the index, otherwise a scan of the run items. */
  public async listRuns(filter: RunFilter = {}): Promise<Run[]> {
    const runs: Run[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const out = filter.stack
        ? await this.db.send(
            new QueryCommand({
              TableName: this.table,
              IndexName: TABLES.runs.byStack.index,
              KeyConditionExpression: '#s = :s',
              ExpressionAttributeNames: { '#s': 'stack' },
              ExpressionAttributeValues: { ':s': filter.stack },
              ScanIndexForward: false,
              ExclusiveStartKey: start,
            }),
          )
        : await this.db.send(
            new ScanCommand({
              TableName: this.table,
              FilterExpression: 'sk = :run',
              ExpressionAttributeValues: { ':run': SK.run },
              ExclusiveStartKey: start,
            }),
          );
      runs.push(...(out.Items ?? []).filter((i) => i.sk === SK.run).map((i) => runOf(i)));
      start = out.LastEvaluatedKey;
    } while (start);
    return runs
      .filter(
        (r) =>
          (!filter.workflow || r.workflow === filter.workflow) &&
          (!filter.status || r.status === filter.status) &&
          (!filter.parentRunId || r.parentRunId === filter.parentRunId),
      )
      .sort((a, b) => (b.startedAt ?? '').localeCompare(a.startedAt ?? ''))
      .slice(0, filter.limit ?? 100);
  }
}

export function isTerminal(status: RunStatus): boolean {
  return status !== 'RUNNING';
}

/**
 * A run item as readers see it. One of the run's own tasks may write its item before the run ledger records its
 * start (a build's event, a function's record: events arrive in any order): such a run has started, and is
 * RUNNING until the ledger says otherwise.
 */
function runOf(item: Record<string, unknown>): Run {
  return clean<Run>({ status: 'RUNNING', ...item });
}
