import type { ServerResponse } from "http";

/** An Express response (`res` on a route of an Express app): what `res.json` needs. */
interface ExpressResponse extends ServerResponse {
  app?: unknown;
  json?: (body: unknown) => unknown;
}

/**
 * Answers with a JSON body, unless the response is already answered or gone. Carries what the core
 * `http response` node's JSON answers carry: it answers through Express's `res.jsonp`
 * (@node-red/nodes/core/network/21-httpin.js), which sets `X-Content-Type-Options: nosniff`
 * (express/lib/response.js) next to `Content-Type: application/json; charset=utf-8`, and Express's
 * `res.send` adds `Content-Length` and the app's `ETag`. On an Express route the same is done through
 * `res.json` (with no JSONP callback: a webhook answers no script); elsewhere the headers are written as such.
 */
export function writeJson(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent || res.destroyed) return;
  const express = res as ExpressResponse;
  if (express.app && typeof express.json === "function") {
    res.setHeader("X-Content-Type-Options", "nosniff");
    res.statusCode = status;
    express.json(body);
    return;
  }
  const text = JSON.stringify(body);
  // All in writeHead, as a flat list: Node writes them as they are (no header map built per answer).
  res.writeHead(status, ["Content-Type", "application/json; charset=utf-8", "Content-Length", String(Buffer.byteLength(text)), "X-Content-Type-Options", "nosniff"]);
  res.end(text);
}
