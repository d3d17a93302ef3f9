import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { z } from 'zod';
import { DependencyGraph, findCycle } from './graph';
import { formatIssues } from './issues';

/** Thrown for a bad workflow or catalog file; the message names the file, the step and the fix. */
export class DefinitionError extends Error {
  public override readonly name = 'DefinitionError';
}

const COMPONENT = z.string().regex(/^[a-z][a-z0-9-]*$/, 'lowercase letters, digits and hyphens');

const CatalogSchema = z.strictObject({
  components: z.record(
    COMPONENT,
    z.strictObject({
      description: z.string().min(1),
      /** Components this one needs first; `'*'` means every other component of the same run. */
      depends_on: z.array(z.union([COMPONENT, z.literal('*')])).default([]),
      timeout_minutes: z.number().int().min(5).max(480).optional(),
    }),
  ),
  sets: z.record(z.string().regex(/^[a-z][a-z0-9-]*$/), z.array(COMPONENT).min(1)).default({}),
});

export interface Component {
  readonly name: string;
  readonly description: string;
  readonly dependsOn: readonly string[];
  /** True when it depends on every other component of the run (`'*'`), like monitoring. */
  readonly dependsOnAll: boolean;
  readonly timeoutMinutes?: number | undefined;
}

/** The built-in set of every catalog component: for steps that must cover whatever components a stack has. */
export const ALL = 'all';

/** The component catalog: every component, its dependencies, and named sets (`all` built in). */
export class Catalog {
  public static fromFile(path: string): Catalog {
    let raw: unknown;
    try {
      raw = parse(readFileSync(path, 'utf8'));
    } catch (e) {
      throw new DefinitionError(`${path}: cannot read the component catalog: ${(e as Error).message}`);
    }
    return Catalog.fromObject(raw, path);
  }

  public static fromObject(raw: unknown, source = 'catalog'): Catalog {
    const parsed = CatalogSchema.safeParse(raw);
    if (!parsed.success) throw new DefinitionError(`${source} is invalid:\n${formatIssues(parsed.error.issues)}`);
    const components = new Map<string, Component>();
    for (const [name, c] of Object.entries(parsed.data.components)) {
      components.set(name, {
        name,
        description: c.description,
        dependsOn: c.depends_on.filter((d) => d !== '*'),
        dependsOnAll: c.depends_on.includes('*'),
        timeoutMinutes: c.timeout_minutes,
      });
    }
    if (ALL in parsed.data.sets)
      throw new DefinitionError(
        `${source} is invalid:\n  - sets.${ALL}: is built in (every component); use another name`,
      );
    const sets = new Map<string, readonly string[]>(Object.entries(parsed.data.sets));
    sets.set(ALL, [...components.keys()]);
    const catalog = new Catalog(components, sets);
    catalog.check(source);
    return catalog;
  }

  private constructor(
    public readonly components: ReadonlyMap<string, Component>,
    public readonly sets: ReadonlyMap<string, readonly string[]>,
  ) {}

  public has(name: string): boolean {
    return this.components.has(name);
  }

  public get names(): string[] {
    return [...this.components.keys()];
  }

  /**
   * The dependency graph restricted to `names`: dependencies outside the list are dropped (a stack that has no
   * `dns` does not wait for it), `'*'` becomes every other listed component that does not itself depend on all.
   */
  public graphOf(names: readonly string[]): Map<string, string[]> {
    const included = new Set(names);
    const graph = new Map<string, string[]>();
    for (const name of names) {
      const c = this.components.get(name);
      if (!c) throw new DefinitionError(`unknown component "${name}"; the catalog has: ${this.names.join(', ')}`);
      const deps = c.dependsOnAll
        ? names.filter((n) => n !== name && !this.components.get(n)?.dependsOnAll)
        : c.dependsOn.filter((d) => included.has(d));
      graph.set(name, [...new Set(deps)].sort());
    }
    return graph;
  }

  private check(source: string): void {
    const problems: string[] = [];
    for (const c of this.components.values()) {
      for (const dep of c.dependsOn) {
        if (!this.components.has(dep)) {
          problems.push(
            `components.${c.name}.depends_on: unknown component "${dep}"; add it to the catalog or remove the dependency`,
          );
        }
      }
    }
    for (const [set, names] of this.sets) {
      for (const n of names) {
        if (!this.components.has(n)) problems.push(`sets.${set}: unknown component "${n}"`);
      }
    }
    if (problems.length > 0)
      throw new DefinitionError(`${source} is invalid:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    const full: DependencyGraph = new Map([...this.components.values()].map((c) => [c.name, c.dependsOn]));
    const cycle = findCycle(full);
    if (cycle) {
      throw new DefinitionError(
        `${source}: dependency cycle ${cycle.join(' -> ')}; remove one of these depends_on entries to break it`,
      );
    }
  }
}
