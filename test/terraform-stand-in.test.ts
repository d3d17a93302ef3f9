// The terraform stand-in refuses what terraform refuses when it applies a saved plan: a plan file made by another
// terraform version ("plan files cannot be transferred between different Terraform versions"). The runner relies on
// that refusal: an apply that succeeded reports the version its plan's metadata names, without asking terraform.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from './helpers/fixtures';

const TERRAFORM = join(ROOT, 'test', 'stand-ins', 'terraform');

/** Runs the stand-in in a folder of its own. */
function terraform(dir: string, args: string[], env: Record<string, string> = {}) {
  return spawnSync(TERRAFORM, args, { encoding: 'utf8', cwd: dir, env: { PATH: process.env.PATH, ...env } });
}

/** A saved plan in the stand-in's format (what its `plan -out` writes), made by terraform `version`. */
function planFile(version: string): { dir: string; file: string } {
  const dir = mkdtempSync(join(tmpdir(), 'tropos-tf-'));
  const file = join(dir, 'tfplan');
  writeFileSync(
    file,
    `stand-in plan\ncomponent=vpc\ncounts={"add":2,"change":1,"destroy":0}\nterraform_version=${version}\n`,
  );
  return { dir, file };
}

test('the stand-in says which version it is, and applies a saved plan only when that version made it', () => {
  const version = (JSON.parse(terraform(tmpdir(), ['version', '-json']).stdout) as { terraform_version: string })
    .terraform_version;
  expect(version).toBe('1.9.8-stand-in');

  const same = planFile(version);
  const ok = terraform(same.dir, ['apply', '-input=false', same.file]);
  expect(ok.status).toBe(0);
  expect(ok.stdout).toContain('Apply complete! Resources: 2 added, 1 changed, 0 destroyed.');

  const other = planFile('1.9.7');
  const refused = terraform(other.dir, ['apply', '-input=false', other.file]);
  expect(refused.status).toBe(1);
  expect(refused.stdout).not.toContain('Apply complete');
  expect(refused.stderr).toContain(
    'plan file was created by Terraform 1.9.7, but this is 1.9.8-stand-in; plan files cannot be transferred between different Terraform versions',
  );
});

test("an apply takes the scenario's time, in full", () => {
  const { dir, file } = planFile('1.9.8-stand-in');
  writeFileSync(join(dir, 'scenario.sh'), 'APPLY_SECONDS_default=0.3\n');
  const started = Date.now();
  const out = terraform(dir, ['apply', file], { TROPOS_FAKE_TF_SH: join(dir, 'scenario.sh') });
  expect(out.status).toBe(0);
  expect(Date.now() - started).toBeGreaterThanOrEqual(300);
});

test('every answer names one version, as a real terraform does: `version`, `version -json`, a saved plan and its JSON', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tropos-tf-'));
  const version = (JSON.parse(terraform(dir, ['version', '-json']).stdout) as { terraform_version: string })
    .terraform_version;
  expect(terraform(dir, ['version']).stdout.split('\n')[0]).toBe(`Terraform v${version}`);
  const scenario = join(dir, 'scenario.json');
  writeFileSync(scenario, JSON.stringify({ default: { plan: { add: 1, change: 0, destroy: 0 } } }));
  const env = { TROPOS_FAKE_TF: scenario, TROPOS_FAKE_COMPONENT: 'vpc' };
  expect(terraform(dir, ['plan', '-detailed-exitcode', '-out=tfplan'], env).status).toBe(2);
  expect(readFileSync(join(dir, 'tfplan'), 'utf8')).toContain(`terraform_version=${version}\n`);
  const shown = terraform(dir, ['show', '-json', 'tfplan'], env);
  expect((JSON.parse(shown.stdout) as { terraform_version: string }).terraform_version).toBe(version);
});
