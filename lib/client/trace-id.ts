import { randomBytes } from "crypto";

/** A new B3 trace id: 32 lowercase hex digits. */
export function newTraceId(): string {
  return randomBytes(16).toString("hex");
}

// Anything printable that fits in a header; B3 ids are 16 or 32 hex digits, but a flow may carry its own.
const TRACE_ID = /^[\x21-\x7e]{1,128}$/;

export function isValidTraceId(value: unknown): value is string {
  return typeof value === "string" && TRACE_ID.test(value);
}
