import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { join, resolve } from 'node:path';
import { loadConfig } from '../config/load';
import type { TroposConfig } from '../config/schema';
import { ROOT } from '../root';
import type { Template } from './definitions';

/**
 * The synthesized app a local control plane runs: its template, and the cloud assembly folder whose assets (the
 * function bundles, the buildspec and its scripts) it runs from.
 *
 * Synthesizing takes seconds (loading the CDK, bundling every function with esbuild), and every command that starts
 * its own control plane needs it. So each synthesized assembly is kept, under `.tropos-assembly-cache/<key>` in the
 * repository (where the bundles find the AWS SDK in node_modules, as Lambda finds it in its runtime), keyed by
 * everything the synthesis reads: Tropos's sources (lib/, lambdas/, buildspecs/, workflows/, catalog/, bin/),
 * package-lock.json and tsconfig.json, the configuration file and the catalog file, and Node's version. Any change
 * to any of them synthesizes again; nothing else is trusted to say "unchanged". The latest few are kept, and any
 * other used within a day.
 * TROPOS_ASSEMBLY_CACHE=off synthesizes every time.
 */
export interface SynthesizedApp {
  readonly template: Template;
  readonly region: string;
  readonly config: TroposConfig;
  /** The logical ids of the two tables (their local names). */
  readonly tables: { readonly runs: string; readonly environments: string };
  readonly assemblyDir: string;
  /** Whether it came from the cache (the folder is shared: a control plane runs from a copy of its own). */
  readonly cached: boolean;
}

export const CACHE_DIR = join(ROOT, '.tropos-assembly-cache');
/** How many synthesized assemblies are kept at least; older ones go once unused for UNUSED_MS. */
const KEEP = 4;
const UNUSED_MS = 24 * 3600 * 1000;
const META = 'tropos-local.json';
/** The folders and files of the repository the synthesis reads. */
const SOURCES = ['lib', 'lambdas', 'buildspecs', 'workflows', 'catalog', 'bin', 'package-lock.json', 'tsconfig.json'];

interface Meta {
  readonly stackName: string;
  readonly region: string;
  readonly tables: SynthesizedApp['tables'];
}

export function synthesizedApp(options: {
  readonly configPath?: string | undefined;
  /** Told before a synthesis (seconds), so a caller can say why it waits. */
  readonly onSynthesize?: ((why: string) => void) | undefined;
}): SynthesizedApp {
  const configPath = resolve(options.configPath ?? process.env.TROPOS_CONFIG ?? join(ROOT, 'tropos.config.yaml'));
  const catalogPath = resolve(process.env.TROPOS_CATALOG ?? join(ROOT, 'catalog', 'components.yaml'));
  // The configuration is validated first either way: a wrong one is said at once, cache or not.
  const config = loadConfig(configPath);
  if (process.env.TROPOS_ASSEMBLY_CACHE === 'off') {
    options.onSynthesize?.('TROPOS_ASSEMBLY_CACHE=off');
    return { ...synthesize(configPath, catalogPath, config), cached: false };
  }
  const key = cacheKey(configPath, catalogPath);
  const dir = join(CACHE_DIR, key);
  const hit = read(dir, config);
  if (hit) return hit;
  options.onSynthesize?.(`first start since Tropos's sources or configuration changed; kept in ${dir}`);
  const fresh = synthesize(configPath, catalogPath, config);
  mkdirSync(CACHE_DIR, { recursive: true });
  try {
    // Whole or not at all: a reader never sees half an assembly (another process may have put the same one first).
    renameSync(fresh.assemblyDir, dir);
  } catch {
    rmSync(fresh.assemblyDir, { recursive: true, force: true });
    const other = read(dir, config);
    if (!other) throw new Error(`cannot keep the synthesized app in ${dir}`);
    return other;
  }
  prune(key);
  return { ...fresh, assemblyDir: dir, cached: true };
}

/** Synthesizes the app into a new folder (the CDK is loaded only now: a cache hit never loads it). */
function synthesize(
  configPath: string,
  catalogPath: string,
  config: TroposConfig,
): Omit<SynthesizedApp, 'cached'> & { assemblyDir: string } {
  /* eslint-disable @typescript-eslint/no-require-imports */
  const { App } = require('aws-cdk-lib') as typeof import('aws-cdk-lib');
  const { buildApp, FEATURE_FLAGS, synthWithinLimits } = require('../app') as typeof import('../app');
  /* eslint-enable @typescript-eslint/no-require-imports */
  const assemblyDir = mkdtempSync(join(ROOT, '.tropos-assembly-'));
  try {
    const { app, stack } = quietly(() =>
      buildApp({
        configPath,
        catalogPath,
        // cdk-nag runs in the tests and at `cdk synth`; not needed to run the workflows.
        app: new App({ outdir: assemblyDir, context: { ...FEATURE_FLAGS, 'aws:cdk:enable-asset-metadata': true } }),
        nag: false,
      }),
    );
    // What AWS would refuse to deploy, the local control plane refuses to run.
    const assembly = synthWithinLimits(app, stack);
    const template = assembly.getStackByName(stack.stackName).template as Template;
    const meta: Meta = {
      stackName: stack.stackName,
      region: stack.region,
      tables: {
        runs: stack.getLogicalId(stack.records.runs.node.defaultChild as never),
        environments: stack.getLogicalId(stack.records.environments.node.defaultChild as never),
      },
    };
    writeFileSync(join(assemblyDir, META), JSON.stringify(meta));
    return { template, region: meta.region, config, tables: meta.tables, assemblyDir };
  } catch (e) {
    rmSync(assemblyDir, { recursive: true, force: true });
    throw e;
  }
}

/** A kept assembly, or undefined when there is none (or it is not whole). */
function read(dir: string, config: TroposConfig): SynthesizedApp | undefined {
  const metaFile = join(dir, META);
  if (!existsSync(metaFile)) return undefined;
  try {
    const meta = JSON.parse(readFileSync(metaFile, 'utf8')) as Meta;
    const template = JSON.parse(readFileSync(join(dir, `${meta.stackName}.template.json`), 'utf8')) as Template;
    const now = new Date();
    utimesSync(dir, now, now); // used: kept longest
    return { template, region: meta.region, config, tables: meta.tables, assemblyDir: dir, cached: true };
  } catch {
    return undefined;
  }
}

/** Everything the synthesis reads, hashed. */
function cacheKey(configPath: string, catalogPath: string): string {
  const hash = createHash('sha256');
  const add = (label: string, content: string | Buffer) => {
    hash.update(`${label}\0${content.length}\0`);
    hash.update(content);
  };
  const walk = (path: string): void => {
    if (!existsSync(path)) return;
    if (statSync(path).isDirectory()) {
      for (const entry of readdirSync(path).sort()) if (entry !== 'node_modules') walk(join(path, entry));
      return;
    }
    add(path.slice(ROOT.length), readFileSync(path));
  };
  for (const source of SOURCES) walk(join(ROOT, source));
  add('config', `${configPath}\0${readFileSync(configPath, 'utf8')}`);
  add('catalog', existsSync(catalogPath) ? `${catalogPath}\0${readFileSync(catalogPath, 'utf8')}` : catalogPath);
  add('node', process.version);
  return hash.digest('hex').slice(0, 24);
}

/**
 * Removes kept assemblies beyond the KEEP most recently used ones, but only those not used for a day: a control
 * plane copies its assembly from one when it starts (a copy half made is not left to fail).
 */
function prune(keep: string): void {
  const entries = readdirSync(CACHE_DIR)
    .filter((e) => e !== keep)
    .map((e) => ({ e, at: statSync(join(CACHE_DIR, e)).mtimeMs }))
    .sort((a, b) => b.at - a.at);
  for (const { e, at } of entries.slice(KEEP - 1))
    if (Date.now() - at > UNUSED_MS) rmSync(join(CACHE_DIR, e), { recursive: true, force: true });
}

/** Runs `fn` with the bundler's progress lines held back; they are shown only if it fails. */
function quietly<T>(fn: () => T): T {
  const write = process.stderr.write.bind(process.stderr);
  const held: string[] = [];
  process.stderr.write = ((chunk: string | Uint8Array) => held.push(String(chunk)) > 0) as typeof process.stderr.write;
  try {
    return fn();
  } catch (e) {
    write(held.join(''));
    throw e;
  } finally {
    process.stderr.write = write;
  }
}
