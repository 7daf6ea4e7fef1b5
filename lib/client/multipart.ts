import { randomBytes, type Hmac } from "crypto";
import { createReadStream, promises as fsp } from "fs";
import { tmpdir } from "os";
import { basename, dirname, join } from "path";
import { Readable } from "stream";
import { NexusInputError } from "./errors";
import { mediaTypeFor } from "./media-types";
import { describeType } from "./message-body";
import { createSignatureHmac, formatSignature, type SignatureEncoding } from "./signature";

/**
 * What to upload: bytes in memory, a stream, or a file on disk. Empty content (an empty string, Buffer,
 * Uint8Array or ArrayBuffer, a stream that ends without a byte) counts as none: the file at `path` is
 * uploaded instead (a 0-byte file fails with `empty-file`), and with no file either the upload fails with
 * `nothing-to-upload`; both before any request.
 */
export interface UploadSource {
  /** Buffer, UTF-8 string, Uint8Array, ArrayBuffer or Readable stream. When absent or empty, `path` is read from disk. */
  content?: unknown;
  /** A file to stream from disk when the content is absent or empty. */
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
  /** A fresh body for each attempt: the parts in memory, or a new stream over the file. */
  body(): Buffer[] | Readable;
  /** Removes what the upload kept on disk (a spooled stream); called once the request has ended. */
  dispose(): Promise<void>;
}

/** How a stream being read for an upload is watched: for progress, and for a cancel from outside. */
export interface StreamGuard {
  /** The stream must bring a chunk at least this often, in ms. */
  idleMs: number;
  /** The error that ends a stream which brought nothing for `idleMs`. */
  stalled(): Error;
  /** Receives a function that ends the reading at once with an error (a cancel, a redeploy). */
  onCancel(stop: (err: Error) => void): void;
}

// Control characters (line breaks above all) would end the part's header line: a name could then add
// headers of its own to the signed body. Quotes and backslashes would end the quoted value.
const CONTROL = /[\x00-\x1f\x7f]/;

function safeFilename(name: string): string {
  return name.replace(/["\\\x00-\x1f\x7f]/g, "_");
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
 * not weigh on memory. Fails with a clear error once it grows past `maxBytes`, when it brings nothing for
 * the guard's idle time, or when the guard cancels it; the stream is destroyed then.
 */
async function collect(stream: Readable, maxBytes: number, guard: StreamGuard | undefined): Promise<Buffer | { spooled: string }> {
  const chunks: Buffer[] = [];
  let size = 0;
  let file: { path: string; handle: fsp.FileHandle } | undefined;
  const idle = guard ? setTimeout(() => stream.destroy(guard.stalled()), guard.idleMs) : undefined;
  guard?.onCancel((err) => stream.destroy(err));
  try {
    for await (const chunk of stream) {
      idle?.refresh();
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
  } finally {
    clearTimeout(idle);
    guard?.onCancel(() => undefined);
  }
  if (!file) return Buffer.concat(chunks, size);
  await file.handle.close();
  return { spooled: file.path };
}

async function removeSpool(path: string): Promise<void> {
  await fsp.rm(dirname(path), { recursive: true, force: true });
}

/** The multipart frame around one part named `file`: what goes before its bytes, and after. */
function frame(filename: string, contentType: string): { boundary: string; head: Buffer; tail: Buffer } {
  const boundary = "----NexusBoundary" + randomBytes(12).toString("hex");
  const head = Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${filename}"\r\nContent-Type: ${contentType}\r\n\r\n`, "utf8");
  return { boundary, head, tail: Buffer.from(`\r\n--${boundary}--\r\n`) };
}

function headersFor(boundary: string, length: number): Record<string, string> {
  return { "Content-Type": `multipart/form-data; boundary=${boundary}`, "Content-Length": String(length) };
}

/**
 * Builds the multipart body (one part named `file`) and signs the entire body, boundaries included. The
 * frame and the file's bytes are signed and sent as separate pieces, never copied into one buffer; a file
 * on disk is hashed in one streaming pass and streamed again when sent, so its size does not weigh on
 * memory.
 */
export async function prepareUpload(
  source: UploadSource,
  secret: string,
  encoding: SignatureEncoding,
  maxStreamBytes: number,
  guard?: StreamGuard,
): Promise<PreparedUpload> {
  const { content, path } = source;
  if (source.contentType !== undefined && CONTROL.test(source.contentType)) throw new NexusInputError("bad-mimetype");
  const filename = safeFilename(source.filename || (path ? basename(path) : "") || "file");
  const contentType = source.contentType || mediaTypeFor(filename);

  let data: Buffer | undefined;
  let spooled: string | undefined;
  const bytes = bytesOf(content);
  if (bytes) data = bytes;
  else if (isStream(content)) {
    const read = await collect(content instanceof Readable ? content : new Readable().wrap(content), maxStreamBytes, guard);
    if (Buffer.isBuffer(read)) data = read;
    else spooled = read.spooled;
  } else if (content !== undefined && content !== null) {
    throw new NexusInputError("upload-payload-type", { type: describeType(content) });
  }
  // Empty content is no content: the file named by `path` is uploaded, or nothing at all.
  if (data?.length === 0) data = undefined;

  const { boundary, head, tail } = frame(filename, contentType);
  if (data) {
    const parts = [head, data, tail];
    const hmac = createSignatureHmac(secret);
    for (const part of parts) hmac.update(part);
    return {
      filename,
      contentType,
      fileLength: data.length,
      signature: formatSignature(hmac.digest(), encoding),
      headers: headersFor(boundary, head.length + data.length + tail.length),
      body: () => parts,
      dispose: () => Promise.resolve(),
    };
  }
  if (spooled) {
    const spool = spooled;
    try {
      const upload = await prepareFileUpload(spool, filename, contentType, head, tail, boundary, secret, encoding);
      return { ...upload, dispose: () => removeSpool(spool) };
    } catch (err) {
      await removeSpool(spool);
      throw err;
    }
  }
  return prepareFileUpload(path, filename, contentType, head, tail, boundary, secret, encoding);
}

/** The bytes of content held in memory (Buffer, string, Uint8Array, ArrayBuffer); undefined for anything else. */
function bytesOf(content: unknown): Buffer | undefined {
  if (Buffer.isBuffer(content)) return content;
  if (typeof content === "string") return Buffer.from(content, "utf8");
  if (content instanceof Uint8Array) return Buffer.from(content.buffer, content.byteOffset, content.byteLength);
  if (content instanceof ArrayBuffer) return Buffer.from(content);
  return undefined;
}

/** Exactly `size` bytes of a file, whatever was appended since it was measured. */
function fileBytes(path: string, size: number): Readable {
  return size > 0 ? createReadStream(path, { start: 0, end: size - 1 }) : Readable.from([]);
}

/** Hashes a file's first `size` bytes; resolves with how many there were. */
async function hashFile(path: string, size: number, hmac: Hmac): Promise<number> {
  let read = 0;
  for await (const chunk of fileBytes(path, size)) {
    read += (chunk as Buffer).length;
    hmac.update(chunk as Buffer);
  }
  return read;
}

async function prepareFileUpload(
  path: string | undefined,
  filename: string,
  contentType: string,
  head: Buffer,
  tail: Buffer,
  boundary: string,
  secret: string,
  encoding: SignatureEncoding,
): Promise<PreparedUpload> {
  if (typeof path !== "string" || path === "") {
    throw new NexusInputError("nothing-to-upload");
  }
  const unreadable = (err: unknown): NexusInputError =>
    err instanceof NexusInputError ? err : new NexusInputError("file-unreadable", { path, reason: (err as NodeJS.ErrnoException).code ?? (err as Error).message });
  let size: number;
  let digest: Buffer;
  try {
    const stat = await fsp.stat(path);
    if (!stat.isFile()) throw new NexusInputError("not-a-file", { path });
    // A 0-byte file is nothing to upload, as an empty payload is: no empty media is made.
    if (stat.size === 0) throw new NexusInputError("empty-file", { path });
    size = stat.size;
    const hmac = createSignatureHmac(secret).update(head);
    if ((await hashFile(path, size, hmac)) !== size) throw new NexusInputError("file-changed", { path });
    digest = hmac.update(tail).digest();
  } catch (err) {
    throw unreadable(err);
  }
  return {
    filename,
    contentType,
    fileLength: size,
    signature: formatSignature(digest, encoding),
    headers: headersFor(boundary, head.length + size + tail.length),
    // The bytes are hashed again as they go out; the closing boundary follows only when they are the
    // bytes that were signed, so a file changed in between never reaches the server as a complete body.
    body: () =>
      Readable.from(
        (async function* () {
          yield head;
          const hmac = createSignatureHmac(secret).update(head);
          let sent = 0;
          for await (const chunk of fileBytes(path, size)) {
            sent += (chunk as Buffer).length;
            hmac.update(chunk as Buffer);
            yield chunk as Buffer;
          }
          if (sent !== size || !hmac.update(tail).digest().equals(digest)) throw new NexusInputError("file-changed", { path });
          yield tail;
        })(),
        { objectMode: false },
      ),
    dispose: () => Promise.resolve(),
  };
}
