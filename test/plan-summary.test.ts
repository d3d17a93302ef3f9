// buildspecs/scripts/plan-summary.js over real `terraform show -json` plans, each compared with a figure found
// without the script:
// - the reference plans of hashicorp/terraform-json (../shared/reference/terraform-plans, read in place): the
//   expected figures are a literal table written by reading each plan's resource_changes (mode, change.actions,
//   previous_address, change.importing) and output_changes by hand, following Terraform's summary rules;
// - plans made here with the real terraform (terraform_data only: no provider downloads): the expected figures are
//   Terraform's own account of the SAME plan, parsed from `terraform show -no-color` ("Plan: 1 to import, 2 to add,
//   ...", "has moved to", "will no longer be managed", "Changes to Outputs:"), and its `plan -detailed-exitcode`.
import { execFile, spawnSync } from 'node:child_process';
import {
  accessSync,
  constants,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { promisify } from 'node:util';

const FIELDS = ['add', 'change', 'destroy', 'replace', 'move', 'import', 'forget', 'outputs', 'read'] as const;
type Summary = Record<(typeof FIELDS)[number], number>;
const ZERO: Summary = { add: 0, change: 0, destroy: 0, replace: 0, move: 0, import: 0, forget: 0, outputs: 0, read: 0 };

// The repository root, as test/helpers/fixtures.ts has it (not imported: that module loads the configuration).
const ROOT = join(__dirname, '..');
const SCRIPT = join(ROOT, 'buildspecs', 'scripts', 'plan-summary.js');
const REFERENCE = join(ROOT, '..', 'shared', 'reference', 'terraform-plans');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { summarizePlan } = require('../buildspecs/scripts/plan-summary.js') as {
  summarizePlan: (plan: unknown) => Summary;
};
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { evaluate } = require('../buildspecs/scripts/compliance.js') as {
  evaluate: (
    plan: unknown,
    policy: { requiredTags: string[]; unknown: string; rules: unknown[] },
  ) => { findings: { address: string; rule: string; verdict: string; message: string }[]; checked: number };
};

/** What the caller treats as "the plan has changes" (terraform plan -detailed-exitcode 2). */
const callerHasChanges = (s: Summary) => s.add + s.change + s.destroy + s.move + s.import + s.forget + s.outputs > 0;

function cli(...args: string[]) {
  const r = spawnSync(process.execPath, [SCRIPT, ...args], { encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

// ---------------------------------------------------------------------------------------------------------------
// 1. The reference plans. Figures by reading the JSON (jq '.resource_changes[] | [.mode, .change.actions,
// .previous_address, .change.importing]', '.output_changes | map_values(.actions)'); every field not listed is 0.
// hasChanges: what Terraform's Changes.Empty() says for that plan (-detailed-exitcode 2).
// ---------------------------------------------------------------------------------------------------------------
interface ReferenceRow {
  file: string;
  expected: Partial<Summary>;
  hasChanges: boolean;
  /** Set when the summary cannot tell hasChanges: the reason. */
  gap?: string;
}
const REFERENCE_PLANS: ReferenceRow[] = [
  // 0.13.1: a data source read during apply, two creates.
  { file: '013_module_depends_on__plan.json', expected: { add: 2, read: 1 }, hasChanges: true },
  // 1.1.0-dev (format 1.0 / 0.2 / 1.1): 7 creates (count 3, module 2, 2 more) and 8 new root outputs.
  { file: '110_basic__plan.json', expected: { add: 7, outputs: 8 }, hasChanges: true },
  { file: '110_sensitive_values__plan.json', expected: { add: 7, outputs: 8 }, hasChanges: true },
  { file: '120_basic__plan.json', expected: { add: 7, outputs: 8 }, hasChanges: true },
  // 1.15.0: ["delete","create"], action_reason replace_because_tainted.
  { file: 'action_reason__plan.json', expected: { add: 1, destroy: 1, replace: 1 }, hasChanges: true },
  // 1.14 `-invoke`: no resource or output change, one action_invocations entry; Changes.Empty() is false.
  {
    file: 'actions__plan.json',
    expected: {},
    hasChanges: true,
    gap: 'Terraform 1.14+ action_invocations (plan -invoke) are changes none of the summary fields counts',
  },
  // format 0.1 without terraform_version (0.15): one create, one new (sensitive) output.
  { file: 'basic__plan-0.15.json', expected: { add: 1, outputs: 1 }, hasChanges: true },
  // 0.12.11: a data source read, 7 creates; its 8 output "create"s are 0.12's untracked outputs: not counted.
  { file: 'basic__plan.json', expected: { add: 7, read: 1 }, hasChanges: true },
  // 0.12.11: ["delete","create"] and a no-op.
  { file: 'config_resource_depends_on__plan.json', expected: { add: 1, destroy: 1, replace: 1 }, hasChanges: true },
  { file: 'deep_module__plan.json', expected: { add: 1 }, hasChanges: true },
  { file: 'explicit_null__plan.json', expected: { add: 3 }, hasChanges: true },
  // 0.12.11: every resource no-op; outputs all "create" (0.12 did not track them, its exit code ignored them).
  // Despite the name, a copy of no_changes with other ids (terraform-json uses it for its state tests).
  { file: 'has_changes__plan.json', expected: {}, hasChanges: false },
  // 1.5.4: two for_each creates in a module; `checks` do not count.
  { file: 'has_checks__plan.json', expected: { add: 2 }, hasChanges: true },
  // 1.13.0-dev: an import (by identity) that is also updated.
  { file: 'identity__plan.json', expected: { change: 1, import: 1 }, hasChanges: true },
  // 1.5.3: random_id.test -> random_id.test2, action no-op.
  { file: 'moved_block__plan.json', expected: { move: 1 }, hasChanges: true },
  { file: 'nested_config_keys__plan.json', expected: { add: 1 }, hasChanges: true },
  { file: 'no_changes__plan.json', expected: {}, hasChanges: false },
  { file: 'numerics__plan.json', expected: { add: 1 }, hasChanges: true },
  // 0.12.11: two creates; the output "id" create is 0.12's untracked output: not counted.
  { file: 'output_depends_on__plan.json', expected: { add: 2 }, hasChanges: true },
  { file: 'provider_version__plan.json', expected: { add: 1 }, hasChanges: true },
  { file: 'registry_module__plan.json', expected: { add: 1 }, hasChanges: true },
];
// A complete plan JSON followed by a stray `}` and more: not JSON.
const INVALID_PLANS = ['invalid__plan.json'];

describe('plan-summary.js over the reference plans (hashicorp/terraform-json testdata)', () => {
  test('the table covers every reference plan', () => {
    const files = readdirSync(REFERENCE).filter((f) => f.endsWith('.json'));
    expect([...REFERENCE_PLANS.map((r) => r.file), ...INVALID_PLANS].sort()).toEqual(files.sort());
  });

  test.each(REFERENCE_PLANS)('$file', ({ file, expected, hasChanges, gap }) => {
    const r = cli(join(REFERENCE, file));
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^\{[^\n]*\}\n$/); // one line of JSON
    const summary = JSON.parse(r.stdout) as Summary;
    expect(Object.keys(summary)).toEqual([...FIELDS]);
    expect(summary).toEqual({ ...ZERO, ...expected });
    // hasChanges as -detailed-exitcode gives it: the caller's fields, and data sources read during apply.
    expect(callerHasChanges(summary) || summary.read > 0).toBe(gap ? !hasChanges : hasChanges);
  });

  // The compliance verdict per rule over the same plans (policy: required tag Owner; unknown values fail), each
  // expected finding read off the plan by hand. Only nested_config_keys has an AWS resource: an aws_instance with
  // `tags: null` (a 0.12 plan with a provider that has no tags_all): untagged, found. Everything else has no AWS
  // resource, so no built-in rule applies to it.
  const COMPLIANCE: Record<string, string[]> = {
    'nested_config_keys__plan.json': ['required-tags violation aws_instance.foo'],
  };
  test.each(REFERENCE_PLANS)('$file: compliance verdict per rule', ({ file }) => {
    const plan = JSON.parse(readFileSync(join(REFERENCE, file), 'utf8')) as unknown;
    const { findings } = evaluate(plan, { requiredTags: ['Owner'], unknown: 'fail', rules: [] });
    expect(findings.map((f) => `${f.rule} ${f.verdict} ${f.address}`)).toEqual(COMPLIANCE[file] ?? []);
  });

  test.each(INVALID_PLANS)('%s: the CLI fails with a message naming the file', (file) => {
    const r = cli(join(REFERENCE, file));
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(join(REFERENCE, file));
    expect(r.stderr).toMatch(/not valid JSON/);
  });
});

describe('plan-summary.js as a CLI on what is not a plan', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tropos-plan-summary-cli-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const write = (name: string, text: string) => {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  };

  test.each([
    ['an empty file', '', /not valid JSON/],
    ['a JSON array', '[]', /no format_version/],
    ['JSON null', 'null', /no format_version/],
    ['an object without format_version', '{"resource_changes":[]}', /no format_version/],
    ['a terraform state', '{"format_version":"1.0","terraform_version":"1.11.4","values":{}}', /state.*not a plan/],
  ])('%s: exit 1 and a message naming the file', (name, text, message) => {
    const path = write(`${name.replace(/\W+/g, '-')}.json`, text);
    const r = cli(path);
    expect(r).toMatchObject({ code: 1, stdout: '' });
    expect(r.stderr).toContain(path);
    expect(r.stderr).toMatch(message);
  });

  test('a missing file and a missing argument: exit 1', () => {
    const missing = join(dir, 'nope.json');
    expect(cli(missing)).toMatchObject({ code: 1, stdout: '', stderr: expect.stringContaining(missing) });
    expect(cli()).toMatchObject({ code: 1, stdout: '', stderr: expect.stringMatching(/^usage: /) });
  });

  test('rules the plans here cannot show (Terraform 0.12/0.13 and 1.16 shapes), pinned on small documents', () => {
    const rc = (address: string, actions: string[], more: Record<string, unknown> = {}) => ({
      address,
      mode: address.replace(/^(module\.[^.]+\.)+/, '').startsWith('data.') ? 'data' : 'managed',
      change: { actions },
      ...more,
    });
    const plan = (terraform_version: string | undefined, resource_changes: unknown[], output_changes = {}) => ({
      format_version: '0.1',
      terraform_version,
      resource_changes,
      output_changes,
    });
    // A data source's delete (0.12/0.13, data block removed) is not shown or counted; a deposed object's delete is.
    expect(
      summarizePlan(plan('0.12.31', [rc('data.x.y', ['delete']), rc('a.b', ['delete'], { deposed: 'ab12' })])),
    ).toEqual({ ...ZERO, destroy: 1 });
    // No `mode` (not written by any Terraform, but tolerated): taken from the address.
    const { mode: _m1, ...noMode } = rc('module.m["k.1"].data.x.y', ['read']);
    const { mode: _m2, ...noMode2 } = rc('module.m.x.data', ['create']);
    expect(summarizePlan(plan(undefined, [noMode, noMode2]))).toEqual({ ...ZERO, read: 1, add: 1 });
    // ["create","forget"] (Terraform 1.16, a replace under lifecycle destroy = false): an add and a forget.
    expect(summarizePlan(plan('1.16.0', [rc('a.b', ['create', 'forget'])]))).toEqual({
      ...ZERO,
      add: 1,
      replace: 1,
      forget: 1,
    });
    // previous_address equal to address is no move; importing null is no import.
    expect(
      summarizePlan(plan('1.5.0', [rc('a.b', ['no-op'], { previous_address: 'a.b', change: { importing: null } })])),
    ).toEqual(ZERO);
    // Output changes: untracked before 0.14 (every output "create"), counted from 0.14 on.
    const outputs = { o: { actions: ['create'] }, p: { actions: ['no-op'] }, q: { actions: ['delete'] } };
    expect(summarizePlan(plan('0.13.7', [], outputs)).outputs).toBe(0);
    expect(summarizePlan(plan('0.14.0', [], outputs)).outputs).toBe(2);
  });

  test('summarizePlan refuses what is not a plan', () => {
    expect(() => summarizePlan(null)).toThrow(/not a terraform plan/);
    expect(() => summarizePlan({ resource_changes: [] })).toThrow(/not a terraform plan/);
    expect(summarizePlan({ format_version: '1.2' })).toEqual(ZERO);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// 2. Plans made here with the real terraform.
// ---------------------------------------------------------------------------------------------------------------
const terraform = (process.env.PATH ?? '')
  .split(delimiter)
  .filter(Boolean)
  .map((d) => join(d, 'terraform'))
  .find((p) => {
    try {
      accessSync(p, constants.X_OK);
      return statSync(p).isFile();
    } catch {
      return false;
    }
  });
if (!terraform)
  console.warn(
    'plan-summary.test.ts: `terraform` is not on PATH, so the tests over plans made with the real terraform are SKIPPED',
  );
const describeWithTerraform = terraform ? describe : describe.skip;

/** The root configuration: named blocks, so a case can change, drop or add one. */
const BLOCKS: Record<string, string> = {
  keep: 'resource "terraform_data" "keep" {\n  input = "k"\n}',
  upd: 'resource "terraform_data" "upd" {\n  input = "v1"\n}',
  rep: 'resource "terraform_data" "rep" {\n  triggers_replace = "t1"\n}',
  cbd: 'resource "terraform_data" "cbd" {\n  triggers_replace = "t1"\n  lifecycle {\n    create_before_destroy = true\n  }\n}',
  gone: 'resource "terraform_data" "gone" {\n  input = "g"\n}',
  cnt: 'resource "terraform_data" "cnt" {\n  count = 2\n  input = count.index\n}',
  each: 'resource "terraform_data" "each" {\n  for_each = toset(["a", "b"])\n  input    = each.key\n}',
  mv: 'resource "terraform_data" "mv" {\n  input = "m"\n}',
  fg: 'resource "terraform_data" "fg" {\n  input = "f"\n}',
  m: 'module "m" {\n  source = "./mod"\n  x      = "1"\n}',
  o1: 'output "o1" {\n  value = "one"\n}',
  o2: 'output "o2" {\n  value = terraform_data.keep.output\n}',
};
const MODULE =
  'variable "x" {\n  type = string\n}\n\nresource "terraform_data" "inner" {\n  input = var.x\n}\n\n' +
  'output "v" {\n  value = terraform_data.inner.output\n}\n';

function config(changes: Record<string, string | null> = {}): string {
  const blocks = { ...BLOCKS, ...changes };
  return `${Object.values(blocks)
    .filter((b): b is string => b !== null)
    .join('\n\n')}\n`;
}
const moved = (from: string, to: string) => `moved {\n  from = ${from}\n  to   = ${to}\n}`;
const removed = (from: string, destroy: boolean) =>
  `removed {\n  from = ${from}\n  lifecycle {\n    destroy = ${destroy}\n  }\n}`;
const imported = (to: string, id: string) => `import {\n  to = ${to}\n  id = "${id}"\n}`;
const data = (name: string, body: string) => `resource "terraform_data" "${name}" {\n${body}\n}`;

/**
 * The directories: `life` has BLOCKS applied, `fresh` has no state, `read` a data source whose configuration is
 * unknown until apply (timestamp()), `tainted` one applied resource then `terraform taint`ed.
 */
type Dir = 'fresh' | 'life' | 'read' | 'tainted';
const DIRS: Record<Dir, { main: string; apply: boolean; after?: string[] }> = {
  fresh: { main: config(), apply: false },
  life: { main: config(), apply: true },
  read: {
    main:
      'data "terraform_remote_state" "x" {\n  backend = "local"\n' +
      '  config = {\n    path = "${path.module}/none${substr(timestamp(), 0, 0)}.tfstate"\n  }\n}\n',
    apply: false,
  },
  tainted: { main: `${data('t', '  input = "t"')}\n`, apply: true, after: ['taint', 'terraform_data.t'] },
};

interface MadeCase {
  name: string;
  dir: Dir;
  main: string;
  args?: string[];
  /** Every field not listed is 0 (a statement of the case's purpose; Terraform's text is the oracle). */
  expected: Partial<Summary>;
  exitCode: 0 | 2;
}
const MADE: MadeCase[] = [
  { name: 'create only', dir: 'fresh', main: config(), expected: { add: 12, outputs: 2 }, exitCode: 2 },
  {
    name: 'destroy plan, nothing in state',
    dir: 'fresh',
    main: config(),
    args: ['-destroy'],
    expected: {},
    exitCode: 0,
  },
  { name: 'no changes', dir: 'life', main: config(), expected: {}, exitCode: 0 },
  {
    name: 'update (input)',
    dir: 'life',
    main: config({ upd: data('upd', '  input = "v2"') }),
    expected: { change: 1 },
    exitCode: 2,
  },
  {
    name: 'replace (triggers_replace): delete then create',
    dir: 'life',
    main: config({ rep: data('rep', '  triggers_replace = "t2"') }),
    expected: { add: 1, destroy: 1, replace: 1 },
    exitCode: 2,
  },
  {
    name: 'replace with create_before_destroy: create then delete',
    dir: 'life',
    main: config({ cbd: BLOCKS.cbd!.replace('"t1"', '"t2"') }),
    expected: { add: 1, destroy: 1, replace: 1 },
    exitCode: 2,
  },
  {
    name: 'replace as requested (-replace), an output depending on it unknown',
    dir: 'life',
    main: config(),
    args: ['-replace=terraform_data.keep'],
    expected: { add: 1, destroy: 1, replace: 1, outputs: 1 },
    exitCode: 2,
  },
  { name: 'delete (block removed)', dir: 'life', main: config({ gone: null }), expected: { destroy: 1 }, exitCode: 2 },
  {
    name: 'destroy plan (-destroy)',
    dir: 'life',
    main: config(),
    args: ['-destroy'],
    expected: { destroy: 12, outputs: 2 },
    exitCode: 2,
  },
  {
    name: 'count and for_each grow',
    dir: 'life',
    main: config({
      cnt: BLOCKS.cnt!.replace('count = 2', 'count = 3'),
      each: BLOCKS.each!.replace('["a", "b"]', '["a", "b", "c"]'),
    }),
    expected: { add: 2 },
    exitCode: 2,
  },
  {
    name: 'count shrinks, a for_each key swapped',
    dir: 'life',
    main: config({
      cnt: BLOCKS.cnt!.replace('count = 2', 'count = 1'),
      each: BLOCKS.each!.replace('["a", "b"]', '["a", "c"]'),
    }),
    expected: { add: 1, destroy: 2 },
    exitCode: 2,
  },
  {
    name: 'a module resource updated (module output not a root output)',
    dir: 'life',
    main: config({ m: BLOCKS.m!.replace('"1"', '"2"') }),
    expected: { change: 1 },
    exitCode: 2,
  },
  {
    name: 'moved block only',
    dir: 'life',
    main: config({ mv: data('mv2', '  input = "m"'), moved: moved('terraform_data.mv', 'terraform_data.mv2') }),
    expected: { move: 1 },
    exitCode: 2,
  },
  {
    name: 'moved block and the moved resource updated',
    dir: 'life',
    main: config({ mv: data('mv2', '  input = "m2"'), moved: moved('terraform_data.mv', 'terraform_data.mv2') }),
    expected: { move: 1, change: 1 },
    exitCode: 2,
  },
  {
    name: 'moved to an address not in the configuration (delete_because_no_move_target)',
    dir: 'life',
    main: config({ mv: null, moved: moved('terraform_data.mv', 'terraform_data.nowhere') }),
    expected: { move: 1, destroy: 1 },
    exitCode: 2,
  },
  {
    name: 'moved blocks with other changes',
    dir: 'life',
    main: config({
      mv: data('mv2', '  input = "m"'),
      moved: moved('terraform_data.mv', 'terraform_data.mv2'),
      gone: data('gone2', '  input = "g"'),
      moved2: moved('terraform_data.gone', 'terraform_data.gone2'),
      upd: data('upd', '  input = "v3"'),
      extra: data('extra', '  input = "x"'),
    }),
    expected: { move: 2, change: 1, add: 1 },
    exitCode: 2,
  },
  {
    name: 'import block only',
    dir: 'life',
    main: config({ imp: data('imp', ''), imported: imported('terraform_data.imp', 'i-1') }),
    expected: { import: 1 },
    exitCode: 2,
  },
  {
    name: 'import block, the imported resource then updated',
    dir: 'life',
    main: config({ imp: data('imp', '  input = "z"'), imported: imported('terraform_data.imp', 'i-2') }),
    expected: { import: 1, change: 1 },
    exitCode: 2,
  },
  {
    name: 'removed block with destroy = false (forget) only',
    dir: 'life',
    main: config({ fg: removed('terraform_data.fg', false) }),
    expected: { forget: 1 },
    exitCode: 2,
  },
  {
    name: 'removed block with destroy = true',
    dir: 'life',
    main: config({ fg: removed('terraform_data.fg', true) }),
    expected: { destroy: 1 },
    exitCode: 2,
  },
  {
    name: 'outputs only: one changed, one new (sensitive)',
    dir: 'life',
    main: config({
      o1: BLOCKS.o1!.replace('"one"', '"uno"'),
      o3: 'output "o3" {\n  value     = "s"\n  sensitive = true\n}',
    }),
    expected: { outputs: 2 },
    exitCode: 2,
  },
  { name: 'output removed', dir: 'life', main: config({ o1: null }), expected: { outputs: 1 }, exitCode: 2 },
  {
    name: 'refresh-only plan with a changed output',
    dir: 'life',
    main: config({ o1: BLOCKS.o1!.replace('"one"', '"uno"'), upd: data('upd', '  input = "ignored"') }),
    args: ['-refresh-only'],
    expected: { outputs: 1 },
    exitCode: 2,
  },
  {
    name: 'mixed: import, update, replace, delete, move, forget, count, output',
    dir: 'life',
    main: config({
      upd: data('upd', '  input = "v2"'),
      rep: data('rep', '  triggers_replace = "t2"'),
      gone: null,
      mv: data('mv2', '  input = "m"'),
      moved: moved('terraform_data.mv', 'terraform_data.mv2'),
      fg: removed('terraform_data.fg', false),
      cnt: BLOCKS.cnt!.replace('count = 2', 'count = 3'),
      imp: data('imp', ''),
      imported: imported('terraform_data.imp', 'i-3'),
      o3: 'output "o3" {\n  value = "new"\n}',
    }),
    expected: { import: 1, add: 2, change: 1, destroy: 2, replace: 1, move: 1, forget: 1, outputs: 1 },
    exitCode: 2,
  },
  {
    name: 'tainted resource',
    dir: 'tainted',
    main: DIRS.tainted.main,
    expected: { add: 1, destroy: 1, replace: 1 },
    exitCode: 2,
  },
  {
    name: 'a data source read during apply, nothing else',
    dir: 'read',
    main: DIRS.read.main,
    expected: { read: 1 },
    exitCode: 2,
  },
];

/** Terraform's own account of a plan, from `terraform show -no-color` of it. */
function terraformsAccount(text: string): Summary & { noChanges: boolean; importLines: number } {
  const lines = text.split('\n');
  const count = (re: RegExp) => lines.filter((l) => re.test(l)).length;
  const plan = /^Plan: (?:(\d+) to import, )?(\d+) to add, (\d+) to change, (\d+) to destroy\.$/m.exec(text);
  let outputs = 0;
  const at = lines.indexOf('Changes to Outputs:');
  if (at >= 0)
    for (const line of lines.slice(at + 1)) {
      if (line.trim() === '') break;
      if (/^ {2}[-+~] \S/.test(line)) outputs++; // nested values of an output are indented further
    }
  return {
    add: Number(plan?.[2] ?? 0),
    change: Number(plan?.[3] ?? 0),
    destroy: Number(plan?.[4] ?? 0),
    replace: count(/^\s*# .+ (must be replaced|will be replaced|is tainted, so must be replaced)/),
    move: count(/^\s*# .+ has moved to .+$/) + count(/^\s*# \(moved from .+\)$/),
    import: Number(plan?.[1] ?? 0),
    forget: count(
      /^\s*# .+ (will no longer be managed by Terraform|will be removed from Terraform state), but will not be destroyed$/,
    ),
    outputs,
    read: count(/^\s*# .+ will be read during apply$/),
    noChanges: /^No changes\./m.test(text),
    importLines: count(/^\s*# .+ will be imported$/) + count(/^\s*# \(imported from ".*"\)$/),
  };
}

interface Made {
  exitCode: number;
  json: { applyable?: boolean };
  text: string;
}

describeWithTerraform('plan-summary.js over plans made with the real terraform', () => {
  const made = new Map<string, Made>();
  let work = '';
  const env: NodeJS.ProcessEnv = { ...process.env, TF_IN_AUTOMATION: '1', TF_INPUT: '0', CHECKPOINT_DISABLE: '1' };
  for (const k of Object.keys(env))
    if (/^TF_(CLI_ARGS|WORKSPACE|DATA_DIR|LOG|VAR_)/.test(k) || k === 'TF_CLI_CONFIG_FILE') delete env[k];
  const run = promisify(execFile);

  async function tf(cwd: string, args: string[]) {
    try {
      const r = await run(terraform!, args, { cwd, env, maxBuffer: 64 << 20 });
      return { code: 0, stdout: r.stdout, stderr: r.stderr };
    } catch (e) {
      const err = e as { code?: unknown; stdout?: string; stderr?: string };
      if (typeof err.code !== 'number') throw e;
      return { code: err.code, stdout: err.stdout ?? '', stderr: err.stderr ?? '' };
    }
  }
  async function must(cwd: string, args: string[]) {
    const r = await tf(cwd, args);
    if (r.code !== 0) throw new Error(`terraform ${args.join(' ')} in ${cwd}: exit ${r.code}\n${r.stderr}`);
    return r.stdout;
  }

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'tropos-plan-summary-'));
    const cliConfig = join(work, 'terraformrc');
    writeFileSync(cliConfig, '');
    env.TF_CLI_CONFIG_FILE = cliConfig; // no user CLI configuration, and no warning that it is missing
    await Promise.all(
      (Object.keys(DIRS) as Dir[]).map(async (name) => {
        const dir = join(work, name);
        mkdirSync(join(dir, 'mod'), { recursive: true });
        writeFileSync(join(dir, 'mod', 'main.tf'), MODULE);
        writeFileSync(join(dir, 'main.tf'), DIRS[name].main);
        await must(dir, ['init', '-no-color']);
        if (DIRS[name].apply) await must(dir, ['apply', '-auto-approve', '-no-color']);
        if (DIRS[name].after) await must(dir, DIRS[name].after!);
        for (const c of MADE.filter((m) => m.dir === name)) {
          writeFileSync(join(dir, 'main.tf'), c.main);
          rmSync(join(dir, 'p'), { force: true });
          const plan = await tf(dir, ['plan', '-detailed-exitcode', '-no-color', '-out=p', ...(c.args ?? [])]);
          if (plan.code !== 0 && plan.code !== 2)
            throw new Error(`${c.name}: terraform plan exit ${plan.code}\n${plan.stderr}\n${c.main}`);
          const json = JSON.parse(await must(dir, ['show', '-json', 'p'])) as Made['json'];
          const text = await must(dir, ['show', '-no-color', 'p']);
          made.set(c.name, { exitCode: plan.code, json, text });
        }
      }),
    );
  }, 120_000);
  afterAll(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  test('there are at least 30 plans in all', () => {
    expect(REFERENCE_PLANS.length + MADE.length).toBeGreaterThanOrEqual(30);
    expect(made.size).toBe(MADE.length);
  });

  test.each(MADE)('$name', ({ name, expected, exitCode }) => {
    const { exitCode: code, json, text } = made.get(name)!;
    const { noChanges, importLines, ...account } = terraformsAccount(text);
    const summary = summarizePlan(json);
    expect(summary).toEqual(account); // Terraform's own account of the same plan
    expect(account).toEqual({ ...ZERO, ...expected }); // and the case does what its name says
    expect(importLines).toBe(account.import);
    expect(code).toBe(exitCode);
    expect(json.applyable).toBe(code === 2);
    expect(noChanges).toBe(code === 0);
    // -detailed-exitcode's 2 is: any of the caller's fields, or a data source read during apply.
    expect(callerHasChanges(summary) || summary.read > 0).toBe(code === 2);
  });

  test('compliance verdict per rule: terraform_data is no AWS resource, so no built-in rule applies to any made plan', () => {
    for (const c of MADE) {
      const { findings } = evaluate(made.get(c.name)!.json, { requiredTags: ['Owner'], unknown: 'fail', rules: [] });
      expect([c.name, findings]).toEqual([c.name, []]);
    }
    // A rule of the user's own does: every terraform_data must carry an input. In the mixed plan, read off its
    // configuration (BLOCKS and the case's changes): rep, cbd and imp have none; keep, upd, cnt[0-2], each[a,b], mv2
    // and module.m's inner have one; gone is deleted and fg forgotten (not evaluated).
    const rule = { id: 'input-set', resourceTypes: ['terraform_data'], attribute: 'input', present: true };
    const mixed = made.get(MADE.find((m) => m.name.startsWith('mixed'))!.name)!.json;
    const found = evaluate(mixed, { requiredTags: [], unknown: 'fail', rules: [rule] }).findings;
    expect(found.map((f) => `${f.rule} ${f.verdict} ${f.address}`).sort()).toEqual([
      'input-set violation terraform_data.cbd',
      'input-set violation terraform_data.imp',
      'input-set violation terraform_data.rep',
    ]);
  });

  test("the caller's rule (add/change/destroy/move/import/forget/outputs) misses only plans that only read data", () => {
    const misses = MADE.filter((c) => callerHasChanges(summarizePlan(made.get(c.name)!.json)) !== (c.exitCode === 2));
    expect(misses.map((c) => c.name)).toEqual(['a data source read during apply, nothing else']);
  });

  test('Terraform 1.11 prints no forget count: a forget-only plan says "Plan: 0 to add, 0 to change, 0 to destroy."', () => {
    expect(made.get('removed block with destroy = false (forget) only')!.text).toMatch(
      /^Plan: 0 to add, 0 to change, 0 to destroy\.$/m,
    );
  });

  test('the CLI prints the same one line for a made plan', () => {
    const mixed = made.get(MADE.find((c) => c.name.startsWith('mixed'))!.name)!.json;
    const path = join(work, 'mixed.json');
    writeFileSync(path, JSON.stringify(mixed));
    const r = cli(path);
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(r.stdout).toBe(`${JSON.stringify(summarizePlan(mixed))}\n`);
  });
});

describe('plan-summary.js --resources: what an approver reviews', () => {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { resourcesOf, bounded } = require('../buildspecs/scripts/plan-summary.js') as {
    resourcesOf: (plan: unknown) => string[];
    bounded: (lines: string[], max?: number) => string;
  };
  const plan = (name: string) => JSON.parse(readFileSync(join(REFERENCE, name), 'utf8')) as unknown;

  test.each([
    ['moved_block__plan.json', ['→ random_id.test2 (moved from random_id.test)']],
    ['identity__plan.json', ['~ corner_user_identity.user (import)']],
    ['action_reason__plan.json', ['-/+ null_resource.example']],
    [
      '013_module_depends_on__plan.json',
      ['<= module.foo.data.null_data_source.data', '+ module.foo.null_resource.resource', '+ null_resource.bar'],
    ],
    ['no_changes__plan.json', []],
  ])('%s', (name, expected) => {
    expect(resourcesOf(plan(name))).toEqual(expected);
  });

  test('bounded: the lines that fit in 1,500 characters, then how many more', () => {
    const lines = Array.from({ length: 200 }, (_, i) => `+ module.many.terraform_data.item[${i}]`);
    const text = bounded(lines);
    expect(text.length).toBeLessThanOrEqual(1500);
    const kept = text.split('\n');
    expect(kept.slice(0, -1)).toEqual(lines.slice(0, kept.length - 1));
    expect(kept.at(-1)).toBe(`… and ${200 - (kept.length - 1)} more`);
    expect(bounded(lines.slice(0, 3))).toBe(lines.slice(0, 3).join('\n'));
  });
});
