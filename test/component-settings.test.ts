/**
 * component-settings.js: the resolve build's per-component state settings, sourced by every later build of the run
 * (no JSON parsing per build). A value is taken literally by bash, whatever it holds; a name that is no plain name
 * is refused.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from './helpers/fixtures';

const SCRIPT = join(ROOT, 'buildspecs', 'scripts', 'component-settings.js');
let dir: string;
beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'tropos-settings-'))));
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const stack = (components: unknown[]) => {
  const file = join(dir, 'stack.json');
  writeFileSync(file, JSON.stringify({ stack: 'acme-dev-main', engine: 'atmos', components }));
  return file;
};
/** What bash reads from a component's file. */
const sourced = (name: string) =>
  execFileSync(
    'bash',
    ['-c', `. "$1"; printf '%s\\n' "$state_key" "$bucket" "$table" "$folder"`, '-', join(dir, `${name}.sh`)],
    {
      encoding: 'utf8',
    },
  )
    .split('\n')
    .slice(0, 4);

test('Atmos backend settings and the state key, taken literally; the commit added to the stack', () => {
  const file = stack([
    {
      name: 'vpc',
      folder: 'vpc/v2',
      dependsOn: [],
      stateKey: "vpc/acme-ue1-dev/it's $(touch pwned).tfstate",
      backend: { bucket: 'acme-ue1-root-tfstate', dynamodb_table: 'acme-ue1-root-tfstate-lock' },
    },
    { name: 'dns', folder: 'dns', dependsOn: ['vpc'], stateKey: 'dev/main/dns/terraform.tfstate', backend: {} },
  ]);
  execFileSync(process.execPath, [SCRIPT, file, 'a'.repeat(40), dir]);
  expect(sourced('vpc')).toEqual([
    "vpc/acme-ue1-dev/it's $(touch pwned).tfstate",
    'acme-ue1-root-tfstate',
    'acme-ue1-root-tfstate-lock',
    'vpc/v2',
  ]);
  expect(sourced('dns')).toEqual(['dev/main/dns/terraform.tfstate', '', '', 'dns']);
  expect(JSON.parse(readFileSync(file, 'utf8'))).toMatchObject({ commit: 'a'.repeat(40) });
  expect(spawnSync('ls', [dir]).stdout.toString()).not.toContain('pwned');
});

test('a component name that is no plain name is refused, naming it', () => {
  const r = spawnSync(process.execPath, [SCRIPT, stack([{ name: '../x', folder: 'x', dependsOn: [] }]), 'c', dir], {
    encoding: 'utf8',
  });
  expect(r.status).toBe(1);
  expect(r.stderr).toContain('component name "../x" is not a plain name');
});
