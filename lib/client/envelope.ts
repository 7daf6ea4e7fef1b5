import { Transform } from "stream";
import { mayBeJsonObject, tryParseJson } from "../http/json-text";

/** The answer shape of every call: `{status: {code, message}, data}`; `code` 0 is success. */
export interface EnvelopeStatus {
  code: number;
  message?: string;
}

export interface Envelope<T = unknown> {
  status: EnvelopeStatus;
  data?: T;
}

export interface MediaData {
  mediaId: string;
  url: string;
  filename: string;
  mimetype: string;
  length: number;
}

export interface MessageData {
  ids: Array<{ id: string }>;
}

/** The synthetic URL a RichMedia message refers to. */
export const MEDIA_URL_PREFIX = "genesys://nexus/";

export function mediaUrl(mediaId: string): string {
  return MEDIA_URL_PREFIX + mediaId;
}

/** A `status.code` as servers write it: a number, or a string of digits (read as that number). */
function statusCode(code: unknown): number | undefined {
  if (typeof code === "number") return Number.isFinite(code) ? code : undefined;
  return typeof code === "string" && /^\s*-?\d+\s*$/.test(code) ? Number(code) : undefined;
}

export function isEnvelope(value: unknown): value is Envelope {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  const status = (value as { status?: unknown }).status;
  return typeof status === "object" && status !== null && typeof (status as { code?: unknown }).code === "number";
}

/** Envelopes are small; a body past this size is not read as one (it is media, or not from this API). */
export const ENVELOPE_MAX_BYTES = 1024 * 1024;

/**
 * Reads an envelope from an answer body; undefined when the body is not one. The body is recognised by its
 * content, whatever its `Content-Type` says (text/plain, octet-stream, none, `application/json;
 * charset=utf-8`): servers and gateways label answers carelessly, and a `status.code` other than 0 is a
 * failure however it is labelled. JSON is read as RFC 8259 allows (a leading byte order mark ignored).
 * A `status.code` written as a string of digits counts as that number.
 */
export function parseEnvelope(body: Buffer): Envelope | undefined {
  if (body.length === 0 || body.length > ENVELOPE_MAX_BYTES || !mayBeJsonObject(body)) return undefined;
  const value = tryParseJson(body) as { status?: { code?: unknown; message?: unknown } } | undefined;
  const status = value && typeof value === "object" && !Array.isArray(value) ? value.status : undefined;
  const code = status && typeof status === "object" ? statusCode(status.code) : undefined;
  if (code === undefined) return undefined;
  // The value was parsed here and is no one else's: it is normalised in place, not copied.
  const normal = status as EnvelopeStatus;
  normal.code = code;
  // A message that is not text is not shown in an error (it would read "[object Object]").
  if (normal.message !== undefined && typeof normal.message !== "string") delete normal.message;
  return value as Envelope;
}

/** Pulls `status.code`/`status.message` out of an error answer, whatever else it holds and however it is labelled. */
export function errorStatus(body: Buffer): { code?: number; message?: string } | undefined {
  if (body.length === 0 || body.length > 64 * 1024) return undefined;
  // An error page that is not JSON: the status line says enough.
  const value = tryParseJson(body) as { status?: { code?: unknown; message?: unknown }; message?: unknown } | undefined;
  if (!value || typeof value !== "object") return undefined;
  const status = value.status;
  if (status && typeof status === "object") {
    return { code: statusCode(status.code), message: typeof status.message === "string" ? status.message : undefined };
  }
  if (typeof value.message === "string") return { message: value.message };
  return undefined;
}

/** A streamed answer that turned out to be an envelope reporting failure (see `envelopeSniffer`). */
export class EnvelopeFailure extends Error {
  constructor(readonly status: EnvelopeStatus) {
    super(`The answer is an envelope with status.code ${status.code}`);
  }
}

/**
 * A pass-through for a streamed download that recognises an envelope by its content: bytes that may be a
 * JSON object are held (up to ENVELOPE_MAX_BYTES) until the end shows what they are; an envelope whose
 * `status.code` is not 0 fails the stream with an EnvelopeFailure instead of being written as the file.
 * Anything else passes through unchanged.
 */
export function envelopeSniffer(): Transform {
  let held: Buffer[] | undefined = [];
  let heldBytes = 0;
  const release = (stream: Transform): void => {
    for (const chunk of held ?? []) stream.push(chunk);
    held = undefined;
  };
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      if (!held) return callback(null, chunk);
      held.push(chunk);
      heldBytes += chunk.length;
      const start = Buffer.concat(held);
      held = [start];
      // Only whitespace (and a BOM) so far: wait for the first real byte.
      const undecided = /^(\xef\xbb\xbf)?[\x20\x09\x0a\x0d]*$/.test(start.toString("latin1"));
      if (!undecided && (!mayBeJsonObject(start) || heldBytes > ENVELOPE_MAX_BYTES)) release(this);
      callback();
    },
    flush(callback) {
      const envelope = held ? parseEnvelope(Buffer.concat(held)) : undefined;
      if (envelope && envelope.status.code !== 0) return callback(new EnvelopeFailure(envelope.status));
      release(this);
      callback();
    },
  });
}
