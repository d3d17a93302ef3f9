import { LOCAL_ACCOUNT, type Template } from '../definitions';
import { LOCAL_ROOT } from './policy-document';
import { type ConditionContext, type Decision, PolicyEvaluator } from './policy-evaluator';
import type { AwsEnv, IamRequest } from './sdk-actions';
import { type ResourcePolicy, type RolePolicies, templatePolicies, type TemplatePolicies } from './template-policies';

export interface AuthorizationRequest {
  /** The role: its logical id, ARN, name, or the ARN of its local session (`assumed-role/<name>/local`). */
  readonly principal: string;
  /** e.g. `dynamodb:PutItem` (any case: IAM matches actions case-insensitively). */
  readonly action: string;
  /** The resource's ARN, `*` for an action without resource-level permissions. */
  readonly resource: string;
  /** Condition keys of the request; `aws:SecureTransport` (true), `aws:PrincipalArn`, ... are added unless given. */
  readonly context?: Readonly<Record<string, string>>;
}

export interface AuthorizationResult {
  readonly allowed: boolean;
  /** For a refusal, AWS's AccessDenied message; for a grant, the policy and statement that allow. */
  readonly reason: string;
}

/** What an AWS API answers a refused call with. */
export class AccessDeniedException extends Error {
  public override readonly name = 'AccessDeniedException';
}

interface LoadedResourcePolicy {
  readonly policy: ResourcePolicy;
  readonly evaluator: PolicyEvaluator;
}

/** How many decisions the authorizer keeps (see IamAuthorizer.decisions). */
const DECISIONS_KEPT = 10_000;

const where = (d: Decision) => `${d.source ?? 'a policy'}${d.statement?.Sid ? ` (statement ${d.statement.Sid})` : ''}`;

/**
 * Authorizes the calls of the local control plane's functions and state machines against the IAM policies of the
 * synthesized template, as AWS would: the calling role's identity policies and the resource policies of the
 * resource (Lambda permissions, bucket, topic and key policies), evaluated by pbac (policy-evaluator.ts). An
 * explicit Deny in either wins; otherwise an Allow in either grants (same account), except for a KMS key, whose
 * key policy must allow the role — directly, or through the account's root together with an identity policy.
 */
export class IamAuthorizer {
  public readonly policies: TemplatePolicies;
  /** What the SDK and integration mappings need: the local region, account and partition. */
  public readonly env: AwsEnv;
  private readonly identity = new Map<string, PolicyEvaluator>();
  private readonly resourcePolicies: LoadedResourcePolicy[];
  private readonly checks = new Map<string, number>();
  private readonly byName = new Map<string, RolePolicies>();
  private readonly stateMachineArns = new Map<string, string>();
  /**
   * Decisions already made: one is a function of the role, action, resource and request context alone (the policies
   * do not change while the control plane runs, and no condition key here changes with time), and a run asks the
   * same few thousand times. Emptied when it grows past DECISIONS_KEPT.
   */
  private readonly decisions = new Map<string, AuthorizationResult>();

  constructor(
    private readonly template: Template,
    private readonly region: string,
  ) {
    this.policies = templatePolicies(template, region);
    this.env = { region, account: LOCAL_ACCOUNT, partition: 'aws' };
    for (const role of this.policies.roles.values()) {
      this.identity.set(role.logicalId, new PolicyEvaluator(role.policies));
      for (const name of [role.logicalId, role.arn, role.roleName, role.sessionArn]) this.byName.set(name, role);
    }
    this.resourcePolicies = this.policies.resourcePolicies.map((policy) => ({
      policy,
      evaluator: new PolicyEvaluator([policy]),
    }));
  }

  /** The role a principal names; throws for a principal that is no role of the template. */
  public role(principal: string): RolePolicies {
    const session = /^arn:[^:]+:sts::\d{12}:assumed-role\/([^/]+)\//.exec(principal)?.[1];
    const role = this.byName.get(principal) ?? (session ? this.byName.get(session) : undefined);
    if (!role) throw new Error(`no role of the template is ${principal}`);
    return role;
  }

  /** The execution role of a Lambda function, by logical id or local ARN. */
  public roleOfFunction(arnOrId: string): RolePolicies {
    const id = arnOrId.startsWith('arn:') ? arnOrId.split(':')[6] : arnOrId;
    const role = id ? this.policies.functionRoles.get(id) : undefined;
    if (!role) throw new Error(`no function of the template is ${arnOrId}`);
    return this.role(role);
  }

  /** The role of a state machine, by logical id, name or local ARN. */
  public roleOfStateMachine(idNameOrArn: string): RolePolicies {
    if (this.stateMachineArns.size === 0)
      for (const id of this.policies.stateMachineRoles.keys()) {
        const name = this.template.Resources[id]?.Properties?.StateMachineName;
        const machineName = typeof name === 'string' ? name : id;
        this.stateMachineArns.set(machineName, id);
        this.stateMachineArns.set(`arn:aws:states:${this.region}:${LOCAL_ACCOUNT}:stateMachine:${machineName}`, id);
      }
    const id = this.stateMachineArns.get(idNameOrArn) ?? idNameOrArn;
    const role = this.policies.stateMachineRoles.get(id);
    if (!role) throw new Error(`no state machine of the template is ${idNameOrArn}`);
    return this.role(role);
  }

  /** Authorizes one request of a role. */
  public authorize(request: AuthorizationRequest): AuthorizationResult {
    const role = this.role(request.principal);
    this.checks.set(role.logicalId, (this.checks.get(role.logicalId) ?? 0) + 1);
    const key = JSON.stringify([role.logicalId, request.action, request.resource, request.context ?? {}]);
    const known = this.decisions.get(key);
    if (known) return known;
    const decided = this.decide(role, request);
    if (this.decisions.size >= DECISIONS_KEPT) this.decisions.clear();
    this.decisions.set(key, decided);
    return decided;
  }

  private decide(role: RolePolicies, request: AuthorizationRequest): AuthorizationResult {
    const { action, resource } = request;
    const context: ConditionContext = {
      ...lowerKeys({
        'aws:SecureTransport': 'true',
        'aws:PrincipalArn': role.arn,
        'aws:PrincipalAccount': LOCAL_ACCOUNT,
        'aws:PrincipalType': 'AssumedRole',
        'aws:RequestedRegion': this.region,
      }),
      ...lowerKeys(request.context ?? {}),
    };
    // AWS's AccessDenied message (it leaves out "on resource" for an action without resource-level permissions).
    const denied = (why: string): AuthorizationResult => ({
      allowed: false,
      reason: `User: ${role.sessionArn} is not authorized to perform: ${action}${
        resource === '*' ? '' : ` on resource: ${resource}`
      } ${why}`,
    });

    const identity = this.identity.get(role.logicalId)!.evaluate({ action, resource, context });
    if (identity.effect === 'Deny') return denied('with an explicit deny in an identity-based policy');
    const principal = { AWS: [role.arn, role.sessionArn, '*'] };
    const applicable = this.governing(resource).map((p) => ({
      p,
      decision: p.evaluator.evaluate({ action, resource, context, principal }),
    }));
    if (applicable.some(({ decision }) => decision.effect === 'Deny'))
      return denied('with an explicit deny in a resource-based policy');

    const key = applicable.find(({ p }) => p.policy.kind === 'AWS::KMS::Key');
    if (key) {
      if (key.decision.effect === 'Allow') return { allowed: true, reason: `allowed by ${where(key.decision)}` };
      const root = key.p.evaluator.evaluate({ action, resource, context, principal: { AWS: [LOCAL_ROOT] } });
      if (root.effect !== 'Allow') return denied(`because no resource-based policy allows the ${action} action`);
      if (identity.effect === 'Allow')
        return { allowed: true, reason: `allowed by ${where(identity)}, delegated by ${where(root)}` };
      return denied(`because no identity-based policy allows the ${action} action`);
    }
    if (identity.effect === 'Allow') return { allowed: true, reason: `allowed by ${where(identity)}` };
    const granted = applicable.find(({ decision }) => decision.effect === 'Allow');
    if (granted) return { allowed: true, reason: `allowed by ${where(granted.decision)}` };
    return denied(`because no identity-based policy allows the ${action} action`);
  }

  /** Authorizes every request (an SDK call or a task may need several); the first refusal, else allowed. */
  public authorizeAll(principal: string, requests: readonly IamRequest[]): AuthorizationResult {
    const reasons: string[] = [];
    for (const r of requests) {
      const result = this.authorize({
        principal,
        action: r.action,
        resource: r.resource,
        ...(r.context ? { context: r.context } : {}),
      });
      if (!result.allowed) return result;
      reasons.push(result.reason);
    }
    return { allowed: true, reason: reasons.join('; ') };
  }

  /**
   * May `principal` invoke the function? A service principal (`events.amazonaws.com`, `apigateway.amazonaws.com`)
   * needs the function's resource policy (its AWS::Lambda::Permission resources), with `sourceArn` as
   * `aws:SourceArn`; a role of the template is authorized as any request (identity or resource policy).
   */
  public authorizeInvoke(principal: string, functionArn: string, sourceArn?: string): AuthorizationResult {
    const resource = functionArn.startsWith('arn:')
      ? functionArn
      : `arn:aws:lambda:${this.region}:${LOCAL_ACCOUNT}:function:${functionArn}`;
    const action = 'lambda:InvokeFunction';
    if (!principal.endsWith('.amazonaws.com')) return this.authorize({ principal, action, resource });
    this.checks.set(principal, (this.checks.get(principal) ?? 0) + 1);
    const context: ConditionContext = {
      'aws:securetransport': 'true',
      'aws:sourceaccount': LOCAL_ACCOUNT,
      ...(sourceArn ? { 'aws:sourcearn': sourceArn } : {}),
    };
    const decisions = this.governing(resource).map((p) =>
      p.evaluator.evaluate({ action, resource, context, principal: { Service: [principal], AWS: ['*'] } }),
    );
    const refused = (why: string) => ({
      allowed: false,
      reason: `${principal} is not authorized to perform: ${action} on resource: ${resource}${
        sourceArn ? ` from ${sourceArn}` : ''
      } ${why}`,
    });
    if (decisions.some((d) => d.effect === 'Deny')) return refused('with an explicit deny in a resource-based policy');
    const allow = decisions.find((d) => d.effect === 'Allow');
    if (allow) return { allowed: true, reason: `allowed by ${where(allow)}` };
    return refused(`because no resource-based policy allows the ${action} action`);
  }

  /** How many authorizations each role (by logical id) and service principal asked for. */
  public counts(): Record<string, number> {
    return Object.fromEntries(this.checks);
  }

  private governing(resource: string): LoadedResourcePolicy[] {
    return this.resourcePolicies.filter(({ policy }) =>
      policy.arns.some((arn) => resource === arn || (policy.coversChildren && resource.startsWith(`${arn}/`))),
    );
  }
}

function lowerKeys(context: Readonly<Record<string, string>>): Record<string, string> {
  return Object.fromEntries(Object.entries(context).map(([k, v]) => [k.toLowerCase(), v]));
}
