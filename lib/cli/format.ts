import type { ApprovalView } from '../records/approval-store';
import type { ComponentRecord, Run, RunDetail, StepRecord } from '../records/run';

/** Seconds between two ISO times, as `12.3s`. */
export function duration(from?: string, to?: string): string {
  if (!from || !to) return '';
  return `${((Date.parse(to) - Date.parse(from)) / 1000).toFixed(1)}s`;
}

export function counts(p?: { add: number; change: number; destroy: number }): string {
  return p ? `+${p.add} ~${p.change} -${p.destroy}` : '';
}

/** The readable reason of a run's failure: the error name and the message inside a Lambda or build cause. */
/** Text on one line, cut to `max` characters (a table cell). */
export function oneLine(text: string, max: number): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length <= max ? flat : `${flat.slice(0, max - 1)}…`;
}

export function failureReason(run: Pick<Run, 'error' | 'cause'>): string {
  let cause = run.cause ?? '';
  try {
    const parsed = JSON.parse(cause) as { errorMessage?: string; Cause?: string; Error?: string };
    if (parsed.errorMessage) cause = parsed.errorMessage;
    else if (parsed.Error) cause = `${parsed.Error}: ${failureReason({ error: undefined, cause: parsed.Cause ?? '' })}`;
  } catch {
    // plain text
  }
  return [run.error, cause].filter(Boolean).join(': ');
}

const MARK: Record<string, string> = { RUNNING: '▶', SUCCEEDED: '✓', FAILED: '✗', SKIPPED: '–' };

/** One line of progress for a component. */
export function componentLine(c: ComponentRecord, indent = ''): string {
  const head = `${indent}${MARK[c.status] ?? '?'} ${c.step} ${c.component}`;
  switch (c.status) {
    case 'RUNNING':
      return `${head} started`;
    case 'SUCCEEDED':
      return `${head} done ${duration(c.startedAt, c.endedAt)}${c.plan ? `  ${counts(c.plan)}` : ''}${c.drifted ? '  DRIFTED' : ''}${c.message && !c.plan ? `  ${c.message}` : ''}`;
    case 'FAILED':
      return `${head} failed ${duration(c.startedAt, c.endedAt)}: ${c.message ?? 'no reason recorded'}${c.logs ? `\n${indent}    log: ${c.logs}` : ''}`;
    case 'SKIPPED':
      return `${head} ${c.message ?? 'skipped'}`;
    default:
      return head;
  }
}

export function stepLine(s: StepRecord, indent = ''): string {
  const totals =
    s.add !== undefined ? `  ${counts({ add: s.add, change: s.change ?? 0, destroy: s.destroy ?? 0 })}` : '';
  return `${indent}${MARK[s.status] ?? '?'} step ${s.step} ${s.status === 'SUCCEEDED' ? 'done' : 'failed'}${totals}${s.status === 'FAILED' && s.message ? `\n${indent}    ${s.message}` : ''}`;
}

/** A header and rows as aligned columns (the last column unpadded), two spaces apart. */
export function columns(header: readonly string[], rows: readonly string[][]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => (row[i] ?? '').length)));
  const fmt = (row: readonly string[]) =>
    row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ');
  return [fmt(header), ...rows.map(fmt)];
}

/** A run as a table of steps and components, for `tropos runs show`. */
/** How to go on after a run that failed or was stopped (none for a child: its parent is retried). */
export function retryHint(run: Pick<Run, 'runId' | 'status' | 'parentRunId'>): string | undefined {
  if (run.status === 'SUCCEEDED' || run.status === 'RUNNING' || run.parentRunId) return undefined;
  return `tropos runs retry ${run.runId}   (runs again only what did not get done)`;
}

export function runTable(d: RunDetail, children: readonly Run[] = []): string {
  const r = d.run;
  const lines = [
    `Run       ${r.runId}`,
    `Workflow  ${r.workflow}${r.stack ? `   Stack ${r.stack}` : ''}`,
    `Status    ${r.status}${r.endedAt ? `   in ${duration(r.startedAt, r.endedAt)}` : ''}`,
    `Started   ${r.startedAt} by ${r.startedBy ?? 'unknown'}${r.ticketId ? `   Ticket ${r.ticketId}` : ''}${r.parentRunId ? `   Parent ${r.parentRunId}` : ''}`,
  ];
  // Who asked, as the input declares it, beside who Tropos knows started it (the two may differ).
  if (r.requestedBy && r.requestedBy !== r.principal) lines.push(`Requested ${r.requestedBy} (as declared)`);
  if (r.origin === 'console')
    lines.push('Origin    started directly (console, schedule or SDK): the caller is not known');
  if (r.commit || r.resolved)
    lines.push(
      `Stack     ${r.resolved ? `${r.resolved.name ? `${r.resolved.name} in the repository: ` : ''}${r.resolved.components} components (${r.resolved.engine})` : 'not resolved'} from the repository at ${r.commit ?? 'an unknown commit'}${r.resolved?.ignored?.length ? `; left out: ${r.resolved.ignored.join('; ')}` : ''}`,
    );
  else if (r.resolveBuild?.status === 'FAILED') lines.push(`Stack     not resolved: ${r.resolveBuild.logs ?? ''}`);
  if (r.status !== 'SUCCEEDED' && r.status !== 'RUNNING') lines.push(`Error     ${failureReason(r)}`);
  if (r.retryOf) lines.push(`Retry of  ${r.retryOf} (what succeeded there is reused: see DETAIL)`);
  if (r.retriedBy) lines.push(`Retried   by run ${r.retriedBy}`);
  const retry = retryHint(r);
  if (retry) lines.push(`Retry     ${retry}`);
  const rows = d.components.map((c) => [
    c.step,
    c.component,
    c.status,
    duration(c.startedAt, c.endedAt),
    counts(c.plan),
    c.message ?? '',
  ]);
  if (rows.length > 0) {
    lines.push('', ...columns(['STEP', 'COMPONENT', 'STATUS', 'TIME', 'PLAN', 'DETAIL'], rows));
  }
  // A failure in its tool's own words (terraform's Error: block), and where the rest is.
  for (const c of d.components.filter((x) => x.status === 'FAILED' && x.error)) {
    lines.push('', `${c.step} ${c.component} failed:`, ...c.error!.split('\n').map((l) => `  │ ${l}`));
    if (c.logs) lines.push(`  log: ${c.logs}`);
  }
  for (const s of d.steps) lines.push(stepLine(s));
  if (children.length > 0) {
    lines.push('', 'Runs it started:');
    for (const c of [...children].reverse())
      lines.push(
        `  ${c.runId}  ${c.workflow}  ${c.status}  ${c.stack ?? '-'}${c.status !== 'SUCCEEDED' && c.status !== 'RUNNING' ? `  ${oneLine(failureReason(c), 100)}` : ''}   (tropos runs show ${c.runId})`,
      );
  }
  for (const a of d.approvals)
    lines.push(
      `approval ${String(a.approvalId)}: ${String(a.status)}${a.decidedBy ? ` by ${String(a.decidedBy)}` : ''}${a.comment ? ` (${String(a.comment)})` : ''}`,
    );
  return lines.join('\n');
}

/** An approval's parameters (an approval without a plan: what the run will do), as `k=v` pairs. */
function parametersOf(p: unknown): string {
  return Object.entries((p ?? {}) as Record<string, unknown>)
    .map(([k, v]) => `${k}=${String(v)}`)
    .join(' ');
}

/** One component's plan for review: its counts, the resources that change, its SHA-256, where the rest is. */
export function planReview(c: ComponentRecord): string {
  const p = c.plan!;
  const extra = [
    p.move ? `${p.move} moved` : '',
    p.import ? `${p.import} imported` : '',
    p.forget ? `${p.forget} forgotten` : '',
    p.outputs ? `${p.outputs} output(s)` : '',
  ].filter(Boolean);
  return [
    `${c.step} ${c.component}: ${counts(p)}${extra.length ? `  (${extra.join(', ')})` : ''}${p.changes === false ? '  no changes' : ''}`,
    ...(p.resources ? p.resources.split('\n').map((r) => `    ${r}`) : []),
    ...(p.sha256 ? [`    plan sha256 ${p.sha256}`] : []),
    ...(p.artifactsPrefix ? [`    full plan: ${p.artifactsPrefix}/plan.txt (artifacts)`] : []),
  ].join('\n');
}

/** One approval: what it asks, and how to answer. */
export function approvalLine(a: ApprovalView): string {
  const entries = Array.isArray(a.plan)
    ? (a.plan as { component: string; add: number; change: number; destroy: number; resources?: string }[])
    : [];
  const plan = entries.map((p) => `${p.component} ${counts(p)}`).join(', ');
  // The resources each component's plan changes, under the counts (bounded by the approval's own budget).
  const resources = entries.flatMap((p) =>
    p.resources ? [`      ${p.component}:`, ...p.resources.split('\n').map((r) => `        ${r}`)] : [],
  );
  const head = `${a.approvalId}  ${a.status}  ${a.workflow} on ${a.stack}`;
  if (a.status === 'PENDING')
    return `${head}  expires ${a.expiresAt}\n    ${a.parameters ? `runs with: ${parametersOf(a.parameters)}` : `plan: ${plan || '-'}`}${resources.length ? `\n${resources.join('\n')}` : ''}\n    answer: tropos approve ${a.approvalId} --comment "…" | tropos reject ${a.approvalId} --comment "…"`;
  return `${head}${a.decidedBy ? `  by ${a.decidedBy} at ${a.decidedAt}` : ''}${a.comment ? `  (${a.comment})` : ''}`;
}
