import { LOCAL_ACCOUNT } from '../definitions';

/**
 * IAM policy documents in the one shape the evaluator (pbac) accepts: every Action, Resource and principal list an
 * array of strings, actions lower-cased (IAM matches actions case-insensitively; pbac would not), condition keys
 * lower-cased (IAM condition keys are case-insensitive; values are not), `Principal: "*"` as `{ AWS: ["*"] }` and
 * a bare account id as the account's root ARN.
 */

export type Effect = 'Allow' | 'Deny';

export interface PolicyStatement {
  readonly Sid?: string;
  readonly Effect: Effect;
  readonly Action?: string[];
  readonly NotAction?: string[];
  readonly Resource?: string[];
  readonly NotResource?: string[];
  readonly Principal?: Record<string, string[]>;
  readonly NotPrincipal?: Record<string, string[]>;
  /** operator → lower-cased condition key → values */
  readonly Condition?: Record<string, Record<string, string[]>>;
}

export interface PolicyDocument {
  readonly Version: string;
  readonly Statement: PolicyStatement[];
}

/** A policy document and where it comes from, for reasons and reports. */
export interface SourcedPolicy {
  /** e.g. `FunctionsApiServiceRoleDefaultPolicy8BE4D08E (AWS::IAM::Policy)` */
  readonly source: string;
  readonly document: PolicyDocument;
}

function strings(value: unknown, what: string, source: string): string[] {
  const list = Array.isArray(value) ? value : [value];
  return list.map((v) => {
    if (typeof v === 'string') return v;
    if (typeof v === 'number' || typeof v === 'boolean') return String(v);
    throw new Error(`${source}: ${what} did not resolve to a string: ${JSON.stringify(v)}`);
  });
}

function principals(value: unknown, source: string): Record<string, string[]> {
  if (value === '*') return { AWS: ['*'] };
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    throw new Error(`${source}: Principal is neither "*" nor an object`);
  return Object.fromEntries(
    Object.entries(value as Record<string, unknown>).map(([kind, v]) => [
      kind,
      strings(v, `Principal.${kind}`, source).map((p) =>
        kind === 'AWS' && /^\d{12}$/.test(p) ? `arn:aws:iam::${p}:root` : p,
      ),
    ]),
  );
}

function conditions(value: unknown, source: string): Record<string, Record<string, string[]>> {
  if (value === null || typeof value !== 'object') throw new Error(`${source}: Condition is not an object`);
  return Object.fromEntries(
    Object.entries(value as Record<string, unknown>).map(([operator, block]) => {
      if (block === null || typeof block !== 'object') throw new Error(`${source}: Condition.${operator}`);
      return [
        operator,
        Object.fromEntries(
          Object.entries(block as Record<string, unknown>).map(([key, v]) => [
            key.toLowerCase(),
            strings(v, `Condition.${operator}.${key}`, source),
          ]),
        ),
      ];
    }),
  );
}

/** A resolved policy document (no CloudFormation intrinsics left) in the evaluator's shape. */
export function normalizePolicyDocument(raw: unknown, source: string): PolicyDocument {
  if (raw === null || typeof raw !== 'object') throw new Error(`${source}: the policy document is not an object`);
  const doc = raw as { Version?: unknown; Statement?: unknown };
  const list = Array.isArray(doc.Statement) ? doc.Statement : doc.Statement === undefined ? [] : [doc.Statement];
  const statements = list.map((s, i): PolicyStatement => {
    const where = `${source} statement ${i}`;
    const st = s as Record<string, unknown>;
    if (st.Effect !== 'Allow' && st.Effect !== 'Deny') throw new Error(`${where}: Effect is ${String(st.Effect)}`);
    return {
      ...(typeof st.Sid === 'string' ? { Sid: st.Sid } : {}),
      Effect: st.Effect,
      ...(st.Action !== undefined ? { Action: strings(st.Action, 'Action', where).map((a) => a.toLowerCase()) } : {}),
      ...(st.NotAction !== undefined
        ? { NotAction: strings(st.NotAction, 'NotAction', where).map((a) => a.toLowerCase()) }
        : {}),
      ...(st.Resource !== undefined ? { Resource: strings(st.Resource, 'Resource', where) } : {}),
      ...(st.NotResource !== undefined ? { NotResource: strings(st.NotResource, 'NotResource', where) } : {}),
      ...(st.Principal !== undefined ? { Principal: principals(st.Principal, where) } : {}),
      ...(st.NotPrincipal !== undefined ? { NotPrincipal: principals(st.NotPrincipal, where) } : {}),
      ...(st.Condition !== undefined ? { Condition: conditions(st.Condition, where) } : {}),
    };
  });
  return { Version: typeof doc.Version === 'string' ? doc.Version : '2012-10-17', Statement: statements };
}

/** The local account's root principal. */
export const LOCAL_ROOT = `arn:aws:iam::${LOCAL_ACCOUNT}:root`;
