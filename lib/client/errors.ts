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

interface Details {
  statusCode?: number;
  genesysCode?: number;
  genesysMessage?: string;
  traceId?: string;
  transient?: boolean;
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
  /** Whether the client may retry the request that failed this way. */
  readonly transient: boolean;

  constructor(kind: NexusErrorKind, parts: MessagePart[], details: Details = {}) {
    if (details.traceId) parts = [...parts, ["trace", { traceId: details.traceId }]];
    super(describeParts(parts, english));
    this.name = new.target.name;
    this.kind = kind;
    this.parts = parts;
    this.statusCode = details.statusCode;
    this.genesysCode = details.genesysCode;
    this.genesysMessage = details.genesysMessage;
    this.traceId = details.traceId;
    this.transient = details.transient ?? false;
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
  constructor(code: string, params?: MessageParams) {
    super("input", [[code, params]]);
  }
}

/** HTTP statuses the contract retries: rate limiting and gateway trouble. */
export const RETRYABLE_STATUSES: ReadonlySet<number> = new Set([429, 502, 503, 504]);

function hintFor(status: number, resource: RequestContext["resource"]): string | undefined {
  if (status === 400 || status === 404) return `hint-${status}-${resource ?? "messages"}`;
  if ([401, 403, 413, 429].includes(status)) return `hint-${status}`;
  if (status >= 500) return "hint-5xx";
  if (status >= 200 && status < 300) return "hint-2xx";
  return undefined;
}

/** The API answered with an error status, or with an envelope whose `status.code` is not 0. */
export class NexusHttpError extends NexusError {
  constructor(ctx: RequestContext, statusCode: number, status?: { code?: number; message?: string }) {
    const parts: MessagePart[] = [["http", { status: statusCode, reason: STATUS_CODES[statusCode] ?? "", method: ctx.method, path: ctx.path }]];
    if (status?.message) parts.push(["http-detail", { message: status.message, code: status.code ?? "-" }]);
    const hint = hintFor(statusCode, ctx.resource);
    if (hint) parts.push([hint]);
    super("http", parts, {
      statusCode,
      genesysCode: status?.code,
      genesysMessage: status?.message,
      traceId: ctx.traceId,
      transient: RETRYABLE_STATUSES.has(statusCode),
    });
  }
}

/** No complete answer within the channel's time limit. */
export class NexusTimeoutError extends NexusError {
  constructor(ctx: RequestContext, timeoutMs: number) {
    super("timeout", [["timeout", { ms: timeoutMs, method: ctx.method, path: ctx.path }]], { traceId: ctx.traceId });
  }
}

const NETWORK_CODES = new Set(["ECONNREFUSED", "ECONNRESET", "EPIPE", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH", "ENETUNREACH", "ETIMEDOUT"]);

/** Connection-level codes the contract retries: refused and reset connections. */
export const RETRYABLE_NETWORK_CODES: ReadonlySet<string> = new Set(["ECONNREFUSED", "ECONNRESET", "EPIPE"]);

function networkWords(code: string): string {
  if (NETWORK_CODES.has(code)) return `net-${code}`;
  if (/CERT|SSL|TLS|SELF_SIGNED|VERIFY/i.test(code)) return "net-tls";
  if (/PROXY/i.test(code)) return "net-proxy";
  return "net-other";
}

/** The request never got an answer: refused, reset, unresolvable host, TLS trouble. */
export class NexusNetworkError extends NexusError {
  readonly code: string;
  constructor(ctx: RequestContext, code: string) {
    const parts: MessagePart[] = [["network", { method: ctx.method, path: ctx.path }], [networkWords(code), { code }], ["network-hint"]];
    super("network", parts, {
      traceId: ctx.traceId,
      transient: RETRYABLE_NETWORK_CODES.has(code),
    });
    this.code = code;
  }
}

/** The request was cut short on purpose: the channel closed (redeploy, shutdown) or the caller aborted. */
export class NexusAbortError extends NexusError {
  /** Whether an attempt had gone out before the abort, so that Genesys may have the request. */
  readonly requestSent: boolean;
  constructor(ctx: RequestContext, requestSent = false) {
    super("aborted", [["aborted", { method: ctx.method, path: ctx.path }]], { traceId: ctx.traceId });
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
    super("too-large", [[download ? "download-too-large" : "answer-too-large", { limit, method: ctx.method, path: ctx.path }]], { traceId: ctx.traceId });
  }
}

/** A stream to upload that brought nothing for the channel's time limit. */
export class NexusStalledError extends NexusError {
  constructor(ctx: RequestContext, ms: number) {
    super("timeout", [["stream-stalled", { ms }]], { traceId: ctx.traceId });
  }
}
