import { randomBytes, randomUUID } from 'node:crypto';
import { StateMachine } from 'aws-local-stepfunctions';
import { AWS_LIMITS, executionNameProblem, jsonBytes } from '../limits/aws-limits';
import type { IamAuthorizer } from './iam/authorizer';
import { asControlPlane } from './iam/enforcement';
import { integrationRequestsOf } from './iam/integration-actions';
import type { AwsEnv } from './iam/sdk-actions';
import { ExtractedStateMachine, extractStateMachines, LOCAL_ACCOUNT, Template } from './definitions';
import { LambdaFunctionError, LocalFunctions } from './functions';

/**
 * The local Step Functions engine: runs the state machine definitions of the synthesized template with
 * aws-local-stepfunctions, and supplies what that library does not have — a task token per waiting task,
 * `.sync` service integrations (CodeBuild builds, child executions), the AWS SDK integrations the definitions
 * use, execution state-change events — and refuses definitions that use what it would silently ignore.
 */

export type ExecutionStatus = 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'TIMED_OUT' | 'ABORTED';

export interface Execution {
  readonly executionArn: string;
  readonly stateMachineArn: string;
  readonly name: string;
  readonly input: unknown;
  readonly startDate: Date;
  status: ExecutionStatus;
  stopDate?: Date;
  output?: unknown;
  error?: string;
  cause?: string;
  /** Settles when the execution has ended (and its end is recorded). */
  done: Promise<void>;
  /** Events in its history, counted as Step Functions writes them (see `historyWeight`); at most 25,000. */
  historyEvents: number;
  /** The largest state input, output or task result it carried, in bytes; at most 256 KiB. */
  largestPayloadBytes: number;
}

/**
 * The history events Step Functions writes for one event of the local library's log: a state's entry and exit
 * (…StateEntered / …StateExited), a Parallel's or Map's start and end (…StateStarted / …StateSucceeded), a Map
 * iteration's start and end, the execution's start and end. A task's own events (TaskScheduled, TaskStarted,
 * TaskSubmitted for `.sync` and `.waitForTaskToken`, TaskSucceeded / TaskFailed) are counted where it runs.
 */
function historyWeight(event: { type: string; state?: { type: string } }): number {
  switch (event.type) {
    case 'StateEntered':
      return event.state?.type === 'Parallel' || event.state?.type === 'Map' ? 2 : 1;
    case 'StateExited':
      return event.state?.type === 'Parallel' || event.state?.type === 'Map' ? 2 : 1;
    case 'StateFailed':
    case 'MapIterationStarted':
    case 'MapIterationSucceeded':
    case 'MapIterationFailed':
    case 'ExecutionStarted':
    case 'ExecutionSucceeded':
    case 'ExecutionFailed':
    case 'ExecutionAborted':
    case 'ExecutionTimeout':
      return 1;
    default:
      return 0; // StateRetried, StateCaught, ParallelBranch*: no history event of their own
  }
}

/** A task failure with a Step Functions error name, and the cause Step Functions would give. */
export class TaskError extends Error {
  constructor(name: string, cause: string) {
    super(cause);
    this.name = name;
  }
}

/** A state-change event, shaped as EventBridge delivers it. */
export interface EngineEvent {
  readonly source: 'aws.states' | 'aws.codebuild';
  readonly 'detail-type': string;
  readonly time: string;
  readonly detail: Record<string, unknown>;
}

/** Runs a CodeBuild `startBuild.sync` task: returns CodeBuild's `Build`, which has `BuildStatus`. */
export type BuildTask = (
  input: {
    ProjectName: string;
    EnvironmentVariablesOverride?: { Name: string; Value: string; Type?: string }[];
    TimeoutInMinutesOverride?: unknown;
  },
  signal: AbortSignal,
) => Promise<{ BuildStatus: string; [key: string]: unknown }>;

/** Runs an AWS SDK integration (`arn:aws:states:::aws-sdk:<service>:<action>`). */
export type SdkTask = (service: string, action: string, parameters: Record<string, unknown>) => Promise<unknown>;

export interface LocalEngineOptions {
  readonly template: Template;
  readonly region: string;
  readonly functions: LocalFunctions;
  readonly build: BuildTask;
  readonly sdk: SdkTask;
  /** Receives execution status changes (and the build events the build task reports through `emit`). */
  readonly onEvent?: (event: EngineEvent) => Promise<void> | void;
  /**
   * IAM enforced: each Task's integration is authorized for its state machine's role before it runs (what the
   * role must allow, as the Step Functions developer guide lists it per integration); a refusal fails the task.
   */
  readonly iam?: { authorizer: IamAuthorizer; env: () => AwsEnv };
}

/** Fields the library would ignore without a word: a definition that uses one is refused. */
const UNSUPPORTED = [
  'QueryLanguage',
  'Arguments',
  'Output',
  'Assign',
  'HeartbeatSeconds',
  'HeartbeatSecondsPath',
  'Credentials',
  'ItemReader',
  'ItemBatcher',
  'ResultWriter',
  'ToleratedFailurePercentage',
  'ToleratedFailureCount',
];
const DEFAULT_TASK_SECONDS = 60;

interface PendingToken {
  readonly executionArn: string;
  readonly stateName: string;
  readonly resolve: (output: unknown) => void;
  readonly reject: (error: Error) => void;
}

export class UnsupportedDefinitionError extends Error {
  public override readonly name = 'UnsupportedDefinitionError';
}

type StateDef = Record<string, unknown>;

function walkStates(def: { States?: Record<string, StateDef> }, visit: (name: string, state: StateDef) => void): void {
  for (const [name, state] of Object.entries(def.States ?? {})) {
    visit(name, state);
    for (const branch of (state.Branches as object[] | undefined) ?? []) walkStates(branch as never, visit);
    const processor = (state.ItemProcessor ?? state.Iterator) as object | undefined;
    if (processor) walkStates(processor as never, visit);
  }
}

/** Every rule of a Choice state, nested ones (And, Or, Not) included. */
function choiceRules(state: StateDef): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  const visit = (rule: Record<string, unknown>) => {
    out.push(rule);
    for (const key of ['And', 'Or'])
      for (const r of (rule[key] as Record<string, unknown>[] | undefined) ?? []) visit(r);
    if (rule.Not) visit(rule.Not as Record<string, unknown>);
  };
  for (const r of (state.Choices as Record<string, unknown>[] | undefined) ?? []) visit(r);
  return out;
}

/** Throws when a definition uses something the local engine would ignore. */
export function checkSupported(machine: ExtractedStateMachine): void {
  const problems: string[] = [];
  if (machine.definition.QueryLanguage === 'JSONata')
    problems.push('QueryLanguage JSONata (the local engine runs JSONPath)');
  walkStates(machine.definition as never, (name, state) => {
    for (const field of UNSUPPORTED) {
      if (field in state && !(field === 'QueryLanguage' && state[field] === 'JSONPath'))
        problems.push(`state "${name}": ${field}`);
    }
    // The library answers `IsPresent: false` (and IsNull, IsString, … false) with false whatever the value; Step
    // Functions answers true when the test does not hold. A definition must write Not(IsPresent: true) instead.
    for (const rule of choiceRules(state))
      for (const [key, value] of Object.entries(rule))
        if (/^Is[A-Z]\w*$/.test(key) && value === false)
          problems.push(
            `state "${name}": ${key}: false (the local engine evaluates it wrongly; use Not with ${key}: true)`,
          );
    if (state.Type === 'Task' && state.TimeoutSeconds === undefined && state.TimeoutSecondsPath === undefined) {
      problems.push(
        `state "${name}": no TimeoutSeconds (the local engine would cut it at ${DEFAULT_TASK_SECONDS} s; AWS would not)`,
      );
    }
  });
  if (problems.length > 0) {
    throw new UnsupportedDefinitionError(
      `${machine.name} uses what the local engine cannot honour:\n${problems.map((p) => `  - ${p}`).join('\n')}`,
    );
  }
}

export class LocalEngine {
  public readonly machines: Map<string, ExtractedStateMachine>;
  private readonly byArn = new Map<string, ExtractedStateMachine>();
  private readonly executions = new Map<string, Execution>();
  private readonly aborts = new Map<string, { abort: () => void; controller: AbortController }>();
  /** Executions that crossed a Step Functions limit, and how they fail: FAILED with this error, not ABORTED. */
  private readonly failedByLimit = new Map<string, { error: string; cause: string }>();
  private readonly tokens = new Map<string, PendingToken>();
  /**
   * Each definition's library state machine, validated once (asl-validator compiles its JSON schemas on every
   * validation: ~0.2 s of this process's one thread per execution start, during which every other execution waits).
   * A definition is not changed once loaded, so its validation's answer cannot change; an invalid one throws here
   * at every start, as before.
   */
  private readonly validated = new WeakMap<ExtractedStateMachine['definition'], StateMachine>();
  /** Every task token issued, so that tests can check that none leaks into an answer, a record or a log. */
  public readonly issuedTokens = new Set<string>();

  constructor(private readonly options: LocalEngineOptions) {
    this.machines = extractStateMachines(options.template, options.region);
    for (const m of this.machines.values()) {
      checkSupported(m);
      this.byArn.set(m.arn, m);
    }
  }

  public machine(nameOrArn: string): ExtractedStateMachine {
    const m = this.byArn.get(nameOrArn) ?? this.machines.get(nameOrArn);
    if (!m) throw new TaskError('StateMachineDoesNotExist', `State Machine Does Not Exist: '${nameOrArn}'`);
    return m;
  }

  public execution(arn: string): Execution {
    const e = this.executions.get(arn);
    if (!e) throw new TaskError('ExecutionDoesNotExist', `Execution Does Not Exist: '${arn}'`);
    return e;
  }

  public listExecutions(stateMachineArn?: string): Execution[] {
    return [...this.executions.values()].filter((e) => !stateMachineArn || e.stateMachineArn === stateMachineArn);
  }

  /** Starts an execution; resolves once it is running (not when it ends: await `execution.done`). */
  public startExecution(stateMachineArn: string, input: unknown, name: string = randomUUID()): Execution {
    const machine = this.machine(stateMachineArn);
    // What StartExecution refuses: a bad name, an input over the state payload limit.
    const nameProblem = executionNameProblem(name);
    if (nameProblem) throw new TaskError('InvalidName', nameProblem);
    if (jsonBytes(input) > AWS_LIMITS.statePayloadBytes)
      throw new TaskError(
        'InvalidExecutionInput',
        `the execution input is ${jsonBytes(input)} bytes; Step Functions allows ${AWS_LIMITS.statePayloadBytes}`,
      );
    const executionArn = `arn:aws:states:${this.options.region}:${LOCAL_ACCOUNT}:execution:${machine.name}:${name}`;
    if (this.executions.has(executionArn))
      throw new TaskError('ExecutionAlreadyExists', `Execution Already Exists: '${executionArn}'`);
    const tokenPlaceholder = `local-task-token-placeholder-${randomUUID()}`;
    const controller = new AbortController();
    // Known before its first state runs (the library runs it within `run`): its tasks count into it.
    const execution: Execution = {
      executionArn,
      stateMachineArn: machine.arn,
      name,
      input,
      startDate: new Date(),
      status: 'RUNNING',
      historyEvents: 0,
      largestPayloadBytes: jsonBytes(input),
      done: Promise.resolve(),
    };
    this.executions.set(executionArn, execution);
    let run: ReturnType<StateMachine['run']>;
    try {
      run = this.stateMachineOf(machine).run(input as never, {
        overrides: {
          taskResourceLocalHandlers: this.taskHandlers(
            machine,
            executionArn,
            tokenPlaceholder,
            controller.signal,
          ) as never,
        },
        context: {
          Execution: { Id: executionArn, Name: name, RoleArn: `arn:aws:iam::${LOCAL_ACCOUNT}:role/local` },
          StateMachine: { Id: machine.arn, Name: machine.name },
          Task: { Token: tokenPlaceholder },
        },
      });
    } catch (e) {
      // Nothing started: the name stays free.
      this.executions.delete(executionArn);
      throw e;
    }
    this.aborts.set(executionArn, { abort: run.abort, controller });
    // The history and payloads are measured as the states run; the execution ends once its events are all counted:
    // one that crossed a limit failed, as on AWS, even if the library finished it first.
    const watched = this.watchLimits(execution, run.eventLogs);
    execution.done = Promise.allSettled([run.result, watched]).then(([result]) => {
      const limit = this.failedByLimit.get(executionArn);
      if (limit) return this.end(execution, 'FAILED', limit);
      if (result.status === 'fulfilled') return this.end(execution, 'SUCCEEDED', { output: result.value });
      const e = result.reason as Error;
      const inner = (e as { cause?: Error }).cause;
      if (e.name === 'ExecutionAbortedError') return this.end(execution, 'ABORTED', {});
      if (e.name === 'ExecutionTimeoutError') return this.end(execution, 'TIMED_OUT', { error: 'States.Timeout' });
      return this.end(execution, 'FAILED', { error: inner?.name ?? e.name, cause: inner?.message ?? e.message });
    });
    void this.emitExecution(execution);
    return execution;
  }

  /**
   * An execution a restarted control plane found cut off: its run is RUNNING on the records, this engine never ran
   * it. It is known again — RUNNING (DescribeExecution says so; its stack lock is not free) while `until` runs (the
   * adoption of its builds that outlived the crash), then ended ABORTED with `error` and `cause`, its end event sent
   * as any execution's. If `until` answers false (the control plane is stopping again), it is left without an end:
   * the next start finds it cut off again.
   */
  public restoreCutOff(
    cut: { executionArn: string; name: string; input: unknown; startDate: Date },
    until: Promise<boolean>,
    ending: { error: string; cause: string },
  ): Execution {
    const execution: Execution = {
      executionArn: cut.executionArn,
      stateMachineArn: cut.executionArn.replace(/:execution:([^:]+):[^:]+$/, ':stateMachine:$1'),
      name: cut.name,
      input: cut.input,
      startDate: cut.startDate,
      status: 'RUNNING',
      historyEvents: 0,
      largestPayloadBytes: jsonBytes(cut.input),
      done: Promise.resolve(),
    };
    this.executions.set(cut.executionArn, execution);
    execution.done = until.then(
      (finished) => (finished ? this.end(execution, 'ABORTED', ending) : undefined),
      (err: Error) =>
        this.end(execution, 'ABORTED', { error: ending.error, cause: `${ending.cause} (${err.message})` }),
    );
    return execution;
  }

  /** The machine's library state machine, its definition validated at its first start (see `validated`). */
  private stateMachineOf(machine: ExtractedStateMachine): StateMachine {
    let sm = this.validated.get(machine.definition);
    if (!sm) {
      sm = new StateMachine(machine.definition as never, { validationOptions: { checkArn: false, checkPaths: true } });
      this.validated.set(machine.definition, sm);
    }
    return sm;
  }

  /**
   * Counts the execution's history as Step Functions writes it and measures every state's input and output: an
   * execution that crosses 25,000 events or a payload over 256 KiB fails as it would on AWS.
   */
  private async watchLimits(
    execution: Execution,
    events: AsyncGenerator<{ type: string; state?: { type: string; input?: unknown; output?: unknown } }>,
  ): Promise<void> {
    for await (const event of events) {
      this.countHistory(execution, historyWeight(event));
      for (const payload of [event.state?.input, event.state?.output])
        if (payload !== undefined) this.measurePayload(execution, payload, event.state?.type ?? 'state');
    }
  }

  private countHistory(execution: Execution, events: number): void {
    execution.historyEvents += events;
    if (execution.status === 'RUNNING' && execution.historyEvents > AWS_LIMITS.historyEvents)
      this.failByLimit(
        execution.executionArn,
        'States.Runtime',
        `the execution history reached ${execution.historyEvents} events; a standard workflow allows ${AWS_LIMITS.historyEvents}: split the work into child executions`,
      );
  }

  private measurePayload(execution: Execution, payload: unknown, what: string): void {
    const bytes = jsonBytes(payload);
    execution.largestPayloadBytes = Math.max(execution.largestPayloadBytes, bytes);
    if (execution.status === 'RUNNING' && bytes > AWS_LIMITS.statePayloadBytes)
      this.failByLimit(
        execution.executionArn,
        'States.DataLimitExceeded',
        `a ${what} carried ${bytes} bytes; Step Functions allows ${AWS_LIMITS.statePayloadBytes} for a state's input, output or a task's result`,
      );
  }

  private failByLimit(arn: string, error: string, cause: string): void {
    if (this.failedByLimit.has(arn)) return;
    this.failedByLimit.set(arn, { error, cause });
    this.stopExecution(arn, error, cause);
  }

  /** Stops a running execution: its builds are stopped, its waiting tasks forgotten. */
  public stopExecution(arn: string, error?: string, cause?: string): Execution {
    const execution = this.execution(arn);
    if (execution.status !== 'RUNNING') return execution;
    execution.error = error;
    execution.cause = cause;
    const a = this.aborts.get(arn);
    a?.controller.abort();
    a?.abort();
    return execution;
  }

  public sendTaskSuccess(token: string, output: unknown): void {
    this.takeToken(token).resolve(output);
  }

  public sendTaskFailure(token: string, error: string | undefined, cause: string | undefined): void {
    this.takeToken(token).reject(new TaskError(error ?? 'States.TaskFailed', cause ?? ''));
  }

  private takeToken(token: string): PendingToken {
    const pending = this.tokens.get(token);
    // Step Functions answers an unknown, used or expired token with TaskTimedOut / InvalidToken.
    if (!pending)
      throw new TaskError(
        'TaskTimedOut',
        'Task Timed Out: the task token is unknown, was answered already, or its task ended',
      );
    this.tokens.delete(token);
    return pending;
  }

  private async end(
    execution: Execution,
    status: ExecutionStatus,
    fields: { output?: unknown; error?: string; cause?: string },
  ) {
    execution.status = status;
    execution.stopDate = new Date();
    if (fields.output !== undefined) execution.output = fields.output;
    execution.error ??= fields.error;
    execution.cause ??= fields.cause;
    this.aborts.get(execution.executionArn)?.controller.abort();
    this.aborts.delete(execution.executionArn);
    for (const [token, pending] of this.tokens)
      if (pending.executionArn === execution.executionArn) this.tokens.delete(token);
    await this.emitExecution(execution);
  }

  private async emitExecution(e: Execution): Promise<void> {
    await this.emit({
      source: 'aws.states',
      'detail-type': 'Step Functions Execution Status Change',
      time: new Date().toISOString(),
      detail: {
        executionArn: e.executionArn,
        stateMachineArn: e.stateMachineArn,
        name: e.name,
        status: e.status,
        startDate: e.startDate.getTime(),
        stopDate: e.stopDate?.getTime() ?? null,
        input: JSON.stringify(e.input),
        output: e.output === undefined ? null : JSON.stringify(e.output),
        error: e.error ?? null,
        cause: e.cause ?? null,
      },
    });
  }

  public async emit(event: EngineEvent): Promise<void> {
    try {
      await this.options.onEvent?.(event);
    } catch (err) {
      // EventBridge delivers asynchronously: a failing target does not fail the execution.
      process.emitWarning(`event target failed for ${event['detail-type']}: ${(err as Error).message}`);
    }
  }

  // --- tasks ---------------------------------------------------------------------------------------------

  private taskHandlers(machine: ExtractedStateMachine, executionArn: string, placeholder: string, signal: AbortSignal) {
    const handlers: Record<string, (input: unknown) => Promise<unknown>> = {};
    walkStates(machine.definition as never, (name, state) => {
      if (state.Type !== 'Task') return;
      const resource = String(state.Resource);
      const timeoutMs = ((state.TimeoutSeconds as number | undefined) ?? DEFAULT_TASK_SECONDS) * 1000;
      // TaskScheduled, TaskStarted, TaskSucceeded or TaskFailed; TaskSubmitted too for .sync and .waitForTaskToken.
      const taskEvents = /\.(sync(:2)?|waitForTaskToken)$/.test(resource) ? 4 : 3;
      handlers[name] = async (input) => {
        const execution = this.execution(executionArn);
        this.countHistory(execution, taskEvents);
        this.authorizeTask(machine, name, resource, input);
        const result = await this.runTask(resource, input, {
          executionArn,
          stateName: name,
          placeholder,
          signal,
          timeoutMs,
        });
        this.measurePayload(execution, result, `result of task "${name}"`);
        return result;
      };
    });
    return handlers;
  }

  private async runTask(
    resource: string,
    input: unknown,
    t: { executionArn: string; stateName: string; placeholder: string; signal: AbortSignal; timeoutMs: number },
  ): Promise<unknown> {
    const integration = /^arn:aws:states:::([^:]+):([^.]+)(?:\.(sync(?::2)?|waitForTaskToken))?$/.exec(resource);
    if (!integration) {
      if (/^arn:aws:lambda:/.test(resource)) return this.options.functions.invoke(resource, input);
      throw new TaskError('States.Runtime', `the local engine has no implementation for resource ${resource}`);
    }
    const [, service, action, pattern] = integration;
    if (service === 'aws-sdk') {
      const [sdkService, sdkAction] = action!.split(':') as [string, string];
      // The state machine's role was authorized for it above; the call itself is the control plane's.
      return asControlPlane(() => this.options.sdk(sdkService, sdkAction, input as Record<string, unknown>));
    }
    const key = `${service}:${action}${pattern ? `.${pattern}` : ''}`;
    switch (key) {
      case 'lambda:invoke': {
        const { FunctionName, Payload } = input as { FunctionName: string; Payload: unknown };
        return { StatusCode: 200, Payload: await this.options.functions.invoke(FunctionName, Payload) };
      }
      case 'lambda:invoke.waitForTaskToken':
        return this.waitForToken(input as { FunctionName: string; Payload: unknown }, t);

      case 'codebuild:startBuild.sync': {
        const build = await this.options.build(input as never, t.signal);
        if (build.BuildStatus !== 'SUCCEEDED')
          throw new TaskError('States.TaskFailed', JSON.stringify({ Build: build }));
        return { Build: build };
      }
      case 'states:startExecution.sync:2':
      case 'states:startExecution.sync': {
        const { StateMachineArn, Input, Name } = input as { StateMachineArn: string; Input: unknown; Name?: string };
        const child = this.startExecution(StateMachineArn, typeof Input === 'string' ? JSON.parse(Input) : Input, Name);
        const onAbort = () => this.stopExecution(child.executionArn, 'States.Aborted', 'the parent execution ended');
        t.signal.addEventListener('abort', onAbort);
        await child.done;
        t.signal.removeEventListener('abort', onAbort);
        const described = this.describe(child);
        if (child.status !== 'SUCCEEDED') throw new TaskError('States.TaskFailed', JSON.stringify(described));
        return described;
      }
      default:
        throw new TaskError('States.Runtime', `the local engine has no implementation for ${resource}`);
    }
  }

  /** Refuses a task its state machine's role may not run, the way Step Functions fails it: naming role, action, resource. */
  private authorizeTask(machine: ExtractedStateMachine, state: string, resource: string, input: unknown): void {
    const iam = this.options.iam;
    if (!iam) return;
    const role = iam.authorizer.roleOfStateMachine(machine.arn);
    const requests = integrationRequestsOf(resource, input as Record<string, unknown>, iam.env());
    const result = iam.authorizer.authorizeAll(role.logicalId, requests);
    if (result.allowed) return;
    const service = /^arn:aws:states:::(?:aws-sdk:)?([a-z]+)/.exec(resource)?.[1] ?? 'States';
    const prefix = { lambda: 'Lambda', codebuild: 'CodeBuild', states: 'StepFunctions' }[service] ?? service;
    throw new TaskError(`${prefix}.AccessDeniedException`, `state "${state}" of ${machine.name}: ${result.reason}`);
  }

  /** The state machine whose execution issued a task token (what AWS authorizes SendTask* against). */
  public stateMachineOfToken(token: string): string | undefined {
    const pending = this.tokens.get(token);
    return pending ? this.executions.get(pending.executionArn)?.stateMachineArn : undefined;
  }

  /** What DescribeExecution answers (and startExecution.sync:2 returns, with Output as JSON). */
  public describe(e: Execution): Record<string, unknown> {
    return {
      ExecutionArn: e.executionArn,
      StateMachineArn: e.stateMachineArn,
      Name: e.name,
      Status: e.status,
      StartDate: e.startDate.toISOString(),
      StopDate: e.stopDate?.toISOString(),
      Input: e.input,
      Output: e.output,
      Error: e.error,
      Cause: e.cause,
    };
  }

  /**
   * `.waitForTaskToken`: the library gives every state the same `$$.Task.Token`, so each waiting task gets its
   * own fresh token here, put in place of the shared one in the payload. The task ends when the token is answered
   * (SendTaskSuccess / SendTaskFailure), or at its TimeoutSeconds, when the token stops working.
   */
  private async waitForToken(
    input: { FunctionName: string; Payload: unknown },
    t: { executionArn: string; stateName: string; placeholder: string; timeoutMs: number; signal: AbortSignal },
  ): Promise<unknown> {
    const token = randomBytes(48).toString('base64url');
    this.issuedTokens.add(token);
    const payload = JSON.parse(JSON.stringify(input.Payload).split(t.placeholder).join(token)) as unknown;
    const answered = new Promise<unknown>((resolve, reject) =>
      this.tokens.set(token, { executionArn: t.executionArn, stateName: t.stateName, resolve, reject }),
    );
    // The answer may come (or the execution end) while the function is still running: nobody awaits it yet.
    answered.catch(() => undefined);
    const expiry = setTimeout(() => this.tokens.delete(token), t.timeoutMs);
    // An execution that ends (stopped, failed elsewhere) ends its waiting tasks too.
    const onAbort = () => this.tokens.get(token)?.reject(new TaskError('States.Aborted', 'the execution ended'));
    t.signal.addEventListener('abort', onAbort);
    try {
      await this.options.functions.invoke(input.FunctionName, payload);
      return await answered;
    } catch (e) {
      this.tokens.delete(token);
      if (e instanceof LambdaFunctionError || e instanceof TaskError) throw e;
      throw new TaskError('States.TaskFailed', (e as Error).message);
    } finally {
      clearTimeout(expiry);
      t.signal.removeEventListener('abort', onAbort);
      this.tokens.delete(token);
    }
  }

  /** Tokens waiting for an answer, for tests and diagnostics: which execution and state each belongs to. */
  public waitingTasks(): { executionArn: string; stateName: string }[] {
    return [...this.tokens.values()].map(({ executionArn, stateName }) => ({ executionArn, stateName }));
  }
}
