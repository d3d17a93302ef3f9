import { dependentCounts, remainingPath, reversed, width } from '../../lib/workflow/graph';

/**
 * The worker pool of a terraform step. The state machine runs an inline Map over at most 40 workers (AWS runs at
 * most 40 inline iterations at once, in an order it does not document); each worker loops: "next" (a task token)
 * → build the component it was given → "next" again with how the build ended → … until it is told the step is
 * done. A worker never holds a component that is not ready: it is handed one only once all of the component's own
 * dependencies succeeded, so every component starts the moment its dependencies end and the state machine's size
 * does not depend on how many components there are.
 *
 * Why it cannot deadlock:
 *  - Invariant: while the step is not done, some component is READY or RUNNING. The graph is acyclic, so among
 *    the components not yet ended there is one whose dependencies have all ended: succeeded (then it was made
 *    READY when the last of them succeeded) or one failed/skipped (then it was SKIPPED — ended — in that same call).
 *  - A RUNNING component belongs to a worker that is not parked: it is building, and will call "next" again.
 *  - A worker parks (stores its token) and only then looks for READY components; whoever makes a component READY,
 *    or ends the step, looks for parked workers only after writing that. Whichever of the two comes second sees
 *    the other (consistent reads), so a READY component and a parked worker never miss each other.
 *  - Hence while the step is not done, either a worker is building (and will come back) or a parked worker and a
 *    READY component meet; when the step is done, every parked worker is told so. A Map that starts fewer than all
 *    workers at once changes nothing: no slot ever waits on a component that is not ready. Nor does the pool's size
 *    (the graph's width, at most 40): the argument holds for any number of workers, one included.
 *
 * Every change is a single-item conditional write (DynamoDB, no transactions: dynalite has none), and each is
 * idempotent — a retried "next" finishes what a failed one left half-done. One item per component, one per parked
 * worker, one for the step: no item grows with the number of task tokens.
 */

/** Where a component of a step stands. */
export type NodeState = 'WAITING' | 'READY' | 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'SKIPPED';

export interface PoolNode {
  readonly component: string;
  /** Its dependencies within this step (dependencies on components outside the step are satisfied). */
  readonly deps: readonly string[];
  readonly dependents: readonly string[];
  readonly state: NodeState;
  /**
   * The estimated seconds from its start to the step's end along its longest chain of dependents (itself included):
   * of the components READY at once, the highest goes first (critical-path scheduling).
   */
  readonly priority: number;
  /**
   * How many components come after it (its dependents, transitively): of equal priorities the higher goes first —
   * on a first run, when every estimate is the same, it holds up more of the step.
   */
  readonly reach: number;
  /** For an apply: the component's reviewed plan (written with the node, so a hand-out reads nothing more). */
  readonly plan?: ReviewedPlan;
}

/** A component's reviewed plan: its SHA-256, and the run whose artifacts hold it (a retry's reused plan: the retried run's). */
export interface ReviewedPlan {
  readonly sha256: string;
  readonly runId: string;
}

export interface ParkedWorker {
  readonly worker: number;
  readonly token: string;
}

export interface PoolStore {
  /** Writes the step's components (READY without dependencies, else WAITING) and its progress item. */
  prepare(runId: string, step: string, nodes: readonly PoolNode[]): Promise<void>;
  node(runId: string, step: string, component: string): Promise<PoolNode | undefined>;
  /** READY components, read consistently, highest priority first. */
  ready(runId: string, step: string): Promise<string[]>;
  /** READY → RUNNING for one worker; the node, or undefined when another took it. */
  claim(runId: string, step: string, component: string, worker: number): Promise<PoolNode | undefined>;
  /** RUNNING → READY (its worker could not be told). */
  unclaim(runId: string, step: string, component: string): Promise<void>;
  /** RUNNING → how it ended (again: idempotent); the node after. */
  finish(runId: string, step: string, component: string, how: 'SUCCEEDED' | 'FAILED'): Promise<PoolNode>;
  /** Notes that `dep` succeeded; the node when this made `component` READY, else undefined. */
  arrive(runId: string, step: string, component: string, dep: string): Promise<PoolNode | undefined>;
  /** WAITING → SKIPPED (SKIPPED again: idempotent); the node when it is SKIPPED now, else undefined. */
  skip(runId: string, step: string, component: string): Promise<PoolNode | undefined>;
  /** Adds components to the step's ended set; the progress after. */
  ended(runId: string, step: string, components: readonly string[]): Promise<{ ended: number; total: number }>;
  progress(runId: string, step: string): Promise<{ ended: number; total: number }>;
  park(runId: string, step: string, worker: number, token: string): Promise<void>;
  parked(runId: string, step: string): Promise<ParkedWorker[]>;
  /** Takes a parked worker's token (only this token: a worker that parked again since is not taken). */
  unpark(runId: string, step: string, worker: number, token: string): Promise<boolean>;
}

/** What a worker is told: build this component, or stop. */
export interface WorkerOrder {
  readonly done: boolean;
  readonly component: string;
  /** For an apply: the SHA-256 of the component's reviewed plan, from the plan step's record ('' when none). */
  readonly planSha256: string;
  /** For an apply: the run whose artifacts hold that plan (a retry's reused plan: the retried run's; '' when none). */
  readonly planRunId: string;
  /** The component's build limit (CodeBuild's timeoutInMinutesOverride); 0 with `done`. */
  readonly timeoutMinutes: number;
}

export interface OrderSender {
  /** Answers a worker's token; false when the token no longer works (its execution ended). */
  send(token: string, order: WorkerOrder): Promise<boolean>;
}

/** Which dependency failure skipped a component, for its record. */
export type SkipRecorder = (component: string, reason: string) => Promise<void>;

export class WorkerPool {
  constructor(
    private readonly store: PoolStore,
    private readonly sender: OrderSender,
    /** A component's build limit in minutes. */
    private readonly minutesOf: (component: string) => number,
  ) {}

  /**
   * The components of a step and their dependencies within it; returns how many workers to start. `seconds` are
   * the components' expected build times (their last builds', or on a stack's first run their build limits: see
   * ComponentGraph.prepare); one without any counts as the median of the others (1 s when none has one). `plans`:
   * each component's reviewed plan, handed out with it (a node without one: see order).
   */
  public async prepare(
    runId: string,
    step: string,
    graph: ReadonlyMap<string, readonly string[]>,
    maxWorkers: number,
    seconds: ReadonlyMap<string, number> = new Map(),
    plans: ReadonlyMap<string, ReviewedPlan> = new Map(),
  ): Promise<number> {
    const dependents = reversed(graph);
    const known = [...graph.keys()].map((c) => seconds.get(c)).filter((s): s is number => s !== undefined);
    const otherwise = known.length > 0 ? median(known) : 1;
    const priority = remainingPath(graph, (c) => seconds.get(c) ?? otherwise);
    const reach = dependentCounts(graph);
    const nodes: PoolNode[] = [...graph].map(([component, deps]) => ({
      component,
      deps: [...deps],
      dependents: dependents.get(component)!,
      state: deps.length === 0 ? 'READY' : 'WAITING',
      priority: priority.get(component)!,
      reach: reach.get(component)!,
      ...(plans.has(component) ? { plan: plans.get(component)! } : {}),
    }));
    await this.store.prepare(runId, step, nodes);
    // As many workers as components can ever run at once (the graph's width), not one per component: a worker
    // more would only park, and every parked worker is a write and a read more at each hand-out.
    return Math.min(maxWorkers, width(graph));
  }

  /**
   * A component ended: its dependents learn it (a success may make them READY, returned highest priority first; a
   * failure skips every component that depends on it, transitively, each with its reason).
   */
  public async finished(
    runId: string,
    step: string,
    component: string,
    how: 'SUCCEEDED' | 'FAILED',
    recordSkip: SkipRecorder,
  ): Promise<string[]> {
    const node = await this.store.finish(runId, step, component, how);
    const ended = [component];
    if (how === 'SUCCEEDED') {
      // Each dependent is its own item: they learn it at once (one round trip, not one per dependent), and the
      // step's count of ended components with them — it cannot reach the total while a dependent has not ended.
      const [arrived] = await Promise.all([
        Promise.all(node.dependents.map((d) => this.store.arrive(runId, step, d, component))),
        this.store.ended(runId, step, ended),
      ]);
      return byPriority(arrived.filter((n): n is PoolNode => n !== undefined));
    }
    const seen = new Set<string>();
    const skipAll = async (parent: string, dependents: readonly string[]): Promise<void> => {
      const why =
        parent === component ? `skipped: ${component} failed` : `skipped: ${parent} skipped (${component} failed)`;
      for (const d of dependents) {
        if (seen.has(d)) continue;
        seen.add(d);
        const skipped = await this.store.skip(runId, step, d);
        if (!skipped) continue;
        await recordSkip(d, why);
        ended.push(d);
        await skipAll(d, skipped.dependents);
      }
    };
    await skipAll(component, node.dependents);
    // The failed component and everything it skipped, counted as ended only now that all of them are written.
    await this.store.ended(runId, step, ended);
    return [];
  }

  /**
   * The short way back to work: a worker whose build just made components READY claims one of them itself and is
   * sent its order at once (no parking, no search). False when it claimed none (others took them first, or there
   * were none): the worker parks then, as always. This is the same as parking and being paired at once, so the
   * argument against deadlock is unchanged; it only saves the round trips of the critical path.
   *
   * A worker's own order takes effect only when this call returns — after every hand-out it makes — while a parked
   * worker starts the moment it is answered. So when this build made several components READY, they go to parked
   * workers (`parked`: read beside the build's end) highest priority first, and this worker takes the last: the
   * components start in priority order. What is left when the parked workers run out stays READY for `dispatch`
   * (which also finds a worker parked since).
   */
  public async take(
    runId: string,
    step: string,
    worker: number,
    token: string,
    madeReady: readonly string[],
    parked: readonly ParkedWorker[] = [],
  ): Promise<boolean> {
    const mine = [...madeReady];
    const others = parked.filter((w) => w.worker !== worker);
    // A worker unparked and parked again (its component was claimed by another call meanwhile): one that made a
    // component READY in between did not see it parked, so this call pairs parked workers once more (dispatch).
    let reparked = false;
    while (mine.length > 1 && others.length > 0) {
      const w = others.shift()!;
      const handed = await this.handOut(runId, step, w, [mine[0]!]);
      if (handed === 'gone') continue; // paired by another call: the next parked worker
      // Sent; or another worker claimed it first (this one is parked again, and may take the next).
      mine.shift();
      if (handed === 'nothing') {
        others.unshift(w);
        reparked = true;
      }
    }
    for (let i = 0; i < mine.length; i++) {
      const component = mine[i]!;
      const node = await this.store.claim(runId, step, component, worker);
      if (!node) continue;
      // A token that no longer works: the execution ended; the component is put back, nobody waits for it.
      if (!(await this.sender.send(token, this.order(node)))) await this.store.unclaim(runId, step, component);
      // What it made READY and no worker took yet, to workers parked now (and one parked again, see above).
      if (i < mine.length - 1 || reparked) await this.dispatch(runId, step);
      return true;
    }
    return false;
  }

  /** Tells a worker it is done (its run stops): it takes nothing more. */
  public async tellDone(token: string): Promise<void> {
    await this.sender.send(token, { done: true, component: '', planSha256: '', planRunId: '', timeoutMinutes: 0 });
  }

  /** Parks a worker, then pairs every parked worker with a READY component (or tells them all the step is done). */
  public async park(runId: string, step: string, worker: number, token: string): Promise<void> {
    await this.store.park(runId, step, worker, token);
    await this.dispatch(runId, step);
  }

  /** The workers parked on a step (read without this call's own writes: only a hint for `take`). */
  public parkedWorkers(runId: string, step: string): Promise<ParkedWorker[]> {
    return this.store.parked(runId, step);
  }

  private async dispatch(runId: string, step: string): Promise<void> {
    for (;;) {
      // Both read after this call's own writes (which is all the argument against deadlock needs), so together.
      const [parked, ready] = await Promise.all([this.store.parked(runId, step), this.store.ready(runId, step)]);
      if (parked.length === 0) return;
      if (ready.length === 0) {
        const p = await this.store.progress(runId, step);
        if (p.ended < p.total) return; // something is running: its worker comes back
        for (const w of parked)
          if (await this.store.unpark(runId, step, w.worker, w.token))
            await this.sender.send(w.token, {
              done: true,
              component: '',
              planSha256: '',
              planRunId: '',
              timeoutMinutes: 0,
            });
        return;
      }
      for (const w of parked) {
        if (ready.length === 0) break;
        // Others took them all: the worker waits again (the loop reads afresh).
        if ((await this.handOut(runId, step, w, ready)) === 'nothing') break;
      }
      // Read afresh: more may be parked or READY by now; the loop ends when either list is empty.
    }
  }

  /**
   * Pairs a parked worker with the first of `candidates` it can claim (each tried is taken off the list): 'sent'
   * once it is told; 'gone' when it was no longer parked (another call paired it); 'nothing' when none could be
   * claimed — it is parked again.
   */
  private async handOut(
    runId: string,
    step: string,
    w: ParkedWorker,
    candidates: string[],
  ): Promise<'sent' | 'gone' | 'nothing'> {
    if (!(await this.store.unpark(runId, step, w.worker, w.token))) return 'gone';
    let node: PoolNode | undefined;
    while (!node && candidates.length > 0) node = await this.store.claim(runId, step, candidates.shift()!, w.worker);
    if (!node) {
      await this.store.park(runId, step, w.worker, w.token);
      return 'nothing';
    }
    // A token that no longer works: its execution ended, nobody builds the component (nor is it parked again).
    if (!(await this.sender.send(w.token, this.order(node)))) await this.store.unclaim(runId, step, node.component);
    return 'sent';
  }

  private order(node: PoolNode): WorkerOrder {
    return {
      done: false,
      component: node.component,
      // A node without a reviewed plan was written by an earlier Tropos (a run in flight across an upgrade): its
      // apply must refuse (PlanMismatch), never take "no hash" for "nothing to apply".
      planSha256: node.plan?.sha256 ?? 'unknown (this step was prepared by an earlier Tropos version: plan again)',
      planRunId: node.plan?.runId ?? '',
      timeoutMinutes: this.minutesOf(node.component),
    };
  }
}

/** Names, highest priority first, then the widest reach (then by name: the same order every time). */
export function byPriority(nodes: readonly PoolNode[]): string[] {
  return [...nodes]
    .sort((a, b) => b.priority - a.priority || b.reach - a.reach || a.component.localeCompare(b.component))
    .map((n) => n.component);
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}
