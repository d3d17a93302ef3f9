import { Duration } from 'aws-cdk-lib';
import * as codebuild from 'aws-cdk-lib/aws-codebuild';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import { ErrorCode } from '../domain/errors';
import { RESERVED_KEYS } from '../domain/inputs';
import { componentSelection, requirementClosure, Workflow } from '../workflow/load';
import { reversed, topologicalOrder } from '../workflow/graph';
import {
  ApprovalStep,
  ParallelStep,
  RegistryStep,
  Step,
  TerraformStep,
  ValidateStep,
  When,
  WorkflowStep,
} from '../workflow/schema';
import { workflowSpec } from '../workflow/spec';
import { resultKey, resultPath, stateName, titleOf } from './names';
import { CompilerResources } from './resources';
import { compileStateBackend } from './state-backend';
import { lambdaTask, START_RETRY } from './tasks';
import { QUEUED_MINUTES } from '../constructs/terraform-runners';

/** How long a Lambda task may take (they do small, bounded work). */
const LAMBDA_TIMEOUT = Duration.minutes(2);
/** Commands whose dependency order is reversed: dependents are destroyed first. */
const REVERSED_COMMANDS: ReadonlySet<string> = new Set(['plan-destroy', 'destroy']);

/** Compiles one workflow into the chain of states of its state machine. */
export class WorkflowCompiler {
  constructor(
    private readonly scope: Construct,
    private readonly workflow: Workflow,
    private readonly r: CompilerResources,
  ) {}

  /** The whole definition: the top-level steps in order, each behind its `when` / `fromStep` guard. */
  public compile(): sfn.IChainable {
    const fragments: sfn.IChainable[] = this.workflow.steps.map((step, index) => this.guarded(step, index));
    // A mutating workflow takes the stack's lock right after its input is validated, before anything changes.
    if (this.workflow.mutating) fragments.splice(1, 0, this.lockStack());
    const [first, ...rest] = fragments;
    if (!first) throw new Error(`${this.workflow.source}: no steps`);
    let chain = sfn.Chain.start(first);
    for (const f of rest) chain = chain.next(f);
    return chain;
  }

  /** The longest a run of this workflow can take, from its steps' own timeouts. */
  public static maxDuration(r: CompilerResources): Duration {
    return Duration.seconds(Math.round((r.config.approval.deadlineHours + 48) * 3600));
  }

  // --- guards -----------------------------------------------------------------------------------------

  /**
   * A step behind a Choice when it has a `when`, requires earlier steps, or can be skipped by `fromStep`
   * (top-level, not the first). In that order: a step before `fromStep` is not run (its result says so, and
   * nothing that requires it can run); a step whose requirements did not run fails the run (RequirementNotMet:
   * the validator refuses such a `fromStep` already, this is the run's own check); then its `when`.
   */
  private guarded(step: Step, topLevelIndex: number | undefined): sfn.IChainable {
    const body = this.step(step);
    const conditions = this.conditions(step.when);
    if (step.kind === 'approval') conditions.push(this.truthy(`${resultPath(step.plan)}.approvalRequired`));
    const resumable = topLevelIndex !== undefined && topLevelIndex > 0;
    const requires = topLevelIndex === undefined ? [] : requirementClosure(this.workflow, step.name);
    if (conditions.length === 0 && !resumable && requires.length === 0) return body;
    const title = titleOf(step);
    const skipped = (name: string, comment: string, extra: Record<string, unknown> = {}) =>
      new sfn.Pass(this.scope, stateName(name), {
        comment,
        result: sfn.Result.fromObject({
          status: 'SKIPPED',
          hasChanges: false,
          hasDestroys: false,
          approvalRequired: false,
          ...extra,
        }),
        resultPath: resultPath(step.name),
      });
    const choice = new sfn.Choice(this.scope, stateName(`Run ${title}?`));
    if (resumable)
      choice.when(
        sfn.Condition.numberGreaterThan('$.context.fromStepIndex', topLevelIndex),
        skipped(`Not run ${lower(title)}`, 'Not run: fromStep names a later step', { notRun: true }),
      );
    // A step its `when` skips relies on nothing; one that runs, on every step it requires having done its work.
    if (conditions.length > 0) {
      const condition = conditions.length === 1 ? conditions[0]! : sfn.Condition.and(...conditions);
      choice.when(sfn.Condition.not(condition), skipped(`Skip ${title}`, `Skipped: ${this.describeWhen(step)}`));
    }
    if (requires.length > 0)
      choice.when(
        sfn.Condition.not(sfn.Condition.and(...requires.map((r) => this.ran(r)))),
        new sfn.Fail(this.scope, stateName(`${title}: requirements not met`), {
          error: ErrorCode.RequirementNotMet,
          cause: `${step.name} relies on ${requires.join(', ')} having done their work in this run (an approval: asked and given, or not needed by the tier's policy); resume from an earlier step`,
        }),
      );
    return choice.otherwise(body).afterwards();
  }

  /**
   * Whether a required step did its work in this run: an approval step was answered "approve" or not needed by the
   * tier's policy (skipped by its `when`, never by `fromStep`); any other step SUCCEEDED — one its `when` skipped
   * (a destroy with nothing to destroy: perhaps the wrong or an empty state) does not count.
   */
  private ran(name: string): sfn.Condition {
    const path = resultPath(name);
    const step = this.workflow.steps.find((s) => s.name === name);
    // Not(IsPresent), not IsPresent: false — which the local engine's library gets wrong (see engine.ts).
    const notSkippedByFromStep = sfn.Condition.not(sfn.Condition.isPresent(`${path}.notRun`));
    if (step?.kind === 'approval') return sfn.Condition.and(sfn.Condition.isPresent(path), notSkippedByFromStep);
    return sfn.Condition.and(
      sfn.Condition.isPresent(`${path}.status`),
      sfn.Condition.stringEquals(`${path}.status`, 'SUCCEEDED'),
    );
  }

  private describeWhen(step: Step): string {
    const parts: string[] = [];
    if (step.when?.tier) parts.push(`tier is not ${step.when.tier.join(' or ')}`);
    if (step.when?.params) parts.push(`params do not match ${JSON.stringify(step.when.params)}`);
    if (step.when?.changes) parts.push(`plan "${step.when.changes}" has no changes`);
    if (step.when?.destroys) parts.push(`plan "${step.when.destroys}" destroys nothing`);
    if (step.when?.wholeStack) parts.push('the run covers a subset of the stack (components)');
    if (step.kind === 'approval') parts.push(`the tier's approval policy does not ask for this plan`);
    return parts.join(', or ');
  }

  private truthy(path: string): sfn.Condition {
    return sfn.Condition.booleanEquals(path, true);
  }

  private conditions(when: When | undefined): sfn.Condition[] {
    if (!when) return [];
    const result: sfn.Condition[] = [];
    const anyOf = (path: string, values: readonly string[]) => {
      const eq = values.map((v) => sfn.Condition.stringEquals(path, v));
      return eq.length === 1 ? eq[0]! : sfn.Condition.or(...eq);
    };
    if (when.tier) result.push(anyOf('$.context.tier', when.tier));
    for (const [param, values] of Object.entries(when.params ?? {})) {
      result.push(sfn.Condition.and(sfn.Condition.isString(`$.input.${param}`), anyOf(`$.input.${param}`, values)));
    }
    if (when.changes) result.push(this.truthy(`${resultPath(when.changes)}.hasChanges`));
    if (when.destroys) result.push(this.truthy(`${resultPath(when.destroys)}.hasDestroys`));
    if (when.wholeStack) result.push(this.truthy('$.context.wholeStack'));
    return result;
  }

  /** "Lock stack": fails the run at once with StackLocked when another run holds the stack. */
  private lockStack(): sfn.IChainable {
    return lambdaTask(this.scope, 'Lock stack', {
      lambdaFunction: this.r.stackLock,
      payload: sfn.TaskInput.fromObject({
        'stack.$': '$.context.stack',
        'owner.$': '$.context.lockOwner',
        workflow: this.workflow.name,
      }),
      payloadResponseOnly: true,
      resultPath: '$.lock',
      taskTimeout: sfn.Timeout.duration(LAMBDA_TIMEOUT),
      comment: `Fails with ${ErrorCode.StackLocked} naming the holder; the lock is given back when the run ends`,
    });
  }

  // --- steps ------------------------------------------------------------------------------------------

  private step(step: Step): sfn.IChainable {
    switch (step.kind) {
      case 'validate':
        return this.validate(step, step === this.workflow.steps[0]);
      case 'terraform':
        return this.terraform(step);
      case 'approval':
        return this.approval(step);
      case 'workflow':
        return this.childWorkflow(step);
      case 'parallel':
        return this.parallel(step);
      case 'state-backend':
        return compileStateBackend(this.scope, this.r.config);
      case 'registry':
        return this.registry(step);
    }
  }

  private lambda(
    name: string,
    fn: CompilerResources['validateInput'],
    payload: Record<string, unknown>,
    result: string,
  ) {
    return lambdaTask(this.scope, stateName(name), {
      lambdaFunction: fn,
      payload: sfn.TaskInput.fromObject(payload),
      payloadResponseOnly: true,
      resultPath: result,
      taskTimeout: sfn.Timeout.duration(LAMBDA_TIMEOUT),
    });
  }

  /**
   * The first validate step checks the raw input and replaces the state with `{input, context, results}`;
   * later ones only run their checks.
   */
  private validate(step: ValidateStep, first: boolean): sfn.IChainable {
    const wf = this.workflow;
    const payload = {
      workflow: workflowSpec(wf),
      checks: step.checks,
      first,
      'input.$': first ? '$' : '$.input',
      'executionArn.$': '$$.Execution.Id',
      'runId.$': '$$.Execution.Name',
      'startedAt.$': '$$.Execution.StartTime',
    };
    const task = lambdaTask(this.scope, stateName(first ? 'Validate input' : titleOf(step)), {
      lambdaFunction: this.r.validateInput,
      payload: sfn.TaskInput.fromObject(payload),
      taskTimeout: sfn.Timeout.duration(LAMBDA_TIMEOUT),
      comment: `Fails with ${ErrorCode.InvalidInput} naming every bad field`,
      payloadResponseOnly: true,
      // The first replaces the whole state (ResultPath's default, left out: `"$"` written out is the same in ASL,
      // but the local engine's library would store the result under a key named "$").
      ...(first ? {} : { resultPath: resultPath(step.name) }),
    });
    return task;
  }

  private approval(step: ApprovalStep): sfn.IChainable {
    const hours = this.r.config.approval.deadlineHours;
    const title = titleOf(step);
    const task = lambdaTask(this.scope, stateName(title), {
      lambdaFunction: this.r.requestApproval,
      integrationPattern: sfn.IntegrationPattern.WAIT_FOR_TASK_TOKEN,
      payload: sfn.TaskInput.fromObject({
        taskToken: sfn.JsonPath.taskToken,
        'runId.$': '$$.Execution.Name',
        workflow: this.workflow.name,
        step: step.name,
        'stack.$': '$.context.stack',
        'tier.$': '$.context.tier',
        'requestedBy.$': '$.input.requestedBy',
        'principal.$': '$.context.principal',
        'plan.$': resultPath(step.plan),
        deadlineSeconds: deadlineSeconds(hours),
      }),
      resultPath: resultPath(step.name),
      taskTimeout: sfn.Timeout.duration(Duration.seconds(deadlineSeconds(hours))),
      comment: `Waits for an approve / reject answer; past ${hours} h the run fails with ${ErrorCode.ApprovalExpired}`,
    });
    const expired = new sfn.Fail(this.scope, stateName(`${title} expired`), {
      error: ErrorCode.ApprovalExpired,
      cause: `No approval decision within the ${hours} h deadline`,
    });
    task.addCatch(expired, { errors: [sfn.Errors.TIMEOUT] });
    return task;
  }

  private registry(step: RegistryStep): sfn.IChainable {
    return this.lambda(
      titleOf(step),
      this.r.environmentRegistry,
      {
        action: step.action,
        'runId.$': '$$.Execution.Name',
        'input.$': '$.input',
        'context.$': '$.context',
        ...(step.of ? { 'result.$': resultPath(step.of) } : {}),
      },
      resultPath(step.name),
    );
  }

  /**
   * A nested execution (`startExecution.sync:2`) whose input is built from this run's parameters. It is handed
   * over first: the child learns its parent, its principal and (on the parent's stack) the lock it works under from
   * the handover — which no caller can write — never from its input.
   */
  private childWorkflow(step: WorkflowStep): sfn.IChainable {
    const declared = new Set([...this.workflow.inputs.required, ...this.workflow.inputs.optional]);
    const childInputs = new Set(this.childInputs(step.workflow));
    const input: Record<string, unknown> = {};
    for (const name of childInputs) {
      const override = step.input[name];
      const ref = override !== undefined ? /^\$\{(\w+)\}$/.exec(override)?.[1] : undefined;
      if (ref) input[`${name}.$`] = `$.input.${ref}`;
      else if (override !== undefined) input[name] = override;
      else if (declared.has(name as never)) input[`${name}.$`] = `$.input.${name}`;
    }
    for (const key of RESERVED_KEYS) {
      // Not fromStep (a step of this workflow), nor callbackUrl (the ticketing system hears of this run only).
      if (!['fromStep', 'callbackUrl'].includes(key)) input[`${key}.$`] = `$.input.${key}`;
    }
    // What Step Functions' associateWithParent adds: the console links the child to this execution.
    input['AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID.$'] = '$$.Execution.Id';
    // The child's run id: the parent's and the step's, so the ledger reads as a tree.
    const name = sfn.JsonPath.format('{}-{}', sfn.JsonPath.executionName, step.name);
    // A child on the same stack works under this run's lock; one on another stack (promote) takes its own.
    const sameStack = !['tenant', 'account', 'environment'].some((k) => k in step.input);
    const handover = lambdaTask(this.scope, stateName(`Hand over ${lower(titleOf(step))}`), {
      lambdaFunction: this.r.validateInput,
      payload: sfn.TaskInput.fromObject({
        action: 'handover',
        name,
        workflow: step.workflow,
        'parentRunId.$': '$$.Execution.Name',
        'principal.$': '$.context.principal',
        ...(this.workflow.mutating && sameStack ? { 'lockOwner.$': '$.context.lockOwner' } : {}),
        input,
      }),
      payloadResponseOnly: true,
      resultPath: '$.handover',
      taskTimeout: sfn.Timeout.duration(LAMBDA_TIMEOUT),
    });
    const task = new tasks.StepFunctionsStartExecution(this.scope, stateName(titleOf(step)), {
      stateMachine: this.r.stateMachine(step.workflow),
      integrationPattern: sfn.IntegrationPattern.RUN_JOB,
      input: sfn.TaskInput.fromJsonPathAt('$.handover.input'),
      name,
      resultSelector: { 'executionArn.$': '$.ExecutionArn', 'status.$': '$.Status' },
      resultPath: resultPath(step.name),
      taskTimeout: sfn.Timeout.duration(WorkflowCompiler.maxDuration(this.r)),
    });
    task.addRetry(START_RETRY.execution);
    return handover.next(task);
  }

  private childInputs(name: string): string[] {
    const child = this.r.workflows.get(name);
    return child ? [...child.inputs.required, ...child.inputs.optional] : [];
  }

  /**
   * Branches run side by side. A failing branch must not cancel its siblings (Step Functions aborts the others
   * when one branch throws), so each branch catches its own error into a result; the step fails afterwards.
   */
  private parallel(step: ParallelStep): sfn.IChainable {
    const title = titleOf(step);
    const outer = new sfn.Parallel(this.scope, stateName(title), { resultPath: resultPath(step.name) });
    for (const [branch, steps] of Object.entries(step.branches)) {
      const inner = new sfn.Parallel(this.scope, stateName(`${title}: ${branch}`), {
        resultPath: sfn.JsonPath.DISCARD,
      });
      const fragments = steps.map((s) => this.guarded(s, undefined));
      let chain = sfn.Chain.start(fragments[0]!);
      for (const f of fragments.slice(1)) chain = chain.next(f);
      inner.branch(chain);
      const ok = new sfn.Pass(this.scope, stateName(`${title}: ${branch} succeeded`), {
        parameters: { branch, status: 'SUCCEEDED' },
      });
      const failed = new sfn.Pass(this.scope, stateName(`${title}: ${branch} failed`), {
        parameters: { branch, status: 'FAILED', 'error.$': '$.error' },
      });
      inner.addCatch(failed, { resultPath: '$.error' });
      outer.branch(inner.next(ok));
    }
    const check = this.lambda(
      `Check ${title.charAt(0).toLowerCase()}${title.slice(1)}`,
      this.r.componentGraph,
      { action: 'check-branches', step: step.name, [`branches.$`]: resultPath(step.name) },
      resultPath(step.name),
    );
    return outer.next(check);
  }

  // --- terraform --------------------------------------------------------------------------------------

  /**
   * One branch per component inside a Parallel state. A branch first waits (task token) until the component
   * graph releases it (its own dependencies ended, or one failed: then it is skipped), runs its build, and
   * records its end, which releases its dependents. Failures are caught inside the branch, so a failing
   * component never cancels an in-flight sibling; the summary afterwards fails the run.
   */
  private terraform(step: TerraformStep): sfn.IChainable {
    const selection = componentSelection(step, this.r.catalog);
    const title = titleOf(step);
    const parallel = new sfn.Parallel(this.scope, stateName(`${title} components`), {
      resultPath: resultPath(step.name),
    });

    if (selection.kind === 'static') {
      let graph = this.r.catalog.graphOf(selection.components);
      if (REVERSED_COMMANDS.has(step.command)) graph = reversed(graph);
      const stepTimeout = Duration.minutes(
        [...graph.keys()].reduce((sum, c) => sum + this.buildMinutes(c) + QUEUED_MINUTES + 10, 0),
      );
      // Branches in dependency order: an engine that runs a bounded number of branches at once (the local one
      // runs 40) then never fills its slots with branches that wait for one not yet started.
      for (const component of topologicalOrder(graph)) {
        const dependsOn = graph.get(component) ?? [];
        const wait = lambdaTask(this.scope, stateName(`Await ${lower(title)} ${component}`), {
          lambdaFunction: this.r.componentGraph,
          integrationPattern: sfn.IntegrationPattern.WAIT_FOR_TASK_TOKEN,
          payload: sfn.TaskInput.fromObject({
            action: 'await',
            taskToken: sfn.JsonPath.taskToken,
            'runId.$': '$$.Execution.Name',
            step: step.name,
            component,
            dependsOn,
            'stackComponents.$': '$.context.components',
          }),
          resultPath: '$.gate',
          taskTimeout: sfn.Timeout.duration(stepTimeout),
          comment: dependsOn.length ? `Waits for ${dependsOn.join(', ')}` : 'Released at once when in the stack',
        });
        const run = this.build(step, title, component, component);
        const skipped = new sfn.Pass(this.scope, stateName(`${title} ${component} skipped`), {
          parameters: { component, status: 'SKIPPED', 'message.$': '$.gate.reason' },
        });
        const decide = new sfn.Choice(this.scope, stateName(`Run ${lower(title)} ${component}?`))
          .when(sfn.Condition.booleanEquals('$.gate.run', true), run)
          .otherwise(skipped);
        parallel.branch(wait.next(decide));
      }
    } else {
      const component = selection.kind === 'input' ? sfn.JsonPath.stringAt('$.input.component') : '';
      const label = selection.kind === 'input' ? 'component' : 'repository';
      parallel.branch(this.build(step, title, label, component));
    }

    const summarize = this.lambda(
      `Summarize ${lower(title)}`,
      this.r.componentGraph,
      {
        action: 'summarize',
        'runId.$': '$$.Execution.Name',
        step: step.name,
        command: step.command,
        'results.$': resultPath(step.name),
        'approvalPolicy.$': '$.context.approvalPolicy',
        'dryRun.$': '$.context.dryRun',
      },
      resultPath(step.name),
    );
    return parallel.next(summarize);
  }

  private buildMinutes(component: string): number {
    return this.r.catalog.components.get(component)?.timeoutMinutes ?? this.r.config.terraform.timeoutMinutes;
  }

  /** The CodeBuild run of one component, its recorded end, and its caught failure. */
  private build(step: TerraformStep, title: string, label: string, component: string): sfn.IChainable {
    const project = this.r.runner(step.command);
    const text = (value: string) => ({ type: codebuild.BuildEnvironmentVariableType.PLAINTEXT, value });
    // The run's context and parameters travel as two JSON values (the script reads them), keeping each build
    // state small: a terraform step has one per component.
    const env: Record<string, codebuild.BuildEnvironmentVariable> = {
      TROPOS_COMPONENT: text(component),
      TROPOS_RUN_ID: text(sfn.JsonPath.stringAt('$$.Execution.Name')),
      TROPOS_STEP: text(step.name),
      TROPOS_CONTEXT: text(sfn.JsonPath.jsonToString(sfn.JsonPath.objectAt('$.context'))),
      TROPOS_PARAMS: text(sfn.JsonPath.jsonToString(sfn.JsonPath.objectAt('$.input'))),
    };
    if (step.plan) {
      env.TROPOS_PLAN_STEP = text(step.plan);
      // The SHA-256 of the reviewed plan, from the plan step's summary: the apply refuses any other file.
      env.TROPOS_PLAN_SHA256_EXPECTED = text(
        sfn.JsonPath.stringAt(`${resultPath(step.plan)}.shas.${resultKey(label)}`),
      );
    }
    // The build's own limit, the time it may spend queued, and a margin for starting and reporting.
    const timeout = Duration.minutes(this.buildMinutes(label) + QUEUED_MINUTES + 10);
    const run = new tasks.CodeBuildStartBuild(this.scope, stateName(`${title} ${label}`), {
      project,
      integrationPattern: sfn.IntegrationPattern.RUN_JOB,
      environmentVariablesOverride: env,
      resultSelector: {
        'buildId.$': '$.Build.Id',
        'logs.$': '$.Build.Logs',
        'exported.$': '$.Build.ExportedEnvironmentVariables',
        'startTime.$': '$.Build.StartTime',
        'endTime.$': '$.Build.EndTime',
      },
      resultPath: '$.build',
      taskTimeout: sfn.Timeout.duration(timeout),
    });
    run.addRetry(START_RETRY.build);
    const record = (status: 'SUCCEEDED' | 'FAILED', name: string) =>
      lambdaTask(this.scope, stateName(name), {
        lambdaFunction: this.r.componentGraph,
        payload: sfn.TaskInput.fromObject({
          action: 'complete',
          'runId.$': '$$.Execution.Name',
          step: step.name,
          command: step.command,
          component,
          status,
          ...(status === 'SUCCEEDED' ? { 'build.$': '$.build' } : { 'error.$': '$.error' }),
        }),
        payloadResponseOnly: true,
        taskTimeout: sfn.Timeout.duration(LAMBDA_TIMEOUT),
      });
    const done = record('SUCCEEDED', `${title} ${label} done`);
    const failed = record('FAILED', `${title} ${label} failed`);
    run.addCatch(failed, { resultPath: '$.error' });
    return run.next(done);
  }
}

/** The approval deadline in whole seconds: the task's TimeoutSeconds and the record's expiry, the same number. */
export function deadlineSeconds(hours: number): number {
  return Math.max(1, Math.round(hours * 3600));
}

function lower(title: string): string {
  return title.charAt(0).toLowerCase() + title.slice(1);
}
