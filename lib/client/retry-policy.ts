import { NexusError, NexusHttpError, NexusNetworkError, neverConnected } from "./errors";

/** What may be sent again, and when. */
export interface RetryPolicy {
  /** Retries after the first attempt. */
  retries: number;
  /** First backoff step in ms; doubles each retry. */
  baseDelayMs: number;
  /** Upper bound for one wait, backoff or `Retry-After`. */
  maxDelayMs: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = { retries: 3, baseDelayMs: 200, maxDelayMs: 30_000 };

/**
 * Exponential backoff with jitter: half of the step is fixed, half random, so that many clients that
 * failed together do not come back together. A server's `Retry-After` wins when it is given.
 */
export function retryDelay(policy: RetryPolicy, retry: number, retryAfterMs?: number): number {
  if (retryAfterMs !== undefined) return Math.min(policy.maxDelayMs, retryAfterMs);
  const step = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** retry);
  return Math.round(step / 2 + Math.random() * (step / 2));
}

/** `Retry-After` as delta-seconds or an HTTP date, in ms; undefined when absent or unreadable. */
export function parseRetryAfter(value: unknown, now = Date.now()): number | undefined {
  if (typeof value !== "string" || value.trim() === "") return undefined;
  const text = value.trim();
  if (/^\d+(\.\d+)?$/.test(text)) return Math.round(Number(text) * 1000);
  const date = Date.parse(text);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/** Resets and cut connections: an idempotent request (GET, DELETE) is sent again after them. */
const RESET_CODES: ReadonlySet<string> = new Set(["ECONNRESET", "EPIPE", "UND_ERR_SOCKET", "UND_ERR_CLOSED", "EPROTO", "UND_ERR_RES_CONTENT_LENGTH_MISMATCH"]);

/**
 * Whether a failed attempt may be sent again. A `POST` (message, media) only when Genesys cannot have it:
 * the connection was never made, or Genesys answered 429 or 503. Once its bytes are written, a lost
 * connection, a partial or unreadable answer, a time-out, 502 or 504 leave the outcome unknown, and a
 * resend could put the same message twice in front of an agent: the Nexus API has no idempotency key.
 * `GET` and `DELETE` are idempotent (RFC 9110, 9.2.2) and are also sent again after resets, 502 and 504.
 * Never after other 4xx, nor when the server asked for a longer wait than the channel makes.
 */
export function mayRetry(method: string, err: unknown): boolean {
  if (!(err instanceof NexusError) || err.retryAfterSeconds !== undefined) return false;
  const idempotent = method === "GET" || method === "DELETE";
  if (err instanceof NexusHttpError) {
    const status = err.statusCode ?? 0;
    return status === 429 || status === 503 || (idempotent && (status === 502 || status === 504));
  }
  if (err instanceof NexusNetworkError) return neverConnected(err.code) || (idempotent && RESET_CODES.has(err.code));
  return false;
}
