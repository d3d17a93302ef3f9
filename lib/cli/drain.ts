/**
 * How `tropos serve` stops on Ctrl-C without interrupting terraform: every run still running is stopped the way an
 * operator stops one (nothing new starts; builds in flight — an apply — end first), and the control plane closes once
 * no run is left. A second Ctrl-C leaves the builds in flight running on their own (they are detached): the next
 * `tropos serve` adopts their results, as after a crash.
 */
import { ApiError, sleep, type ApiClient } from './client';

interface RunLine {
  readonly runId: string;
  readonly parentRunId?: string;
  readonly workflow?: string;
}

export interface DrainOptions {
  readonly reason: string;
  readonly say: (line: string) => void;
  /** Resolves when the operator does not want to wait (a second Ctrl-C). */
  readonly giveUp: Promise<void>;
  /** Between looks at what still runs (ms). */
  readonly pollMs?: number;
  /** How often a line says what is still being waited for (ms). */
  readonly reportMs?: number;
}

/** Resolves `drained` when no run is left running, `left` when the operator gave up waiting first. */
export async function drainRuns(client: ApiClient, options: DrainOptions): Promise<'drained' | 'left'> {
  const running = async () =>
    (await client.request<{ runs: RunLine[] }>('GET', '/runs?status=RUNNING&limit=1000')).runs;
  let gaveUp = false;
  void options.giveUp.then(() => (gaveUp = true));
  const first = await running();
  if (first.length === 0) return 'drained';
  // Top-level runs only: a stop reaches the runs a run started.
  for (const run of first.filter((r) => !r.parentRunId)) {
    try {
      await client.request('POST', `/runs/${encodeURIComponent(run.runId)}/stop`, { reason: options.reason });
    } catch (e) {
      if (!(e instanceof ApiError && e.status === 409)) throw e; // 409: it ended meanwhile
    }
  }
  options.say(
    `stopping ${first.length} run(s): nothing new starts; builds in flight end first (Ctrl-C again to leave them running: the next \`tropos serve\` records their results)`,
  );
  let reported = Date.now();
  for (;;) {
    if (gaveUp) return 'left';
    const left = await running();
    if (left.length === 0) return 'drained';
    if (Date.now() - reported >= (options.reportMs ?? 10_000)) {
      options.say(`waiting for ${left.map((r) => `${r.runId} (${r.workflow ?? 'run'})`).join(', ')}`);
      reported = Date.now();
    }
    await Promise.race([sleep(options.pollMs ?? 500), options.giveUp]);
  }
}
