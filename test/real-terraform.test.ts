/**
 * The plain-terraform engine's workflows with the REAL terraform binary (the one on PATH) and its real S3 backend,
 * pointed at a local S3 + DynamoDB endpoint (the Python moto server, started here): plan files,
 * `-detailed-exitcode`, `show -json`, state locking, force-unlock, state versions and restore are terraform's and
 * the backend's own. The example repository's components use only Terraform's built-in `terraform_data`, so no
 * provider is downloaded. Where terraform, the aws CLI or moto is missing, this file says so and skips only itself.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { NO_CHANGES } from '../lambdas/component-graph/core';
import type { RunDetail } from '../lib/records/run';
import { ROOT } from './helpers/fixtures';
import { DEV, startTestPlane, type TestPlane } from './helpers/local';
import { MotoServer } from './helpers/moto';

const missing = [
  spawnSync('terraform', ['version'], { encoding: 'utf8' }).error ? 'terraform is not on PATH' : undefined,
  spawnSync('aws', ['--version'], { encoding: 'utf8' }).error ? 'the aws CLI is not on PATH' : undefined,
  MotoServer.unavailable(),
].filter(Boolean);
if (missing.length > 0)
  console.warn(`SKIPPED test/real-terraform.test.ts (the real terraform with an S3 backend): ${missing.join('; ')}`);
const suite = missing.length > 0 ? describe.skip : describe;

const BUCKET = 'acme-terraform-state';
const LOCKS = 'acme-terraform-locks';
const keyOf = (component: string) => `dev/testenv-01/${component}/terraform.tfstate`;

suite('the real terraform, its S3 backend on a local endpoint', () => {
  let moto: MotoServer;
  let t: TestPlane;
  let version: string;

  beforeAll(async () => {
    moto = await MotoServer.start();
    moto.stateBackend(BUCKET, LOCKS);
    version = (
      JSON.parse(
        execFileSync('terraform', ['version', '-json'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }),
      ) as {
        terraform_version: string;
      }
    ).terraform_version;
    t = await startTestPlane({
      layout: 'terraform',
      configPath: join(ROOT, 'test', 'fixtures', 'terraform-engine.config.yaml'),
      // The stand-ins off PATH: `terraform` is the real one.
      terraformOnPath: false,
      buildEnvironment: {
        ...moto.environment(),
        HOME: process.env.HOME ?? '/root',
        CHECKPOINT_DISABLE: '1',
        TF_PLUGIN_CACHE_DIR: '',
        // Short, so that a plan against a held lock fails here in seconds (the runner's default is 5m).
        TROPOS_LOCK_TIMEOUT: '10s',
        // The backend's endpoint settings a test needs (the endpoints themselves: AWS_ENDPOINT_URL_*).
        TF_CLI_ARGS_init: [
          'use_path_style=true',
          'skip_credentials_validation=true',
          'skip_requesting_account_id=true',
          'skip_metadata_api_check=true',
        ]
          .map((c) => `-backend-config=${c}`)
          .join(' '),
      },
    });
  }, 120_000);

  afterAll(async () => {
    await t?.close();
    await moto?.stop();
  });

  /** The component's state as the backend holds it: its resources' addresses. */
  const stateOf = (component: string): { serial: number; addresses: string[] } => {
    const out = join(t.dir, `state-${component}.json`);
    moto.aws('s3api', 'get-object', '--bucket', BUCKET, '--key', keyOf(component), out);
    const state = JSON.parse(readFileSync(out, 'utf8')) as {
      serial: number;
      resources: { module?: string; type: string; name: string; mode: string }[];
    };
    return {
      serial: state.serial,
      addresses: state.resources.map((r) => `${r.module ? `${r.module}.` : ''}${r.type}.${r.name}`).sort(),
    };
  };
  const byStep = (d: RunDetail, step: string) =>
    new Map(d.components.filter((c) => c.step === step).map((c) => [c.component, c]));
  const root = (component: string) => join(t.infraDir, 'environments', 'dev', 'testenv-01', component);
  const edit = (component: string, file: string, change: (text: string) => string) =>
    writeFileSync(join(root(component), file), change(readFileSync(join(root(component), file), 'utf8')));

  test('apply-environment creates every component; a second plan finds nothing to do', async () => {
    const d = await t.run('apply-environment', DEV, 240_000, 200);
    expect(d.run).toMatchObject({ status: 'SUCCEEDED' });
    const plans = byStep(d, 'plan');
    const applies = byStep(d, 'apply');
    expect(plans.size).toBe(14);
    for (const [c, p] of plans) {
      expect(p.plan).toMatchObject({ add: 1, change: 0, destroy: 0, changes: true });
      expect(applies.get(c)?.status).toBe('SUCCEEDED');
      expect(stateOf(c).addresses).toEqual([`module.${c.replace(/-/g, '_')}.terraform_data.${c.replace(/-/g, '_')}`]);
    }
    // Every build of the run worked on the same commit, with the terraform on PATH, and says so.
    expect(new Set(d.components.map((c) => c.commit))).toEqual(new Set([d.run.commit]));
    expect(new Set(d.components.filter((c) => c.step !== 'validate').map((c) => c.terraformVersion))).toEqual(
      new Set([version]),
    );

    const again = await t.run('plan-environment', DEV, 240_000, 200);
    expect(again.run.status).toBe('SUCCEEDED');
    for (const p of byStep(again, 'plan').values()) expect(p.plan).toMatchObject({ add: 0, change: 0, changes: false });
  }, 600_000);

  test('a move, an import, a forget and a change are applied; components without changes are not', async () => {
    // vpc: the module renamed, with a moved block (a move-only change: terraform plans no-op, exit code 2).
    edit(
      'vpc',
      'main.tf',
      (s) =>
        `${s.replace('module "vpc" {', 'module "network" {')}\nmoved {\n  from = module.vpc\n  to   = module.network\n}\n`,
    );
    // iam: an existing object brought under management by an import block (terraform_data imports any id).
    edit(
      'iam',
      'main.tf',
      (s) =>
        `${s}\nimport {\n  to = terraform_data.legacy\n  id = "legacy-role"\n}\n\nresource "terraform_data" "legacy" {}\n`,
    );
    // dns: no longer managed here, its object left as it is (removed, destroy = false).
    edit(
      'dns',
      'main.tf',
      (s) =>
        `${s.replace(/module "dns" \{[\s\S]*?\n\}\n/, '')}\nremoved {\n  from = module.dns\n  lifecycle {\n    destroy = false\n  }\n}\n`,
    );
    // lambda: an input changed (an update in place).
    edit('lambda', 'terraform.tfvars', (s) => s.replace('Owner      = "platform"', 'Owner      = "serverless"'));

    const d = await t.run('apply-environment', DEV, 240_000, 200);
    expect(d.run).toMatchObject({ status: 'SUCCEEDED' });
    const plans = byStep(d, 'plan');
    expect(plans.get('vpc')?.plan).toMatchObject({ add: 0, change: 0, destroy: 0, move: 1, changes: true });
    expect(plans.get('iam')?.plan).toMatchObject({ add: 0, change: 0, destroy: 0, import: 1, changes: true });
    expect(plans.get('dns')?.plan).toMatchObject({ add: 0, change: 0, destroy: 0, forget: 1, changes: true });
    expect(plans.get('lambda')?.plan).toMatchObject({ add: 0, change: 1, destroy: 0, changes: true });
    // What an approver reviews: each resource, marked as terraform marks it.
    expect(plans.get('vpc')?.plan?.resources).toMatch(/^→ module\.network\.terraform_data\.vpc \(moved from \S+\)$/);
    expect(plans.get('iam')?.plan?.resources).toBe('⇐ terraform_data.legacy');
    expect(plans.get('dns')?.plan?.resources).toMatch(/^forget module\.dns\.\S+$/);
    expect(plans.get('lambda')?.plan?.resources).toMatch(/^~ \S+$/);

    // Only the four with changes were applied; the other ten were recorded, not built.
    const applies = byStep(d, 'apply');
    const applied = [...applies.values()]
      .filter((c) => c.status === 'SUCCEEDED')
      .map((c) => c.component)
      .sort();
    expect(applied).toEqual(['dns', 'iam', 'lambda', 'vpc']);
    const notBuilt = [...applies.values()].filter((c) => !applied.includes(c.component));
    expect(notBuilt).toHaveLength(10);
    expect(notBuilt.map((c) => [c.status, c.message, c.buildId])).toEqual(
      notBuilt.map(() => ['SKIPPED', NO_CHANGES, undefined]),
    );

    expect(stateOf('vpc').addresses).toEqual(['module.network.terraform_data.vpc']);
    expect(stateOf('iam').addresses).toEqual(['module.iam.terraform_data.iam', 'terraform_data.legacy']);
    expect(stateOf('dns').addresses).toEqual([]);

    const after = await t.run('plan-environment', DEV, 240_000, 200);
    for (const p of byStep(after, 'plan').values()) expect(p.plan?.changes).toBe(false);
  }, 600_000);

  test('drift-detection finds the component whose input changed since it was applied, and only it', async () => {
    edit('ec2', 'terraform.tfvars', (s) => s.replace('CostCenter = "1234"', 'CostCenter = "9999"'));
    const d = await t.run('drift-detection', DEV, 240_000, 200);
    expect(d.run.status).toBe('SUCCEEDED');
    const drifted = [...byStep(d, 'drift').values()].filter((c) => c.drifted).map((c) => c.component);
    expect(drifted).toEqual(['ec2']);
    // Put back: the stack is in sync again.
    edit('ec2', 'terraform.tfvars', (s) => s.replace('CostCenter = "9999"', 'CostCenter = "1234"'));
  }, 600_000);

  test('state-operations: lock-status while a lock is held, force-unlock, versions, restore', async () => {
    const ops = (input: Record<string, string>) =>
      t.run('state-operations', { ...DEV, component: 'lambda', ...input }, 120_000, 200);
    const messageOf = (d: RunDetail) => d.components.find((c) => c.component === 'lambda')?.message ?? '';

    // A lock as terraform's S3 backend writes it (an operation that died holding it).
    const lockId = '9db590f1-b6fe-c5f2-2678-8804f089deba';
    const info = {
      ID: lockId,
      Operation: 'OperationTypeApply',
      Info: '',
      Who: 'ci@runner-7',
      Version: version,
      Created: '2026-12-01T08:00:00Z',
      Path: `${BUCKET}/${keyOf('lambda')}`,
    };
    moto.aws(
      'dynamodb',
      'put-item',
      '--table-name',
      LOCKS,
      '--item',
      JSON.stringify({ LockID: { S: `${BUCKET}/${keyOf('lambda')}` }, Info: { S: JSON.stringify(info) } }),
    );
    const held = await ops({ operation: 'lock-status' });
    expect(held.run.status).toBe('SUCCEEDED');
    expect(messageOf(held)).toBe(
      `state of lambda is locked: id ${lockId}, held by ci@runner-7, operation OperationTypeApply, since 2026-12-01T08:00:00Z`,
    );

    // The real terraform refuses to plan while it is held (after -lock-timeout), naming the holder's lock.
    const blocked = await t.run('plan-environment', { ...DEV, components: 'lambda' }, 120_000, 200);
    expect(blocked.run.status).toBe('FAILED');
    const blockedLambda = blocked.components.find((c) => c.component === 'lambda');
    expect(blockedLambda).toMatchObject({ status: 'FAILED' });
    expect(JSON.stringify(blockedLambda)).toContain('Error acquiring the state lock');
    expect(JSON.stringify(blockedLambda)).toContain(lockId);

    // force-unlock refuses another id than the holder's, and with the holder's id frees it.
    const wrongId = await ops({ operation: 'unlock', lock_id: '00000000-0000-0000-0000-000000000000' });
    expect(wrongId.run.status).toBe('FAILED');
    expect(messageOf(wrongId)).toBe(
      `refusing to force-unlock lambda: its lock is id ${lockId}, held by ci@runner-7, operation OperationTypeApply, since 2026-12-01T08:00:00Z, not 00000000-0000-0000-0000-000000000000 (run operation=lock-status and give its id)`,
    );
    expect(
      moto.aws(
        'dynamodb',
        'get-item',
        '--table-name',
        LOCKS,
        '--key',
        JSON.stringify({ LockID: { S: `${BUCKET}/${keyOf('lambda')}` } }),
      ),
    ).toHaveProperty('Item');
    const unlocked = await ops({ operation: 'unlock', lock_id: lockId });
    expect(unlocked.run.status).toBe('SUCCEEDED');
    expect(messageOf(unlocked)).toBe(`force-unlocked ${lockId} on lambda`);
    expect(
      moto.aws(
        'dynamodb',
        'get-item',
        '--table-name',
        LOCKS,
        '--key',
        JSON.stringify({ LockID: { S: `${BUCKET}/${keyOf('lambda')}` } }),
      ),
    ).toBeUndefined();
    expect(messageOf(await ops({ operation: 'lock-status' }))).toBe('state of lambda is not locked');

    // Versions: the bucket's own (create, then the update of the test before).
    const listed = await ops({ operation: 'versions' });
    expect(messageOf(listed)).toBe(`listed the versions of s3://${BUCKET}/${keyOf('lambda')}`);
    const versions = (
      moto.aws('s3api', 'list-object-versions', '--bucket', BUCKET, '--prefix', keyOf('lambda')) as {
        Versions: { VersionId: string; Key: string; IsLatest: boolean; LastModified: string }[];
      }
    ).Versions.filter((v) => v.Key === keyOf('lambda'));
    expect(versions.length).toBeGreaterThanOrEqual(2);
    const oldest = [...versions].sort((a, b) => a.LastModified.localeCompare(b.LastModified))[0]!;
    const firstInput = (file: string) =>
      (
        JSON.parse(readFileSync(file, 'utf8')) as {
          resources: { instances: { attributes: { input: { value: { tags: Record<string, string> } } } }[] }[];
        }
      ).resources[0]!.instances[0]!.attributes.input.value.tags.Owner;
    const oldFile = join(t.dir, 'old.tfstate');
    moto.aws(
      's3api',
      'get-object',
      '--bucket',
      BUCKET,
      '--key',
      keyOf('lambda'),
      '--version-id',
      oldest.VersionId,
      oldFile,
    );
    expect(firstInput(oldFile)).toBe('platform');

    // Restore the first version: the state is that version again (a new version on top, serial moved on).
    const before = stateOf('lambda').serial;
    const restored = await ops({ operation: 'restore', version_id: oldest.VersionId });
    expect(restored.run.status).toBe('SUCCEEDED');
    expect(messageOf(restored)).toMatch(
      new RegExp(`^restored version ${oldest.VersionId} of lambda's state \\(refresh-only plan exit [02]\\)$`),
    );
    const nowFile = join(t.dir, 'now.tfstate');
    moto.aws('s3api', 'get-object', '--bucket', BUCKET, '--key', keyOf('lambda'), nowFile);
    expect(firstInput(nowFile)).toBe('platform');
    expect(stateOf('lambda').serial).toBeGreaterThanOrEqual(before);
    // The configuration still says serverless: a plan now sees the change again.
    const plan = await t.run('plan-environment', { ...DEV, components: 'lambda' }, 120_000, 200);
    expect(byStep(plan, 'plan').get('lambda')?.plan).toMatchObject({ change: 1, changes: true });
  }, 600_000);

  test('destroy-environment destroys every component terraform still manages', async () => {
    const d = await t.run('destroy-environment', DEV, 240_000, 200);
    expect(d.run).toMatchObject({ status: 'SUCCEEDED' });
    const plans = byStep(d, 'plan');
    expect(plans.get('dns')?.plan).toMatchObject({ destroy: 0, changes: false });
    expect(plans.get('iam')?.plan).toMatchObject({ destroy: 2 });
    for (const c of plans.keys()) expect(stateOf(c).addresses).toEqual([]);
  }, 600_000);
});
