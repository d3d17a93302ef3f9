// The `compliance` section of tropos.config.yaml: validated at synth with the field and the fix, handed to the
// runners as TROPOS_COMPLIANCE, and read by buildspecs/scripts/compliance.js, which refuses what the schema refuses.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { ConfigError, parseConfig } from '../lib/config/load';
import { config, ROOT } from './helpers/fixtures';
import { synthWorkflows } from './helpers/synth';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { parsePolicy } = require('../buildspecs/scripts/compliance.js') as { parsePolicy(p: unknown): unknown };

const example = parse(readFileSync(join(ROOT, 'tropos.config.yaml'), 'utf8')) as Record<string, unknown>;
/** The example configuration with its `compliance` section replaced (removed, for undefined). */
const withCompliance = (compliance: unknown) => {
  const c = structuredClone(example);
  if (compliance === undefined) delete c.compliance;
  else c.compliance = compliance;
  return stringify(c);
};

const gp2 = {
  id: 'no-gp2',
  resourceTypes: ['aws_ebs_volume'],
  attribute: 'type',
  notIn: ['gp2'],
  message: 'gp3 is cheaper and faster',
};

describe('the compliance configuration', () => {
  test('defaults: unknown values fail, no rules of its own; the example is valid', () => {
    expect(config.compliance).toEqual({ unknown: 'fail', rules: [] });
    expect(parseConfig(withCompliance(undefined)).compliance).toEqual({ unknown: 'fail', rules: [] });
  });

  test('rules of every operator are kept as written, and compliance.js accepts them', () => {
    const rules = [
      gp2,
      { id: 'gp3-only', resourceTypes: ['aws_ebs_volume'], attribute: 'type', in: ['gp3', 'io2'] },
      { id: 'multi-az', resourceTypes: ['aws_db_instance'], attribute: 'multi_az', equals: true },
      { id: 'kms', resourceTypes: ['aws_ebs_*'], attribute: 'kms_key_id', present: true },
      { id: 'names', resourceTypes: ['aws_s3_bucket'], attribute: 'bucket', matches: '^acme-' },
      { id: 'small', resourceTypes: ['aws_ebs_volume'], attribute: 'size', lessThanOrEqual: 500 },
      {
        id: 'retention',
        resourceTypes: ['aws_db_instance'],
        attribute: 'backup_retention_period',
        greaterThanOrEqual: 7,
      },
    ];
    const parsed = parseConfig(withCompliance({ unknown: 'warn', rules })).compliance;
    expect(parsed).toEqual({ unknown: 'warn', rules });
    expect(() => parsePolicy({ requiredTags: ['Owner'], ...parsed })).not.toThrow();
  });

  test.each<[string, unknown, RegExp, RegExp]>([
    [
      'an unknown rule that is neither fail nor warn',
      { unknown: 'ignore' },
      /compliance.unknown: Invalid option: expected one of "fail"\|"warn"/,
      /unknown: must be "fail" or "warn"/,
    ],
    [
      'two rules with one id',
      { rules: [gp2, { ...gp2, notIn: ['standard'] }] },
      /compliance.rules\[1\].id: "no-gp2" is already the id of rules\[0\]; each rule needs an id of its own/,
      /rules\[1\].id: "no-gp2" is the id of an earlier rule/,
    ],
    [
      "a built-in rule's id",
      { rules: [{ ...gp2, id: 'ebs-encrypted' }] },
      /compliance.rules\[0\].id: "ebs-encrypted" is a built-in rule's id; give the rule an id of its own/,
      /rules\[0\].id: "ebs-encrypted" is a built-in rule's id/,
    ],
    [
      'no resource types',
      { rules: [{ ...gp2, resourceTypes: [] }] },
      /compliance.rules\[0\].resourceTypes: list at least one resource type, like \[aws_ebs_volume\]/,
      /rules\[0\].resourceTypes: a non-empty list/,
    ],
    [
      'no operator',
      { rules: [{ id: 'x', resourceTypes: ['aws_ebs_volume'], attribute: 'type' }] },
      /compliance.rules\[0\]: give exactly one operator of equals, in, notIn, present, matches, lessThanOrEqual, greaterThanOrEqual \(has none\)/,
      /rules\[0\]: give exactly one operator .* \(has none\)/,
    ],
    [
      'two operators',
      { rules: [{ ...gp2, equals: 'gp3' }] },
      /compliance.rules\[0\]: give exactly one operator .* \(has equals, notIn\)/,
      /rules\[0\]: give exactly one operator .* \(has equals, notIn\)/,
    ],
    [
      'a regular expression that does not compile',
      { rules: [{ id: 'names', resourceTypes: ['aws_s3_bucket'], attribute: 'bucket', matches: 'acme-(' }] },
      /compliance.rules\[0\].matches: "acme-\(" is not a valid regular expression \(Invalid regular expression/,
      /rules\[0\].matches: "acme-\(" is not a valid regular expression/,
    ],
    [
      'a misspelt operator',
      { rules: [{ id: 'x', resourceTypes: ['aws_ebs_volume'], attribute: 'type', notin: ['gp2'] }] },
      /compliance.rules\[0\]: Unrecognized key: "notin"/,
      /rules\[0\].notin: not a rule field/,
    ],
    [
      'an empty attribute path segment',
      { rules: [{ ...gp2, attribute: 'ingress..cidr_blocks' }] },
      /compliance.rules\[0\].attribute: a dotted path into the planned resource, like ingress.\*.cidr_blocks/,
      /rules\[0\].attribute: a dotted path/,
    ],
    [
      'an equals that is not a string, number or boolean',
      { rules: [{ id: 'x', resourceTypes: ['aws_ebs_volume'], attribute: 'type', equals: ['gp3'] }] },
      /compliance.rules\[0\].equals: a string, number or boolean/,
      /rules\[0\].equals: a string, number or boolean/,
    ],
  ])('refuses %s, naming the field (and so does compliance.js)', (_, compliance, configMessage, scriptMessage) => {
    expect(() => parseConfig(withCompliance(compliance))).toThrow(ConfigError);
    expect(() => parseConfig(withCompliance(compliance))).toThrow(configMessage);
    expect(() => parsePolicy(compliance)).toThrow(scriptMessage);
  });

  test('the runners get it as TROPOS_COMPLIANCE, with tagsPolicy.required, and compliance.js applies it', () => {
    const custom = parseConfig(withCompliance({ unknown: 'warn', rules: [gp2] }));
    const text = readFileSync(join(ROOT, 'workflows', 'compliance-check.yaml'), 'utf8');
    const { template } = synthWorkflows({ 'compliance-check': text }, { config: custom });
    const values = Object.values(template.findResources('AWS::CodeBuild::Project')).flatMap((p) =>
      (
        (p as { Properties: { Environment: { EnvironmentVariables?: { Name: string; Value: string }[] } } }).Properties
          .Environment.EnvironmentVariables ?? []
      )
        .filter((v) => v.Name === 'TROPOS_COMPLIANCE')
        .map((v) => v.Value),
    );
    expect(values.length).toBeGreaterThan(0);
    for (const value of values)
      expect(JSON.parse(value)).toEqual({ requiredTags: ['Owner', 'CostCenter'], unknown: 'warn', rules: [gp2] });

    const plan = join(ROOT, 'test', 'fixtures', 'compliance', 'rules.plan.json');
    const r = spawnSync(process.execPath, [join(ROOT, 'buildspecs', 'scripts', 'compliance.js'), plan], {
      encoding: 'utf8',
      env: { PATH: process.env.PATH, TROPOS_COMPLIANCE: values[0] },
    });
    expect(r.stdout).toContain(
      'VIOLATION aws_ebs_volume.plain: gp3 is cheaper and faster: type = "gp2"; it must not be one of "gp2"\n',
    );
    expect(r.stdout).toContain('VIOLATION aws_s3_bucket.partly: missing required tags CostCenter (it has Owner)\n');
    expect(r.status).toBe(1);
  });
});
