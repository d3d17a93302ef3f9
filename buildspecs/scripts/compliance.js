// Evaluates a `terraform show -json` plan against the compliance policy (seed 004: encryption at rest, no public
// access, required tags), plus the installation's own rules, given as data in tropos.config.yaml (`compliance`).
//
//   node compliance.js plan.json
//
// What is evaluated: the planned `after` of every managed resource that will exist after the apply: created,
// updated, replaced or left as it is (no-op: what is already there is checked too). Not data sources
// (`mode: "data"`: read, not managed), not what is deleted or forgotten (`delete`, `forget`: gone after the apply).
//
// Unknown is not false: a value the plan does not know yet (in `after_unknown`: computed by the provider or from
// another resource) is neither compliant nor a violation: it is reported as "unknown at plan time", and the policy's
// `unknown` decides: `fail` (the default: a gate that cannot see a value does not let it through) or `warn`.
//
// Built-in rules (their ids are the `rule` of a finding):
//   ebs-encrypted           aws_ebs_volume: encrypted must be true.
//   rds-instance-encrypted  aws_db_instance: storage_encrypted must be true (null, the RDS default, is unencrypted).
//   rds-cluster-encrypted   aws_rds_cluster: storage_encrypted must be true.
//   s3-public-access-block  aws_s3_bucket_public_access_block, aws_s3_account_public_access_block: the four
//                           block_public_acls, block_public_policy, ignore_public_acls, restrict_public_buckets true.
//   s3-public-acl           aws_s3_bucket `acl` / inline `grant`, aws_s3_bucket_acl `acl` / `access_control_policy`:
//                           no public-read, public-read-write or authenticated-read canned ACL, no grant to the
//                           AllUsers or AuthenticatedUsers groups. (On aws_s3_bucket, an `acl` or `grant` wholly
//                           unknown is one not set there: the provider computes it; aws_s3_bucket_acl is checked.)
//   public-ingress          aws_security_group and aws_default_security_group inline `ingress`, aws_security_group_rule
//                           (type ingress), aws_vpc_security_group_ingress_rule: no ingress from the whole internet (any
//                           /0: 0.0.0.0/0, ::/0), except TCP on exactly port 80 or 443. (A security group's `ingress`
//                           wholly unknown is one not set inline: its rules are separate resources, checked on their own.)
//   required-tags           every taggable aws_* resource (one whose after or after_unknown has `tags` or `tags_all`:
//                           the AWS provider gives them to taggable resources only) carries each required tag, in
//                           `tags_all` or `tags`. When `tags_all` is unknown and `tags` lacks a tag, the provider's
//                           default_tags may still add it: unknown at plan time if an aws provider configuration of the
//                           plan has default_tags; a violation when none has (nothing can add it).
//
// The policy: env TROPOS_COMPLIANCE, JSON (absent: the defaults):
//   { "requiredTags": ["Owner", ...],     default []; absent: the comma list in TROPOS_REQUIRED_TAGS (older installs)
//     "unknown": "fail" | "warn",         default "fail"
//     "rules": [ user rule, ... ] }       default []
// A user rule: { "id": "no-gp2", "resourceTypes": ["aws_ebs_volume"], "attribute": "type", "notIn": ["gp2"],
//                "message": "gp3 is cheaper and faster" }
//   resourceTypes  resource types the rule applies to (`*` matches any characters: "aws_*").
//   attribute      a dotted path into the planned `after`: `versioning.0.enabled`, `ingress.*.cidr_blocks`, `tags.Owner`.
//                  `*` is every element of a list (or value of a map); a name applied to a list (a block) applies to
//                  each element, so `root_block_device.encrypted` is `root_block_device.*.encrypted`.
//   one operator   what every value the path reaches must satisfy (a list at the end of the path: each element):
//                  equals (a string, number or boolean), in / notIn (a list of them), present (true: set; false: not
//                  set; unset is null, "", [] or {}), matches (a JavaScript regular expression, unanchored: use ^ and $),
//                  lessThanOrEqual / greaterThanOrEqual (a number; a value that is not a number breaks them).
//   message        optional: said before the detail of each finding.
// Any value that breaks the rule is a violation; else any value unknown at plan time makes the finding `unknown`.
//
// Prints `VIOLATION <address>: <message>` and `UNKNOWN <address>: <message> (unknown at plan time)`, one a line,
// then a count. Exit 1 on any violation, or any unknown when `unknown` is "fail", or a bad policy or plan; else 0.
'use strict';

const BUILT_IN_RULES = [
  'ebs-encrypted',
  'rds-instance-encrypted',
  'rds-cluster-encrypted',
  's3-public-access-block',
  's3-public-acl',
  'public-ingress',
  'required-tags',
];
const OPERATORS = ['equals', 'in', 'notIn', 'present', 'matches', 'lessThanOrEqual', 'greaterThanOrEqual'];
const RULE_KEYS = ['id', 'resourceTypes', 'attribute', 'message', ...OPERATORS];
const RULE_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const RESOURCE_TYPE = /^[a-z0-9_*]+$/;
const PUBLIC_CANNED_ACLS = ['public-read', 'public-read-write', 'authenticated-read'];
const PUBLIC_GRANTEE = /^https?:\/\/acs\.amazonaws\.com\/groups\/global\/(AllUsers|AuthenticatedUsers)$/i;
const PUBLIC_PORTS = [80, 443];

class PolicyError extends Error {}

// ---------------------------------------------------------------------------------------------------- the policy

const isObject = (v) => typeof v === 'object' && v !== null && !Array.isArray(v);
const isScalar = (v) => typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number' && isFinite(v));
const show = (v) => JSON.stringify(v);

/** The policy, validated and with its defaults; throws a PolicyError naming the field otherwise. */
function parsePolicy(raw) {
  if (raw === undefined || raw === null) raw = {};
  if (!isObject(raw)) throw new PolicyError('(top level): must be an object {requiredTags, unknown, rules}');
  for (const key of Object.keys(raw))
    if (!['requiredTags', 'unknown', 'rules'].includes(key))
      throw new PolicyError(`${key}: not a policy field (requiredTags, unknown, rules)`);
  const requiredTags = raw.requiredTags === undefined ? [] : raw.requiredTags;
  if (!Array.isArray(requiredTags) || requiredTags.some((t) => typeof t !== 'string' || t === ''))
    throw new PolicyError('requiredTags: must be a list of tag names');
  const unknown = raw.unknown === undefined ? 'fail' : raw.unknown;
  if (unknown !== 'fail' && unknown !== 'warn')
    throw new PolicyError(`unknown: must be "fail" or "warn", not ${show(unknown)}`);
  const rules = raw.rules === undefined ? [] : raw.rules;
  if (!Array.isArray(rules)) throw new PolicyError('rules: must be a list of rules');
  const ids = new Set();
  return { requiredTags, unknown, rules: rules.map((r, i) => parseRule(r, `rules[${i}]`, ids)) };
}

function parseRule(rule, where, ids) {
  if (!isObject(rule)) throw new PolicyError(`${where}: must be an object {id, resourceTypes, attribute, <operator>}`);
  for (const key of Object.keys(rule))
    if (!RULE_KEYS.includes(key)) throw new PolicyError(`${where}.${key}: not a rule field (${RULE_KEYS.join(', ')})`);
  if (typeof rule.id !== 'string' || !RULE_ID.test(rule.id))
    throw new PolicyError(`${where}.id: a rule id (letters, digits, _ . -, at most 64), like no-gp2`);
  if (BUILT_IN_RULES.includes(rule.id))
    throw new PolicyError(`${where}.id: "${rule.id}" is a built-in rule's id; give the rule an id of its own`);
  if (ids.has(rule.id)) throw new PolicyError(`${where}.id: "${rule.id}" is the id of an earlier rule; ids are unique`);
  ids.add(rule.id);
  if (
    !Array.isArray(rule.resourceTypes) ||
    rule.resourceTypes.length === 0 ||
    rule.resourceTypes.some((t) => typeof t !== 'string' || !RESOURCE_TYPE.test(t))
  )
    throw new PolicyError(
      `${where}.resourceTypes: a non-empty list of resource types like aws_ebs_volume (* matches any)`,
    );
  if (typeof rule.attribute !== 'string' || rule.attribute.split('.').some((s) => s === ''))
    throw new PolicyError(`${where}.attribute: a dotted path into the resource, like ingress.*.cidr_blocks`);
  if (rule.message !== undefined && typeof rule.message !== 'string')
    throw new PolicyError(`${where}.message: must be a string`);
  const given = OPERATORS.filter((o) => rule[o] !== undefined);
  if (given.length !== 1)
    throw new PolicyError(
      `${where}: give exactly one operator of ${OPERATORS.join(', ')} (${given.length ? `has ${given.join(', ')}` : 'has none'})`,
    );
  const op = given[0];
  const arg = rule[op];
  const bad = (what) => new PolicyError(`${where}.${op}: ${what}`);
  if (op === 'equals' && !isScalar(arg)) throw bad('a string, number or boolean');
  if ((op === 'in' || op === 'notIn') && (!Array.isArray(arg) || arg.length === 0 || !arg.every(isScalar)))
    throw bad('a non-empty list of strings, numbers or booleans');
  if (op === 'present' && typeof arg !== 'boolean') throw bad('true or false');
  if ((op === 'lessThanOrEqual' || op === 'greaterThanOrEqual') && !(typeof arg === 'number' && isFinite(arg)))
    throw bad('a number');
  let regex;
  if (op === 'matches') {
    if (typeof arg !== 'string') throw bad('a regular expression (a string)');
    try {
      regex = new RegExp(arg);
    } catch (e) {
      throw bad(`${show(arg)} is not a valid regular expression (${e.message})`);
    }
  }
  const types = rule.resourceTypes.map((t) => new RegExp(`^${t.replace(/\*/g, '.*')}$`));
  return {
    id: rule.id,
    message: rule.message,
    attribute: rule.attribute,
    segments: rule.attribute.split('.'),
    op,
    arg,
    regex,
    appliesTo: (type) => types.some((t) => t.test(type)),
  };
}

// -------------------------------------------------------------------------------------------- values of the plan

const at = (unknown, key) =>
  unknown === true ? true : isObject(unknown) || Array.isArray(unknown) ? unknown[key] : undefined;

/** `ingress[1].cidr_blocks[0]` */
function pathText(path) {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? p : `.${p}`)).join('');
}

/**
 * Every value `segments` reaches from `value` (a part of `after`) and its `after_unknown` counterpart `unknown`:
 * `[{ path, value, unknown }]`, `value` undefined where `unknown` is true (not known at plan time), null where the
 * path leads nowhere. With `eachElement`, a list at the end of the path gives its elements.
 */
function lookup(value, unknown, segments, eachElement = false, path = []) {
  if (unknown === true) return [{ path, value: undefined, unknown: true }];
  if (segments.length === 0) {
    if (eachElement && Array.isArray(value))
      return value.flatMap((v, i) => lookup(v, at(unknown, i), [], false, [...path, i]));
    return [{ path, value: value === undefined ? null : value, unknown }];
  }
  const [segment, ...rest] = segments;
  if (value === null || value === undefined || typeof value !== 'object')
    return [{ path: [...path, ...segments], value: null, unknown: undefined }];
  if (Array.isArray(value)) {
    if (/^\d+$/.test(segment))
      return lookup(value[+segment], at(unknown, +segment), rest, eachElement, [...path, +segment]);
    // `*`, or a name applied to a block (a list in the plan JSON): each element.
    const next = segment === '*' ? rest : segments;
    return value.flatMap((v, i) => lookup(v, at(unknown, i), next, eachElement, [...path, i]));
  }
  if (segment === '*')
    return Object.keys(value).flatMap((k) => lookup(value[k], at(unknown, k), rest, eachElement, [...path, k]));
  return lookup(value[segment], at(unknown, segment), rest, eachElement, [...path, segment]);
}

/** One attribute of `after`: `{ value, unknown }`. */
function attribute(after, afterUnknown, name) {
  const [leaf] = lookup(after, afterUnknown, [name]);
  return leaf;
}

// ------------------------------------------------------------------------------------------------ built-in rules

/** Problems are `{ verdict: 'violation' | 'unknown', text }`; a rule's problems become one finding. */
const violation = (text) => ({ verdict: 'violation', text });
const unknownAtPlan = (text) => ({ verdict: 'unknown', text });

function mustBeTrue(r, name, why) {
  const { value, unknown } = attribute(r.after, r.afterUnknown, name);
  if (unknown === true) return [unknownAtPlan(`${name} must be true (${why}); it is computed: set ${name} = true`)];
  if (value === true) return [];
  if (value === null) return [violation(`${name} is not set; it must be true (${why})`)];
  return [violation(`${name} = ${show(value)}; it must be true (${why})`)];
}

function publicAccessBlock(r) {
  const flags = ['block_public_acls', 'block_public_policy', 'ignore_public_acls', 'restrict_public_buckets'];
  const off = [];
  const computed = [];
  for (const f of flags) {
    const { value, unknown } = attribute(r.after, r.afterUnknown, f);
    if (unknown === true) computed.push(f);
    else if (value !== true) off.push(`${f} = ${show(value)}`);
  }
  if (off.length) return [violation(`${off.join(', ')}: all four public access block settings must be true`)];
  if (computed.length) return [unknownAtPlan(`${computed.join(', ')} must be true; computed`)];
  return [];
}

function cannedAcl(r, { unsetIsComputed }) {
  const { value, unknown } = attribute(r.after, r.afterUnknown, 'acl');
  if (unknown === true)
    return unsetIsComputed ? [] : [unknownAtPlan('acl must not be a public canned ACL; it is computed')];
  if (typeof value === 'string' && PUBLIC_CANNED_ACLS.includes(value))
    return [
      violation(
        `acl = ${show(value)} opens the bucket to ${value === 'authenticated-read' ? 'every AWS account' : 'everyone'}`,
      ),
    ];
  return [];
}

/** Grants (elements of `grants`, each with a `grantee` block or a `uri`) to AllUsers / AuthenticatedUsers. */
function publicGrants(r, segments, uriSegments, permission) {
  const problems = [];
  for (const grant of lookup(r.after, r.afterUnknown, segments)) {
    if (grant.unknown === true) {
      problems.push(
        unknownAtPlan(`${pathText(grant.path)} must grant nothing to AllUsers or AuthenticatedUsers; it is computed`),
      );
      continue;
    }
    if (grant.value === null) continue;
    for (const uri of lookup(grant.value, grant.unknown, uriSegments, true, grant.path)) {
      if (uri.unknown === true)
        problems.push(
          unknownAtPlan(`${pathText(uri.path)} must not be the AllUsers or AuthenticatedUsers group; it is computed`),
        );
      else if (typeof uri.value === 'string' && PUBLIC_GRANTEE.test(uri.value)) {
        const what = lookup(grant.value, grant.unknown, [permission], true)
          .map((p) => p.value)
          .filter(isScalar);
        problems.push(
          violation(
            `${pathText(grant.path)} grants ${what.length ? what.join(', ') : 'access'} to ${uri.value.split('/').pop()}`,
          ),
        );
      }
    }
  }
  return problems;
}

function s3PublicAcl(r) {
  if (r.type === 'aws_s3_bucket') {
    // Wholly unknown acl / grant: not set on the bucket (the provider computes them from the bucket's ACL).
    const grant = attribute(r.after, r.afterUnknown, 'grant');
    return [
      ...cannedAcl(r, { unsetIsComputed: true }),
      ...(grant.unknown === true ? [] : publicGrants(r, ['grant', '*'], ['uri'], 'permissions')),
    ];
  }
  // aws_s3_bucket_acl: `acl` or `access_control_policy`, whichever is set (the provider computes the other from it).
  const acl = attribute(r.after, r.afterUnknown, 'acl');
  if (acl.unknown !== true && acl.value !== null) return cannedAcl(r, { unsetIsComputed: false });
  const policy = attribute(r.after, r.afterUnknown, 'access_control_policy');
  if (policy.unknown === true && acl.unknown === true)
    return [unknownAtPlan('acl and access_control_policy must not make the bucket public; both are computed')];
  return publicGrants(r, ['access_control_policy', '*', 'grant', '*'], ['grantee', '*', 'uri'], 'permission');
}

const isWorld = (cidr) => typeof cidr === 'string' && /\/0$/.test(cidr.trim());

function portsOf(entry, entryUnknown, protocolField) {
  const get = (name) => lookup(entry, entryUnknown, [name])[0];
  const protocol = get(protocolField);
  const proto = String(protocol.value).toLowerCase();
  if (protocol.unknown !== true && (proto === '-1' || proto === 'all'))
    return { known: true, exempt: false, text: 'all ports and protocols' };
  const from = get('from_port');
  const to = get('to_port');
  if ([protocol, from, to].some((v) => v.unknown === true))
    return { known: false, text: 'ports not known at plan time' };
  const exempt = (proto === 'tcp' || proto === '6') && from.value === to.value && PUBLIC_PORTS.includes(from.value);
  const ports = from.value === to.value ? `port ${from.value}` : `ports ${from.value}-${to.value}`;
  return { known: true, exempt, text: `${ports}/${proto}` };
}

/** One ingress rule (a security group's `ingress` element, or a rule resource's `after`). */
function ingressEntry(entry, entryUnknown, path, cidrFields, protocolField) {
  const world = [];
  const computed = [];
  for (const field of cidrFields)
    for (const cidr of lookup(entry, entryUnknown, [field], true, path)) {
      if (cidr.unknown === true) computed.push(pathText(cidr.path));
      else if (isWorld(cidr.value)) world.push(`${pathText(cidr.path)} = ${show(cidr.value)}`);
    }
  if (world.length === 0 && computed.length === 0) return [];
  const ports = portsOf(entry, entryUnknown, protocolField);
  if (ports.known && ports.exempt) return [];
  if (world.length > 0) {
    if (!ports.known) return [unknownAtPlan(`ingress from the internet (${world.join(', ')}) on ${ports.text}`)];
    return [violation(`ingress from the internet (${world.join(', ')}) on ${ports.text}`)];
  }
  return [unknownAtPlan(`${computed.join(', ')} must not be the whole internet (/0) on ${ports.text}; it is computed`)];
}

function publicIngress(r) {
  if (r.type === 'aws_security_group' || r.type === 'aws_default_security_group') {
    const ingress = attribute(r.after, r.afterUnknown, 'ingress');
    if (ingress.unknown === true) return []; // not set inline: the group's rules are resources of their own
    return lookup(r.after, r.afterUnknown, ['ingress', '*']).flatMap((e) =>
      e.unknown === true
        ? [unknownAtPlan(`${pathText(e.path)} must not be open to the internet; it is computed`)]
        : e.value === null
          ? []
          : ingressEntry(e.value, e.unknown, e.path, ['cidr_blocks', 'ipv6_cidr_blocks'], 'protocol'),
    );
  }
  if (r.type === 'aws_security_group_rule') {
    const type = attribute(r.after, r.afterUnknown, 'type');
    if (type.unknown !== true && type.value !== 'ingress') return [];
    return ingressEntry(r.after, r.afterUnknown, [], ['cidr_blocks', 'ipv6_cidr_blocks'], 'protocol');
  }
  return ingressEntry(r.after, r.afterUnknown, [], ['cidr_ipv4', 'cidr_ipv6'], 'ip_protocol');
}

function tagKeys(v) {
  if (isObject(v)) return Object.keys(v);
  if (Array.isArray(v)) return v.filter(isObject).map((t) => t.key); // tags as a list of {key, value} (old providers)
  return [];
}

/** Whether an aws provider configuration of the plan has default_tags (unknowable without the configuration). */
function defaultTagsPossible(plan) {
  if (!isObject(plan.configuration)) return true;
  const providers = Object.values(plan.configuration.provider_config || {});
  return providers.some(
    (p) =>
      isObject(p) &&
      (p.name === 'aws' || /(^|\/)aws$/.test(p.full_name || '')) &&
      isObject(p.expressions) &&
      p.expressions.default_tags !== undefined,
  );
}

function requiredTags(r, policy, plan) {
  const has = (name) => (isObject(r.after) && name in r.after) || (isObject(r.afterUnknown) && name in r.afterUnknown);
  if (!r.type.startsWith('aws_') || !(has('tags') || has('tags_all')) || policy.requiredTags.length === 0) return [];
  const tags = attribute(r.after, r.afterUnknown, 'tags');
  const tagsAll = attribute(r.after, r.afterUnknown, 'tags_all');
  const known = new Set([
    ...(tags.unknown === true ? [] : tagKeys(tags.value)),
    ...(tagsAll.unknown === true ? [] : tagKeys(tagsAll.value)),
  ]);
  const lacking = policy.requiredTags.filter((t) => !known.has(t));
  if (lacking.length === 0) return [];
  const list = lacking.join(', ');
  if (tags.unknown === true)
    return [
      unknownAtPlan(`required tags ${list}: tags${tagsAll.unknown === true ? ' and tags_all are' : ' is'} computed`),
    ];
  if (tagsAll.unknown === true && defaultTagsPossible(plan))
    return [
      unknownAtPlan(
        `required tags ${list}: not in tags, and tags_all is computed (the provider's default_tags may add them)`,
      ),
    ];
  const present = [...known].sort();
  return [violation(`missing required tags ${list} (it has ${present.length ? present.join(', ') : 'none'})`)];
}

const BUILT_IN = [
  { id: 'ebs-encrypted', types: ['aws_ebs_volume'], check: (r) => mustBeTrue(r, 'encrypted', 'encryption at rest') },
  {
    id: 'rds-instance-encrypted',
    types: ['aws_db_instance'],
    check: (r) => mustBeTrue(r, 'storage_encrypted', 'encryption at rest'),
  },
  {
    id: 'rds-cluster-encrypted',
    types: ['aws_rds_cluster'],
    check: (r) => mustBeTrue(r, 'storage_encrypted', 'encryption at rest'),
  },
  {
    id: 's3-public-access-block',
    types: ['aws_s3_bucket_public_access_block', 'aws_s3_account_public_access_block'],
    check: publicAccessBlock,
  },
  { id: 's3-public-acl', types: ['aws_s3_bucket', 'aws_s3_bucket_acl'], check: s3PublicAcl },
  {
    id: 'public-ingress',
    types: [
      'aws_security_group',
      'aws_default_security_group',
      'aws_security_group_rule',
      'aws_vpc_security_group_ingress_rule',
    ],
    check: publicIngress,
  },
  { id: 'required-tags', types: null, check: requiredTags },
];

// ---------------------------------------------------------------------------------------------------- user rules

function describe(rule) {
  switch (rule.op) {
    case 'equals':
      return `must equal ${show(rule.arg)}`;
    case 'in':
      return `must be one of ${rule.arg.map(show).join(', ')}`;
    case 'notIn':
      return `must not be one of ${rule.arg.map(show).join(', ')}`;
    case 'present':
      return rule.arg ? 'must be set' : 'must not be set';
    case 'matches':
      return `must match /${rule.arg}/`;
    case 'lessThanOrEqual':
      return `must be a number <= ${rule.arg}`;
    default:
      return `must be a number >= ${rule.arg}`;
  }
}

function isSet(v) {
  if (v === null || v === undefined || v === '') return false;
  if (Array.isArray(v)) return v.length > 0;
  if (isObject(v)) return Object.keys(v).length > 0;
  return true;
}

function holds(rule, v) {
  switch (rule.op) {
    case 'equals':
      return v === rule.arg;
    case 'in':
      return rule.arg.includes(v);
    case 'notIn':
      return !rule.arg.includes(v);
    case 'present':
      return isSet(v) === rule.arg;
    case 'matches':
      return typeof v === 'string' && rule.regex.test(v);
    case 'lessThanOrEqual':
      return typeof v === 'number' && v <= rule.arg;
    default:
      return typeof v === 'number' && v >= rule.arg;
  }
}

function userRule(rule) {
  return (r) => {
    const prefix = rule.message ? `${rule.message}: ` : '';
    const leaves = lookup(r.after, r.afterUnknown, rule.segments, rule.op !== 'present');
    if (leaves.length === 0 && rule.op === 'present' && rule.arg)
      return [violation(`${prefix}${rule.attribute} has no value; it must be set`)];
    return leaves.flatMap((leaf) => {
      const where = pathText(leaf.path) || rule.attribute;
      if (leaf.unknown === true) return [unknownAtPlan(`${prefix}${where} ${describe(rule)}`)];
      if (holds(rule, leaf.value)) return [];
      return [violation(`${prefix}${where} = ${show(leaf.value)}; it ${describe(rule)}`)];
    });
  };
}

// ------------------------------------------------------------------------------------------------------ evaluate

/** Whether the resource change leaves a managed resource after the apply (its planned `after` is what is checked). */
function willExist(rc) {
  const mode = rc.mode || (/(^|\.)data\./.test(rc.address || '') ? 'data' : 'managed');
  if (mode !== 'managed' || rc.deposed || !isObject(rc.change)) return false;
  const actions = Array.isArray(rc.change.actions) ? rc.change.actions : [];
  const exists =
    actions.includes('create') || actions.includes('update') || (actions.length === 1 && actions[0] === 'no-op');
  return exists && isObject(rc.change.after);
}

/**
 * Evaluates a plan (`terraform show -json`) against a policy (see the top of this file; validated here, a bad one
 * throws a PolicyError naming the field). Returns every finding and how many resources were checked.
 */
function evaluate(plan, rawPolicy) {
  const policy = parsePolicy(rawPolicy);
  if (!isObject(plan)) throw new Error('the plan is not a `terraform show -json` plan (not a JSON object)');
  const changes = plan.resource_changes === undefined ? [] : plan.resource_changes;
  if (!Array.isArray(changes))
    throw new Error('the plan is not a `terraform show -json` plan (resource_changes is not a list)');
  const rules = [
    ...BUILT_IN.map((b) => ({ id: b.id, appliesTo: (t) => !b.types || b.types.includes(t), check: b.check })),
    ...policy.rules.map((u) => ({ id: u.id, appliesTo: u.appliesTo, check: userRule(u) })),
  ];
  const findings = [];
  let checked = 0;
  for (const rc of changes) {
    if (!isObject(rc) || !willExist(rc)) continue;
    checked++;
    const r = {
      address: rc.address,
      type: rc.type || '',
      after: rc.change.after,
      afterUnknown: rc.change.after_unknown,
    };
    for (const rule of rules) {
      if (!rule.appliesTo(r.type)) continue;
      const problems = rule.check(r, policy, plan);
      const worst = problems.some((p) => p.verdict === 'violation') ? 'violation' : problems.length ? 'unknown' : null;
      if (!worst) continue;
      const message = problems
        .filter((p) => p.verdict === worst)
        .map((p) => p.text)
        .join('; ');
      findings.push({ address: r.address, rule: rule.id, verdict: worst, message });
    }
  }
  return { findings, checked };
}

module.exports = { evaluate, parsePolicy, BUILT_IN_RULES, PolicyError };

// ----------------------------------------------------------------------------------------------------------- CLI

function main(argv, env) {
  const fs = require('fs');
  const fail = (message) => {
    console.error(`compliance: ${message}`);
    return 1;
  };
  if (!argv[0]) return fail('usage: node compliance.js plan.json');
  let raw;
  try {
    raw = env.TROPOS_COMPLIANCE && env.TROPOS_COMPLIANCE.trim() ? JSON.parse(env.TROPOS_COMPLIANCE) : {};
  } catch (e) {
    return fail(`TROPOS_COMPLIANCE is not JSON: ${e.message}`);
  }
  if (isObject(raw) && raw.requiredTags === undefined && env.TROPOS_REQUIRED_TAGS)
    raw = {
      ...raw,
      requiredTags: env.TROPOS_REQUIRED_TAGS.split(',')
        .map((t) => t.trim())
        .filter(Boolean),
    };
  let policy;
  try {
    policy = parsePolicy(raw);
  } catch (e) {
    return fail(`TROPOS_COMPLIANCE is invalid: ${e.message}`);
  }
  let plan;
  try {
    plan = JSON.parse(fs.readFileSync(argv[0], 'utf8'));
  } catch (e) {
    return fail(`cannot read the plan ${argv[0]}: ${e.message}`);
  }
  let result;
  try {
    result = evaluate(plan, raw);
  } catch (e) {
    return fail(`${argv[0]}: ${e.message}`);
  }
  const { findings, checked } = result;
  for (const f of findings)
    console.log(
      f.verdict === 'violation'
        ? `VIOLATION ${f.address}: ${f.message}`
        : `UNKNOWN ${f.address}: ${f.message} (unknown at plan time)`,
    );
  const violations = findings.filter((f) => f.verdict === 'violation').length;
  const unknowns = findings.length - violations;
  const failing = violations > 0 || (unknowns > 0 && policy.unknown === 'fail');
  console.log(
    `${violations} violation(s), ${unknowns} unknown at plan time (${policy.unknown === 'fail' ? 'failing' : 'warnings'}: compliance.unknown is "${policy.unknown}"), in ${checked} resource(s) checked: ${failing ? 'does not comply' : 'complies'}`,
  );
  return failing ? 1 : 0;
}

if (require.main === module) process.exitCode = main(process.argv.slice(2), process.env);
