import {
  DeleteCommand,
  GetCommand,
  PutCommand,
  QueryCommand,
  ScanCommand,
  UpdateCommand,
  type DynamoDBDocumentClient,
} from '@aws-sdk/lib-dynamodb';
import { overlaps, parseCidr } from '../domain/cidr';
import type { SeenStack } from '../domain/resolved';
import {
  Environment,
  EnvironmentReader,
  EnvironmentStatus,
  HOLDING_STATUSES,
  REGISTRY_KEYS,
  TABLES,
} from './environment';

/** No stack or tenant name is longer; a longer key is not looked up. */
const MAX_KEY_LENGTH = 256;

/** The environment registry in DynamoDB. */
export class EnvironmentStore implements EnvironmentReader {
  constructor(
    protected readonly db: DynamoDBDocumentClient,
    protected readonly tableName: string,
  ) {}

  public async get(stack: string): Promise<Environment | undefined> {
    // Longer than any stack name can be (and than DynamoDB allows a key): not registered.
    if (!REGISTRY_KEYS.isEnvironment(stack) || stack.length > MAX_KEY_LENGTH) return undefined;
    const out = await this.db.send(new GetCommand({ TableName: this.tableName, Key: { stack }, ConsistentRead: true }));
    return out.Item as Environment | undefined;
  }

  public async byName(name: string): Promise<Environment | undefined> {
    const own = await this.get(name);
    if (own || name.length > MAX_KEY_LENGTH) return own;
    const out = await this.db.send(
      new GetCommand({ TableName: this.tableName, Key: { stack: REGISTRY_KEYS.name(name) }, ConsistentRead: true }),
    );
    const target: unknown = out.Item?.target;
    return typeof target === 'string' ? this.get(target) : undefined;
  }

  public async listByTenant(tenant: string): Promise<Environment[]> {
    if (tenant.length > MAX_KEY_LENGTH) return [];
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

  /** Every environment (of one tenant, with one status, when asked), ordered by stack name. */
  public async list(filter: { tenant?: string | undefined; status?: EnvironmentStatus | undefined } = {}) {
    let items: Environment[];
    if (filter.tenant) items = await this.listByTenant(filter.tenant);
    else {
      items = [];
      let start: Record<string, unknown> | undefined;
      do {
        const out = await this.db.send(
          new ScanCommand({ TableName: this.tableName, ExclusiveStartKey: start, ConsistentRead: true }),
        );
        items.push(...((out.Items ?? []) as Environment[]).filter((e) => REGISTRY_KEYS.isEnvironment(e.stack)));
        start = out.LastEvaluatedKey;
      } while (start);
    }
    return items
      .filter((e) => !filter.status || e.status === filter.status)
      .sort((a, b) => a.stack.localeCompare(b.stack));
  }
}

/** Thrown when a stack is registered and holds its name; `name` is a Step Functions error code. */
export class EnvironmentExistsError extends Error {
  public override readonly name = 'EnvironmentExists';
  constructor(
    message: string,
    public readonly existing?: Environment,
  ) {
    super(message);
  }
}

/** Thrown when a VPC CIDR overlaps one the tenant already holds; `name` is a Step Functions error code. */
export class CidrOverlapError extends Error {
  public override readonly name = 'CidrOverlap';
  constructor(
    public readonly cidr: string,
    public readonly overlapping: { readonly stack: string; readonly vpcCidr: string },
  ) {
    super(
      `${cidr} overlaps ${overlapping.vpcCidr} of ${overlapping.stack}; choose a block that overlaps no registered environment`,
    );
  }
}

/** One block in a tenant's allocation (keyed by stack): the run that allocated it, and since when. */
export interface Held {
  readonly cidr: string;
  readonly runId: string;
  readonly at: string;
}

interface Allocation {
  readonly version: number;
  readonly cidrs: Readonly<Record<string, Held>>;
}

/** An allocation entry this young whose environment is not registered yet belongs to an onboarding in flight. */
export const IN_FLIGHT_MS = 5 * 60 * 1000;

/**
 * Whether an allocated block still belongs to its stack, given the stack's registration (if any):
 *  - registered and holding (onboarding, active): yes;
 *  - registered by the run that allocated it, but failed or destroyed: no (the release did not finish);
 *  - not registered yet, or registered by another run: only while young — an onboarding allocates before it
 *    registers, and one that died in between leaves an entry that expires after IN_FLIGHT_MS.
 */
export function isHeld(env: Pick<Environment, 'status' | 'runId'> | undefined, held: Held, now: number): boolean {
  if (env && HOLDING_STATUSES.includes(env.status)) return true;
  if (env && env.runId === held.runId) return false;
  return now - Date.parse(held.at) < IN_FLIGHT_MS;
}
const MAX_ATTEMPTS = 25;

/**
 * Writes to the registry: single-item conditional writes only (the local server has no transactions).
 *
 * CIDR allocation is race-free through one item per tenant that holds every block of the tenant and a version:
 * an onboarding reads it, checks its block against every held one, and writes it back with its block added only
 * if the version is still the one it read. Of two concurrent onboardings with overlapping blocks, one write
 * wins; the other reads again, finds the overlap, and is refused with CidrOverlap.
 */
export class EnvironmentWriter extends EnvironmentStore {
  /**
   * Registers an environment: allocates its CIDR, then writes it if its stack is free (never registered, or
   * destroyed, or failed). Registering again for the same run (the API registers before the run's own
   * register step) returns the registration.
   */
  public async register(env: Environment): Promise<Environment> {
    const existing = await this.get(env.stack);
    if (existing && HOLDING_STATUSES.includes(existing.status)) {
      if (existing.status === 'onboarding' && existing.runId !== undefined && existing.runId === env.runId)
        return existing;
      throw new EnvironmentExistsError(
        `stack ${env.stack} is already registered (status ${existing.status}${existing.runId ? `, run ${existing.runId}` : ''})`,
        existing,
      );
    }
    const holds = !!env.vpcCidr && HOLDING_STATUSES.includes(env.status);
    if (holds) await this.allocate(env);
    try {
      await this.db.send(
        new PutCommand({
          TableName: this.tableName,
          Item: env,
          // The same run's onboarding again (a concurrent resume, or an SDK retry of a write that was applied) is
          // the same registration: written again, not refused (refusing would give back the run's own block).
          ConditionExpression:
            'attribute_not_exists(#s) OR #status IN (:destroyed, :failed) OR (#status = :onboarding AND #run = :run)',
          ExpressionAttributeNames: { '#s': 'stack', '#status': 'status', '#run': 'runId' },
          ExpressionAttributeValues: {
            ':destroyed': 'destroyed',
            ':failed': 'failed',
            ':onboarding': 'onboarding',
            ':run': env.runId ?? '',
          },
        }),
      );
      return env;
    } catch (e) {
      if ((e as Error).name !== 'ConditionalCheckFailedException') throw e;
      if (holds) await this.release(env.tenant, env.stack, env.runId);
      throw new EnvironmentExistsError(`stack ${env.stack} is already registered`);
    }
  }

  /**
   * The stacks the repository defines (every run's resolve reads them all). A stack Tropos has no record of is
   * registered `active` (source `repository`) with the network block its vars give, allocated — so that no
   * onboarding is ever given a block an existing stack uses. A registered stack (whatever its status) is left as
   * it is. Each stack's own name in the repository is recorded for it (a run may ask for it by that name: the
   * name the repository gave it last wins). Returns what could not be recorded, and why (a block that overlaps one
   * held already, say).
   */
  public async recordSeen(stacks: readonly SeenStack[], runId: string): Promise<string[]> {
    const problems: string[] = [];
    for (const s of stacks) {
      if (!s.tenant || !s.account || !s.environment) continue;
      if (s.name && s.name !== s.stack && s.name.length <= MAX_KEY_LENGTH)
        await this.db.send(
          new PutCommand({
            TableName: this.tableName,
            Item: { stack: REGISTRY_KEYS.name(s.name), target: s.stack, runId, updatedAt: new Date().toISOString() },
          }),
        );
      const known = await this.get(s.stack);
      const name = s.name && s.name !== s.stack ? s.name : undefined;
      if (known && name && known.name !== name) await this.update(s.stack, { name });
      if (known) continue;
      const cidr = s.vpcCidr && parseCidr(s.vpcCidr).ok ? s.vpcCidr : undefined;
      if (s.vpcCidr && !cidr) problems.push(`${s.stack}: vpc_cidr "${s.vpcCidr}" is not a CIDR block; not allocated`);
      const at = new Date().toISOString();
      const env: Environment = {
        stack: s.stack,
        tenant: s.tenant,
        account: s.account,
        environment: s.environment,
        region: s.region ?? '',
        tier: '', // the account's, from the configuration
        vpcCidr: cidr,
        status: 'active',
        source: 'repository',
        name,
        runId,
        createdAt: at,
        updatedAt: at,
      };
      try {
        await this.register(env);
      } catch (e) {
        if (e instanceof EnvironmentExistsError) continue; // registered meanwhile
        if (!(e instanceof CidrOverlapError)) throw e;
        problems.push(`${s.stack}: ${e.message}; recorded without its block`);
        await this.register({ ...env, vpcCidr: undefined }).catch((again: unknown) => {
          if (!(again instanceof EnvironmentExistsError)) throw again;
        });
      }
    }
    return problems;
  }

  /** Sets fields of a registered environment; fails when it is not registered. */
  public async update(stack: string, fields: Partial<Omit<Environment, 'stack'>>): Promise<Environment> {
    return (await this.updateIf(stack, fields))!;
  }

  /**
   * Marks an onboarding failed, with the reason, and gives its CIDR back — only if the environment is still
   * onboarding for this run (a later run's registration is left alone). Undefined when there was nothing to mark.
   */
  public async markFailed(
    stack: string,
    runId: string,
    failure: { error: string; cause: string },
  ): Promise<Environment | undefined> {
    const env = await this.updateIf(
      stack,
      { status: 'failed', failure: { ...failure, at: new Date().toISOString() } },
      { status: 'onboarding', runId },
    );
    if (env) await this.release(env.tenant, stack, runId);
    return env;
  }

  /** Marks an environment destroyed and gives its CIDR back. */
  public async markDestroyed(stack: string, runId: string): Promise<Environment> {
    // Only the registration that was read is marked destroyed, and only its block released: a re-onboarding
    // that registered meanwhile is refused here, one that allocated since keeps its block.
    const prior = await this.get(stack);
    if (!prior) throw new Error(`stack ${stack} is not registered`);
    const env = await this.updateIf(
      stack,
      { status: 'destroyed', runId },
      { status: prior.status, ...(prior.runId ? { runId: prior.runId } : {}) },
    );
    if (!env) throw new Error(`stack ${stack} changed while it was being marked destroyed (registered again?)`);
    await this.release(env.tenant, stack, prior.runId ?? stack);
    return env;
  }

  /** Removes a stack's block from its tenant's allocation (only the given run's, when a run is named). */
  public async release(tenant: string, stack: string, runId?: string): Promise<void> {
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const alloc = await this.readAllocation(tenant);
      const held = alloc?.cidrs[stack];
      if (!alloc || !held || (runId !== undefined && held.runId !== runId)) return;
      const { [stack]: _released, ...rest } = alloc.cidrs;
      if (await this.writeAllocation(tenant, alloc.version, rest)) return;
      await backoff(attempt);
    }
    throw new Error(`could not give back ${stack}'s CIDR: the allocation of tenant ${tenant} is contended`);
  }

  /** The tenant's held blocks, as the allocation item has them. */
  public async allocation(tenant: string): Promise<Record<string, string>> {
    const alloc = await this.readAllocation(tenant);
    return Object.fromEntries(Object.entries(alloc?.cidrs ?? {}).map(([stack, h]) => [stack, h.cidr]));
  }

  private async allocate(env: Environment): Promise<void> {
    const mine = parseCidr(env.vpcCidr!);
    if (!mine.ok) throw new Error(`vpcCidr: ${mine.reason}`);
    const runId = env.runId ?? env.stack;
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const alloc = (await this.readAllocation(env.tenant)) ?? (await this.initialAllocation(env.tenant));
      const next: Record<string, Held> = {};
      for (const [stack, held] of Object.entries(alloc.cidrs)) {
        const theirs = parseCidr(held.cidr);
        const conflicts = stack === env.stack ? held.runId !== runId : theirs.ok && overlaps(mine.cidr, theirs.cidr);
        if (conflicts && (await this.stillHeld(stack, held))) {
          if (stack === env.stack)
            throw new EnvironmentExistsError(`stack ${env.stack} is being registered by run ${held.runId}`);
          throw new CidrOverlapError(env.vpcCidr!, { stack, vpcCidr: held.cidr });
        }
        if (!conflicts) next[stack] = held; // a stale conflicting entry (its onboarding died) is dropped
      }
      next[env.stack] = { cidr: env.vpcCidr!, runId, at: new Date().toISOString() };
      if (await this.writeAllocation(env.tenant, alloc.version, next)) return;
      await backoff(attempt);
    }
    throw new Error(`the CIDR allocation of tenant ${env.tenant} is contended; try again`);
  }

  private async stillHeld(stack: string, held: Held): Promise<boolean> {
    return isHeld(await this.get(stack), held, Date.now());
  }

  /** The first allocation of a tenant: the blocks its registered environments hold. */
  private async initialAllocation(tenant: string): Promise<Allocation> {
    const cidrs: Record<string, Held> = {};
    for (const e of await this.listByTenant(tenant))
      if (e.vpcCidr && HOLDING_STATUSES.includes(e.status))
        cidrs[e.stack] = { cidr: e.vpcCidr, runId: e.runId ?? e.stack, at: e.createdAt };
    return { version: 0, cidrs };
  }

  private async readAllocation(tenant: string): Promise<Allocation | undefined> {
    const out = await this.db.send(
      new GetCommand({
        TableName: this.tableName,
        Key: { stack: REGISTRY_KEYS.allocation(tenant) },
        ConsistentRead: true,
      }),
    );
    return out.Item as Allocation | undefined;
  }

  /** Writes the allocation if its version is still `version` (0: not written yet); false when another won. */
  private async writeAllocation(tenant: string, version: number, cidrs: Record<string, Held>): Promise<boolean> {
    try {
      await this.db.send(
        new PutCommand({
          TableName: this.tableName,
          Item: { stack: REGISTRY_KEYS.allocation(tenant), allocationOf: tenant, version: version + 1, cidrs },
          ...(version === 0
            ? { ConditionExpression: 'attribute_not_exists(#s)', ExpressionAttributeNames: { '#s': 'stack' } }
            : {
                ConditionExpression: '#v = :v',
                ExpressionAttributeNames: { '#v': 'version' },
                ExpressionAttributeValues: { ':v': version },
              }),
        }),
      );
      return true;
    } catch (e) {
      if ((e as Error).name === 'ConditionalCheckFailedException') return false;
      throw e;
    }
  }

  /** Sets fields when the item exists (and has the `expected` values); undefined when a condition fails. */
  private async updateIf(
    stack: string,
    fields: Partial<Omit<Environment, 'stack'>>,
    expected: Partial<Record<'status' | 'runId', string>> = {},
  ): Promise<Environment | undefined> {
    const entries = Object.entries({ ...fields, updatedAt: new Date().toISOString() }).filter(
      ([, v]) => v !== undefined,
    );
    const conditions = Object.entries(expected);
    try {
      const out = await this.db.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { stack },
          UpdateExpression: `SET ${entries.map((_, i) => `#f${i} = :v${i}`).join(', ')}`,
          ConditionExpression: ['attribute_exists(#s)', ...conditions.map((_, i) => `#e${i} = :e${i}`)].join(' AND '),
          ExpressionAttributeNames: {
            '#s': 'stack',
            ...Object.fromEntries(entries.map(([k], i) => [`#f${i}`, k])),
            ...Object.fromEntries(conditions.map(([k], i) => [`#e${i}`, k])),
          },
          ExpressionAttributeValues: {
            ...Object.fromEntries(entries.map(([, v], i) => [`:v${i}`, v])),
            ...Object.fromEntries(conditions.map(([, v], i) => [`:e${i}`, v])),
          },
          ReturnValues: 'ALL_NEW',
        }),
      );
      return out.Attributes as Environment;
    } catch (e) {
      if ((e as Error).name === 'ConditionalCheckFailedException' && conditions.length > 0) return undefined;
      throw e;
    }
  }
}

/** Tickets: which run a ticket's onboarding request started (POST /environments is idempotent on ticketId). */
export interface Ticket {
  readonly ticketId: string;
  readonly stack: string;
  readonly runId: string;
  /** `pending` while the request is being handled; `started` once its run is. */
  readonly state: 'pending' | 'started';
  /** When the request handling it claimed it (renewed by a request that takes an abandoned one over). */
  readonly createdAt: string;
  /** What the request registers and starts: enough for a later request to finish an abandoned one. */
  readonly registration: Environment;
  readonly input: Record<string, unknown>;
  /** The API caller (the IAM principal on AWS) that sent the ticket first. */
  readonly caller: string;
}

/** A pending ticket this old was abandoned by its request (the API function's time is up long before). */
export const TICKET_LEASE_MS = 2 * 60 * 1000;

export class TicketStore {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  /**
   * Binds a ticket to the caller that first uses it; true when it is (now or already) that caller's. A run under a
   * ticket is signed for (callbacks) in the ticket's name: nobody else's caller may use it.
   */
  public async bind(ticketId: string, principal: string, now = new Date()): Promise<{ owner: string; since: string }> {
    const key = { stack: REGISTRY_KEYS.ticketOwner(ticketId) };
    try {
      await this.db.send(
        new PutCommand({
          TableName: this.tableName,
          Item: { ...key, ticketId, principal, since: now.toISOString() },
          ConditionExpression: 'attribute_not_exists(#s)',
          ExpressionAttributeNames: { '#s': 'stack' },
        }),
      );
      return { owner: principal, since: now.toISOString() };
    } catch (e) {
      if ((e as Error).name !== 'ConditionalCheckFailedException') throw e;
      const out = await this.db.send(new GetCommand({ TableName: this.tableName, Key: key, ConsistentRead: true }));
      return { owner: String(out.Item?.principal), since: String(out.Item?.since) };
    }
  }

  /** Claims a ticket for a run; returns the existing ticket instead when another request claimed it first. */
  public async claim(ticket: Omit<Ticket, 'state'>): Promise<{ claimed: true } | { claimed: false; ticket: Ticket }> {
    try {
      await this.db.send(
        new PutCommand({
          TableName: this.tableName,
          Item: {
            ...ticket,
            stack: REGISTRY_KEYS.ticket(ticket.ticketId),
            ticketStack: ticket.stack,
            state: 'pending',
          },
          ConditionExpression: 'attribute_not_exists(#s)',
          ExpressionAttributeNames: { '#s': 'stack' },
        }),
      );
      return { claimed: true };
    } catch (e) {
      if ((e as Error).name !== 'ConditionalCheckFailedException') throw e;
      const existing = await this.get(ticket.ticketId);
      // Given up by its request between the put and the read: claim it again.
      return existing ? { claimed: false, ticket: existing } : this.claim(ticket);
    }
  }

  public async get(ticketId: string): Promise<Ticket | undefined> {
    const out = await this.db.send(
      new GetCommand({
        TableName: this.tableName,
        Key: { stack: REGISTRY_KEYS.ticket(ticketId) },
        ConsistentRead: true,
      }),
    );
    if (!out.Item) return undefined;
    const { ticketStack, ...rest } = out.Item as Ticket & { ticketStack: string };
    return { ...rest, stack: ticketStack };
  }

  /**
   * Takes over an abandoned pending ticket: renews its lease if it is still the one read (same run, same
   * createdAt). False when another request took it over, or it changed, first.
   */
  public async takeOver(ticket: Ticket, now: Date): Promise<boolean> {
    try {
      await this.db.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { stack: REGISTRY_KEYS.ticket(ticket.ticketId) },
          UpdateExpression: 'SET createdAt = :now',
          ConditionExpression: '#state = :pending AND runId = :r AND createdAt = :old',
          ExpressionAttributeNames: { '#state': 'state' },
          ExpressionAttributeValues: {
            ':now': now.toISOString(),
            ':pending': 'pending',
            ':r': ticket.runId,
            ':old': ticket.createdAt,
          },
        }),
      );
      return true;
    } catch (e) {
      if ((e as Error).name === 'ConditionalCheckFailedException') return false;
      throw e;
    }
  }

  /** Marks the ticket's run started; only the ticket of that run (never creates one). */
  public async started(ticketId: string, runId: string): Promise<void> {
    await this.db.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: { stack: REGISTRY_KEYS.ticket(ticketId) },
        UpdateExpression: 'SET #state = :started',
        ConditionExpression: 'runId = :r',
        ExpressionAttributeNames: { '#state': 'state' },
        ExpressionAttributeValues: { ':started': 'started', ':r': runId },
      }),
    );
  }

  /** Gives a ticket up when its request was refused (409) or failed: the ticket can be sent again. */
  public async release(ticketId: string, runId: string): Promise<void> {
    try {
      await this.db.send(
        new DeleteCommand({
          TableName: this.tableName,
          Key: { stack: REGISTRY_KEYS.ticket(ticketId) },
          ConditionExpression: 'runId = :r',
          ExpressionAttributeValues: { ':r': runId },
        }),
      );
    } catch (e) {
      if ((e as Error).name !== 'ConditionalCheckFailedException') throw e;
    }
  }
}

function backoff(attempt: number): Promise<void> {
  const ms = Math.min(200, 5 * 2 ** Math.min(attempt, 5)) * (0.5 + Math.random());
  return new Promise((resolve) => setTimeout(resolve, ms));
}
