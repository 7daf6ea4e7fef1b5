import { STATUS_CODES } from "http";

/** What kind of failure it was: flow nodes map it to a status and a Catch-able error. */
export type NexusErrorKind = "input" | "http" | "timeout" | "network" | "aborted" | "overloaded";

export interface RequestContext {
  method: string;
  /** Path below the base URL, e.g. `/channels/abc/messages`. Never holds a secret. */
  path: string;
  traceId?: string;
}

/** Base of every error the client throws. Its message is a sentence a flow author can act on. */
export class NexusError extends Error {
  readonly kind: NexusErrorKind;
  /** HTTP status of the answer, when one came. */
  readonly statusCode?: number;
  /** Genesys `status.code` from the answer's envelope, when there was one. */
  readonly genesysCode?: number;
  /** Genesys `status.message` from the answer's envelope, when there was one. */
  readonly genesysMessage?: string;
  /** The `X-B3-TraceId` sent with the request. */
  readonly traceId?: string;
  /** Whether the client may retry the request that failed this way. */
  readonly transient: boolean;

  constructor(
    kind: NexusErrorKind,
    message: string,
    details: { statusCode?: number; genesysCode?: number; genesysMessage?: string; traceId?: string; transient?: boolean } = {},
  ) {
    super(message);
    this.name = new.target.name;
    this.kind = kind;
    this.statusCode = details.statusCode;
    this.genesysCode = details.genesysCode;
    this.genesysMessage = details.genesysMessage;
    this.traceId = details.traceId;
    this.transient = details.transient ?? false;
  }
}

/** Input that cannot be sent (a number as upload payload, a non-JSON string, a missing media id). */
export class NexusInputError extends NexusError {
  constructor(message: string) {
    super("input", message);
  }
}

const HINTS: Record<number, string> = {
  400: "Check the request body or media id.",
  401: "Genesys refused the signature: check the channel secret.",
  403: "Check the API key and the contact center id (x-ccid).",
  404: "Check the channel id, or the media id.",
  413: "The body is larger than Genesys accepts.",
  429: "Genesys is rate limiting this channel and the retries ran out.",
};

function hintFor(status: number): string {
  if (HINTS[status]) return HINTS[status];
  if (status >= 500) return "Genesys could not handle the request; it may be unavailable.";
  return "";
}

/** HTTP statuses the contract retries: rate limiting and gateway trouble. */
export const RETRYABLE_STATUSES: ReadonlySet<number> = new Set([429, 502, 503, 504]);

/** The API answered with an error status, or with an envelope whose `status.code` is not 0. */
export class NexusHttpError extends NexusError {
  constructor(ctx: RequestContext, statusCode: number, status?: { code?: number; message?: string }) {
    const reason = STATUS_CODES[statusCode] ?? "";
    const detail = status?.message
      ? `: "${status.message}"${status.code !== undefined ? ` (status.code ${status.code})` : ""}`
      : status?.code !== undefined && status.code !== 0
        ? ` (status.code ${status.code})`
        : "";
    const hint = statusCode >= 200 && statusCode < 300 ? "The answer's status.code is not 0." : hintFor(statusCode);
    super(
      "http",
      `Genesys answered ${statusCode}${reason ? " " + reason : ""} to ${ctx.method} ${ctx.path}${detail}. ${hint}`.trim() +
        traceSuffix(ctx.traceId),
      {
        statusCode,
        genesysCode: status?.code,
        genesysMessage: status?.message,
        traceId: ctx.traceId,
        transient: RETRYABLE_STATUSES.has(statusCode),
      },
    );
  }
}

/** No complete answer within the channel's time limit. */
export class NexusTimeoutError extends NexusError {
  constructor(ctx: RequestContext, timeoutMs: number) {
    super(
      "timeout",
      `No answer from Genesys within ${timeoutMs} ms to ${ctx.method} ${ctx.path}. ` +
        "Check the base URL and the network, or raise the channel's timeout." +
        traceSuffix(ctx.traceId),
      { traceId: ctx.traceId },
    );
  }
}

const NETWORK_WORDS: Record<string, string> = {
  ECONNREFUSED: "the connection was refused",
  ECONNRESET: "the connection was reset",
  EPIPE: "the connection was closed while sending",
  ENOTFOUND: "the host name was not found",
  EAI_AGAIN: "the host name could not be resolved",
  EHOSTUNREACH: "the host is unreachable",
  ENETUNREACH: "the network is unreachable",
  ETIMEDOUT: "the connection timed out",
  CERT_HAS_EXPIRED: "the server's TLS certificate has expired",
  DEPTH_ZERO_SELF_SIGNED_CERT: "the server's TLS certificate is self-signed",
  SELF_SIGNED_CERT_IN_CHAIN: "the server's TLS certificate chain is not trusted",
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: "the server's TLS certificate could not be verified",
  ERR_TLS_CERT_ALTNAME_INVALID: "the server's TLS certificate does not match its host name",
};

/** Connection-level codes the contract retries: refused and reset connections. */
export const RETRYABLE_NETWORK_CODES: ReadonlySet<string> = new Set(["ECONNREFUSED", "ECONNRESET", "EPIPE"]);

/** The request never got an answer: refused, reset, unresolvable host, TLS trouble. */
export class NexusNetworkError extends NexusError {
  readonly code: string;
  constructor(ctx: RequestContext, origin: string, code: string) {
    const words = NETWORK_WORDS[code] ?? "the request failed";
    super(
      "network",
      `Could not reach Genesys at ${origin} for ${ctx.method} ${ctx.path}: ${words} (${code}). ` +
        "Check the channel's base URL and that the server is up." +
        traceSuffix(ctx.traceId),
      { traceId: ctx.traceId, transient: RETRYABLE_NETWORK_CODES.has(code) },
    );
    this.code = code;
  }
}

/** The request was cut short on purpose: the channel closed (redeploy, shutdown) or the caller aborted. */
export class NexusAbortError extends NexusError {
  constructor(ctx: RequestContext, reason: string) {
    super("aborted", `${ctx.method} ${ctx.path} was aborted: ${reason}.` + traceSuffix(ctx.traceId), { traceId: ctx.traceId });
  }
}

/** The channel already has as many requests waiting as it may queue. */
export class NexusOverloadError extends NexusError {
  constructor(ctx: RequestContext, limit: number) {
    super(
      "overloaded",
      `${ctx.method} ${ctx.path} was not sent: the channel's queue is full (${limit} waiting). ` +
        "Slow the flow down or raise the channel's queue limit." +
        traceSuffix(ctx.traceId),
      { traceId: ctx.traceId },
    );
  }
}

function traceSuffix(traceId: string | undefined): string {
  return traceId ? ` (trace id ${traceId})` : "";
}
