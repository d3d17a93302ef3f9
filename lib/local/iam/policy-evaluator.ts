import type { PolicyDocument, PolicyStatement, SourcedPolicy } from './policy-document';

/**
 * IAM policy evaluation with pbac (MIT, "AWS IAM Policy inspired and (mostly) compatible evaluation engine"):
 * pbac matches statements — explicit Deny first, then Allow; Action / NotAction, Resource / NotResource with `*` and
 * `?` wildcards; Principal for resource policies; policy variables in resources — and supplies the condition
 * operators (StringEquals, StringLike, ArnLike, Bool, Numeric…, Date…, IpAddress, Null, …).
 *
 * pbac 0.3.2 strays from IAM in a few places, mended here without changing its matching:
 * - action names: pbac matches them case-sensitively; the documents (policy-document.ts) and the requests here are
 *   lower-cased, so matching is case-insensitive as in IAM;
 * - condition keys: pbac reads `a:b` as `context.a.b` (two levels only) and answers the key's own name when it is
 *   absent, so `…IfExists` and `Null` never see a missing key; here the context is one flat map of lower-cased keys
 *   and an absent key is undefined;
 * - condition blocks: pbac evaluates only the first key of each operator; IAM requires every key (AND), any value
 *   (OR) — and, for the negated operators (StringNotEquals, …), no value (NOR), and a missing key matches a negated
 *   operator, `ForAllValues` and `…IfExists` but nothing else;
 * - `ArnNotEquals` throws in pbac (it calls ArnNotLike with the wrong `this`): it is evaluated as ArnNotLike, which
 *   IAM treats it as; Numeric operators get numbers (the context holds strings).
 * An operator pbac does not have makes the document refused at load, never silently ignored.
 */

/** Condition context: flat, keys case-insensitive (`aws:SourceArn`, `cloudwatch:namespace`, ...). */
export type ConditionContext = Readonly<Record<string, string | readonly string[]>>;

export interface EvaluationRequest {
  readonly action: string;
  readonly resource: string;
  readonly context?: ConditionContext;
  /** For resource policies: who asks, by kind (`AWS`: ARNs, `Service`: service principals). */
  readonly principal?: Readonly<Record<string, readonly string[]>>;
}

export interface Decision {
  readonly effect: 'Allow' | 'Deny' | 'ImplicitDeny';
  /** The statement that decided (for Allow and Deny) and its document. */
  readonly statement?: PolicyStatement;
  readonly source?: string;
}

type Operator = (this: Pbac, a: unknown, b: unknown) => unknown;

interface Pbac {
  conditions: Record<string, Operator>;
  getContextValue(key: string, context: unknown): unknown;
  getVariableValue(variable: string, variables: unknown): unknown;
  evaluateCondition(condition: unknown, context: unknown): boolean;
  filterPoliciesBy(options: {
    effect: 'Allow' | 'Deny';
    action: string;
    resource: string;
    context: unknown;
    principal: unknown;
  }): PolicyStatement | undefined;
}

type PbacConstructor = new (
  policies: PolicyDocument[],
  options?: { validateSchema?: boolean; validatePolicies?: boolean },
) => Pbac;

// pbac has no type declarations.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const PBAC = require('pbac') as PbacConstructor;

const NEGATED = new Set([
  'StringNotEquals',
  'StringNotEqualsIgnoreCase',
  'StringNotLike',
  'NumericNotEquals',
  'DateNotEquals',
  'BinaryNotEquals',
  'NotIpAddress',
  'ArnNotEquals',
  'ArnNotLike',
]);
const ALIASES: Record<string, string> = { ArnEquals: 'ArnLike', ArnNotEquals: 'ArnNotLike' };

function lookup(context: unknown, key: string): string | readonly string[] | undefined {
  return (context as Record<string, string | readonly string[] | undefined>)[key.toLowerCase()];
}

function parseOperator(operator: string): { set?: string; base: string; ifExists: boolean } {
  const colon = operator.indexOf(':');
  const set = colon > 0 ? operator.slice(0, colon) : undefined;
  let base = colon > 0 ? operator.slice(colon + 1) : operator;
  const ifExists = base.endsWith('IfExists');
  if (ifExists) base = base.slice(0, -'IfExists'.length);
  return { ...(set ? { set } : {}), base, ifExists };
}

/** pbac, with its context lookup and condition blocks brought in line with IAM (see above). */
class IamPbac extends PBAC {
  constructor(documents: PolicyDocument[]) {
    // pbac validates the documents against its JSON schema (arrays of strings, Effect, ...).
    super(documents, { validateSchema: false, validatePolicies: true });
    for (const doc of documents)
      for (const st of doc.Statement)
        for (const operator of Object.keys(st.Condition ?? {})) {
          const { set, base } = parseOperator(operator);
          if ((set && set !== 'ForAnyValue' && set !== 'ForAllValues') || !this.conditions[ALIASES[base] ?? base])
            throw new Error(`the local IAM evaluator does not support the condition operator ${operator}`);
        }
  }

  public override getContextValue(key: string, context: unknown): unknown {
    return lookup(context, key);
  }

  public override getVariableValue(variable: string, variables: unknown): unknown {
    const value = lookup(variables, variable);
    // An absent policy variable matches nothing (IAM); pbac would put the variable's name in.
    return typeof value === 'string' ? value : '\u0000';
  }

  public override evaluateCondition(condition: unknown, context: unknown): boolean {
    if (!condition || typeof condition !== 'object') return true;
    return Object.entries(condition as Record<string, Record<string, string[]>>).every(([operator, block]) => {
      const { set, base, ifExists } = parseOperator(operator);
      const fn = this.conditions[ALIASES[base] ?? base]!;
      const coerce = (v: unknown) => (base.startsWith('Numeric') ? Number(v) : v);
      const negated = NEGATED.has(base);
      return Object.entries(block).every(([key, values]) => {
        const actual = lookup(context, key);
        if (base === 'Null') return values.some((v) => fn.call(this, actual, v === 'true'));
        if (actual === undefined) return set === 'ForAllValues' || (set !== 'ForAnyValue' && (ifExists || negated));
        const one = (a: unknown) =>
          negated
            ? values.every((v) => fn.call(this, coerce(a), coerce(v)))
            : values.some((v) => fn.call(this, coerce(a), coerce(v)));
        const actuals = typeof actual === 'string' ? [actual] : actual;
        return set === 'ForAllValues' ? actuals.every(one) : actuals.some(one);
      });
    });
  }
}

/** Evaluates requests against a set of policy documents, telling which statement decided. */
export class PolicyEvaluator {
  private readonly pbac: IamPbac;
  private readonly sources = new Map<PolicyStatement, string>();

  constructor(policies: readonly SourcedPolicy[]) {
    this.pbac = new IamPbac(policies.map((p) => p.document));
    for (const p of policies) for (const st of p.document.Statement) this.sources.set(st, p.source);
  }

  public evaluate(request: EvaluationRequest): Decision {
    const context = Object.fromEntries(
      Object.entries(request.context ?? {}).map(([k, v]) => [k.toLowerCase(), v] as const),
    );
    const options = {
      action: request.action.toLowerCase(),
      resource: request.resource,
      context,
      principal: request.principal ?? {},
    };
    for (const effect of ['Deny', 'Allow'] as const) {
      const statement = this.pbac.filterPoliciesBy({ ...options, effect });
      if (statement) {
        const source = this.sources.get(statement);
        return { effect, statement, ...(source ? { source } : {}) };
      }
    }
    return { effect: 'ImplicitDeny' };
  }
}
