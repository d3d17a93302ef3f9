#!/usr/bin/env node
// The CDK app: `npx cdk synth` / `npx cdk deploy`. A bad workflow file or configuration stops here with a
// message that names the file, the field and the fix.
import { buildApp } from '../lib/app';

try {
  buildApp();
} catch (e) {
  const err = e as Error;
  if (err.name === 'DefinitionError' || err.name === 'ConfigError') {
    console.error(`\n${err.message}\n`);
    process.exit(1);
  }
  throw e;
}
