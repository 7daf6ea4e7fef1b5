import FormData from "form-data";
import { createReadStream, promises as fsp } from "fs";
import { tmpdir } from "os";
import { basename, dirname, join } from "path";
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
  /** Removes what the upload kept on disk (a spooled stream); called once the request has ended. */
  dispose(): Promise<void>;
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

/** Streams up to this size are kept in memory; larger ones are spooled to a temporary file. */
export const SPOOL_THRESHOLD = 1024 * 1024;

/**
 * Reads a stream: into memory while it is small, then into a temporary file, so that a large stream does
 * not weigh on memory. Fails with a clear error once it grows past `maxBytes`.
 */
async function collect(stream: Readable, maxBytes: number): Promise<Buffer | { spooled: string }> {
  const chunks: Buffer[] = [];
  let size = 0;
  let file: { path: string; handle: fsp.FileHandle } | undefined;
  try {
    for await (const chunk of stream) {
      const buf = typeof chunk === "string" ? Buffer.from(chunk) : (chunk as Buffer);
      size += buf.length;
      if (size > maxBytes) {
        stream.destroy();
        throw new NexusInputError("stream-too-large", { max: maxBytes });
      }
      if (file) {
        await file.handle.write(buf);
        continue;
      }
      chunks.push(buf);
      if (size > SPOOL_THRESHOLD) {
        const dir = await fsp.mkdtemp(join(tmpdir(), "nexus-upload-"));
        file = { path: join(dir, "spool"), handle: await fsp.open(join(dir, "spool"), "w") };
        await file.handle.write(Buffer.concat(chunks, size));
        chunks.length = 0;
      }
    }
  } catch (err) {
    if (file) {
      await file.handle.close();
      await removeSpool(file.path);
    }
    throw err;
  }
  if (!file) return Buffer.concat(chunks, size);
  await file.handle.close();
  return { spooled: file.path };
}

async function removeSpool(path: string): Promise<void> {
  await fsp.rm(dirname(path), { recursive: true, force: true });
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
  let spooled: string | undefined;
  if (Buffer.isBuffer(content)) data = content;
  else if (typeof content === "string") data = Buffer.from(content, "utf8");
  else if (isStream(content)) {
    const read = await collect(content instanceof Readable ? content : new Readable().wrap(content), maxStreamBytes);
    if (Buffer.isBuffer(read)) data = read;
    else spooled = read.spooled;
  } else if (content !== undefined && content !== null) {
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
      dispose: () => Promise.resolve(),
    };
  }
  if (spooled) {
    const spool = spooled;
    try {
      const upload = await prepareFileUpload(spool, filename, contentType, boundary, secret, encoding);
      return { ...upload, dispose: () => removeSpool(spool) };
    } catch (err) {
      await removeSpool(spool);
      throw err;
    }
  }
  return prepareFileUpload(path, filename, contentType, boundary, secret, encoding);
}

async function prepareFileUpload(
  path: string | undefined,
  filename: string,
  contentType: string,
  boundary: string,
  secret: string,
  encoding: SignatureEncoding,
): Promise<PreparedUpload> {

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
  const streamForm = (file = createReadStream(path)): FormData => newForm(boundary, file, filename, contentType, size);

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
      const file = createReadStream(path);
      const form = streamForm(file);
      form.on("error", (err) => out.destroy(err));
      // form-data does not pass a destroy on to its parts: a request that ends early closes the file here.
      out.on("close", () => file.destroy());
      return form.pipe(out);
    },
    dispose: () => Promise.resolve(),
  };
}
