// Resolves a stack from the infrastructure repository — the source of truth — for a run: its components, each
// one's dependencies, and what the runner needs per component (folder, workspace, backend, state key). Plain Node
// (CodeBuild runs it without node_modules). Prints the resolved stack as JSON; exits 1 naming what is wrong.
//
//   atmos:     node resolve-stack.js atmos <stack> <describe-stacks.json>
//              from `atmos describe stacks -s <stack> --format json` (Atmos's own merging, never re-implemented):
//              abstract (metadata.type: abstract) and disabled (metadata.enabled: false) components are not run;
//              dependencies from settings.depends_on (Atmos's map or list of {component, ...}); one on another
//              stack's component is refused (cross-stack ordering is not done), one on a component the stack does
//              not have is reported and ignored.
//   terraform: node resolve-stack.js terraform <stack> <repo> <account> <environment> [tenant]
//              the roots environments/<account>/<environment>/<component>/ (a folder with *.tf files), and their
//              dependencies from environments/<account>/<environment>/tropos.json: {"depends_on": {"vpc": ["backend"]}}
//              (and, optionally, the environment's network block: {"vpc_cidr": "10.0.0.0/16"}).
// Stack names are the repository's own (Atmos's name_pattern / name_template / a manifest's `name`, whatever its
// tokens): the stack a run is for is the one Atmos names <tenant>-<account>-<environment>, else the one whose vars
// say so — vars.tenant (when the stack has one), vars.environment, and vars.account or vars.stage, a stage mapped to
// Tropos's account by TROPOS_STAGES ({"<account>": "<stage>"}, from accounts.<name>.stage of the configuration) —
// and, with TROPOS_NAMESPACE, vars.namespace. Its Atmos name is `name` in the output (what the runner passes to -s).
// A stack the repository does not define exits 3.
// A dependency cycle is refused, naming it. Also lists every stack the repository defines (`stacks`: name, tenant,
// account, environment, region, network block) — the registry's address plan learns of them before any onboarding.
'use strict';
const fs = require('fs');
const path = require('path');

function fail(message, code = 1) {
  process.stderr.write(`${message}\n`);
  process.exit(code);
}

/** Exit code of a stack the repository does not define (a dry-run onboarding previews it then). */
const NOT_DEFINED = 3;

/** accounts.<name>.stage of the configuration: the stage each account's stacks carry (default: its name). */
function stagesOf() {
  try {
    return JSON.parse(process.env.TROPOS_STAGES || '{}');
  } catch (e) {
    return fail(`TROPOS_STAGES is not JSON: ${e.message}`);
  }
}
const STAGES = stagesOf();
const NAMESPACE = process.env.TROPOS_NAMESPACE || '';

/** Tropos's account of a stack's vars: vars.account, else the account whose stage is vars.stage, else the stage. */
function accountOf(vars) {
  if (vars.account) return String(vars.account);
  if (vars.stage === undefined) return undefined;
  const mapped = Object.entries(STAGES).find(([, stage]) => stage === String(vars.stage));
  return mapped ? mapped[0] : String(vars.stage);
}

/** `a -> b -> a` when the graph has a cycle, else undefined. */
function findCycle(graph) {
  const state = new Map();
  const stack = [];
  const visit = (n) => {
    state.set(n, 'open');
    stack.push(n);
    for (const d of graph[n] || []) {
      if (!(d in graph)) continue;
      if (state.get(d) === 'open') return [...stack.slice(stack.indexOf(d)), d];
      if (!state.has(d)) {
        const found = visit(d);
        if (found) return found;
      }
    }
    stack.pop();
    state.set(n, 'done');
    return undefined;
  };
  for (const n of Object.keys(graph).sort()) {
    if (state.has(n)) continue;
    const found = visit(n);
    if (found) return found.join(' -> ');
  }
  return undefined;
}

/** Atmos's depends_on: a map (`1: {component: vpc}`) or a list; each entry a component, maybe in another stack. */
function dependenciesOf(settings) {
  const raw = (settings && settings.depends_on) || {};
  return (Array.isArray(raw) ? raw : Object.values(raw)).map((d) => (typeof d === 'string' ? { component: d } : d));
}

const OTHER_STACK_KEYS = ['stack', 'namespace', 'tenant', 'environment', 'stage'];

function readDescribed(describeFile) {
  try {
    return JSON.parse(fs.readFileSync(describeFile, 'utf8'));
  } catch (e) {
    return fail(`cannot read what atmos describe stacks answered: ${e.message}`);
  }
}

/** A stack's vars, as Atmos merged them (its first component's: stack-level vars reach every component). */
function varsOf(described, name) {
  const s = described[name] || {};
  const first = Object.values((s.components && s.components.terraform) || {})[0] || {};
  return first.vars || {};
}

/**
 * Every stack Atmos describes, named as Tropos names it (<tenant>-<account>-<environment>, the account mapped from
 * the stage) with its Atmos name beside it, and the vars the registry cares about. With TROPOS_NAMESPACE, only that
 * namespace's stacks.
 */
function atmosStacks(described) {
  return Object.keys(described)
    .filter(
      (name) =>
        !NAMESPACE ||
        varsOf(described, name).namespace === undefined ||
        varsOf(described, name).namespace === NAMESPACE,
    )
    .map((name) => {
      const v = varsOf(described, name);
      const account = accountOf(v);
      const id = v.tenant && account && v.environment ? `${v.tenant}-${account}-${v.environment}` : name;
      return {
        stack: id,
        ...(id !== name ? { name } : {}),
        tenant: v.tenant,
        account,
        environment: v.environment,
        region: v.region,
        vpcCidr: v.vpc_cidr || v.ipv4_primary_cidr_block || v.cidr_block,
      };
    });
}

/** The Atmos name of the run's stack: Atmos's own name when it is Tropos's, else the stack whose vars say so. */
function atmosNameOf(stack, described) {
  const want = {
    tenant: process.env.TROPOS_TENANT || '',
    account: process.env.TROPOS_ACCOUNT || '',
    environment: process.env.TROPOS_ENVIRONMENT || '',
  };
  const matches = (name) => {
    const v = varsOf(described, name);
    if (NAMESPACE && v.namespace !== undefined && v.namespace !== NAMESPACE) return false;
    return (
      (v.tenant === undefined || v.tenant === want.tenant) &&
      v.environment === want.environment &&
      accountOf(v) === want.account
    );
  };
  if (described[stack] && (!NAMESPACE || matches(stack))) return stack;
  const found = want.environment ? Object.keys(described).filter(matches).sort() : [];
  if (found.length === 1) return found[0];
  if (found.length > 1)
    fail(
      `stacks ${found.join(', ')} are all tenant ${want.tenant}, account ${want.account} (stage ${STAGES[want.account] || want.account}), environment ${want.environment}; set infrastructure.namespace in Tropos's configuration to the namespace Tropos runs`,
    );
  const names = Object.keys(described).sort();
  return fail(
    `the repository does not define stack ${stack}: no stack is named so, and none has vars tenant: ${want.tenant}, environment: ${want.environment}, stage: ${STAGES[want.account] || want.account} (or account: ${want.account})${NAMESPACE ? `, namespace: ${NAMESPACE}` : ''} (Atmos's stacks: ${names.slice(0, 30).join(', ') || 'none'}${names.length > 30 ? `, and ${names.length - 30} more` : ''}); check the input against the repository, accounts.<name>.stage of Tropos's configuration, or onboard the stack`,
    NOT_DEFINED,
  );
}

function fromAtmos(stack, describeFile) {
  const described = readDescribed(describeFile);
  const name = atmosNameOf(stack, described);
  const own = described[name];
  const all = (own.components && own.components.terraform) || {};
  const runnable = Object.entries(all).filter(
    ([, c]) => (c.metadata || {}).type !== 'abstract' && (c.metadata || {}).enabled !== false,
  );
  const names = new Set(runnable.map(([n]) => n));
  const problems = [];
  const ignored = [];
  const components = runnable.map(([name, c]) => {
    const dependsOn = [];
    for (const d of dependenciesOf(c.settings)) {
      const other = OTHER_STACK_KEYS.find(
        (k) => d[k] !== undefined && d[k] !== (k === 'stack' ? name : (c.vars || {})[k]),
      );
      if (other)
        problems.push(
          `${name} depends on ${d.component} of another stack (${other}: ${d[other]}); Tropos orders components within one stack: run that stack first, and drop the dependency here`,
        );
      else if (!names.has(d.component)) ignored.push(`${name} -> ${d.component} (not a component of ${stack})`);
      else dependsOn.push(d.component);
    }
    const backend = c.backend || {};
    const workspace = c.workspace || name;
    // Atmos's S3 layout: <workspace_key_prefix>/<workspace>/<key> (terraform's for a non-default workspace).
    const prefix = backend.workspace_key_prefix || String(c.component || name).replace(/\//g, '-');
    const key = backend.key || 'terraform.tfstate';
    return {
      name,
      folder: c.component || name,
      dependsOn: [...new Set(dependsOn)].sort(),
      workspace,
      backendType: c.backend_type || '',
      backend,
      stateKey: c.backend_type === 's3' ? `${prefix}/${workspace}/${key}` : undefined,
    };
  });
  if (problems.length > 0) fail(`stack ${stack} cannot be ordered:\n  - ${problems.join('\n  - ')}`);
  const vars = (runnable[0] && runnable[0][1].vars) || {};
  const stacks = atmosStacks(described);
  return {
    stack,
    name,
    engine: 'atmos',
    account: accountOf(vars),
    region: vars.region,
    components,
    ignored,
    stacks,
  };
}

function readConvention(file) {
  if (!fs.existsSync(file)) return {};
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    return fail(`${file} is not valid JSON: ${e.message}`);
  }
}

/** Every environments/<account>/<environment> folder: a stack of the plain-terraform layout. */
function terraformStacks(repo, tenant) {
  const root = path.join(repo, 'environments');
  const dirs = (d) =>
    fs.existsSync(d)
      ? fs
          .readdirSync(d, { withFileTypes: true })
          .filter((e) => e.isDirectory())
          .map((e) => e.name)
      : [];
  return dirs(root).flatMap((account) =>
    dirs(path.join(root, account)).map((environment) => ({
      stack: `${tenant}-${account}-${environment}`,
      tenant,
      account,
      environment,
      vpcCidr: readConvention(path.join(root, account, environment, 'tropos.json')).vpc_cidr,
    })),
  );
}

function fromTerraform(stack, repo, account, environment, tenant) {
  const dir = path.join(repo, 'environments', account, environment);
  if (!fs.existsSync(dir))
    fail(
      `the repository does not define stack ${stack}: environments/${account}/${environment} does not exist; check account and environment, or onboard the stack`,
      NOT_DEFINED,
    );
  const roots = fs
    .readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isDirectory() && fs.readdirSync(path.join(dir, e.name)).some((f) => f.endsWith('.tf')))
    .map((e) => e.name)
    .sort();
  const declared = readConvention(path.join(dir, 'tropos.json')).depends_on || {};
  const ignored = [];
  for (const name of Object.keys(declared))
    if (!roots.includes(name))
      ignored.push(`${name} (in tropos.json, but environments/${account}/${environment}/${name} has no *.tf)`);
  const components = roots.map((name) => {
    const deps = (declared[name] || []).filter((d) => {
      if (roots.includes(d)) return true;
      ignored.push(`${name} -> ${d} (not a root of ${stack})`);
      return false;
    });
    return {
      name,
      folder: `environments/${account}/${environment}/${name}`,
      dependsOn: [...new Set(deps)].sort(),
      workspace: 'default',
      backendType: 's3',
      backend: {},
      stateKey: `${account}/${environment}/${name}/terraform.tfstate`,
    };
  });
  return {
    stack,
    name: stack,
    engine: 'terraform',
    account,
    components,
    ignored,
    ...(tenant ? { stacks: terraformStacks(repo, tenant) } : {}),
  };
}

const [first, ...others] = process.argv.slice(2);
// --discover: only the stacks the repository defines (an onboarding's address plan), whether it defines <stack>.
const discover = first === '--discover';
const [engine, stack, ...rest] = discover ? others : [first, ...others];
if (!engine || !stack)
  fail(
    'usage: resolve-stack.js [--discover] atmos <stack> <describe-stacks.json> | [--discover] terraform <stack> <repo> <account> <environment> [tenant]',
  );
if (discover) {
  const stacks =
    engine === 'atmos' ? atmosStacks(readDescribed(rest[0])) : terraformStacks(rest[0], rest[3] || stack.split('-')[0]);
  process.stdout.write(
    `${JSON.stringify({ stack, engine, discovered: true, defined: stacks.some((s) => s.stack === stack), components: [], ignored: [], stacks }, null, 2)}\n`,
  );
  process.exit(0);
}
const resolved =
  engine === 'atmos' ? fromAtmos(stack, rest[0]) : fromTerraform(stack, rest[0], rest[1], rest[2], rest[3]);
if (resolved.components.length === 0) fail(`stack ${stack} has no components to run`);
const cycle = findCycle(Object.fromEntries(resolved.components.map((c) => [c.name, c.dependsOn])));
if (cycle) fail(`stack ${stack}: the components depend on each other in a cycle: ${cycle}; break it in the repository`);
process.stdout.write(`${JSON.stringify(resolved, null, 2)}\n`);
