import { randomUUID } from "crypto";
import http, { type IncomingMessage, type ServerResponse } from "http";
import https from "https";
import type { AddressInfo, Socket } from "net";
import { verifySignature } from "../client/signature";
import { mediaUrl, type MediaData } from "../client/envelope";
import { boundaryOf, parseMultipart } from "./multipart-parser";
import { FaultInjector, type Fault, type FaultRates } from "./faults";
import { AgentSide, type AgentOptions } from "./agent-side";
import { BodyTooLargeError, readRawBody } from "../http/read-body";
import { writeJson } from "../http/write-json";
import { parseJson } from "../http/json-text";
import { OrderedMap } from "../util/ordered-map";

export interface SimulatorOptions {
  /** TCP port; 0 picks a free one (default 0). */
  port?: number;
  /** Address to listen on (default 127.0.0.1). */
  host?: string;
  /** Base path of the API (default /nexus/v3). */
  basePath?: string;
  channelId?: string;
  ccid?: string;
  secret?: string;
  /** When set, every call must carry it as `x-api-key`. */
  apiKey?: string;
  /** Largest media file accepted, in bytes (default 16 MiB); past it the answer is 413. */
  maxMediaBytes?: number;
  /** Largest message body accepted, in bytes (default 1 MiB); past it the answer is 413. */
  maxMessageBytes?: number;
  /** How many requests to keep in `requests` (default 1000); counts are kept for all. Bodies past 1 MiB are not kept. */
  recordLimit?: number;
  /** How many consumer messages to keep in `messages` (default 10000), within 32 MiB of bodies; `messageCount` counts all. */
  messageLimit?: number;
  /** Bytes of media kept in memory at most (default 256 MiB); past it the oldest media are forgotten. */
  maxStoredMediaBytes?: number;
  /** Random faults, as fractions of requests to the API. */
  faultRates?: FaultRates;
  /** The agent side: where and how Genesys would deliver agent messages. */
  agent?: AgentOptions;
  /** Where to write one line per notable event (default: nowhere). */
  log?: (line: string) => void;
  /** Serve HTTPS with this key and certificate (and ask for client certificates signed by `ca`). */
  tls?: { key: string | Buffer; cert: string | Buffer; ca?: string | Buffer; requestCert?: boolean; maxVersion?: "TLSv1.2" | "TLSv1.3" };
}

export interface StoredMedia extends MediaData {
  data: Buffer;
}

export interface RecordedRequest {
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  /** The body as received; empty when it was larger than RECORDED_BODY_LIMIT. */
  body: Buffer;
  bodyLength: number;
  status: number;
}

export interface ReceivedMessage {
  /** The id the simulator answered with. */
  id: string;
  body: unknown;
  /** Bytes of the request body it came in. */
  size: number;
  traceId?: string;
}

/** Recorded requests keep bodies up to this size. */
const RECORDED_BODY_LIMIT = 1024 * 1024;
/** Kept consumer messages hold at most this many body bytes in all. */
const MESSAGE_BYTES_LIMIT = 32 * 1024 * 1024;

export const SIMULATOR_DEFAULTS = {
  host: "127.0.0.1",
  basePath: "/nexus/v3",
  channelId: "demo-channel",
  ccid: "8b6b7e2e-3c1f-4c4e-9a51-6a1f5f0c2d10",
  secret: "simulator-secret",
  maxMediaBytes: 16 * 1024 * 1024,
  maxMessageBytes: 1024 * 1024,
  recordLimit: 1000,
  messageLimit: 10_000,
  maxStoredMediaBytes: 256 * 1024 * 1024,
};

class HttpFailure extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/**
 * A faithful local stand-in for the Third-Party Messaging API: it checks what Genesys checks (signature over
 * the raw bytes, `x-ccid`, the API key, channel and media ids, sizes), answers with the envelope, keeps media
 * in memory, can inject faults, and plays the agent side by calling a webhook the way Genesys does.
 */
export class NexusSimulator {
  readonly options: Required<Omit<SimulatorOptions, "apiKey" | "faultRates" | "agent" | "log" | "port" | "tls">> & {
    apiKey?: string;
    port: number;
  };
  readonly media = new Map<string, StoredMedia>();
  readonly messages: ReceivedMessage[] = [];
  readonly requests: RecordedRequest[] = [];
  /** Requests answered, by HTTP status. */
  readonly counts = new Map<number, number>();
  readonly faults: FaultInjector;
  readonly agent: AgentSide;
  private readonly server: http.Server;
  private readonly secure: boolean;
  private readonly sockets = new Set<Socket>();
  private readonly log: (line: string) => void;
  private seenMessageIds = new OrderedMap<string, string>();
  /** Messages sent again with a messageId already accepted: each would be processed twice without the check. */
  duplicateCount = 0;
  /** Consumer messages accepted, all of them (not only those kept in `messages`). */
  messageCount = 0;
  private messageBytes = 0;
  private mediaBytes = 0;
  /** `{basePath}/channels/`: what every API path starts with. */
  private readonly channelsPrefix: string;

  constructor(options: SimulatorOptions = {}) {
    this.options = {
      port: options.port ?? 0,
      host: options.host ?? SIMULATOR_DEFAULTS.host,
      basePath: (options.basePath ?? SIMULATOR_DEFAULTS.basePath).replace(/\/+$/, ""),
      channelId: options.channelId ?? SIMULATOR_DEFAULTS.channelId,
      ccid: options.ccid ?? SIMULATOR_DEFAULTS.ccid,
      secret: options.secret ?? SIMULATOR_DEFAULTS.secret,
      apiKey: options.apiKey || undefined,
      maxMediaBytes: options.maxMediaBytes ?? SIMULATOR_DEFAULTS.maxMediaBytes,
      maxMessageBytes: options.maxMessageBytes ?? SIMULATOR_DEFAULTS.maxMessageBytes,
      recordLimit: options.recordLimit ?? SIMULATOR_DEFAULTS.recordLimit,
      messageLimit: options.messageLimit ?? SIMULATOR_DEFAULTS.messageLimit,
      maxStoredMediaBytes: options.maxStoredMediaBytes ?? SIMULATOR_DEFAULTS.maxStoredMediaBytes,
    };
    this.channelsPrefix = `${this.options.basePath}/channels/`;
    this.log = options.log ?? (() => undefined);
    this.faults = new FaultInjector(options.faultRates);
    this.agent = new AgentSide(this.options.secret, options.agent ?? {}, this.log);
    const listener = (req: IncomingMessage, res: ServerResponse): void => {
      this.handle(req, res).catch((err: unknown) => {
        this.log(`simulator: ${(err as Error).message}`);
        if (!res.headersSent) this.answer(req, res, Buffer.alloc(0), 500, { status: { code: 500, message: "Internal Server Error" } });
      });
    };
    this.secure = options.tls !== undefined;
    this.server = options.tls
      ? https.createServer({ ...options.tls, rejectUnauthorized: options.tls.requestCert === true }, listener)
      : http.createServer(listener);
    this.server.on(options.tls ? "secureConnection" : "connection", (socket: Socket) => {
      this.sockets.add(socket);
      socket.on("close", () => this.sockets.delete(socket));
    });
  }

  /** Starts listening; resolves with the simulator. */
  async start(): Promise<this> {
    await new Promise<void>((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen(this.options.port, this.options.host, () => {
        this.server.off("error", reject);
        resolve();
      });
    });
    this.options.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  /** The API base URL to put in a channel, e.g. `http://127.0.0.1:8085/nexus/v3`. */
  get baseUrl(): string {
    return `${this.origin}${this.options.basePath}`;
  }

  get origin(): string {
    const host = this.options.host.includes(":") ? `[${this.options.host}]` : this.options.host;
    return `${this.secure ? "https" : "http"}://${host}:${this.options.port}`;
  }

  /** Open client connections. */
  get connectionCount(): number {
    return this.sockets.size;
  }

  /** Requests received for the API (all of them, not only the recorded ones). */
  get requestCount(): number {
    let n = 0;
    for (const c of this.counts.values()) n += c;
    return n;
  }

  /** Queues faults for the next API requests, one each, in order. */
  injectFaults(...faults: Fault[]): void {
    this.faults.enqueue(...faults);
  }

  /** Forgets media, messages, recorded requests, counts and queued faults. */
  reset(): void {
    this.media.clear();
    this.messages.length = 0;
    this.messageCount = 0;
    this.messageBytes = 0;
    this.mediaBytes = 0;
    this.requests.length = 0;
    this.counts.clear();
    this.seenMessageIds.clear();
    this.duplicateCount = 0;
    this.faults.clear();
    this.agent.reset();
  }

  async close(): Promise<void> {
    this.agent.close();
    this.faults.releaseHanging();
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      for (const socket of this.sockets) socket.destroy();
    });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://simulator");
    const pathname = url.pathname;
    if (pathname.startsWith("/simulator/")) return this.agent.handleControl(req, res, url, this);
    if (!pathname.startsWith(this.channelsPrefix)) {
      return this.fail(req, res, Buffer.alloc(0), new HttpFailure(404, `No such endpoint: ${req.method} ${pathname}`));
    }
    let rest: string[];
    try {
      rest = pathname.slice(this.channelsPrefix.length).split("/");
      for (let i = 0; i < rest.length; i++) if (rest[i].includes("%")) rest[i] = decodeURIComponent(rest[i]);
    } catch {
      return this.fail(req, res, Buffer.alloc(0), new HttpFailure(400, `Malformed percent-encoding in ${pathname}`));
    }
    const [channelId, collection, mediaId, ...extra] = rest;
    const route =
      collection === "messages" && mediaId === undefined && req.method === "POST"
        ? "send"
        : collection === "media" && mediaId === undefined && req.method === "POST"
          ? "upload"
          : collection === "media" && mediaId && extra.length === 0 && req.method === "GET"
            ? "download"
            : collection === "media" && mediaId && extra.length === 0 && req.method === "DELETE"
              ? "delete"
              : undefined;

    const fault = this.faults.next();
    if (fault && (await this.faults.apply(fault, req, res))) {
      this.count(fault.kind === "status" ? fault.status : 0);
      return;
    }

    let body: Buffer = Buffer.alloc(0);
    try {
      if (!route) throw new HttpFailure(collection === "messages" || collection === "media" ? 405 : 404, `No such endpoint: ${req.method} ${pathname}`);
      if (channelId !== this.options.channelId) throw new HttpFailure(404, `Channel ${channelId} not found`);
      const ccid = req.headers["x-ccid"];
      if (typeof ccid !== "string" || ccid === "") throw new HttpFailure(400, "Missing x-ccid header");
      if (ccid !== this.options.ccid) throw new HttpFailure(403, `Contact center ${ccid} may not use channel ${channelId}`);
      if (this.options.apiKey !== undefined && req.headers["x-api-key"] !== this.options.apiKey) {
        throw new HttpFailure(403, "Missing or invalid API key");
      }
      const limit = route === "upload" ? this.options.maxMediaBytes + 64 * 1024 : this.options.maxMessageBytes;
      body = await readRawBody(req, limit).catch((err: unknown) => {
        throw err instanceof BodyTooLargeError ? new HttpFailure(413, err.message) : new HttpFailure(400, "The request body could not be read");
      });
      if (!verifySignature(body, req.headers["x-hub-signature"], this.options.secret)) {
        throw new HttpFailure(401, "Invalid or missing X-Hub-Signature");
      }
      const data =
        route === "send"
          ? this.acceptMessages(body, req)
          : route === "upload"
            ? this.storeMedia(body, req)
            : route === "delete"
              ? this.deleteMedia(mediaId)
              : undefined;
      if (route === "download") {
        const media = this.findMedia(mediaId);
        this.record(req, body, 200);
        res.writeHead(200, {
          "Content-Type": media.mimetype,
          "Content-Length": media.data.length,
          "Content-Disposition": contentDisposition(media.filename),
        });
        res.end(media.data);
        return;
      }
      this.answer(req, res, body, 200, { status: { code: 0, message: "OK" }, data });
    } catch (err) {
      if (err instanceof HttpFailure) return this.fail(req, res, body, err);
      throw err;
    }
  }

  private acceptMessages(body: Buffer, req: IncomingMessage): { ids: Array<{ id: string }> } {
    let parsed: unknown;
    try {
      parsed = parseJson(body);
    } catch {
      throw new HttpFailure(400, "The message body is not valid JSON");
    }
    const list = Array.isArray(parsed) ? parsed : [parsed];
    if (list.length === 0 || list.some((m) => typeof m !== "object" || m === null || Array.isArray(m))) {
      throw new HttpFailure(400, "The message body must be a message object or an array of them");
    }
    const traceId = typeof req.headers["x-b3-traceid"] === "string" ? req.headers["x-b3-traceid"] : undefined;
    const ids = list.map((message: Record<string, unknown>) => {
      const given = typeof message.messageId === "string" && message.messageId !== "" ? message.messageId : undefined;
      // A message sent again with the same messageId is accepted once: a retry must not make a second one.
      const known = given ? this.seenMessageIds.get(given) : undefined;
      if (known) {
        this.duplicateCount++;
        return { id: known };
      }
      const id = given ?? randomUUID();
      if (given) {
        this.seenMessageIds.set(given, id);
        if (this.seenMessageIds.size > 100_000) this.seenMessageIds.shift();
      }
      const received: ReceivedMessage = { id, body: message, size: body.length, traceId };
      this.keep(received);
      this.agent.onConsumerMessage(received);
      return { id };
    });
    return { ids };
  }

  private storeMedia(body: Buffer, req: IncomingMessage): MediaData {
    const boundary = boundaryOf(req.headers["content-type"]);
    if (!boundary) throw new HttpFailure(400, "Expected a multipart/form-data body with a boundary");
    const parts = parseMultipart(body, boundary);
    if (!parts) throw new HttpFailure(400, "The multipart body is malformed");
    const file = parts.find((p) => p.name === "file");
    if (!file || file.filename === undefined) throw new HttpFailure(400, "Expected a part named file with a filename");
    if (file.data.length > this.options.maxMediaBytes) {
      throw new HttpFailure(413, `The file is larger than ${this.options.maxMediaBytes} bytes`);
    }
    const mediaId = randomUUID();
    const stored: StoredMedia = {
      mediaId,
      url: mediaUrl(mediaId),
      filename: file.filename,
      mimetype: file.contentType ?? "application/octet-stream",
      length: file.data.length,
      data: Buffer.from(file.data),
    };
    this.media.set(mediaId, stored);
    this.mediaBytes += stored.length;
    // Bounded: the oldest media are forgotten first (a download of them then gets 404).
    for (const [id, old] of this.media) {
      if (this.mediaBytes <= this.options.maxStoredMediaBytes || id === mediaId) break;
      this.media.delete(id);
      this.mediaBytes -= old.length;
    }
    return describe(stored);
  }

  private findMedia(mediaId: string): StoredMedia {
    const media = this.media.get(mediaId);
    if (!media) throw new HttpFailure(404, `Media ${mediaId} not found`);
    return media;
  }

  private deleteMedia(mediaId: string): MediaData {
    const media = this.findMedia(mediaId);
    this.media.delete(mediaId);
    this.mediaBytes -= media.length;
    return describe(media);
  }

  private fail(req: IncomingMessage, res: ServerResponse, body: Buffer, err: HttpFailure): void {
    this.answer(req, res, body, err.status, { status: { code: err.status, message: err.message } });
    // An oversized body is not read to its end; close the connection rather than drain it.
    if (err.status === 413) res.on("finish", () => req.socket.destroy());
  }

  private answer(req: IncomingMessage, res: ServerResponse, body: Buffer, status: number, envelope: unknown): void {
    this.record(req, body, status);
    writeJson(res, status, envelope);
  }

  private count(status: number): void {
    this.counts.set(status, (this.counts.get(status) ?? 0) + 1);
  }

  private record(req: IncomingMessage, body: Buffer, status: number): void {
    this.count(status);
    if (this.options.recordLimit <= 0) return;
    if (this.requests.length >= this.options.recordLimit) this.requests.shift();
    const kept = body.length <= RECORDED_BODY_LIMIT ? body : Buffer.alloc(0);
    this.requests.push({ method: req.method ?? "", path: req.url ?? "", headers: req.headers, body: kept, bodyLength: body.length, status });
  }

  /** Keeps a consumer message for inspection, within the count and byte bounds; counts it either way. */
  private keep(message: ReceivedMessage): void {
    this.messageCount++;
    this.messages.push(message);
    this.messageBytes += message.size;
    while (this.messages.length > 0 && (this.messages.length > this.options.messageLimit || this.messageBytes > MESSAGE_BYTES_LIMIT)) {
      this.messageBytes -= (this.messages.shift() as ReceivedMessage).size;
    }
  }
}

function describe(media: StoredMedia): MediaData {
  const { mediaId, url, filename, mimetype, length } = media;
  return { mediaId, url, filename, mimetype, length };
}

function contentDisposition(filename: string): string {
  const ascii = filename.replace(/[^\x20-\x7e]|["\\]/g, "_");
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(filename)}`;
}

/** Creates and starts a simulator. */
export async function startSimulator(options: SimulatorOptions = {}): Promise<NexusSimulator> {
  return new NexusSimulator(options).start();
}
