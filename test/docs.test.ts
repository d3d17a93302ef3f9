import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { validateInput } from '../lambdas/validate-input/core';
import { workflowTable, exampleInput } from '../lib/workflow/describe';
import { loadWorkflows } from '../lib/workflow/load';
import { workflowSpec } from '../lib/workflow/spec';
import { catalog, environment, MemoryRegistry, ROOT, settings } from './helpers/fixtures';

const workflows = loadWorkflows(join(ROOT, 'workflows'), catalog);

describe('the README', () => {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');

  test('its workflow table is the one generated from workflows/ (npm run -s readme:workflows)', () => {
    const between = readme.split('<!-- workflows:start -->\n')[1]?.split('\n<!-- workflows:end -->')[0];
    expect(between).toBe(workflowTable(workflows));
  });

  test('the test command it gives is the one CI runs', () => {
    expect(readme).toMatch(/npm test/);
    expect(readFileSync(join(ROOT, '.ci', 'run'), 'utf8')).toMatch(/^npm test$/m);
  });
});

describe('example console inputs', () => {
  // The example stacks, registered by the local control plane from examples/environments.yaml.
  const { environments } = parse(readFileSync(join(ROOT, 'examples', 'environments.yaml'), 'utf8')) as {
    environments: { tenant: string; account: string; environment: string; vpcCidr: string; components?: string[] }[];
  };
  const registry = new MemoryRegistry(
    environments.map((e) => environment(`${e.tenant}-${e.account}-${e.environment}`, e)),
  );

  test.each([...workflows.keys()])('the example input of %s passes its validation', async (name) => {
    const wf = workflows.get(name)!;
    const first = wf.steps[0]!;
    const checks = first.kind === 'validate' ? first.checks : [];
    const out = await validateInput(
      {
        workflow: workflowSpec(wf),
        checks,
        input: exampleInput(wf),
        runId: 'r',
      },
      settings,
      registry,
    );
    expect(out.context.workflow).toBe(name);
  });
});
