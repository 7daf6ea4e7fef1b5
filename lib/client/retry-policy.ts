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

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const MONTH = MONTHS.join("|");
const TIME = "(\\d{2}):(\\d{2}):(\\d{2})";
/** IMF-fixdate: `Sun, 06 Nov 1994 08:49:37 GMT`. */
const IMF_FIXDATE = new RegExp(`^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), (\\d{2}) (${MONTH}) (\\d{4}) ${TIME} GMT$`);
/** Obsolete RFC 850 date: `Sunday, 06-Nov-94 08:49:37 GMT`. */
const RFC850_DATE = new RegExp(`^(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday), (\\d{2})-(${MONTH})-(\\d{2}) ${TIME} GMT$`);
/** Obsolete asctime date: `Sun Nov  6 08:49:37 1994`. */
const ASCTIME_DATE = new RegExp(`^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) (${MONTH}) ( \\d|\\d{2}) ${TIME} (\\d{4})$`);

function utc(year: number, month: string, day: number, hour: number, minute: number, second: number): number | undefined {
  const m = MONTHS.indexOf(month);
  // 60 seconds is a leap second (RFC 9110 allows it); it is read as the next minute's start.
  if (day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) return undefined;
  const time = Date.UTC(year, m, day, hour, minute, second);
  // 31 Feb and the like roll into the next month: not a date.
  return new Date(Date.UTC(year, m, day)).getUTCDate() === day ? time : undefined;
}

/**
 * An HTTP-date in ms since the epoch, or undefined: exactly the three forms of RFC 9110, section 5.6.7
 * (IMF-fixdate, and the obsolete RFC 850 and asctime forms), case-sensitive as the RFC says. Anything
 * else (which Date.parse would guess at) is no date.
 */
export function parseHttpDate(text: string, now = Date.now()): number | undefined {
  let m = IMF_FIXDATE.exec(text);
  if (m) return utc(Number(m[3]), m[2], Number(m[1]), Number(m[4]), Number(m[5]), Number(m[6]));
  m = RFC850_DATE.exec(text);
  if (m) {
    // A two-digit year more than 50 years ahead is the most recent past year with those digits (5.6.7).
    const thisYear = new Date(now).getUTCFullYear();
    let year = Math.floor(thisYear / 100) * 100 + Number(m[3]);
    if (year > thisYear + 50) year -= 100;
    return utc(year, m[2], Number(m[1]), Number(m[4]), Number(m[5]), Number(m[6]));
  }
  m = ASCTIME_DATE.exec(text);
  if (m) return utc(Number(m[6]), m[1], Number(m[2].trim()), Number(m[3]), Number(m[4]), Number(m[5]));
  return undefined;
}

/**
 * `Retry-After` in ms: delta-seconds (`1*DIGIT`) or an HTTP-date (RFC 9110, section 10.2.3); undefined
 * when absent or anything else, so that the normal backoff applies.
 */
export function parseRetryAfter(value: unknown, now = Date.now()): number | undefined {
  if (typeof value !== "string") return undefined;
  // Field values have no leading or trailing white space (RFC 9110, 5.5); a parser may have kept some.
  const text = value.replace(/^[ \t]+|[ \t]+$/g, "");
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const date = parseHttpDate(text, now);
  return date === undefined ? undefined : Math.max(0, date - now);
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
  // A reset connection is retried for any method when the request was never written to it (reach "no").
  if (err instanceof NexusNetworkError) return neverConnected(err.code) || ((idempotent || err.reachedGenesys === "no") && RESET_CODES.has(err.code));
  return false;
}
