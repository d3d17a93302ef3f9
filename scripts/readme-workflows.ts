// Prints the README's workflow table (between the workflows markers), generated from workflows/.
// Update the README with: npm run -s readme:workflows, and paste; a test fails when they differ.
import { join } from 'node:path';
import { Catalog } from '../lib/workflow/catalog';
import { workflowTable } from '../lib/workflow/describe';
import { loadWorkflows } from '../lib/workflow/load';

const root = join(__dirname, '..');
console.log(
  workflowTable(loadWorkflows(join(root, 'workflows'), Catalog.fromFile(join(root, 'catalog', 'components.yaml')))),
);
