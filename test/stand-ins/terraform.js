#!/usr/bin/env node
// A scripted stand-in for the terraform CLI (run through ./terraform, which answers init, apply and version),
// for tests only: same arguments and exit codes as terraform for what Tropos runs (plan -detailed-exitcode -out,
// show -json / -no-color, validate, fmt, import, state list / push, force-unlock). What it answers comes from the scenario file named by
// TROPOS_FAKE_TF (JSON), per component:
//   { "components": { "vpc": { "plan": {"add":1,"change":0,"destroy":0} | "error", "planSeconds": 0,
//                               "apply": "ok" | "fail" | "stale" | "locked", "applySeconds": 0,
//                               "validate": "ok" | "fail", "planDestroy": 0 } },
//     "default": { ... same fields ... }, "lint": "ok" | "fail", "lock": { "ID": "...", "Who": "...", ... },
//     "stacks": { "<stack>": { "components": {...}, "default": {...} } } }
// Every call is appended to TROPOS_FAKE_TF_LOG (JSON lines) when set.
'use strict';
const fs = require('fs');
const path = require('path');
const crypto = require('crypto');

let argv = process.argv.slice(2);
let chdir = process.cwd();
if (argv[0] && argv[0].startsWith('-chdir=')) {
  chdir = argv[0].slice('-chdir='.length);
  argv = argv.slice(1);
}
const [sub, ...args] = argv;
// As terraform: a -chdir to a folder that is not there is refused before anything else.
if (!fs.existsSync(chdir)) {
  process.stderr.write(`Error handling -chdir option: chdir ${chdir}: no such file or directory\n`);
  process.exit(1);
}
const component = process.env.TROPOS_FAKE_COMPONENT || path.basename(chdir);
const scenario = process.env.TROPOS_FAKE_TF ? JSON.parse(fs.readFileSync(process.env.TROPOS_FAKE_TF, 'utf8')) : {};
// A stack's own entry (scenario.stacks[TROPOS_STACK], same shape) overrides the scenario's for that stack.
const forStack = (scenario.stacks || {})[process.env.TROPOS_STACK || ''] || {};
const spec = {
  plan: { add: 1, change: 0, destroy: 0 },
  apply: 'ok',
  validate: 'ok',
  ...(scenario.default || {}),
  ...((scenario.components || {})[component] || {}),
  ...(forStack.default || {}),
  ...((forStack.components || {})[component] || {}),
};
if (process.env.TROPOS_FAKE_TF_LOG) {
  fs.appendFileSync(
    process.env.TROPOS_FAKE_TF_LOG,
    JSON.stringify({ at: Date.now(), component, sub, args, chdir, stack: process.env.TROPOS_STACK }) + '\n',
  );
}
const flag = (name) => args.find((a) => a === name || a.startsWith(`${name}=`));
const value = (name) => {
  const f = flag(name);
  return f && f.includes('=') ? f.slice(name.length + 1) : undefined;
};
// The version this stand-in is, from the bash stand-in (test/stand-ins/terraform) that starts it: a real
// terraform's plans and plan JSON name the version `terraform version` reports.
const VERSION = process.env.TROPOS_STAND_IN_VERSION;
if (!VERSION) {
  process.stderr.write('terraform.js is started by test/stand-ins/terraform (TROPOS_STAND_IN_VERSION is not set)\n');
  process.exit(1);
}
const sleep = (s) => s > 0 && Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, Math.round(s * 1000));
const fail = (message, code = 1) => {
  process.stderr.write(`\nError: ${message}\n\n`);
  process.exit(code);
};

switch (sub) {
  case 'plan': {
    sleep(spec.planSeconds || 0);
    if (spec.plan === 'error') fail(`planning ${component} failed: invalid reference in main.tf (stand-in)`);
    // A destroy plan destroys what the component has (`planDestroy`: how many; by default what a plan would
    // create or change, and one more): 0 is an empty state.
    const counts = flag('-destroy')
      ? {
          add: 0,
          change: 0,
          destroy: spec.planDestroy ?? (spec.plan.add || 0) + (spec.plan.change || 0) + 1,
        }
      : spec.plan;
    const out = value('-out');
    if (out)
      fs.writeFileSync(
        out,
        // The version that made it: the bash stand-in (test/stand-ins/terraform) applies it only with that version.
        `stand-in plan\ncomponent=${component}\ncounts=${JSON.stringify(counts)}\nterraform_version=${VERSION}\nnonce=${crypto.randomUUID()}\n`,
      );
    const total = counts.add + counts.change + counts.destroy;
    console.log(
      total
        ? `Plan: ${counts.add} to add, ${counts.change} to change, ${counts.destroy} to destroy.`
        : 'No changes. Your infrastructure matches the configuration.',
    );
    process.exit(flag('-detailed-exitcode') && total ? 2 : 0);
  }
  // falls through (process.exit above)
  case 'show': {
    const file = args.find((a) => !a.startsWith('-'));
    if (!file || !fs.existsSync(file)) fail(`plan file ${file} not found`);
    const counts = JSON.parse(/counts=(.*)/.exec(fs.readFileSync(file, 'utf8'))[1]);
    if (flag('-json')) {
      const changes = [];
      for (let i = 0; i < counts.add; i++)
        changes.push({
          address: `terraform_data.${component}_${i}`,
          mode: 'managed',
          type: 'terraform_data',
          change: { actions: ['create'], after: { tags_all: { Owner: 'platform', CostCenter: '1234' } } },
        });
      for (let i = 0; i < counts.change; i++)
        changes.push({
          address: `terraform_data.${component}_u${i}`,
          mode: 'managed',
          type: 'terraform_data',
          change: { actions: ['update'], after: {} },
        });
      for (let i = 0; i < counts.destroy; i++)
        changes.push({
          address: `terraform_data.${component}_d${i}`,
          mode: 'managed',
          type: 'terraform_data',
          change: { actions: ['delete'], after: null },
        });
      console.log(JSON.stringify({ format_version: '1.2', terraform_version: VERSION, resource_changes: changes }));
    } else {
      console.log(
        `Terraform will perform the following actions (${component}).\n\nPlan: ${counts.add} to add, ${counts.change} to change, ${counts.destroy} to destroy.`,
      );
    }
    break;
  }
  case 'validate':
    if (spec.validate === 'fail') fail(`Reference to undeclared input variable in ${component} (stand-in)`);
    console.log('Success! The configuration is valid.');
    break;
  case 'fmt':
    if (scenario.lint === 'fail') {
      console.log('components/terraform/vpc/main.tf');
      process.exit(3);
    }
    break;
  case 'import':
    console.log(`${args.filter((a) => !a.startsWith('-')).join(' ')}: Import successful!`);
    break;
  case 'state':
    if (args[0] === 'list') console.log(`terraform_data.${component.replace(/-/g, '_')}`);
    else if (args[0] === 'push') console.log('state pushed');
    else fail(`state ${args[0]} is not supported by the stand-in`);
    break;
  case 'force-unlock':
    console.log(
      `Terraform state has been successfully unlocked! (${args.filter((a) => !a.startsWith('-')).join(' ')})`,
    );
    break;
  default:
    fail(`the terraform stand-in does not know "${sub}"`);
}
