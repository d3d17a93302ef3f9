/**
 * A build outlives the process that started it: it reports to files in its folder, not through pipes (a pipe whose
 * reader died kills the build at its next write — an apply cut in the middle). Its starter is SIGKILLed while it
 * runs; the build goes on, writes after the kill, ends, and its folder tells how it ended (what a restarted control
 * plane adopts).
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildOf, readBuild } from '../lib/local/buildspec-runner';
import { ROOT } from './helpers/fixtures';

let dir: string;
beforeAll(() => (dir = mkdtempSync(join(tmpdir(), 'tropos-build-survives-'))));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const until = async (what: string, ok: () => boolean, ms = 30_000) => {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
};

test('the starter is killed (SIGKILL) mid-build: the build runs to its end and its folder tells how it ended', async () => {
  const source = join(dir, 'source');
  const state = join(dir, 'build');
  mkdirSync(source, { recursive: true });
  writeFileSync(
    join(source, 'buildspec.yml'),
    [
      'version: 0.2',
      'env:',
      '  exported-variables: [RESULT]',
      'phases:',
      '  build:',
      '    commands:',
      '      - touch "$MARK"; while [ ! -f "$GO" ]; do sleep 0.05; done',
      '      - for i in 1 2 3 4 5; do echo "line $i after the starter died"; done',
      '      - export RESULT=applied',
    ].join('\n'),
  );
  const mark = join(dir, 'started');
  const go = join(dir, 'go');
  const starter = spawn(
    process.execPath,
    [
      '-r',
      'tsx/cjs',
      '-e',
      `require(${JSON.stringify(join(ROOT, 'lib/local/buildspec-runner.ts'))}).runBuild(${JSON.stringify({
        id: 'p:survivor',
        projectName: 'p',
        sourceDir: source,
        buildspecFile: 'buildspec.yml',
        environment: { MARK: mark, GO: go, TROPOS_RUN_ID: 'r1' },
        logFile: join(state, 'build.log'),
        stateDir: state,
        timeoutMinutes: 5,
      })})`,
    ],
    { cwd: ROOT, stdio: 'ignore' },
  );
  await until('the build to start', () => {
    try {
      readFileSync(mark);
      return true;
    } catch {
      return false;
    }
  });
  expect(readBuild(state)?.running).toBe(true);
  starter.kill('SIGKILL');
  await new Promise((r) => starter.once('exit', r));
  // The build writes only now, with nobody reading its output.
  writeFileSync(go, '');
  await until('the build to end', () => readBuild(state)?.running === false);
  const found = readBuild(state)!;
  const build = buildOf(found.start, state);
  expect(build).toMatchObject({
    Id: 'p:survivor',
    BuildStatus: 'SUCCEEDED',
    ExportedEnvironmentVariables: [{ Name: 'RESULT', Value: 'applied' }],
    Phases: [{ PhaseType: 'BUILD', PhaseStatus: 'SUCCEEDED' }],
  });
  expect(readFileSync(join(state, 'build.log'), 'utf8')).toContain('line 5 after the starter died');
}, 60_000);

test('a build killed without writing its exit status is FAILED, and says so', async () => {
  const state = join(dir, 'killed');
  mkdirSync(state, { recursive: true });
  writeFileSync(
    join(state, 'request.json'),
    JSON.stringify({
      id: 'p:k',
      projectName: 'p',
      environment: {},
      logFile: join(state, 'build.log'),
      timeoutMinutes: 5,
      startTime: new Date().toISOString(),
      pid: 999_999_999,
    }),
  );
  expect(readBuild(state)?.running).toBe(false);
  const build = buildOf(readBuild(state)!.start, state);
  expect(build.BuildStatus).toBe('FAILED');
  expect(JSON.stringify(build.Phases)).toContain('without writing its exit status');
});

test('an exit file still empty (its status being written) is a build that runs, not one that ended without a status', async () => {
  // The build's EXIT trap writes its status in place (no temporary file and mv): between the file's opening and
  // its write, a restarted control plane may find it empty while the build's process still runs.
  const state = join(dir, 'writing');
  mkdirSync(state, { recursive: true });
  const proc = spawn('sleep', ['30'], { env: { ...process.env, CODEBUILD_BUILD_ID: 'p:writing' }, stdio: 'ignore' });
  try {
    writeFileSync(
      join(state, 'request.json'),
      JSON.stringify({
        id: 'p:writing',
        projectName: 'p',
        environment: {},
        logFile: join(state, 'build.log'),
        timeoutMinutes: 5,
        startTime: new Date().toISOString(),
        pid: proc.pid,
      }),
    );
    writeFileSync(join(state, 'exit'), '');
    expect(readBuild(state)?.running).toBe(true);
    writeFileSync(join(state, 'exit'), '0');
    expect(readBuild(state)?.running).toBe(false);
    expect(buildOf(readBuild(state)!.start, state).BuildStatus).toBe('SUCCEEDED');
  } finally {
    proc.kill();
  }
});
