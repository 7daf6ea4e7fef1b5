import { NexusInputError } from "./errors";

/**
 * The bytes of a message body. Objects and arrays are serialised once; a JSON string or a Buffer is sent
 * byte for byte, never re-serialised, so the signature covers exactly what the flow gave.
 */
export function encodeMessageBody(payload: unknown): Buffer {
  if (Buffer.isBuffer(payload)) {
    assertJson(payload.toString("utf8"), "The Buffer in msg.payload");
    return payload;
  }
  if (typeof payload === "string") {
    assertJson(payload, "The string in msg.payload");
    return Buffer.from(payload, "utf8");
  }
  if (typeof payload === "object" && payload !== null) {
    let text: string | undefined;
    try {
      text = JSON.stringify(payload);
    } catch (err) {
      throw new NexusInputError(
        `msg.payload cannot be sent as JSON: ${(err as Error).message}. Remove circular references and BigInt values.`,
      );
    }
    if (text === undefined) throw new NexusInputError("msg.payload cannot be sent as JSON.");
    return Buffer.from(text, "utf8");
  }
  throw new NexusInputError(
    `msg.payload must be an object, an array, a JSON string or a Buffer holding JSON to send a message, not ${describeType(payload)}.`,
  );
}

function assertJson(text: string, what: string): void {
  try {
    JSON.parse(text);
  } catch {
    throw new NexusInputError(`${what} is not valid JSON, so it was not sent. Send an object, or a JSON string.`);
  }
}

/** Words for a value's type in an error text: "a number", "undefined", "a boolean". */
export function describeType(value: unknown): string {
  if (value === undefined) return "undefined";
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  const type = typeof value;
  return /^[aeiou]/.test(type) ? `an ${type}` : `a ${type}`;
}
