import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { ConfigSchema, stagesOf, TroposConfig } from './schema';
import { formatIssues } from '../workflow/issues';

/** Thrown when the configuration file is missing or invalid; the message says what to fix. */
export class ConfigError extends Error {
  public override readonly name = 'ConfigError';
}

/** Reads and validates a configuration file; every problem is listed with its path and the fix. */
export function loadConfig(path: string): TroposConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    throw new ConfigError(
      `${path}: cannot read the configuration file. Copy tropos.config.yaml from the repository root.`,
    );
  }
  return parseConfig(text, path);
}

export function parseConfig(text: string, source = 'tropos.config.yaml'): TroposConfig {
  let raw: unknown;
  try {
    raw = parse(text);
  } catch (e) {
    throw new ConfigError(`${source}: not valid YAML: ${(e as Error).message}`);
  }
  const result = ConfigSchema.safeParse(raw);
  if (!result.success) {
    throw new ConfigError(`${source} is invalid:\n${formatIssues(result.error.issues)}`);
  }
  const problems = crossCheck(result.data);
  if (problems.length > 0)
    throw new ConfigError(`${source} is invalid:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  return result.data;
}

function atLeast(version: string, minimum: string): boolean {
  const a = version.split('.').map(Number);
  const b = minimum.split('.').map(Number);
  for (let i = 0; i < 3; i++) {
    if ((a[i] ?? 0) !== (b[i] ?? 0)) return (a[i] ?? 0) > (b[i] ?? 0);
  }
  return true;
}

/** Rules that span fields. */
function crossCheck(c: TroposConfig): string[] {
  const problems: string[] = [];
  const tiers = Object.keys(c.tiers);
  for (const [name, account] of Object.entries(c.accounts)) {
    if (!c.tiers[account.tier]) {
      problems.push(
        `accounts.${name}.tier: "${account.tier}" is not a tier; add it under \`tiers\` or use one of: ${tiers.join(', ')}`,
      );
    }
  }
  if (Object.keys(c.accounts).length === 0) problems.push('accounts: add at least one account (name: {id, tier})');
  const byStage = new Map<string, string>();
  for (const [name, stage] of Object.entries(stagesOf(c.accounts))) {
    const other = byStage.get(stage);
    if (other)
      problems.push(
        `accounts.${name}.stage: "${stage}" is already the stage of account ${other}; each account's stacks need a stage of their own`,
      );
    byStage.set(stage, name);
  }
  if (c.engine === 'atmos' && !c.tools.atmos) {
    problems.push('tools.atmos: engine is "atmos", so pin an atmos version here ({version, sha256})');
  }
  if (c.engine === 'atmos' && c.infrastructure.tenant) {
    problems.push(
      'infrastructure.tenant: only the plain-terraform engine takes it (its layout names no tenant); an Atmos stack names its own (vars.tenant): remove it',
    );
  }
  if (!atLeast(c.tools.terraform.version, '1.6.0')) {
    problems.push(
      `tools.terraform.version: ${c.tools.terraform.version} is too old; Tropos needs Terraform >= 1.6.0 (seed 004)`,
    );
  }
  if (c.tools.atmos && !atLeast(c.tools.atmos.version, '1.163.0')) {
    problems.push(
      `tools.atmos.version: ${c.tools.atmos.version} is too old; Tropos needs Atmos >= 1.163.0 (seed 004; the first release since 1.162.0 that exits 2 when terraform plan -detailed-exitcode does, cloudposse/atmos#1064)`,
    );
  }
  if (c.stateBackend.locking === 's3-native' && !atLeast(c.tools.terraform.version, '1.10.0')) {
    problems.push(
      'stateBackend.locking: s3-native locking (use_lockfile) needs Terraform >= 1.10.0; use "dynamodb" or raise tools.terraform.version',
    );
  }
  for (const [field, pattern] of [
    ['bucket', c.stateBackend.bucket],
    ['lockTable', c.stateBackend.lockTable],
  ] as const) {
    if (!pattern.includes('{tenant}')) {
      problems.push(
        `stateBackend.${field}: "${pattern}" must contain {tenant} (one backend per tenant, as the seeds describe)`,
      );
    }
  }
  return problems;
}
