// The atmos stand-in gives Atmos's own answers: for the three small Atmos repositories in ../shared/reference/atmos,
// what it prints (describe component / describe stacks, errors included) is compared with Atmos's recorded output.
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from './helpers/fixtures';

const REFERENCE = join(ROOT, '..', 'shared', 'reference', 'atmos');
const ATMOS = join(ROOT, 'test', 'stand-ins', 'atmos');
const repos = {
  'native-terraform': join(REFERENCE, 'examples', 'native-terraform'),
  'stack-names': join(REFERENCE, 'examples', 'stack-names'),
  'stack-manifest-name': join(REFERENCE, 'tests', 'fixtures', 'scenarios', 'stack-manifest-name'),
};

/** Runs the stand-in in a repository the way the runner does: ATMOS_CLI_CONFIG_PATH and ATMOS_BASE_PATH set. */
function atmos(repo: string, args: string[], env: Record<string, string> = {}) {
  return spawnSync(process.execPath, [ATMOS, ...args], {
    encoding: 'utf8',
    cwd: tmpdir(),
    env: { PATH: process.env.PATH, ATMOS_CLI_CONFIG_PATH: repo, ATMOS_BASE_PATH: repo, ...env },
  });
}

/** The fields of a describe-component answer that Tropos reads or that say which stack and component it is. */
const FIELDS = [
  'atmos_component',
  'atmos_manifest',
  'atmos_stack',
  'atmos_stack_file',
  'backend',
  'backend_type',
  'component',
  'component_type',
  'deps',
  'deps_all',
  'env',
  'imports',
  'inheritance',
  'metadata',
  'overrides',
  'providers',
  'remote_state_backend',
  'remote_state_backend_type',
  'settings',
  'stack',
  'vars',
  'workspace',
] as const;
const pick = (o: Record<string, unknown>) => Object.fromEntries(FIELDS.map((f) => [f, o[f]]));
/** Atmos's error text, without the telemetry notice it prints first. */
const errorText = (s: string) =>
  s
    .split('\n')
    .filter((l) => !l.startsWith('**Notice:**'))
    .join('\n')
    .trim();

const cases: [string, keyof typeof repos, string[]][] = [
  [
    'atmos_describe_component_vpc_-s_dev_native-terraform_example_',
    'native-terraform',
    ['describe', 'component', 'vpc', '-s', 'dev'],
  ],
  [
    'atmos_describe_component_vpc_-s_production_native-terraform_example_',
    'native-terraform',
    ['describe', 'component', 'vpc', '-s', 'production'],
  ],
  [
    'atmos_describe_component_vpc_-s_prod_invalid_-_native-terraform_example_',
    'native-terraform',
    ['describe', 'component', 'vpc', '-s', 'prod'],
  ],
  [
    'atmos_describe_component_mock_-s_dev_stack-names_example_',
    'stack-names',
    ['describe', 'component', 'mock', '-s', 'dev'],
  ],
  [
    'atmos_describe_component_mock_-s_production_stack-names_example_',
    'stack-names',
    ['describe', 'component', 'mock', '-s', 'production'],
  ],
  [
    'atmos_describe_component_mock_-s_prod_invalid_-_stack-names_example_',
    'stack-names',
    ['describe', 'component', 'mock', '-s', 'prod'],
  ],
  [
    'atmos_describe_component_vpc_-s_my-legacy-prod-stack',
    'stack-manifest-name',
    ['describe', 'component', 'vpc', '-s', 'my-legacy-prod-stack'],
  ],
  [
    'atmos_describe_component_vpc_-s_no-name-prod',
    'stack-manifest-name',
    ['describe', 'component', 'vpc', '-s', 'no-name-prod'],
  ],
  [
    'atmos_describe_component_vpc_-s_legacy-prod_invalid_-_should_suggest_correct_name_',
    'stack-manifest-name',
    ['describe', 'component', 'vpc', '-s', 'legacy-prod'],
  ],
  ['atmos_describe_stacks_stack-manifest-name_', 'stack-manifest-name', ['describe', 'stacks']],
];

const golden = (name: string, stream: 'stdout' | 'stderr') =>
  readFileSync(join(REFERENCE, 'golden', `TestCLICommands_${name}.${stream}.golden`), 'utf8');

describe("the atmos stand-in answers as Atmos did (its recorded output for Atmos's example repositories)", () => {
  test('the reference material is there (../shared beside the checkout)', () => {
    expect(existsSync(REFERENCE)).toBe(true);
    expect(cases).toHaveLength(10);
  });

  test.each(cases)('%s', (name, repo, args) => {
    const r = atmos(repos[repo], args);
    const expectedOut = golden(name, 'stdout').trim();
    const expectedErr = errorText(golden(name, 'stderr'));
    // Same success or failure, same answer: the fields Tropos reads, or Atmos's error and suggestion.
    expect({ failed: r.status !== 0, error: errorText(r.stderr) }).toEqual({
      failed: expectedOut === '',
      error: expectedErr,
    });
    const answer = expectedOut === '' ? {} : pick(JSON.parse(r.stdout) as Record<string, unknown>);
    expect(answer).toEqual(expectedOut === '' ? {} : pick(JSON.parse(expectedOut) as Record<string, unknown>));
  });
});

describe("the stand-in follows Atmos's contract where Tropos depends on it", () => {
  test('atmos.yaml is found through ATMOS_CLI_CONFIG_PATH (or the working directory), never a Tropos variable', () => {
    const r = spawnSync(process.execPath, [ATMOS, 'describe', 'component', 'vpc', '-s', 'dev'], {
      encoding: 'utf8',
      cwd: tmpdir(),
      env: { PATH: process.env.PATH, TROPOS_INFRA_DIR: repos['native-terraform'] },
    });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/atmos.yaml CLI config file was not found/);
  });

  test('name_pattern knows only {namespace}, {tenant}, {environment}, {stage}', () => {
    const dir = mkdtempSync(join(tmpdir(), 'atmos-pattern-'));
    cpSync(repos['stack-names'], dir, { recursive: true });
    writeFileSync(
      join(dir, 'atmos.yaml'),
      readFileSync(join(dir, 'atmos.yaml'), 'utf8').replace(
        'excluded_paths: []',
        'excluded_paths: []\n  name_pattern: "{tenant}-{account}"',
      ),
    );
    const r = atmos(dir, ['describe', 'stacks']);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(
      /uses \{account\}; Atmos knows only \{namespace\}, \{tenant\}, \{environment\}, \{stage\}/,
    );
  });

  test('a saved plan is applied through --planfile, without -var-file (terraform refuses variables with a saved plan)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'atmos-apply-'));
    cpSync(repos['stack-names'], dir, { recursive: true });
    const bin = mkdtempSync(join(tmpdir(), 'atmos-tf-'));
    writeFileSync(
      join(bin, 'terraform'),
      `#!/usr/bin/env bash\necho "$*" >> ${join(bin, 'calls')}\n[ "$2" = plan ] && exit 2\nexit 0\n`,
      { mode: 0o755 },
    );
    const env = { PATH: `${bin}:${process.env.PATH}` };
    expect(
      atmos(dir, ['terraform', 'plan', 'mock', '-s', 'dev', '--', '-detailed-exitcode', '-out=p'], env).status,
    ).toBe(2);
    expect(atmos(dir, ['terraform', 'apply', 'mock', '-s', 'dev', '--planfile', 'p'], env).status).toBe(0);
    const calls = readFileSync(join(bin, 'calls'), 'utf8').trim().split('\n');
    expect(calls).toEqual([
      expect.stringMatching(/init -input=false -reconfigure$/),
      expect.stringMatching(/plan -var-file=dev-mock\.terraform\.tfvars\.json -detailed-exitcode -out=p$/),
      expect.stringMatching(/init -input=false -reconfigure$/),
      expect.stringMatching(/apply p$/),
    ]);
    expect(
      JSON.parse(readFileSync(join(dir, 'components', 'terraform', 'mock', 'dev-mock.terraform.tfvars.json'), 'utf8')),
    ).toEqual({
      enabled: true,
      environment: 'development',
    });
  });
});
