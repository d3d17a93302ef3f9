/**
 * Dependency graphs of components: cycle detection that names the cycle, topological order, levels, and the
 * critical path of a weighted graph. Small and Tropos-specific (cycle naming, "start when your own
 * dependencies end" scheduling), so written here rather than taken from a library.
 */

/** A graph as adjacency: node → the nodes it depends on. */
export type DependencyGraph = ReadonlyMap<string, readonly string[]>;

/** Returns one cycle as a path that starts and ends on the same node, or undefined when there is none. */
export function findCycle(graph: DependencyGraph): string[] | undefined {
  const state = new Map<string, 'visiting' | 'done'>();
  const stack: string[] = [];
  const visit = (node: string): string[] | undefined => {
    state.set(node, 'visiting');
    stack.push(node);
    for (const dep of graph.get(node) ?? []) {
      const s = state.get(dep);
      if (s === 'visiting') return [...stack.slice(stack.indexOf(dep)), dep];
      if (s === undefined && graph.has(dep)) {
        const found = visit(dep);
        if (found) return found;
      }
    }
    stack.pop();
    state.set(node, 'done');
    return undefined;
  };
  for (const node of [...graph.keys()].sort()) {
    if (state.get(node) === undefined) {
      const found = visit(node);
      if (found) return found;
    }
  }
  return undefined;
}

/** Topological order (dependencies first), ties broken by name so the order is stable. Assumes no cycle. */
export function topologicalOrder(graph: DependencyGraph): string[] {
  return levels(graph).flat();
}

/** Levels: level 0 has no dependencies, level n depends on something in level n-1 at most. Assumes no cycle. */
export function levels(graph: DependencyGraph): string[][] {
  const depth = new Map<string, number>();
  const depthOf = (node: string): number => {
    const known = depth.get(node);
    if (known !== undefined) return known;
    const deps = (graph.get(node) ?? []).filter((d) => graph.has(d));
    const d = deps.length === 0 ? 0 : 1 + Math.max(...deps.map(depthOf));
    depth.set(node, d);
    return d;
  };
  const result: string[][] = [];
  for (const node of [...graph.keys()].sort()) {
    const d = depthOf(node);
    (result[d] ??= []).push(node);
  }
  return result;
}

/** The same graph with every edge turned round: for destroy, dependents go first. */
export function reversed(graph: DependencyGraph): Map<string, string[]> {
  const result = new Map<string, string[]>([...graph.keys()].map((k) => [k, []]));
  for (const [node, deps] of graph) {
    for (const dep of deps) if (graph.has(dep)) result.get(dep)?.push(node);
  }
  for (const deps of result.values()) deps.sort();
  return result;
}

/** Earliest finish of every node when each starts the moment its own dependencies end. */
export function earliestFinish(graph: DependencyGraph, duration: (node: string) => number): Map<string, number> {
  const finish = new Map<string, number>();
  for (const node of topologicalOrder(graph)) {
    const start = Math.max(0, ...(graph.get(node) ?? []).filter((d) => graph.has(d)).map((d) => finish.get(d) ?? 0));
    finish.set(node, start + duration(node));
  }
  return finish;
}

/**
 * How long the longest chain from each node to the end takes, the node itself included (each node's "priority" in
 * critical-path scheduling: of the nodes ready at once, the one with the longest remaining chain goes first).
 */
export function remainingPath(graph: DependencyGraph, duration: (node: string) => number): Map<string, number> {
  return earliestFinish(reversed(graph), duration);
}

/**
 * How many nodes depend on each node, directly or through others (a tie-break in critical-path scheduling: of equal
 * remaining chains, the node that holds up more of the graph goes first).
 */
export function dependentCounts(graph: DependencyGraph): Map<string, number> {
  return new Map([...transitiveDependents(graph)].map(([node, after]) => [node, after.size]));
}

/** Every node's dependents, directly or through others. */
function transitiveDependents(graph: DependencyGraph): Map<string, Set<string>> {
  const dependents = reversed(graph);
  const result = new Map<string, Set<string>>();
  for (const start of dependents.keys()) {
    const seen = new Set<string>();
    const stack = [...dependents.get(start)!];
    while (stack.length > 0) {
      const node = stack.pop()!;
      if (seen.has(node)) continue;
      seen.add(node);
      stack.push(...dependents.get(node)!);
    }
    result.set(start, seen);
  }
  return result;
}

/**
 * The graph's width: the most nodes that can ever run at once — the largest set of which none depends on another,
 * directly or not. By Dilworth's theorem it is the fewest chains covering the graph: the nodes less a largest
 * matching of "u comes before v" (augmenting paths, over each node's transitive dependents).
 */
export function width(graph: DependencyGraph): number {
  const names = [...graph.keys()];
  const index = new Map(names.map((n, i) => [n, i]));
  const dependents = transitiveDependents(graph);
  const after = names.map((n) => [...dependents.get(n)!].map((d) => index.get(d)!));
  // matchedTo[v]: the node whose chain continues with v (-1: v starts a chain).
  const matchedTo = names.map(() => -1);
  const augment = (u: number, visited: boolean[]): boolean => {
    for (const v of after[u]!) {
      if (visited[v]) continue;
      visited[v] = true;
      if (matchedTo[v] === -1 || augment(matchedTo[v]!, visited)) {
        matchedTo[v] = u;
        return true;
      }
    }
    return false;
  };
  let matched = 0;
  for (let u = 0; u < names.length; u++) {
    const visited = names.map(() => false);
    if (augment(u, visited)) matched++;
  }
  return names.length - matched;
}

/** The critical path's length: the least wall-clock any schedule can reach. */
export function criticalPathLength(graph: DependencyGraph, duration: (node: string) => number): number {
  return Math.max(0, ...earliestFinish(graph, duration).values());
}

/** What a level-by-level schedule takes: each level waits for the slowest node of the one before. */
export function levelByLevelLength(graph: DependencyGraph, duration: (node: string) => number): number {
  return levels(graph).reduce((sum, level) => sum + Math.max(...level.map(duration)), 0);
}
