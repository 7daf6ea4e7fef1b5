import FormData from "form-data";
import { createReadStream, promises as fsp } from "fs";
import { basename } from "path";
import { PassThrough, Readable } from "stream";
import { NexusInputError } from "./errors";
import { mediaTypeFor } from "./media-types";
import { describeType } from "./message-body";
import { createSignatureHmac, formatSignature, type SignatureEncoding } from "./signature";

/** What to upload: bytes in memory, a stream, or a file on disk. */
export interface UploadSource {
  /** Buffer, UTF-8 string or Readable stream. When absent, `path` is read from disk. */
  content?: unknown;
  /** A file to stream from disk when there is no content. */
  path?: string;
  /** Multipart filename; defaults to the basename of `path`, else `file`. */
  filename?: string;
  /** Part content type; defaults to one from the filename's extension, else application/octet-stream. */
  contentType?: string;
}

/** A multipart body ready to send any number of times, and its signature over the entire body. */
export interface PreparedUpload {
  filename: string;
  contentType: string;
  /** The bytes of the file (not of the multipart body). */
  fileLength: number;
  signature: string;
  headers: Record<string, string>;
  /** A fresh body for each attempt: a Buffer, or a new stream over the file. */
  body(): Buffer | Readable;
}

// Quotes and line breaks would break the Content-Disposition header; the rest of the name stays as given.
function safeFilename(name: string): string {
  return name.replace(/["\r\n\\]/g, "_");
}

function newForm(boundary: string, value: Buffer | Readable, filename: string, contentType: string, length: number): FormData {
  const form = new FormData();
  form.setBoundary(boundary);
  form.append("file", value, { filename, contentType, knownLength: length });
  return form;
}

function headersOf(form: FormData, length: number): Record<string, string> {
  return { "Content-Type": `multipart/form-data; boundary=${form.getBoundary()}`, "Content-Length": String(length) };
}

/** A Readable, or an old-style stream that only has `pipe` and `on`. */
export function isStream(value: unknown): value is NodeJS.ReadableStream {
  return (
    value instanceof Readable ||
    (typeof value === "object" && value !== null && typeof (value as Readable).pipe === "function" && typeof (value as Readable).on === "function")
  );
}

/** Reads a stream into memory, failing with a clear error once it grows past `maxBytes`. */
async function collect(stream: Readable, maxBytes: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    const buf = typeof chunk === "string" ? Buffer.from(chunk) : (chunk as Buffer);
    size += buf.length;
    if (size > maxBytes) {
      stream.destroy();
      throw new NexusInputError("stream-too-large", { max: maxBytes });
    }
    chunks.push(buf);
  }
  return Buffer.concat(chunks, size);
}

/**
 * Builds the multipart body (one part named `file`) and signs the entire body, boundaries included.
 * A file on disk is hashed in one streaming pass and streamed again when sent, so its size does not
 * weigh on memory.
 */
export async function prepareUpload(
  source: UploadSource,
  secret: string,
  encoding: SignatureEncoding,
  maxStreamBytes: number,
): Promise<PreparedUpload> {
  const { content, path } = source;
  const filename = safeFilename(source.filename || (path ? basename(path) : "") || "file");
  const contentType = source.contentType || mediaTypeFor(filename);
  const boundary = "----NexusBoundary" + Math.random().toString(16).slice(2) + Date.now().toString(16);

  let data: Buffer | undefined;
  if (Buffer.isBuffer(content)) data = content;
  else if (typeof content === "string") data = Buffer.from(content, "utf8");
  else if (isStream(content)) data = await collect(content instanceof Readable ? content : new Readable().wrap(content), maxStreamBytes);
  else if (content !== undefined && content !== null) {
    throw new NexusInputError("upload-payload-type", { type: describeType(content) });
  }

  if (data) {
    const form = newForm(boundary, data, filename, contentType, data.length);
    const body = form.getBuffer();
    return {
      filename,
      contentType,
      fileLength: data.length,
      signature: formatSignature(createSignatureHmac(secret).update(body).digest(), encoding),
      headers: headersOf(form, body.length),
      body: () => body,
    };
  }

  if (typeof path !== "string" || path === "") {
    throw new NexusInputError("nothing-to-upload");
  }
  let size: number;
  try {
    const stat = await fsp.stat(path);
    if (!stat.isFile()) throw new NexusInputError("not-a-file", { path });
    size = stat.size;
  } catch (err) {
    if (err instanceof NexusInputError) throw err;
    throw new NexusInputError("file-unreadable", { path, reason: (err as NodeJS.ErrnoException).code ?? (err as Error).message });
  }
  const streamForm = (): FormData => newForm(boundary, createReadStream(path), filename, contentType, size);

  const hmac = createSignatureHmac(secret);
  const pass = new PassThrough();
  const hashing = streamForm();
  // Measured before hashing: form-data counts the closing boundary only while the form is unread.
  const length = hashing.getLengthSync();
  hashing.on("error", (err) => pass.destroy(err));
  hashing.pipe(pass);
  try {
    for await (const chunk of pass) hmac.update(chunk as Buffer);
  } catch (err) {
    throw new NexusInputError("file-unreadable", { path, reason: (err as NodeJS.ErrnoException).code ?? (err as Error).message });
  }
  return {
    filename,
    contentType,
    fileLength: size,
    signature: formatSignature(hmac.digest(), encoding),
    headers: headersOf(hashing, length),
    body: () => {
      const out = new PassThrough();
      const form = streamForm();
      form.on("error", (err) => out.destroy(err));
      return form.pipe(out);
    },
  };
}
