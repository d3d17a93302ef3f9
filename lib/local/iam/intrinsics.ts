import { LOCAL_ACCOUNT, localReference, resolveTokens, type Template } from '../definitions';

/**
 * CloudFormation intrinsics in IAM policy documents, resolved to the names and ARNs the local control plane uses.
 *
 * `Ref`, `Fn::GetAtt` and the pseudo parameters go through `localReference` / `resolveTokens` of definitions.ts, so
 * that a policy names a resource exactly as the state machine definitions and the functions' environment do. Where
 * `localReference` has no case for a resource type (it answers `<LogicalId>` or `<LogicalId>.<Attribute>`), the
 * table below gives what CloudFormation would: a role's ARN, a secret's ARN (its `Ref`), a rule's ARN, ... with the
 * local account. definitions.ts has no `Fn::Sub`, `Fn::Select` or `Fn::Split`: they are resolved here.
 */

/** What a `Ref` (attribute undefined) or `Fn::GetAtt` of a resource type that `localReference` lacks stands for. */
function extraReference(
  template: Template,
  logicalId: string,
  attribute: string | undefined,
  region: string,
): string | undefined {
  const resource = template.Resources[logicalId];
  if (!resource) return undefined;
  const props = resource.Properties ?? {};
  const named = (key: string) => (typeof props[key] === 'string' ? (props[key] as string) : logicalId);
  const account = LOCAL_ACCOUNT;
  switch (resource.Type) {
    case 'AWS::IAM::Role':
      if (attribute === 'Arn') return `arn:aws:iam::${account}:role/${named('RoleName')}`;
      if (attribute === 'RoleId') return `AROA${logicalId.toUpperCase()}`;
      return attribute === undefined ? named('RoleName') : undefined;
    case 'AWS::IAM::ManagedPolicy':
      // Ref of a managed policy is its ARN.
      return attribute === undefined || attribute === 'PolicyArn'
        ? `arn:aws:iam::${account}:policy/${named('ManagedPolicyName')}`
        : undefined;
    case 'AWS::SecretsManager::Secret':
      // Ref of a secret is its ARN. The function's environment gets `Ref` through resolveTokens, which answers the
      // logical id: the secret's local name is its logical id, and its ARN is built from that name (AWS adds a
      // random six-character suffix; locally there is none).
      return attribute === undefined || attribute === 'Id'
        ? `arn:aws:secretsmanager:${region}:${account}:secret:${logicalId}`
        : undefined;
    case 'AWS::KMS::Key':
      if (attribute === 'Arn') return `arn:aws:kms:${region}:${account}:key/${logicalId}`;
      return attribute === 'KeyId' || attribute === undefined ? logicalId : undefined;
    case 'AWS::Events::Rule':
      if (attribute === 'Arn') return `arn:aws:events:${region}:${account}:rule/${named('Name')}`;
      return attribute === undefined ? named('Name') : undefined;
    case 'AWS::Logs::LogGroup':
      if (attribute === 'Arn') return `arn:aws:logs:${region}:${account}:log-group:${named('LogGroupName')}:*`;
      return attribute === undefined ? named('LogGroupName') : undefined;
    case 'AWS::SQS::Queue':
      if (attribute === 'Arn') return `arn:aws:sqs:${region}:${account}:${named('QueueName')}`;
      if (attribute === 'QueueName') return named('QueueName');
      return attribute === undefined
        ? `https://sqs.${region}.amazonaws.com/${account}/${named('QueueName')}`
        : undefined;
    case 'AWS::Scheduler::Schedule':
      return attribute === 'Arn'
        ? `arn:aws:scheduler:${region}:${account}:schedule/default/${named('Name')}`
        : undefined;
    default:
      return undefined;
  }
}

/** The local value of `Ref` / `Fn::GetAtt`: localReference's, unless it only echoed the id for a type known here. */
export function localValueOf(template: Template, logicalId: string, attribute: string | undefined, region: string) {
  const theirs = localReference(template, logicalId, attribute, region);
  const echoed = attribute ? `${logicalId}.${attribute}` : logicalId;
  if (theirs !== echoed) return theirs;
  return extraReference(template, logicalId, attribute, region) ?? theirs;
}

const PSEUDO = /^AWS::/;

function pseudo(name: string, template: Template, region: string): string {
  // definitions.ts holds the pseudo parameters' local values.
  const value = resolveTokens({ Ref: name }, template, region);
  if (typeof value !== 'string' || value === name) throw new Error(`unknown pseudo parameter ${name}`);
  return value;
}

function reference(name: string, template: Template, region: string): string {
  if (PSEUDO.test(name)) return pseudo(name, template, region);
  const dot = name.indexOf('.');
  if (dot > 0) return localValueOf(template, name.slice(0, dot), name.slice(dot + 1), region);
  return localValueOf(template, name, undefined, region);
}

function substitute(text: string, variables: Record<string, unknown>, template: Template, region: string): string {
  return text.replace(/\$\{(!?)([^}]*)\}/g, (_, bang: string, name: string) => {
    if (bang) return `\${${name}}`; // ${!Literal} stands for ${Literal}
    if (name in variables) return String(resolveIntrinsics(variables[name], template, region));
    // IAM policy variables (${aws:username}, ...) are not CloudFormation's: kept for the evaluator.
    if (/^[a-z0-9-]+:/i.test(name) && !PSEUDO.test(name)) return `\${${name}}`;
    return reference(name, template, region);
  });
}

/**
 * Resolves `Ref`, `Fn::GetAtt` (array and dotted string forms), `Fn::Join`, `Fn::Sub` (both forms), `Fn::Select`,
 * `Fn::Split` and the pseudo parameters. Any other `Fn::` throws: an unresolved intrinsic in a policy would make
 * a statement silently match nothing (or, in a Deny, fail to deny).
 */
export function resolveIntrinsics(value: unknown, template: Template, region: string): unknown {
  if (Array.isArray(value)) return value.map((v) => resolveIntrinsics(v, template, region));
  if (value === null || typeof value !== 'object') return value;
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj);
  if (keys.length === 1) {
    const key = keys[0]!;
    const arg = obj[key];
    if (key === 'Ref') return reference(String(arg), template, region);
    if (key === 'Fn::GetAtt') {
      const [id, attr] =
        typeof arg === 'string' ? (arg.split(/\.(.*)/) as [string, string]) : (arg as [string, string]);
      return localValueOf(template, id, attr, region);
    }
    if (key === 'Fn::Join') {
      const [sep, parts] = arg as [string, unknown];
      const list = resolveIntrinsics(parts, template, region);
      if (!Array.isArray(list)) throw new Error('Fn::Join: the list did not resolve to a list');
      return list.map((p) => String(p)).join(sep);
    }
    if (key === 'Fn::Sub') {
      const [text, variables] = typeof arg === 'string' ? [arg, {}] : (arg as [string, Record<string, unknown>]);
      return substitute(text, variables ?? {}, template, region);
    }
    if (key === 'Fn::Select') {
      const [index, list] = arg as [unknown, unknown];
      const items = resolveIntrinsics(list, template, region);
      const i = Number(resolveIntrinsics(index, template, region));
      if (!Array.isArray(items) || !(i in items)) throw new Error(`Fn::Select: no item ${i}`);
      return items[i];
    }
    if (key === 'Fn::Split') {
      const [sep, text] = arg as [string, unknown];
      return String(resolveIntrinsics(text, template, region)).split(sep);
    }
    if (key.startsWith('Fn::')) throw new Error(`the local IAM evaluator cannot resolve ${key}`);
  }
  return Object.fromEntries(Object.entries(obj).map(([k, v]) => [k, resolveIntrinsics(v, template, region)]));
}
