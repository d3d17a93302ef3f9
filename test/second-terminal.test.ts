/**
 * One control plane per data folder: while `tropos workflow` runs with its own (embedded) control plane and waits
 * for a prod approval, commands in a second terminal — `tropos approvals`, `tropos approve` — use that control plane
 * (announced in the data folder as `tropos serve` announces itself), never a second one on the same data.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { ROOT } from './helpers/fixtures';
import { STAND_INS } from './helpers/local';
import { serveFolder, type ServeFolder } from './helpers/serve';

let f: ServeFolder;
beforeAll(() => (f = serveFolder('tropos-second-terminal-')));
afterAll(() => f.close());

/** `tropos …` as its own process on the folder; resolves with its exit code and output. */
function tropos(args: string[], onOut?: (out: string) => void) {
  const child = spawn(
    process.execPath,
    [
      join(ROOT, 'bin', 'tropos'),
      '--data-dir',
      join(f.dir, 'data'),
      '--infra-dir',
      join(f.dir, 'examples', 'atmos'),
      ...args,
    ],
    { env: { ...process.env, PATH: `${STAND_INS}:${process.env.PATH}` }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  const keep = (d: Buffer) => {
    out += d.toString();
    onOut?.(out);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  return {
    child,
    done: new Promise<{ code: number | null; out: string }>((r) => child.once('close', (code) => r({ code, out }))),
  };
}

test('a run waits for approval in one process; approvals and approve in another, no serve started: it goes through', async () => {
  let approvalId: string | undefined;
  let first: ReturnType<typeof tropos> | undefined;
  const asked = new Promise<void>((resolve) => {
    const run = tropos(['workflow', 'apply-environment', 'tenant=acme', 'account=prod', 'environment=main'], (out) => {
      approvalId ??= /answer with tropos approve\|reject (\S+)/.exec(out)?.[1];
      if (approvalId) resolve();
    });
    first = run;
  });
  await Promise.race([asked, first!.done.then((r) => Promise.reject(new Error(`the run ended: ${r.out}`)))]);

  const list = await tropos(['approvals']).done;
  expect(list).toMatchObject({ code: 0 });
  expect(list.out).toContain(approvalId);
  expect(list.out).not.toMatch(/Database is closed|at .*\.ts:\d+/);
  expect(list.out).not.toContain('starting one for this command');

  const approve = await tropos(['--as', 'approver', 'approve', approvalId!, '--comment', 'from the second terminal'])
    .done;
  expect(approve.code).toBe(0);
  const ended = await first!.done;
  expect(ended.code).toBe(0);
  expect(ended.out).toMatch(/✓ apply-environment SUCCEEDED/);
}, 400_000);
