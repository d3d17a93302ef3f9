import { AWS_LIMITS } from './aws-limits';

/**
 * A synthesized template checked against CloudFormation's, Step Functions' and Lambda's deploy-time limits. Values
 * that hold CloudFormation tokens (a table's name, an ARN) are counted at their longest plausible value: the longest
 * name AWS allows for that kind of resource, in the longest partition, region and account id.
 */

interface Resource {
  readonly Type: string;
  readonly Properties?: Record<string, unknown>;
}
export interface TemplateJson {
  readonly Resources: Record<string, Resource>;
}

/** The longest partition (aws-us-gov), region (ap-southeast-5 and the like; 16 leaves room) and account id. */
const PARTITION = 10;
const REGION = 16;
const ACCOUNT = 12;
const arn = (service: string, resource: number) =>
  'arn:'.length + PARTITION + 1 + service.length + 1 + REGION + 1 + ACCOUNT + 1 + resource;

/** The longest value of `Ref` / `Fn::GetAtt` per resource type, from the names AWS allows. */
const LONGEST: Record<string, Record<string, number>> = {
  'AWS::DynamoDB::Table': { Ref: 255, Arn: arn('dynamodb', 'table/'.length + 255), StreamArn: arn('dynamodb', 600) },
  'AWS::SNS::Topic': { Ref: arn('sns', 256), TopicArn: arn('sns', 256), TopicName: 256 },
  'AWS::SQS::Queue': {
    Ref: 'https://sqs.'.length + REGION + '.amazonaws.com.cn/'.length + ACCOUNT + 1 + 80,
    Arn: arn('sqs', 80),
    QueueName: 80,
  },
  'AWS::SecretsManager::Secret': { Ref: arn('secretsmanager', 'secret:'.length + 512 + 7) },
  'AWS::StepFunctions::StateMachine': {
    Ref: arn('states', 'stateMachine:'.length + 80),
    Arn: arn('states', 'stateMachine:'.length + 80),
    Name: 80,
  },
  'AWS::Lambda::Function': { Ref: 64, Arn: arn('lambda', 'function:'.length + 64) },
  'AWS::S3::Bucket': {
    Ref: 63,
    Arn: 'arn:'.length + PARTITION + ':s3:::'.length + 63,
    DomainName: 63 + 40,
    RegionalDomainName: 63 + 40,
  },
  'AWS::KMS::Key': { Ref: 36, Arn: arn('kms', 'key/'.length + 36) },
  'AWS::KMS::Alias': { Ref: 256 },
  'AWS::IAM::Role': { Ref: 64, Arn: arn('iam', 'role/'.length + 512 + 64) - REGION, RoleId: 128 },
  'AWS::CodeBuild::Project': { Ref: 255, Arn: arn('codebuild', 'project/'.length + 255) },
  'AWS::Events::Rule': { Ref: 64, Arn: arn('events', 'rule/'.length + 64) },
  'AWS::Logs::LogGroup': { Ref: 512, Arn: arn('logs', 'log-group:'.length + 512 + 2) },
  'AWS::ApiGateway::RestApi': { Ref: 10, RootResourceId: 10 },
  'AWS::ApiGateway::Stage': { Ref: 128 },
};
const PSEUDO: Record<string, number> = {
  'AWS::Partition': PARTITION,
  'AWS::Region': REGION,
  'AWS::AccountId': ACCOUNT,
  'AWS::URLSuffix': 'amazonaws.com.cn'.length,
  'AWS::StackName': 128,
  'AWS::StackId': arn('cloudformation', 'stack/'.length + 128 + 37),
};

/** The longest the value can be once CloudFormation resolves it; throws for a token it cannot bound. */
export function longestValue(value: unknown, template: TemplateJson, where: string): number {
  if (typeof value === 'string') return Buffer.byteLength(value);
  if (typeof value === 'number' || typeof value === 'boolean') return String(value).length;
  if (value === null || typeof value !== 'object') return 0;
  const obj = value as Record<string, unknown>;
  const bound = (type: string, attribute: string) => {
    const n = LONGEST[type]?.[attribute];
    if (n === undefined)
      throw new Error(
        `${where}: cannot bound the length of ${attribute} of a ${type}; add it to LONGEST in lib/limits/template-limits.ts`,
      );
    return n;
  };
  if ('Ref' in obj) {
    const ref = String(obj.Ref);
    if (ref in PSEUDO) return PSEUDO[ref]!;
    const type = template.Resources[ref]?.Type;
    if (!type) throw new Error(`${where}: Ref to ${ref}, which is not in the template`);
    return bound(type, 'Ref');
  }
  if ('Fn::GetAtt' in obj) {
    const [id, attribute] = obj['Fn::GetAtt'] as [string, string];
    const type = template.Resources[id]?.Type;
    if (!type) throw new Error(`${where}: Fn::GetAtt of ${id}, which is not in the template`);
    return bound(type, attribute);
  }
  if ('Fn::Join' in obj) {
    const [sep, parts] = obj['Fn::Join'] as [string, unknown[]];
    return (
      parts.reduce<number>((n, p) => n + longestValue(p, template, where), 0) +
      sep.length * Math.max(0, parts.length - 1)
    );
  }
  if ('Fn::Sub' in obj) {
    const sub = obj['Fn::Sub'];
    const [text, vars] = Array.isArray(sub) ? (sub as [string, Record<string, unknown>]) : [String(sub), {}];
    return text.replace(/\$\{([^}]+)\}/g, (_, name: string) => {
      const v =
        vars[name] !== undefined ? vars[name] : name.includes('.') ? { 'Fn::GetAtt': name.split('.') } : { Ref: name };
      return 'x'.repeat(longestValue(v, template, where));
    }).length;
  }
  if ('Fn::Select' in obj || 'Fn::ImportValue' in obj || 'Fn::GetAZs' in obj || 'Fn::Split' in obj)
    throw new Error(`${where}: cannot bound the length of ${Object.keys(obj)[0]}`);
  return Buffer.byteLength(JSON.stringify(obj));
}

/** One limit as measured: what, how much, the limit, the headroom. */
export interface LimitFigure {
  readonly limit: string;
  readonly subject: string;
  readonly value: number;
  readonly max: number;
}

/** Every deploy-time figure of a template: its size and resources, each definition, each function's environment. */
export function templateFigures(template: TemplateJson, templateBytes: number): LimitFigure[] {
  const figures: LimitFigure[] = [
    { limit: 'template bytes', subject: 'template', value: templateBytes, max: AWS_LIMITS.templateBytes },
    {
      limit: 'resources per stack',
      subject: 'template',
      value: Object.keys(template.Resources).length,
      max: AWS_LIMITS.resourcesPerStack,
    },
  ];
  for (const [id, r] of Object.entries(template.Resources)) {
    if (r.Type === 'AWS::StepFunctions::StateMachine') {
      const body = r.Properties?.DefinitionString;
      figures.push({
        limit: 'state machine definition bytes',
        subject: id,
        value: longestValue(body, template, `${id} DefinitionString`),
        max: AWS_LIMITS.definitionBytes,
      });
    }
    if (r.Type === 'AWS::Lambda::Function') {
      const vars = ((r.Properties?.Environment as { Variables?: Record<string, unknown> } | undefined)?.Variables ??
        {}) as Record<string, unknown>;
      // Lambda counts each key and value (as the service stores them: the JSON of the map, less its punctuation).
      const value = Object.entries(vars).reduce(
        (n, [k, v]) => n + Buffer.byteLength(k) + longestValue(v, template, `${id} environment ${k}`),
        0,
      );
      figures.push({ limit: 'Lambda environment bytes', subject: id, value, max: AWS_LIMITS.lambdaEnvironmentBytes });
    }
  }
  return figures;
}

/** Thrown at synth when a template crosses a limit: every figure over its limit, named. */
export class LimitExceededError extends Error {
  public override readonly name = 'LimitExceededError';
}

/** Refuses a template that AWS would refuse to deploy (CloudFormation, Step Functions, Lambda). */
export function assertTemplateWithinLimits(
  template: TemplateJson,
  templateBytes: number,
  stack = 'the stack',
): LimitFigure[] {
  const figures = templateFigures(template, templateBytes);
  const over = figures.filter((f) => f.value > f.max);
  if (over.length > 0)
    throw new LimitExceededError(
      `${stack} would not deploy: ${over.map((f) => `${f.subject}: ${f.limit} ${f.value} > ${f.max}`).join('; ')}`,
    );
  return figures;
}
