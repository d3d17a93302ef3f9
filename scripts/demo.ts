// npm run demo — the local demo: the whole of Tropos on this machine (no AWS account), running plan-environment
// and apply-environment for the stack acme-dev-testenv-01 of the example repository, then printing the run
// records. Terraform (and Atmos, for the atmos engine) come from PATH; without them the runs are dry runs, and
// each terraform step prints the commands it would run. Every run reads its stack from the repository with
// `atmos describe stacks`: without Atmos, the demo says so and uses Tropos's Atmos stand-in (test/stand-ins/atmos,
// which answers `describe stacks` as Atmos does for this repository) for that — the terraform steps stay dry runs.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../lib/cli/main';
import { ControlPlane } from '../lib/local/control-plane';

const STACK = ['tenant=acme', 'account=dev', 'environment=testenv-01'];

function onPath(tool: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0;
}

async function demo(): Promise<number> {
  const dataDir = mkdtempSync(join(tmpdir(), 'tropos-demo-'));
  console.log('Tropos local demo: the CDK app synthesized here, its state machines run by the local engine,');
  console.log('its functions in-process, its builds by the local CodeBuild runner, records in a local DynamoDB.\n');
  // Atmos resolves each run's stack (also in a dry run): without it, its stand-in, alone on an extra PATH entry.
  const standIn = join(dataDir, 'atmos-stand-in');
  mkdirSync(standIn);
  symlinkSync(join(__dirname, '..', 'test', 'stand-ins', 'atmos'), join(standIn, 'atmos'));
  const noAtmos = !onPath('atmos');
  const plane = await ControlPlane.start({
    dataDir,
    inMemory: true,
    ...(noAtmos ? { buildEnvironment: { PATH: `${process.env.PATH ?? ''}:${standIn}` } } : {}),
  });
  try {
    const tools = plane.config.engine === 'atmos' ? ['terraform', 'atmos'] : ['terraform'];
    const missing = tools.filter((t) => !onPath(t));
    if (noAtmos && plane.config.engine === 'atmos')
      console.log(
        "atmos not found on PATH: each run's stack is read with Tropos's Atmos stand-in (test/stand-ins/atmos answers `atmos describe stacks` as Atmos does); install Atmos to use the real one.",
      );
    const dry = missing.length > 0 ? ['--dry-run'] : [];
    if (missing.length > 0) {
      console.log(
        `${missing.join(' and ')} not found on PATH: this is a dry run — every step runs, and each terraform step prints the commands it would run.\n`,
      );
    } else {
      console.log(
        `${tools.join(' and ')} found on PATH: real runs (the example stacks need AWS credentials for their S3 backend).\n`,
      );
    }
    const cli = (...args: string[]) => main(['--server', plane.url, ...args]);
    console.log(`$ tropos workflow plan-environment ${STACK.join(' ')} ${dry.join(' ')}`);
    const planned = await cli('workflow', 'plan-environment', ...STACK, ...dry);
    console.log(`\n$ tropos workflow apply-environment ${STACK.join(' ')} ${dry.join(' ')}`);
    const applied = await cli('workflow', 'apply-environment', ...STACK, ...dry);
    console.log('\n$ tropos runs');
    await cli('runs');
    const latest = (await plane.engine.listExecutions())
      .filter((e) => e.stateMachineArn.endsWith(':tropos-apply-environment'))
      .at(-1);
    if (latest) {
      console.log(`\n$ tropos runs show ${latest.name}`);
      await cli('runs', 'show', latest.name);
    }
    console.log(`\nplan-environment exited ${planned}, apply-environment exited ${applied}.`);
    return planned === 0 && applied === 0 ? 0 : 1;
  } finally {
    await plane.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

void demo().then(
  (code) => (process.exitCode = code),
  (e: unknown) => {
    console.error(e);
    process.exitCode = 1;
  },
);
