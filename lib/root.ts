import { join } from 'node:path';

/** The repository root: where workflows/, catalog/ and tropos.config.yaml live. */
export const ROOT = join(__dirname, '..');
