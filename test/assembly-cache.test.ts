import { appendFileSync, copyFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { synthesizedApp } from '../lib/local/assembly-cache';

// A command that starts its own control plane reuses the app synthesized for the last one while nothing it is made
// from changed; any change synthesizes again.
describe('the kept synthesized app', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tropos-assembly-cache-'));
  const configPath = join(dir, 'tropos.config.yaml');
  copyFileSync(join(__dirname, 'fixtures', 'terraform-engine.config.yaml'), configPath);
  const made: string[] = [];
  afterAll(() => {
    for (const d of made) rmSync(d, { recursive: true, force: true });
  });

  test('synthesized once, then taken as it is; a changed configuration is synthesized again', () => {
    const said: string[] = [];
    const onSynthesize = (why: string) => said.push(why);
    const first = synthesizedApp({ configPath, onSynthesize });
    made.push(first.assemblyDir);
    expect(said).toHaveLength(1);
    expect(first.cached).toBe(true);
    expect(existsSync(join(first.assemblyDir, 'tropos-local.json'))).toBe(true);

    const again = synthesizedApp({ configPath, onSynthesize });
    expect(said).toHaveLength(1); // not synthesized
    expect(again.assemblyDir).toBe(first.assemblyDir);
    expect(again.template).toEqual(first.template);
    expect(again.tables).toEqual(first.tables);
    expect(again.region).toBe(first.region);

    appendFileSync(configPath, '# changed\n');
    const changed = synthesizedApp({ configPath, onSynthesize });
    made.push(changed.assemblyDir);
    expect(said).toHaveLength(2);
    expect(changed.assemblyDir).not.toBe(first.assemblyDir);
  });

  test('an invalid configuration is refused before anything is synthesized or kept', () => {
    const bad = join(dir, 'bad.config.yaml');
    copyFileSync(configPath, bad);
    appendFileSync(bad, 'region: 42\n');
    const said: string[] = [];
    expect(() => synthesizedApp({ configPath: bad, onSynthesize: (w) => said.push(w) })).toThrow(/region/);
    expect(said).toEqual([]);
  });

  test('TROPOS_ASSEMBLY_CACHE=off: synthesized every time, into a folder of its own', () => {
    process.env.TROPOS_ASSEMBLY_CACHE = 'off';
    try {
      const said: string[] = [];
      const app = synthesizedApp({ configPath, onSynthesize: (w) => said.push(w) });
      made.push(app.assemblyDir);
      expect(app.cached).toBe(false);
      expect(said).toEqual(['TROPOS_ASSEMBLY_CACHE=off']);
      expect(app.assemblyDir).toMatch(/\.tropos-assembly-[^/]+$/);
    } finally {
      delete process.env.TROPOS_ASSEMBLY_CACHE;
    }
  });
});
