import { NexusInputError } from "./errors";

/**
 * The bytes of a message body. Objects and arrays are serialised once; a JSON string or a Buffer is sent
 * byte for byte, never re-serialised, so the signature covers exactly what the flow gave. `source` names
 * where the message came from in an error text (`msg.payload` unless the flow picked another).
 */
export function encodeMessageBody(payload: unknown, source = "msg.payload"): Buffer {
  if (Buffer.isBuffer(payload)) {
    assertJson(payload.toString("utf8"), "Buffer", source);
    return payload;
  }
  if (typeof payload === "string") {
    assertJson(payload, "string", source);
    return Buffer.from(payload, "utf8");
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
