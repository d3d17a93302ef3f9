import { Stack, StackProps } from 'aws-cdk-lib';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import type { CompilerResources } from '../compiler/resources';
import type { TroposConfig } from '../config/schema';
import { ArtifactsBucket } from '../constructs/artifacts-bucket';
import { TroposFunctions } from '../constructs/functions';
import { Records } from '../constructs/records';
import { TerraformRunners } from '../constructs/terraform-runners';
import { WorkflowStateMachine } from '../constructs/workflow-state-machine';
import type { Catalog } from '../workflow/catalog';
import { topologicalOrder } from '../workflow/graph';
import { allSteps, Workflow } from '../workflow/load';

export interface TroposStackProps extends StackProps {
  /** The validated configuration (`tropos.config.yaml`). */
  readonly config: TroposConfig;
  /** The component catalog (`catalog/components.yaml`). */
  readonly catalog: Catalog;
  /** Every workflow definition (`workflows/*.yaml`); each becomes one state machine. */
  readonly workflows: ReadonlyMap<string, Workflow>;
}

/** The whole of Tropos in one stack: records, artifacts, notifications, functions, runners, one state machine per workflow. */
export class TroposStack extends Stack {
  public readonly records: Records;
  public readonly artifacts: ArtifactsBucket;
  public readonly notifications: sns.Topic;
  public readonly functions: TroposFunctions;
  public readonly runners: TerraformRunners;
  public readonly stateMachines: ReadonlyMap<string, sfn.StateMachine>;

  constructor(scope: Construct, id: string, props: TroposStackProps) {
    super(scope, id, { suppressTemplateIndentation: true, ...props });
    const { config, catalog, workflows } = props;

    this.records = new Records(this, 'Records');
    this.artifacts = new ArtifactsBucket(this, 'Artifacts');
    this.notifications = new sns.Topic(this, 'Notifications', {
      displayName: 'Tropos',
      masterKey: kms.Alias.fromAliasName(this, 'SnsKey', 'alias/aws/sns'),
      enforceSSL: true,
    });
    for (const email of config.notifications.emails)
      this.notifications.addSubscription(new subscriptions.EmailSubscription(email));
    this.functions = new TroposFunctions(this, 'Functions', {
      config,
      catalog,
      records: this.records,
      notifications: this.notifications,
    });
    this.runners = new TerraformRunners(this, 'Runners', { config, catalog, artifacts: this.artifacts.bucket });

    // Callees first: a workflow step needs the state machine it starts.
    const calls = new Map(
      [...workflows.values()].map((wf) => [
        wf.name,
        allSteps(wf.steps).flatMap((s) => (s.kind === 'workflow' ? [s.workflow] : [])),
      ]),
    );
    const machines = new Map<string, sfn.StateMachine>();
    const resources: CompilerResources = {
      config,
      catalog,
      workflows,
      validateInput: this.functions.validateInput,
      componentGraph: this.functions.componentGraph,
      requestApproval: this.functions.requestApproval,
      environmentRegistry: this.functions.environmentRegistry,
      runner: (command) => this.runners.project(command),
      stateMachine: (name) => {
        const m = machines.get(name);
        if (!m) throw new Error(`workflow "${name}" is not compiled yet`);
        return m;
      },
    };
    for (const name of topologicalOrder(calls)) {
      const workflow = workflows.get(name)!;
      const construct = new WorkflowStateMachine(this, pascal(name), {
        workflow,
        resources,
        alarmTopic: this.notifications,
      });
      machines.set(name, construct.stateMachine);
    }
    this.stateMachines = machines;
  }
}

export function pascal(s: string): string {
  return s.replace(/(^|-)([a-z0-9])/g, (_, __, c: string) => c.toUpperCase());
}
