import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { CloudAssembly } from 'aws-cdk-lib/cx-api';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { pascalCase } from './domain/naming';
import { assertTemplateWithinLimits, type TemplateJson } from './limits/template-limits';
import { loadConfig } from './config/load';
import { acknowledgeNagFindings } from './stacks/nag-acknowledgements';
import { TargetAccountRolesStack } from './stacks/target-account-roles-stack';
import { TroposStack } from './stacks/tropos-stack';
import { Catalog } from './workflow/catalog';
import { loadWorkflows } from './workflow/load';
import { ROOT } from './root';

export { ROOT } from './root';

/** CDK feature flags Tropos relies on; set here so the tests' apps and `cdk synth` build the same template. */
export const FEATURE_FLAGS = {
  '@aws-cdk/core:checkSecretUsage': true,
  '@aws-cdk/aws-iam:minimizePolicies': true,
  // Server access logs through a bucket policy, not the legacy LogDeliveryWrite ACL.
  '@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy': true,
} as const;

export interface BuildOptions {
  /** @default `$TROPOS_CONFIG`, else tropos.config.yaml at the repository root */
  readonly configPath?: string;
  /** @default workflows/ at the repository root */
  readonly workflowsDir?: string;
  /** @default $TROPOS_CATALOG, else catalog/components.yaml at the repository root */
  readonly catalogPath?: string;
  /** @default a new App with FEATURE_FLAGS */
  readonly app?: App;
  /**
   * Run cdk-nag (acknowledge the accepted findings, report the rest at synth).
   * @default true
   */
  readonly nag?: boolean;
}

/**
 * Loads and validates the configuration, the catalog and the workflows, and builds the CDK app: the Tropos stack
 * (named after the installation: `Tropos` for `tropos`, `TroposStg` for `tropos-stg`) and the stack of roles each
 * target account deploys (`<stack>TargetAccountRoles`).
 */
export function buildApp(options: BuildOptions = {}): {
  app: App;
  stack: TroposStack;
  targetRoles: TargetAccountRolesStack;
} {
  const config = loadConfig(options.configPath ?? process.env.TROPOS_CONFIG ?? join(ROOT, 'tropos.config.yaml'));
  const catalog = Catalog.fromFile(
    options.catalogPath ?? process.env.TROPOS_CATALOG ?? join(ROOT, 'catalog', 'components.yaml'),
  );
  const workflows = loadWorkflows(options.workflowsDir ?? join(ROOT, 'workflows'), catalog);
  const app = options.app ?? new App({ context: FEATURE_FLAGS });
  const stackName = pascalCase(config.name);
  const stack = new TroposStack(app, stackName, {
    config,
    catalog,
    workflows,
    description: 'Tropos: Terraform/Atmos workflows as Step Functions state machines',
    env: { region: config.region },
  });
  const targetRoles = new TargetAccountRolesStack(app, `${stackName}TargetAccountRoles`, {
    config,
    description: `${config.name}: the roles Tropos assumes in a target account (deploy in each one, or as a StackSet)`,
  });
  if (options.nag ?? true) {
    acknowledgeNagFindings(stack);
    acknowledgeNagFindings(targetRoles);
    // `cdk synth` reports any finding that is not acknowledged (with its reason) in nag-acknowledgements.ts.
    Validations.of(app).addPlugins(new AwsSolutionsChecks());
  }
  return { app, stack, targetRoles };
}

/**
 * Synthesizes the app and refuses (LimitExceededError) a template AWS would refuse to deploy: its size and resource
 * count, each state machine definition, each function's environment (see lib/limits). `cdk synth` fails with it.
 */
export function synthWithinLimits(app: App, stack: TroposStack): CloudAssembly {
  const assembly = app.synth();
  const artifact = assembly.getStackByName(stack.stackName);
  assertTemplateWithinLimits(
    artifact.template as TemplateJson,
    statSync(artifact.templateFullPath).size,
    stack.stackName,
  );
  return assembly;
}
