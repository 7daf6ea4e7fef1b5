import http, { type IncomingHttpHeaders, type IncomingMessage } from "http";
import https from "https";
import type { Readable } from "stream";
import type { KeepAlivePool } from "./keep-alive-pool";

/** One answer: its status, headers and body (the whole body, or the open stream when one was asked for). */
export interface HttpAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  data: Buffer | IncomingMessage;
}

export interface ExchangeRequest {
  method: string;
  /** Path and query below the origin. */
  path: string;
  headers: Record<string, string>;
  /** The exact bytes to send: one buffer, several sent one after the other, or a stream. */
  body?: Buffer | Buffer[] | Readable;
  /** Hand a 2xx answer's body over as a stream instead of reading it. */
  stream?: boolean;
  /** The most a 2xx answer's body may hold in memory (default ANSWER_LIMIT); past it the request fails. */
  maxBytes?: number;
}

/** Error answers keep at most this much of their body; the rest is not read. */
export const ERROR_BODY_LIMIT = 64 * 1024;
/** Envelopes and other answers read into memory: far more than any envelope needs. */
export const ANSWER_LIMIT = 1024 * 1024;

/** A 2xx answer larger than the request allows: by its Content-Length, or counted as it came. */
export class AnswerTooLargeError extends Error {
  constructor(readonly limit: number) {
    super(`The answer is larger than ${limit} bytes`);
  }
}

/**
 * Signed, keep-alive HTTP for one origin, on Node's own `http`/`https`: the client builds every header
 * itself, sends bodies as the exact bytes it signed, and needs neither redirects, transforms nor
 * decompression, so a general-purpose HTTP library would only add work to each request.
 */
export class HttpExchange {
  private readonly request: typeof http.request;
  private readonly hostname: string;
  private readonly port: string;
  /** The start of every pooled request's headers: the host and the channel's own headers, rendered once. */
  private readonly headHeaders: string;

  /**
   * `pool`, when given, carries the requests whose body and answer stay in memory (most of them); the
   * agent carries streams, and everything when a proxy is in the way.
   */
  constructor(
    origin: URL,
    /** Headers sent with every request of this exchange (the channel's). */
    private readonly baseHeaders: Record<string, string>,
    private readonly agent: http.Agent,
    private readonly pool?: KeepAlivePool,
  ) {
    this.request = origin.protocol === "https:" ? https.request : http.request;
    // Node wants an IPv6 literal without its brackets.
    this.hostname = origin.hostname.replace(/^\[(.*)\]$/, "$1");
    this.port = origin.port;
    this.headHeaders = `Host: ${origin.host}\r\n` + Object.entries(baseHeaders).map(([name, value]) => `${name}: ${value}\r\n`).join("");
  }

  /**
   * Sends one request; `done` is called exactly once, with the answer or the error that ended it. Returns
   * a function that ends the request at once (its socket is destroyed, not returned to the pool); `done`
   * is not called after that.
   */
  send(req: ExchangeRequest, done: (err: Error | undefined, answer?: HttpAnswer) => void): () => void {
    const body = req.body;
    if (this.pool && !req.stream && (body === undefined || Buffer.isBuffer(body) || Array.isArray(body))) return this.sendPooled(this.pool, req, body, done);
    return this.sendHttp(req, done);
  }

  /** The same over the keep-alive pool: the whole request in one write, the answer read into memory. */
  private sendPooled(pool: KeepAlivePool, req: ExchangeRequest, body: Buffer | Buffer[] | undefined, done: (err: Error | undefined, answer?: HttpAnswer) => void): () => void {
    const length = body === undefined ? 0 : Buffer.isBuffer(body) ? body.length : body.reduce((n, part) => n + part.length, 0);
    let head = `${req.method} ${req.path} HTTP/1.1\r\n${this.headHeaders}`;
    for (const name in req.headers) {
      if (name.toLowerCase() !== "content-length") head += `${name}: ${req.headers[name]}\r\n`;
    }
    head += body === undefined && req.method !== "POST" ? "\r\n" : `Content-Length: ${length}\r\n\r\n`;
    return pool.send(
      { head, body, limit: req.maxBytes ?? ANSWER_LIMIT, errorLimit: ERROR_BODY_LIMIT, tooLarge: (limit) => new AnswerTooLargeError(limit) },
      (err, res) => done(err, res && { status: res.status, headers: res.headers, data: res.body }),
    );
  }

  private sendHttp(req: ExchangeRequest, done: (err: Error | undefined, answer?: HttpAnswer) => void): () => void {
    let finished = false;
    let outgoing: http.ClientRequest | undefined;
    const body = req.body;
    // A request that ends early takes its body stream with it, so that nothing (a file, say) stays open.
    const abandon = (): void => {
      outgoing?.destroy();
      if (body && !Buffer.isBuffer(body) && !Array.isArray(body)) body.destroy();
    };
    const finish = (err: Error | undefined, answer?: HttpAnswer): void => {
      if (finished) return;
      finished = true;
      if (err) abandon();
      done(err, answer);
    };
    try {
      outgoing = this.request({ hostname: this.hostname, port: this.port, method: req.method, path: req.path, headers: { ...this.baseHeaders, ...req.headers }, agent: this.agent });
    } catch (err) {
      // An invalid header value (a control character in a configured key, say) throws before sending.
      finish(err as Error);
      return abandon;
    }
    outgoing.on("error", (err) => finish(err));
    outgoing.on("response", (res) => {
      const status = res.statusCode ?? 0;
      const ok = status >= 200 && status < 300;
      if (req.stream && ok) return finish(undefined, { status, headers: res.headers, data: res });
      // An error answer is kept in part; a 2xx answer past its limit fails, before it is read if it says so.
      const limit = ok ? (req.maxBytes ?? ANSWER_LIMIT) : ERROR_BODY_LIMIT;
      const declared = Number(res.headers["content-length"]);
      if (ok && Number.isFinite(declared) && declared > limit) {
        res.destroy();
        return finish(new AnswerTooLargeError(limit));
      }
      const chunks: Buffer[] = [];
      let size = 0;
      const complete = (): void => {
        const data = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size);
        finish(undefined, { status, headers: res.headers, data });
      };
      res.on("data", (chunk: Buffer) => {
        if (size + chunk.length > limit) {
          res.destroy();
          if (!ok) {
            chunks.push(chunk.subarray(0, limit - size));
            size = limit;
            return complete();
          }
          return finish(new AnswerTooLargeError(limit));
        }
        chunks.push(chunk);
        size += chunk.length;
      });
      res.on("end", complete);
      res.on("error", (err) => finish(err));
      // A connection that closes before the body is complete.
      res.on("close", () => {
        if (!res.complete) finish(Object.assign(new Error("The connection closed before the answer was complete."), { code: "ECONNRESET" }));
      });
    });
    if (body === undefined) outgoing.end();
    else if (Buffer.isBuffer(body)) outgoing.end(body);
    else if (Array.isArray(body)) {
      for (let i = 0; i < body.length - 1; i++) outgoing.write(body[i]);
      outgoing.end(body[body.length - 1]);
    } else {
      body.on("error", (err) => finish(err));
      body.pipe(outgoing);
    }
    return () => {
      finished = true;
      abandon();
    };
  }
}
