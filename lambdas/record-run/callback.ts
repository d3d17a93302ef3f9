import { randomUUID } from 'node:crypto';
import { CALLBACK_ATTEMPT_SECONDS, CALLBACK_HEADERS, signCallback } from '../../lib/domain/callback';
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
}

/** Answers worth another attempt: the receiver may be back later. Any other 4xx is final. */
function retryable(status: number): boolean {
  return status >= 500 || status === 408 || status === 429;
}

/**
 * POSTs a run's outcome to its callback URL, signed (HMAC-SHA256 over "<timestamp>.<body>"), retried with
 * exponential backoff on network errors, timeouts, 5xx, 408 and 429. Every attempt is in the returned record.
 * One delivery id for all attempts: a receiver that got the body twice can tell.
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
    try {
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
        signal: AbortSignal.timeout(o.timeoutMs ?? CALLBACK_ATTEMPT_SECONDS * 1000),
      });
      await res.arrayBuffer().catch(() => undefined);
      attempts.push({ at: at.toISOString(), statusCode: res.status });
      if (res.ok) return { url, status: 'DELIVERED', attempts, deliveredAt: now().toISOString() };
      if (!retryable(res.status)) break;
    } catch (e) {
      const err = e as Error & { cause?: { code?: string } };
      attempts.push({ at: at.toISOString(), error: err.cause?.code ?? err.name ?? 'Error' });
    }
  }
  return { url, status: 'FAILED', attempts };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
