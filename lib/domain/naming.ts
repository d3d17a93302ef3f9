/** Names derived from a stack's coordinates, the same everywhere (records, runners, API). */

export interface StackCoordinates {
  readonly tenant: string;
  readonly account: string;
  readonly environment: string;
}

/** The Atmos stack name `<tenant>-<account>-<environment>`. */
export function stackName(s: StackCoordinates): string {
  return `${s.tenant}-${s.account}-${s.environment}`;
}

/** The seeds' state key layout: `<account>/<environment>/<component>/terraform.tfstate`. */
export function stateKey(s: StackCoordinates, component: string): string {
  return `${s.account}/${s.environment}/${component}/terraform.tfstate`;
}

/** Fills `{tenant}`, `{account}`, `{environment}`, `{region}`, `{awsAccountId}` in a configured name pattern. */
export function fillPattern(pattern: string, values: Readonly<Record<string, string>>): string {
  return pattern.replace(/\{(\w+)\}/g, (whole, key: string) => values[key] ?? whole);
}

/** The workflow that onboards an environment: POST /environments starts it; its end activates or fails the registration. */
export const ONBOARD_WORKFLOW = 'onboard-environment';

/** The installation name a deployment uses when the configuration names none. */
export const DEFAULT_INSTALLATION = 'tropos';

/** A physical name of the installation: `<installation>-<name>` (state machines, projects, log groups). */
export function physicalName(installation: string, name: string): string {
  return `${installation}-${name}`;
}

/** The state machine of a workflow: `<installation>-<workflow>` (the run ledger reads the workflow back from it). */
export function stateMachineName(installation: string, workflow: string): string {
  return physicalName(installation, workflow);
}

/** The workflow a state machine runs, from its name; undefined when it is not one of this installation's. */
export function workflowOfStateMachine(installation: string, machineName: string): string | undefined {
  const prefix = `${installation}-`;
  return machineName.startsWith(prefix) ? machineName.slice(prefix.length) : undefined;
}

/** `apply-environment` → `ApplyEnvironment`: construct ids and stack names from kebab-case names. */
export function pascalCase(s: string): string {
  return s.replace(/(^|-)([a-z0-9])/g, (_, __, c: string) => c.toUpperCase());
}
