import { NexusInputError } from "./errors";

/** A UTF-8 byte order mark: RFC 8259 section 8.1 lets a reader ignore it, and forbids sending one. */
const BOM = Buffer.from([0xef, 0xbb, 0xbf]);

/**
 * The bytes of a message body. Objects and arrays are serialised once; a JSON string or a Buffer is sent
 * byte for byte, never re-serialised, so the signature covers exactly what the flow gave, except a leading
 * byte order mark (a file written by a Windows tool has one), which is left out: JSON sent over a network
 * must not start with one (RFC 8259 section 8.1). `source` names
 * where the message came from in an error text (`msg.payload` unless the flow picked another).
 */
export function encodeMessageBody(payload: unknown, source = "msg.payload"): Buffer {
  if (Buffer.isBuffer(payload)) {
    // A body this function made is sent as it is: a caller that encodes once (the outbox) pays no second check.
    if (encoded.has(payload)) return payload;
    const body = payload.subarray(payload.subarray(0, 3).equals(BOM) ? 3 : 0);
    assertJson(body.toString("utf8"), "Buffer", source);
    return made(body);
  }
  if (typeof payload === "string") {
    const text = payload.charCodeAt(0) === 0xfeff ? payload.slice(1) : payload;
    assertJson(text, "string", source);
    return made(Buffer.from(text, "utf8"));
  }
  if (typeof payload === "object" && payload !== null) {
    let text: string | undefined;
    try {
      text = JSON.stringify(payload);
    } catch (err) {
      throw new NexusInputError("payload-unserialisable", { reason: (err as Error).message, source });
    }
    if (text === undefined) throw new NexusInputError("payload-unserialisable", { reason: "nothing to serialise", source });
    return made(Buffer.from(text, "utf8"));
  }
  throw new NexusInputError("send-payload-type", { type: describeType(payload), source });
}

/**
 * The bodies encodeMessageBody returned (each a new Buffer object: a view of a flow's Buffer, never the
 * flow's own object), so that encoding one again returns it unchanged without parsing it a second time.
 */
const encoded = new WeakSet<Buffer>();

function made(body: Buffer): Buffer {
  encoded.add(body);
  return body;
}

function assertJson(text: string, what: string, source: string): void {
  try {
    JSON.parse(text);
  } catch {
    throw new NexusInputError("payload-not-json", { what, source });
  }
}

/** A value's type for an error text: `number`, `undefined`, `null`, `array`, `object`. */
export function describeType(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  return typeof value;
}
