/**
 * State machine definitions taken from a synthesized template, with CloudFormation tokens resolved to local
 * ARNs (`arn:aws:lambda:<region>:000000000000:function:<LogicalId>`, ...). The tests validate these, and the
 * local engine runs them: the definitions that run here are the ones that deploy.
 */

export const LOCAL_ACCOUNT = '000000000000';

export interface TemplateResource {
  readonly Type: string;
  readonly Properties?: Record<string, unknown>;
  readonly Metadata?: Record<string, unknown>;
}

export interface Template {
  readonly Resources: Record<string, TemplateResource>;
}

export interface ExtractedStateMachine {
  /** `tropos-<workflow>` */
  readonly name: string;
  readonly logicalId: string;
  readonly arn: string;
  readonly definition: Record<string, unknown>;
}

/** The local ARN (or name) a `Ref` / `Fn::GetAtt` of a resource stands for. */
export function localReference(
  template: Template,
  logicalId: string,
  attribute: string | undefined,
  region: string,
): string {
  const resource = template.Resources[logicalId];
  if (!resource) throw new Error(`template has no resource ${logicalId}`);
  const props = resource.Properties ?? {};
  const named = (key: string) => (typeof props[key] === 'string' ? (props[key] as string) : logicalId);
  switch (resource.Type) {
    case 'AWS::Lambda::Function':
      return attribute === 'Arn' ? `arn:aws:lambda:${region}:${LOCAL_ACCOUNT}:function:${logicalId}` : logicalId;
    case 'AWS::CodeBuild::Project':
      return attribute === 'Arn'
        ? `arn:aws:codebuild:${region}:${LOCAL_ACCOUNT}:project/${named('Name')}`
        : named('Name');
    case 'AWS::StepFunctions::StateMachine': {
      const arn = `arn:aws:states:${region}:${LOCAL_ACCOUNT}:stateMachine:${named('StateMachineName')}`;
      return attribute === 'Name' ? named('StateMachineName') : arn;
    }
    case 'AWS::DynamoDB::Table':
      return attribute === 'Arn' ? `arn:aws:dynamodb:${region}:${LOCAL_ACCOUNT}:table/${logicalId}` : logicalId;
    case 'AWS::SNS::Topic':
      return `arn:aws:sns:${region}:${LOCAL_ACCOUNT}:${logicalId}`;
    case 'AWS::S3::Bucket':
      return attribute === 'Arn' ? `arn:aws:s3:::${logicalId.toLowerCase()}` : logicalId.toLowerCase();
    default:
      return attribute ? `${logicalId}.${attribute}` : logicalId;
  }
}

/** Resolves the intrinsic functions CDK uses in definitions: Fn::Join, Ref, Fn::GetAtt, pseudo parameters. */
export function resolveTokens(value: unknown, template: Template, region: string): unknown {
  if (Array.isArray(value)) return value.map((v) => resolveTokens(v, template, region));
  if (value === null || typeof value !== 'object') return value;
  const obj = value as Record<string, unknown>;
  if ('Ref' in obj) {
    const ref = obj.Ref as string;
    const pseudo: Record<string, string> = {
      'AWS::Partition': 'aws',
      'AWS::Region': region,
      'AWS::AccountId': LOCAL_ACCOUNT,
      'AWS::URLSuffix': 'amazonaws.com',
      'AWS::StackName': 'Tropos',
    };
    return pseudo[ref] ?? localReference(template, ref, undefined, region);
  }
  if ('Fn::GetAtt' in obj) {
    const [id, attr] = obj['Fn::GetAtt'] as [string, string];
    return localReference(template, id, attr, region);
  }
  if ('Fn::Join' in obj) {
    const [sep, parts] = obj['Fn::Join'] as [string, unknown[]];
    return parts.map((p) => String(resolveTokens(p, template, region))).join(sep);
  }
  return Object.fromEntries(Object.entries(obj).map(([k, v]) => [k, resolveTokens(v, template, region)]));
}

/** Every state machine of the template, by name, with its definition parsed. */
export function extractStateMachines(template: Template, region: string): Map<string, ExtractedStateMachine> {
  const result = new Map<string, ExtractedStateMachine>();
  for (const [logicalId, resource] of Object.entries(template.Resources)) {
    if (resource.Type !== 'AWS::StepFunctions::StateMachine') continue;
    const text = resolveTokens(resource.Properties?.DefinitionString, template, region);
    if (typeof text !== 'string') throw new Error(`${logicalId}: DefinitionString did not resolve to a string`);
    const name = localReference(template, logicalId, 'Name', region);
    result.set(name, {
      name,
      logicalId,
      arn: localReference(template, logicalId, 'Arn', region),
      definition: JSON.parse(text) as Record<string, unknown>,
    });
  }
  return result;
}
