import { GetCommand, ScanCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { SK } from './run';

export type ApprovalDecision = 'approve' | 'reject';

export const APPROVAL_STATUSES = ['PENDING', 'APPROVED', 'REJECTED', 'EXPIRED'] as const;

/** An approval as shown: never with its task token. */
export interface ApprovalView {
  readonly approvalId: string;
  readonly runId: string;
  readonly workflow: string;
  readonly step: string;
  readonly stack: string;
  readonly tier?: string;
  readonly status: (typeof APPROVAL_STATUSES)[number];
  /** Who the run's input says asked for it (self-declared), and the caller Tropos authenticated for it. */
  readonly requestedBy?: string | null;
  readonly requestedByPrincipal?: string | null;
  readonly requestedAt: string;
  readonly expiresAt: string;
  readonly decidedBy?: string;
  readonly decidedAt?: string;
  readonly comment?: string;
  readonly plan?: unknown;
  /** An approval without a plan: the parameters the run will act with. */
  readonly parameters?: Record<string, string>;
}

/** Why a decision was refused; `status` is the HTTP status the API answers with. */
export class ApprovalRefused extends Error {
  constructor(
    public readonly status: 404 | 409,
    message: string,
  ) {
    super(message);
  }
}

/** `<runId>.<step>` → its key; run ids and step names hold no dots. */
function keyOf(approvalId: string): { runId: string; sk: string } {
  const dot = approvalId.lastIndexOf('.');
  if (dot <= 0) throw new ApprovalRefused(404, `no approval ${approvalId}: an approval id is <runId>.<step>`);
  return { runId: approvalId.slice(0, dot), sk: SK.approval(approvalId.slice(dot + 1)) };
}

function view(item: Record<string, unknown>, now: Date): ApprovalView {
  const { taskToken, sk, ...rest } = item; // never shown: the token is a secret, sk is the key
  const v = rest as unknown as ApprovalView;
  // Past its deadline an unanswered approval has expired (its task timed out: the run failed with ApprovalExpired).
  return v.status === 'PENDING' && Date.parse(v.expiresAt) <= now.getTime() ? { ...v, status: 'EXPIRED' } : v;
}

/** Approvals in the runs table: answered once, before their deadline, by a single conditional write. */
export class ApprovalStore {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly table: string,
  ) {}

  public async list(status: string | undefined, now = new Date()): Promise<ApprovalView[]> {
    const items: Record<string, unknown>[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const out = await this.db.send(
        new ScanCommand({
          TableName: this.table,
          FilterExpression: 'begins_with(sk, :a)',
          ExpressionAttributeValues: { ':a': 'APPROVAL#' },
          ExclusiveStartKey: start,
        }),
      );
      items.push(...(out.Items ?? []));
      start = out.LastEvaluatedKey;
    } while (start);
    return items
      .map((i) => view(i, now))
      .filter((a) => !status || a.status === status)
      .sort((a, b) => b.requestedAt.localeCompare(a.requestedAt));
  }

  /** One approval as shown; undefined when there is none. */
  public async get(approvalId: string, now = new Date()): Promise<ApprovalView | undefined> {
    const out = await this.db.send(
      new GetCommand({ TableName: this.table, Key: keyOf(approvalId), ConsistentRead: true }),
    );
    return out.Item ? view(out.Item, now) : undefined;
  }

  /** An answer came after its task ended (deadline passed, run stopped): the approval expired unanswered. */
  public async markExpired(approvalId: string): Promise<void> {
    await this.db.send(
      new UpdateCommand({
        TableName: this.table,
        Key: keyOf(approvalId),
        UpdateExpression: 'SET #status = :expired',
        ExpressionAttributeNames: { '#status': 'status' },
        ExpressionAttributeValues: { ':expired': 'EXPIRED' },
      }),
    );
  }

  /**
   * Records the decision if the approval is still pending and not expired, and takes its task token out of the
   * table in the same write (a used token is not kept); returns the approval with the token to answer (the caller
   * sends it to Step Functions and never shows it).
   */
  public async decide(
    approvalId: string,
    decision: ApprovalDecision,
    by: string,
    comment: string | undefined,
    now = new Date(),
  ): Promise<{ approval: ApprovalView; taskToken: string }> {
    const key = keyOf(approvalId);
    try {
      const out = await this.db.send(
        new UpdateCommand({
          TableName: this.table,
          Key: key,
          UpdateExpression:
            'SET #status = :status, decidedBy = :by, decidedAt = :at, #comment = :comment REMOVE taskToken',
          ConditionExpression: '#status = :pending AND expiresAt > :at',
          ExpressionAttributeNames: { '#status': 'status', '#comment': 'comment' },
          ExpressionAttributeValues: {
            ':status': decision === 'approve' ? 'APPROVED' : 'REJECTED',
            ':by': by,
            ':at': now.toISOString(),
            ':comment': comment ?? '',
            ':pending': 'PENDING',
          },
          ReturnValues: 'ALL_OLD',
        }),
      );
      const old = out.Attributes!;
      const decided = {
        ...old,
        status: decision === 'approve' ? 'APPROVED' : 'REJECTED',
        decidedBy: by,
        decidedAt: now.toISOString(),
        comment: comment ?? '',
      };
      return { approval: view(decided, now), taskToken: String(old.taskToken) };
    } catch (e) {
      if ((e as Error).name !== 'ConditionalCheckFailedException') throw e;
      const current = await this.db.send(new GetCommand({ TableName: this.table, Key: key, ConsistentRead: true }));
      if (!current.Item) throw new ApprovalRefused(404, `no approval ${approvalId}`);
      const v = view(current.Item, now);
      if (v.status === 'EXPIRED')
        throw new ApprovalRefused(
          409,
          `approval ${approvalId} expired at ${v.expiresAt}; the run failed with ApprovalExpired`,
        );
      throw new ApprovalRefused(
        409,
        `approval ${approvalId} was already answered: ${v.status.toLowerCase()} by ${v.decidedBy} at ${v.decidedAt}`,
      );
    }
  }
}
