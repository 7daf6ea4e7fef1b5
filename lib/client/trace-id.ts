import { randomUUID } from "crypto";
import { NexusInputError } from "./errors";

/**
 * A new B3 trace id: 32 lowercase hex digits. Taken from a random UUID (122 random bits), which Node
 * draws from a cached entropy pool: much cheaper per message than a fresh randomBytes call.
 */
export function newTraceId(): string {
  const u = randomUUID();
  return u.slice(0, 8) + u.slice(9, 13) + u.slice(14, 18) + u.slice(19, 23) + u.slice(24);
}

// Anything printable that fits in a header; B3 ids are 16 or 32 hex digits, but a flow may carry its own.
const TRACE_ID = /^[\x21-\x7e]{1,128}$/;

export function isValidTraceId(value: unknown): value is string {
  return typeof value === "string" && TRACE_ID.test(value);
}

/**
 * The trace id a call uses for the id a flow gave (`msg.traceId`): a new one when none was given (undefined,
 * null or ""), a safe integer as its digits, a valid id as it is. Throws a NexusInputError (`bad-trace-id`)
 * for anything else: a bad id is refused, never replaced silently.
 */
export function traceIdOf(given: unknown): string {
  if (given === undefined || given === null || given === "") return newTraceId();
  const id = typeof given === "number" && Number.isSafeInteger(given) ? String(given) : given;
  if (!isValidTraceId(id)) throw new NexusInputError("bad-trace-id");
  return id;
}
