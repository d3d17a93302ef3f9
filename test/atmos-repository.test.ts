// The example Atmos repository is one real Atmos would accept, and so is every stack file onboarding generates:
// valid against Atmos's own stack manifest JSON schema, stack names from a name_pattern Atmos understands, unique,
// and the names the runner passes to -s; settings.depends_on carries seed 001 section 7.
import Ajv2020 from 'ajv/dist/2020';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { parse } from 'yaml';
import { stackName } from '../lib/domain/naming';
import { ROOT } from './helpers/fixtures';
import { SEED_000, SEED_001, SEED_002 } from './fixtures/seed-graph';

const SCHEMA = join(ROOT, '..', 'shared', 'reference', 'atmos', 'atmos-manifest-1.0.json');
const REPO = join(ROOT, 'examples', 'atmos');
const ATMOS = join(ROOT, 'test', 'stand-ins', 'atmos');

const ajv = new Ajv2020({ strict: false, allErrors: true });
const validate = ajv.compile(JSON.parse(readFileSync(SCHEMA, 'utf8')) as object);

function yamlFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? yamlFiles(p) : f.endsWith('.yaml') ? [p] : [];
  });
}

function describeStacks(
  repo: string,
): Record<string, { components: { terraform: Record<string, Record<string, unknown>> } }> {
  const r = spawnSync(process.execPath, [ATMOS, 'describe', 'stacks', '--format', 'json'], {
    encoding: 'utf8',
    env: { PATH: process.env.PATH, ATMOS_CLI_CONFIG_PATH: repo, ATMOS_BASE_PATH: repo },
  });
  expect(r.stderr).toBe('');
  return JSON.parse(r.stdout) as never;
}

describe('the example Atmos repository', () => {
  test.each(yamlFiles(join(REPO, 'stacks')).map((f) => [relative(REPO, f), f]))(
    '%s is valid against the Atmos stack manifest schema',
    (_, file) => {
      const ok = validate(parse(readFileSync(file, 'utf8')));
      expect(ok ? [] : validate.errors).toEqual([]);
    },
  );

  test('its stack names are unique, from a name_pattern of tokens Atmos knows, and the ones the runner passes to -s', () => {
    const stacks = describeStacks(REPO);
    const registered = (
      parse(readFileSync(join(ROOT, 'examples', 'environments.yaml'), 'utf8')) as {
        environments: { tenant: string; account: string; environment: string }[];
      }
    ).environments.map((e) => stackName(e));
    expect(Object.keys(stacks).sort()).toEqual([...registered].sort());
    expect(readFileSync(join(REPO, 'atmos.yaml'), 'utf8')).toMatch(
      /name_pattern: "\{tenant\}-\{stage\}-\{environment\}"/,
    );
  });

  test('every stack declares its S3 backend, and each component its seed-001 dependencies in settings.depends_on', () => {
    const stacks = describeStacks(REPO);
    for (const [name, stack] of Object.entries(stacks))
      for (const [component, c] of Object.entries(stack.components.terraform)) {
        expect({ name, component, backend: c.backend_type }).toEqual({ name, component, backend: 's3' });
        const declared = Object.values(
          ((c.settings as { depends_on?: Record<string, { component: string }> }).depends_on ?? {}) as Record<
            string,
            { component: string }
          >,
        ).map((d) => d.component);
        const expected = SEED_001[component] ?? SEED_000[component] ?? SEED_002[component] ?? [];
        expect({ component, declared: [...declared].sort() }).toEqual({ component, declared: [...expected].sort() });
      }
  });
});

describe('a stack file onboarding generates', () => {
  test('is valid against the schema, and Atmos reads it as the stack the runner names, with its backend', () => {
    const repo = join(mkdtempSync(join(tmpdir(), 'tropos-gen-atmos-')), 'atmos');
    cpSync(REPO, repo, { recursive: true });
    const r = spawnSync('node', [join(ROOT, 'buildspecs', 'scripts', 'generate-stack-config.js'), repo], {
      encoding: 'utf8',
      env: {
        PATH: process.env.PATH,
        TROPOS_ENGINE: 'atmos',
        TROPOS_PARAMS: JSON.stringify({
          tenant: 'acme',
          account: 'dev',
          environment: 'newenv',
          vpc_cidr: '10.77.0.0/16',
          region: 'us-east-1',
          tags: 'Owner=platform,CostCenter=1',
        }),
        TROPOS_STACK_COMPONENTS: JSON.stringify(['backend', 'vpc']),
        TROPOS_STATE_BUCKET: 'acme-terraform-state-000000000000',
        TROPOS_LOCK_TABLE: 'acme-terraform-locks',
        TROPOS_BACKEND_REGION: 'us-east-1',
      },
    });
    expect(r.status).toBe(0);
    const file = join(repo, 'stacks', 'orgs', 'acme', 'dev', 'newenv.yaml');
    const ok = validate(parse(readFileSync(file, 'utf8')));
    expect(ok ? [] : validate.errors).toEqual([]);
    const stacks = describeStacks(repo);
    expect(stacks['acme-dev-newenv']?.components.terraform.vpc).toMatchObject({
      backend_type: 's3',
      backend: { bucket: 'acme-terraform-state-000000000000', dynamodb_table: 'acme-terraform-locks', encrypt: true },
      vars: { tenant: 'acme', stage: 'dev', environment: 'newenv', vpc_cidr: '10.77.0.0/16' },
    });
  });
});
