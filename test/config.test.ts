import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { ConfigError, loadConfig, parseConfig } from '../lib/config/load';
import { ROOT } from './helpers/fixtures';

const example = parse(readFileSync(join(ROOT, 'tropos.config.yaml'), 'utf8')) as Record<string, unknown>;
/** The example with one field set (or removed, for `undefined`), by its dotted path. */
const withChange = (path: string, value: unknown) => {
  const c = structuredClone(example);
  const keys = path.split('.');
  const last = keys.pop()!;
  const parent = keys.reduce((o, k) => o[k] as Record<string, unknown>, c as Record<string, unknown>);
  if (value === undefined) delete parent[last];
  else parent[last] = value;
  return stringify(c);
};

describe('the configuration', () => {
  test('the documented example is valid, with defaults filled in', () => {
    const config = loadConfig(join(ROOT, 'tropos.config.yaml'));
    expect(config.engine).toBe('atmos');
    expect(config.approval.deadlineHours).toBe(24);
    expect(config.drift).toEqual({ schedule: 'cron(0 6 * * ? *)', maxConcurrency: 5 });
    expect(config.terraform.lockTimeout).toBe('5m');
  });

  test.each<[string, string, unknown, RegExp]>([
    [
      'an account on an unknown tier',
      'accounts.dev.tier',
      'gold',
      /accounts.dev.tier: "gold" is not a tier; add it under `tiers` or use one of: dev, staging, prod, shared/,
    ],
    ['a bad account id', 'accounts.dev.id', '1234', /accounts.dev.id: a 12-digit AWS account id/],
    [
      'a lock timeout terraform would not take',
      'terraform.lockTimeout',
      '5 minutes',
      /terraform.lockTimeout: must be a duration terraform takes: a whole number of s, m or h, like 30s or 5m/,
    ],
    ['an unknown engine', 'engine', 'pulumi', /engine: Invalid option: expected one of "atmos"\|"terraform"/],
    ['a bad checksum', 'tools.terraform.sha256', 'abc', /tools.terraform.sha256: 64 lowercase hex digits/],
    [
      'terraform older than the seeds allow',
      'tools.terraform.version',
      '1.5.7',
      /tools.terraform.version: 1.5.7 is too old; Tropos needs Terraform >= 1.6.0/,
    ],
    [
      'an atmos that turns plan exit code 2 into 1',
      'tools.atmos.version',
      '1.162.1',
      /tools.atmos.version: 1.162.1 is too old; Tropos needs Atmos >= 1.163.0 \(seed 004; the first release since 1.162.0 that exits 2/,
    ],
    [
      'a tenant for the Atmos engine (its stacks name their own)',
      'infrastructure.tenant',
      'acme',
      /infrastructure.tenant: only the plain-terraform engine takes it/,
    ],
    [
      'a tenant that is not a tenant name',
      'infrastructure.tenant',
      'Acme Corp',
      /infrastructure.tenant: a tenant: 2-16 lowercase letters and digits, starting with a letter/,
    ],
    [
      'atmos engine without atmos',
      'tools.atmos',
      undefined,
      /tools.atmos: engine is "atmos", so pin an atmos version here/,
    ],
    [
      's3-native locking on old terraform',
      'stateBackend.locking',
      's3-native',
      /stateBackend.locking: s3-native locking \(use_lockfile\) needs Terraform >= 1.10.0/,
    ],
    [
      'a bucket pattern without the tenant',
      'stateBackend.bucket',
      'state',
      /stateBackend.bucket: "state" must contain \{tenant\}/,
    ],
    ['an unknown field', 'regoin', 'x', /\(top level\): Unrecognized key: "regoin"/],
    [
      'an approval policy that does not exist',
      'tiers.prod.approval',
      'sometimes',
      /tiers.prod.approval: Invalid option/,
    ],
    [
      "an account whose stage is another account's",
      'accounts.dev.stage',
      'prod',
      /accounts.prod.stage: "prod" is already the stage of account dev; each account's stacks need a stage of their own/,
    ],
    ['a stage that is not a name', 'accounts.dev.stage', 'Dev Stage', /accounts.dev.stage: a stage name/],
    ['a drift concurrency out of range', 'drift.maxConcurrency', 100, /drift.maxConcurrency: Too big/],
    [
      'callback retries longer than the run ledger can wait',
      'callbacks',
      { attempts: 10, backoffSeconds: 60 },
      /callbacks: 10 attempts with backoffSeconds 60 can take \d+ s; the run ledger delivers within one Lambda invocation \(at most 840 s\): lower attempts or backoffSeconds/,
    ],
  ])('fails on %s, saying what to fix', (_, path, value, message) => {
    expect(() => parseConfig(withChange(path, value))).toThrow(ConfigError);
    expect(() => parseConfig(withChange(path, value))).toThrow(message);
  });

  test('fails on a missing file, saying where the example is', () => {
    expect(() => loadConfig('/nonexistent/tropos.config.yaml')).toThrow(
      /cannot read the configuration file. Copy tropos.config.yaml/,
    );
  });
});
