import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Spawner } from '../lib/local/spawner';

// The local builds are started by a small helper process (a fork from the large control plane stalls its event
// loop); these check what the build runner relies on: the files, the pid, the end — also once the helper is gone.
describe('the build spawner', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tropos-spawner-'));
  const files = (name: string) =>
    [join(dir, `${name}.log`), join(dir, `${name}.3`), join(dir, `${name}.4`)] as [string, string, string];
  /** A request for `file args`, its fds on the files of `name`. */
  const request = (name: string, file: string, ...args: string[]) => ({
    file,
    args,
    cwd: dir,
    env: { PATH: process.env.PATH },
    stdio: files(name),
  });

  test('starts a build in its own process group with fds 1-4 on its files and reports its end', async () => {
    const spawner = new Spawner();
    const [log, fd3, fd4] = files('one');
    const started = await spawner.spawn(
      request(
        'one',
        'bash',
        '-c',
        'echo out; echo err >&2; echo control >&3; printf "A\\0B\\0" >&4; ps -o pgid= -p $$ >&3; exit 3',
      ),
    );
    await started.ended;
    expect(readFileSync(log, 'utf8')).toBe('out\nerr\n');
    const [control, pgid] = readFileSync(fd3, 'utf8').split('\n');
    expect(control).toBe('control');
    // detached: the build leads its own process group (a stop kills the group).
    expect(Number(pgid)).toBe(started.pid);
    expect(readFileSync(fd4, 'utf8')).toBe('A\0B\0');
  });

  test('builds that end at once: their ends, read with their starts, are not lost', async () => {
    const spawner = new Spawner();
    const builds = await Promise.all(Array.from({ length: 30 }, (_, i) => spawner.spawn(request(`quick${i}`, 'true'))));
    const ended = await Promise.all(builds.map((b) => b.ended.then(() => b.pid)));
    expect(new Set(ended).size).toBe(30);
  });

  test('a command that cannot start is refused, not left waiting', async () => {
    const spawner = new Spawner();
    await expect(
      spawner.spawn({ file: join(dir, 'no-such-shell'), args: [], cwd: dir, env: {}, stdio: files('missing') }),
    ).rejects.toThrow(/ENOENT/);
  });

  test('the helper killed mid-build: the build runs on, and its end is still seen (by its pid)', async () => {
    const spawner = new Spawner();
    const [log] = files('orphan');
    const started = await spawner.spawn(request('orphan', 'bash', '-c', 'sleep 0.5; echo done'));
    process.kill(spawner.helperPid!, 'SIGKILL');
    await started.ended;
    expect(readFileSync(log, 'utf8')).toBe('done\n');
    // And the next build gets a new helper.
    const again = await spawner.spawn(request('again', 'true'));
    await again.ended;
    expect(spawner.helperPid).not.toBeUndefined();
  });
});
