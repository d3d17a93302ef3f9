// The stack resolved from the repository (buildspecs/scripts/resolve-stack.js): components, dependencies and what
// the runner needs, from Atmos's own `describe stacks` (the stand-in, which answers as Atmos does) or from the
// plain-terraform layout and its tropos.json convention.
import { spawnSync } from 'node:child_process';
import { appendFileSync, cpSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { catalog, renameStacksCloudPosseStyle, ROOT } from './helpers/fixtures';

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

/** Resolves as the runner does: every stack Atmos describes, then the run's own by Tropos's name or its vars. */
function resolveNamed(
  repo: string,
  stack: string,
  env: Record<string, string>,
): {
  status: number | null;
  resolved?: Resolved & { name: string; stacks: { stack: string; name?: string }[] };
  stderr: string;
} {
  const described = spawnSync(process.execPath, [ATMOS, 'describe', 'stacks', '--format', 'json'], {
    encoding: 'utf8',
    env: { PATH: process.env.PATH, ATMOS_CLI_CONFIG_PATH: repo, ATMOS_BASE_PATH: repo },
  });
  expect(described.stderr).toBe('');
  const file = join(mkdtempSync(join(tmpdir(), 'described-')), 'stacks.json');
  writeFileSync(file, described.stdout);
  const r = spawnSync('node', [RESOLVE, 'atmos', stack, file], {
    encoding: 'utf8',
    env: { PATH: process.env.PATH, ...env },
  });
  return { status: r.status, stderr: r.stderr, ...(r.status === 0 ? { resolved: JSON.parse(r.stdout) } : {}) };
}

/** A copy of the example repository, its stacks named as Cloud Posse's are. */
function namespacedRepository(): string {
  const repo = join(copyOfExamples(), 'atmos');
  renameStacksCloudPosseStyle(repo);
  return repo;
}

describe("stack names from the repository's own naming", () => {
  const run = { TROPOS_TENANT: 'acme', TROPOS_ACCOUNT: 'dev', TROPOS_ENVIRONMENT: 'testenv-01' };
  const stages = JSON.stringify({ dev: 'development', staging: 'staging', prod: 'prod' });

  test("a stack named {namespace}-{tenant}-{environment}-{stage} is found by its vars, the stage mapped to Tropos's account", () => {
    const r = resolveNamed(namespacedRepository(), 'acme-dev-testenv-01', { ...run, TROPOS_STAGES: stages });
    expect(r.stderr).toBe('');
    expect(r.resolved).toMatchObject({
      stack: 'acme-dev-testenv-01',
      name: 'eg-acme-testenv-01-development',
      account: 'dev',
    });
    // Atmos's workspace is its own stack name.
    expect(byName(r.resolved!).vpc!.workspace).toBe('eg-acme-testenv-01-development');
    // Every stack enters the registry under Tropos's name, with the repository's beside it.
    expect(r.resolved!.stacks).toContainEqual(
      expect.objectContaining({ stack: 'acme-dev-platform', name: 'eg-acme-platform-development', account: 'dev' }),
    );
    expect(r.resolved!.stacks).toContainEqual(
      expect.objectContaining({ stack: 'acme-prod-main', name: 'eg-acme-main-prod', account: 'prod' }),
    );
  });

  test('without the stage mapping the stack is not defined (exit 3), and the message says what was looked for', () => {
    const r = resolveNamed(namespacedRepository(), 'acme-dev-testenv-01', run);
    expect(r.status).toBe(3);
    expect(r.stderr).toContain('does not define stack acme-dev-testenv-01');
    expect(r.stderr).toContain('stage: dev');
    expect(r.stderr).toContain('accounts.<name>.stage');
    expect(r.stderr).toContain('eg-acme-testenv-01-development');
  });

  test('two namespaces with the same stack: refused naming both, until the configuration names the namespace', () => {
    const repo = namespacedRepository();
    const own = join(repo, 'stacks', 'orgs', 'acme', 'dev', 'testenv-01.yaml');
    writeFileSync(
      join(repo, 'stacks', 'orgs', 'acme', 'dev', 'testenv-01-xy.yaml'),
      readFileSync(own, 'utf8').replace('namespace: eg', 'namespace: xy'),
    );
    const both = resolveNamed(repo, 'acme-dev-testenv-01', { ...run, TROPOS_STAGES: stages });
    expect(both.status).toBe(1);
    expect(both.stderr).toContain('eg-acme-testenv-01-development, xy-acme-testenv-01-development');
    expect(both.stderr).toContain('infrastructure.namespace');
    const one = resolveNamed(repo, 'acme-dev-testenv-01', { ...run, TROPOS_STAGES: stages, TROPOS_NAMESPACE: 'xy' });
    expect(one.resolved?.name).toBe('xy-acme-testenv-01-development');
    expect(one.resolved!.stacks.map((s) => s.name ?? s.stack)).not.toContain('eg-acme-testenv-01-development');
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
