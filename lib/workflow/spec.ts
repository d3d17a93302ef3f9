import { requirementClosure, type Workflow } from './load';

/** The part of a workflow definition the input validator checks against; compiled into the first state. */
export interface WorkflowSpec {
  readonly name: string;
  readonly mutating: boolean;
  readonly inputs: {
    readonly required: readonly string[];
    readonly optional: readonly string[];
    /** A default is a literal `{value}` or another parameter's value `{ref}`. */
    readonly defaults: Readonly<Record<string, { value: string } | { ref: string }>>;
    readonly requiredWhen: Readonly<Record<string, readonly string[]>>;
  };
  /** Top-level steps; `requires`: every earlier step each relies on (transitively), which `fromStep` may not skip. */
  readonly steps: readonly { name: string; kind: string; requires: readonly string[] }[];
}

/**
 * The validator's view of a workflow. `${param}` defaults become `{ref}` objects: inside a CloudFormation
 * template a `${…}` string would read as a parameter reference.
 */
export function workflowSpec(wf: Workflow): WorkflowSpec {
  return {
    name: wf.name,
    // A workflow that may change infrastructure (with some parameters) is held to what mutating ones are.
    mutating: wf.mutating !== false,
    inputs: {
      required: wf.inputs.required,
      optional: wf.inputs.optional,
      requiredWhen: wf.inputs.requiredWhen,
      defaults: Object.fromEntries(
        Object.entries(wf.inputs.defaults).map(([k, v]) => {
          const ref = /^\$\{(\w+)\}$/.exec(v)?.[1];
          return [k, ref ? { ref } : { value: v }];
        }),
      ),
    },
    steps: wf.steps.map((s) => ({ name: s.name, kind: s.kind, requires: requirementClosure(wf, s.name) })),
  };
}
