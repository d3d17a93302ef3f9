/**
 * A stack as the run's "Resolve stack" build read it from the infrastructure repository
 * (buildspecs/scripts/resolve-stack.js): its components, each one's dependencies, and what the runner needs per
 * component. The build stores it in the artifacts bucket (`runs/<runId>/resolve/stack.json`); the scheduler
 * records it on the run and orders every terraform step of the run by it.
 */
export interface ResolvedComponent {
  readonly name: string;
  /** The component's folder: Atmos's `metadata.component` (under components/terraform), or the root's path. */
  readonly folder: string;
  readonly dependsOn: readonly string[];
  readonly workspace?: string | undefined;
  readonly backendType?: string | undefined;
  readonly stateKey?: string | undefined;
}

/** Another stack the repository defines, as far as the registry cares (its network block, above all). */
export interface SeenStack {
  readonly stack: string;
  /** Its name in the repository, when not Tropos's. */
  readonly name?: string | undefined;
  readonly tenant?: string | undefined;
  readonly account?: string | undefined;
  readonly environment?: string | undefined;
  readonly region?: string | undefined;
  readonly vpcCidr?: string | undefined;
}

export interface ResolvedStack {
  /** Tropos's name of the stack (`<tenant>-<account>-<environment>`: locks, the registry, records). */
  readonly stack: string;
  /** The stack's name in the repository (Atmos's, from its own naming): what `atmos … -s` is given. */
  readonly name?: string | undefined;
  readonly engine: 'atmos' | 'terraform';
  /** The commit every build of the run works on (`git rev-parse HEAD` of the checkout; `working-tree` locally
   * when the folder is not a git repository). */
  readonly commit: string;
  /** The account the stack's own vars name (`vars.account`, else `vars.stage`); absent when they name none. */
  readonly account?: string | undefined;
  readonly region?: string | undefined;
  readonly components: readonly ResolvedComponent[];
  /** Dependencies left out, and why (a component the stack does not have). */
  readonly ignored: readonly string[];
  /** Every stack the repository defines (for the registry's address plan). */
  readonly stacks?: readonly SeenStack[] | undefined;
}

/** A stack's name as a repository may give it (and a build may pass on to `-s`). */
const STACK_NAME = /^[A-Za-z0-9][A-Za-z0-9_./-]{0,127}$/;

/** Where the resolve build stores the resolved stack, under the artifacts bucket. */
export function resolvedKey(runId: string): string {
  return `runs/${runId}/resolve/stack.json`;
}

/** Problems with what the build stored (a build of another version, a hand-edited file): named, never guessed. */
export function resolvedStackProblems(value: unknown): string[] {
  const problems: string[] = [];
  const v = value as Partial<ResolvedStack> | null;
  if (typeof v !== 'object' || v === null) return ['the resolved stack is not a JSON object'];
  if (typeof v.stack !== 'string' || !v.stack) problems.push('stack: missing');
  if (v.name !== undefined && (typeof v.name !== 'string' || !STACK_NAME.test(v.name)))
    problems.push('name: a stack name (letters, digits, _ . / -)');
  if (v.engine !== 'atmos' && v.engine !== 'terraform') problems.push('engine: must be atmos or terraform');
  if (typeof v.commit !== 'string' || !v.commit) problems.push('commit: missing');
  if (!Array.isArray(v.components)) problems.push('components: must be a list');
  else
    v.components.forEach((c, i) => {
      if (typeof c?.name !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9_./-]{0,127}$/.test(c.name))
        problems.push(`components[${i}].name: a component name (letters, digits, _ . / -)`);
      if (!Array.isArray(c?.dependsOn) || c.dependsOn.some((d: unknown) => typeof d !== 'string'))
        problems.push(`components[${i}].dependsOn: must be a list of component names`);
    });
  return problems;
}

/**
 * The build limit of each component's builds: the catalog's `defaults.<component>.timeout_minutes`, else the
 * configuration's `terraform.timeoutMinutes` (built into the component-graph function).
 */
export interface BuildTimeouts {
  readonly defaultMinutes: number;
  readonly components: Readonly<Record<string, number>>;
}

/** A component's build limit, in minutes. */
export function buildMinutesOf(timeouts: BuildTimeouts, component: string): number {
  return Object.hasOwn(timeouts.components, component) ? timeouts.components[component]! : timeouts.defaultMinutes;
}
