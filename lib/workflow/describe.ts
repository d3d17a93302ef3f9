import { PARAMETERS, isParameterName } from '../domain/inputs';
import type { Workflow } from './load';

/** An example console input for a workflow: each required parameter with its documented example. */
export function exampleInput(wf: Workflow): Record<string, string | boolean> {
  if (wf.example) return wf.example;
  const example: Record<string, string> = {};
  for (const name of wf.inputs.required) if (isParameterName(name)) example[name] = PARAMETERS[name].example;
  return example;
}

/** `tenant, account, environment` (required) and `[components]` (optional), for tables and help text. */
export function inputsSummary(wf: Workflow): string {
  const required = wf.inputs.required.map((n) => `\`${n}\``);
  const optional = wf.inputs.optional.map((n) => `[\`${n}\`]`);
  return [...required, ...optional].join(', ') || '—';
}

/** The README's table of workflows, generated from the workflow files so that it cannot drift from them. */
export function workflowTable(workflows: ReadonlyMap<string, Workflow>): string {
  const rows = [...workflows.values()]
    .sort((a, b) => a.name.localeCompare(b.name))
    .map((wf) => {
      const steps = wf.steps.map((s) => s.name).join(' → ');
      return `| \`${wf.name}\` | ${firstSentence(wf.description)} | ${inputsSummary(wf)} | ${steps} | \`${JSON.stringify(exampleInput(wf))}\` |`;
    });
  return [
    '| workflow | what it does | inputs ([optional]) | steps | example console input |',
    '|---|---|---|---|---|',
    ...rows,
  ].join('\n');
}

function firstSentence(text: string): string {
  const first = text.split(/\.\s/)[0]!.replace(/\.$/, '');
  return `${first.replace(/\|/g, '\\|')}.`;
}
