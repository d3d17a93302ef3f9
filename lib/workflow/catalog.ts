import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { z } from 'zod';
import { formatIssues } from './issues';

/** Thrown for a bad workflow or catalog file; the message names the file, the step and the fix. */
export class DefinitionError extends Error {
  public override readonly name = 'DefinitionError';
}

/** A component as the repository names it (Atmos component instances may have slashes: `eks/cluster`). */
const COMPONENT = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_./-]{0,127}$/, 'letters, digits and _ . / -');

const CatalogSchema = z.strictObject({
  /** Per-component defaults; a component not listed here needs none (the repository says which exist). */
  defaults: z
    .record(
      COMPONENT,
      z.strictObject({
        /** How long its builds may take, at least (the longest default, or the configuration's, limits every build). */
        timeout_minutes: z.number().int().min(5).max(480).optional(),
      }),
    )
    .default({}),
  /** Named sets of components: `components=<set>` runs the set's components the stack has. */
  sets: z.record(z.string().regex(/^[a-z][a-z0-9-]*$/), z.array(COMPONENT).min(1)).default({}),
});

/** The set onboarding writes into a new stack's configuration (unless `components=` names others). */
export const NEW_STACK_SET = 'environment';

/**
 * The component catalog: optional defaults per component and named sets — never a list of what exists. Which
 * components a stack has, and what each depends on, is read from the infrastructure repository at run time.
 */
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
    const parsed = CatalogSchema.safeParse(raw ?? {});
    if (!parsed.success) throw new DefinitionError(`${source} is invalid:\n${formatIssues(parsed.error.issues)}`);
    return new Catalog(
      new Map(Object.entries(parsed.data.defaults).map(([c, d]) => [c, { timeoutMinutes: d.timeout_minutes }])),
      new Map(Object.entries(parsed.data.sets)),
    );
  }

  private constructor(
    public readonly defaults: ReadonlyMap<string, { readonly timeoutMinutes?: number | undefined }>,
    public readonly sets: ReadonlyMap<string, readonly string[]>,
  ) {}

  /** The longest build limit any component asks for (0 when none does). */
  public get longestTimeoutMinutes(): number {
    return Math.max(0, ...[...this.defaults.values()].map((d) => d.timeoutMinutes ?? 0));
  }

  /** What a new stack's configuration gets: the `environment` set, when the catalog has one. */
  public get newStackComponents(): readonly string[] {
    return this.sets.get(NEW_STACK_SET) ?? [];
  }
}
