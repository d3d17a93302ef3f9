import { LOCAL_ACCOUNT, type Template } from '../definitions';
import { AWS_MANAGED_POLICIES, awsManagedPolicyName } from './aws-managed-policies';
import { localValueOf, resolveIntrinsics } from './intrinsics';
import { normalizePolicyDocument, type PolicyDocument, type SourcedPolicy } from './policy-document';

/** The identity policies of one IAM role of the template. */
export interface RolePolicies {
  readonly logicalId: string;
  /** RoleName, else the logical id (the local name). */
  readonly roleName: string;
  /** `arn:aws:iam::000000000000:role/<roleName>` */
  readonly arn: string;
  /** The session the local control plane acts as: `arn:aws:sts::000000000000:assumed-role/<roleName>/local` */
  readonly sessionArn: string;
  /** The services the trust policy lets assume the role (`lambda.amazonaws.com`, ...). */
  readonly trustedServices: readonly string[];
  /** Inline `Policies`, AWS::IAM::Policy and AWS::IAM::ManagedPolicy attached to it, known AWS-managed policies. */
  readonly policies: readonly SourcedPolicy[];
  /** AWS-managed policies attached by ARN that the local table does not know: they grant nothing locally. */
  readonly unknownManagedPolicyArns: readonly string[];
}

export type ResourcePolicyKind =
  'AWS::Lambda::Permission' | 'AWS::S3::BucketPolicy' | 'AWS::KMS::Key' | 'AWS::SNS::TopicPolicy';

/** A resource-based policy, and the resources it governs. */
export interface ResourcePolicy extends SourcedPolicy {
  readonly kind: ResourcePolicyKind;
  /** The ARNs the policy is attached to. */
  readonly arns: readonly string[];
  /** True when it also governs everything under an ARN (`<bucket ARN>/...`: a bucket's objects). */
  readonly coversChildren: boolean;
}

export interface TemplatePolicies {
  /** By role logical id. */
  readonly roles: ReadonlyMap<string, RolePolicies>;
  readonly resourcePolicies: readonly ResourcePolicy[];
  /** Lambda function logical id → role logical id. */
  readonly functionRoles: ReadonlyMap<string, string>;
  /** State machine logical id → role logical id. */
  readonly stateMachineRoles: ReadonlyMap<string, string>;
}

type Props = Record<string, unknown>;

/** The logical id of the template's role that a value names, undefined for a role from outside the template. */
function roleIdOf(
  value: unknown,
  template: Template,
  roleIds: ReadonlySet<string>,
  region: string,
): string | undefined {
  // `{ Ref: Role }` (a name) or `{ Fn::GetAtt: [Role, Arn] }`: the logical id, without resolving.
  if (value && typeof value === 'object') {
    const v = value as { Ref?: unknown; 'Fn::GetAtt'?: unknown };
    if (typeof v.Ref === 'string' && roleIds.has(v.Ref)) return v.Ref;
    if (Array.isArray(v['Fn::GetAtt']) && roleIds.has(String(v['Fn::GetAtt'][0]))) return String(v['Fn::GetAtt'][0]);
  }
  // A literal name or ARN of a role of the template.
  const text = String(resolveIntrinsics(value, template, region));
  for (const id of roleIds) {
    const name = localValueOf(template, id, undefined, region);
    if (text === name || text === localValueOf(template, id, 'Arn', region)) return id;
  }
  return undefined;
}

function document(raw: unknown, source: string, template: Template, region: string): PolicyDocument {
  return normalizePolicyDocument(resolveIntrinsics(raw, template, region), source);
}

function lambdaArn(nameOrArn: string, region: string): string {
  return nameOrArn.startsWith('arn:') ? nameOrArn : `arn:aws:lambda:${region}:${LOCAL_ACCOUNT}:function:${nameOrArn}`;
}

/** An AWS::Lambda::Permission as the statement Lambda adds to the function's resource policy. */
function lambdaPermission(id: string, props: Props, template: Template, region: string): ResourcePolicy {
  const resolved = resolveIntrinsics(props, template, region) as Record<string, string | undefined>;
  const fn = lambdaArn(String(resolved.FunctionName), region);
  const principal = String(resolved.Principal);
  const condition: Record<string, Record<string, string>> = {};
  if (resolved.SourceArn) condition.ArnLike = { 'AWS:SourceArn': resolved.SourceArn };
  if (resolved.SourceAccount) condition.StringEquals = { 'AWS:SourceAccount': resolved.SourceAccount };
  if (resolved.PrincipalOrgID)
    condition.StringEquals = { ...condition.StringEquals, 'aws:PrincipalOrgID': resolved.PrincipalOrgID };
  const source = `${id} (AWS::Lambda::Permission)`;
  const statement = {
    Sid: id,
    Effect: 'Allow',
    Principal:
      principal === '*' ? '*' : principal.endsWith('.amazonaws.com') ? { Service: principal } : { AWS: principal },
    Action: resolved.Action,
    Resource: fn,
    ...(Object.keys(condition).length > 0 ? { Condition: condition } : {}),
  };
  return {
    kind: 'AWS::Lambda::Permission',
    source,
    arns: [fn],
    coversChildren: false,
    document: normalizePolicyDocument({ Version: '2012-10-17', Statement: [statement] }, source),
  };
}

/**
 * The IAM policies of a synthesized template, with every CloudFormation intrinsic resolved to the local names and
 * ARNs: each role's identity policies, and the resource policies (Lambda permissions, bucket, key and topic
 * policies).
 */
export function templatePolicies(template: Template, region: string): TemplatePolicies {
  const resources = Object.entries(template.Resources);
  const roleIds = new Set(resources.filter(([, r]) => r.Type === 'AWS::IAM::Role').map(([id]) => id));
  const attached = new Map<string, SourcedPolicy[]>([...roleIds].map((id) => [id, []]));
  const managedByArn = new Map<string, SourcedPolicy>();

  for (const [id, r] of resources) {
    const props: Props = r.Properties ?? {};
    if (r.Type !== 'AWS::IAM::Policy' && r.Type !== 'AWS::IAM::ManagedPolicy') continue;
    const policy = { source: `${id} (${r.Type})`, document: document(props.PolicyDocument, `${id}`, template, region) };
    if (r.Type === 'AWS::IAM::ManagedPolicy') managedByArn.set(localValueOf(template, id, undefined, region), policy);
    for (const role of (props.Roles as unknown[] | undefined) ?? []) {
      const roleId = roleIdOf(role, template, roleIds, region);
      if (roleId) attached.get(roleId)?.push(policy);
    }
  }

  const roles = new Map<string, RolePolicies>();
  for (const id of roleIds) {
    const props: Props = template.Resources[id]!.Properties ?? {};
    const roleName = localValueOf(template, id, undefined, region);
    const policies: SourcedPolicy[] = [];
    for (const inline of (props.Policies as { PolicyName?: unknown; PolicyDocument: unknown }[] | undefined) ?? []) {
      const source = `${id} inline policy ${String(inline.PolicyName)}`;
      policies.push({ source, document: document(inline.PolicyDocument, source, template, region) });
    }
    const unknown: string[] = [];
    for (const raw of (props.ManagedPolicyArns as unknown[] | undefined) ?? []) {
      const arn = String(resolveIntrinsics(raw, template, region));
      const customer = managedByArn.get(arn);
      const awsName = awsManagedPolicyName(arn);
      if (customer) policies.push(customer);
      else if (awsName && AWS_MANAGED_POLICIES[awsName])
        policies.push({
          source: `${arn} (AWS-managed, local table)`,
          document: normalizePolicyDocument(AWS_MANAGED_POLICIES[awsName], arn),
        });
      else unknown.push(arn);
    }
    // A policy attached through both Roles and ManagedPolicyArns counts once.
    for (const p of attached.get(id) ?? []) if (!policies.includes(p)) policies.push(p);
    const trust = normalizePolicyDocument(
      resolveIntrinsics(props.AssumeRolePolicyDocument ?? {}, template, region),
      id,
    );
    roles.set(id, {
      logicalId: id,
      roleName,
      arn: localValueOf(template, id, 'Arn', region),
      sessionArn: `arn:aws:sts::${LOCAL_ACCOUNT}:assumed-role/${roleName}/local`,
      trustedServices: trust.Statement.flatMap((s) => (s.Effect === 'Allow' ? (s.Principal?.Service ?? []) : [])),
      policies,
      unknownManagedPolicyArns: unknown,
    });
  }

  const resourcePolicies: ResourcePolicy[] = [];
  const functionRoles = new Map<string, string>();
  const stateMachineRoles = new Map<string, string>();
  for (const [id, r] of resources) {
    const props: Props = r.Properties ?? {};
    const source = `${id} (${r.Type})`;
    switch (r.Type) {
      case 'AWS::Lambda::Function': {
        const role = roleIdOf(props.Role, template, roleIds, region);
        if (role) functionRoles.set(id, role);
        break;
      }
      case 'AWS::StepFunctions::StateMachine': {
        const role = roleIdOf(props.RoleArn, template, roleIds, region);
        if (role) stateMachineRoles.set(id, role);
        break;
      }
      case 'AWS::Lambda::Permission':
        resourcePolicies.push(lambdaPermission(id, props, template, region));
        break;
      case 'AWS::S3::BucketPolicy': {
        const bucket = String(resolveIntrinsics(props.Bucket, template, region));
        resourcePolicies.push({
          kind: r.Type,
          source,
          arns: [`arn:aws:s3:::${bucket}`],
          coversChildren: true,
          document: document(props.PolicyDocument, source, template, region),
        });
        break;
      }
      case 'AWS::SNS::TopicPolicy':
        resourcePolicies.push({
          kind: r.Type,
          source,
          arns: ((resolveIntrinsics(props.Topics, template, region) as unknown[] | undefined) ?? []).map(String),
          coversChildren: false,
          document: document(props.PolicyDocument, source, template, region),
        });
        break;
      case 'AWS::KMS::Key':
        if (props.KeyPolicy === undefined) break;
        resourcePolicies.push({
          kind: r.Type,
          source: `${id} KeyPolicy (AWS::KMS::Key)`,
          arns: [localValueOf(template, id, 'Arn', region)],
          coversChildren: false,
          document: document(props.KeyPolicy, source, template, region),
        });
        break;
      default:
        break;
    }
  }
  return { roles, resourcePolicies, functionRoles, stateMachineRoles };
}
