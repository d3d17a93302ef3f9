#!/usr/bin/env node
// The CDK app: `npx cdk synth` / `npx cdk deploy`. A bad workflow file or configuration stops here with a
// message that names the file, the field and the fix; so does a template AWS would refuse (lib/limits).
import { buildApp, synthWithinLimits } from '../lib/app';

try {
  const { app, stack } = buildApp();
  synthWithinLimits(app, stack);
} catch (e) {
  const err = e as Error;
  if (err.name === 'DefinitionError' || err.name === 'ConfigError' || err.name === 'LimitExceededError') {
    console.error(`\n${err.message}\n`);
    process.exit(1);
  }
  throw e;
}
