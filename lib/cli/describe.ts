import { isParameterName, PARAMETERS, ParameterRule } from '../domain/inputs';
import type { Catalog } from '../workflow/catalog';
import { exampleInput } from '../workflow/describe';
import { componentSelection, Workflow } from '../workflow/load';
import type { Step, When } from '../workflow/schema';

function whenText(when: When | undefined, step: Step): string {
  const parts: string[] = [];
  if (when?.tier) parts.push(`tier is ${when.tier.join(' or ')}`);
  for (const [p, v] of Object.entries(when?.params ?? {})) parts.push(`${p} is ${v.join(' or ')}`);
  if (when?.changes) parts.push(`${when.changes} has changes`);
  if (when?.destroys) parts.push(`${when.destroys} destroys something`);
  if (step.kind === 'approval') parts.push(`the tier's policy asks for ${step.plan}`);
  return parts.join(' and ');
}

function stepSummary(step: Step, catalog: Catalog): string {
  switch (step.kind) {
    case 'terraform': {
      const sel = componentSelection(step, catalog);
      const what =
        sel.kind === 'stack'
          ? 'every component of the stack (resolved from the repository when the run starts)'
          : sel.kind === 'static'
            ? typeof step.components === 'string'
              ? `${step.components} (${sel.components.length} components, those the stack has)`
              : `${sel.components.join(', ')} (those the stack has)`
            : sel.kind === 'input'
              ? 'the component named in the input'
              : 'the repository';
      return `terraform ${step.command} over ${what}${step.plan ? `, applying the plans of ${step.plan}` : ''}`;
    }
    case 'validate':
      return `validate input${step.checks.length ? ` and ${step.checks.join(', ')}` : ''}`;
    case 'approval':
      return `approval of ${step.plan} (task token, deadline from the config)`;
    case 'workflow':
      return `runs workflow ${step.workflow}${
        Object.keys(step.input).length
          ? ` with ${Object.entries(step.input)
              .map(([k, v]) => `${k}=${v}`)
              .join(' ')}`
          : ''
      }`;
    case 'parallel':
      return `branches in parallel: ${Object.keys(step.branches).join(', ')}`;
    case 'registry':
      return `environment registry: ${step.action}`;
    case 'state-backend':
      return 'creates the state bucket and lock table (service integrations)';
  }
}

/** `tropos describe`: inputs, steps and an example input of a workflow. */
export function describeWorkflow(wf: Workflow, catalog: Catalog): string {
  const param = (name: string, required: boolean) => {
    const rule: ParameterRule | undefined = isParameterName(name) ? PARAMETERS[name] : undefined;
    const def = wf.inputs.defaults[name];
    return `  ${name.padEnd(20)} ${required ? 'required' : 'optional'}  ${rule?.description ?? ''}${rule ? ` (${rule.values ? rule.values.join(' | ') : rule.allowed})` : ''}${def ? `; default ${def}` : ''}`;
  };
  const example = exampleInput(wf);
  const lines = [
    `${wf.name}${wf.mutating === true ? '  (changes infrastructure)' : wf.mutating ? `  (changes infrastructure when ${whenParams(wf.mutating.params)})` : ''}`,
    '',
    wf.description,
    '',
    'Inputs:',
    ...wf.inputs.required.map((n) => param(n, true)),
    ...wf.inputs.optional.map((n) => param(n, false)),
    ...Object.entries(wf.inputs.requiredWhen).map(([cond, names]) => `  (${names.join(', ')} required when ${cond})`),
    '  fromStep, dryRun, requestedBy, ticketId, callbackUrl: any workflow',
    '',
    'Steps:',
    ...wf.steps.flatMap((s, i) => {
      const w = whenText(s.when, s);
      const branches =
        s.kind === 'parallel'
          ? Object.entries(s.branches).map(
              ([b, steps]) => `       ${b}: ${steps.map((x) => `${x.name} (${stepSummary(x, catalog)})`).join(' → ')}`,
            )
          : [];
      return [
        `  ${String(i + 1).padStart(2)}. ${s.name.padEnd(18)} ${stepSummary(s, catalog)}${w ? `  [when ${w}]` : ''}`,
        ...branches,
      ];
    }),
    '',
    'Example console input:',
    `  ${JSON.stringify(example)}`,
    'From the CLI:',
    `  tropos workflow ${wf.name} ${Object.entries(example)
      .map(([k, v]) => `${k}=${String(v)}`)
      .join(' ')}`.trimEnd(),
  ];
  return lines.join('\n');
}

const id = (s: string) => s.replace(/[^A-Za-z0-9_]/g, '_');

/** `tropos graph`: the compiled workflow as a Mermaid flowchart (steps, guards, components and their order). */
export function mermaidGraph(wf: Workflow, catalog: Catalog): string {
  const lines = ['flowchart TD', `  start(["${wf.name}"])`];
  let previous = 'start';
  const node = (s: Step): { first: string; last: string; body: string[] } => {
    const n = id(s.name);
    if (s.kind === 'terraform') {
      const sel = componentSelection(s, catalog);
      const body = [`  subgraph ${n}["${s.name}: terraform ${s.command}"]`];
      const order =
        s.command === 'destroy' || s.command === 'plan-destroy' ? 'dependents first' : 'in dependency order';
      if (sel.kind === 'static') {
        // Their order is the repository's: resolved with the stack when the run starts.
        for (const c of sel.components) body.push(`    ${n}__${id(c)}["${c}"]`);
      } else if (sel.kind === 'stack') {
        body.push(`    ${n}__stack["every component of the stack, ${order} (from the repository)"]`);
      } else {
        body.push(`    ${n}__one["${sel.kind === 'input' ? '${component}' : 'repository'}"]`);
      }
      body.push('  end');
      return { first: n, last: n, body };
    }
    if (s.kind === 'parallel') {
      const body = [`  subgraph ${n}["${s.name}: in parallel"]`];
      for (const steps of Object.values(s.branches)) {
        let prev = '';
        for (const inner of steps) {
          const sub = node(inner);
          body.push(...sub.body.map((l) => `  ${l}`));
          if (prev) body.push(`    ${prev} --> ${sub.first}`);
          prev = sub.last;
        }
      }
      body.push('  end');
      return { first: n, last: n, body };
    }
    const shape =
      s.kind === 'approval'
        ? `{{"${s.name}: approval"}}`
        : s.kind === 'workflow'
          ? `[["${s.name}: workflow ${s.workflow}"]]`
          : `["${s.name}: ${s.kind}${s.kind === 'registry' ? ` ${s.action}` : ''}"]`;
    return { first: n, last: n, body: [`  ${n}${shape}`] };
  };
  for (const s of wf.steps) {
    const { first, last, body } = node(s);
    lines.push(...body);
    const w = whenText(s.when, s);
    lines.push(w ? `  ${previous} -->|"when ${w}"| ${first}` : `  ${previous} --> ${first}`);
    previous = last;
  }
  lines.push(`  ${previous} --> finish(["end"])`);
  return lines.join('\n');
}

/** `operation is unlock or restore` for `{ operation: [unlock, restore] }`. */
function whenParams(params: Record<string, string[]>): string {
  return Object.entries(params)
    .map(([k, v]) => `${k} is ${v.join(' or ')}`)
    .join(' and ');
}
