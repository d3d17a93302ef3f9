import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ControlPlane, type ControlPlaneOptions } from '../../lib/local/control-plane';
import type { RunDetail } from '../../lib/records/run';
import { ROOT } from './fixtures';

export const STAND_INS = join(ROOT, 'test', 'stand-ins');

/** What the terraform stand-in answers (see test/stand-ins/terraform). */
export interface Scenario {
  components?: Record<
    string,
    {
      plan?: { add: number; change: number; destroy: number } | 'error';
      /** What a destroy plan destroys (0: an empty state). */
      planDestroy?: number;
      apply?: 'ok' | 'fail' | 'stale' | 'locked';
      applySeconds?: number;
      planSeconds?: number;
      validate?: 'ok' | 'fail';
    }
  >;
  default?: Scenario['components'] extends infer C ? (C extends Record<string, infer V> ? V : never) : never;
  lint?: 'ok' | 'fail';
  /** The state lock's holder as terraform wrote it, or 'unreadable' (the aws CLI is refused reading it). */
  lock?: Record<string, string> | 'unreadable';
  /** Per stack (TROPOS_STACK of the build): overrides the rest of the scenario for that stack's components. */
  stacks?: Record<string, Pick<Scenario, 'components' | 'default'>>;
}

/** One call the terraform stand-in received: the component (its folder), the subcommand, where, for which stack. */
export interface TerraformCall {
  readonly component: string;
  readonly sub: string;
  readonly args: string[];
  readonly chdir: string;
  readonly stack?: string;
}

/** A control plane for tests: in memory, a copy of the example repository, the terraform stand-in on PATH. */
export interface TestPlane {
  readonly plane: ControlPlane;
  readonly dir: string;
  readonly infraDir: string;
  /** Sets what the terraform stand-in answers from now on. */
  scenario(s: Scenario): void;
  /** Every terraform call the stand-in received since the last `scenario()`. */
  calls(): TerraformCall[];
  post(
    path: string,
    body: unknown,
    headers?: Record<string, string>,
  ): Promise<{ status: number; body: Record<string, unknown> }>;
  get(path: string): Promise<{ status: number; body: Record<string, unknown> }>;
  /** Starts a run through the API and waits for it to end. */
  run(workflow: string, input: Record<string, unknown>, timeoutMs?: number, pollMs?: number): Promise<RunDetail>;
  waitFor(runId: string, until?: (d: RunDetail) => boolean, timeoutMs?: number, pollMs?: number): Promise<RunDetail>;
  close(): Promise<void>;
}

/** A run in a few lines, for a timeout's message: its status, its steps, each component's status, its approvals. */
function describe(d: RunDetail): string {
  if (!d?.run) return JSON.stringify(d).slice(0, 500);
  const lines = [
    `status ${d.run.status}${d.run.error ? ` (${d.run.error}: ${d.run.cause ?? ''})` : ''}, started ${d.run.startedAt}`,
  ];
  for (const s of d.steps ?? []) lines.push(`step ${s.step}: ${s.status}${s.message ? ` (${s.message})` : ''}`);
  for (const c of d.components ?? [])
    lines.push(
      `${c.step}/${c.component}: ${c.status} ${c.startedAt ?? ''}→${c.endedAt ?? ''}${c.message ? ` ${c.message}` : ''}`,
    );
  // A build that does not end: the end of its log says what it waits for.
  for (const c of (d.components ?? []).filter((x) => x.status === 'RUNNING' && x.logs && existsSync(x.logs)))
    lines.push(
      `log of ${c.step}/${c.component}, last lines:`,
      ...readFileSync(c.logs!, 'utf8').trimEnd().split('\n').slice(-15),
    );
  for (const a of d.approvals ?? []) lines.push(`approval ${String(a.step)}: ${String(a.status)}`);
  return lines.join('\n  ');
}

export async function startTestPlane(
  options: {
    layout?: 'atmos' | 'terraform';
    configPath?: string;
    terraformOnPath?: boolean;
    alterTemplate?: ControlPlaneOptions['alterTemplate'];
    /** More variables for every build (the real terraform's backend endpoint, say); they win. */
    buildEnvironment?: Record<string, string>;
  } = {},
): Promise<TestPlane> {
  const dir = mkdtempSync(join(tmpdir(), 'tropos-test-'));
  // The whole example repository (both layouts call the shared modules/), run in one of its layouts.
  cpSync(join(ROOT, 'examples'), join(dir, 'examples'), { recursive: true });
  const infraDir = join(dir, 'examples', options.layout ?? 'atmos');
  const scenarioFile = join(dir, 'scenario.json');
  const scenarioShell = join(dir, 'scenario.sh');
  const logFile = join(dir, 'terraform-calls.jsonl');
  writeFileSync(scenarioFile, '{}');
  writeFileSync(scenarioShell, '');
  const plane = await ControlPlane.start({
    dataDir: join(dir, 'data'),
    inMemory: true,
    infraDir,
    // The example repository's stacks, registered as the control plane does for the example repository itself.
    seedEnvironments: join(ROOT, 'examples', 'environments.yaml'),
    ...(options.configPath ? { configPath: options.configPath } : {}),
    ...(options.alterTemplate ? { alterTemplate: options.alterTemplate } : {}),
    buildEnvironment: {
      // Without the stand-ins on PATH the runs find no terraform, as on a machine without it.
      PATH:
        options.terraformOnPath === false
          ? (process.env.PATH ?? '')
              .split(':')
              .filter((p) => !p.includes('stand-ins'))
              .join(':')
          : `${STAND_INS}:${process.env.PATH}`,
      TROPOS_FAKE_TF: scenarioFile,
      TROPOS_FAKE_TF_SH: scenarioShell,
      TROPOS_FAKE_TF_LOG: logFile,
      ...options.buildEnvironment,
    },
  });
  const request = async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
    // Two people, as separation of duties wants: approvals are answered by `approver`, everything else is asked by
    // `requester` (a test names another with its own x-tropos-user header).
    const user = path.startsWith('/approvals/') ? 'approver' : 'requester';
    const res = await fetch(`${plane.url}${path}`, {
      method,
      headers: { 'content-type': 'application/json', 'x-tropos-user': user, ...headers },
      ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  const waitFor = async (
    runId: string,
    until: (d: RunDetail) => boolean = (d) => d.run.status !== 'RUNNING',
    timeoutMs = 60_000,
    pollMs = 50,
  ) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const res = await request('GET', `/runs/${runId}`);
      if (res.status === 200 && until(res.body as unknown as RunDetail)) return res.body as unknown as RunDetail;
      if (Date.now() > deadline)
        throw new Error(
          `run ${runId} did not reach the expected state in ${timeoutMs} ms: ${describe(res.body as unknown as RunDetail)}`,
        );
      await new Promise((r) => setTimeout(r, pollMs));
    }
  };
  return {
    plane,
    dir,
    infraDir,
    scenario: (s) => {
      writeFileSync(scenarioFile, JSON.stringify(s));
      writeFileSync(scenarioShell, applyVariables(s));
      rmSync(logFile, { force: true });
    },
    calls: () =>
      existsSync(logFile)
        ? readFileSync(logFile, 'utf8')
            .trim()
            .split('\n')
            .filter(Boolean)
            .map((l) => JSON.parse(l) as TerraformCall)
        : [],
    post: (path, body, headers) => request('POST', path, body, headers),
    get: (path) => request('GET', path),
    run: async (workflow, input, timeoutMs, pollMs) => {
      const started = await request('POST', '/runs', { workflow, input });
      if (started.status !== 202)
        throw new Error(`POST /runs ${workflow} answered ${started.status}: ${JSON.stringify(started.body)}`);
      return waitFor(String(started.body.runId), undefined, timeoutMs, pollMs);
    },
    waitFor,
    close: async () => {
      await plane.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The apply part of a scenario as shell variables, for the stand-in's bash side. */
function applyVariables(s: Scenario): string {
  const lines: string[] = [];
  const add = (key: string, spec: { apply?: string; applySeconds?: number } | undefined) => {
    if (spec?.apply) lines.push(`APPLY_${key}=${spec.apply}`);
    if (spec?.applySeconds !== undefined) lines.push(`APPLY_SECONDS_${key}=${spec.applySeconds}`);
  };
  add('default', s.default);
  for (const [c, spec] of Object.entries(s.components ?? {})) add(c.replace(/-/g, '_'), spec);
  return lines.join('\n') + '\n';
}

export const DEV = { tenant: 'acme', account: 'dev', environment: 'testenv-01' } as const;
export const STAGING = { tenant: 'acme', account: 'staging', environment: 'main' } as const;
export const PROD = { tenant: 'acme', account: 'prod', environment: 'main' } as const;
