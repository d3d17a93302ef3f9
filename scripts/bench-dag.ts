// npm run bench:dag — apply-environment over the seed 001 section 7 dependency graph, through the local engine,
// with the terraform stand-in's apply sleeping each component's duration (seconds, scaled by 1/100; plans are
// instant). The graph is the one the run resolved from the example repository (its tropos.json / Atmos's
// settings.depends_on), read back from the run's records. Prints, for each of BENCH_RUNS runs (default 3; then
// their median ratio, the figure to read): the wall-clock of the apply step
// (first component start to last component end, from the run record), the critical path (the physical limit), the
// sum of durations (the seeds' sequential script), what a level-by-level schedule would take, and
// ratio = wall-clock / critical path. BENCH_DETAIL=1 also prints each component's start, release gap and overhead.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { criticalPathLength, levelByLevelLength } from '../lib/workflow/graph';
import { RunStore } from '../lib/records/run-store';
import { SEED_001_APPLY_SECONDS } from '../test/fixtures/seed-001-durations';
import { startTestPlane, type TestPlane } from '../test/helpers/local';

const SECONDS = SEED_001_APPLY_SECONDS;
const SCALE = 1 / 100;
/** Runs of apply-environment (the figure is their median: one run on a loaded 2-core machine can be an outlier). */
const RUNS = Number(process.env.BENCH_RUNS ?? 3);

async function main(): Promise<void> {
  const duration = (c: string) => (SECONDS[c] ?? 0) * SCALE;

  const t = await startTestPlane({
    layout: (process.env.BENCH_LAYOUT as 'atmos' | 'terraform' | undefined) ?? 'terraform',
    configPath: process.env.BENCH_CONFIG ?? join(__dirname, '..', 'test', 'fixtures', 'terraform-engine.config.yaml'),
  });
  try {
    // What a process costs here: every local build starts several (bash, terraform, sha256sum, tee), five builds
    // deep on the critical path, so the figures below move with it from machine to machine.
    console.log(
      `process start on this machine: ${processStartMs().toFixed(1)} ms (fork and exec of /bin/true from bash, idle)`,
    );
    const ratios: number[] = [];
    for (let i = 1; i <= RUNS; i++) {
      console.log(`— run ${i} of ${RUNS}`);
      ratios.push(await once(t, duration));
    }
    const sorted = [...ratios].sort((a, b) => a - b);
    console.log(
      `ratio over ${RUNS} runs: median ${median(ratios).toFixed(3)}, best ${sorted[0]!.toFixed(3)}, worst ${sorted.at(-1)!.toFixed(3)}   (target <= 1.05)`,
    );
  } finally {
    await t.close();
  }
}

/** One apply-environment run; prints its figures and returns wall-clock / critical path. */
async function once(t: TestPlane, duration: (c: string) => number): Promise<number> {
  t.scenario({
    components: Object.fromEntries(
      Object.keys(SECONDS).map((c) => [c, { applySeconds: duration(c), plan: { add: 1, change: 0, destroy: 0 } }]),
    ),
  });
  const d = await t.run(
    'apply-environment',
    { tenant: 'acme', account: 'dev', environment: 'testenv-01' },
    120_000,
    2000,
  );
  if (d.run.status !== 'SUCCEEDED')
    throw new Error(`the run ${d.run.runId} ended ${d.run.status}: ${d.run.error} ${d.run.cause}`);
  // The graph the run resolved from the repository.
  const resolved = await new RunStore(t.plane.dynamo.documents, t.plane.tables.runs).resolvedComponents(d.run.runId);
  const graph = new Map(resolved.map((c) => [c.name, [...c.dependsOn]]));
  const critical = criticalPathLength(graph, duration);
  const sum = [...graph.keys()].reduce((n, c) => n + duration(c), 0);
  const levelByLevel = levelByLevelLength(graph, duration);
  const applies = d.components.filter((c) => c.step === 'apply');
  const start = Math.min(...applies.map((c) => Date.parse(c.startedAt!)));
  const end = Math.max(...applies.map((c) => Date.parse(c.endedAt!)));
  const wall = (end - start) / 1000;
  const overhead = applies.map(
    (c) => (Date.parse(c.endedAt!) - Date.parse(c.startedAt!)) / 1000 - duration(c.component),
  );
  console.log(
    `apply-environment over ${applies.length} components (run ${d.run.runId}; graph resolved from the repository at ${d.run.commit}: ${[...graph.values()].reduce((n, x) => n + x.length, 0)} dependencies)`,
  );
  console.log(`wall-clock        ${wall.toFixed(2)} s   (apply step: first component start to last component end)`);
  console.log(`critical path     ${critical.toFixed(2)} s   (the physical limit)`);
  console.log(`sum of durations  ${sum.toFixed(2)} s   (the seeds' sequential script)`);
  console.log(`level by level    ${levelByLevel.toFixed(2)} s`);
  console.log(
    `ratio             ${(wall / critical).toFixed(3)}   (target <= 1.05; level by level would be ${(levelByLevel / critical).toFixed(2)})`,
  );
  const byName = new Map(applies.map((c) => [c.component, c]));
  const gaps = applies
    .filter((c) => (graph.get(c.component) ?? []).length > 0)
    .map(
      (c) =>
        (Date.parse(c.startedAt!) -
          Math.max(...graph.get(c.component)!.map((dep) => Date.parse(byName.get(dep)!.endedAt!)))) /
        1000,
    );
  // BENCH_DETAIL=1: each component in the order they started, with its release gap and its build's overhead.
  if (process.env.BENCH_DETAIL)
    for (const c of [...applies].sort((a, b) => Date.parse(a.startedAt!) - Date.parse(b.startedAt!))) {
      const at = Date.parse(c.startedAt!);
      const deps = graph.get(c.component) ?? [];
      const released = deps.length ? Math.max(...deps.map((d) => Date.parse(byName.get(d)!.endedAt!))) : start;
      const over = (Date.parse(c.endedAt!) - at) / 1000 - duration(c.component);
      console.log(
        `  ${c.component.padEnd(16)} start +${((at - start) / 1000).toFixed(3)} s   gap ${((at - released) / 1000).toFixed(3)} s   overhead ${over.toFixed(3)} s`,
      );
    }
  console.log(
    `per-build overhead (build time - sleep): median ${median(overhead).toFixed(2)} s, max ${Math.max(...overhead).toFixed(2)} s`,
  );
  console.log(
    `release gap (start - last dependency end): median ${median(gaps).toFixed(2)} s, max ${Math.max(...gaps).toFixed(2)} s`,
  );
  // The same, against the builds as they ran (each build's own start to end, its processes included): what the
  // scheduling adds — the release gaps — apart from what each build costs on this machine.
  const built = (c: string) => {
    const r = byName.get(c)!;
    return (Date.parse(r.endedAt!) - Date.parse(r.startedAt!)) / 1000;
  };
  const criticalBuilt = criticalPathLength(graph, built);
  console.log(
    `critical path of the builds as they ran ${criticalBuilt.toFixed(2)} s; wall-clock / that ${(wall / criticalBuilt).toFixed(3)}   (the scheduling's own share)`,
  );
  return wall / critical;
}

/** The median over 5 rounds of the mean time bash takes to start and reap /bin/true, 100 times a round, in ms. */
function processStartMs(): number {
  const rounds = Array.from(
    { length: 5 },
    () =>
      Number(
        execFileSync(
          'bash',
          [
            '-c',
            'a=$EPOCHREALTIME; for i in {1..100}; do /bin/true; done; b=$EPOCHREALTIME; echo $(( (${b//[.,]/} - ${a//[.,]/}) / 100 ))',
          ],
          { encoding: 'utf8' },
        ).trim(),
      ) / 1000,
  );
  return median(rounds);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? 0;
}

void main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
