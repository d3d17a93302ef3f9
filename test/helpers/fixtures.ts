import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { WorkflowSpec } from '../../lambdas/validate-input/core';
import { loadConfig } from '../../lib/config/load';
import { validatorSettings } from '../../lib/config/validator-settings';
import type { Environment, EnvironmentReader } from '../../lib/records/environment';
import { Catalog } from '../../lib/workflow/catalog';

export const ROOT = join(__dirname, '..', '..');
export const config = loadConfig(join(ROOT, 'tropos.config.yaml'));
export const catalog = Catalog.fromFile(join(ROOT, 'catalog', 'components.yaml'));

/** The validator's settings as the handlers complete them (Tropos's account id, from the function's ARN). */
export const settings = { ...validatorSettings(config, catalog), awsAccountId: '000000000000' };

/** An in-memory registry for the validator's pure tests (the DynamoDB one is tested against dynalite). */
export class MemoryRegistry implements EnvironmentReader {
  constructor(private readonly envs: Environment[] = []) {}
  public async get(stack: string) {
    return this.envs.find((e) => e.stack === stack);
  }
  public async byName(name: string) {
    return this.envs.find((e) => e.stack === name) ?? this.envs.find((e) => e.name === name);
  }
  public async listByTenant(tenant: string) {
    return this.envs.filter((e) => e.tenant === tenant);
  }
}

export function environment(stack: string, fields: Partial<Environment> = {}): Environment {
  const [tenant = '', account = '', ...rest] = stack.split('-');
  return {
    stack,
    tenant,
    account,
    environment: rest.join('-'),
    region: 'us-east-1',
    tier: config.accounts[account]?.tier ?? 'dev',
    status: 'active',
    createdAt: '2026-01-01T00:00:00.000Z',
    updatedAt: '2026-01-01T00:00:00.000Z',
    ...fields,
  };
}

export function spec(fields: Partial<WorkflowSpec> & { required?: string[]; optional?: string[] } = {}): WorkflowSpec {
  return {
    name: fields.name ?? 'apply-environment',
    mutating: fields.mutating ?? true,
    inputs: fields.inputs ?? {
      required: fields.required ?? ['tenant', 'account', 'environment'],
      optional: fields.optional ?? [],
      defaults: {},
      requiredWhen: {},
    },
    steps: fields.steps ?? [
      { name: 'validate', kind: 'validate', requires: [] },
      { name: 'plan', kind: 'terraform', requires: [] },
      { name: 'apply', kind: 'terraform', requires: ['plan'] },
    ],
  };
}

/**
 * Renames the stacks of a copy of the example Atmos repository (its folder) as Cloud Posse's repositories name
 * theirs: `{namespace}-{tenant}-{environment}-{stage}`, namespace `eg`, and the dev account's stacks with stage
 * `development` and no `vars.account` (Tropos maps the stage with `accounts.dev.stage`).
 */
export function renameStacksCloudPosseStyle(repo: string): void {
  const atmosYaml = join(repo, 'atmos.yaml');
  const text = readFileSync(atmosYaml, 'utf8');
  const renamed = text.replace(
    'name_pattern: "{tenant}-{stage}-{environment}"',
    'name_pattern: "{namespace}-{tenant}-{environment}-{stage}"',
  );
  if (renamed === text) throw new Error(`${atmosYaml}: the example's name_pattern is not where the test expects it`);
  writeFileSync(atmosYaml, renamed);
  for (const file of ['dev/testenv-01.yaml', 'dev/platform.yaml', 'staging/main.yaml', 'prod/main.yaml']) {
    const path = join(repo, 'stacks', 'orgs', 'acme', file);
    let stack = readFileSync(path, 'utf8').replace('vars:\n', 'vars:\n  namespace: eg\n');
    if (file.startsWith('dev/'))
      stack = stack.replace('  account: dev\n', '').replace('stage: dev', 'stage: development');
    writeFileSync(path, stack);
  }
}
