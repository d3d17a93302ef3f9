import { randomUUID } from 'node:crypto';
import { lookup } from 'node:dns/promises';
import {
  CALLBACK_ATTEMPT_SECONDS,
  CALLBACK_HEADERS,
  isLoopbackAddress,
  isPublicAddress,
  notPublicRange,
  signCallback,
} from '../../lib/domain/callback';
import type { CallbackRecord } from '../../lib/records/run';

export interface CallbackOptions {
  /** The shared signing secret (Secrets Manager on AWS). */
  readonly secret: () => Promise<string>;
  /** Attempts in all, the first included. */
  readonly attempts: number;
  /** Wait before the second attempt; doubled for each next one (with jitter). */
  readonly backoffMs: number;
  /** The delivery id (X-Tropos-Delivery) of all attempts. @default a new one */
  readonly delivery?: string;
  /** How long one attempt may take. @default CALLBACK_ATTEMPT_SECONDS */
  readonly timeoutMs?: number;
  readonly now?: () => Date;
  /** Deliver to this machine's loopback addresses too (the local control plane and tests). @default false */
  readonly allowLoopback?: boolean;
}

/** Answers worth another attempt: the receiver may be back later. Any other 4xx is final. */
function retryable(status: number): boolean {
  return status >= 500 || status === 408 || status === 429;
}

/**
 * Why the URL's host may not be reached, or undefined when every address it resolves to is public (or loopback,
 * when allowed). The URL was checked when the run was requested, but a name can resolve anywhere, and to somewhere
 * else by now: checked at every attempt, on all the addresses. fetch resolves the name once more, so a DNS answer
 * that changes in between (rebinding within milliseconds) is not caught here.
 */
async function addressProblem(url: string, allowLoopback: boolean): Promise<string | undefined> {
  const host = new URL(url).hostname;
  const name = host.replace(/^\[(.*)\]$/, '$1');
  // lookup answers an IP literal with itself, without asking DNS.
  const addresses = await lookup(name, { all: true, verbatim: true });
  const refused = addresses.find(
    ({ address }) => !isPublicAddress(address) && !(allowLoopback && isLoopbackAddress(address)),
  );
  if (!refused) return undefined;
  const reserved = notPublicRange(refused.address);
  const where = reserved ? `, in ${reserved.range} (${reserved.what})` : '';
  const what = refused.address === name ? refused.address : `${host} resolves to ${refused.address}`;
  return `refused: ${what}${where}, not a public address; only public addresses are called back`;
}

/**
 * POSTs a run's outcome to its callback URL, signed (HMAC-SHA256 over "<timestamp>.<body>"), retried with
 * exponential backoff on network errors, timeouts, 5xx, 408 and 429. Every attempt is in the returned record.
 * One delivery id for all attempts: a receiver that got the body twice can tell. A host that resolves to an
 * address that is not public (the VPC, the metadata service; loopback unless allowed) is refused, not retried.
 */
export async function deliverCallback(url: string, payload: unknown, o: CallbackOptions): Promise<CallbackRecord> {
  const now = o.now ?? (() => new Date());
  const body = JSON.stringify(payload);
  const secret = await o.secret();
  const delivery = o.delivery ?? randomUUID();
  const attempts: { at: string; statusCode?: number; error?: string }[] = [];
  for (let i = 0; i < o.attempts; i++) {
    if (i > 0) await sleep(o.backoffMs * 2 ** (i - 1) * (0.75 + Math.random() / 2));
    const at = now();
    const timestamp = Math.floor(at.getTime() / 1000);
    // One budget for the attempt, the lookup included (as when fetch resolved the name itself).
    const signal = AbortSignal.timeout(o.timeoutMs ?? CALLBACK_ATTEMPT_SECONDS * 1000);
    try {
      const refused = await untilAborted(addressProblem(url, o.allowLoopback ?? false), signal);
      if (refused) {
        // Final: the same name will not be a public address on the next attempt, or should not be trusted if it is.
        attempts.push({ at: at.toISOString(), error: refused });
        break;
      }
      const res = await fetch(url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'user-agent': 'tropos-callback/1',
          [CALLBACK_HEADERS.timestamp]: String(timestamp),
          [CALLBACK_HEADERS.signature]: signCallback(secret, timestamp, body),
          [CALLBACK_HEADERS.delivery]: delivery,
        },
        body,
        redirect: 'manual',
        signal,
      });
      await res.arrayBuffer().catch(() => undefined);
      attempts.push({ at: at.toISOString(), statusCode: res.status });
      if (res.ok) return { url, status: 'DELIVERED', attempts, deliveredAt: now().toISOString() };
      if (!retryable(res.status)) break;
    } catch (e) {
      // fetch's errors carry the system error as their cause; lookup's is the system error itself (ENOTFOUND).
      const err = e as Error & { code?: unknown; cause?: { code?: string } };
      const code = err.cause?.code ?? (typeof err.code === 'string' ? err.code : undefined);
      attempts.push({ at: at.toISOString(), error: code ?? err.name ?? 'Error' });
    }
  }
  return { url, status: 'FAILED', attempts };
}

/** The promise's outcome, or the signal's reason (a TimeoutError) when it aborts first: lookup takes no signal. */
function untilAborted<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      if (signal.aborted) reject(signal.reason as Error);
      signal.addEventListener('abort', () => reject(signal.reason as Error), { once: true });
    }),
  ]);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
