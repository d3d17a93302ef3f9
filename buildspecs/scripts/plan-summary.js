// Prints "<add> <change> <destroy>" for a `terraform show -json` plan: a replace counts as one add and one destroy.
'use strict';
const plan = JSON.parse(require('fs').readFileSync(process.argv[2], 'utf8'));
let add = 0, change = 0, destroy = 0;
for (const rc of plan.resource_changes || []) {
  const actions = (rc.change && rc.change.actions) || [];
  if (actions.includes('create')) add++;
  if (actions.includes('delete')) destroy++;
  if (actions.includes('update')) change++;
}
process.stdout.write(`${add} ${change} ${destroy}\n`);
