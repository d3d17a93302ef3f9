// npm run bench:synth — how long `cdk synth` takes, the headroom under each deploy-time limit AWS applies
// (template bytes and resources, the largest state machine definition, the largest function environment with its
// tokens at their longest), and the size of every Lambda bundle (minified, the AWS SDK v3 left to the runtime).
// Target: every bundle under 150 KB.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { templateFigures } from '../lib/limits/template-limits';

const TARGET_KB = 150;
const root = join(__dirname, '..');
const out = mkdtempSync(join(tmpdir(), 'tropos-synth-'));
const runs = Number(process.env.BENCH_RUNS ?? 3);

const times: number[] = [];
for (let i = 0; i < runs; i++) {
  const start = performance.now();
  const r = spawnSync('npx', ['cdk', 'synth', '--quiet', '--output', out], { cwd: root, encoding: 'utf8' });
  times.push((performance.now() - start) / 1000);
  if (r.status !== 0) {
    console.error(r.stdout, r.stderr);
    process.exit(1);
  }
}
times.sort((a, b) => a - b);
console.log(
  `cdk synth (offline, ${runs} runs): median ${times[Math.floor(runs / 2)]!.toFixed(2)} s, best ${times[0]!.toFixed(2)} s`,
);

const template = JSON.parse(readFileSync(join(out, 'Tropos.template.json'), 'utf8')) as {
  Resources: Record<string, { Type: string; Metadata?: Record<string, string> }>;
};
const figures = templateFigures(template as never, statSync(join(out, 'Tropos.template.json')).size);
console.log('Deploy-time limits (the synth refuses a template over any of them):');
const largest = (limit: string) =>
  figures.filter((f) => f.limit === limit).reduce((a, b) => (b.value > a.value ? b : a));
for (const f of [
  largest('template bytes'),
  largest('resources per stack'),
  largest('state machine definition bytes'),
  largest('Lambda environment bytes'),
])
  console.log(
    `  ${f.limit.padEnd(32)} ${String(f.value).padStart(9)} of ${String(f.max).padStart(9)}  headroom ${(100 - (100 * f.value) / f.max).toFixed(1).padStart(5)} %  (${f.subject})`,
  );
// The same synth with 100 more components in the catalog: the template and the definitions do not grow (the
// components are read from the repository at run time; the catalog only holds defaults and named sets).
{
  const catalogFile = join(out, 'catalog-plus-100.yaml');
  const base = readFileSync(join(root, 'catalog', 'components.yaml'), 'utf8');
  // 100 more components: a default each (a timeout within the shipped longest) and a named set of all of them.
  const names = Array.from({ length: 100 }, (_, i) => `extra-${i}`);
  const grown = base
    .replace(/^defaults:\n/m, `defaults:\n${names.map((n) => `  ${n}: { timeout_minutes: 90 }\n`).join('')}`)
    .replace(/^sets:\n/m, `sets:\n  extra: [${names.join(', ')}]\n`);
  if (grown === base || !grown.includes('extra: [')) throw new Error('catalog/components.yaml: no defaults: or sets:');
  writeFileSync(catalogFile, grown);
  const bigOut = mkdtempSync(join(tmpdir(), 'tropos-synth-big-'));
  const r = spawnSync('npx', ['cdk', 'synth', '--quiet', '--output', bigOut], {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, TROPOS_CATALOG: catalogFile },
  });
  if (r.status !== 0) {
    console.error(r.stdout, r.stderr);
    process.exit(1);
  }
  const file = join(bigOut, 'Tropos.template.json');
  const big = templateFigures(JSON.parse(readFileSync(file, 'utf8')) as never, statSync(file).size);
  const pick = (fs: typeof figures, limit: string) =>
    fs.filter((f) => f.limit === limit).reduce((a, b) => (b.value > a.value ? b : a)).value;
  console.log('With 100 more components in the catalog (TROPOS_CATALOG):');
  for (const limit of ['template bytes', 'state machine definition bytes'])
    console.log(
      `  ${limit.padEnd(32)} ${String(pick(big, limit)).padStart(9)}  (catalog as shipped: ${pick(figures, limit)})`,
    );
}
let worst = 0;
console.log('Lambda bundles (minified; @aws-sdk/* external):');
for (const [id, r] of Object.entries(template.Resources)) {
  if (r.Type !== 'AWS::Lambda::Function' || !r.Metadata?.['aws:asset:path']) continue;
  const dir = join(out, r.Metadata['aws:asset:path']);
  const bytes = readdirSync(dir).reduce((n, f) => n + statSync(join(dir, f)).size, 0);
  worst = Math.max(worst, bytes);
  console.log(`  ${id.replace(/[0-9A-F]{8}$/, '').padEnd(34)} ${(bytes / 1024).toFixed(1).padStart(7)} KB`);
}
console.log(
  `largest bundle ${(worst / 1024).toFixed(1)} KB; target < ${TARGET_KB} KB: ${worst < TARGET_KB * 1024 ? 'met' : 'NOT met'}`,
);
