import { Catalog, DefinitionError } from '../lib/workflow/catalog';
import {
  criticalPathLength,
  dependentCounts,
  findCycle,
  levelByLevelLength,
  levels,
  reversed,
  topologicalOrder,
  width,
} from '../lib/workflow/graph';
import { loadWorkflows, validateWorkflows } from '../lib/workflow/load';
import { catalog, ROOT } from './helpers/fixtures';
import { graphOf, SEED_000, SEED_001 } from './fixtures/seed-graph';
import { SEED_001_APPLY_SECONDS } from './fixtures/seed-001-durations';
import { join } from 'node:path';

const VALIDATE = '  - name: validate\n    kind: validate\n';
const HEAD = 'description: test\ninputs:\n  required: [tenant, account, environment]\nsteps:\n' + VALIDATE;

function load(texts: Record<string, string>) {
  return validateWorkflows(
    Object.entries(texts).map(([name, text]) => ({ source: `workflows/${name}.yaml`, text: `name: ${name}\n${text}` })),
    catalog,
  );
}

describe("the seeds' dependency graphs (test data the example repository is checked against)", () => {
  test('seed 001 section 7: dependency order and levels', () => {
    const graph = graphOf(Object.keys(SEED_001));
    const order = topologicalOrder(graph);
    for (const [c, deps] of graph) for (const d of deps) expect(order.indexOf(d)).toBeLessThan(order.indexOf(c));
    expect(levels(graph)).toEqual([
      ['backend'],
      ['dns', 'iam', 'vpc'],
      ['acm', 'dynamodb', 'lambda', 'security-groups'],
      ['apigateway', 'ec2', 'ecs', 'eks', 'rds'],
      ['monitoring'],
    ]);
    expect(graph.get('monitoring')).toHaveLength(13);
  });

  test('seed 000: backend -> iam -> network -> infrastructure -> services', () => {
    expect(topologicalOrder(graphOf(Object.keys(SEED_000), SEED_000))).toEqual([
      'backend',
      'iam',
      'network',
      'infrastructure',
      'services',
    ]);
  });

  test('reversed for destroy: dependents first', () => {
    const graph = reversed(graphOf(['backend', 'vpc', 'eks']));
    expect(topologicalOrder(graph)).toEqual(['eks', 'vpc', 'backend']);
  });

  test('critical path and level-by-level length (the bench:dag figures of seed 001)', () => {
    const seconds = SEED_001_APPLY_SECONDS;
    const graph = graphOf(Object.keys(SEED_001));
    expect(criticalPathLength(graph, (c) => seconds[c]!)).toBe(1245);
    expect(levelByLevelLength(graph, (c) => seconds[c]!)).toBe(1800);
  });

  test('dependent counts: how many components come after each, directly or through others (seed 001)', () => {
    const counts = dependentCounts(graphOf(Object.keys(SEED_001)));
    expect(
      Object.fromEntries(['backend', 'vpc', 'iam', 'dns', 'rds', 'monitoring'].map((c) => [c, counts.get(c)])),
    ).toEqual({ backend: 13, vpc: 9, iam: 7, dns: 3, rds: 1, monitoring: 0 });
  });
  test('width: the most components that can run at once (how many workers a step starts)', () => {
    // Seed 001: acm, rds, eks, ecs, ec2, dynamodb and lambda can all run together; nothing else can join them.
    expect(width(graphOf(Object.keys(SEED_001)))).toBe(7);
    expect(width(graphOf(Object.keys(SEED_000), SEED_000))).toBe(1); // a chain
    expect(width(new Map())).toBe(0);
    const star = new Map([
      ['a', []],
      ['b', ['a']],
      ['c', ['a']],
      ['d', ['a']],
      ['e', ['a']],
    ]);
    expect(width(star)).toBe(4);
    const diamond = new Map([
      ['a', []],
      ['b', ['a']],
      ['c', ['a']],
      ['d', ['b', 'c']],
    ]);
    expect(width(diamond)).toBe(2);
    // Against every subset of small random graphs: the largest set of which no node comes before another.
    let x = 11;
    const rand = () => (x = (x * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    for (let round = 0; round < 30; round++) {
      const n = 2 + Math.floor(rand() * 8);
      const names = Array.from({ length: n }, (_, i) => `n${i}`);
      const graph = new Map(names.map((name, i) => [name, names.slice(0, i).filter(() => rand() < 0.3)]));
      const before = (a: string, b: string): boolean => graph.get(b)!.some((d) => d === a || before(a, d));
      let most = 0;
      for (let mask = 1; mask < 1 << n; mask++) {
        const set = names.filter((_, i) => mask & (1 << i));
        if (set.every((a) => set.every((b) => a === b || !before(a, b)))) most = Math.max(most, set.length);
      }
      expect([round, width(graph)]).toEqual([round, most]);
    }
  });
});

describe('the component catalog: optional defaults and named sets, never a list of what exists', () => {
  test("the catalog as shipped: timeouts of the slow components, the seeds' sets", () => {
    expect(catalog.longestTimeoutMinutes).toBe(120);
    expect([...catalog.sets.keys()].sort()).toEqual(['coarse', 'environment', 'platform']);
    expect(catalog.newStackComponents).toEqual(Object.keys(SEED_001));
  });

  test('an empty catalog is a valid one', () => {
    const empty = Catalog.fromObject({});
    expect([empty.longestTimeoutMinutes, [...empty.sets]]).toEqual([0, []]);
  });

  test('what it no longer holds is refused, naming the field', () => {
    expect(() => Catalog.fromObject({ components: { a: { description: 'a', depends_on: [] } } })).toThrow(
      /catalog is invalid:[\s\S]*components/,
    );
    expect(() => Catalog.fromObject({ defaults: { rds: { timeout_minutes: 2 } } })).toThrow(
      /defaults\.rds\.timeout_minutes/,
    );
  });
  test('findCycle finds none in a DAG', () => {
    expect(
      findCycle(
        new Map([
          ['a', ['b']],
          ['b', []],
        ]),
      ),
    ).toBeUndefined();
  });
});

describe('workflow definition files', () => {
  test("every file of workflows/ is valid, and the seeds' 14 workflows are there", () => {
    const workflows = loadWorkflows(join(ROOT, 'workflows'), catalog);
    expect([...workflows.keys()].sort()).toEqual(
      [
        'apply-backend',
        'apply-environment',
        'bootstrap-backend',
        'compliance-check',
        'destroy-environment',
        'drift-detection',
        'import',
        'lint',
        'onboard-environment',
        'plan-environment',
        'platform',
        'promote',
        'state-operations',
        'validate',
      ].sort(),
    );
  });

  test.each<[string, Record<string, string>, RegExp]>([
    [
      'an unknown step kind',
      { wf: HEAD + '  - name: xx\n    kind: terrafrom\n' },
      /workflows\/wf.yaml is invalid:\n.*steps\[1\].kind: unknown step kind; allowed: validate, terraform/,
    ],
    [
      "a component that is no name (which components exist is the repository's to say)",
      { wf: HEAD + '  - name: plan\n    kind: terraform\n    command: plan\n    components: [vpc, "v p"]\n' },
      /workflows\/wf.yaml: step "plan" \(terraform\): "v p" is not a component name \(letters, digits, _ . \/ -\), `stack`, a set of the catalog/,
    ],
    [
      'a duplicate step name',
      {
        wf:
          HEAD +
          '  - name: plan\n    kind: terraform\n    command: plan\n    components: [vpc]\n  - name: plan\n    kind: terraform\n    command: plan\n    components: [iam]\n',
      },
      /step "plan" \(terraform\): duplicate step name "plan"/,
    ],
    [
      'a missing required field',
      { wf: HEAD + '  - name: plan\n    kind: terraform\n    components: [vpc]\n' },
      /steps\[1\].command: Invalid option/,
    ],
    ['a missing description', { wf: 'steps:\n' + VALIDATE }, /description: Invalid input: expected string/],
    [
      'a first step that is not validate',
      { wf: 'description: d\nsteps:\n  - name: lint\n    kind: terraform\n    command: lint\n' },
      /the first step must be a validate step/,
    ],
    [
      'an apply without its plan',
      { wf: HEAD + '  - name: apply\n    kind: terraform\n    command: apply\n    components: [vpc]\n' },
      /apply must name the plan step it applies \(plan: <step>\)/,
    ],
    [
      'an approval of an unknown plan',
      { wf: HEAD + '  - name: ok\n    kind: approval\n    plan: plann\n' },
      /plan: "plann" is not an earlier plan step/,
    ],
    [
      'a when on an unknown plan',
      {
        wf:
          HEAD +
          '  - name: xx\n    kind: terraform\n    command: validate\n    components: [vpc]\n    when: { changes: plan }\n',
      },
      /when: "plan" is not an earlier plan step/,
    ],
    [
      'an unknown parameter',
      { wf: 'description: d\ninputs:\n  required: [tenant, vpc]\nsteps:\n' + VALIDATE },
      /inputs.required\[1\]: unknown parameter "vpc"; allowed: tenant, account/,
    ],
    [
      '${component} without the input',
      { wf: HEAD + '  - name: xx\n    kind: terraform\n    command: import\n    components: ${component}\n' },
      /components is \$\{component\} but "component" is not an input/,
    ],
    [
      'an unknown workflow',
      { wf: HEAD + '  - name: xx\n    kind: workflow\n    workflow: nope\n' },
      /unknown workflow "nope"/,
    ],
    [
      'workflows calling each other',
      {
        one: HEAD + '  - name: xx\n    kind: workflow\n    workflow: two\n',
        two: HEAD + '  - name: yy\n    kind: workflow\n    workflow: one\n',
      },
      /workflows call each other in a cycle: one -> two -> one/,
    ],
    [
      'a child input the parent cannot give',
      {
        one:
          'description: d\ninputs:\n  required: [tenant]\nsteps:\n' +
          VALIDATE +
          '  - name: xx\n    kind: workflow\n    workflow: two\n',
        two: HEAD,
      },
      /"two" requires "account", which "one" does not take/,
    ],
    [
      'a name that is not the file name',
      { wf: HEAD.replace('description', 'name: other\ndescription') },
      /Map keys must be unique|must match the file name/,
    ],
  ])('fails on %s, naming the file, the step and the fix', (_, texts, message) => {
    // Act / Assess
    expect(() => load(texts)).toThrow(DefinitionError);
    expect(() => load(texts)).toThrow(message);
  });

  test('lists the problems of every file at once', () => {
    expect(() =>
      load({
        one: HEAD + '  - name: xx\n    kind: nope\n',
        two: HEAD + '  - name: yy\n    kind: terraform\n    command: plan\n    components: ["no pe"]\n',
      }),
    ).toThrow(/workflows\/one.yaml[\s\S]*workflows\/two.yaml/);
  });
});
