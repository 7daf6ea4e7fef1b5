/**
 * Whether a failed send reached Genesys, and what the outbox does with it. The one place that reads a
 * client error for the outbox: it uses `err.reachedGenesys` when the client sets it (the retry rule of
 * issue 17), and otherwise derives the same answer from the error's kind, HTTP status and network code.
 */

/** `no`: Genesys cannot have it; `maybe`: the outcome is unknown; `yes`: Genesys answered. */
export type Reach = "no" | "maybe" | "yes";

/** The fields of a client error (lib/client NexusError) this module reads; all optional. */
interface FailureFields {
  reachedGenesys?: unknown;
  retryAfterSeconds?: unknown;
  retryAfterMs?: unknown;
  kind?: unknown;
  statusCode?: unknown;
  code?: unknown;
  requestSent?: unknown;
}

/** Connection failures before any byte of the request went out: refused, unresolvable, unreachable, TLS. */
const NEVER_CONNECTED = new Set(["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH", "ENETUNREACH", "ETIMEDOUT", "EPROXY", "UND_ERR_CONNECT_TIMEOUT"]);

/** Whether a failed call reached Genesys (see the node contract, `msg.reachedGenesys`). */
export function reachOf(err: unknown): Reach {
  const e = (err ?? {}) as FailureFields;
  if (e.reachedGenesys === "no" || e.reachedGenesys === "maybe" || e.reachedGenesys === "yes") return e.reachedGenesys;
  const status = typeof e.statusCode === "number" ? e.statusCode : undefined;
  switch (e.kind) {
    case "input":
    case "overloaded":
      return "no";
    case "http":
    case "too-large":
      if (status === 429 || status === 503) return "no";
      if (status === 502 || status === 504) return "maybe";
      return "yes";
    case "network": {
      const code = typeof e.code === "string" ? e.code : "";
      return NEVER_CONNECTED.has(code) || /CERT|SSL|TLS|SELF_SIGNED|VERIFY/i.test(code) ? "no" : "maybe";
    }
    case "aborted":
      return e.requestSent ? "maybe" : "no";
    default:
      // A timeout, or anything unforeseen after the request started: it may have arrived.
      return "maybe";
  }
}

/** What the outbox does with a message whose send failed. */
export type Verdict =
  /** Keep it and send it later; `unknown`: it may have arrived, so the next attempt is a logged resend. */
  | { keep: true; unknown: boolean; retryAfterMs?: number }
  /** Genesys refused it for good (or it is bad input): it goes to Catch. */
  | { keep: false; reach: Reach };

/**
 * The outbox's rule: keep what cannot be delivered now (no connection, 429, 503), what may have arrived
 * (a connection lost after the request was written, a time-out, 502, 504) and any other 5xx (the server
 * failed on its side: it may or may not have taken the message, so the resend is logged as one). A 4xx
 * (400, 401, 403, 404, 413...) and bad input are final: Catch, as without the outbox.
 */
export function verdictOf(err: unknown): Verdict {
  const e = (err ?? {}) as FailureFields;
  const reach = reachOf(err);
  if (e.kind === "input") return { keep: false, reach };
  // The server's wait, whatever its length (the client sets retryAfterMs for any 429/503 that gave one).
  const retryAfterMs =
    typeof e.retryAfterMs === "number" && e.retryAfterMs > 0 ? e.retryAfterMs : typeof e.retryAfterSeconds === "number" && e.retryAfterSeconds > 0 ? e.retryAfterSeconds * 1000 : undefined;
  if (reach === "no") return { keep: true, unknown: false, retryAfterMs };
  if (reach === "maybe") return { keep: true, unknown: true, retryAfterMs };
  if (typeof e.statusCode === "number" && e.statusCode >= 500) return { keep: true, unknown: true, retryAfterMs };
  return { keep: false, reach };
}
