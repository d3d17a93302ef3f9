import { CfnOutput, CfnParameter, LegacyStackSynthesizer, Stack, StackProps } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import type { TroposConfig } from '../config/schema';
import { runnerRoleName } from '../constructs/terraform-runners';

export interface TargetAccountRolesStackProps extends StackProps {
  /** The validated configuration: role names (`roles`), the installation's name, the policies each role gets. */
  readonly config: TroposConfig;
}

/**
 * The two roles Tropos assumes in a target account, as code: deploy it in every account of `accounts` (with `cdk
 * deploy` in each, or as a CloudFormation StackSet from the synthesized template). The read-only plan role and the
 * deploy role each trust exactly one Tropos runner role — `<installation>-runner-plan` / `-runner-apply` in the
 * Tropos account given as the `TroposAccountId` parameter — and nothing else.
 */
export class TargetAccountRolesStack extends Stack {
  public readonly planRole: iam.Role;
  public readonly deployRole: iam.Role;

  constructor(scope: Construct, id: string, props: TargetAccountRolesStackProps) {
    // No assets and no bootstrap: a target account deploys it as it is (cdk deploy with that account's
    // credentials, or a StackSet) without `cdk bootstrap` — no BootstrapVersion parameter or rule.
    super(scope, id, { synthesizer: new LegacyStackSynthesizer(), ...props });
    const { config } = props;
    const troposAccount = new CfnParameter(this, 'TroposAccountId', {
      type: 'String',
      allowedPattern: '^\\d{12}$',
      description: 'The AWS account Tropos is deployed in (its runner roles assume the roles of this stack)',
    }).valueAsString;
    const runner = (kind: 'plan' | 'apply') =>
      new iam.ArnPrincipal(`arn:${this.partition}:iam::${troposAccount}:role/${runnerRoleName(config, kind)}`);
    const policies = (arns: readonly string[]) =>
      arns.map((arn) => iam.ManagedPolicy.fromManagedPolicyArn(this, arn, arn));

    this.planRole = new iam.Role(this, 'PlanRole', {
      roleName: config.roles.plan,
      description: `${config.name}: terraform plans, drift checks and state reads (read-only)`,
      assumedBy: runner('plan'),
      managedPolicies: policies(config.roles.planPolicies.map((p) => this.policyArn(p))),
    });
    this.deployRole = new iam.Role(this, 'DeployRole', {
      roleName: config.roles.apply,
      description: `${config.name}: terraform applies, destroys and imports`,
      assumedBy: runner('apply'),
      managedPolicies: policies(config.roles.applyPolicies.map((p) => this.policyArn(p))),
    });
    new CfnOutput(this, 'PlanRoleArn', { value: this.planRole.roleArn });
    new CfnOutput(this, 'DeployRoleArn', { value: this.deployRole.roleArn });
  }

  /** A managed policy by name (AWS-managed, like ReadOnlyAccess) or by full ARN. */
  private policyArn(nameOrArn: string): string {
    return nameOrArn.startsWith('arn:') ? nameOrArn : `arn:${this.partition}:iam::aws:policy/${nameOrArn}`;
  }
}
