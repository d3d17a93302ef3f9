// Adds the commit to a resolved stack (stack.json, written by resolve-stack.js) and writes each component's state
// settings as shell assignments, <dir>/<component>.sh, which every build of the run sources instead of parsing
// JSON: state_key (the S3 key: Atmos's own layout, or the plain-terraform one), bucket and table (the component's
// own backend section, when it names them) and folder (Atmos's metadata.component).
//   node component-settings.js stack.json <commit> <dir>
'use strict';
const fs = require('fs');
const [file, commit, dir] = process.argv.slice(2);
const quote = (v) => `'${String(v == null ? '' : v).replace(/'/g, `'\\''`)}'`;
const stack = JSON.parse(fs.readFileSync(file, 'utf8'));
fs.writeFileSync(file, JSON.stringify({ ...stack, commit }));
for (const c of stack.components || []) {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(c.name)) {
    console.error(`component name ${JSON.stringify(c.name)} is not a plain name (letters, digits, _ . -)`);
    process.exit(1);
  }
  const b = c.backend || {};
  const lines = [`state_key=${quote(c.stateKey)}`, `bucket=${quote(b.bucket)}`, `table=${quote(b.dynamodb_table)}`, `folder=${quote(c.folder)}`];
  fs.writeFileSync(`${dir}/${c.name}.sh`, `${lines.join('\n')}\n`);
}
