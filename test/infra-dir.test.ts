// Local runs against any repository: --infra-dir, $TROPOS_INFRA_DIR, the configuration's infrastructure.localPath,
// else the example repository — and a clear refusal of a path that is not a repository of the configured layout.
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../lib/cli/main';
import { localRepository } from '../lib/local/control-plane';
import { config, ROOT } from './helpers/fixtures';

jest.setTimeout(120_000);

function atmosRepo(): string {
  const dir = mkdtempSync(join(tmpdir(), 'tropos-infra-'));
  writeFileSync(join(dir, 'atmos.yaml'), 'base_path: .\n');
  return dir;
}

describe('which repository the local control plane runs in', () => {
  const saved = process.env.TROPOS_INFRA_DIR;
  afterEach(() => {
    if (saved === undefined) delete process.env.TROPOS_INFRA_DIR;
    else process.env.TROPOS_INFRA_DIR = saved;
  });

  test('--infra-dir, then $TROPOS_INFRA_DIR, then infrastructure.localPath, then examples/', () => {
    const [a, b, c] = [atmosRepo(), atmosRepo(), atmosRepo()];
    const withLocal = { ...config, infrastructure: { ...config.infrastructure, localPath: c } };
    process.env.TROPOS_INFRA_DIR = b;
    expect(localRepository({ infraDir: a }, withLocal)).toBe(a);
    expect(localRepository({}, withLocal)).toBe(b);
    delete process.env.TROPOS_INFRA_DIR;
    expect(localRepository({}, withLocal)).toBe(c);
    expect(localRepository({}, config)).toBe(join(ROOT, 'examples', 'atmos'));
  });

  test("a relative localPath is read from the configuration file's folder", () => {
    const base = mkdtempSync(join(tmpdir(), 'tropos-cfg-'));
    mkdirSync(join(base, 'infra'));
    writeFileSync(join(base, 'infra', 'atmos.yaml'), '');
    const withLocal = { ...config, infrastructure: { ...config.infrastructure, localPath: 'infra' } };
    expect(localRepository({ configPath: join(base, 'tropos.config.yaml') }, withLocal)).toBe(join(base, 'infra'));
  });

  test.each([
    [
      'a path that does not exist',
      '/nonexistent/infra',
      /the infrastructure repository \/nonexistent\/infra does not exist/,
    ],
    [
      'a folder that is not an Atmos repository',
      tmpdir(),
      /is not an Atmos repository \(no atmos.yaml\); the configuration's engine is atmos/,
    ],
  ])('refuses %s', (_, dir, message) => {
    expect(() => localRepository({ infraDir: dir }, config)).toThrow(message);
  });

  test('the CLI says so and exits 2, with nothing left running', async () => {
    const err: string[] = [];
    const code = await main(
      ['--data-dir', mkdtempSync(join(tmpdir(), 'tropos-data-')), '--infra-dir', '/nonexistent/infra', 'runs'],
      { out: () => undefined, err: (s) => err.push(s) },
    );
    expect(code).toBe(2);
    expect(err.join('\n')).toMatch(/tropos: the infrastructure repository \/nonexistent\/infra does not exist/);
  });
});
