import { SFNClient } from '@aws-sdk/client-sfn';
import { Logger } from '@aws-lambda-powertools/logger';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

/** One logger for every function; the service name is the function's folder. */
export function createLogger(serviceName: string): Logger {
  return new Logger({ serviceName: `tropos-${serviceName}` });
}

let documentClient: DynamoDBDocumentClient | undefined;

/** A DynamoDB document client. Locally, `AWS_ENDPOINT_URL_DYNAMODB` (read by the SDK) points it at the local server. */
export function dynamo(): DynamoDBDocumentClient {
  documentClient ??= DynamoDBDocumentClient.from(new DynamoDBClient({}), {
    marshallOptions: { removeUndefinedValues: true },
  });
  return documentClient;
}

/** Reads a required environment variable at start-up, failing fast with its name. */
export function requiredEnv(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`environment variable ${name} is not set; the function is misconfigured`);
  return value;
}

/**
 * Configuration built into the bundle at synth (esbuild `define`), not carried in the function's environment:
 * Lambda allows 4 KB of environment in all, and the settings and workflow specs are larger. Only values known at
 * synth go here (no CloudFormation tokens); ARNs come from small environment variables.
 */
declare const __TROPOS_BUNDLED__: Record<string, unknown> | undefined;

/** A value built into the bundle, failing fast with its name when it is missing. */
export function bundled<T>(name: string): T {
  const values = typeof __TROPOS_BUNDLED__ === 'undefined' ? undefined : __TROPOS_BUNDLED__;
  if (!values || !(name in values))
    throw new Error(`${name} is not built into this bundle; the function is misconfigured (synthesize it again)`);
  return values[name] as T;
}

/** The AWS account a function runs in, from its own ARN (Lambda's context): Tropos's account. */
export function ownAccountId(context: { invokedFunctionArn?: string } | undefined): string {
  return context?.invokedFunctionArn?.split(':')[4] ?? '';
}

/**
 * The Step Functions client, its endpoint fixed when the function starts. On AWS that is the default; the local
 * control plane points AWS_ENDPOINT_URL_SFN at its own endpoint, and a client resolving it only at its first call
 * (the SDK's way) could meet another control plane's setting when several run in one process (the tests).
 */
export function stepFunctions(): SFNClient {
  sfnClient ??= new SFNClient(process.env.AWS_ENDPOINT_URL_SFN ? { endpoint: process.env.AWS_ENDPOINT_URL_SFN } : {});
  return sfnClient;
}
let sfnClient: SFNClient | undefined;
