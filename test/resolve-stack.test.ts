// The stack resolved from the repository (buildspecs/scripts/resolve-stack.js): components, dependencies and what
// the runner needs, from Atmos's own `describe stacks` (the stand-in, which answers as Atmos does) or from the
// plain-terraform layout and its tropos.json convention.
import { spawnSync } from 'node:child_process';
import { appendFileSync, cpSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { catalog, ROOT } from './helpers/fixtures';

const ATMOS = join(ROOT, 'test', 'stand-ins', 'atmos');
const RESOLVE = join(ROOT, 'buildspecs', 'scripts', 'resolve-stack.js');

interface Resolved {
  stack: string;
  account?: string;
  components: { name: string; folder: string; dependsOn: string[]; workspace: string; stateKey?: string }[];
  ignored: string[];
}

function copyOfExamples(): string {
  const dir = mkdtempSync(join(tmpdir(), 'tropos-resolve-'));
  cpSync(join(ROOT, 'examples'), dir, { recursive: true });
  return dir;
}

function resolveAtmos(repo: string, stack: string): { status: number | null; resolved?: Resolved; stderr: string } {
  const described = spawnSync(process.execPath, [ATMOS, 'describe', 'stacks', '-s', stack, '--format', 'json'], {
    encoding: 'utf8',
    env: { PATH: process.env.PATH, ATMOS_CLI_CONFIG_PATH: repo, ATMOS_BASE_PATH: repo },
  });
  if (described.status !== 0) return { status: described.status, stderr: described.stderr };
  const file = join(mkdtempSync(join(tmpdir(), 'described-')), 'stacks.json');
  writeFileSync(file, described.stdout);
  const r = spawnSync('node', [RESOLVE, 'atmos', stack, file], { encoding: 'utf8' });
  return {
    status: r.status,
    stderr: r.stderr,
    ...(r.status === 0 ? { resolved: JSON.parse(r.stdout) as Resolved } : {}),
  };
}

const byName = (r: Resolved) => Object.fromEntries(r.components.map((c) => [c.name, c]));

describe('an Atmos stack, resolved from Atmos', () => {
  test("acme-dev-testenv-01: its 14 components with seed 001's dependencies, Atmos's state keys", () => {
    const r = resolveAtmos(join(copyOfExamples(), 'atmos'), 'acme-dev-testenv-01');
    expect(r.stderr).toBe('');
    const c = byName(r.resolved!);
    expect(Object.keys(c).sort()).toEqual([...catalog.sets.get('environment')!].sort());
    expect(c.vpc).toMatchObject({ folder: 'vpc', dependsOn: ['backend'], workspace: 'acme-dev-testenv-01' });
    expect(c.vpc!.stateKey).toBe('vpc/acme-dev-testenv-01/terraform.tfstate');
    expect(c.apigateway!.dependsOn).toEqual(['acm', 'dns', 'lambda', 'vpc']);
    expect(c.monitoring!.dependsOn).toHaveLength(13);
    expect(r.resolved!.account).toBe('dev');
  });

  test('a component added to the repository is there, after its dependency; nothing is retyped in Tropos', () => {
    const repo = join(copyOfExamples(), 'atmos');
    mkdirSync(join(repo, 'components', 'terraform', 'sqs'));
    writeFileSync(join(repo, 'components', 'terraform', 'sqs', 'main.tf'), 'resource "terraform_data" "queue" {}\n');
    writeFileSync(
      join(repo, 'stacks', 'catalog', 'sqs.yaml'),
      'components:\n  terraform:\n    sqs:\n      settings:\n        depends_on:\n          1:\n            component: vpc\n      vars: {}\n',
    );
    const stackFile = join(repo, 'stacks', 'orgs', 'acme', 'dev', 'testenv-01.yaml');
    writeFileSync(stackFile, readFileSync(stackFile, 'utf8').replace('import:\n', 'import:\n  - catalog/sqs\n'));
    const c = byName(resolveAtmos(repo, 'acme-dev-testenv-01').resolved!);
    expect(c.sqs).toMatchObject({ folder: 'sqs', dependsOn: ['vpc'] });
    // prod's stack does not import it: prod does not have it.
    expect(byName(resolveAtmos(repo, 'acme-prod-main').resolved!).sqs).toBeUndefined();
  });

  test('abstract and disabled components are not run; a dependency on a component the stack lacks is reported', () => {
    const repo = join(copyOfExamples(), 'atmos');
    appendFileSync(
      join(repo, 'stacks', 'orgs', 'acme', 'dev', 'testenv-01.yaml'),
      'components:\n  terraform:\n    base-db:\n      metadata:\n        type: abstract\n    rds:\n      metadata:\n        enabled: false\n    lambda:\n      settings:\n        depends_on:\n          9:\n            component: sqs\n',
    );
    const r = resolveAtmos(repo, 'acme-dev-testenv-01').resolved!;
    expect(byName(r)['base-db']).toBeUndefined();
    expect(byName(r).rds).toBeUndefined();
    expect(r.ignored).toEqual(expect.arrayContaining(['lambda -> sqs (not a component of acme-dev-testenv-01)']));
  });

  test("a dependency on another stack's component is refused, naming it", () => {
    const repo = join(copyOfExamples(), 'atmos');
    appendFileSync(
      join(repo, 'stacks', 'orgs', 'acme', 'dev', 'testenv-01.yaml'),
      'components:\n  terraform:\n    vpc:\n      settings:\n        depends_on:\n          2:\n            component: dns\n            stage: prod\n',
    );
    const r = resolveAtmos(repo, 'acme-dev-testenv-01');
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/vpc depends on dns of another stack \(stage: prod\)/);
  });

  test('a cycle is refused, naming it', () => {
    const repo = join(copyOfExamples(), 'atmos');
    appendFileSync(
      join(repo, 'stacks', 'orgs', 'acme', 'dev', 'testenv-01.yaml'),
      'components:\n  terraform:\n    backend:\n      settings:\n        depends_on:\n          1:\n            component: monitoring\n',
    );
    const r = resolveAtmos(repo, 'acme-dev-testenv-01');
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/in a cycle: (\S+ -> )*backend -> monitoring -> /);
  });

  test('an unknown stack is refused as Atmos refuses it', () => {
    const r = resolveAtmos(join(copyOfExamples(), 'atmos'), 'acme-dev-nope');
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/Stack acme-dev-nope not found/);
  });
});

describe('a plain-terraform stack, resolved from its layout', () => {
  test("its roots, with the dependencies of tropos.json, and the seeds' state keys", () => {
    const repo = join(copyOfExamples(), 'terraform');
    const r = spawnSync('node', [RESOLVE, 'terraform', 'acme-dev-testenv-01', repo, 'dev', 'testenv-01'], {
      encoding: 'utf8',
    });
    expect(r.stderr).toBe('');
    const c = byName(JSON.parse(r.stdout) as Resolved);
    expect(Object.keys(c).sort()).toEqual([...catalog.sets.get('environment')!].sort());
    expect(c.vpc).toMatchObject({
      folder: 'environments/dev/testenv-01/vpc',
      dependsOn: ['backend'],
      stateKey: 'dev/testenv-01/vpc/terraform.tfstate',
    });
  });

  test('a cycle in tropos.json is refused, naming it', () => {
    const repo = join(copyOfExamples(), 'terraform');
    writeFileSync(
      join(repo, 'environments', 'dev', 'testenv-01', 'tropos.json'),
      JSON.stringify({ depends_on: { vpc: ['iam'], iam: ['vpc'] } }),
    );
    const r = spawnSync('node', [RESOLVE, 'terraform', 'acme-dev-testenv-01', repo, 'dev', 'testenv-01'], {
      encoding: 'utf8',
    });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/in a cycle: iam -> vpc -> iam/);
  });
});
