import { readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { parse } from 'yaml';
import { Catalog, DefinitionError } from './catalog';
import { findCycle } from './graph';
import { formatIssues } from './issues';
import { Step, TerraformStep, WorkflowFile, WorkflowSchema } from './schema';

/** A validated workflow definition, with where it came from. */
export interface Workflow extends WorkflowFile {
  readonly source: string;
}

/** Commands that run without components (one run for the stack or the repository). */
const STACK_WIDE: ReadonlySet<string> = new Set(['lint', 'generate-config']);
const PLAN_COMMANDS: ReadonlySet<string> = new Set(['plan', 'plan-destroy']);
const REF = /^\$\{(\w+)\}$/;
/** What a component may be called (Atmos component instances may have slashes: `eks/cluster`). */
export const COMPONENT_NAME = /^[A-Za-z0-9][A-Za-z0-9_./-]{0,127}$/;

/** `components: stack`: every component the run resolved from the repository (or the subset asked for). */
export const WHOLE_STACK = 'stack';

/** How the components of a terraform step are chosen. */
export type ComponentSelection =
  | { readonly kind: 'stack' }
  | { readonly kind: 'static'; readonly components: readonly string[] }
  | { readonly kind: 'input' }
  | { readonly kind: 'none' };

export function componentSelection(step: TerraformStep, catalog: Catalog): ComponentSelection {
  const c = step.components;
  if (c === undefined) return { kind: 'none' };
  if (typeof c === 'string') {
    if (c === WHOLE_STACK) return { kind: 'stack' };
    if (c === '${component}') return { kind: 'input' };
    const set = catalog.sets.get(c);
    if (set) return { kind: 'static', components: set };
    return { kind: 'static', components: [c] };
  }
  return { kind: 'static', components: c };
}

/** Every step of a workflow, parallel branches included, depth first. */
export function allSteps(steps: readonly Step[]): Step[] {
  return steps.flatMap((s) => (s.kind === 'parallel' ? [s, ...Object.values(s.branches).flatMap(allSteps)] : [s]));
}

/** Reads every `*.yaml` file of a folder and validates them together (cross-workflow references included). */
export function loadWorkflows(dir: string, catalog: Catalog): Map<string, Workflow> {
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.yaml') || f.endsWith('.yml'))
    .sort();
  if (files.length === 0) throw new DefinitionError(`${dir}: no workflow files (*.yaml) found`);
  return validateWorkflows(
    files.map((f) => ({ source: join(dir, f), text: readFileSync(join(dir, f), 'utf8') })),
    catalog,
  );
}

/** Parses and checks workflow texts; throws one DefinitionError that lists every problem of every file. */
export function validateWorkflows(
  files: readonly { source: string; text: string }[],
  catalog: Catalog,
): Map<string, Workflow> {
  const problems: string[] = [];
  const workflows = new Map<string, Workflow>();
  for (const { source, text } of files) {
    let raw: unknown;
    try {
      raw = parse(text);
    } catch (e) {
      problems.push(`${source}: not valid YAML: ${(e as Error).message}`);
      continue;
    }
    const parsed = WorkflowSchema.safeParse(raw);
    if (!parsed.success) {
      problems.push(`${source} is invalid:\n${formatIssues(parsed.error.issues).replace(/^ {2}- /gm, '    - ')}`);
      continue;
    }
    const wf: Workflow = { ...parsed.data, source };
    const expected = basename(source).replace(/\.ya?ml$/, '');
    if (wf.name !== expected) problems.push(`${source}: name "${wf.name}" must match the file name "${expected}"`);
    if (workflows.has(wf.name)) problems.push(`${source}: a second workflow named "${wf.name}"`);
    workflows.set(wf.name, wf);
  }
  for (const wf of workflows.values()) problems.push(...checkWorkflow(wf, workflows, catalog));
  const calls = new Map(
    [...workflows.values()].map((wf) => [
      wf.name,
      allSteps(wf.steps).flatMap((s) => (s.kind === 'workflow' ? [s.workflow] : [])),
    ]),
  );
  const cycle = findCycle(calls);
  if (cycle)
    problems.push(
      `workflows call each other in a cycle: ${cycle.join(' -> ')}; a workflow step must not lead back to its caller`,
    );
  if (problems.length > 0)
    throw new DefinitionError(`invalid workflow definitions:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  return workflows;
}

function declared(wf: WorkflowFile): Set<string> {
  return new Set([...wf.inputs.required, ...wf.inputs.optional]);
}

function checkWorkflow(wf: Workflow, all: ReadonlyMap<string, Workflow>, catalog: Catalog): string[] {
  const problems: string[] = [];
  const at = (step: Step, what: string) => `${wf.source}: step "${step.name}" (${step.kind}): ${what}`;
  const inputs = declared(wf);

  for (const name of wf.inputs.required.filter((n) => wf.inputs.optional.includes(n))) {
    problems.push(`${wf.source}: inputs: "${name}" is listed as both required and optional; keep one`);
  }
  for (const [name, value] of Object.entries(wf.inputs.defaults)) {
    if (!wf.inputs.optional.includes(name as never))
      problems.push(
        `${wf.source}: inputs.defaults.${name}: only optional inputs can have a default; add "${name}" to inputs.optional`,
      );
    const ref = REF.exec(value)?.[1];
    if (ref && !inputs.has(ref))
      problems.push(`${wf.source}: inputs.defaults.${name}: \${${ref}} is not an input of this workflow`);
  }
  for (const [condition, names] of Object.entries(wf.inputs.requiredWhen)) {
    const param = condition.split('=')[0] ?? '';
    if (!inputs.has(param))
      problems.push(`${wf.source}: inputs.requiredWhen."${condition}": "${param}" is not an input of this workflow`);
    for (const n of names)
      if (!wf.inputs.optional.includes(n))
        problems.push(`${wf.source}: inputs.requiredWhen."${condition}": "${n}" must be an optional input`);
  }

  for (const key of Object.keys(wf.example ?? {})) {
    if (!inputs.has(key) && !['dryRun', 'requestedBy', 'ticketId'].includes(key)) {
      problems.push(
        `${wf.source}: example.${key}: not an input of this workflow; declare it or remove it from the example`,
      );
    }
  }
  if (wf.steps[0]?.kind !== 'validate') {
    problems.push(
      `${wf.source}: the first step must be a validate step, so that a bad input fails the run in its first state`,
    );
  }

  const seen = new Set<string>();
  const planSteps = new Set<string>();
  const checkSteps = (steps: readonly Step[]) => {
    for (const step of steps) {
      if (seen.has(step.name))
        problems.push(
          at(
            step,
            `duplicate step name "${step.name}"; step names must be unique in a workflow, parallel branches included`,
          ),
        );
      seen.add(step.name);
      const w = step.when;
      for (const ref of [w?.changes, w?.destroys]) {
        if (ref !== undefined && !planSteps.has(ref))
          problems.push(
            at(
              step,
              `when: "${ref}" is not an earlier plan step; name a terraform plan or plan-destroy step that runs before this one`,
            ),
          );
      }
      for (const p of Object.keys(w?.params ?? {})) {
        if (!inputs.has(p))
          problems.push(at(step, `when.params: "${p}" is not an input of this workflow; declare it under inputs`));
      }
      switch (step.kind) {
        case 'terraform': {
          const sel = componentSelection(step, catalog);
          if (sel.kind === 'static') {
            // The repository decides which components exist (each run resolves its stack); here only the names.
            for (const c of sel.components.filter((n) => !COMPONENT_NAME.test(n)))
              problems.push(
                at(
                  step,
                  `"${c}" is not a component name (letters, digits, _ . / -), \`stack\`, a set of the catalog (${[...catalog.sets.keys()].join(', ')}) or \${component}`,
                ),
              );
          } else if (sel.kind === 'input' && !inputs.has('component')) {
            problems.push(
              at(step, 'components is ${component} but "component" is not an input; add it to inputs.required'),
            );
          } else if (sel.kind === 'none' && !STACK_WIDE.has(step.command)) {
            problems.push(
              at(
                step,
                `command "${step.command}" needs components: stack (every component of the run's stack), a list, a set of the catalog, or \${component}`,
              ),
            );
          }
          if (step.plan !== undefined && !planSteps.has(step.plan)) {
            problems.push(
              at(
                step,
                `plan: "${step.plan}" is not an earlier plan step; name the terraform plan step whose saved plan this applies`,
              ),
            );
          }
          if (step.plan !== undefined && (sel.kind === 'input' || sel.kind === 'none')) {
            problems.push(
              at(
                step,
                "a step that applies a saved plan needs components (stack, a set or a list): each component's reviewed plan is found by its name",
              ),
            );
          }
          if ((step.command === 'apply' || step.command === 'destroy') && step.plan === undefined) {
            problems.push(
              at(
                step,
                `${step.command} must name the plan step it applies (plan: <step>): Tropos applies exactly the plan that was reviewed`,
              ),
            );
          }
          if (PLAN_COMMANDS.has(step.command)) planSteps.add(step.name);
          break;
        }
        case 'approval':
          if (step.plan !== undefined && !planSteps.has(step.plan))
            problems.push(
              at(step, `plan: "${step.plan}" is not an earlier plan step; an approval is shown the plan it approves`),
            );
          break;
        case 'workflow': {
          const child = all.get(step.workflow);
          if (!child) {
            problems.push(at(step, `unknown workflow "${step.workflow}"; allowed: ${[...all.keys()].join(', ')}`));
            break;
          }
          if (child.name === wf.name) problems.push(at(step, 'a workflow cannot run itself'));
          const childInputs = declared(child);
          for (const [key, value] of Object.entries(step.input)) {
            if (!childInputs.has(key))
              problems.push(
                at(
                  step,
                  `input.${key}: "${child.name}" has no input "${key}"; it takes: ${[...childInputs].join(', ')}`,
                ),
              );
            const ref = REF.exec(value)?.[1];
            if (ref && !inputs.has(ref))
              problems.push(at(step, `input.${key}: \${${ref}} is not an input of "${wf.name}"`));
          }
          for (const req of child.inputs.required) {
            if (!(req in step.input) && !inputs.has(req)) {
              problems.push(
                at(
                  step,
                  `"${child.name}" requires "${req}", which "${wf.name}" does not take; set input.${req} or declare it`,
                ),
              );
            }
          }
          break;
        }
        case 'parallel':
          for (const branch of Object.values(step.branches)) checkSteps(branch);
          break;
        default:
          break;
      }
    }
  };
  checkSteps(wf.steps);
  problems.push(...checkRequires(wf));
  return problems;
}

/**
 * A step's `requires` names earlier top-level steps (never the first: it always runs). What applies a saved plan
 * requires the plan and its approvals; marking a stack destroyed requires its destroy and the whole stack; a
 * registry activation requires the step that deployed.
 */
function checkRequires(wf: Workflow): string[] {
  const problems: string[] = [];
  const at = (step: Step, what: string) => `${wf.source}: step "${step.name}" (${step.kind}): ${what}`;
  const top = wf.steps.map((s) => s.name);
  for (const [index, step] of wf.steps.entries()) {
    for (const r of step.requires) {
      const i = top.indexOf(r);
      if (i < 1 || i >= index)
        problems.push(
          at(
            step,
            `requires: "${r}" is not an earlier step of this workflow (the first step always runs); name a top-level step before "${step.name}"`,
          ),
        );
    }
    const inner = step.kind === 'parallel' ? allSteps([step]).slice(1) : [step];
    for (const s of inner.filter((x) => x !== step && x.requires.length > 0))
      problems.push(at(s, 'requires: only top-level steps may require others (a branch step cannot be resumed from)'));
    // A saved plan is applied only when the plan and its approval ran in this run.
    const plans = new Set(inner.flatMap((s) => (s.kind === 'terraform' && s.plan ? [s.plan] : [])));
    for (const plan of plans) {
      const approvals = wf.steps.flatMap((s) => (s.kind === 'approval' && s.plan === plan ? [s.name] : []));
      const missing = [plan, ...approvals].filter((n) => !step.requires.includes(n));
      if (missing.length > 0)
        problems.push(
          at(
            step,
            `it applies the plan of "${plan}", so it must require ${[plan, ...approvals].map((n) => `"${n}"`).join(' and ')} (missing: ${missing.join(', ')}): add requires: [${[plan, ...approvals].join(', ')}]`,
          ),
        );
    }
    if (step.kind === 'registry' && step.action === 'mark-destroyed') {
      const destroys = wf.steps.filter((s) => s.kind === 'terraform' && s.command === 'destroy').map((s) => s.name);
      if (!destroys.some((d) => step.requires.includes(d)))
        problems.push(at(step, `mark-destroyed must require the destroy step (${destroys.join(', ') || 'none'})`));
      if (step.when?.wholeStack !== true)
        problems.push(
          at(
            step,
            'mark-destroyed must run only for the whole stack: add when: { wholeStack: true } (a subset is not the stack)',
          ),
        );
    }
    if (step.kind === 'registry' && step.action === 'activate' && step.requires.length === 0)
      problems.push(at(step, 'activate must require the step that deployed the environment'));
  }
  return problems;
}

/** Every step a top-level step relies on, directly or through the steps it requires. */
export function requirementClosure(wf: Pick<WorkflowFile, 'steps'>, stepName: string): string[] {
  const byName = new Map(wf.steps.map((s) => [s.name, s]));
  const seen = new Set<string>();
  const visit = (name: string) => {
    for (const r of byName.get(name)?.requires ?? [])
      if (!seen.has(r)) {
        seen.add(r);
        visit(r);
      }
  };
  visit(stepName);
  return wf.steps.map((s) => s.name).filter((n) => seen.has(n));
}
