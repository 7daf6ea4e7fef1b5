import fs from "fs";
import path from "path";
import type { Database } from "lmdb";

/**
 * LMDB's native module, loaded on first use: a platform without a prebuilt binary fails the outbox that
 * tries to open (an error a flow author sees), never the loading of the nodes that do not use it.
 */
function lmdb(): typeof import("lmdb") {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require("lmdb") as typeof import("lmdb");
}

/** One message kept in the outbox, as stored. */
export interface StoredMessage {
  /** Id of the send node that took the message: it emits the answer. */
  nodeId: string;
  /** The `X-B3-TraceId` of every attempt. */
  traceId: string;
  /** The encoded message body: every attempt sends exactly these bytes. */
  body: Buffer;
  /** When the outbox took it, ms since the epoch. */
  at: number;
  /** The message's properties that could be stored (JSON values and Buffers). */
  props: Record<string, unknown>;
  /** An attempt's outcome was unknown: the next one is a resend, and is logged as one. */
  unknown?: boolean;
  /**
   * `msg.payload` was the message sent, so it is not stored twice: it is the body again, parsed (`json`),
   * as text (`string`) or as bytes (`buffer`), for a message that goes to Catch.
   */
  payloadFromBody?: "json" | "string" | "buffer";
  /** Its stored answer was being emitted (see `answer`): emitting it again after a restart is logged. */
  emitting?: boolean;
  /** Delivered, but nobody could emit the answer yet (no send node was running): emit it before sending more. */
  answer?: { statusCode: number; traceId: string; payload: unknown };
}

/** The message's payload as it was, for a message that leaves to Catch. */
export function payloadOf(m: StoredMessage): unknown {
  switch (m.payloadFromBody) {
    case "json":
      return JSON.parse(m.body.toString("utf8")) as unknown;
    case "string":
      return m.body.toString("utf8");
    case "buffer":
      return m.body;
    default:
      return m.props.payload;
  }
}

/** A stored message with its place in the queue. */
export interface OutboxEntry extends StoredMessage {
  /** Its position: entries leave in the order of their keys. */
  key: number;
}

/** What a row's JSON head holds; the body's bytes follow it. */
interface Head {
  n: string;
  t: string;
  at: number;
  m: Record<string, unknown>;
  u?: 1;
  p?: StoredMessage["payloadFromBody"];
  a?: StoredMessage["answer"];
  e?: 1;
}

/** A Buffer inside the stored properties, as JSON: one key no message property plausibly has. */
const BUFFER_TAG = "\u0000buffer";

/**
 * The outbox's file: an LMDB environment (one data file plus its lock file) whose keys are increasing
 * integers, so that a range read gives the messages in the order they came. Writes are asynchronous and
 * batched by LMDB: all writes of one event turn go into one transaction, and `durable()` waits until what
 * was written is flushed to disk (fsync), so many messages share one flush.
 */
export class OutboxStore {
  private readonly db: Database<Buffer, number>;
  private nextKey: number;

  private constructor(readonly file: string) {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    // No value cache, no compression: rows are read once, in order, a few at a time.
    this.db = lmdb().open<Buffer, number>({ path: file, encoding: "binary", keyEncoding: "uint32", compression: false, cache: false });
    let last = 0;
    for (const key of this.db.getKeys({ reverse: true, limit: 1 })) last = key;
    this.nextKey = last + 1;
  }

  /** Opens (or creates) the outbox file, with its folder. Throws when the file cannot be opened. */
  static open(file: string): OutboxStore {
    return new OutboxStore(file);
  }

  /** Messages stored (committed ones). */
  count(): number {
    return (this.db.getStats() as { entryCount: number }).entryCount;
  }

  /** Queues one message for the next batch; returns its key. Resolves `written` once committed (not yet flushed). */
  append(message: StoredMessage): { key: number; written: Promise<unknown> } {
    const key = this.reserveKey();
    return { key, written: this.put(key, message) };
  }

  /** Takes the next key for a message that may be stored later (see `put`); keys only grow. */
  reserveKey(): number {
    return this.nextKey++;
  }

  /** Queues one message under a key from `reserveKey`. Resolves once committed (not yet flushed). */
  put(key: number, message: StoredMessage): Promise<unknown> {
    return this.db.put(key, encode(message));
  }

  /** Rewrites a stored message (to mark it unknown, or to keep its answer). */
  update(entry: OutboxEntry): Promise<unknown> {
    return this.db.put(entry.key, encode(entry));
  }

  remove(key: number): Promise<unknown> {
    return this.db.remove(key);
  }

  /** Resolves once every write made so far is committed and flushed to disk. */
  async durable(): Promise<void> {
    await this.db.committed;
    await this.db.flushed;
  }

  /** Up to `limit` committed messages from key `from` on (below `end`, when given), in order. */
  read(from: number, limit: number, end?: number): OutboxEntry[] {
    const out: OutboxEntry[] = [];
    for (const { key, value } of this.db.getRange(end === undefined ? { start: from, limit } : { start: from, end, limit })) out.push({ key, ...decode(value) });
    return out;
  }

  /** The first committed message, if any. */
  first(): OutboxEntry | undefined {
    return this.read(0, 1)[0];
  }

  /** The key the next appended message gets. */
  get upcomingKey(): number {
    return this.nextKey;
  }

  /** Removes every message; resolves with how many there were, once flushed. */
  async clear(): Promise<number> {
    const n = this.count();
    await this.db.clearAsync();
    await this.durable();
    return n;
  }

  async close(): Promise<void> {
    await this.durable();
    await this.db.close();
  }
}

/**
 * A row: 4 bytes (big-endian) giving the length of a JSON head (node id, trace id, time, properties, flags,
 * answer), the head, then the body's bytes as they are sent. Buffers in the properties are tagged base64.
 */
export function encode(m: StoredMessage): Buffer {
  const head: Head = { n: m.nodeId, t: m.traceId, at: m.at, m: m.props };
  if (m.unknown) head.u = 1;
  if (m.answer) head.a = m.answer;
  if (m.emitting) head.e = 1;
  if (m.payloadFromBody) head.p = m.payloadFromBody;
  const json = Buffer.from(
    JSON.stringify(head, function (this: Record<string, unknown>, key: string, value: unknown) {
      const raw = this[key];
      return Buffer.isBuffer(raw) ? { [BUFFER_TAG]: raw.toString("base64") } : value;
    }),
    "utf8",
  );
  const size = Buffer.alloc(4);
  size.writeUInt32BE(json.length);
  return Buffer.concat([size, json, m.body]);
}

export function decode(bytes: Buffer): StoredMessage {
  const size = bytes.readUInt32BE(0);
  const head = JSON.parse(bytes.subarray(4, 4 + size).toString("utf8"), (_key, value: unknown) => {
    if (value && typeof value === "object" && !Array.isArray(value)) {
      const tagged = (value as Record<string, unknown>)[BUFFER_TAG];
      if (typeof tagged === "string" && Object.keys(value).length === 1) return Buffer.from(tagged, "base64");
    }
    return value;
  }) as Head;
  return { nodeId: head.n, traceId: head.t, body: Buffer.from(bytes.subarray(4 + size)), at: head.at, props: head.m ?? {}, unknown: head.u === 1, answer: head.a, ...(head.e === 1 ? { emitting: true } : {}), ...(head.p ? { payloadFromBody: head.p } : {}) };
}
