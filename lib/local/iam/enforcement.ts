import { AsyncLocalStorage } from 'node:async_hooks';
import { AccessDeniedException, type IamAuthorizer } from './authorizer';
import { iamRequestOf, type AwsEnv } from './sdk-actions';

/**
 * Who is calling AWS, in this process: every function runs in-process with the same local credentials, so the
 * caller's identity travels with the call — the function's role, set around its invocation — and every AWS SDK
 * call is authorized for it before it is sent. The control plane's own calls (creating its tables, seeding the
 * registry, the SDK integrations a state machine's role was already authorized for, an operator's console) are
 * marked as such; a call with no identity at all is refused: "no identity" never means "allowed".
 */
interface Caller {
  readonly principal: string;
  /** The control plane whose template the principal's policies are read from (tests run several at once). */
  readonly authorizer?: IamAuthorizer;
  readonly env?: () => AwsEnv;
}
const caller = new AsyncLocalStorage<Caller>();

/** The principal of the control plane's own, explicitly marked calls. */
export const CONTROL_PLANE = 'control-plane';

/** Runs `fn` as `principal` (a role of the template, by logical id): its AWS calls are authorized for that role. */
export function asPrincipal<T>(principal: string, authorizer: IamAuthorizer, env: () => AwsEnv, fn: () => T): T {
  return caller.run({ principal, authorizer, env }, fn);
}

/** Runs `fn` as the control plane itself (or an operator's console): its AWS calls are not checked. */
export function asControlPlane<T>(fn: () => T): T {
  return caller.run({ principal: CONTROL_PLANE }, fn);
}

interface SendableClient {
  readonly config: { readonly serviceId?: string };
  send(command: { readonly input?: object; constructor: { name: string } }, ...rest: unknown[]): Promise<unknown>;
}

const trusted = new WeakSet<object>();

/**
 * Marks a client as the control plane's own (its records and tables, read by its operator's tools and tests): its
 * calls are the control plane's, whatever the context. Every other client's calls need an identity.
 */
export function trustClient(client: object): void {
  trusted.add(client);
}

type Send = SendableClient['send'];
const originals = new Map<object, Send>();
const counts = new Map<string, number>();

/**
 * Authorizes every AWS SDK v3 call of this process: the `send` of the SDK's base client class (each copy the
 * given client classes derive from, so that the functions' bundles, which load the same packages, are covered)
 * checks the command against the caller's role. A refusal rejects with AWS's AccessDeniedException, naming the
 * role, the action and the resource. Idempotent; it stays on for the life of the process.
 */
export function enforceIam(clientClasses: readonly (abstract new (...args: never[]) => unknown)[]): void {
  for (const cls of clientClasses) {
    const base = Object.getPrototypeOf(cls.prototype) as { send: Send };
    if (originals.has(base)) continue;
    const original = base.send;
    originals.set(base, original);
    base.send = function (this: SendableClient, command, ...rest) {
      try {
        authorizeCall(this, command);
      } catch (e) {
        return Promise.reject(e);
      }
      return original.call(this, command, ...rest);
    };
  }
}

function authorizeCall(client: SendableClient, command: { readonly input?: object; constructor: { name: string } }) {
  const store = caller.getStore();
  const principal = trusted.has(client) ? CONTROL_PLANE : store?.principal;
  const service = client.config.serviceId ?? 'unknown service';
  if (!principal)
    throw new AccessDeniedException(
      `${service} ${command.constructor.name} was called with no identity: only a function (its role) or the control plane's own marked calls may call AWS locally`,
    );
  counts.set(principal, (counts.get(principal) ?? 0) + 1);
  if (principal === CONTROL_PLANE || !store?.authorizer) return;
  const env = store.env?.() ?? store.authorizer.env;
  const requests = iamRequestOf(service, command.constructor.name, (command.input ?? {}) as never, env);
  const result = store.authorizer.authorizeAll(principal, requests);
  if (!result.allowed) throw new AccessDeniedException(result.reason);
}

/** SDK calls seen per principal in this process since enforcement began (authorized, or the control plane's). */
export function callCounts(): Record<string, number> {
  return Object.fromEntries(counts);
}
