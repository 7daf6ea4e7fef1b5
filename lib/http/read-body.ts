import type { IncomingMessage } from "http";

/** The body is larger than the reader allows. */
export class BodyTooLargeError extends Error {
  constructor(readonly limit: number) {
    super(`The body is larger than ${limit} bytes`);
  }
}

/** The body did not arrive completely within the time allowed. */
export class BodyTimeoutError extends Error {
  constructor(readonly ms: number) {
    super(`The body was not complete within ${ms} ms`);
  }
}

/** The client went away before its body was complete. */
export class BodyAbortedError extends Error {
  constructor() {
    super("The request was aborted");
  }
}

/**
 * Reads a request body as raw bytes, rejecting with BodyTooLargeError as soon as it passes `limit` (by its
 * Content-Length, or while it streams), with BodyTimeoutError when it is not complete within `timeoutMs`,
 * and with BodyAbortedError when the client goes away. What was read is what was sent: nothing is decoded
 * or parsed.
 */
export function readRawBody(req: IncomingMessage, limit: number, timeoutMs?: number): Promise<Buffer> {
  const declared = Number(req.headers["content-length"]);
  if (Number.isFinite(declared) && declared > limit) return Promise.reject(new BodyTooLargeError(limit));
  return new Promise((resolve, reject) => {
    const timer = timeoutMs
      ? setTimeout(() => {
          cleanup();
          reject(new BodyTimeoutError(timeoutMs));
        }, timeoutMs)
      : undefined;
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limit) {
        cleanup();
        req.resume();
        reject(new BodyTooLargeError(limit));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => {
      cleanup();
      resolve(Buffer.concat(chunks, size));
    };
    const onError = (err: Error): void => {
      cleanup();
      reject(err);
    };
    const onAborted = (): void => onError(new BodyAbortedError());
    const cleanup = (): void => {
      clearTimeout(timer);
      req.off("data", onData);
      req.off("end", onEnd);
      req.off("error", onError);
      req.off("aborted", onAborted);
    };
    req.on("data", onData);
    req.on("end", onEnd);
    req.on("error", onError);
    req.on("aborted", onAborted);
  });
}
