import { STATUS_CODES } from "http";
import MESSAGES from "./messages.json";

/** What kind of failure it was: flow nodes map it to a status and a Catch-able error. */
export type NexusErrorKind = "input" | "http" | "timeout" | "network" | "aborted" | "overloaded" | "too-large";

export type MessageParams = Record<string, string | number | undefined>;
/** One sentence of an error text: a message code (see messages.json) and its parameters. */
export type MessagePart = readonly [code: string, params?: MessageParams];
/** Turns a message code into text; the client's own is English, Node-RED nodes pass their locale's. */
export type Translate = (code: string, params?: MessageParams) => string;

export function interpolate(text: string, params: MessageParams | undefined): string {
  return params ? text.replace(/__(\w+)__/g, (all, name: string) => (params[name] === undefined ? all : String(params[name]))) : text;
}

export const english: Translate = (code, params) => interpolate((MESSAGES as Record<string, string>)[code] ?? code, params);

export interface RequestContext {
  method: string;
  /** The full URL called, e.g. `https://nexus.example.com/nexus/v3/channels/abc/messages`. Never holds a secret. */
  path: string;
  traceId?: string;
  /** What the call is about, for the hint of an error: a message, or media. */
  resource?: "messages" | "media";
}

/**
 * Whether a failed request reached Genesys: `"no"` it cannot have it (refused before any request, never
 * connected, or Genesys said it did not take it: 429, 503); `"maybe"` the outcome is unknown (the
 * connection was lost after the request was written, a partial or unreadable answer, a time-out, 502 or
 * 504 from a gateway, an abort after the request went out); `"yes"` Genesys answered with another status.
 * Flow nodes put it on `msg.reachedGenesys` (see the node contract).
 */
export type Reach = "no" | "maybe" | "yes";

interface Details {
  statusCode?: number;
  genesysCode?: number;
  genesysMessage?: string;
  traceId?: string;
  reachedGenesys?: Reach;
  retryAfterSeconds?: number;
  /** The request's method: what an unknown outcome means depends on it. */
  method?: string;
}

/**
 * The sentence an unknown outcome ends with. Only a POST can put something twice in front of an agent, so
 * only a POST says "may have received it"; a GET changes nothing (it was retried as far as the channel
 * retries), and a DELETE may have taken effect.
 */
function unknownOutcomeWords(method: string | undefined): string | undefined {
  if (method === "GET") return undefined;
  if (method === "DELETE") return "may-have-deleted";
  return "may-have-received";
}

/** Base of every error the client throws. Its message is a sentence a flow author can act on. */
export class NexusError extends Error {
  readonly kind: NexusErrorKind;
  /** The sentences of the message, to be put in another language by `describeError`. */
  readonly parts: readonly MessagePart[];
  /** HTTP status of the answer, when one came. */
  readonly statusCode?: number;
  /** Genesys `status.code` from the answer's envelope, when there was one. */
  readonly genesysCode?: number;
  /** Genesys `status.message` from the answer's envelope, when there was one. */
  readonly genesysMessage?: string;
  /** The `X-B3-TraceId` sent with the request. */
  readonly traceId?: string;
  /** Whether the request reached Genesys: see `Reach`. */
  readonly reachedGenesys: Reach;
  /**
   * The wait the server asked for (`Retry-After`), in seconds, when it is longer than the channel waits:
   * the call failed at once instead of being retried early.
   */
  readonly retryAfterSeconds?: number;
  /**
   * The wait a 429 or 503 answer asked for (`Retry-After`, RFC 9110 §10.2.3), in ms, whenever one came,
   * however short or long: a caller that tries again later (the outbox) never comes before it.
   */
  retryAfterMs?: number;

  constructor(kind: NexusErrorKind, parts: MessagePart[], details: Details = {}) {
    const reach = details.reachedGenesys ?? "no";
    // An unknown outcome says so, with the trace id to look for, so that the flow decides what to do.
    const unknown = reach === "maybe" ? unknownOutcomeWords(details.method) : undefined;
    if (unknown) parts = [...parts, [unknown]];
    if (details.traceId) parts = [...parts, ["trace", { traceId: details.traceId }]];
    super(describeParts(parts, english));
    this.name = new.target.name;
    this.kind = kind;
    this.parts = parts;
    this.statusCode = details.statusCode;
    this.genesysCode = details.genesysCode;
    this.genesysMessage = details.genesysMessage;
    this.traceId = details.traceId;
    this.reachedGenesys = reach;
    if (details.retryAfterSeconds !== undefined) this.retryAfterSeconds = details.retryAfterSeconds;
  }
}

function describeParts(parts: readonly MessagePart[], t: Translate): string {
  return parts.map(([code, params]) => t(code, params)).join(" ");
}

/** An error's text in another language; plain Errors keep their message. */
export function describeError(err: Error, t: Translate): string {
  return err instanceof NexusError ? describeParts(err.parts, t) : err.message;
}

/** Input that cannot be sent (a number as upload payload, a non-JSON string, a missing media id). */
export class NexusInputError extends NexusError {
  /** One problem by its code, or several at once (each a sentence of its own, in order). */
  constructor(code: string | MessagePart[], params?: MessageParams) {
    super("input", typeof code === "string" ? [[code, params]] : code);
  }
}

/** Whether a failure reached Genesys (see `Reach`): the one classification for retries, flows and logs. */
export function reachedGenesys(err: unknown): Reach {
  return err instanceof NexusError ? err.reachedGenesys : "no";
}

/** Statuses by which Genesys says it did not take the request: rate limited, or unavailable. */
const NOT_TAKEN_STATUSES: ReadonlySet<number> = new Set([429, 503]);
/** Statuses from a gateway that cannot tell whether Genesys took the request. */
const UNKNOWN_OUTCOME_STATUSES: ReadonlySet<number> = new Set([502, 504]);

/** What an HTTP status says of whether the request reached Genesys. */
export function reachOfStatus(status: number): Reach {
  return NOT_TAKEN_STATUSES.has(status) ? "no" : UNKNOWN_OUTCOME_STATUSES.has(status) ? "maybe" : "yes";
}

function hintFor(status: number, resource: RequestContext["resource"]): string | undefined {
  if (status === 400 || status === 404) return `hint-${status}-${resource ?? "messages"}`;
  if ([401, 403, 413, 429].includes(status)) return `hint-${status}`;
  if (status >= 500) return "hint-5xx";
  if (status >= 200 && status < 300) return "hint-2xx";
  return undefined;
}

/** The API answered with an error status, or with an envelope whose `status.code` is not 0. */
export class NexusHttpError extends NexusError {
  /**
   * `retryAfter`, when given, is the wait the server asked for (in seconds) that is longer than the
   * channel's longest wait (`maxSeconds`): the text says so instead of "the retries ran out".
   */
  constructor(ctx: RequestContext, statusCode: number, status?: { code?: number; message?: string }, retryAfter?: { seconds: number; maxSeconds: number }) {
    const parts: MessagePart[] = [["http", { status: statusCode, reason: STATUS_CODES[statusCode] ?? "", method: ctx.method, path: ctx.path }]];
    if (status?.message) parts.push(["http-detail", { message: status.message, code: status.code ?? "-" }]);
    if (retryAfter) parts.push(["retry-after-too-long", { seconds: retryAfter.seconds, max: retryAfter.maxSeconds }]);
    const hint = retryAfter ? undefined : hintFor(statusCode, ctx.resource);
    if (hint) parts.push([hint]);
    super("http", parts, {
      statusCode,
      genesysCode: status?.code,
      genesysMessage: status?.message,
      traceId: ctx.traceId,
      reachedGenesys: reachOfStatus(statusCode),
      retryAfterSeconds: retryAfter?.seconds,
      method: ctx.method,
    });
  }
}

/**
 * No complete answer within the channel's time limit to a request that had its connection (one that got
 * none is a connect time-out, a NexusNetworkError): Genesys may have it.
 */
export class NexusTimeoutError extends NexusError {
  constructor(ctx: RequestContext, timeoutMs: number) {
    super("timeout", [["timeout", { ms: timeoutMs, method: ctx.method, path: ctx.path }]], { traceId: ctx.traceId, reachedGenesys: "maybe", method: ctx.method });
  }
}

const NETWORK_CODES = new Set(["ECONNREFUSED", "ECONNRESET", "EPIPE", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH", "ENETUNREACH", "ETIMEDOUT"]);
/** undici's codes, told in the same words as the system's. */
const UNDICI_WORDS: Record<string, string> = {
  UND_ERR_CONNECT_TIMEOUT: "net-ETIMEDOUT",
  UND_ERR_SOCKET: "net-closed",
  UND_ERR_CLOSED: "net-closed",
  UND_ERR_RES_CONTENT_LENGTH_MISMATCH: "net-protocol",
  EPROTO: "net-protocol",
  UND_ERR_BODY_TIMEOUT: "net-ETIMEDOUT",
  UND_ERR_HEADERS_TIMEOUT: "net-ETIMEDOUT",
};

/**
 * Codes of failures that happen before a connection carries a request (refused, name resolution, the
 * connect time-out, an unreachable host, TLS handshake and certificate trouble, a proxy that refuses the
 * tunnel): Genesys cannot have the request. Any other network failure may come after the request was
 * written, so its outcome is unknown.
 */
export function neverConnected(code: string): boolean {
  return (
    ["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "EAI_FAIL", "EHOSTUNREACH", "ENETUNREACH", "EHOSTDOWN", "EADDRNOTAVAIL", "ETIMEDOUT", "UND_ERR_CONNECT_TIMEOUT", "EPROXY"].includes(code) ||
    /CERT|SSL|TLS|SELF_SIGNED|VERIFY/i.test(code)
  );
}

/** TLS codes of a server that did not answer with TLS at all (a plain HTTP server behind an https:// URL). */
const NOT_TLS = /WRONG_VERSION_NUMBER|UNKNOWN_PROTOCOL|PACKET_LENGTH_TOO_LONG|RECORD_LAYER_FAILURE/;

/** OpenSSL codes of the channel's own certificate and key (a wrong passphrase, a key that is not the certificate's). */
const OWN_TLS = /^ERR_OSSL_(EVP_)?BAD_DECRYPT$|^ERR_OSSL_PEM_|^ERR_OSSL_X509_KEY_VALUES_MISMATCH$|^ERR_OSSL_(EVP_)?(BAD_PASSWORD_READ|INTERRUPTED_OR_CANCELLED)$/;
/** TLS alerts: the server refused the handshake (it wants a client certificate, say), not our check of its certificate. */
const TLS_ALERT = /_ALERT_/;

function networkWords(code: string): string {
  if (NETWORK_CODES.has(code)) return `net-${code}`;
  if (UNDICI_WORDS[code]) return UNDICI_WORDS[code];
  if (NOT_TLS.test(code)) return "net-not-tls";
  if (OWN_TLS.test(code)) return "net-tls-own";
  if (TLS_ALERT.test(code)) return "net-tls-refused";
  if (/CERT|SSL|TLS|SELF_SIGNED|VERIFY/i.test(code)) return "net-tls";
  if (/PROXY/i.test(code)) return "net-proxy";
  return "net-other";
}

/**
 * The request never got a (complete, readable) answer: refused, reset, unresolvable host, TLS trouble.
 * Where no connection was made, the text says Genesys could not be reached and points at the base URL;
 * where one was made and lost after the request was written, it says so, and not that.
 */
export class NexusNetworkError extends NexusError {
  readonly code: string;
  /**
   * `written`: false when the request was never started on a connection (a pooled connection the server
   * reset while the request waited for it, say), so that Genesys cannot have it whatever the code; true
   * (the default) when it may have been written.
   */
  constructor(ctx: RequestContext, code: string, written = true) {
    const never = neverConnected(code);
    const words = networkWords(code);
    const parts: MessagePart[] = never
      ? [["network", { method: ctx.method, path: ctx.path }], [words, { code }], ...(words === "net-tls-own" || words === "net-tls-refused" ? [] : ([["network-hint"]] as MessagePart[]))]
      : written
        ? [["connection-lost", { method: ctx.method, path: ctx.path }], [words, { code }]]
        : [["connection-lost-unsent", { method: ctx.method, path: ctx.path }], [words, { code }]];
    super("network", parts, {
      traceId: ctx.traceId,
      reachedGenesys: never || !written ? "no" : "maybe",
      method: ctx.method,
    });
    this.code = code;
  }
}

/** The request was cut short on purpose: the channel closed (redeploy, shutdown) or the caller aborted. */
export class NexusAbortError extends NexusError {
  /**
   * Whether an attempt may have reached Genesys before the abort: one on the wire with its connection
   * made, or an earlier one whose outcome was unknown or answered. False when every attempt failed before
   * anything could arrive (refused, never connected, 429, 503).
   */
  readonly requestSent: boolean;
  constructor(ctx: RequestContext, requestSent = false) {
    super("aborted", [["aborted", { method: ctx.method, path: ctx.path }]], { traceId: ctx.traceId, reachedGenesys: requestSent ? "maybe" : "no", method: ctx.method });
    this.requestSent = requestSent;
  }
}

/** The channel already has as many requests waiting as it may queue. */
export class NexusOverloadError extends NexusError {
  constructor(ctx: RequestContext, limit: number) {
    super("overloaded", [["overloaded", { method: ctx.method, path: ctx.path, limit }]], { traceId: ctx.traceId });
  }
}

/** An answer larger than the client reads into memory: a download past its limit, or a huge envelope. */
export class NexusTooLargeError extends NexusError {
  constructor(ctx: RequestContext, limit: number, download: boolean) {
    super("too-large", [[download ? "download-too-large" : "answer-too-large", { limit, method: ctx.method, path: ctx.path }]], { traceId: ctx.traceId, reachedGenesys: "yes" });
  }
}

/** A stream to upload that brought nothing for the channel's time limit. */
export class NexusStalledError extends NexusError {
  constructor(ctx: RequestContext, ms: number) {
    super("timeout", [["stream-stalled", { ms }]], { traceId: ctx.traceId });
  }
}
