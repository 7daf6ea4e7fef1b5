import { EventEmitter } from "events";
import { createWriteStream, promises as fsp } from "fs";
import type { IncomingHttpHeaders } from "http";
import { Readable } from "stream";
import { pipeline } from "stream/promises";
import type { Dispatcher } from "undici";
import { filenameFromDisposition } from "./content-disposition";
import { parseEnvelope, envelopeSniffer, errorStatus, mediaUrl, EnvelopeFailure, MEDIA_URL_PREFIX, type Envelope, type MediaData, type MessageData } from "./envelope";
import { parseJson } from "../http/json-text";
import {
  NexusAbortError,
  NexusError,
  NexusHttpError,
  NexusInputError,
  NexusNetworkError,
  NexusOverloadError,
  NexusStalledError,
  NexusTimeoutError,
  NexusTooLargeError,
  type MessagePart,
  type RequestContext,
} from "./errors";
import { encodeMessageBody } from "./message-body";
import { prepareUpload, type UploadSource } from "./multipart";
import { RequestLimiter } from "./request-limiter";
import { DEFAULT_RETRY_POLICY, mayRetry, parseRetryAfter, retryDelay, type RetryPolicy } from "./retry-policy";
import { Deadlines, type Expiring } from "./deadlines";
import { LinkedList, type Linked } from "../util/linked-list";
import { createDispatcher, ON_CONNECTED, type ConnectedRequestOptions, type ProxyOptions, type TlsOptions } from "./transport";
import { checkProxy } from "./proxy-check";
import { signBody, type SignatureEncoding } from "./signature";
import { newTraceId, traceIdOf } from "./trace-id";

/** One Genesys channel: where it is, who it is, and how to talk to it. */
export interface ChannelOptions {
  /**
   * API base URL including the base path, e.g. `https://nexus.example.com/nexus/v3`. A query
   * (`?tenant=eu-1`) is sent after the path of every call; a fragment, a user name or password, and
   * control characters are refused (they would be dropped or leak).
   */
  baseUrl: string;
  channelId: string;
  /** Contact center id, sent as `x-ccid`. */
  ccid: string;
  /** Channel secret: the HMAC-SHA1 key. */
  secret: string;
  /** API gateway key, sent as `x-api-key` when set. */
  apiKey?: string;
  /**
   * Time limit for one attempt, in ms (default 30000). This and the other counts below take a number or its
   * decimal text; anything else (a boolean, a word, NaN, a negative number) counts as unset: the default.
   */
  timeout?: number | string;
  /**
   * Retries after the first attempt (default 3). A POST is sent again only when Genesys cannot have it
   * (no connection made, 429, 503); GET and DELETE also after resets, 502 and 504 (see `mayRetry`).
   * At most MAX_RETRIES (10): more is read as 10, so that a typo cannot hammer a failing server.
   */
  retries?: number | string;
  /** First backoff step in ms (default 200). */
  retryBaseDelay?: number;
  /** Longest single wait between attempts, backoff or `Retry-After`, in ms (default 30000). */
  maxRetryDelay?: number;
  /** Digest encoding of `X-Hub-Signature` (default hex). */
  signatureEncoding?: SignatureEncoding;
  /** Requests in flight at once (default 64). */
  maxInFlight?: number | string;
  /** Requests that may wait for a free slot (default 10000); past that a request fails at once. */
  maxQueued?: number | string;
  /** Largest stream upload, in bytes (default 4 GiB); past 1 MiB a stream is spooled to a temporary file. */
  maxStreamBytes?: number;
  /** Largest download into memory, in bytes (default 16 MiB); larger media are written to a file instead. */
  maxDownloadBytes?: number;
  /** TLS settings for https base URLs: custom CA, client certificate and key, verification, servername. */
  tls?: TlsOptions;
  /** A forward proxy; without one HTTPS_PROXY/HTTP_PROXY/NO_PROXY apply; `false` ignores them. */
  proxy?: ProxyOptions | false;
  userAgent?: string;
}

/** Per-call options. */
export interface CallOptions {
  /** `X-B3-TraceId` to send; a new random one when absent. */
  traceId?: string;
  /** Aborts the call (and any retry wait). */
  signal?: AbortSignal;
  /** The same without an AbortSignal's cost, for callers that make many calls. */
  canceller?: CallCanceller;
  /** Told before each retry, to show it (in a node status, for example). */
  onRetry?: (info: RetryInfo) => void;
  /** Retries for this call instead of the channel's `retries` (0: one attempt; the outbox retries itself). */
  retries?: number;
}

/** Options of a download into memory. */
export interface DownloadOptions extends CallOptions {
  /** Largest file accepted into memory, in bytes (default: the channel's maxDownloadBytes). */
  maxBytes?: number;
}

export interface RetryInfo {
  /** 1 for the first retry. */
  retry: number;
  retries: number;
  delayMs: number;
  /** Why: an HTTP status or a network error code. */
  reason: string;
}

interface CallResult {
  statusCode: number;
  traceId: string;
}

/** An answer with the API's envelope (or whatever JSON or text the server sent instead). */
export interface EnvelopeResult<T> extends CallResult {
  payload: Envelope<T> | unknown;
}

export interface UploadResult extends EnvelopeResult<MediaData> {
  mediaId: string;
  mediaUrl: string;
}

export interface DownloadResult extends CallResult {
  data: Buffer;
  contentType: string;
  filename?: string;
}

export interface DownloadToFileResult extends CallResult {
  /** Where the file was written. */
  file: string;
  bytes: number;
  contentType: string;
  filename?: string;
}

/** One answer: its status, headers and body (the whole body, or the open stream when one was asked for). */
interface HttpAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  data: Buffer | Readable;
}

/** How long `close()` waits for cancelled calls to clean up after themselves (partial and spool files), in ms. */
const CLEANUP_MS = 2000;

/** Error answers keep at most this much of their body; the rest is not read. */
const ERROR_BODY_LIMIT = 64 * 1024;
/** Envelopes and other answers read into memory: far more than any envelope needs. */
const ANSWER_LIMIT = 1024 * 1024;

/**
 * What undici aborts an attempt by: an EventEmitter as its `signal` (undici takes one), far cheaper per
 * call than an AbortController.
 */
class AttemptSignal extends EventEmitter {
  aborted = false;
  abort(): void {
    if (this.aborted) return;
    this.aborted = true;
    this.emit("abort");
  }
}

interface RequestSpec {
  method: "GET" | "POST" | "DELETE";
  /** Keep a 2xx answer's body as a stream (for downloads to a file); error bodies are always read. */
  stream?: boolean;
  /** Largest 2xx body read into memory; the default bounds envelopes. */
  maxBytes?: number;
  /** Below the channel, e.g. `/messages`. */
  subPath: string;
  /** The call's own headers, as a flat name/value list. */
  headers?: string[];
  body?: () => Buffer | Buffer[] | Readable;
  signature: string;
  /**
   * Where a 2xx answer's streamed body goes (with `stream`), inside the attempt: a transfer cut short is a
   * failed attempt, retried as the method allows. It cleans up after itself when it fails.
   */
  sink?: (body: Readable, status: number) => Promise<void>;
  /**
   * Answer headers the call puts on the message as they are (a download's Content-Type): a 2xx answer whose
   * value holds a control character, C1 included, is a protocol error (see READABLE_VALUE).
   */
  reads?: readonly string[];
}

/**
 * Headers a download puts on the message as they are. Content-Disposition is not one: its file name is
 * decoded and cleaned of control characters (content-disposition.ts), and raw UTF-8 in it, which some
 * servers send, reads as latin1 with C1 bytes.
 */
const MEDIA_HEADERS = ["content-type"] as const;
/**
 * What a header value the client reads may hold: tab, visible ASCII and latin1 letters (obs-text, RFC 9110
 * section 5.5), never C0, DEL or C1 controls. undici refuses C0 and DEL itself; C1 (U+0080 to U+009F) it
 * passes on as latin1, and a media type with one in it would reach the flow as msg.mimetype.
 */
const READABLE_VALUE = /^[\t\x20-\x7e\xa0-\xff]*$/;

const JSON_HEADERS = ["content-type", "application/json"];
const NO_HEADERS: string[] = [];

/** What a channel uses for a setting it is not given (or cannot use). */
export const CLIENT_DEFAULTS = { timeout: 30_000, retries: 3, maxInFlight: 64, maxQueued: 10_000, maxStreamBytes: 4 * 1024 * 1024 * 1024, maxDownloadBytes: 16 * 1024 * 1024 };

// A header value is latin1 on the wire (RFC 9110, 5.5): a character past U+00FF would be cut to its low
// byte (U+010A to a line feed, starting a header of its own), and control characters (C0, DEL and C1)
// have no place in these values. Only visible latin1 and the space pass.
const NOT_HEADER_TEXT = /[^\x20-\x7e\xa0-\xff]/;
/** C0 controls and DEL: what the URL parser would drop from a base URL without a word. */
const CONTROL = /[\x00-\x1f\x7f]/;

/** A setting that goes into a header: visible latin1 only, or refused before any request, naming the field. */
function headerSafe(value: string, field: string): string {
  if (NOT_HEADER_TEXT.test(value)) throw new NexusInputError("config-control-character", { field });
  return value;
}

/**
 * The name of an environment variable that a setting still holds as `${NAME}`: Node-RED puts the value in
 * its place when the variable is set, so one left in place means it is not.
 */
export function unsetEnvVar(value: unknown): string | undefined {
  return typeof value === "string" ? /\$\{([A-Za-z_][A-Za-z0-9_]*)\}/.exec(value)?.[1] : undefined;
}

/** A URL as it may be shown: no user name or password, and not endless. */
function shownUrl(text: string): string {
  // Whatever stands before an "@" may be a user name and password, even in a URL that does not parse.
  const shown = text.replace(/^([a-z][a-z0-9+.-]*:\/\/)?[^]*@/i, "$1***@");
  return shown.length > 200 ? `${shown.slice(0, 200)}...` : shown;
}
const EMPTY = Buffer.alloc(0);

function checkText(value: unknown, missing: string): string {
  if (typeof value !== "string" || value.trim() === "") throw new NexusInputError(missing);
  return value.trim();
}

/** The longest a timer can wait, in ms: Node fires a longer one after 1 ms instead. */
const TIMER_MAX_MS = 2_147_483_647;

/** The most retries a channel makes after the first attempt; a larger setting is read as this. */
export const MAX_RETRIES = 10;

/**
 * A count setting: a number or its decimal text, at least `min`, cut to `max`. Anything else (a boolean,
 * which Number() would read as 0 or 1, a word, NaN, Infinity, less than `min`) is unset: `fallback`.
 */
function positiveInt(value: unknown, fallback: number, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  const n = typeof value === "string" && value.trim() !== "" ? Number(value) : value;
  return typeof n === "number" && Number.isFinite(n) && n >= min ? Math.min(Math.floor(n), max) : fallback;
}

/**
 * A signed client for one channel of the Third-Party Messaging API. It knows nothing of Node-RED: settings
 * in, signed HTTP calls out, typed results and typed errors back. One keep-alive agent per client;
 * `close()` aborts what is in flight and destroys the agent.
 */
export class NexusClient {
  readonly channelId: string;
  readonly timeout: number;
  readonly retryPolicy: RetryPolicy;
  private readonly requestPath: string;
  /** The base URL's query (`?tenant=eu-1`), sent after the path of every call; "" when it has none. */
  private readonly query: string;
  private readonly origin: string;
  private readonly secret: string;
  private readonly encoding: SignatureEncoding;
  /** The channel's own headers as undici's flat name/value list, sent with every call. */
  private readonly baseHeaders: string[];
  private readonly emptySignature: string;
  private readonly maxStreamBytes: number;
  private readonly maxDownloadBytes: number;
  /** The channel's one undici dispatcher (a keep-alive Pool, or a ProxyAgent): every call goes through it. */
  /** The channel's dispatcher, for calls answered into memory (`dispatch` with an Attempt as handler). */
  private readonly pool: Dispatcher;
  /** The same, for `request()` with a streamed answer (downloads to a file); its destroy ends both. */
  private readonly dispatcher: Dispatcher;
  /** The tls-config node's SNI servername, which wins over the host name on every connection. */
  private readonly servername: string | undefined;
  private readonly limiter: RequestLimiter;
  /** Every attempt's time limit, on one timer. */
  private readonly deadlines: Deadlines<Attempt>;
  /** What attempts report to. */
  private readonly attemptOwner: AttemptOwner;
  /** Calls begun and not ended (see LinkedList for why not a Set). */
  private readonly inFlight = new LinkedList<Call>();
  private closed = false;
  private closing: Promise<void> | undefined;
  /** Called when the last call in flight ends, while the client drains. */
  private onIdle: (() => void) | undefined;

  constructor(options: ChannelOptions) {
    // Everything that is missing is named at once, in the order of the editor's fields, so that a user
    // fills them in together rather than learning of one at each deploy.
    const missing: MessagePart[] = [];
    for (const [field, value, code] of [
      ["base URL", options.baseUrl, "config-no-base-url"],
      ["channel id", options.channelId, "config-no-channel-id"],
      ["contact center id", options.ccid, "config-no-ccid"],
      ["secret", options.secret, "config-secret"],
      ["API key", options.apiKey, undefined],
    ] as const) {
      const name = unsetEnvVar(value);
      if (name) missing.push(["config-env-unset", { field, name }]);
      else if (code && (typeof value !== "string" || (code === "config-secret" ? value === "" : value.trim() === ""))) missing.push([code]);
    }
    if (missing.length > 0) throw new NexusInputError(missing);
    const baseUrl = checkText(options.baseUrl, "config-no-base-url");
    let url: URL;
    try {
      url = new URL(baseUrl);
    } catch {
      throw new NexusInputError("config-base-url", { url: shownUrl(baseUrl) });
    }
    if (url.protocol !== "http:" && url.protocol !== "https:") {
      throw new NexusInputError("config-base-url-protocol", { protocol: url.protocol });
    }
    if (url.username || url.password) throw new NexusInputError("config-base-url-credentials");
    // Nothing of the setting is dropped silently: a fragment is never sent, and the URL parser would drop
    // tabs and line breaks. A query is kept on every call (a lone "?" is nothing to keep).
    // An empty fragment ("...v3#") leaves url.hash "", so the text itself is checked too.
    if (url.hash || baseUrl.includes("#")) throw new NexusInputError("config-base-url-fragment", { url: shownUrl(baseUrl), fragment: url.hash || "#" });
    if (CONTROL.test(baseUrl)) throw new NexusInputError("config-base-url-control");
    this.channelId = checkText(options.channelId, "config-no-channel-id");
    const ccid = headerSafe(checkText(options.ccid, "config-no-ccid"), "contact center id");
    if (typeof options.secret !== "string" || options.secret === "") {
      throw new NexusInputError("config-secret");
    }
    this.secret = options.secret;
    this.encoding = options.signatureEncoding === "base64" ? "base64" : "hex";
    this.timeout = positiveInt(options.timeout, CLIENT_DEFAULTS.timeout, 1, TIMER_MAX_MS);
    this.retryPolicy = {
      retries: positiveInt(options.retries, CLIENT_DEFAULTS.retries, 0, MAX_RETRIES),
      baseDelayMs: positiveInt(options.retryBaseDelay, DEFAULT_RETRY_POLICY.baseDelayMs, 0, TIMER_MAX_MS),
      maxDelayMs: positiveInt(options.maxRetryDelay, DEFAULT_RETRY_POLICY.maxDelayMs, 0, TIMER_MAX_MS),
    };
    this.maxStreamBytes = positiveInt(options.maxStreamBytes, CLIENT_DEFAULTS.maxStreamBytes, 1);
    this.maxDownloadBytes = positiveInt(options.maxDownloadBytes, CLIENT_DEFAULTS.maxDownloadBytes, 1);
    this.origin = url.origin;
    this.requestPath = url.pathname.replace(/\/+$/, "") + `/channels/${encodeURIComponent(this.channelId)}`;
    this.query = url.search;
    const userAgent = typeof options.userAgent === "string" && options.userAgent !== "" ? headerSafe(options.userAgent, "user agent") : "node-red-genesys-messaging";
    this.baseHeaders = ["accept", "application/json, */*", "x-ccid", ccid, "user-agent", userAgent];
    if (typeof options.apiKey === "string" && options.apiKey !== "") this.baseHeaders.push("x-api-key", headerSafe(options.apiKey, "API key"));
    this.emptySignature = signBody(EMPTY, this.secret, this.encoding);

    const maxInFlight = positiveInt(options.maxInFlight, CLIENT_DEFAULTS.maxInFlight, 1);
    this.limiter = new RequestLimiter(maxInFlight, positiveInt(options.maxQueued, CLIENT_DEFAULTS.maxQueued));
    this.servername = url.protocol === "https:" && options.tls?.servername ? options.tls.servername : undefined;
    checkProxy(url, options.proxy);
    const dispatchers = createDispatcher(url, {
      connections: maxInFlight,
      tls: options.tls,
      proxy: options.proxy,
      connectTimeoutMs: Math.min(this.timeout, 10_000),
    });
    this.pool = dispatchers.base;
    this.dispatcher = dispatchers.streaming;
    this.deadlines = new Deadlines<Attempt>(this.timeout);
    this.attemptOwner = {
      timeout: this.timeout,
      deadlines: this.deadlines,
      failureOf: (err, call) => this.failureOf(err, call),
      attemptEnded: (call, fail, res) => this.attemptEnded(call, fail, res),
    };
  }

  /** Requests in flight and waiting, for a status line. */
  get load(): { inFlight: number; queued: number } {
    return { inFlight: this.limiter.inFlight, queued: this.limiter.queued };
  }

  /**
   * `POST /channels/{channelId}/messages`: the payload is sent as JSON, byte for byte when it is a string or
   * Buffer (or an `EncodedBody`, not checked again). `options.source` names where the payload came from in
   * an error text (default `msg.payload`).
   */
  async sendMessage(payload: unknown, options: CallOptions & { source?: string } = {}): Promise<EnvelopeResult<MessageData>> {
    const traceId = this.traceIdFor(options);
    const body = encodeMessageBody(payload, options.source);
    const res = await this.request(
      {
        method: "POST",
        subPath: "/messages",
        headers: JSON_HEADERS,
        body: () => body,
        signature: signBody(body, this.secret, this.encoding),
      },
      traceId,
      options,
    );
    return { statusCode: res.status, traceId, payload: this.envelopeOf(res, "POST", "/messages", traceId) };
  }

  /** `POST /channels/{channelId}/media`: multipart upload, signed over the entire multipart body. */
  async uploadMedia(source: UploadSource, options: CallOptions = {}): Promise<UploadResult> {
    const traceId = this.traceIdFor(options);
    // The call starts before the body is ready: reading a stream can be cancelled, and must make progress.
    const call = this.begin({ method: "POST", path: this.urlOf("/media"), traceId, resource: "media" }, options);
    let res: HttpAnswer;
    try {
      const upload = await prepareUpload(source, this.secret, this.encoding, this.maxStreamBytes, {
        idleMs: this.timeout,
        stalled: () => new NexusStalledError(call.ctx, this.timeout),
        onCancel: (stop) => {
          call.step = { cancel: () => stop(call.abortError()) };
          if (call.cancelled) stop(call.abortError());
        },
      });
      call.step = undefined;
      try {
        res = await this.run({ method: "POST", subPath: "/media", headers: Object.entries(upload.headers).flat(), body: upload.body, signature: upload.signature }, call, options);
      } finally {
        await upload.dispose();
      }
    } finally {
      this.end(call);
    }
    const payload = this.envelopeOf(res, "POST", "/media", traceId);
    const data = (payload as Envelope<Partial<MediaData>> | undefined)?.data;
    const mediaId = typeof data?.mediaId === "string" ? data.mediaId : "";
    const url = typeof data?.url === "string" ? data.url : mediaId ? mediaUrl(mediaId) : "";
    return { statusCode: res.status, traceId, payload, mediaId, mediaUrl: url };
  }

  /** `GET /channels/{channelId}/media/{mediaId}`: the file's bytes, content type and name. */
  async downloadMedia(mediaId: unknown, options: DownloadOptions = {}): Promise<DownloadResult> {
    const traceId = this.traceIdFor(options);
    const subPath = this.mediaPath(mediaId);
    const maxBytes = positiveInt(options.maxBytes, this.maxDownloadBytes, 1);
    const res = await this.request({ method: "GET", subPath, signature: this.emptySignature, maxBytes, reads: MEDIA_HEADERS }, traceId, options);
    const contentType = headerText(res.headers["content-type"]) ?? "application/octet-stream";
    const data = res.data as Buffer;
    // A server may answer with an envelope instead of bytes, however labelled; one that reports failure is an error.
    const envelope = parseEnvelope(data);
    if (envelope && envelope.status.code !== 0) {
      throw new NexusHttpError({ method: "GET", path: this.urlOf(subPath), traceId, resource: "media" }, res.status, envelope.status);
    }
    return {
      statusCode: res.status,
      traceId,
      data,
      contentType,
      filename: filenameFromDisposition(headerText(res.headers["content-disposition"])),
    };
  }

  /**
   * `GET /channels/{channelId}/media/{mediaId}` written to a file instead of memory, for large media. The
   * bytes go to a temporary name beside the target and are renamed into place once complete; the channel's
   * timeout applies to the answer's start and then to each pause in the transfer.
   */
  async downloadMediaToFile(mediaId: unknown, file: string, options: CallOptions = {}): Promise<DownloadToFileResult> {
    const traceId = this.traceIdFor(options);
    const subPath = this.mediaPath(mediaId);
    if (typeof file !== "string" || file.trim() === "") throw new NexusInputError("download-unwritable", { path: String(file), reason: "no path" });
    const ctx: RequestContext = { method: "GET", path: this.urlOf(subPath), traceId, resource: "media" };
    let bytes = 0;
    // Each attempt writes to a temporary name beside the target, renamed into place once complete, and
    // removed when the transfer fails (a reset mid-answer is then retried like any GET).
    const sink = async (body: Readable, status: number): Promise<void> => {
      const part = `${file}.part-${newTraceId().slice(0, 8)}`;
      let received = 0;
      // The channel's time limit bounds each pause in the transfer, to the millisecond: undici's own body
      // time-out (kept as a backstop) runs on a coarse clock and ends a stalled transfer up to a second late.
      const idle = setTimeout(() => body.destroy(new NexusNetworkError(ctx, "UND_ERR_BODY_TIMEOUT")), this.timeout);
      body.on("data", (chunk: Buffer) => {
        received += chunk.length;
        idle.refresh();
      });
      try {
        try {
          await pipeline(body, envelopeSniffer(), createWriteStream(part));
        } finally {
          clearTimeout(idle);
        }
        await fsp.rename(part, file);
        bytes = received;
      } catch (err) {
        await fsp.rm(part, { force: true });
        if (err instanceof EnvelopeFailure) throw new NexusHttpError(ctx, status, err.status);
        const code = (err as NodeJS.ErrnoException).code ?? "ERR_NETWORK";
        if (/^E(NOENT|ACCES|PERM|ISDIR|ROFS|NOSPC|EXIST|NOTDIR)$/.test(code)) {
          throw new NexusInputError("download-unwritable", { path: file, reason: code });
        }
        throw err instanceof NexusError ? err : new NexusNetworkError(ctx, networkCode(err));
      }
    };
    const res = await this.request({ method: "GET", subPath, signature: this.emptySignature, stream: true, sink, reads: MEDIA_HEADERS }, traceId, options);
    return {
      statusCode: res.status,
      traceId,
      file,
      bytes,
      contentType: headerText(res.headers["content-type"]) ?? "application/octet-stream",
      filename: filenameFromDisposition(headerText(res.headers["content-disposition"])),
    };
  }

  /** `DELETE /channels/{channelId}/media/{mediaId}`. */
  async deleteMedia(mediaId: unknown, options: CallOptions = {}): Promise<EnvelopeResult<MediaData>> {
    const traceId = this.traceIdFor(options);
    const subPath = this.mediaPath(mediaId);
    const res = await this.request({ method: "DELETE", subPath, signature: this.emptySignature }, traceId, options);
    return { statusCode: res.status, traceId, payload: this.envelopeOf(res, "DELETE", subPath, traceId) };
  }

  /**
   * Takes no new call, ends the calls that wait (for a slot or a retry) at once, lets attempts already on
   * the wire finish for up to `drainMs`, then aborts what is left and destroys the keep-alive agent.
   * Resolves when that is done; safe to call twice.
   */
  close(drainMs = 0): Promise<void> {
    if (this.closing) return this.closing;
    this.closed = true;
    this.closing = (async () => {
      for (const call of [...this.inFlight]) call.drain();
      if (drainMs > 0) await this.idleWithin(drainMs);
      for (const call of [...this.inFlight]) call.cancel();
      // A cancelled call ends once what it made is cleaned up (a download's partial file, an upload's
      // spool file): the channel's close waits for that, briefly, so that a stopping process leaves none.
      await this.idleWithin(CLEANUP_MS);
      this.inFlight.clear();
      await this.dispatcher.destroy().catch(() => undefined);
    })();
    return this.closing;
  }

  /** Resolves when no call is in flight, or after `ms` at the latest. */
  private async idleWithin(ms: number): Promise<void> {
    if (this.inFlight.size === 0) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([new Promise<void>((resolve) => (this.onIdle = resolve)), new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]);
    clearTimeout(timer);
  }

  /** The full URL of a call below the channel, as errors name it (a base URL never holds credentials). */
  private urlOf(subPath: string): string {
    return this.origin + this.pathOf(subPath);
  }

  /** The path and query of a call below the channel: the one place a request's target is built. */
  private pathOf(subPath: string): string {
    return this.requestPath + subPath + this.query;
  }

  private traceIdFor(options: CallOptions): string {
    return traceIdOf(options.traceId);
  }

  private mediaPath(mediaId: unknown): string {
    let id = typeof mediaId === "number" && Number.isFinite(mediaId) ? String(mediaId) : mediaId;
    if (typeof id !== "string" || id.trim() === "") {
      throw new NexusInputError("no-media-id");
    }
    id = id.trim();
    if ((id as string).startsWith(MEDIA_URL_PREFIX)) id = (id as string).slice(MEDIA_URL_PREFIX.length);
    if (id === "") throw new NexusInputError("no-media-id");
    // encodeURIComponent keeps dots: "." and ".." would be path segments that a proxy resolves.
    if (id === "." || id === "..") throw new NexusInputError("bad-media-id", { id: id as string });
    return `/media/${encodeURIComponent(id as string)}`;
  }

  private envelopeOf(res: HttpAnswer, method: string, subPath: string, traceId: string): unknown {
    const body = res.data as Buffer;
    const envelope = parseEnvelope(body);
    if (envelope) {
      if (envelope.status.code !== 0) {
        throw new NexusHttpError({ method, path: this.urlOf(subPath), traceId, resource: subPath === "/messages" ? "messages" : "media" }, res.status, envelope.status);
      }
      return envelope;
    }
    if (body.length === 0) return {};
    try {
      return parseJson(body);
    } catch {
      return body.toString("utf8");
    }
  }

  /** Queues, signs, sends, times out and retries one call. Every failure leaves as a NexusError. */
  private request(spec: RequestSpec, traceId: string, options: CallOptions): Promise<HttpAnswer> {
    const call = this.begin({ method: spec.method, path: this.urlOf(spec.subPath), traceId, resource: spec.subPath === "/messages" ? "messages" : "media" }, options);
    return this.run(spec, call, options, true);
  }

  /** A new call, known to `close()` and to the caller's canceller or signal. */
  private begin(ctx: RequestContext, options: CallOptions): Call {
    if (this.closed) throw new NexusAbortError(ctx);
    const external = options.signal;
    if (external?.aborted) throw new NexusAbortError(ctx);
    const call = new Call(ctx, options);
    if (external) {
      call.detachSignal = () => external.removeEventListener("abort", onExternalAbort);
      const onExternalAbort = (): void => call.cancel();
      external.addEventListener("abort", onExternalAbort, { once: true });
    }
    options.canceller?.attach(call);
    this.inFlight.push(call);
    return call;
  }

  private end(call: Call): void {
    call.phase = "done";
    this.inFlight.remove(call);
    if (this.inFlight.size === 0) this.onIdle?.();
    call.detachSignal?.();
    call.options.canceller?.detach();
  }

  /**
   * Waits for a slot, then sends with retries; `ends`: the call ends with its outcome (else its caller ends
   * it). The call has one promise: its attempts, backoffs and waits report to it (`attemptEnded`, `finish`)
   * rather than through a chain of promises per step, which cost more than the HTTP exchange around it.
   */
  private run(spec: RequestSpec, call: Call, options: CallOptions, ends = false): Promise<HttpAnswer> {
    return new Promise<HttpAnswer>((resolve, reject) => {
      call.spec = spec;
      call.resolve = resolve;
      call.reject = reject;
      call.ends = ends;
      call.retries = options.retries !== undefined && Number.isInteger(options.retries) && options.retries >= 0 ? options.retries : this.retryPolicy.retries;
      if (call.cancelled) return this.finish(call, call.abortError());
      const slot = this.limiter.acquire();
      if (slot === false) return this.finish(call, new NexusOverloadError(call.ctx, this.limiter.maxQueued));
      if (slot === true) {
        call.holdsSlot = true;
        return this.send(call);
      }
      call.wait(slot.ready, slot.cancel).then(
        () => {
          call.holdsSlot = true;
          this.send(call);
        },
        (err: unknown) => this.finish(call, err),
      );
    });
  }

  /**
   * One HTTP attempt over the channel's dispatcher. Its time limit (the channel's `timeout`, kept by
   * `deadlines`) covers the whole answer (for a streamed download, the answer's start; undici's body
   * time-out then bounds each pause); a time-out or a cancel aborts the request, and undici discards its
   * connection.
   */
  private send(call: Call): void {
    const { spec, ctx } = call;
    if (call.cancelled) return this.finish(call, call.abortError());
    call.phase = "sending";
    call.connected = false;
    call.attempts++;
    let attempt: Attempt | undefined;
    try {
      attempt = new Attempt(this.attemptOwner, call, spec.body?.());
      this.deadlines.add(attempt);
      call.step = attempt;
      // undici takes `servername` per request too (its types do not say so): it names the connection's SNI.
      const request: Dispatcher.DispatchOptions & { servername?: string } = {
        origin: this.origin,
        path: this.pathOf(spec.subPath),
        method: spec.method,
        headers: this.baseHeaders.concat(spec.headers ?? NO_HEADERS, "x-hub-signature", spec.signature, "x-b3-traceid", ctx.traceId as string),
        body: attempt.body as Dispatcher.DispatchOptions["body"],
      };
      if (this.servername) request.servername = this.servername;
      if (spec.stream) {
        // A streamed answer: undici's request() and its body stream, cancelled through an EventEmitter.
        const started = attempt;
        const streamed: ConnectedRequestOptions = { ...(request as Dispatcher.RequestOptions), signal: attempt.streaming(), bodyTimeout: this.timeout, [ON_CONNECTED]: () => started.connected() };
        this.dispatcher.request(streamed, (err, data) => (err ? started.settle(this.failureOf(err, call)) : started.readStreamed(data)));
      } else {
        this.pool.dispatch(request, attempt);
      }
    } catch (err) {
      if (attempt) attempt.settle(this.failureOf(err, call));
      else this.attemptEnded(call, this.failureOf(err, call), undefined);
    }
  }

  /** What an attempt reports to: its outcome, decides on a retry, and ends the call when there is none. */
  private attemptEnded(call: Call, fail: Error | undefined, res: HttpAnswer | undefined): void {
    const { spec, ctx } = call;
    const { maxDelayMs } = this.retryPolicy;
    let failure: NexusError;
    let retryAfterMs: number | undefined;
    if (fail) {
      if (!(fail instanceof NexusError)) return this.finish(call, fail);
      failure = fail;
    } else {
      const answer = res as HttpAnswer;
      if (answer.status >= 200 && answer.status < 300) {
        const body = answer.data;
        if (spec.sink && body instanceof Readable) {
          // A transfer cut short is a failed attempt, retried as the method allows. A cancel cuts it and
          // the call ends once the sink has cleaned up after itself (its partial file removed), not before.
          const step: Step = { cancel: () => body.destroy() };
          call.step = step;
          spec.sink(body, answer.status).then(
            () => {
              // Complete before the cancel cut it: the file is in place, and the call says so.
              if (call.step === step) call.step = undefined;
              call.reached = true;
              this.finish(call, undefined, answer);
            },
            (err: unknown) => {
              if (call.step === step) call.step = undefined;
              if (call.cancelled) return this.finish(call, call.abortError());
              this.attemptEnded(call, err instanceof Error ? err : new Error(String(err)), undefined);
            },
          );
          return;
        }
        call.reached = true;
        return this.finish(call, undefined, answer);
      }
      const status = errorStatus(answer.data as Buffer);
      retryAfterMs = parseRetryAfter(headerText(answer.headers["retry-after"]));
      // A longer wait than the channel makes is never cut short: a retry would only meet the same answer.
      const tooLong = retryAfterMs !== undefined && retryAfterMs > maxDelayMs && (answer.status === 429 || answer.status === 503);
      failure = tooLong
        ? new NexusHttpError(ctx, answer.status, status, { seconds: Math.ceil((retryAfterMs as number) / 1000), maxSeconds: Math.round(maxDelayMs / 1000) })
        : new NexusHttpError(ctx, answer.status, status);
      if (retryAfterMs !== undefined && (answer.status === 429 || answer.status === 503)) failure.retryAfterMs = retryAfterMs;
    }
    // Whether Genesys may have the request is what every later attempt, abort and log goes by.
    call.connected = false;
    if (failure.reachedGenesys !== "no") call.reached = true;
    const retry = call.attempts - 1;
    // A draining call ends with what its last attempt got: no retry is new work.
    if (retry >= call.retries || call.cancelled || call.draining || !mayRetry(spec.method, failure)) return this.finish(call, failure);
    const delayMs = retryDelay(this.retryPolicy, retry, retryAfterMs);
    try {
      call.options.onRetry?.({
        retry: retry + 1,
        retries: call.retries,
        delayMs,
        reason: failure.statusCode ? String(failure.statusCode) : ((failure as NexusNetworkError).code ?? failure.kind),
      });
    } catch (err) {
      return this.finish(call, err);
    }
    let timer: NodeJS.Timeout | undefined;
    call.phase = "waiting";
    call.wait(new Promise<void>((resolve) => (timer = setTimeout(resolve, delayMs))), () => clearTimeout(timer)).then(
      () => this.send(call),
      (err: unknown) => this.finish(call, err),
    );
  }

  /** Ends a call's run with its answer or error: gives back its slot, and ends the call when it is to. */
  private finish(call: Call, err: unknown, res?: HttpAnswer): void {
    if (call.finished) return;
    call.finished = true;
    call.step = undefined;
    if (call.holdsSlot) {
      call.holdsSlot = false;
      this.limiter.release();
    }
    if (call.ends) this.end(call);
    if (res) call.resolve(res);
    else call.reject(err);
  }

  private failureOf(err: unknown, call: Call): NexusError {
    if (call.cancelled) return call.abortError();
    // A body that failed on its own terms (a file that changed while it was sent) says so itself.
    if (err instanceof NexusError) return err;
    // Until undici starts the request on a connection (ON_CONNECTED), none of it was written.
    return new NexusNetworkError(call.ctx, networkCode(err), call.connected);
  }
}

/** Whether a 2xx answer holds a header the call reads (`spec.reads`) with a control character in it. */
function unreadableHeader(spec: RequestSpec, headers: IncomingHttpHeaders): boolean {
  return spec.reads?.some((name) => headers[name] !== undefined && !READABLE_VALUE.test(String(headers[name]))) ?? false;
}

/** What an attempt needs of its client: the time limit, and where its outcome goes. */
interface AttemptOwner {
  readonly timeout: number;
  readonly deadlines: Deadlines<Attempt>;
  failureOf(err: unknown, call: Call): NexusError;
  attemptEnded(call: Call, fail: Error | undefined, res: HttpAnswer | undefined): void;
}

/**
 * One attempt of a call, and undici's handler of its answer. An answer read into memory comes through
 * `dispatch()` with this handler (undici's own path for handlers, without a body stream per answer): a 2xx
 * past its limit fails, before it is read when its Content-Length says so; an error answer keeps its first
 * ERROR_BODY_LIMIT bytes. A streamed answer (a download to a file) comes through `request()` to
 * `readStreamed`. Whatever ends the attempt first (the answer, an error, its time limit, a cancel) settles
 * it, once, and reports to the client; undici's later callbacks find it settled.
 */
class Attempt implements Dispatcher.DispatchHandler, Expiring<Attempt> {
  deadline = 0;
  prev: Attempt | undefined;
  next: Attempt | undefined;
  linked = false;
  private settled = false;
  private controller: Dispatcher.DispatchController | undefined;
  /** Set when the request is to end (a failure): at once, or as soon as undici starts it. */
  private aborted = false;
  /** What ends a streamed request (undici takes an EventEmitter as `signal`: far cheaper than an AbortController). */
  private signal: AttemptSignal | undefined;
  private status = 0;
  private headers: IncomingHttpHeaders = {};
  private ok = false;
  private limit = 0;
  private size = 0;
  private chunks: Buffer[] = [];

  constructor(
    private readonly owner: AttemptOwner,
    private readonly call: Call,
    readonly body: Buffer | Buffer[] | Readable | undefined,
  ) {}

  /** Told when undici starts the request on a connection, just before writing it. */
  connected(): void {
    if (!this.settled) this.call.connected = true;
  }

  /** The cancel of the call's current step: ends the attempt with an abort error. */
  cancel(): void {
    this.settle(this.call.abortError());
  }

  /**
   * The time limit passed. A request that got no connection within it cannot have reached Genesys, however
   * the connect (or a proxy's tunnel) stalled: a connect time-out, retried as the rule allows.
   */
  expire(): void {
    const { call } = this;
    this.settle(call.connected ? new NexusTimeoutError(call.ctx, this.owner.timeout) : new NexusNetworkError(call.ctx, "UND_ERR_CONNECT_TIMEOUT"));
  }

  /** The `signal` of a streamed request. */
  streaming(): AttemptSignal {
    this.signal = new AttemptSignal();
    return this.signal;
  }

  settle(fail: Error | undefined, res?: HttpAnswer): void {
    if (this.settled) return;
    this.settled = true;
    const { owner, call } = this;
    owner.deadlines.delete(this);
    if (call.step === this) call.step = undefined;
    if (fail) {
      // The request ends here: its connection is dropped, and a body stream (a file, say) is closed.
      this.aborted = true;
      this.controller?.abort(new Error("request ended"));
      this.signal?.abort();
      if (this.body instanceof Readable) this.body.destroy();
    }
    this.controller = undefined;
    this.chunks = NO_CHUNKS;
    owner.attemptEnded(call, fail, res);
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    if (this.aborted) return controller.abort(new Error("request ended"));
    this.controller = controller;
    this.connected();
  }

  onResponseStart(_controller: Dispatcher.DispatchController, statusCode: number, headers: IncomingHttpHeaders): void {
    // Interim answers (102, 103) are not the answer.
    if (statusCode < 200 || this.settled) return;
    const { spec, ctx } = this.call;
    this.status = statusCode;
    this.headers = headers;
    this.ok = statusCode >= 200 && statusCode < 300;
    if (this.ok && unreadableHeader(spec, headers)) {
      // Nothing of such an answer reaches the flow; the connection it came on is discarded.
      return this.settle(new NexusNetworkError(ctx, "EPROTO"));
    }
    this.limit = this.ok ? (spec.maxBytes ?? ANSWER_LIMIT) : ERROR_BODY_LIMIT;
    if (this.ok && Number(headers["content-length"]) > this.limit) this.settle(new NexusTooLargeError(ctx, this.limit, spec.maxBytes !== undefined));
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.status === 0 || this.settled) return;
    if (this.take(chunk)) controller.abort(new Error("answer read as far as kept"));
  }

  /**
   * Keeps a chunk of the answer within its limit; true when the answer ends here and the rest is not to be
   * read: a 2xx past its limit fails, an error answer keeps what fits (enough to say what went wrong).
   */
  private take(chunk: Buffer): boolean {
    if (this.size + chunk.length > this.limit) {
      if (this.ok) {
        this.settle(new NexusTooLargeError(this.call.ctx, this.limit, this.call.spec.maxBytes !== undefined));
        return true;
      }
      this.chunks.push(chunk.subarray(0, this.limit - this.size));
      this.size = this.limit;
      this.complete();
      return true;
    }
    this.chunks.push(chunk);
    this.size += chunk.length;
    return false;
  }

  onResponseEnd(): void {
    if (!this.settled) this.complete();
  }

  onResponseError(_controller: Dispatcher.DispatchController, err: Error): void {
    if (!this.settled) this.settle(this.owner.failureOf(err, this.call));
  }

  private complete(): void {
    const { chunks, size } = this;
    this.settle(undefined, { status: this.status, headers: this.headers, data: chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size) });
  }

  /**
   * Reads the answer of a streamed call: a 2xx body is handed over as a stream; an error answer is read
   * into memory, its first ERROR_BODY_LIMIT bytes.
   */
  readStreamed(data: Dispatcher.ResponseData): void {
    const { call } = this;
    const status = data.statusCode;
    const headers = data.headers as IncomingHttpHeaders;
    const res = data.body;
    // A body destroyed before its end emits an abort error: it must find a listener.
    res.on("error", (err) => this.settle(this.owner.failureOf(err, call)));
    if (status >= 200 && status < 300) {
      if (!unreadableHeader(call.spec, headers)) return this.settle(undefined, { status, headers, data: res });
      // Nothing of such an answer reaches the flow; the connection it came on is discarded.
      res.destroy();
      return this.settle(new NexusNetworkError(call.ctx, "EPROTO"));
    }
    // An error answer is read as one into memory is (take, complete).
    this.status = status;
    this.headers = headers;
    this.limit = ERROR_BODY_LIMIT;
    res.on("data", (chunk: Buffer) => {
      if (!this.settled && this.take(chunk)) res.destroy();
    });
    res.on("end", () => {
      if (!this.settled) this.complete();
    });
  }
}

const NO_CHUNKS = Object.freeze([]) as unknown as Buffer[];

/**
 * The code a network failure is known by. undici names a malformed answer (HTTPParserError) without a
 * code, and a proxy's refusal of the tunnel by its text; both get one of ours.
 */
function networkCode(err: unknown): string {
  const e = err as { code?: string; name?: string; message?: string; cause?: { code?: string } };
  if (e.name === "HTTPParserError" || /^HPE_/.test(e.code ?? "")) return "EPROTO";
  // undici asserts what an answer must be (a 101 without Upgrade to a request that asked for none): a
  // malformed answer, not an error of ours.
  if (e.code === "ERR_ASSERTION") return "EPROTO";
  // A TLS handshake that met no TLS (a plain HTTP server behind https://) is EPROTO on some OpenSSL builds;
  // it happens before the request is written, so it gets the TLS code it stands for.
  if (e.code === "EPROTO" && /wrong version number/i.test(e.message ?? "")) return "ERR_SSL_WRONG_VERSION_NUMBER";
  if (e.code === "EPROTO" && /SSL routines|TLS/i.test(e.message ?? "")) return "ERR_SSL_PROTOCOL_ERROR";
  if (/^Proxy response \(\d+\)|Proxy Authentication Required/.test(e.message ?? "")) return "EPROXY";
  // A TLS failure towards the origin through a proxy carries the TLS error as its cause.
  if (e.code === "UND_ERR_PRX_TLS" && e.cause?.code) return e.cause.code;
  return e.code ?? e.cause?.code ?? "ERR_NETWORK";
}

/** What a caller may do with one call in progress, and see of it. */
export interface CallControl {
  /** queued: waiting for a slot; sending: an attempt on the wire; waiting: between attempts; done. */
  readonly phase: CallPhase;
  /**
   * Whether an attempt may have reached Genesys: one on the wire now with its connection made, or an
   * earlier one whose outcome was unknown or answered. False while every attempt so far failed before
   * anything could arrive (refused, never connected, 429, 503).
   */
  readonly sent: boolean;
  /** The call's `X-B3-TraceId`. */
  readonly traceId: string | undefined;
  cancel(): void;
  /** Make no further attempt: a call that waits ends at once, an attempt on the wire may finish. */
  drain(): void;
}

export type CallPhase = "queued" | "sending" | "waiting" | "done";

/**
 * Cancels or drains one call from outside, like an AbortSignal but a plain object (no EventTarget per
 * call), and tells where the call is.
 */
export class CallCanceller {
  cancelled = false;
  private draining = false;
  private call: CallControl | undefined;

  get phase(): CallPhase {
    return this.call?.phase ?? (this.cancelled ? "done" : "queued");
  }

  get sent(): boolean {
    return this.call?.sent ?? false;
  }

  /** The trace id of the call once it started (a new one when the caller gave none); undefined before. */
  get traceId(): string | undefined {
    return this.call?.traceId;
  }

  cancel(): void {
    if (this.cancelled) return;
    this.cancelled = true;
    this.call?.cancel();
  }

  drain(): void {
    this.draining = true;
    this.call?.drain();
  }

  /** Called by the client when the call starts; a canceller already cancelled or draining acts at once. */
  attach(call: CallControl): void {
    this.call = call;
    if (this.cancelled) call.cancel();
    else if (this.draining) call.drain();
  }

  detach(): void {
    // The call keeps its last phase and whether it was sent, for whoever looks afterwards.
  }
}

/**
 * One call's cancellation: `cancel()` (on close, or when the caller's signal aborts) ends whatever the call
 * waits for (a queue slot, an attempt, a backoff) with an abort error, at once; `drain()` does so only
 * while the call waits, and lets an attempt on the wire finish.
 */
class Call implements CallControl, Linked<Call> {
  prev: Call | undefined;
  next: Call | undefined;
  linked = false;
  cancelled = false;
  draining = false;
  phase: CallPhase = "queued";
  /** The attempt in progress has its connection and is written, or being written. */
  connected = false;
  /** An earlier attempt may have reached Genesys ("maybe" or "yes"). */
  reached = false;
  /** Stops listening to the caller's AbortSignal, when there is one. */
  detachSignal: (() => void) | undefined;
  /** What ends the current step at once: an attempt, a wait (`wait`), or the preparation of a body. */
  step: Step | undefined;
  /** What the call sends; set when it runs. */
  spec!: RequestSpec;
  /** Retries this call may make after its first attempt. */
  retries = 0;
  /** Attempts started so far. */
  attempts = 0;
  /** The call holds one of the limiter's slots. */
  holdsSlot = false;
  /** The call ends (`end`) with its outcome; else its caller ends it (an upload, after its body is disposed of). */
  ends = false;
  /** Its outcome is given. */
  finished = false;
  resolve!: (res: HttpAnswer) => void;
  reject!: (err: unknown) => void;

  constructor(
    readonly ctx: RequestContext,
    readonly options: CallOptions,
  ) {}

  get sent(): boolean {
    return this.connected || this.reached;
  }

  get traceId(): string | undefined {
    return this.ctx.traceId;
  }

  cancel(): void {
    if (this.cancelled) return;
    this.cancelled = true;
    this.step?.cancel();
  }

  drain(): void {
    this.draining = true;
    if (this.phase !== "sending") this.cancel();
  }

  abortError(): NexusAbortError {
    return new NexusAbortError(this.ctx, this.sent);
  }

  /** Waits for `promise`, or rejects with an abort error (after `stop()`) when the call is cancelled first. */
  wait<T>(promise: Promise<T>, stop: () => void): Promise<T> {
    if (this.cancelled) {
      stop();
      return Promise.reject(this.abortError());
    }
    return new Promise<T>((resolve, reject) => {
      const step: Step = {
        cancel: () => {
          if (this.step === step) this.step = undefined;
          stop();
          reject(this.abortError());
        },
      };
      this.step = step;
      promise.then(
        (value) => {
          if (this.step === step) this.step = undefined;
          resolve(value);
        },
        (err: unknown) => {
          if (this.step === step) this.step = undefined;
          reject(err);
        },
      );
    });
  }
}

/** A step of a call that a cancel ends at once. */
interface Step {
  cancel(): void;
}

function headerText(value: unknown): string | undefined {
  if (Array.isArray(value)) return value.length ? String(value[0]) : undefined;
  return value === undefined || value === null ? undefined : String(value);
}
