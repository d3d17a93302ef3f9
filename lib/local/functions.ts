import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { AWS_LIMITS, jsonBytes } from '../limits/aws-limits';
import type { IamAuthorizer } from './iam/authorizer';
import { asPrincipal } from './iam/enforcement';
import type { AwsEnv } from './iam/sdk-actions';
import type { Template } from './definitions';
import { localReference, resolveTokens } from './definitions';

/** A Lambda handler: `(event, context) => result`. */
type Handler = (event: unknown, context: unknown) => Promise<unknown>;

/** The error a Lambda invocation fails with, shaped as Step Functions sees it: name = errorType, cause = JSON. */
export class LambdaFunctionError extends Error {
  constructor(name: string, message: string) {
    super(JSON.stringify({ errorType: name, errorMessage: message }));
    this.name = name;
  }
}

/**
 * The template's Lambda functions, run in-process: the very bundles the deployment uploads (the code assets of
 * the cloud assembly, built by esbuild), each named by its `TROPOS_FUNCTION` variable (the `lambdas/<name>/`
 * folder), with the function's environment variables from the template (tokens resolved to their local names)
 * set in this process before the bundle is loaded.
 */
export class LocalFunctions {
  private readonly handlers = new Map<string, Handler>();
  private readonly folders = new Map<string, string>();
  private readonly bundles = new Map<string, string>();
  /** Each function's execution role (logical id), by folder: its AWS calls are authorized for it. */
  private readonly roles = new Map<string, string>();

  constructor(
    template: Template,
    region: string,
    assemblyDir: string,
    /** IAM enforced: each function's SDK calls are authorized for its role (`enforceIam`). */
    private readonly iam?: { authorizer: IamAuthorizer; env: () => AwsEnv },
  ) {
    const env: Record<string, string> = {};
    for (const [id, resource] of Object.entries(template.Resources)) {
      if (resource.Type !== 'AWS::Lambda::Function') continue;
      const vars = resolveTokens(
        (resource.Properties?.Environment as { Variables?: object } | undefined)?.Variables ?? {},
        template,
        region,
      ) as Record<string, string>;
      const folder = vars.TROPOS_FUNCTION;
      if (!folder) continue;
      this.folders.set(localReference(template, id, 'Arn', region), folder);
      this.folders.set(id, folder);
      if (iam) this.roles.set(folder, iam.authorizer.roleOfFunction(id).logicalId);
      const asset = (resource as { Metadata?: Record<string, string> }).Metadata?.['aws:asset:path'];
      if (!asset) throw new Error(`function ${id} has no code asset in the cloud assembly; synthesize with bundling`);
      this.bundles.set(folder, join(assemblyDir, asset, 'index.js'));
      for (const [k, v] of Object.entries(vars)) {
        if (k !== 'TROPOS_FUNCTION' && env[k] !== undefined && env[k] !== v)
          throw new Error(`functions disagree on ${k}: the local engine runs them in one process`);
        if (k !== 'TROPOS_FUNCTION') env[k] = v;
      }
    }
    Object.assign(process.env, env);
  }

  /** The local ARN of the function of a handler folder. */
  public arnOf(folder: string): string {
    const arn = [...this.folders].find(([key, f]) => f === folder && key.startsWith('arn:'))?.[0];
    if (!arn) throw new LambdaFunctionError('ResourceNotFoundException', `no function ${folder} in the template`);
    return arn;
  }

  /** The function's handler folder, from its ARN or logical id; undefined when it is not a Tropos function. */
  public folderOf(arnOrId: string): string | undefined {
    return this.folders.get(arnOrId) ?? this.folders.get(arnOrId.split(':').pop() ?? '');
  }

  /** Invokes a function by ARN or logical id, as Lambda would: an error thrown becomes a LambdaFunctionError. */
  public async invoke(arnOrId: string, event: unknown): Promise<unknown> {
    const folder = this.folderOf(arnOrId);
    if (!folder) throw new LambdaFunctionError('ResourceNotFoundException', `no local function for ${arnOrId}`);
    return this.invokeFolder(folder, event);
  }

  public async invokeFolder(folder: string, event: unknown): Promise<unknown> {
    let handler = this.handlers.get(folder);
    if (!handler) {
      const bundle = this.bundles.get(folder);
      if (!bundle) throw new LambdaFunctionError('ResourceNotFoundException', `no function ${folder} in the template`);
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      handler = (require(bundle) as { handler: Handler }).handler;
      this.handlers.set(folder, handler);
    }
    const context = {
      functionName: `tropos-${folder}`,
      functionVersion: '$LATEST',
      invokedFunctionArn: `arn:aws:lambda:local:000000000000:function:tropos-${folder}`,
      memoryLimitInMB: '256',
      awsRequestId: randomUUID(),
      logGroupName: `/aws/lambda/tropos-${folder}`,
      logStreamName: 'local',
      callbackWaitsForEmptyEventLoop: false,
      getRemainingTimeInMillis: () => 60_000,
    };
    // Lambda's synchronous invocation limits: 6 MB each way.
    const requestBytes = jsonBytes(event);
    if (requestBytes > AWS_LIMITS.lambdaPayloadBytes)
      throw new LambdaFunctionError(
        'Lambda.RequestTooLargeException',
        `the request to tropos-${folder} is ${requestBytes} bytes; Lambda accepts ${AWS_LIMITS.lambdaPayloadBytes}`,
      );
    let result: unknown;
    const role = this.roles.get(folder);
    const call = () => handler(structuredClone(event), context);
    try {
      result = (await (this.iam && role ? asPrincipal(role, this.iam.authorizer, this.iam.env, call) : call())) ?? null;
    } catch (e) {
      const err = e as Error;
      throw new LambdaFunctionError(err.name || 'Error', err.message);
    }
    const responseBytes = jsonBytes(result);
    if (responseBytes > AWS_LIMITS.lambdaPayloadBytes)
      throw new LambdaFunctionError(
        'Function.ResponseSizeTooLarge',
        `Response payload size (${responseBytes} bytes) exceeded maximum allowed payload size (${AWS_LIMITS.lambdaPayloadBytes} bytes).`,
      );
    return JSON.parse(JSON.stringify(result)) as unknown;
  }
}
