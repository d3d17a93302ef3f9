/**
 * The service limits Tropos must stay within on AWS, as AWS documents them. The synth refuses a template that
 * crosses a deploy-time limit; the local engine and local functions refuse at run time what AWS refuses then.
 */
export const AWS_LIMITS = {
  /** CloudFormation: a template body uploaded through S3 (what CDK does). */
  templateBytes: 1_000_000,
  /** CloudFormation: resources per stack. */
  resourcesPerStack: 500,
  /** Step Functions: the size of a state machine definition. */
  definitionBytes: 1_048_576,
  /** Lambda: all environment variables of a function, names and values, in bytes. */
  lambdaEnvironmentBytes: 4096,
  /** Lambda: a synchronous invocation's request and response payloads (6 MB). */
  lambdaPayloadBytes: 6_291_456,
  /** Step Functions: the input or output of a state, of an execution, a task result. */
  statePayloadBytes: 262_144,
  /** Step Functions (standard): events in an execution's history. */
  historyEvents: 25_000,
  /** Step Functions: iterations an inline Map runs at once (more are queued; the start order is not documented). */
  inlineMapConcurrency: 40,
  /** Step Functions: an execution name, 1-80 characters. */
  executionNameLength: 80,
} as const;

/**
 * Characters Step Functions refuses in an execution or state machine name: whitespace, brackets, wildcards,
 * special characters and control characters (the StartExecution API reference).
 */
export const INVALID_NAME_CHARACTERS = /[\s<>{}[\]?*"#%\\^|~`$&,;:/\u0000-\u001f\u007f-\u009f]/;

/** Why an execution name would be refused by StartExecution, or undefined when it is valid. */
export function executionNameProblem(name: string): string | undefined {
  if (name.length < 1 || name.length > AWS_LIMITS.executionNameLength)
    return `the execution name "${name}" is ${name.length} characters long; Step Functions allows 1 to ${AWS_LIMITS.executionNameLength}`;
  const bad = INVALID_NAME_CHARACTERS.exec(name);
  if (bad)
    return `the execution name "${name}" contains ${JSON.stringify(bad[0])}, which Step Functions refuses (no whitespace, brackets, wildcards, special or control characters)`;
  return undefined;
}

/** The UTF-8 size of a JSON value as a service receives it. */
export function jsonBytes(value: unknown): number {
  return Buffer.byteLength(JSON.stringify(value ?? null));
}
