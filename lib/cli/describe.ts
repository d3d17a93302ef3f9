import { isParameterName, PARAMETERS, ParameterRule, STACK_INPUT, takesStackName } from '../domain/inputs';
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
    ...(takesStackName(
      wf.inputs.required,
      wf.steps.flatMap((s) => (s.kind === 'validate' ? s.checks : [])),
    )
      ? [`  ${STACK_INPUT.name.padEnd(20)} optional  ${STACK_INPUT.description} (${STACK_INPUT.allowed})`]
      : []),
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

/** A workflow's graph, whatever it is drawn with: its steps (a terraform or parallel step: a cluster) and edges. */
interface GraphNode {
  readonly id: string;
  readonly label: string;
  readonly shape: 'terminal' | 'box' | 'approval' | 'workflow';
}
interface GraphCluster {
  readonly id: string;
  readonly label: string;
  readonly nodes: GraphNode[];
  readonly clusters: GraphCluster[];
  readonly edges: GraphEdge[];
}
interface GraphEdge {
  readonly from: string;
  readonly to: string;
  readonly label?: string | undefined;
}

/** The compiled workflow's steps, guards, components and their order, as one graph (steps as clusters). */
function workflowGraph(wf: Workflow, catalog: Catalog): GraphCluster {
  const root: GraphCluster = { id: 'root', label: wf.name, nodes: [], clusters: [], edges: [] };
  root.nodes.push({ id: 'start', label: wf.name, shape: 'terminal' });
  // Adds a step into its parent; the id edges attach to.
  const add = (s: Step, into: GraphCluster): string => {
    const n = id(s.name);
    if (s.kind === 'terraform') {
      const sel = componentSelection(s, catalog);
      const cluster: GraphCluster = {
        id: n,
        label: `${s.name}: terraform ${s.command}`,
        nodes: [],
        clusters: [],
        edges: [],
      };
      const order =
        s.command === 'destroy' || s.command === 'plan-destroy' ? 'dependents first' : 'in dependency order';
      if (sel.kind === 'static')
        // Their order is the repository's: resolved with the stack when the run starts.
        for (const c of sel.components) cluster.nodes.push({ id: `${n}__${id(c)}`, label: c, shape: 'box' });
      else if (sel.kind === 'stack')
        cluster.nodes.push({
          id: `${n}__stack`,
          label: `every component of the stack, ${order} (from the repository)`,
          shape: 'box',
        });
      else
        cluster.nodes.push({
          id: `${n}__one`,
          label: sel.kind === 'input' ? '${component}' : 'repository',
          shape: 'box',
        });
      into.clusters.push(cluster);
      return n;
    }
    if (s.kind === 'parallel') {
      const cluster: GraphCluster = { id: n, label: `${s.name}: in parallel`, nodes: [], clusters: [], edges: [] };
      for (const steps of Object.values(s.branches)) {
        let prev = '';
        for (const inner of steps) {
          const at = add(inner, cluster);
          if (prev) cluster.edges.push({ from: prev, to: at });
          prev = at;
        }
      }
      into.clusters.push(cluster);
      return n;
    }
    const label =
      s.kind === 'approval'
        ? `${s.name}: approval`
        : s.kind === 'workflow'
          ? `${s.name}: workflow ${s.workflow}`
          : `${s.name}: ${s.kind}${s.kind === 'registry' ? ` ${s.action}` : ''}`;
    into.nodes.push({
      id: n,
      label,
      shape: s.kind === 'approval' ? 'approval' : s.kind === 'workflow' ? 'workflow' : 'box',
    });
    return n;
  };
  let previous = 'start';
  for (const s of wf.steps) {
    const at = add(s, root);
    const w = whenText(s.when, s);
    root.edges.push({ from: previous, to: at, label: w ? `when ${w}` : undefined });
    previous = at;
  }
  root.nodes.push({ id: 'finish', label: 'end', shape: 'terminal' });
  root.edges.push({ from: previous, to: 'finish' });
  return root;
}

/** `tropos graph`: the compiled workflow as a Mermaid flowchart. */
export function mermaidGraph(wf: Workflow, catalog: Catalog): string {
  const shapes = { terminal: ['(["', '"])'], box: ['["', '"]'], approval: ['{{"', '"}}'], workflow: ['[["', '"]]'] };
  const body = (c: GraphCluster, indent: string): string[] => [
    ...c.nodes.map((n) => `${indent}${n.id}${shapes[n.shape][0]}${n.label}${shapes[n.shape][1]}`),
    ...c.clusters.flatMap((k) => [
      `${indent}subgraph ${k.id}["${k.label}"]`,
      ...body(k, `${indent}  `),
      `${indent}end`,
    ]),
    ...c.edges.map((e) => `${indent}${e.from} -->${e.label ? `|"${e.label}"|` : ''} ${e.to}`),
  ];
  return ['flowchart TD', ...body(workflowGraph(wf, catalog), '  ')].join('\n');
}

/** `tropos graph --format dot`: the same graph for Graphviz (`dot -Tsvg`); a step's cluster is `cluster_<step>`. */
export function dotGraph(wf: Workflow, catalog: Catalog): string {
  const quote = (s: string) => JSON.stringify(s);
  const shapes = {
    terminal: 'shape=oval',
    box: 'shape=box',
    approval: 'shape=hexagon',
    workflow: 'shape=box, peripheries=2',
  };
  // An edge to or from a cluster goes to its first node, clipped at the cluster's border (compound=true).
  const clusters = new Map<string, GraphCluster>();
  const index = (c: GraphCluster) => c.clusters.forEach((k) => (clusters.set(k.id, k), index(k)));
  const root = workflowGraph(wf, catalog);
  index(root);
  const anchor = (nodeOrCluster: string): string => {
    const c = clusters.get(nodeOrCluster);
    return c ? anchor(c.nodes[0]?.id ?? c.clusters[0]!.id) : nodeOrCluster;
  };
  const body = (c: GraphCluster, indent: string): string[] => [
    ...c.nodes.map((n) => `${indent}${n.id} [label=${quote(n.label)}, ${shapes[n.shape]}];`),
    ...c.clusters.flatMap((k) => [
      `${indent}subgraph cluster_${k.id} {`,
      `${indent}  label=${quote(k.label)};`,
      ...body(k, `${indent}  `),
      `${indent}}`,
    ]),
    ...c.edges.map((e) => {
      const attrs = [
        ...(e.label ? [`label=${quote(e.label)}`] : []),
        ...(clusters.has(e.from) ? [`ltail=cluster_${e.from}`] : []),
        ...(clusters.has(e.to) ? [`lhead=cluster_${e.to}`] : []),
      ];
      return `${indent}${anchor(e.from)} -> ${anchor(e.to)}${attrs.length ? ` [${attrs.join(', ')}]` : ''};`;
    }),
  ];
  return [`digraph ${quote(wf.name)} {`, '  compound=true;', '  rankdir=TB;', ...body(root, '  '), '}'].join('\n');
}

/** `operation is unlock or restore` for `{ operation: [unlock, restore] }`. */
function whenParams(params: Record<string, string[]>): string {
  return Object.entries(params)
    .map(([k, v]) => `${k} is ${v.join(' or ')}`)
    .join(' and ');
}
