import type { SweepSummary } from '../domain/drift';
import type { DriftResult, Environment } from '../records/environment';
import type { Run } from '../records/run';
import { ApiError, Connection, runRecord, sleep, UsageError } from './client';
import { columns, duration, failureReason } from './format';

/** An environment as GET /environments answers it (absent fields are null). */
export type EnvironmentView = Omit<Environment, 'lastDrift' | 'failure' | 'vpcCidr'> & {
  readonly vpcCidr: string | null;
  readonly lastDrift: DriftResult | null;
  readonly failure: { error: string; cause: string; at: string } | null;
};

/** `2026-11-22T06:00:04.123Z` → `2026-11-22 06:00` (UTC). */
const minute = (iso: string) => iso.slice(0, 16).replace('T', ' ');

/** What an environment's last drift check found, in a few words. */
function driftText(e: Pick<EnvironmentView, 'lastDrift' | 'failure' | 'status'>): string {
  if (e.status === 'failed' && e.failure) return `onboarding failed: ${failureReason(e.failure)}`.slice(0, 160);
  const d = e.lastDrift;
  if (!d) return 'never checked';
  const when = `(checked ${minute(d.checkedAt)})`;
  return d.drifted.length === 0 ? `in sync ${when}` : `${d.drifted.length} drifted: ${d.drifted.join(', ')} ${when}`;
}

/** The environments as a table, with a count line. */
export function environmentsTable(envs: readonly EnvironmentView[]): string {
  if (envs.length === 0) return 'no environments';
  // The repository's own names, when it names its stacks otherwise (stack=<name> asks for one by it).
  const named = envs.some((e) => e.name);
  const rows = envs.map((e) => [
    e.stack,
    ...(named ? [e.name ?? '-'] : []),
    e.status,
    e.vpcCidr ?? '-',
    e.tier,
    driftText(e),
  ]);
  const drifted = envs.filter((e) => (e.lastDrift?.drifted.length ?? 0) > 0).length;
  const unchecked = envs.filter((e) => e.status === 'active' && !e.lastDrift).length;
  return [
    ...columns(['STACK', ...(named ? ['NAME IN REPOSITORY'] : []), 'STATUS', 'CIDR', 'TIER', 'DRIFT'], rows),
    '',
    `${envs.length} environment${envs.length === 1 ? '' : 's'}; ${drifted} drifted at their last check; ${unchecked} active never checked`,
  ].join('\n');
}

/** The outcome of one environment's check in a sweep. */
export interface SweepCheck {
  readonly stack: string;
  readonly runId: string;
  readonly status: Run['status'];
  /** The drifted components (undefined when the check did not succeed). */
  readonly drifted?: readonly string[];
  readonly reason?: string;
}

export interface SweepOutcome {
  readonly runId: string;
  readonly status: Run['status'];
  readonly startedAt: string;
  readonly endedAt?: string | undefined;
  readonly error?: string;
  readonly checks: SweepCheck[];
}

/** How long, after the sweep ended, its checks' own run records are waited for (they are written as events come). */
const RECORDS_GRACE_MS = 15_000;

/**
 * Starts a drift sweep (POST /drift-sweeps) and follows it: a line as each environment's check ends (in sync,
 * drifted and what, or why the check failed), until the sweep ends. The lines come from the checks' run records;
 * the outcome from the sweep's own summary (every environment it listed), so a check whose record is late or
 * missing is still counted.
 */
export async function driftSweep(
  conn: Connection,
  out: (line: string) => void,
  options: { pollMs?: number; quiet?: boolean } = {},
): Promise<SweepOutcome> {
  const active = (await conn.client.request<{ environments: EnvironmentView[] }>('GET', '/environments?status=active'))
    .environments.length;
  const started = await conn.client.request<{ runId: string }>('POST', '/drift-sweeps', {}).catch((e: unknown) => {
    if (e instanceof ApiError && e.status === 404)
      throw new UsageError(`${e.message} (add workflows/drift-detection.yaml to sweep for drift)`);
    throw e;
  });
  const runId = started.runId;
  if (!options.quiet) out(`Drift sweep ${runId}: checking ${active} active environment${active === 1 ? '' : 's'}`);
  const reported = new Map<string, SweepCheck>();
  const since = Date.now();
  let endedAt: number | undefined;
  for (;;) {
    const sweep = await runRecord(conn, runId, since);
    const children = (
      await conn.client.request<{ runs: Run[] }>('GET', `/runs?parentRunId=${encodeURIComponent(runId)}&limit=1000`)
    ).runs;
    for (const child of children.reverse()) {
      if (child.status === 'RUNNING' || reported.has(child.stack ?? '') || !child.stack) continue;
      const check = await checkOf(conn, child);
      reported.set(check.stack, check);
      if (!options.quiet) out(checkLine(check, reported.size, Math.max(active, reported.size)));
    }
    if (sweep && sweep.run.status !== 'RUNNING') {
      endedAt ??= Date.now();
      const summary = sweep.run.summary;
      const waiting = summary && reported.size < summary.checked && Date.now() - endedAt < RECORDS_GRACE_MS;
      if (!waiting)
        return {
          runId,
          status: sweep.run.status,
          startedAt: sweep.run.startedAt,
          endedAt: sweep.run.endedAt,
          ...(sweep.run.status !== 'SUCCEEDED' ? { error: failureReason(sweep.run) } : {}),
          checks: summary ? checksOf(summary, reported) : [...reported.values()],
        };
    }
    await sleep(options.pollMs ?? 1000);
  }
}

/** The sweep's own account of every environment, with the run ids of the checks whose records were seen. */
function checksOf(summary: SweepSummary, reported: ReadonlyMap<string, SweepCheck>): SweepCheck[] {
  const runId = (stack: string) => reported.get(stack)?.runId ?? '';
  return [
    ...summary.drifted.map((d) => ({
      stack: d.stack,
      runId: runId(d.stack),
      status: 'SUCCEEDED' as const,
      drifted: d.components,
    })),
    ...summary.clean.map((stack) => ({ stack, runId: runId(stack), status: 'SUCCEEDED' as const, drifted: [] })),
    ...summary.failed.map((f) => ({
      stack: f.stack,
      runId: runId(f.stack),
      status: reported.get(f.stack)?.status ?? ('FAILED' as const),
      reason: f.error,
    })),
  ].sort((a, b) => a.stack.localeCompare(b.stack));
}

/** One check's outcome: its run's status, and the result it recorded in the registry. */
async function checkOf(conn: Connection, child: Run): Promise<SweepCheck> {
  const base = { stack: child.stack!, runId: child.runId, status: child.status };
  if (child.status !== 'SUCCEEDED') return { ...base, reason: failureReason(child) };
  const env = await conn.client.request<EnvironmentView>('GET', `/environments/${encodeURIComponent(child.stack!)}`);
  if (env.lastDrift?.runId !== child.runId) return { ...base, reason: 'the check recorded no result' };
  return { ...base, drifted: env.lastDrift.drifted };
}

function checkLine(c: SweepCheck, n: number, total: number): string {
  const at = `[${String(n).padStart(String(total).length)}/${total}]`;
  if (!c.drifted) return `${at} ✗ ${c.stack}: check failed: ${c.reason ?? c.status}`;
  if (c.drifted.length === 0) return `${at} ✓ ${c.stack} in sync`;
  return `${at} ! ${c.stack} drifted: ${c.drifted.join(', ')}`;
}

/** The sweep's last lines: what drifted, what could not be checked, how long it took. */
export function sweepSummary(o: SweepOutcome): string {
  const drifted = o.checks.filter((c) => c.drifted && c.drifted.length > 0);
  const failed = o.checks.filter((c) => !c.drifted);
  const ok = o.status === 'SUCCEEDED' && failed.length === 0;
  const lines = [
    '',
    `${ok ? '✓' : '✗'} drift sweep ${o.status === 'SUCCEEDED' ? 'done' : o.status} in ${duration(o.startedAt, o.endedAt)}: ${o.checks.length} environments, ${drifted.length} drifted, ${failed.length} could not be checked  (run ${o.runId})`,
  ];
  if (o.error) lines.push(`  ${o.error}`);
  for (const d of drifted) lines.push(`  drifted      ${d.stack}: ${d.drifted!.join(', ')}`);
  if (failed.length > 0)
    lines.push(`  not checked  ${failed.map((f) => f.stack).join(', ')} (why: above, or tropos runs show <run>)`);
  if (drifted.length > 0)
    lines.push('  review a drifted stack: tropos workflow plan-environment tenant=… account=… environment=…');
  return lines.join('\n');
}
