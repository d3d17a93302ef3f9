// The compliance check (buildspecs/scripts/compliance.js) on plans as the AWS provider v5 writes them:
// test/fixtures/compliance/*.plan.json are `terraform show -json` of real plans (terraform 1.11, hashicorp/aws
// 5.100.0; regenerate.sh remakes them from the .tf beside them), and small inline plans of the same shape.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from './helpers/fixtures';

interface Finding {
  address: string;
  rule: string;
  verdict: 'violation' | 'unknown';
  message: string;
}
interface Compliance {
  evaluate(plan: unknown, policy?: unknown): { findings: Finding[]; checked: number };
  parsePolicy(policy: unknown): unknown;
  BUILT_IN_RULES: string[];
}
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { evaluate, parsePolicy, BUILT_IN_RULES } = require('../buildspecs/scripts/compliance.js') as Compliance;

const SCRIPT = join(ROOT, 'buildspecs', 'scripts', 'compliance.js');
const FIXTURES = join(ROOT, 'test', 'fixtures', 'compliance');
const REFERENCE_PLANS = join(ROOT, '..', 'shared', 'reference', 'terraform-plans');

type Json = Record<string, unknown>;
interface Change {
  address: string;
  mode: string;
  type: string;
  change: { actions: string[]; before: Json | null; after: Json | null; after_unknown: Json | null };
}
interface Plan {
  resource_changes: Change[];
  configuration?: Json;
}
const load = (name: string) => JSON.parse(readFileSync(join(FIXTURES, name), 'utf8')) as Plan;
const rulesPlan = load('rules.plan.json');
const defaultTagsPlan = load('default-tags.plan.json');
const change = (plan: Plan, address: string) => {
  const c = plan.resource_changes.find((r) => r.address === address);
  if (!c) throw new Error(`${address} is not in the fixture: run test/fixtures/compliance/regenerate.sh?`);
  return c;
};

const TAGS = { requiredTags: ['Owner', 'CostCenter'] };
/** The findings of one rule, as [verdict, address, message]. */
const of = (findings: Finding[], rule: string) =>
  findings.filter((f) => f.rule === rule).map((f) => [f.verdict, f.address, f.message]);

/** A plan of one resource change (the shape terraform writes), for the cases the fixtures do not hold. */
function planOf(
  type: string,
  after: Json | null,
  afterUnknown: Json = {},
  extra: Partial<Change> = {},
  plan: Json = {},
) {
  return {
    format_version: '1.2',
    terraform_version: '1.11.4',
    resource_changes: [
      {
        address: `${type}.this`,
        mode: 'managed',
        type,
        name: 'this',
        provider_name: 'registry.terraform.io/hashicorp/aws',
        change: { actions: ['create'], before: null, after, after_unknown: afterUnknown },
        ...extra,
      },
    ],
    ...plan,
  };
}

describe('the fixtures are shaped as the defects need (else regenerate.sh changed them)', () => {
  test('an untagged bucket: tags null, tags_all absent from after and wholly unknown; no default_tags', () => {
    const { after, after_unknown } = change(rulesPlan, 'aws_s3_bucket.untagged').change;
    expect(after).toHaveProperty('tags', null);
    expect(after).not.toHaveProperty('tags_all');
    expect(after_unknown).toHaveProperty('tags_all', true);
    expect(JSON.stringify(rulesPlan.configuration)).not.toContain('default_tags');
  });

  test('a volume whose encryption is computed; a security group with ::/0 inline; a delete, a forget, data sources', () => {
    expect(change(rulesPlan, 'aws_ebs_volume.computed').change.after_unknown).toHaveProperty('encrypted', true);
    expect(change(rulesPlan, 'aws_ebs_volume.computed').change.after).not.toHaveProperty('encrypted');
    expect(JSON.stringify(change(rulesPlan, 'aws_security_group.web').change.after?.ingress)).toContain('"::/0"');
    expect(change(rulesPlan, 'aws_ebs_volume.gone').change).toMatchObject({ actions: ['delete'], after: null });
    expect(change(rulesPlan, 'aws_ebs_volume.forgotten').change.actions).toEqual(['forget']);
    expect(change(rulesPlan, 'aws_ebs_volume.kept').change.actions).toEqual(['no-op']);
    expect(change(rulesPlan, 'aws_ebs_volume.moved_az').change.actions).toEqual(['delete', 'create']);
    expect(change(rulesPlan, 'data.aws_iam_policy_document.read').mode).toBe('data');
    expect(change(rulesPlan, 'data.aws_ebs_volume.existing')).toMatchObject({ mode: 'data', type: 'aws_ebs_volume' });
  });

  test('with default_tags, tags_all is known at plan time; a computed tag value makes tags and tags_all unknown', () => {
    expect(change(defaultTagsPlan, 'aws_s3_bucket.untagged').change.after).toHaveProperty('tags_all', {
      Owner: 'platform',
    });
    expect(change(defaultTagsPlan, 'aws_s3_bucket.computed').change.after_unknown).toMatchObject({
      tags: true,
      tags_all: true,
    });
  });
});

describe('the built-in rules, on a plan of the AWS provider v5', () => {
  const { findings, checked } = evaluate(rulesPlan, TAGS);

  test('encryption at rest: EBS volumes', () => {
    expect(of(findings, 'ebs-encrypted')).toEqual([
      // Not set: computed at plan time (the account's encryption-by-default decides): unknown, not false.
      [
        'unknown',
        'aws_ebs_volume.computed',
        'encrypted must be true (encryption at rest); it is computed: set encrypted = true',
      ],
      // No-op and replace are what will exist after the apply: checked too.
      ['violation', 'aws_ebs_volume.kept', 'encrypted = false; it must be true (encryption at rest)'],
      ['violation', 'aws_ebs_volume.moved_az', 'encrypted = false; it must be true (encryption at rest)'],
      ['violation', 'aws_ebs_volume.plain', 'encrypted = false; it must be true (encryption at rest)'],
    ]);
  });

  test('encryption at rest: RDS instances (null is the unencrypted default) and clusters', () => {
    expect(of(findings, 'rds-instance-encrypted')).toEqual([
      ['violation', 'aws_db_instance.unset', 'storage_encrypted is not set; it must be true (encryption at rest)'],
    ]);
    expect(of(findings, 'rds-cluster-encrypted')).toEqual([
      ['violation', 'aws_rds_cluster.unencrypted', 'storage_encrypted = false; it must be true (encryption at rest)'],
      [
        'unknown',
        'aws_rds_cluster.unset',
        'storage_encrypted must be true (encryption at rest); it is computed: set storage_encrypted = true',
      ],
    ]);
  });

  test('no public access: public access blocks, bucket and account', () => {
    expect(of(findings, 's3-public-access-block')).toEqual([
      [
        'violation',
        'aws_s3_account_public_access_block.account',
        'block_public_policy = false, ignore_public_acls = false, restrict_public_buckets = false: all four public access block settings must be true',
      ],
      [
        'violation',
        'aws_s3_bucket_public_access_block.weak',
        'block_public_policy = false, restrict_public_buckets = false: all four public access block settings must be true',
      ],
    ]);
  });

  test('no public access: canned ACLs (the legacy bucket acl too) and grants to the AllUsers/AuthenticatedUsers groups', () => {
    expect(of(findings, 's3-public-acl')).toEqual([
      ['violation', 'aws_s3_bucket.legacy_acl', 'acl = "public-read" opens the bucket to everyone'],
      ['violation', 'aws_s3_bucket_acl.canned_public', 'acl = "public-read-write" opens the bucket to everyone'],
      ['violation', 'aws_s3_bucket_acl.grants', 'access_control_policy[0].grant[0] grants READ to AuthenticatedUsers'],
    ]);
  });

  test('no public access: ingress from 0.0.0.0/0 or ::/0, inline or as rules, except TCP on exactly 80 or 443', () => {
    expect(of(findings, 'public-ingress')).toEqual([
      [
        'violation',
        'aws_default_security_group.default',
        'ingress from the internet (ingress[0].cidr_blocks[0] = "0.0.0.0/0") on all ports and protocols',
      ],
      // Its other ingress, 0.0.0.0/0 on 443/tcp, is allowed; its egress is not ingress.
      [
        'violation',
        'aws_security_group.web',
        'ingress from the internet (ingress[1].ipv6_cidr_blocks[0] = "::/0") on port 22/tcp',
      ],
      [
        'violation',
        'aws_security_group_rule.ssh',
        'ingress from the internet (cidr_blocks[0] = "0.0.0.0/0") on port 22/tcp',
      ],
      [
        'violation',
        'aws_vpc_security_group_ingress_rule.all_v4',
        'ingress from the internet (cidr_ipv4 = "0.0.0.0/0") on all ports and protocols',
      ],
      [
        'unknown',
        'aws_vpc_security_group_ingress_rule.from_eip',
        'cidr_ipv4 must not be the whole internet (/0) on port 22/tcp; it is computed',
      ],
      // https_v6 (::/0 on exactly 443/tcp) is allowed; 80-443 is a range.
      [
        'violation',
        'aws_vpc_security_group_ingress_rule.range_v6',
        'ingress from the internet (cidr_ipv6 = "::/0") on ports 80-443/tcp',
      ],
    ]);
  });

  test('required tags: untagged resources are found (tags_all unknown, no default_tags), partly tagged ones too', () => {
    expect(of(findings, 'required-tags')).toEqual([
      ['violation', 'aws_ebs_volume.kept', 'missing required tags Owner, CostCenter (it has none)'],
      ['violation', 'aws_s3_bucket.empty_tags', 'missing required tags Owner, CostCenter (it has none)'],
      ['violation', 'aws_s3_bucket.partly', 'missing required tags CostCenter (it has Owner)'],
      ['violation', 'aws_s3_bucket.untagged', 'missing required tags Owner, CostCenter (it has none)'],
      ['violation', 'module.logs.aws_s3_bucket.this', 'missing required tags Owner, CostCenter (it has none)'],
    ]);
    // Not taggable (no tags / tags_all): the ACLs, the public access blocks, aws_security_group_rule.
  });

  test('data sources, deletes and forgets are not evaluated; every other managed resource is', () => {
    const addresses = findings.map((f) => f.address);
    for (const gone of ['data.aws_ebs_volume.existing', 'aws_ebs_volume.gone', 'aws_ebs_volume.forgotten'])
      expect(addresses).not.toContain(gone);
    expect(rulesPlan.resource_changes).toHaveLength(36); // 2 data sources, 1 delete, 1 forget
    expect(checked).toBe(32);
  });

  test('nothing else is found', () => {
    expect(findings.map((f) => f.rule).sort()).toEqual(
      [
        ...Array<string>(4).fill('ebs-encrypted'),
        'rds-instance-encrypted',
        ...Array<string>(2).fill('rds-cluster-encrypted'),
        ...Array<string>(2).fill('s3-public-access-block'),
        ...Array<string>(3).fill('s3-public-acl'),
        ...Array<string>(6).fill('public-ingress'),
        ...Array<string>(5).fill('required-tags'),
      ].sort(),
    );
  });
});

describe('required tags and the provider', () => {
  test("with default_tags: what the provider adds counts; a computed tags map is unknown; the non-taggable isn't asked", () => {
    expect(evaluate(defaultTagsPlan, TAGS).findings).toEqual([
      {
        address: 'aws_s3_bucket.computed',
        rule: 'required-tags',
        verdict: 'unknown',
        message: 'required tags Owner, CostCenter: tags and tags_all are computed',
      },
      {
        address: 'aws_s3_bucket.untagged',
        rule: 'required-tags',
        verdict: 'violation',
        message: 'missing required tags CostCenter (it has Owner)',
      },
    ]);
  });

  const untagged = { bucket: 'b', tags: null };
  const defaultTags = { provider_config: { aws: { name: 'aws', expressions: { default_tags: [{ tags: {} }] } } } };

  test('tags_all unknown and the tag not in tags: unknown when a provider has default_tags (they may add it)', () => {
    const plan = planOf('aws_s3_bucket', untagged, { tags_all: true }, {}, { configuration: defaultTags });
    expect(evaluate(plan, { requiredTags: ['Owner'] }).findings).toEqual([
      {
        address: 'aws_s3_bucket.this',
        rule: 'required-tags',
        verdict: 'unknown',
        message:
          "required tags Owner: not in tags, and tags_all is computed (the provider's default_tags may add them)",
      },
    ]);
  });

  test('... and unknown when the plan carries no configuration to tell', () => {
    const plan = planOf('aws_s3_bucket', untagged, { tags_all: true });
    expect(evaluate(plan, { requiredTags: ['Owner'] }).findings.map((f) => f.verdict)).toEqual(['unknown']);
  });

  test('... but present when tags has it, whatever tags_all is', () => {
    const plan = planOf('aws_s3_bucket', { tags: { Owner: 'a' } }, { tags: {}, tags_all: true });
    expect(evaluate(plan, { requiredTags: ['Owner'] }).findings).toEqual([]);
  });

  test('an older provider (tags, no tags_all): an untagged resource is found', () => {
    const plan = planOf('aws_instance', { ami: 'ami-1', tags: null }, { arn: true });
    expect(evaluate(plan, { requiredTags: ['Owner'] }).findings).toEqual([
      {
        address: 'aws_instance.this',
        rule: 'required-tags',
        verdict: 'violation',
        message: 'missing required tags Owner (it has none)',
      },
    ]);
  });

  test('only aws_ resources are asked; no required tags, no finding', () => {
    expect(evaluate(planOf('google_storage_bucket', { tags: null }), { requiredTags: ['Owner'] }).findings).toEqual([]);
    expect(evaluate(planOf('aws_s3_bucket', { tags: null }), {}).findings).toEqual([]);
  });
});

describe('unknown is not false', () => {
  test('a value unknown at plan time is reported as unknown, never as a violation', () => {
    const plan = planOf('aws_db_instance', { engine: 'postgres' }, { storage_encrypted: true });
    expect(evaluate(plan).findings).toEqual([
      {
        address: 'aws_db_instance.this',
        rule: 'rds-instance-encrypted',
        verdict: 'unknown',
        message: 'storage_encrypted must be true (encryption at rest); it is computed: set storage_encrypted = true',
      },
    ]);
  });

  test('a computed ingress port on a world-open rule is unknown; on a known non-/0 CIDR it is nothing', () => {
    const open = planOf(
      'aws_security_group_rule',
      { type: 'ingress', protocol: 'tcp', cidr_blocks: ['0.0.0.0/0'], ipv6_cidr_blocks: null, to_port: 443 },
      { from_port: true },
    );
    expect(evaluate(open).findings.map((f) => [f.verdict, f.message])).toEqual([
      ['unknown', 'ingress from the internet (cidr_blocks[0] = "0.0.0.0/0") on ports not known at plan time'],
    ]);
    const closed = planOf(
      'aws_security_group_rule',
      { type: 'ingress', protocol: 'tcp', cidr_blocks: ['10.0.0.0/8'], ipv6_cidr_blocks: null, to_port: 22 },
      { from_port: true },
    );
    expect(evaluate(closed).findings).toEqual([]);
  });

  test('a dynamic ingress block over a computed list: its CIDRs and ports are unknown', () => {
    // As terraform 1.11 plans `dynamic "ingress" { for_each = <unknown> }` (checked with the real provider).
    const plan = planOf(
      'aws_security_group',
      { ingress: [{ description: '', ipv6_cidr_blocks: [], prefix_list_ids: [], security_groups: [], self: false }] },
      { ingress: [{ cidr_blocks: true, from_port: true, protocol: true, to_port: true, ipv6_cidr_blocks: [] }] },
    );
    expect(evaluate(plan).findings.map((f) => [f.verdict, f.message])).toEqual([
      [
        'unknown',
        'ingress[0].cidr_blocks must not be the whole internet (/0) on ports not known at plan time; it is computed',
      ],
    ]);
  });

  test('an aws_s3_bucket_acl grant to AllUsers, and one whose grantee is computed', () => {
    const grant = (uri: string | null) => ({
      grantee: [{ email_address: '', id: '', type: 'Group', uri: uri ?? '' }],
      permission: 'WRITE',
    });
    const plan = planOf(
      'aws_s3_bucket_acl',
      { acl: null, access_control_policy: [{ grant: [grant('http://acs.amazonaws.com/groups/global/AllUsers')] }] },
      { access_control_policy: [{ grant: [{ grantee: [{ display_name: true }] }] }] },
    );
    expect(evaluate(plan).findings.map((f) => [f.verdict, f.message])).toEqual([
      ['violation', 'access_control_policy[0].grant[0] grants WRITE to AllUsers'],
    ]);
    const computed = planOf(
      'aws_s3_bucket_acl',
      { acl: null, access_control_policy: [{ grant: [grant(null)] }] },
      { access_control_policy: [{ grant: [{ grantee: [{ uri: true }] }] }] },
    );
    expect(evaluate(computed).findings.map((f) => [f.verdict, f.message])).toEqual([
      [
        'unknown',
        'access_control_policy[0].grant[0].grantee[0].uri must not be the AllUsers or AuthenticatedUsers group; it is computed',
      ],
    ]);
  });

  test('a data source of a checked type is never evaluated, even with mode missing (format 0.1 addresses)', () => {
    const data = planOf('aws_ebs_volume', { encrypted: false }, {}, { mode: 'data', address: 'data.aws_ebs_volume.x' });
    expect(evaluate(data)).toEqual({ findings: [], checked: 0 });
    const noMode = planOf('aws_ebs_volume', { encrypted: false }, {}, { address: 'module.m.data.aws_ebs_volume.x' });
    delete (noMode.resource_changes[0] as Partial<Change>).mode;
    expect(evaluate(noMode)).toEqual({ findings: [], checked: 0 });
  });
});

describe('user rules (data in the configuration)', () => {
  const rules = [
    {
      id: 'no-gp2',
      resourceTypes: ['aws_ebs_volume'],
      attribute: 'type',
      notIn: ['gp2'],
      message: 'gp3 is cheaper and faster',
    },
    { id: 'small-volumes', resourceTypes: ['aws_ebs_volume'], attribute: 'size', lessThanOrEqual: 15 },
    {
      id: 'no-world-v4',
      resourceTypes: ['aws_*security_group'],
      attribute: 'ingress.*.cidr_blocks',
      notIn: ['0.0.0.0/0'],
    },
    { id: 'postgres', resourceTypes: ['aws_db_instance'], attribute: 'engine', equals: 'postgres' },
  ];
  const { findings } = evaluate(rulesPlan, { rules });

  test('notIn, with unknown values unknown', () => {
    expect(of(findings, 'no-gp2')).toEqual([
      ['unknown', 'aws_ebs_volume.computed', 'gp3 is cheaper and faster: type must not be one of "gp2"'],
      ['violation', 'aws_ebs_volume.plain', 'gp3 is cheaper and faster: type = "gp2"; it must not be one of "gp2"'],
    ]);
  });

  test('lessThanOrEqual; equals (postgres everywhere: nothing found)', () => {
    expect(of(findings, 'small-volumes')).toEqual([
      ['violation', 'aws_ebs_volume.grown', 'size = 20; it must be a number <= 15'],
    ]);
    expect(of(findings, 'postgres')).toEqual([]);
  });

  test('a path through a list (ingress.*.cidr_blocks: every element); a wholly unknown list is unknown', () => {
    expect(of(findings, 'no-world-v4')).toEqual([
      [
        'violation',
        'aws_default_security_group.default',
        'ingress[0].cidr_blocks[0] = "0.0.0.0/0"; it must not be one of "0.0.0.0/0"',
      ],
      ['unknown', 'aws_security_group.bare', 'ingress must not be one of "0.0.0.0/0"'],
      [
        'violation',
        'aws_security_group.web',
        'ingress[0].cidr_blocks[0] = "0.0.0.0/0"; it must not be one of "0.0.0.0/0"',
      ],
    ]);
  });

  const volume = {
    type: 'gp3',
    root_block_device: [{ encrypted: true }, { encrypted: false }],
    tags: { Owner: 'platform', Team: 'x' },
    kms_key_id: '',
    list: [],
  };
  const run = (rule: Json, after: Json = volume, unknown: Json = {}) =>
    evaluate(planOf('aws_instance', after, unknown), {
      rules: [{ id: 'r', resourceTypes: ['aws_instance'], ...rule }],
    }).findings.map((f) => [f.verdict, f.message]);

  test.each<[string, Json, string[][]]>([
    [
      'a name applied to a block applies to each element',
      { attribute: 'root_block_device.encrypted', equals: true },
      [['violation', 'root_block_device[1].encrypted = false; it must equal true']],
    ],
    ['an index picks one element', { attribute: 'root_block_device.0.encrypted', equals: true }, []],
    [
      '* over a map: every value',
      { attribute: 'tags.*', matches: '^[a-z]{2,}$' },
      [['violation', 'tags.Team = "x"; it must match /^[a-z]{2,}$/']],
    ],
    ['in', { attribute: 'type', in: ['gp3', 'io2'] }, []],
    [
      'present: "" is not set',
      { attribute: 'kms_key_id', present: true, message: 'use a customer key' },
      [['violation', 'use a customer key: kms_key_id = ""; it must be set']],
    ],
    ['present: an absent attribute is not set', { attribute: 'nothing.here', present: false }, []],
    [
      'present over an empty list: nothing there',
      { attribute: 'list.*', present: true },
      [['violation', 'list.* has no value; it must be set']],
    ],
    [
      'a number operator on a string',
      { attribute: 'type', greaterThanOrEqual: 1 },
      [['violation', 'type = "gp3"; it must be a number >= 1']],
    ],
  ])('%s', (_, rule, expected) => {
    expect(run(rule)).toEqual(expected);
  });

  test('an unknown element of a list is unknown; a violating one wins over it', () => {
    const after = { cidrs: ['10.0.0.0/8', null] };
    expect(run({ attribute: 'cidrs', notIn: ['0.0.0.0/0'] }, after, { cidrs: [false, true] })).toEqual([
      ['unknown', 'cidrs[1] must not be one of "0.0.0.0/0"'],
    ]);
    const both = { cidrs: ['0.0.0.0/0', null] };
    expect(run({ attribute: 'cidrs', notIn: ['0.0.0.0/0'] }, both, { cidrs: [false, true] })).toEqual([
      ['violation', 'cidrs[0] = "0.0.0.0/0"; it must not be one of "0.0.0.0/0"'],
    ]);
  });

  test('resourceTypes: exact, or * for any characters', () => {
    const rule = { id: 'r', attribute: 'type', equals: 'io2' };
    const plan = planOf('aws_ebs_volume', { type: 'gp3' });
    const found = (resourceTypes: string[]) =>
      of(evaluate(plan, { rules: [{ ...rule, resourceTypes }] }).findings, 'r');
    expect(found(['aws_ebs'])).toEqual([]);
    expect(found(['aws_ebs_*'])).toEqual([['violation', 'aws_ebs_volume.this', 'type = "gp3"; it must equal "io2"']]);
  });
});

describe('the policy', () => {
  const rule = { id: 'r', resourceTypes: ['aws_ebs_volume'], attribute: 'type', notIn: ['gp2'] };
  test('defaults: no required tags, unknown fails, no rules', () => {
    expect(parsePolicy(undefined)).toEqual({ requiredTags: [], unknown: 'fail', rules: [] });
  });

  test.each<[string, unknown, string]>([
    ['a field it does not have', { unknwon: 'warn' }, 'unknwon: not a policy field (requiredTags, unknown, rules)'],
    ['a bad unknown', { unknown: 'maybe' }, 'unknown: must be "fail" or "warn", not "maybe"'],
    ['required tags not a list', { requiredTags: 'Owner' }, 'requiredTags: must be a list of tag names'],
    ['a duplicate id', { rules: [rule, { ...rule }] }, 'rules[1].id: "r" is the id of an earlier rule; ids are unique'],
    [
      "a built-in rule's id",
      { rules: [{ ...rule, id: 'required-tags' }] },
      `rules[0].id: "required-tags" is a built-in rule's id; give the rule an id of its own`,
    ],
    [
      'no resource types',
      { rules: [{ ...rule, resourceTypes: [] }] },
      'rules[0].resourceTypes: a non-empty list of resource types like aws_ebs_volume (* matches any)',
    ],
    [
      'two operators',
      { rules: [{ ...rule, in: ['gp3'] }] },
      'rules[0]: give exactly one operator of equals, in, notIn, present, matches, lessThanOrEqual, greaterThanOrEqual (has in, notIn)',
    ],
    [
      'a regular expression that does not compile',
      { rules: [{ id: 'r', resourceTypes: ['aws_s3_bucket'], attribute: 'bucket', matches: '([' }] },
      'rules[0].matches: "([" is not a valid regular expression',
    ],
    ['a misspelt operator', { rules: [{ ...rule, notin: ['gp2'] }] }, 'rules[0].notin: not a rule field'],
  ])('%s is refused, naming the field', (_, policy, message) => {
    expect(() => parsePolicy(policy)).toThrow(message);
    expect(() => evaluate(rulesPlan, policy)).toThrow(message);
  });
});

describe('node compliance.js plan.json (as the runner calls it)', () => {
  function cli(plan: string, env: Record<string, string>) {
    const r = spawnSync(process.execPath, [SCRIPT, plan], {
      encoding: 'utf8',
      env: { PATH: process.env.PATH, ...env },
    });
    return { status: r.status, out: r.stdout.trim().split('\n'), err: r.stderr.trim() };
  }
  const plan = join(FIXTURES, 'default-tags.plan.json');

  test('the legacy TROPOS_REQUIRED_TAGS alone: every finding a line, the count, exit 1', () => {
    expect(cli(plan, { TROPOS_REQUIRED_TAGS: 'Owner,CostCenter' })).toEqual({
      status: 1,
      out: [
        'UNKNOWN aws_s3_bucket.computed: required tags Owner, CostCenter: tags and tags_all are computed (unknown at plan time)',
        'VIOLATION aws_s3_bucket.untagged: missing required tags CostCenter (it has Owner)',
        '1 violation(s), 1 unknown at plan time (failing: compliance.unknown is "fail"), in 4 resource(s) checked: does not comply',
      ],
      err: '',
    });
  });

  test('unknowns alone fail under "fail" and pass under "warn"; the policy\'s requiredTags win over the legacy list', () => {
    const policy = (unknown: string) => JSON.stringify({ requiredTags: ['Owner', 'Team'], unknown, rules: [] });
    const env = { TROPOS_REQUIRED_TAGS: 'Owner' };
    const warn = cli(plan, { ...env, TROPOS_COMPLIANCE: policy('warn') });
    expect(warn.status).toBe(1); // Team is missing everywhere: violations fail whatever `unknown` says
    expect(warn.out.at(-1)).toBe(
      '2 violation(s), 1 unknown at plan time (warnings: compliance.unknown is "warn"), in 4 resource(s) checked: does not comply',
    );
    const onlyOwner = JSON.stringify({ requiredTags: ['Owner'], unknown: 'warn' });
    expect(cli(plan, { TROPOS_COMPLIANCE: onlyOwner })).toEqual({
      status: 0,
      out: [
        'UNKNOWN aws_s3_bucket.computed: required tags Owner: tags and tags_all are computed (unknown at plan time)',
        '0 violation(s), 1 unknown at plan time (warnings: compliance.unknown is "warn"), in 4 resource(s) checked: complies',
      ],
      err: '',
    });
    expect(cli(plan, { TROPOS_COMPLIANCE: JSON.stringify({ requiredTags: ['Owner'] }) }).status).toBe(1);
  });

  test('a compliant plan exits 0', () => {
    expect(cli(plan, {})).toEqual({
      status: 0,
      out: [
        '0 violation(s), 0 unknown at plan time (failing: compliance.unknown is "fail"), in 4 resource(s) checked: complies',
      ],
      err: '',
    });
  });

  test('a bad policy, a policy that is not JSON, a plan that is not JSON: exit 1 saying which', () => {
    expect(cli(plan, { TROPOS_COMPLIANCE: '{"unknown":"maybe"}' })).toEqual({
      status: 1,
      out: [''],
      err: 'compliance: TROPOS_COMPLIANCE is invalid: unknown: must be "fail" or "warn", not "maybe"',
    });
    const notJson = cli(plan, { TROPOS_COMPLIANCE: '{unknown: warn}' });
    expect(notJson.status).toBe(1);
    expect(notJson.err).toMatch(/^compliance: TROPOS_COMPLIANCE is not JSON: /);
    const bad = join(mkdtempSync(join(tmpdir(), 'compliance-')), 'plan.json');
    writeFileSync(bad, 'Error: no plan');
    const r = cli(bad, {});
    expect(r.status).toBe(1);
    expect(r.err).toMatch(new RegExp(`^compliance: cannot read the plan ${bad}: `));
  });
});

describe("terraform-json's reference plans (../shared/reference/terraform-plans): a smoke check", () => {
  const files = existsSync(REFERENCE_PLANS) ? readdirSync(REFERENCE_PLANS).filter((f) => f.endsWith('.json')) : [];

  test('every plan evaluates without a crash; the one AWS plan (an old provider: tags, no tags_all) is found untagged', () => {
    const AWS_PLAN = 'nested_config_keys__plan.json';
    const results = new Map<string, { findings: Finding[]; checked: number }>();
    for (const file of files) {
      let plan: unknown;
      try {
        plan = JSON.parse(readFileSync(join(REFERENCE_PLANS, file), 'utf8'));
      } catch {
        continue; // invalid__plan.json is not JSON
      }
      results.set(file, evaluate(plan, TAGS)); // a crash fails the test
    }
    expect(results.get(AWS_PLAN)).toEqual(
      files.includes(AWS_PLAN)
        ? {
            findings: [
              {
                address: 'aws_instance.foo',
                rule: 'required-tags',
                verdict: 'violation',
                message: 'missing required tags Owner, CostCenter (it has none)',
              },
            ],
            checked: 1,
          }
        : undefined,
    );
    // null_resource, local_file, test_instance, …: nothing AWS, nothing found.
    expect([...results].filter(([file]) => file !== AWS_PLAN).flatMap(([, r]) => r.findings)).toEqual([]);
  });
});

test("compliance.js's built-in rule ids are the configuration's", async () => {
  const { BUILT_IN_COMPLIANCE_RULES } = await import('../lib/config/schema');
  expect(BUILT_IN_RULES).toEqual([...BUILT_IN_COMPLIANCE_RULES]);
});
