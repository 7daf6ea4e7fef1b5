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

export function isEnvelope(value: unknown): value is Envelope {
  if (typeof value !== "object" || value === null) return false;
  const status = (value as { status?: unknown }).status;
  return typeof status === "object" && status !== null && typeof (status as { code?: unknown }).code === "number";
}

/** Reads an envelope from an answer body; undefined when the body is not one. */
export function parseEnvelope(body: Buffer, contentType: string | undefined): Envelope | undefined {
  const looksJson = contentType ? /json/i.test(contentType) : body.length > 0 && body[0] === 0x7b;
  if (!looksJson || body.length === 0) return undefined;
  try {
    const value: unknown = JSON.parse(body.toString("utf8"));
    return isEnvelope(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

/** Pulls `status.code`/`status.message` out of an error answer, whatever else it holds. */
export function errorStatus(body: Buffer, contentType: string | undefined): { code?: number; message?: string } | undefined {
  if (body.length === 0 || body.length > 64 * 1024) return undefined;
  try {
    const value = JSON.parse(body.toString("utf8")) as { status?: { code?: unknown; message?: unknown }; message?: unknown };
    const status = value && typeof value === "object" ? value.status : undefined;
    if (status && typeof status === "object") {
      return {
        code: typeof status.code === "number" ? status.code : undefined,
        message: typeof status.message === "string" ? status.message : undefined,
      };
    }
    if (typeof value?.message === "string") return { message: value.message };
  } catch {
    // An error page that is not JSON: the status line says enough.
    void contentType;
  }
  return undefined;
}
