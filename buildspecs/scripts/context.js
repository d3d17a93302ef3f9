// Prints shell assignments for the run's context (TROPOS_CONTEXT, JSON set by the state machine), so that the
// terraform script reads TROPOS_STACK, TROPOS_ACCOUNT, ... Values are single-quoted for the shell.
'use strict';
const ctx = JSON.parse(process.env.TROPOS_CONTEXT || '{}');
const quote = (v) => `'${String(v == null ? '' : v).replace(/'/g, `'\\''`)}'`;
const fields = {
  TROPOS_STACK: ctx.stack,
  TROPOS_TENANT: ctx.tenant,
  TROPOS_ACCOUNT: ctx.account,
  TROPOS_ENVIRONMENT: ctx.environment,
  TROPOS_REGION: ctx.region,
  TROPOS_TIER: ctx.tier,
  TROPOS_ACCOUNT_ID: ctx.accountId,
  TROPOS_STATE_BUCKET: ctx.stateBucket,
  TROPOS_LOCK_TABLE: ctx.lockTable,
  TROPOS_DRY_RUN: ctx.dryRun === true ? 'true' : 'false',
  TROPOS_STACK_COMPONENTS: JSON.stringify(ctx.components || []),
};
for (const [k, v] of Object.entries(fields)) {
  // Variables set explicitly (by a local runner, say) win over the context.
  if (process.env[k] === undefined || process.env[k] === '') console.log(`${k}=${quote(v)}`);
}
