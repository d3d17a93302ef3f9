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

/** Reads a JSON environment variable at start-up, failing fast. */
export function jsonEnv<T>(name: string): T {
  const text = requiredEnv(name);
  try {
    return JSON.parse(text) as T;
  } catch (e) {
    throw new Error(`environment variable ${name} is not valid JSON: ${(e as Error).message}`);
  }
}
