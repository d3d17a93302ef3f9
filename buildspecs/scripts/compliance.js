// Evaluates a `terraform show -json` plan against the compliance policy (seed 004: encryption at rest, no
// public access, required tags). Prints every violation; exits 1 when there is any.
'use strict';
const plan = JSON.parse(require('fs').readFileSync(process.argv[2], 'utf8'));
const requiredTags = (process.env.TROPOS_REQUIRED_TAGS || '').split(',').filter(Boolean);
const violations = [];
for (const rc of plan.resource_changes || []) {
  const after = (rc.change && rc.change.after) || null;
  if (!after) continue;
  const where = rc.address;
  if (rc.type === 'aws_db_instance' && after.storage_encrypted !== true) violations.push(`${where}: storage_encrypted must be true`);
  if (rc.type === 'aws_ebs_volume' && after.encrypted !== true) violations.push(`${where}: encrypted must be true`);
  if (rc.type === 'aws_s3_bucket_acl' && /public/.test(after.acl || '')) violations.push(`${where}: public ACL "${after.acl}"`);
  if (rc.type === 'aws_s3_bucket_public_access_block') {
    for (const k of ['block_public_acls', 'block_public_policy', 'ignore_public_acls', 'restrict_public_buckets']) {
      if (after[k] !== true) violations.push(`${where}: ${k} must be true`);
    }
  }
  if (rc.type === 'aws_security_group_rule' && after.type === 'ingress' && (after.cidr_blocks || []).includes('0.0.0.0/0') && after.from_port !== 443 && after.from_port !== 80) {
    violations.push(`${where}: ingress from 0.0.0.0/0 on port ${after.from_port}`);
  }
  if (requiredTags.length && after.tags_all !== undefined) {
    const tags = after.tags_all || {};
    for (const t of requiredTags) if (!(t in tags)) violations.push(`${where}: missing required tag ${t}`);
  }
}
for (const v of violations) console.log(`VIOLATION ${v}`);
console.log(`${violations.length} violation(s) in ${(plan.resource_changes || []).length} resource change(s)`);
process.exit(violations.length ? 1 : 0);
