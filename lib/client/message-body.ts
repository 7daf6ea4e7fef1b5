import { NexusInputError } from "./errors";

/** A UTF-8 byte order mark: RFC 8259 section 8.1 lets a reader ignore it, and forbids sending one. */
const BOM = Buffer.from([0xef, 0xbb, 0xbf]);

/**
 * The bytes of a message body. Objects and arrays are serialised once; a JSON string or a Buffer is sent
 * byte for byte, never re-serialised, so the signature covers exactly what the flow gave, except a leading
 * byte order mark (a file written by a Windows tool has one), which is left out: JSON sent over a network
 * must not start with one (RFC 8259 section 8.1). An `EncodedBody` (bytes this function made before) is
 * returned as it is. `source` names where the message came from in an error text (`msg.payload` unless
 * the flow picked another).
 */
export function encodeMessageBody(payload: unknown, source = "msg.payload"): Buffer {
  if (payload instanceof EncodedBody) return payload.bytes;
  if (Buffer.isBuffer(payload)) {
    const body = payload.subarray(payload.subarray(0, 3).equals(BOM) ? 3 : 0);
    assertJson(body.toString("utf8"), "Buffer", source);
    return body;
  }
  if (typeof payload === "string") {
    const text = payload.charCodeAt(0) === 0xfeff ? payload.slice(1) : payload;
    assertJson(text, "string", source);
    return Buffer.from(text, "utf8");
  }
  if (typeof payload === "object" && payload !== null) {
    let text: string | undefined;
    try {
      text = JSON.stringify(payload);
    } catch (err) {
      throw new NexusInputError("payload-unserialisable", { reason: (err as Error).message, source });
    }
    if (text === undefined) throw new NexusInputError("payload-unserialisable", { reason: "nothing to serialise", source });
    return Buffer.from(text, "utf8");
  }
  throw new NexusInputError("send-payload-type", { type: describeType(payload), source });
}

/**
 * A body encodeMessageBody made earlier, given to it (or to `NexusClient.sendMessage`) again: its bytes are
 * sent as they are, not checked a second time (the outbox encodes a message once, before its first attempt,
 * and sends the same bytes on every later one).
 */
export class EncodedBody {
  constructor(readonly bytes: Buffer) {}
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
