import { Duration } from 'aws-cdk-lib';
import * as codebuild from 'aws-cdk-lib/aws-codebuild';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import { ErrorCode } from '../domain/errors';
import { RESERVED_KEYS } from '../domain/inputs';
import { allSteps, componentSelection, requirementClosure, Workflow } from '../workflow/load';
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
import { resultPath, stateName, titleOf } from './names';
import { CompilerResources } from './resources';
import { compileStateBackend } from './state-backend';
import { lambdaTask, resolveBuild, START_RETRY } from './tasks';
import { QUEUED_MINUTES } from '../constructs/terraform-runners';
import { AWS_LIMITS } from '../limits/aws-limits';

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
    // A mutating workflow takes the stack's lock right after its input is validated, before anything changes;
    // then the stack is read from the repository (its components and their order), once for the whole run.
    const early: sfn.IChainable[] = [];
    if (this.workflow.mutating === true) early.push(this.lockStack());
    else if (this.workflow.mutating) {
      // Only runs whose parameters change infrastructure take the lock (state-operations' unlock and restore).
      const takes = sfn.Condition.and(...this.conditions({ params: this.workflow.mutating.params }));
      early.push(
        new sfn.Choice(this.scope, stateName('Changes the stack?'))
          .when(takes, this.lockStack())
          .otherwise(new sfn.Pass(this.scope, stateName('Read only: no stack lock')))
          .afterwards(),
      );
    }
    if (this.needsResolvedStack()) early.push(this.resolveStack());
    // An onboarding first learns every stack the repository defines: its block may overlap none of them.
    const validate = this.workflow.steps[0];
    if (validate?.kind === 'validate' && validate.checks.includes('cidr-free')) early.push(this.discoverStacks());
    fragments.splice(1, 0, ...early);
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
    if (step.kind === 'approval') conditions.push(this.approvalAsked(step));
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

  /**
   * Whether the tier's policy asks for this approval: the plan step's verdict (its changes, its destroys, a dry run),
   * or, for an approval without a plan, the policies that ask for what it `counts` as.
   */
  private approvalAsked(step: ApprovalStep): sfn.Condition {
    if (step.plan !== undefined) return this.truthy(`${resultPath(step.plan)}.approvalRequired`);
    const asking = step.counts === 'destroy' ? ['on-destroy', 'on-change', 'always'] : ['on-change', 'always'];
    return sfn.Condition.or(...asking.map((p) => sfn.Condition.stringEquals('$.context.approvalPolicy', p)));
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
        // Who holds it, for a later run to ask whether it still runs (a lock whose holder ended is taken over).
        'execution.$': '$$.Execution.Id',
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
        ...(step.plan !== undefined
          ? { 'plan.$': resultPath(step.plan), planStep: step.plan }
          : { 'parameters.$': '$.input' }),
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
        // One commit per run, children included: the child resolves its stack at the commit this run works on.
        ...this.childCommit(step),
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

  /**
   * Where a child's commit comes from: the stack this run resolved; else the commit an earlier step of this run
   * pushed (onboarding's generated configuration); else the commit its first child stage resolved (promote: what
   * was applied to dev is what staging and prod get). The handover reads the latter two from the run ledger.
   */
  private childCommit(step: WorkflowStep): Record<string, unknown> {
    if (this.needsResolvedStack()) return { 'commit.$': '$.stack.commit' };
    const before = this.workflow.steps.slice(
      0,
      this.workflow.steps.findIndex((s) => s.name === step.name),
    );
    const generated = before.find((s) => s.kind === 'terraform' && s.command === 'generate-config');
    if (generated) return { 'commitFromRun.$': '$$.Execution.Name', commitFromStep: generated.name };
    const stage = before.find((s) => s.kind === 'workflow');
    if (stage) return { commitFromRun: sfn.JsonPath.format('{}-{}', sfn.JsonPath.executionName, stage.name) };
    return {};
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

  /** Whether any terraform step of the workflow works on the stack's components (and so needs them resolved). */
  private needsResolvedStack(): boolean {
    return allSteps(this.workflow.steps).some(
      (s) => s.kind === 'terraform' && componentSelection(s, this.r.catalog).kind !== 'none',
    );
  }

  /** The run's context and parameters as the builds read them: two JSON texts. */
  private runJson(): { context: string; params: string } {
    return {
      context: sfn.JsonPath.jsonToString(sfn.JsonPath.objectAt('$.context')),
      params: sfn.JsonPath.jsonToString(sfn.JsonPath.objectAt('$.input')),
    };
  }

  /**
   * "Resolve stack": a build reads the stack from the infrastructure repository (its commit fixed for the run:
   * Atmos's `describe stacks`, or the plain-terraform layout) and stores it in the artifacts bucket; "Record stack"
   * checks it against the run (its stack, its account, the components asked for) and records it on the run —
   * where every later step reads it, not the execution's state. A failed resolve fails the run with
   * StackNotResolved and the build's own account of why.
   */
  private resolveStack(): sfn.IChainable {
    const build = resolveBuild(this.scope, 'Resolve stack', this.r.runner('resolve'), {
      discover: false,
      ...this.runJson(),
      comment: 'Reads the stack from the repository at a fixed commit; stores it under runs/<runId>/resolve/',
    });
    const record = (name: string, extra: Record<string, unknown>) =>
      this.lambda(
        name,
        this.r.componentGraph,
        {
          action: 'resolved',
          'runId.$': '$$.Execution.Name',
          'stack.$': '$.context.stack',
          'account.$': '$.context.account',
          'askedStack.$': '$.context.askedStack',
          'asked.$': '$.context.asked',
          'component.$': '$.context.component',
          'dryRun.$': '$.context.dryRun',
          ...extra,
        },
        '$.stack',
      );
    const failed = record('Resolve stack failed', { 'error.$': '$.resolveError' });
    build.addCatch(failed, { resultPath: '$.resolveError' });
    return build.next(record('Record stack', {}));
  }

  /**
   * "Discover stacks" (an onboarding): the resolve build lists every stack the repository defines, with its network
   * block; "Record stacks" refuses a block that overlaps one of them (InvalidInput on vpc_cidr, naming the stack) and
   * registers the ones Tropos has no record of — before the onboarding's own registration.
   */
  private discoverStacks(): sfn.IChainable {
    const build = resolveBuild(this.scope, 'Discover stacks', this.r.runner('resolve'), {
      discover: true,
      ...this.runJson(),
      comment: 'Lists the stacks the repository defines, with their network blocks',
    });
    const record = (name: string, extra: Record<string, unknown>) =>
      this.lambda(
        name,
        this.r.componentGraph,
        {
          action: 'discovered',
          'runId.$': '$$.Execution.Name',
          'stack.$': '$.context.stack',
          'vpcCidr.$': '$.input.vpc_cidr',
          'dryRun.$': '$.context.dryRun',
          ...extra,
        },
        '$.discovered',
      );
    build.addCatch(record('Discover stacks failed', { 'error.$': '$.discoverError' }), {
      resultPath: '$.discoverError',
    });
    return build.next(record('Record stacks', {}));
  }

  /**
   * A terraform step over components: a pool of workers (an inline Map of at most 40) that each ask for the next
   * ready component, build it and ask again (see lambdas/component-graph/scheduler.ts) — so every component
   * starts the moment its own dependencies end, and the definition's size does not depend on how many there are.
   * A step over one component named by the input, or the repository, is one build. Either way the step's result
   * is summarized from the component records, not carried in the state.
   */
  private terraform(step: TerraformStep): sfn.IChainable {
    const selection = componentSelection(step, this.r.catalog);
    const title = titleOf(step);
    const summarize = this.lambda(
      `Summarize ${lower(title)}`,
      this.r.componentGraph,
      {
        action: 'summarize',
        'runId.$': '$$.Execution.Name',
        step: step.name,
        command: step.command,
        'approvalPolicy.$': '$.context.approvalPolicy',
        'dryRun.$': '$.context.dryRun',
      },
      resultPath(step.name),
    );
    if (selection.kind === 'input' || selection.kind === 'none') {
      const single = new sfn.Parallel(this.scope, stateName(`${title} build`), { resultPath: sfn.JsonPath.DISCARD });
      const component = selection.kind === 'input' ? sfn.JsonPath.stringAt('$.input.component') : '';
      single.branch(this.singleBuild(step, title, selection.kind === 'input' ? 'component' : 'repository', component));
      return single.next(summarize);
    }
    const prepare = this.lambda(
      `Prepare ${lower(title)}`,
      this.r.componentGraph,
      {
        action: 'prepare',
        'runId.$': '$$.Execution.Name',
        step: step.name,
        command: step.command,
        select: selection.kind === 'static' ? [...selection.components] : null,
        reverse: REVERSED_COMMANDS.has(step.command),
        'asked.$': '$.context.asked',
        ...(step.plan ? { planStep: step.plan } : {}),
      },
      '$.pool',
    );
    const pool = new sfn.Map(this.scope, stateName(`${title} components`), {
      itemsPath: '$.pool.workers',
      maxConcurrency: AWS_LIMITS.inlineMapConcurrency,
      itemSelector: {
        'worker.$': '$$.Map.Item.Value',
        'context.$': '$.context',
        'input.$': '$.input',
        'stack.$': '$.stack',
        next: { done: false, component: '', planSha256: '', planRunId: '' },
        last: {},
      },
      resultPath: sfn.JsonPath.DISCARD,
      comment: `At most ${AWS_LIMITS.inlineMapConcurrency} workers; each builds the next ready component until none is left`,
    });
    const next = lambdaTask(this.scope, stateName(`Next ${lower(title)} component`), {
      lambdaFunction: this.r.componentGraph,
      integrationPattern: sfn.IntegrationPattern.WAIT_FOR_TASK_TOKEN,
      payload: sfn.TaskInput.fromObject({
        action: 'next',
        taskToken: sfn.JsonPath.taskToken,
        'runId.$': '$$.Execution.Name',
        step: step.name,
        command: step.command,
        ...(step.plan ? { planStep: step.plan } : {}),
        'execution.$': '$$.Execution.Id',
        'worker.$': '$.worker',
        'finished.$': '$.next.component',
        'last.$': '$.last',
      }),
      resultPath: '$.next',
      taskTimeout: sfn.Timeout.duration(WorkflowCompiler.maxDuration(this.r)),
      comment: 'Records how the last build ended; answered with the next ready component, or done',
    });
    const build = this.build(
      step,
      title,
      'component',
      sfn.JsonPath.stringAt('$.next.component'),
      '$.next.planSha256',
      '$.next.timeoutMinutes',
      '$.next.planRunId',
    );
    build.addCatch(next, { resultPath: '$.last' });
    build.next(next);
    const done = new sfn.Pass(this.scope, stateName(`${title}: worker done`), {
      parameters: { 'worker.$': '$.worker' },
    });
    pool.itemProcessor(
      next.next(
        new sfn.Choice(this.scope, stateName(`${title}: more?`))
          .when(sfn.Condition.booleanEquals('$.next.done', true), done)
          .otherwise(build),
      ),
    );
    return prepare.next(pool).next(summarize);
  }

  /** The longest a build of this installation may take: the configured limit, or a longer catalog default. */
  private buildMinutes(): number {
    return Math.max(this.r.config.terraform.timeoutMinutes, this.r.catalog.longestTimeoutMinutes);
  }

  /** The CodeBuild run of one component (or the repository); its result at `$.last`. */
  private build(
    step: TerraformStep,
    title: string,
    label: string,
    component: string,
    planShaPath?: string,
    timeoutMinutesPath?: string,
    planRunIdPath?: string,
  ): tasks.CodeBuildStartBuild {
    const project = this.r.runner(step.command);
    const text = (value: string) => ({ type: codebuild.BuildEnvironmentVariableType.PLAINTEXT, value });
    // The run's context and parameters travel as two JSON values (the script reads them).
    const env: Record<string, codebuild.BuildEnvironmentVariable> = {
      TROPOS_COMPONENT: text(component),
      TROPOS_RUN_ID: text(sfn.JsonPath.stringAt('$$.Execution.Name')),
      TROPOS_STEP: text(step.name),
      TROPOS_CONTEXT: text(this.runJson().context),
      TROPOS_PARAMS: text(this.runJson().params),
    };
    // The commit the run resolved its stack at: every build works on the same one.
    if (this.needsResolvedStack()) {
      env.TROPOS_COMMIT = text(sfn.JsonPath.stringAt('$.stack.commit'));
      // The stack's name in the repository (its own naming): what `atmos … -s` is given.
      env.TROPOS_STACK_NAME = text(sfn.JsonPath.stringAt('$.stack.name'));
    }
    if (step.plan && planShaPath) {
      env.TROPOS_PLAN_STEP = text(step.plan);
      // The SHA-256 of the reviewed plan, from the plan step's record: the apply refuses any other file.
      env.TROPOS_PLAN_SHA256_EXPECTED = text(sfn.JsonPath.stringAt(planShaPath));
      // The run whose artifacts hold that plan: this one, or for a retry's reused plan the run it retries.
      if (planRunIdPath) env.TROPOS_PLAN_RUN_ID = text(sfn.JsonPath.stringAt(planRunIdPath));
    }
    // The build's own limit, the time it may spend queued, and a margin for starting and reporting.
    const timeout = Duration.minutes(this.buildMinutes() + QUEUED_MINUTES + 10);
    const run = new CodeBuildStartBuildWithLimit(this.scope, stateName(`${title} ${label}`), {
      timeoutMinutesPath,
      project,
      integrationPattern: sfn.IntegrationPattern.RUN_JOB,
      environmentVariablesOverride: env,
      resultSelector: {
        'buildId.$': '$.Build.Id',
        'logs.$': '$.Build.Logs',
        'exported.$': '$.Build.ExportedEnvironmentVariables',
        'startTime.$': '$.Build.StartTime',
        'endTime.$': '$.Build.EndTime',
        'timeoutMinutes.$': '$.Build.TimeoutInMinutes',
      },
      resultPath: '$.last',
      taskTimeout: sfn.Timeout.duration(timeout),
    });
    run.addRetry(START_RETRY.build);
    return run;
  }

  /** One build (a component the input names, or the repository), its recorded end, and its caught failure. */
  private singleBuild(step: TerraformStep, title: string, label: string, component: string): sfn.IChainable {
    // In flight for a stop from here on; refused (RunStopped) once an operator has asked the run to stop.
    const starting = lambdaTask(this.scope, stateName(`${title} ${label}: starting`), {
      lambdaFunction: this.r.componentGraph,
      payload: sfn.TaskInput.fromObject({
        action: 'starting',
        'runId.$': '$$.Execution.Name',
        'execution.$': '$$.Execution.Id',
        step: step.name,
        component,
      }),
      payloadResponseOnly: true,
      // Its answer: the build's own limit (the component's, else the configuration's).
      resultPath: '$.starting',
      taskTimeout: sfn.Timeout.duration(LAMBDA_TIMEOUT),
    });
    const run = this.build(step, title, label, component, undefined, '$.starting.timeoutMinutes');
    const record = (status: 'SUCCEEDED' | 'FAILED', name: string) =>
      lambdaTask(this.scope, stateName(name), {
        lambdaFunction: this.r.componentGraph,
        payload: sfn.TaskInput.fromObject({
          action: 'complete',
          'runId.$': '$$.Execution.Name',
          'execution.$': '$$.Execution.Id',
          step: step.name,
          command: step.command,
          component,
          status,
          ...(status === 'SUCCEEDED' ? { 'build.$': '$.last' } : { 'error.$': '$.last' }),
        }),
        payloadResponseOnly: true,
        taskTimeout: sfn.Timeout.duration(LAMBDA_TIMEOUT),
      });
    run.addCatch(record('FAILED', `${title} ${label} failed`), { resultPath: '$.last' });
    return starting.next(run).next(record('SUCCEEDED', `${title} ${label} done`));
  }
}

/** The approval deadline in whole seconds: the task's TimeoutSeconds and the record's expiry, the same number. */
export function deadlineSeconds(hours: number): number {
  return Math.max(1, Math.round(hours * 3600));
}

function lower(title: string): string {
  return title.charAt(0).toLowerCase() + title.slice(1);
}

/**
 * CodeBuild's StartBuild with the build's own limit (`timeoutInMinutesOverride`) read from the state: each
 * component of a worker pool gets its own (the catalog's default for it, else the configuration's), within the
 * project's, which is the longest. CDK's task has no property for it.
 */
class CodeBuildStartBuildWithLimit extends tasks.CodeBuildStartBuild {
  private readonly timeoutMinutesPath?: string | undefined;

  constructor(
    scope: Construct,
    id: string,
    props: tasks.CodeBuildStartBuildProps & { readonly timeoutMinutesPath?: string | undefined },
  ) {
    super(scope, id, props);
    this.timeoutMinutesPath = props.timeoutMinutesPath;
  }

  /** @internal */
  public override _renderTask(topLevelQueryLanguage?: sfn.QueryLanguage): Record<string, unknown> {
    const rendered = super._renderTask(topLevelQueryLanguage) as { Parameters?: Record<string, unknown> };
    if (this.timeoutMinutesPath && rendered.Parameters)
      rendered.Parameters['TimeoutInMinutesOverride.$'] = this.timeoutMinutesPath;
    return rendered;
  }
}
