import net from "net";
import tls, { type ConnectionOptions } from "tls";
import type { IncomingHttpHeaders } from "http";

/** An error of the exchange, with a code the client maps to words (ECONNRESET, EPROTO, ...). */
function exchangeError(message: string, code: string): Error {
  return Object.assign(new Error(message), { code });
}

/** The most a response's status line and headers may take. */
const HEAD_LIMIT = 64 * 1024;

export interface ParsedResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  /** Whether the connection may carry another request. */
  reusable: boolean;
  /** The server's keep-alive time-out in ms, when it names one. */
  keepAliveMs?: number;
}

/**
 * Reads one HTTP/1.1 response from the bytes of a connection: status line, headers, and a body framed by
 * Content-Length, by chunked transfer-coding, or by the end of the connection. Informational (1xx)
 * responses are skipped. The body is bounded: a 2xx past `limit` fails with `tooLarge`, any other status
 * keeps its first `errorLimit` bytes. Strict on framing: anything it cannot read is a protocol error.
 */
class ResponseReader {
  private pending: Buffer | undefined;
  private head: { status: number; headers: IncomingHttpHeaders; close: boolean; keepAliveMs?: number } | undefined;
  private framing: "length" | "chunked" | "close" | "none" = "none";
  private remaining = 0;
  private chunkState: "size" | "data" | "data-end" | "trailers" = "size";
  private readonly chunks: Buffer[] = [];
  private size = 0;
  private truncated = false;
  /** Bytes after the end of the body: the connection is not trusted with another request. */
  private extra = false;

  constructor(
    private readonly limit: number,
    private readonly errorLimit: number,
    private readonly tooLarge: (limit: number) => Error,
  ) {}

  /** Feeds bytes; returns the response once it is complete, or undefined while more are needed. Throws on bad input. */
  feed(data: Buffer): ParsedResponse | undefined {
    let buf = this.pending ? Buffer.concat([this.pending, data]) : data;
    this.pending = undefined;
    for (;;) {
      if (!this.head) {
        const end = buf.indexOf("\r\n\r\n");
        if (end < 0) {
          if (buf.length > HEAD_LIMIT) throw exchangeError("The answer's headers are too large.", "EPROTO");
          this.pending = buf;
          return undefined;
        }
        this.readHead(buf.toString("latin1", 0, end));
        buf = buf.subarray(end + 4);
        if (!this.head) continue; // a 1xx answer: the real one follows
      }
      // An error answer that has given all that is kept of it is complete too (its connection is dropped).
      const done = this.readBody(buf) || this.truncated;
      if (done) return this.result();
      return undefined;
    }
  }

  /** The connection ended: a body framed by the end of the connection is complete now. */
  end(): ParsedResponse | undefined {
    if (this.head && this.framing === "close") return this.result();
    return undefined;
  }

  private readHead(text: string): void {
    const lines = text.split("\r\n");
    const m = /^HTTP\/1\.([01]) (\d{3})(?: |$)/.exec(lines[0]);
    if (!m) throw exchangeError("The answer is not HTTP/1.1.", "EPROTO");
    const status = Number(m[2]);
    if (status >= 100 && status < 200) return; // 100 Continue, 103 Early Hints...
    const headers: IncomingHttpHeaders = {};
    for (let i = 1; i < lines.length; i++) {
      const line = lines[i];
      const colon = line.indexOf(":");
      if (colon <= 0) throw exchangeError("The answer has a malformed header.", "EPROTO");
      const name = line.slice(0, colon).trim().toLowerCase();
      const value = line.slice(colon + 1).trim();
      const known = headers[name];
      if (known === undefined) headers[name] = value;
      else if (Array.isArray(known)) known.push(value);
      else headers[name] = name === "set-cookie" ? [known, value] : `${known}, ${value}`;
    }
    const connection = String(headers.connection ?? "").toLowerCase();
    const http10 = m[1] === "0";
    const close = connection.includes("close") || (http10 && !connection.includes("keep-alive"));
    const hint = /timeout=(\d+)/i.exec(String(headers["keep-alive"] ?? ""));
    this.head = { status, headers, close, keepAliveMs: hint ? Number(hint[1]) * 1000 : undefined };
    const te = String(headers["transfer-encoding"] ?? "").toLowerCase();
    const cl = headers["content-length"];
    if (status === 204 || status === 304) this.framing = "none";
    else if (te !== "") {
      if (!/(^|,)\s*chunked\s*$/.test(te)) throw exchangeError("The answer's transfer coding is not supported.", "EPROTO");
      this.framing = "chunked";
    } else if (cl !== undefined) {
      if (!/^\d+$/.test(String(cl))) throw exchangeError("The answer's Content-Length is malformed.", "EPROTO");
      this.framing = "length";
      this.remaining = Number(cl);
      if (this.ok() && this.remaining > this.limit) throw this.tooLarge(this.limit);
    } else this.framing = "close";
  }

  private ok(): boolean {
    const status = this.head?.status ?? 0;
    return status >= 200 && status < 300;
  }

  /** Takes body bytes; true once the body is complete. */
  private readBody(buf: Buffer): boolean {
    switch (this.framing) {
      case "none":
        if (buf.length > 0) this.extra = true;
        return true;
      case "length": {
        const take = buf.subarray(0, this.remaining);
        this.remaining -= take.length;
        this.keep(take);
        if (buf.length > take.length) this.extra = true;
        return this.remaining === 0;
      }
      case "close":
        this.keep(buf);
        return false;
      case "chunked":
        return this.readChunks(buf);
    }
  }

  private readChunks(input: Buffer): boolean {
    let buf = input;
    for (;;) {
      if (this.chunkState === "data") {
        const take = buf.subarray(0, this.remaining);
        this.remaining -= take.length;
        this.keep(take);
        if (this.truncated) return false;
        buf = buf.subarray(take.length);
        if (this.remaining > 0) return false;
        this.chunkState = "data-end";
      }
      const eol = buf.indexOf("\r\n");
      if (eol < 0) {
        if (buf.length > HEAD_LIMIT) throw exchangeError("The answer's chunk framing is malformed.", "EPROTO");
        this.pending = buf.length ? buf : undefined;
        return false;
      }
      const line = buf.toString("latin1", 0, eol);
      buf = buf.subarray(eol + 2);
      if (this.chunkState === "data-end") {
        if (line !== "") throw exchangeError("The answer's chunk framing is malformed.", "EPROTO");
        this.chunkState = "size";
      } else if (this.chunkState === "size") {
        const size = /^([0-9a-fA-F]{1,12})\s*(;.*)?$/.exec(line);
        if (!size) throw exchangeError("The answer's chunk framing is malformed.", "EPROTO");
        this.remaining = parseInt(size[1], 16);
        this.chunkState = this.remaining === 0 ? "trailers" : "data";
      } else if (line === "") {
        // The empty line after the trailers ends the body.
        this.pending = undefined;
        return true;
      }
    }
  }

  private keep(data: Buffer): void {
    if (data.length === 0) return;
    const bound = this.ok() ? this.limit : this.errorLimit;
    if (this.size + data.length > bound) {
      if (this.ok()) throw this.tooLarge(this.limit);
      // An error answer keeps its start; the rest is not wanted.
      if (this.size < bound) this.chunks.push(data.subarray(0, bound - this.size));
      this.size = bound;
      this.truncated = true;
      return;
    }
    this.chunks.push(data);
    this.size += data.length;
  }

  private result(): ParsedResponse {
    const head = this.head as NonNullable<ResponseReader["head"]>;
    const body = this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks, this.size);
    return {
      status: head.status,
      headers: head.headers,
      body,
      reusable: !head.close && this.framing !== "close" && !this.truncated && !this.extra && this.pending === undefined,
      keepAliveMs: head.keepAliveMs,
    };
  }
}

export interface PooledRequest {
  /** Start line and headers, ending with the empty line. */
  head: string;
  body?: Buffer | Buffer[];
  /** The most a 2xx body may hold; past it the request fails with `tooLarge`. */
  limit: number;
  errorLimit: number;
  tooLarge(limit: number): Error;
}

interface Connection {
  socket: net.Socket;
  /** When it was given back; an idle connection past the server's keep-alive time is not used again. */
  idleSince: number;
  keepAliveMs: number;
}

/** An idle connection is not used past this (servers commonly close them after 5 s), unless the server says more. */
const DEFAULT_KEEP_ALIVE_MS = 4000;

/**
 * HTTP/1.1 over a pool of keep-alive connections to one origin, for requests whose body is in memory and
 * whose answer is read into memory: what most calls of a channel are. It writes the start line, headers and
 * body in one corked write and reads the answer with a small strict reader, which costs far less per
 * request than Node's general `http` client (no ClientRequest, IncomingMessage or Agent bookkeeping).
 */
export class KeepAlivePool {
  private readonly idle: Connection[] = [];
  private readonly busy = new Set<net.Socket>();
  private closed = false;

  constructor(
    private readonly host: string,
    private readonly port: number,
    /** TLS options for an https origin; undefined for plain http. */
    private readonly tlsOptions: ConnectionOptions | undefined,
  ) {}

  /** Sends one request; `done` is called once, unless the returned stop is called first (which destroys the connection). */
  send(req: PooledRequest, done: (err: Error | undefined, res?: ParsedResponse) => void): () => void {
    const conn = this.take();
    const { socket } = conn;
    const reader = new ResponseReader(req.limit, req.errorLimit, req.tooLarge);
    let finished = false;
    // An answer that comes before the whole request went out (an early 413, say) leaves the connection
    // in an unknown state: it is not used again.
    let written = false;
    const cleanup = (): void => {
      socket.off("data", onData);
      socket.off("end", onEnd);
      socket.off("error", onError);
      socket.off("close", onClose);
    };
    const finish = (err: Error | undefined, res?: ParsedResponse): void => {
      if (finished) return;
      finished = true;
      cleanup();
      this.busy.delete(socket);
      if (err || !res?.reusable || !written || this.closed) socket.destroy();
      else this.give(conn, res.keepAliveMs);
      done(err, res);
    };
    const onData = (data: Buffer): void => {
      let res: ParsedResponse | undefined;
      try {
        res = reader.feed(data);
      } catch (err) {
        return finish(err as Error);
      }
      if (res) finish(undefined, res);
    };
    const onEnd = (): void => {
      const res = reader.end();
      finish(res ? undefined : exchangeError("The connection closed before the answer was complete.", "ECONNRESET"), res ? { ...res, reusable: false } : undefined);
    };
    const onError = (err: Error): void => finish(err);
    const onClose = (): void => finish(exchangeError("The connection closed before the answer was complete.", "ECONNRESET"));
    socket.on("data", onData);
    socket.on("end", onEnd);
    socket.on("error", onError);
    socket.on("close", onClose);
    // One write for the start line, the headers and the body.
    const wrote = (): void => {
      written = true;
    };
    socket.cork();
    if (req.body === undefined) socket.write(req.head, "latin1", wrote);
    else {
      socket.write(req.head, "latin1");
      const parts = Buffer.isBuffer(req.body) ? [req.body] : req.body;
      parts.forEach((part, i) => socket.write(part, i === parts.length - 1 ? wrote : undefined));
    }
    socket.uncork();
    return () => {
      if (finished) return;
      finished = true;
      cleanup();
      this.busy.delete(socket);
      socket.destroy();
    };
  }

  /** Destroys every connection, idle or busy. */
  close(): void {
    this.closed = true;
    for (const conn of this.idle) conn.socket.destroy();
    this.idle.length = 0;
    for (const socket of this.busy) socket.destroy();
    this.busy.clear();
  }

  private take(): Connection {
    const now = Date.now();
    for (let conn = this.idle.pop(); conn; conn = this.idle.pop()) {
      if (!conn.socket.destroyed && now - conn.idleSince < conn.keepAliveMs) {
        conn.socket.off("close", idleClose);
        conn.socket.off("error", idleError);
        this.busy.add(conn.socket);
        return conn;
      }
      conn.socket.destroy();
    }
    const socket = this.tlsOptions
      ? tls.connect({ servername: net.isIP(this.host) ? undefined : this.host, ...this.tlsOptions, host: this.host, port: this.port })
      : net.connect(this.port, this.host);
    socket.setNoDelay(true);
    this.busy.add(socket);
    return { socket, idleSince: now, keepAliveMs: DEFAULT_KEEP_ALIVE_MS };
  }

  private give(conn: Connection, keepAliveMs: number | undefined): void {
    conn.idleSince = Date.now();
    // Leave a margin before the server's own time-out.
    if (keepAliveMs !== undefined) conn.keepAliveMs = Math.max(0, keepAliveMs - 1000);
    // An idle connection the server closes is simply gone; it never fails a request.
    conn.socket.on("close", idleClose);
    conn.socket.on("error", idleError);
    this.idle.push(conn);
  }
}

function idleClose(this: net.Socket): void {
  this.destroy();
}

function idleError(this: net.Socket): void {
  this.destroy();
}
