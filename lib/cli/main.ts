import { Command, CommanderError, Option } from 'commander';
import { join } from 'node:path';
import { ROOT } from '../root';
import { ProgressPrinter } from './progress';
import type { ApprovalView } from '../records/approval-store';
import type { ComponentRecord, Run, RunDetail, StepRecord } from '../records/run';
import { Catalog } from '../workflow/catalog';
import { loadWorkflows, Workflow } from '../workflow/load';
import {
  announceServer,
  ApiClient,
  ApiError,
  connect,
  Connection,
  localUser,
  runRecord,
  sleep,
  UsageError,
  withdrawServer,
} from './client';
import { drainRuns } from './drain';
import { CredentialsError } from './sigv4';
import { describeWorkflow, dotGraph, mermaidGraph } from './describe';
import { driftSweep, EnvironmentView, environmentsTable, sweepSummary } from './environments';
import {
  approvalLine,
  columns,
  componentLine,
  duration,
  failureReason,
  oneLine,
  planReview,
  retryHint,
  runTable,
  stepLine,
} from './format';

/** Exit codes: 0 success, 1 the run failed, 2 bad usage. */
export const EXIT = { ok: 0, failed: 1, usage: 2, interrupted: 130 } as const;

interface Io {
  readonly out: (s: string) => void;
  readonly err: (s: string) => void;
}

function definitions(): { catalog: Catalog; workflows: Map<string, Workflow> } {
  const catalog = Catalog.fromFile(join(ROOT, 'catalog', 'components.yaml'));
  return { catalog, workflows: loadWorkflows(join(ROOT, 'workflows'), catalog) };
}

function workflowNamed(name: string): { wf: Workflow; catalog: Catalog } {
  const { catalog, workflows } = definitions();
  const wf = workflows.get(name);
  if (!wf) throw new UsageError(`unknown workflow "${name}"; allowed: ${[...workflows.keys()].sort().join(', ')}`);
  return { wf, catalog };
}

/** `key=value` pairs (the Atmos shape) into an input object. */
export function parseParams(pairs: readonly string[]): Record<string, string> {
  const input: Record<string, string> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new UsageError(`"${pair}" is not key=value (for example tenant=acme)`);
    input[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return input;
}

/**
 * Prints the run's progress, one line per step and component as they change, until it ends — in the order the
 * events happened (see ./progress.ts).
 */
async function follow(
  conn: Connection,
  runId: string,
  io: Io,
  options: { json: boolean; dryRun: boolean },
): Promise<RunDetail> {
  const printed = new Map<string, string>();
  const childPrinted = new Set<string>();
  const printer = new ProgressPrinter((line) => io.out(line));
  const started = Date.now();
  let detail: RunDetail | undefined;
  for (;;) {
    detail = (await runRecord(conn, runId, started)) ?? detail;
    if (detail && !options.json) {
      report(detail, printed, printer, options, '');
      const children = (
        await conn.client.request<{ runs: Run[] }>('GET', `/runs?parentRunId=${encodeURIComponent(runId)}`)
      ).runs;
      for (const child of children.reverse()) {
        if (!childPrinted.has(child.runId)) {
          childPrinted.add(child.runId);
          printer.add(child.startedAt, `  ↳ ${child.workflow} ${child.stack ?? ''} (run ${child.runId})`);
        }
        const childDetail = await conn.client.request<RunDetail>('GET', `/runs/${encodeURIComponent(child.runId)}`);
        report(childDetail, printed, printer, options, '    ');
      }
    }
    const ended = detail !== undefined && detail.run.status !== 'RUNNING';
    printer.flush(ended);
    if (ended) return detail!;
    await sleep(250);
  }
}

/** The lines of what changed in a run since the last read, each at the time its event happened. */
function report(
  d: RunDetail,
  printed: Map<string, string>,
  printer: ProgressPrinter,
  options: { dryRun: boolean },
  indent: string,
): void {
  const show = (key: string, state: string, at: string | undefined, line: string): boolean => {
    if (printed.get(key) === state) return false;
    printed.set(key, state);
    printer.add(at, line);
    return true;
  };
  for (const c of d.components) {
    const key = `${d.run.runId}/${c.step}/${c.component}`;
    if (c.status === 'RUNNING' && printed.has(key)) continue;
    const at = c.status === 'RUNNING' ? c.startedAt : (c.endedAt ?? c.startedAt);
    let line = componentLine(c, indent);
    if (options.dryRun && c.status === 'SUCCEEDED')
      line = [line, ...dryRunCommands(c).map((cmd) => `${indent}    ${cmd}`)].join('\n');
    show(key, c.status, at, line);
  }
  for (const s of d.steps as StepRecord[])
    show(`${d.run.runId}/step/${s.step}`, s.status, s.endedAt, stepLine(s, indent));
  for (const a of d.approvals)
    show(
      `${d.run.runId}/approval/${String(a.approvalId)}`,
      String(a.status),
      String(a.decidedAt ?? a.requestedAt ?? ''),
      `${indent}? approval ${String(a.approvalId)} ${String(a.status)}: answer with tropos approve|reject ${String(a.approvalId)}`,
    );
}

/** The commands a dry-run build printed (its `[dry-run]` lines), from the build log on this machine. */
function dryRunCommands(c: ComponentRecord): string[] {
  if (!c.logs || !c.logs.startsWith('/')) return [];
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const text = (require('node:fs') as typeof import('node:fs')).readFileSync(c.logs, 'utf8');
    return text
      .split('\n')
      .filter((l) => l.startsWith('[dry-run] '))
      .map((l) => l.slice('[dry-run] '.length));
  } catch {
    return [];
  }
}

/** `--port`: a port on 127.0.0.1 (`tropos serve`, `tropos ui`). */
function portOption(help: string): Option {
  return new Option('--port <port>', help).argParser((v) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1 || n > 65535)
      throw new UsageError(`--port: "${v}" is not a port number (1-65535)`);
    return n;
  });
}

/** Resolves when the process is interrupted (Ctrl-C) or told to stop. */
function interrupted(): Promise<void> {
  return new Promise<void>((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
}

export function buildProgram(io: Io, setExit: (code: number) => void): Command {
  const program = new Command('tropos')
    .description('Terraform / Atmos workflows as Step Functions state machines — locally or on AWS.')
    .option('--data-dir <dir>', 'where the local control plane keeps its data', join(process.cwd(), '.tropos'))
    .option(
      '--server <url>',
      'a Tropos API to use (default: a running `tropos serve`, else one started for the command)',
    )
    .option(
      '--infra-dir <path>',
      'the infrastructure repository a local control plane runs in (default: $TROPOS_INFRA_DIR, else infrastructure.localPath of the configuration, else examples/)',
    )
    .option(
      '--as <user>',
      'the local user to act as (default: $TROPOS_USER, else your login name); the local control plane records it as the caller without authenticating it',
    )
    .configureOutput({ writeOut: (s) => io.out(s.trimEnd()), writeErr: (s) => io.err(s.trimEnd()) })
    .exitOverride()
    // Options belong to the command they follow: `tropos --server URL runs show ID --json`.
    .enablePositionalOptions()
    .showHelpAfterError('(tropos --help lists the commands)');
  const global = () => program.opts<{ dataDir: string; server?: string; as?: string; infraDir?: string }>();
  /** The API the command talks to, from the global options (a control plane of its own when none runs). */
  const connectAs = (quiet: boolean) => {
    const g = global();
    return connect({ dataDir: g.dataDir, server: g.server, as: g.as, infraDir: g.infraDir, quiet });
  };

  program
    .command('workflow')
    .description('run a workflow: tropos workflow apply-environment tenant=acme account=dev environment=testenv-01')
    .argument('<name>', 'the workflow (tropos describe <name> shows its inputs)')
    .argument('[params...]', 'inputs as key=value')
    .option('--from-step <step>', 'start from this step, skipping the ones before it')
    .option('--dry-run', 'run the whole workflow, but each terraform step prints the commands it would run')
    .option('--json', 'print the run record as JSON at the end, and no progress')
    .action(async (name: string, params: string[], opts: { fromStep?: string; dryRun?: boolean; json?: boolean }) => {
      workflowNamed(name);
      const input: Record<string, unknown> = parseParams(params);
      if (opts.fromStep) input.fromStep = opts.fromStep;
      if (opts.dryRun) input.dryRun = true;
      const conn = await connectAs(!!opts.json);
      try {
        let started: { runId: string };
        try {
          started = await conn.client.request<{ runId: string }>('POST', '/runs', { workflow: name, input });
        } catch (e) {
          if (e instanceof ApiError && e.status === 400) {
            const problems = e.body.problems?.map((p) => `  ${p.field}: ${p.problem}`).join('\n') ?? `  ${e.message}`;
            throw new UsageError(`${name}: invalid input\n${problems}\n(tropos describe ${name} shows what it takes)`);
          }
          throw e;
        }
        if (!opts.json)
          io.out(
            `Run ${started.runId}: ${name}${opts.dryRun ? ' (dry run: terraform steps print their commands)' : ''}`,
          );
        await followToEnd(conn, started.runId, { json: !!opts.json, dryRun: !!opts.dryRun });
      } finally {
        await conn.close();
      }
    });

  /** Follows a run to its end (progress, then how it ended and, when it failed, why and how to retry). */
  const followToEnd = async (conn: Connection, runId: string, opts: { json: boolean; dryRun: boolean }) => {
    const detail = await follow(conn, runId, io, opts);
    const run = detail.run;
    if (opts.json) io.out(JSON.stringify(detail, null, 2));
    else {
      io.out(
        `\n${run.status === 'SUCCEEDED' ? '✓' : '✗'} ${run.workflow} ${run.status} in ${duration(run.startedAt, run.endedAt)}  (run ${run.runId}; tropos runs show ${run.runId})`,
      );
      if (run.status !== 'SUCCEEDED') io.out(`  ${failureReason(run)}`);
      const retry = retryHint(run);
      if (retry) io.out(`  ${retry}`);
    }
    setExit(run.status === 'SUCCEEDED' ? EXIT.ok : EXIT.failed);
  };

  const runs = program
    .command('runs')
    .description('list runs, newest first')
    // `runs show <id> --json`: options after `show` are show's.
    .enablePositionalOptions()
    .option('--stack <stack>', 'only this stack')
    .option('--workflow <workflow>', 'only this workflow')
    .option('--status <status>', 'only this status (RUNNING, SUCCEEDED, FAILED, TIMED_OUT, ABORTED)')
    .option('--json', 'as JSON')
    .action(async (opts: { stack?: string; workflow?: string; status?: string; json?: boolean }) => {
      const conn = await connectAs(true);
      try {
        const q = new URLSearchParams(
          Object.entries({ stack: opts.stack, workflow: opts.workflow, status: opts.status }).filter(([, v]) => v) as [
            string,
            string,
          ][],
        );
        const { runs: list } = await conn.client.request<{ runs: Run[] }>('GET', `/runs${q.size ? `?${q}` : ''}`);
        if (opts.json) io.out(JSON.stringify(list, null, 2));
        else if (list.length === 0) io.out('no runs');
        else
          for (const line of columns(
            ['RUN', 'STATUS', 'STACK', 'STARTED', 'TIME', 'REASON'],
            list.map((r) => [
              r.runId,
              r.status,
              r.stack ?? '-',
              r.startedAt,
              duration(r.startedAt, r.endedAt),
              r.status === 'SUCCEEDED' || r.status === 'RUNNING' ? '' : oneLine(failureReason(r), 100),
            ]),
          ))
            io.out(line);
      } finally {
        await conn.close();
      }
    });
  runs
    .command('show')
    .description('a run as a table of steps and components')
    .argument('<runId>')
    .option('--json', 'as JSON')
    .action(async (runId: string, opts: { json?: boolean }) => {
      const conn = await connectAs(true);
      try {
        const detail = await runDetail(conn, runId);
        // The runs it started (promote's stages, onboarding's deploy), newest first.
        const { runs: children } = await conn.client.request<{ runs: Run[] }>(
          'GET',
          `/runs?parentRunId=${encodeURIComponent(runId)}`,
        );
        io.out(opts.json ? JSON.stringify({ ...detail, children }, null, 2) : runTable(detail, children));
      } finally {
        await conn.close();
      }
    });

  program
    .command('logs')
    .description("a build's log, through the API (locally its file; on AWS CloudWatch Logs)")
    .argument('<runId>')
    .argument('[component]', "the component (default: the run's failed build, or its only one)")
    .option('--step <step>', "the step (default: the component's last)")
    .option('--follow', 'keep printing while the build runs, until it ends')
    .action(async (runId: string, component: string | undefined, opts: { step?: string; follow?: boolean }) => {
      const conn = await connectAs(true);
      try {
        let nextToken = '';
        for (;;) {
          const q = new URLSearchParams(
            Object.entries({ component, step: opts.step, nextToken }).filter(([, v]) => v) as [string, string][],
          );
          const page = await conn.client
            .request<{ lines: string[]; nextToken: string; complete: boolean }>(
              'GET',
              `/runs/${encodeURIComponent(runId)}/logs${q.size ? `?${q}` : ''}`,
            )
            .catch((e: unknown) => {
              if (e instanceof ApiError && [400, 404].includes(e.status)) throw new UsageError(e.message);
              throw e;
            });
          for (const line of page.lines) io.out(line);
          const more = page.nextToken && page.nextToken !== nextToken;
          nextToken = page.nextToken;
          if (page.complete || (!opts.follow && !more)) break;
          if (!more) await sleep(1000);
        }
      } finally {
        await conn.close();
      }
    });

  runs
    .command('retry')
    .description(
      'run again what a failed run did not get done: a new run, linked to it, that reuses what succeeded (approved plans included, while their commit and SHA-256 hold)',
    )
    .argument('<runId>', 'the run that failed (or was stopped)')
    .option('--json', 'print the new run record as JSON at the end, and no progress')
    .action(async (runId: string, opts: { json?: boolean }) => {
      const conn = await connectAs(!!opts.json);
      try {
        const started = await conn.client
          .request<{ runId: string; workflow: string; input: Record<string, unknown> }>(
            'POST',
            `/runs/${encodeURIComponent(runId)}/retry`,
            {},
          )
          .catch((e: unknown) => {
            if (e instanceof ApiError && [400, 403, 404, 409].includes(e.status)) {
              const problems = e.body.problems?.map((p) => `\n  ${p.field}: ${p.problem}`).join('') ?? '';
              throw new UsageError(`${e.message}${problems}`);
            }
            throw e;
          });
        if (!opts.json) {
          const only = typeof started.input.components === 'string' ? ` (components ${started.input.components})` : '';
          io.out(`Run ${started.runId}: ${started.workflow}, retrying run ${runId}${only}`);
        }
        await followToEnd(conn, started.runId, { json: !!opts.json, dryRun: started.input.dryRun === true });
      } finally {
        await conn.close();
      }
    });

  runs
    .command('stop')
    .description(
      'stop a run: nothing new starts; builds in flight (an apply) end first, then the run ends ABORTED (recorded)',
    )
    .argument('<runId>')
    .requiredOption('--reason <text>', 'why (recorded on the run)')
    .action(async (runId: string, opts: { reason: string }) => {
      const conn = await connectAs(true);
      try {
        const answer = await conn.client
          .request<{ status: string; message?: string }>('POST', `/runs/${encodeURIComponent(runId)}/stop`, {
            reason: opts.reason,
          })
          .catch((e: unknown) => {
            if (e instanceof ApiError && [400, 403, 404, 409].includes(e.status)) throw new UsageError(e.message);
            throw e;
          });
        io.out(
          answer.status === 'ABORTED'
            ? `${runId}: stopped (no build was in flight)`
            : `${runId}: stopping: ${answer.message ?? 'builds in flight end first'}`,
        );
      } finally {
        await conn.close();
      }
    });

  program
    .command('unlock')
    .description(
      "give a stack's lock back (refused while the run holding it still runs, unless --force; recorded on that run)",
    )
    .argument('<stack>', 'the stack: <tenant>-<account>-<environment>')
    .requiredOption('--reason <text>', 'why (recorded on the run that held the lock)')
    .option('--force', 'even though the run holding it still runs (stop it first if you can: tropos runs stop)')
    .action(async (stack: string, opts: { reason: string; force?: boolean }) => {
      const conn = await connectAs(true);
      try {
        const answer = await conn.client
          .request<{ holder: string; workflow: string; holderStatus: string; forced: boolean }>(
            'POST',
            `/stacks/${encodeURIComponent(stack)}/unlock`,
            { reason: opts.reason, ...(opts.force ? { force: true } : {}) },
          )
          .catch((e: unknown) => {
            if (e instanceof ApiError && [400, 403, 404, 409].includes(e.status)) throw new UsageError(e.message);
            throw e;
          });
        io.out(
          `${stack}: unlocked${answer.forced ? ' (forced)' : ''}; it was held by run ${answer.holder} (${answer.workflow}, ${answer.holderStatus})`,
        );
      } finally {
        await conn.close();
      }
    });

  program
    .command('approvals')
    .description('approvals, newest first (default: the pending ones)')
    .option('--status <status>', 'PENDING, APPROVED, REJECTED, EXPIRED, or all', 'PENDING')
    .option('--json', 'as JSON')
    .action(async (opts: { status: string; json?: boolean }) => {
      const conn = await connectAs(true);
      try {
        const q = opts.status.toLowerCase() === 'all' ? '' : `?status=${encodeURIComponent(opts.status.toUpperCase())}`;
        const { approvals } = await conn.client.request<{ approvals: ApprovalView[] }>('GET', `/approvals${q}`);
        if (opts.json) io.out(JSON.stringify(approvals, null, 2));
        else if (approvals.length === 0)
          io.out(`no ${opts.status.toLowerCase() === 'all' ? '' : `${opts.status.toLowerCase()} `}approvals`);
        else for (const a of approvals) io.out(approvalLine(a));
      } finally {
        await conn.close();
      }
    });
  for (const decision of ['approve', 'reject'] as const) {
    program
      .command(decision)
      .description(`${decision} a pending approval (tropos approvals lists them)`)
      .argument('<approvalId>', 'the approval: <runId>.<step>')
      .option('--comment <text>', 'why (recorded with the decision)')
      .action(async (id: string, opts: { comment?: string }) => {
        const conn = await connectAs(true);
        try {
          const a = await conn.client
            .request<ApprovalView>('POST', `/approvals/${encodeURIComponent(id)}`, {
              decision,
              ...(opts.comment ? { comment: opts.comment } : {}),
            })
            .catch((e: unknown) => {
              if (e instanceof ApiError && [400, 403, 404, 409].includes(e.status)) throw new UsageError(e.message);
              throw e;
            });
          io.out(
            `${a.approvalId}: ${a.status.toLowerCase()} by ${a.decidedBy} at ${a.decidedAt}${a.comment ? ` (${a.comment})` : ''}`,
          );
        } finally {
          await conn.close();
        }
      });
  }

  program
    .command('envs')
    .description('registered environments: status, CIDR, tier and what their last drift check found')
    .option('--tenant <tenant>', 'only this tenant')
    .addOption(
      new Option('--status <status>', 'only this status').choices(['onboarding', 'active', 'failed', 'destroyed']),
    )
    .option('--drifted', 'only the environments whose last check found drift')
    .option('--json', 'as JSON')
    .action(async (opts: { tenant?: string; status?: string; drifted?: boolean; json?: boolean }) => {
      const conn = await connectAs(true);
      try {
        const q = new URLSearchParams(
          Object.entries({ tenant: opts.tenant, status: opts.status }).filter(([, v]) => v) as [string, string][],
        );
        const { environments } = await conn.client.request<{ environments: EnvironmentView[] }>(
          'GET',
          `/environments${q.size ? `?${q}` : ''}`,
        );
        const shown = opts.drifted ? environments.filter((e) => (e.lastDrift?.drifted.length ?? 0) > 0) : environments;
        io.out(opts.json ? JSON.stringify(shown, null, 2) : environmentsTable(shown));
      } finally {
        await conn.close();
      }
    });

  program
    .command('drift-sweep')
    .description(
      'check every active environment for drift now, as the schedule does (drift-detection per environment, ' +
        'drift.maxConcurrency at once); exits 0 when every check ran, 1 when one could not',
    )
    .option('--json', 'print the outcome as JSON at the end, and no progress')
    .action(async (opts: { json?: boolean }) => {
      const conn = await connectAs(!!opts.json);
      try {
        const outcome = await driftSweep(conn, io.out, { quiet: !!opts.json });
        io.out(opts.json ? JSON.stringify(outcome, null, 2) : sweepSummary(outcome));
        const allChecked = outcome.status === 'SUCCEEDED' && outcome.checks.every((c) => c.drifted);
        setExit(allChecked ? EXIT.ok : EXIT.failed);
      } finally {
        await conn.close();
      }
    });

  program
    .command('describe')
    .description("a workflow's inputs, steps and an example console input")
    .argument('<workflow>')
    .action((name: string) => {
      const { wf, catalog } = workflowNamed(name);
      io.out(describeWorkflow(wf, catalog));
    });

  program
    .command('plan')
    .description('plan review')
    .command('show')
    .description(
      "a run's plans: per component its counts and each resource that changes (create +, update ~, destroy -, replace -/+, moved →, import ⇐), the plan's SHA-256 and where its full text is",
    )
    .argument('<runId>')
    .argument('[component]', 'only this component')
    .option('--step <step>', 'the plan step (default: every step that made plans)')
    .option('--text', "each plan's rendered text too (terraform show), through the API")
    .option('--json', 'as JSON')
    .action(
      async (runId: string, component: string | undefined, opts: { step?: string; text?: boolean; json?: boolean }) => {
        const conn = await connectAs(true);
        try {
          const detail = await runDetail(conn, runId);
          const planned = detail.components.filter((c) => c.plan);
          const steps = [...new Set(planned.map((c) => c.step))];
          if (opts.step && !steps.includes(opts.step))
            throw new UsageError(
              `--step ${opts.step}: run ${runId} made no plans in that step; its plan steps: ${steps.join(', ') || 'none'}`,
            );
          const components = [...new Set(planned.map((c) => c.component))];
          if (component && !components.includes(component))
            throw new UsageError(
              `${component}: run ${runId} has no plan of that component; planned: ${components.join(', ') || 'none'}`,
            );
          const shown = planned.filter(
            (c) => (!opts.step || c.step === opts.step) && (!component || c.component === component),
          );
          const text = async (c: ComponentRecord) =>
            (
              await conn.client.request<{ text: string; truncated: boolean }>(
                'GET',
                `/runs/${encodeURIComponent(runId)}/plans/${encodeURIComponent(c.component)}?step=${encodeURIComponent(c.step)}`,
              )
            ).text;
          if (opts.json) {
            const withText = opts.text
              ? await Promise.all(shown.map(async (c) => ({ ...c, text: await text(c) })))
              : shown;
            return void io.out(JSON.stringify(withText, null, 2));
          }
          if (shown.length === 0) return void io.out(`run ${runId} made no plans (yet)`);
          for (const c of shown) {
            io.out(planReview(c));
            if (opts.text)
              io.out(
                [
                  '',
                  ...(await text(c))
                    .trimEnd()
                    .split('\n')
                    .map((l) => `    ${l}`),
                  '',
                ].join('\n'),
              );
          }
        } finally {
          await conn.close();
        }
      },
    );

  program
    .command('graph')
    .description('the compiled workflow as one diagram, its terraform steps as clusters (Mermaid, or Graphviz dot)')
    .argument('<workflow>')
    .addOption(
      new Option('--format <format>', 'mermaid or dot').default('mermaid').argParser((v) => {
        if (v !== 'mermaid' && v !== 'dot')
          throw new UsageError(`--format: "${v}" is not allowed; allowed: mermaid, dot`);
        return v;
      }),
    )
    .action((name: string, opts: { format: 'mermaid' | 'dot' }) => {
      const { wf, catalog } = workflowNamed(name);
      io.out(opts.format === 'dot' ? dotGraph(wf, catalog) : mermaidGraph(wf, catalog));
    });

  program
    .command('ui')
    .description(
      'a web page on 127.0.0.1 over the API (runs, a run live, plan review with approve / reject, environments, stop, retry) until interrupted',
    )
    .addOption(portOption('port on 127.0.0.1 (default: any free one)'))
    .action(async (opts: { port?: number }) => {
      const conn = await connectAs(false);
      try {
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        const { startUi } = require('../ui/server') as typeof import('../ui/server');
        const ui = await startUi({ client: conn.client, ...(opts.port ? { port: opts.port } : {}) });
        io.out(`Tropos UI: open ${ui.openUrl}`);
        io.out(
          `(over ${conn.client.url}; the link carries this session's token: any other page or process is refused; Ctrl-C stops it)`,
        );
        await interrupted();
        await ui.close();
      } finally {
        await conn.close();
      }
    });

  program
    .command('serve')
    .description('run the local control plane (HTTP API on 127.0.0.1) until interrupted')
    .addOption(portOption('port on 127.0.0.1'))
    .action(async (opts: { port?: number }) => {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const { ControlPlane } = require('../local/control-plane') as typeof import('../local/control-plane');
      const plane = await ControlPlane.start({
        dataDir: global().dataDir,
        ...(opts.port ? { port: opts.port } : {}),
        ...(global().infraDir ? { infraDir: global().infraDir } : {}),
        onSynthesize: (why) => io.err(`Synthesizing the app (${why})…`),
      }).catch((e: Error) => {
        throw e.name === 'InfraDirError' ? new UsageError(e.message) : e;
      });
      announceServer(global().dataDir, plane.url);
      io.out(`Tropos control plane on ${plane.url} (data in ${global().dataDir}); Ctrl-C stops it.`);
      await interrupted();
      withdrawServer(global().dataDir);
      // Terraform is never interrupted: runs are stopped as an operator stops them, then the plane closes.
      const outcome = await drainRuns(new ApiClient(plane.url, localUser()), {
        reason: 'tropos serve was stopped (Ctrl-C)',
        say: (line) => io.out(line),
        giveUp: interrupted(),
      });
      if (outcome === 'left') {
        io.out(
          'leaving the builds in flight running on their own; the next `tropos serve` records their results and ends their runs',
        );
        // As after a crash: the builds are detached and survive this process; closing the plane would stop them.
        process.exit(EXIT.interrupted);
      }
      io.out('stopping…');
      await plane.close();
    });

  program
    .command('outbox')
    .description('notifications published by the local control plane (SNS locally)')
    .action(async () => {
      const conn = await connectAs(true);
      try {
        const { messages } = await conn.client.request<{
          messages: { publishedAt: string; subject?: string; message: string }[];
        }>('GET', '/local/outbox');
        if (messages.length === 0) io.out('outbox is empty');
        for (const m of messages) io.out(`--- ${m.publishedAt}  ${m.subject ?? ''}\n${m.message}`);
      } finally {
        await conn.close();
      }
    });
  return program;
}

/** Runs the CLI; resolves to the exit code. */
export async function main(
  argv: readonly string[],
  io: Io = { out: (s) => console.log(s), err: (s) => console.error(s) },
): Promise<number> {
  let code: number = EXIT.ok;
  const program = buildProgram(io, (c) => (code = c));
  try {
    await program.parseAsync(argv, { from: 'user' });
    return code;
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.exitCode === 0) return EXIT.ok; // --help, --version
      return EXIT.usage;
    }
    if (e instanceof UsageError) {
      io.err(`tropos: ${e.message}`);
      return EXIT.usage;
    }
    if (e instanceof ApiError) {
      io.err(`tropos: the API answered ${e.status} ${e.body.error ?? ''}: ${e.message}`);
      return e.status < 500 ? EXIT.usage : EXIT.failed;
    }
    if (e instanceof CredentialsError) {
      io.err(`tropos: ${e.message}`);
      return EXIT.usage;
    }
    io.err(`tropos: ${(e as Error).stack ?? String(e)}`);
    return EXIT.failed;
  }
}

/** A run with everything recorded about it; an unknown id is a usage error that says where the ids are. */
async function runDetail(conn: Connection, runId: string): Promise<RunDetail> {
  return conn.client.request<RunDetail>('GET', `/runs/${encodeURIComponent(runId)}`).catch((e: unknown) => {
    if (e instanceof ApiError && e.status === 404) throw new UsageError(`no run ${runId} (tropos runs lists them)`);
    throw e;
  });
}
