// Summarises a `terraform show -json` plan the way Terraform's own plan summary counts it.
//
//   node plan-summary.js --resources plan.json
//     -> one line per resource that changes, as Terraform marks it: "+ aws_vpc.this", "~ …" (update),
//        "- …" (destroy), "-/+ …" / "+/- …" (replace), "forget …", "<= data.…" (read), with " (moved from …)"
//        and " (import)"; a move or import alone is "→ …" / "⇐ …". At most 1,500 characters ("… and N more").
//   node plan-summary.js plan.json
//     -> {"add":1,"change":0,"destroy":1,"replace":1,"move":0,"import":0,"forget":0,"outputs":0,"read":0}
//   (one line of JSON on stdout, exit 0; an unreadable file, invalid JSON or a document that is not a plan
//   (no `format_version`) gives a message naming the file on stderr and exit 1)
//
// The rules (Terraform's internal/command/jsonformat/plan.go and plans.Changes.Empty, v1.11; checked against the
// real terraform's `show` text and `plan -detailed-exitcode`):
// - Only `resource_changes` count. `resource_drift` (refresh findings), `deferred_changes` and prior state do not.
// - A data source (`mode: "data"`) never counts as add/change/destroy: its ["read"] is counted in `read`, its
//   ["delete"] (plans of Terraform 0.12/0.13 when a data block goes away) is ignored, as Terraform ignores it.
// - Managed resources: ["create"] is 1 add; ["update"] 1 change; ["delete"] 1 destroy, whatever its
//   `action_reason` (delete_because_no_resource_config, ..._count_index, ..._no_move_target, a deposed object...);
//   ["delete","create"] / ["create","delete"] is 1 replace AND 1 add AND 1 destroy ("Plan: 1 to add, 0 to change,
//   1 to destroy"); ["forget"] (a `removed` block with `lifecycle { destroy = false }`, Terraform 1.7+) is 1
//   forget only, although Terraform gives it action_reason delete_because_no_resource_config and never prints
//   a forget count on its "Plan:" line; ["create","forget"] (a replace under `lifecycle { destroy = false }`,
//   Terraform 1.16+) is 1 replace, 1 add and 1 forget, never a destroy; ["no-op"] and ["read"] are not changes.
// - move: a change whose `previous_address` is set and differs from `address` (a `moved` block), whatever its
//   action: a move-only change has action ["no-op"], a moved-and-updated one ["update"] (1 move + 1 change).
// - import: a change with `change.importing` (an `import` block, Terraform 1.5+), whatever its action: an
//   import-only change is ["no-op"] (1 import), an import that must also be updated is 1 import + 1 change.
// - outputs: root outputs in `output_changes` whose actions are not ["no-op"] (new, changed or removed values).
//   Terraform 0.12 and 0.13 did not track output changes (their plans mark every output "create"), did not
//   show them, and their exit code ignored them: a plan with `terraform_version` below 0.14 counts 0 outputs.
// - Older plans (format 0.1/0.2, Terraform 0.12-1.0) lack `previous_address`, `importing` and `action_reason`:
//   absent fields count as nothing. A missing `mode` is taken from the address (`data.` after the module path).
// `terraform plan -detailed-exitcode` returns 2 (changes) exactly when add, change, destroy, move, import,
// forget, outputs or read is nonzero (Terraform 1.14+ also when the plan invokes actions, `action_invocations`,
// which none of these counts).
'use strict';

const fs = require('fs');

const FIELDS = ['add', 'change', 'destroy', 'replace', 'move', 'import', 'forget', 'outputs', 'read'];

/** Terraform's version as [major, minor] from "0.12.11" / "1.2.0-rc1", or undefined. */
function versionOf(plan) {
  const m = /^v?(\d+)\.(\d+)/.exec(String(plan.terraform_version || ''));
  return m ? [Number(m[1]), Number(m[2])] : undefined;
}

function isDataSource(rc) {
  if (rc.mode) return rc.mode === 'data';
  const address = String(rc.address || '');
  const local =
    rc.module_address && address.startsWith(`${rc.module_address}.`)
      ? address.slice(rc.module_address.length + 1)
      : address.replace(/^(module\.[^.[]+(\[[^\]]*\])?\.)+/, '');
  return local.startsWith('data.');
}

function isPlanDocument(doc) {
  return doc !== null && typeof doc === 'object' && !Array.isArray(doc) && doc.format_version != null;
}

function sameActions(actions, expected) {
  return actions.length === expected.length && actions.every((a, i) => a === expected[i]);
}

function summarizePlan(plan) {
  if (!isPlanDocument(plan))
    throw new TypeError('not a terraform plan (`terraform show -json` output has a format_version)');
  const counts = Object.fromEntries(FIELDS.map((f) => [f, 0]));

  for (const rc of Array.isArray(plan.resource_changes) ? plan.resource_changes : []) {
    if (!rc || typeof rc !== 'object') continue;
    const change = rc.change || {};
    const actions = Array.isArray(change.actions) ? change.actions : [];
    const data = isDataSource(rc);
    if (data && sameActions(actions, ['delete'])) continue; // Terraform does not show or count these
    if (rc.previous_address && rc.previous_address !== rc.address) counts.move++;
    if (change.importing !== undefined && change.importing !== null) counts.import++;
    if (data) {
      if (sameActions(actions, ['read'])) counts.read++;
      continue;
    }
    if (sameActions(actions, ['create'])) counts.add++;
    else if (sameActions(actions, ['update'])) counts.change++;
    else if (sameActions(actions, ['delete'])) counts.destroy++;
    else if (sameActions(actions, ['forget'])) counts.forget++;
    else if (sameActions(actions, ['delete', 'create']) || sameActions(actions, ['create', 'delete'])) {
      counts.replace++;
      counts.add++;
      counts.destroy++;
    } else if (sameActions(actions, ['create', 'forget'])) {
      counts.replace++;
      counts.add++;
      counts.forget++;
    }
    // ["no-op"], ["read"] and anything unknown: nothing
  }

  const version = versionOf(plan);
  const tracksOutputs = !version || version[0] > 0 || version[1] >= 14;
  if (tracksOutputs && plan.output_changes && typeof plan.output_changes === 'object') {
    for (const oc of Object.values(plan.output_changes)) {
      const actions = oc && Array.isArray(oc.actions) ? oc.actions : [];
      if (actions.length > 0 && !sameActions(actions, ['no-op'])) counts.outputs++;
    }
  }
  return counts;
}

const MARKS = [
  [['create'], '+'],
  [['update'], '~'],
  [['delete'], '-'],
  [['delete', 'create'], '-/+'],
  [['create', 'delete'], '+/-'],
  [['forget'], 'forget'],
  [['create', 'forget'], '+/forget'],
  [['read'], '<='],
];

/** The resources a plan changes, one line each as Terraform marks them (see the top of this file). */
function resourcesOf(plan) {
  const lines = [];
  for (const rc of Array.isArray(plan.resource_changes) ? plan.resource_changes : []) {
    if (!rc || typeof rc !== 'object') continue;
    const change = rc.change || {};
    const actions = Array.isArray(change.actions) ? change.actions : [];
    const data = isDataSource(rc);
    if (data && !sameActions(actions, ['read'])) continue;
    const moved =
      rc.previous_address && rc.previous_address !== rc.address ? ` (moved from ${rc.previous_address})` : '';
    const imported = change.importing !== undefined && change.importing !== null ? ' (import)' : '';
    const mark = (MARKS.find(([a]) => sameActions(actions, a)) || [])[1];
    if (mark) lines.push(`${mark} ${rc.address}${moved}${imported}`);
    else if (imported) lines.push(`⇐ ${rc.address}${moved}`);
    else if (moved) lines.push(`→ ${rc.address}${moved}`);
  }
  return lines;
}

/** Lines joined, at most `max` characters: the lines that fit, then "… and N more". */
function bounded(lines, max = 1500) {
  const kept = [];
  let size = 0;
  for (const [i, line] of lines.entries()) {
    const more = `… and ${lines.length - i} more`;
    if (size + line.length + 1 + (i < lines.length - 1 ? more.length + 1 : 0) > max) {
      kept.push(more);
      break;
    }
    kept.push(line);
    size += line.length + 1;
  }
  return kept.join('\n');
}

module.exports = { summarizePlan, resourcesOf, bounded };

if (require.main === module) {
  const resources = process.argv[2] === '--resources';
  const file = process.argv[resources ? 3 : 2];
  const fail = (why) => {
    process.stderr.write(`plan-summary: ${file}: ${why}\n`);
    process.exit(1);
  };
  if (!file) {
    process.stderr.write(
      'usage: node plan-summary.js [--resources] <plan.json> (the output of `terraform show -json <planfile>`)\n',
    );
    process.exit(1);
  }
  let text;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    fail(`cannot read the file (${e.code || e.message})`);
  }
  let plan;
  try {
    plan = JSON.parse(text);
  } catch (e) {
    fail(`not valid JSON (${e.message}); expected the output of \`terraform show -json <planfile>\``);
  }
  if (!isPlanDocument(plan))
    fail('not a terraform plan: no format_version; expected the output of `terraform show -json <planfile>`');
  if (plan.planned_values === undefined && plan.resource_changes === undefined && plan.values !== undefined)
    fail('this is a terraform state (`terraform show -json` without a plan file), not a plan');
  if (resources) {
    const text = bounded(resourcesOf(plan));
    process.stdout.write(text ? `${text}\n` : '');
  } else process.stdout.write(`${JSON.stringify(summarizePlan(plan))}\n`);
}
