/**
 * Tiers and how strict they are. The tier of a run comes from the configuration's account → tier binding; an
 * environment may be registered with a stricter tier (an onboarding may ask for one), never a looser one. Nothing
 * a caller writes, and nothing in the infrastructure repository, can choose a looser approval policy.
 */

/** The approval policies from the loosest to the strictest: a plan with changes is asked for more often. */
export const POLICY_STRICTNESS: readonly string[] = ['never', 'on-destroy', 'on-change', 'always'];

/** A tier's approval policy and who may answer its approvals. */
export interface TierPolicy {
  readonly approval: string;
  /**
   * Principals that may answer this tier's approvals: IAM ARNs with `*` wildcards; a role's ARN also matches its
   * sessions (`arn:aws:sts::<account>:assumed-role/<name>/*`). Absent: any caller the API's IAM policy lets in.
   */
  readonly approvers?: readonly string[] | undefined;
  /** Whether the caller that started a run may approve it. */
  readonly selfApproval?: boolean | undefined;
}

export interface TierSettings {
  readonly accounts: Readonly<Record<string, { readonly tier: string }>>;
  readonly tiers: Readonly<Record<string, TierPolicy>>;
}

function strictness(settings: TierSettings, tier: string): number {
  return POLICY_STRICTNESS.indexOf(settings.tiers[tier]?.approval ?? 'always');
}

/**
 * Whether `tier` may stand for the account's own: it is the account's tier, or its approval policy is strictly
 * stricter. (A tier as strict but of another name is refused: steps are guarded by tier name — prod's drift check
 * and compliance — and another name could skip them.)
 */
export function isAtLeastAsStrict(settings: TierSettings, account: string, tier: string): boolean {
  const own = settings.accounts[account]?.tier;
  if (own === undefined) return false;
  return tier === own || strictness(settings, tier) > strictness(settings, own);
}

/** Why `tier` may not be asked for in `account`, or undefined when it may. */
export function tierProblem(settings: TierSettings, account: string, tier: string): string | undefined {
  const own = settings.accounts[account]?.tier;
  if (own === undefined || isAtLeastAsStrict(settings, account, tier)) return undefined;
  const stricter = Object.keys(settings.tiers).filter((t) => t !== own && isAtLeastAsStrict(settings, account, t));
  return `"${tier}" is looser than the ${account} account's tier "${own}" (approval ${settings.tiers[own]?.approval}); an environment may only ask for its account's tier or a stricter one: ${[own, ...stricter].join(', ')}`;
}

/** The tier a run works under: the account's, or the registered one when that is stricter. */
export function effectiveTier(settings: TierSettings, account: string, registered: string | undefined): string {
  const own = settings.accounts[account]?.tier ?? '';
  // '' is "the account's" (a stack registered from the repository), not a tier of its own.
  return registered !== undefined &&
    registered !== '' &&
    registered !== own &&
    isAtLeastAsStrict(settings, account, registered)
    ? registered
    : own;
}
