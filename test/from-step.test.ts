// Resuming is safe by construction: every workflow's `fromStep` values against each step's `requires`. The
// expected answer is derived here from the workflow files themselves (their YAML, not the loader's closure), and
// compared with what the validator — the run's first state, and the API's own check — answers.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { validateInput } from '../lambdas/validate-input/core';
import { InvalidInputError } from '../lib/domain/errors';
import { PARAMETERS, isParameterName } from '../lib/domain/inputs';
import { loadWorkflows, validateWorkflows } from '../lib/workflow/load';
import { workflowSpec } from '../lib/workflow/spec';
import { catalog, environment, MemoryRegistry, ROOT, settings } from './helpers/fixtures';

interface RawStep {
  name: string;
  requires?: string[];
}

const dir = join(ROOT, 'workflows');
const workflows = loadWorkflows(dir, catalog);
const raw = new Map(
  readdirSync(dir)
    .filter((f) => f.endsWith('.yaml'))
    .map((f) => {
      const doc = parse(readFileSync(join(dir, f), 'utf8')) as { name: string; steps: RawStep[] };
      return [doc.name, doc.steps] as const;
    }),
);

/** Every step a step relies on, followed through the files' own `requires` lists. */
function reliesOn(steps: RawStep[], name: string, seen = new Set<string>()): Set<string> {
  for (const r of steps.find((s) => s.name === name)?.requires ?? [])
    if (!seen.has(r)) {
      seen.add(r);
      reliesOn(steps, r, seen);
    }
  return seen;
}

/** The steps `fromStep=<from>` would skip that a step at or after it relies on. */
function wouldSkip(steps: RawStep[], from: string): string[] {
  const index = steps.findIndex((s) => s.name === from);
  const skipped = new Set(steps.slice(0, index).map((s) => s.name));
  const needed = new Set(steps.slice(index).flatMap((s) => [...reliesOn(steps, s.name)]));
  return steps.map((s) => s.name).filter((n) => skipped.has(n) && needed.has(n));
}

const cases = [...raw.entries()].flatMap(([workflow, steps]) =>
  steps.map((s) => [workflow, s.name, wouldSkip(steps, s.name)] as const),
);

const registry = new MemoryRegistry([environment('acme-dev-testenv-01')]);

/** A valid input of the workflow: each declared parameter's documented example, on a registered stack. */
function inputOf(workflow: string): Record<string, unknown> {
  const wf = workflows.get(workflow)!;
  const input: Record<string, unknown> = {};
  for (const name of [...wf.inputs.required]) if (isParameterName(name)) input[name] = PARAMETERS[name].example;
  return { ...input, tenant: 'acme', account: 'dev', environment: 'testenv-01', ...(wf.example ?? {}) };
}

async function fromStepProblems(workflow: string, fromStep: string): Promise<string[]> {
  const wf = workflows.get(workflow)!;
  try {
    await validateInput(
      { workflow: workflowSpec(wf), checks: [], input: { ...inputOf(workflow), fromStep }, runId: 'r' },
      settings,
      registry,
    );
    return [];
  } catch (e) {
    if (!(e instanceof InvalidInputError)) throw e;
    return e.problems.filter((p) => p.field === 'fromStep').map((p) => p.problem);
  }
}

describe('fromStep against requires, every workflow and step', () => {
  test('the table covers every workflow and refuses something in each that relies on earlier steps', () => {
    expect(cases.length).toBeGreaterThan(40);
    expect(new Set(cases.map(([w]) => w))).toEqual(new Set(workflows.keys()));
    for (const w of ['apply-environment', 'destroy-environment', 'onboard-environment', 'platform', 'promote'])
      expect(cases.some(([wf, , skipped]) => wf === w && skipped.length > 0)).toBe(true);
  });

  test.each(cases)('%s fromStep=%s: refused when it would skip %j', async (workflow, from, skipped) => {
    const problems = await fromStepProblems(workflow, from);
    // Allowed: no problem. Refused: one, naming exactly the steps it would skip.
    expect(problems.map((p) => /^"[\w-]+" would skip ([\w, -]+?), which /.exec(p)?.[1] ?? p)).toEqual(
      skipped.length === 0 ? [] : [skipped.join(', ')],
    );
  });

  test('the refusal lists the steps that may be resumed from', async () => {
    expect(await fromStepProblems('apply-environment', 'apply')).toEqual([
      expect.stringMatching(/allowed: validate, drift, compliance, plan \(/),
    ]);
  });
});

describe('requires is checked when the workflows are loaded', () => {
  const VALIDATE = '  - name: validate\n    kind: validate\n';
  const HEAD = 'description: test\ninputs:\n  required: [tenant, account, environment]\nsteps:\n' + VALIDATE;
  const PLAN = '  - name: plan\n    kind: terraform\n    command: plan\n    components: [vpc]\n';
  const APPROVE = '  - name: approve\n    kind: approval\n    plan: plan\n';
  const load = (text: string) => () =>
    validateWorkflows([{ source: 'workflows/wf.yaml', text: `name: wf\n${HEAD}${text}` }], catalog);

  test.each([
    [
      'an apply that does not require its plan and approval',
      `${PLAN}${APPROVE}  - name: apply\n    kind: terraform\n    command: apply\n    plan: plan\n    components: [vpc]\n`,
      /step "apply" \(terraform\): it applies the plan of "plan", so it must require "plan" and "approve" \(missing: plan, approve\)/,
    ],
    [
      'a requirement that is not an earlier step',
      `${PLAN}  - name: other\n    kind: terraform\n    command: validate\n    components: [vpc]\n    requires: [later]\n  - name: later\n    kind: terraform\n    command: validate\n    components: [vpc]\n`,
      /step "other" \(terraform\): requires: "later" is not an earlier step/,
    ],
    [
      'the first step as a requirement',
      `${PLAN.replace('components: [vpc]\n', 'components: [vpc]\n    requires: [validate]\n')}`,
      /requires: "validate" is not an earlier step of this workflow \(the first step always runs\)/,
    ],
    [
      'a deregistration without its destroy and the whole stack',
      `${PLAN}  - name: deregister\n    kind: registry\n    action: mark-destroyed\n`,
      /mark-destroyed must require the destroy step[\s\S]*add when: \{ wholeStack: true \}/,
    ],
  ])('fails when %s', (_, text, message) => {
    expect(load(text)).toThrow(message);
  });

  test('a parallel step that applies a plan must require it (its branches may not)', () => {
    const text = `${PLAN}${APPROVE}  - name: phases\n    kind: parallel\n    branches:\n      first:\n        - name: a1\n          kind: terraform\n          command: apply\n          plan: plan\n          components: [vpc]\n          requires: [plan]\n`;
    expect(load(text)).toThrow(/step "phases" \(parallel\): it applies the plan of "plan"/);
    expect(load(text)).toThrow(/step "a1" \(terraform\): requires: only top-level steps/);
  });
});
