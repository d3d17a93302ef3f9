// npm run bench:scale — apply-environment at prod tier over a generated 200-component stack, through the local
// engine (the synthesized state machines, the terraform stand-in): Tropos's configuration and catalog unchanged,
// the stack added to a copy of the example repository (Atmos layout: components/terraform/<c>, a catalog file per
// component with settings.depends_on, one prod stack importing them all). The approval is answered through the API.
// Prints the execution's history events and largest payload beside Step Functions' limits, the wall-clock of the
// apply step beside its critical path, and how long the whole run took.
//   BENCH_COMPONENTS (default 200), BENCH_APPLY_SECONDS (each apply's sleep, default 0.05), BENCH_SEED.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AWS_LIMITS } from '../lib/limits/aws-limits';
import { RunStore } from '../lib/records/run-store';
import { criticalPathLength } from '../lib/workflow/graph';
import { startTestPlane } from '../test/helpers/local';

const N = Number(process.env.BENCH_COMPONENTS ?? 200);
const APPLY_SECONDS = Number(process.env.BENCH_APPLY_SECONDS ?? 0.05);
const STACK = { tenant: 'acme', account: 'prod', environment: 'big' };

/** A random acyclic graph, reproducible: each component depends on up to 3 earlier ones. */
function graphOf(n: number, seed: number): Map<string, string[]> {
  let x = seed;
  const rand = () => (x = (x * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const names = Array.from({ length: n }, (_, i) => `svc-${String(i).padStart(3, '0')}`);
  return new Map(
    names.map((name, i) => [
      name,
      i === 0
        ? []
        : [...new Set(Array.from({ length: 1 + Math.floor(rand() * 3) }, () => names[Math.floor(rand() * i)]!))].sort(),
    ]),
  );
}

/** Writes the components and the stack into an Atmos repository. */
function writeStack(repo: string, graph: Map<string, string[]>): void {
  for (const [name, deps] of graph) {
    mkdirSync(join(repo, 'components', 'terraform', name), { recursive: true });
    writeFileSync(
      join(repo, 'components', 'terraform', name, 'main.tf'),
      'terraform {\n  backend "s3" {}\n}\n\nresource "terraform_data" "this" {}\n',
    );
    const dependsOn = deps.map((d, i) => `          ${i + 1}:\n            component: ${d}\n`).join('');
    writeFileSync(
      join(repo, 'stacks', 'catalog', `${name}.yaml`),
      `components:\n  terraform:\n    ${name}:\n${deps.length ? `      settings:\n        depends_on:\n${dependsOn}` : ''}      vars: {}\n`,
    );
  }
  writeFileSync(
    join(repo, 'stacks', 'orgs', 'acme', 'prod', 'big.yaml'),
    [
      'import:',
      ...[...graph.keys()].map((c) => `  - catalog/${c}`),
      'vars:',
      '  tenant: acme',
      '  account: prod',
      '  stage: prod',
      '  environment: big',
      '  region: us-east-1',
      '  vpc_cidr: "10.200.0.0/16"',
      'terraform:',
      '  backend_type: s3',
      '  backend:',
      '    s3:',
      '      bucket: acme-terraform-state',
      '      region: us-east-1',
      '',
    ].join('\n'),
  );
}

async function main(): Promise<void> {
  const graph = graphOf(N, Number(process.env.BENCH_SEED ?? 42));
  const t = await startTestPlane();
  try {
    writeStack(t.infraDir, graph);
    t.scenario({ default: { plan: { add: 1, change: 0, destroy: 0 }, applySeconds: APPLY_SECONDS } });
    const started = Date.now();
    const res = await t.post('/runs', { workflow: 'apply-environment', input: STACK });
    if (res.status !== 202) throw new Error(`POST /runs answered ${res.status}: ${JSON.stringify(res.body)}`);
    const runId = String(res.body.runId);
    console.log(`apply-environment at prod tier over ${N} components (run ${runId}); waiting for its approval...`);
    await t.waitFor(runId, (d) => d.approvals.length > 0 || d.run.status !== 'RUNNING', 3_600_000, 2000);
    const approved = await t.post(`/approvals/${runId}.approve`, { decision: 'approve', comment: 'bench' });
    if (approved.status !== 200)
      throw new Error(`the approval answered ${approved.status}: ${JSON.stringify(approved.body)}`);
    const d = await t.waitFor(runId, undefined, 3_600_000, 2000);
    const total = (Date.now() - started) / 1000;
    if (d.run.status !== 'SUCCEEDED') throw new Error(`the run ended ${d.run.status}: ${d.run.error} ${d.run.cause}`);

    // The graph as the run resolved it from the repository (not the generator's): the critical path of the apply.
    const resolved = await new RunStore(t.plane.dynamo.documents, t.plane.tables.runs).resolvedComponents(runId);
    const resolvedGraph = new Map(resolved.map((c) => [c.name, [...c.dependsOn]]));
    const applies = d.components.filter((c) => c.step === 'apply');
    const wall =
      (Math.max(...applies.map((c) => Date.parse(c.endedAt!))) -
        Math.min(...applies.map((c) => Date.parse(c.startedAt!)))) /
      1000;
    const perBuild = applies.map((c) => (Date.parse(c.endedAt!) - Date.parse(c.startedAt!)) / 1000);
    const mean = perBuild.reduce((a, b) => a + b, 0) / perBuild.length;
    const critical = criticalPathLength(resolvedGraph, () => mean);

    const executions = t.plane.engine.listExecutions().filter((e) => e.name.startsWith(runId));
    const pct = (v: number, max: number) => `${((100 * v) / max).toFixed(1)} %`;
    console.log(`resolved ${resolved.length} components from the repository (commit ${d.run.commit})`);
    for (const e of executions) {
      console.log(`execution ${e.name}`);
      console.log(
        `  history events   ${String(e.historyEvents).padStart(8)} of ${AWS_LIMITS.historyEvents}  (${pct(e.historyEvents, AWS_LIMITS.historyEvents)})`,
      );
      console.log(
        `  largest payload  ${String(e.largestPayloadBytes).padStart(8)} of ${AWS_LIMITS.statePayloadBytes} bytes  (${pct(e.largestPayloadBytes, AWS_LIMITS.statePayloadBytes)})`,
      );
    }
    console.log(`apply step wall-clock  ${wall.toFixed(1)} s over ${applies.length} components`);
    console.log(
      `critical path          ${critical.toFixed(1)} s  (${Math.max(...earliest(resolvedGraph))} components deep x mean build ${mean.toFixed(2)} s)`,
    );
    console.log(
      `ratio                  ${(wall / critical).toFixed(2)}  (2 cores run every build here; AWS runs them apart)`,
    );
    console.log(
      `whole run              ${total.toFixed(1)} s  (drift, compliance, plan, approval, apply, post-validation)`,
    );
  } finally {
    await t.close();
  }
}

/** The depth of each component (1 for one without dependencies). */
function earliest(graph: Map<string, string[]>): number[] {
  const depth = new Map<string, number>();
  const of = (c: string): number => {
    const known = depth.get(c);
    if (known !== undefined) return known;
    const d = 1 + Math.max(0, ...(graph.get(c) ?? []).map(of));
    depth.set(c, d);
    return d;
  };
  return [...graph.keys()].map(of);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
