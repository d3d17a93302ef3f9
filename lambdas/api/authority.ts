import type { TierPolicy } from '../../lib/domain/tiers';

/**
 * Who may answer an approval. IAM decides who may call POST /approvals at all (the approver policy the stack
 * ships); this decides, per tier, which of those callers may answer it: the tier's approvers, never the run's own
 * requester unless the tier allows self-approval. IAM groups are not visible in a SigV4 call: approvers are named
 * by principal ARN or role.
 */

/** Whether a principal ARN matches a pattern: `*` matches any run of characters; a role ARN matches its sessions. */
export function principalMatches(pattern: string, principal: string): boolean {
  const glob = (p: string) =>
    new RegExp(
      `^${p
        .split('*')
        .map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
        .join('.*')}$`,
    );
  if (glob(pattern).test(principal)) return true;
  // arn:aws:iam::111122223333:role/name → its sessions arn:aws:sts::111122223333:assumed-role/name/<session>. Only
  // a plain role name (the configuration refuses a path or a wildcard in it: a session's ARN carries neither).
  const role = /^arn:(aws[\w-]*):iam::(\d{12}):role\/([\w+=,.@-]+)$/.exec(pattern);
  return !!role && glob(`arn:${role[1]}:sts::${role[2]}:assumed-role/${role[3]}/*`).test(principal);
}

/** What an approval says of its run: its tier, and who asked for it (authenticated, and self-declared). */
export interface ApprovalSubject {
  readonly approvalId: string;
  readonly tier?: string | undefined;
  readonly requestedBy?: string | null | undefined;
  readonly requestedByPrincipal?: string | null | undefined;
}

/** Why `caller` may not answer the approval, or undefined when it may. */
export function approverProblem(
  tiers: Readonly<Record<string, TierPolicy>>,
  approval: ApprovalSubject,
  caller: string,
): string | undefined {
  const tier = approval.tier ?? '';
  const policy = tiers[tier];
  if (policy?.approvers && !policy.approvers.some((p) => principalMatches(p, caller)))
    return `${caller} may not answer approvals of tier ${tier}; its approvers are ${policy.approvers.join(', ')} (tiers.${tier}.approvers in the configuration)`;
  if (policy?.selfApproval) return undefined;
  const run = approval.approvalId.slice(0, approval.approvalId.lastIndexOf('.'));
  // Whoever started a run directly (console, SDK) is unknown to Tropos: under separation of duties nobody can
  // tell the requester from the approver, so such a run is not approved here.
  if (!approval.requestedByPrincipal)
    return `run ${run} was started directly (console or SDK), so Tropos cannot tell who asked for it; tier ${tier} asks for an approver other than the requester: start the run through the API (tropos workflow, POST /runs), or allow tiers.${tier}.selfApproval for break-glass use`;
  // The authenticated caller, as IAM gives it (a role session's name is the requester's when Identity Center or a
  // trust policy on sts:RoleSessionName sets it: the README says so). The self-declared requestedBy decides nothing.
  if (approval.requestedByPrincipal === caller)
    return `${caller} started run ${run} and may not approve it: tier ${tier} asks for another approver (tiers.${tier}.selfApproval is false)`;
  return undefined;
}
