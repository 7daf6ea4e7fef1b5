import http, { type IncomingHttpHeaders, type IncomingMessage } from "http";
import https from "https";
import type { Readable } from "stream";

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
  body?: Buffer | Readable;
  /** Hand a 2xx answer's body over as a stream instead of reading it. */
  stream?: boolean;
}

/** Error answers read from a stream keep at most this much of their body. */
const ERROR_BODY_LIMIT = 64 * 1024;

/**
 * Signed, keep-alive HTTP for one origin, on Node's own `http`/`https`: the client builds every header
 * itself, sends bodies as the exact bytes it signed, and needs neither redirects, transforms nor
 * decompression, so a general-purpose HTTP library would only add work to each request.
 */
export class HttpExchange {
  private readonly request: typeof http.request;
  private readonly hostname: string;
  private readonly port: string;

  constructor(origin: URL, private readonly agent: http.Agent) {
    this.request = origin.protocol === "https:" ? https.request : http.request;
    // Node wants an IPv6 literal without its brackets.
    this.hostname = origin.hostname.replace(/^\[(.*)\]$/, "$1");
    this.port = origin.port;
  }

  /**
   * Sends one request; `done` is called exactly once, with the answer or the error that ended it. Returns
   * a function that ends the request at once (its socket is destroyed, not returned to the pool); `done`
   * is not called after that.
   */
  send(req: ExchangeRequest, done: (err: Error | undefined, answer?: HttpAnswer) => void): () => void {
    let finished = false;
    let outgoing: http.ClientRequest | undefined;
    const body = req.body;
    // A request that ends early takes its body stream with it, so that nothing (a file, say) stays open.
    const abandon = (): void => {
      outgoing?.destroy();
      if (body && !Buffer.isBuffer(body)) body.destroy();
    };
    const finish = (err: Error | undefined, answer?: HttpAnswer): void => {
      if (finished) return;
      finished = true;
      if (err) abandon();
      done(err, answer);
    };
    try {
      outgoing = this.request({ hostname: this.hostname, port: this.port, method: req.method, path: req.path, headers: req.headers, agent: this.agent });
    } catch (err) {
      // An invalid header value (a control character in a configured key, say) throws before sending.
      finish(err as Error);
      return abandon;
    }
    outgoing.on("error", (err) => finish(err));
    outgoing.on("response", (res) => {
      const status = res.statusCode ?? 0;
      if (req.stream && status >= 200 && status < 300) return finish(undefined, { status, headers: res.headers, data: res });
      const limit = req.stream ? ERROR_BODY_LIMIT : Infinity;
      const chunks: Buffer[] = [];
      let size = 0;
      res.on("data", (chunk: Buffer) => {
        if (size < limit) chunks.push(chunk);
        size += chunk.length;
      });
      res.on("end", () => {
        const data = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
        finish(undefined, { status, headers: res.headers, data: size > limit ? data.subarray(0, limit) : data });
      });
      res.on("error", (err) => finish(err));
      // A connection that closes before the body is complete.
      res.on("close", () => {
        if (!res.complete) finish(Object.assign(new Error("The connection closed before the answer was complete."), { code: "ECONNRESET" }));
      });
    });
    if (body === undefined) outgoing.end();
    else if (Buffer.isBuffer(body)) outgoing.end(body);
    else {
      body.on("error", (err) => finish(err));
      body.pipe(outgoing);
    }
    return () => {
      finished = true;
      abandon();
    };
  }
}
