/** The environment registry's record: one per stack. */

export const ENVIRONMENT_STATUSES = ['onboarding', 'active', 'failed', 'destroyed'] as const;
export type EnvironmentStatus = (typeof ENVIRONMENT_STATUSES)[number];

export interface DriftResult {
  readonly checkedAt: string;
  readonly runId: string;
  readonly drifted: readonly string[];
  readonly add: number;
  readonly change: number;
  readonly destroy: number;
}

export interface Environment {
  readonly stack: string;
  readonly tenant: string;
  readonly account: string;
  readonly environment: string;
  readonly region: string;
  readonly tier: string;
  readonly vpcCidr?: string | undefined;
  readonly status: EnvironmentStatus;
  /** How Tropos came to know it: onboarded through Tropos, or found defined in the repository. */
  readonly source?: 'onboarding' | 'repository' | undefined;
  /** Its name in the repository, when not Tropos's (Atmos's own naming): a run may ask for it by this name. */
  readonly name?: string | undefined;
  /** The catalog components this stack uses; absent → the catalog's `environment` set. */
  readonly components?: readonly string[] | undefined;
  readonly tags?: Readonly<Record<string, string>> | undefined;
  readonly ticketId?: string | undefined;
  /** Who registered it through the API (the IAM principal on AWS; the ticket's requester is `requestedBy`). */
  readonly registeredBy?: string | undefined;
  readonly runId?: string | undefined;
  readonly createdAt: string;
  readonly updatedAt: string;
  readonly lastDrift?: DriftResult | undefined;
  /** Why the environment is `failed`: the onboarding run's error and cause. */
  readonly failure?: { readonly error: string; readonly cause: string; readonly at: string } | undefined;
}

/** Statuses whose environment holds its stack name and its VPC CIDR. */
export const HOLDING_STATUSES: readonly EnvironmentStatus[] = ['onboarding', 'active'];

/** Reads of the registry that validators need. */
export interface EnvironmentReader {
  get(stack: string): Promise<Environment | undefined>;
  /** The stack the repository names so (its own naming, as a run's resolve last read it), or Tropos's name. */
  byName(name: string): Promise<Environment | undefined>;
  listByTenant(tenant: string): Promise<Environment[]>;
}

/**
 * Keys of the registry table's items that are not environments; their key starts with `#` (no stack name can)
 * and they carry no `tenant`, so the byTenant index never lists them.
 */
export const REGISTRY_KEYS = {
  /** The tenant's CIDR allocation: every held block and a version, changed only by conditional writes. */
  allocation: (tenant: string) => `#allocation#${tenant}`,
  /** A ticket's onboarding request: the run it started (idempotency of POST /environments). */
  ticket: (ticketId: string) => `#ticket#${ticketId}`,
  /** Which caller a ticket belongs to: the first that used it (POST /runs or POST /environments). */
  ticketOwner: (ticketId: string) => `#ticket-owner#${ticketId}`,
  /** A stack's name in the repository (when not Tropos's) → Tropos's name of it, in `target`. */
  name: (name: string) => `#name#${name}`,
  isEnvironment: (key: string) => !key.startsWith('#'),
} as const;

/** Names of the tables and their indexes, shared by the CDK constructs and the handlers. */
export const TABLES = {
  runs: {
    env: 'TROPOS_RUNS_TABLE',
    partitionKey: 'runId',
    sortKey: 'sk',
    byStack: { index: 'byStack', partitionKey: 'stack', sortKey: 'startedAt' },
  },
  environments: {
    env: 'TROPOS_ENVIRONMENTS_TABLE',
    partitionKey: 'stack',
    byTenant: { index: 'byTenant', partitionKey: 'tenant', sortKey: 'stack' },
  },
} as const;
