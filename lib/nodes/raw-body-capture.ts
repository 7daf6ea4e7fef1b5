import type { NodeAPI } from "node-red";
import type { IncomingMessage, ServerResponse } from "http";
import { BodyTooLargeError, readRawBody } from "../http/read-body";

/** What the capture leaves on a request for the webhook route. */
export interface CapturedRequest extends IncomingMessage {
  genesysRawBody?: Buffer;
  genesysBodyTooLarge?: boolean;
  _body?: boolean;
  body?: unknown;
  rawBody?: unknown;
}

interface Layer {
  handle?: unknown;
  route?: { path?: string; methods?: Record<string, boolean>; stack?: Array<{ handle?: unknown }> };
}

interface ExpressApp {
  use: (fn: unknown) => void;
  parent?: ExpressApp;
  _router?: { stack: Layer[] };
  router?: { stack: Layer[] };
}

/** The layer stack of an Express 4 (`_router`) or Express 5 (`router`) app. */
export function routerStack(app: ExpressApp): Layer[] | undefined {
  return app._router?.stack ?? app.router?.stack;
}

function rootOf(app: ExpressApp): ExpressApp {
  return app.parent ? rootOf(app.parent) : app;
}

export function normalizePath(path: string): string {
  const p = ("/" + path).replace(/\/{2,}/g, "/");
  return p.length > 1 ? p.replace(/\/$/, "") : p;
}

/** Paths whose raw POST bodies are kept, each with its size limit. */
export interface RawBodyRoutes {
  add(path: string, limit: number): void;
  delete(path: string): void;
}

const captures = new WeakMap<object, Map<string, number>>();

/**
 * Keeps the raw bytes of POST bodies sent to webhook paths. In a real Node-RED the editor's admin app is
 * mounted at the same root and parses JSON bodies before node routes see them, so a route-level reader
 * would find the stream drained and could only verify a re-serialisation. Like the core `http in` node,
 * this puts one middleware first on the root app: it reads the bytes of our paths only, marks the body
 * as parsed so no other parser touches it, and passes on.
 */
export function rawBodyRoutes(RED: NodeAPI): RawBodyRoutes {
  const httpNode = RED.httpNode as unknown as ExpressApp | undefined;
  const root = httpNode && typeof httpNode.use === "function" ? rootOf(httpNode) : undefined;
  let routes = root ? captures.get(root) : undefined;
  if (root && !routes) {
    const known = new Map<string, number>();
    routes = known;
    captures.set(root, known);
    const capture = (req: CapturedRequest, _res: ServerResponse, next: (err?: unknown) => void): void => {
      if (req.method !== "POST" || known.size === 0 || req._body || req.readableEnded) return next();
      const limit = known.get(normalizePath(new URL(req.url ?? "/", "http://x").pathname));
      if (limit === undefined) return next();
      readRawBody(req, limit).then(
        (body) => {
          req.genesysRawBody = body;
          req._body = true;
          next();
        },
        (err: unknown) => {
          if (!(err instanceof BodyTooLargeError)) return next(err);
          req.genesysBodyTooLarge = true;
          req._body = true;
          next();
        },
      );
    };
    root.use(capture);
    const stack = routerStack(root);
    const at = stack?.findIndex((layer) => layer.handle === capture) ?? -1;
    if (stack && at > 0) stack.unshift(stack.splice(at, 1)[0]);
  }
  const nodeRoot = normalizePath(String((RED.settings as unknown as { httpNodeRoot?: unknown }).httpNodeRoot ?? "/"));
  const variants = (path: string): string[] => [normalizePath(path), normalizePath(`${nodeRoot}/${path}`)];
  return {
    add: (path, limit) => variants(path).forEach((p) => routes?.set(p, limit)),
    delete: (path) => variants(path).forEach((p) => routes?.delete(p)),
  };
}

/** Reads the raw body of a webhook request, whichever way it came: captured, unread, or kept raw by another parser. */
export async function rawBodyOf(req: CapturedRequest, limit: number): Promise<Buffer | "too-large" | undefined> {
  if (req.genesysBodyTooLarge) return "too-large";
  if (req.genesysRawBody) return req.genesysRawBody;
  if (!req._body && !req.readableEnded) {
    try {
      return await readRawBody(req, limit);
    } catch (err) {
      if (err instanceof BodyTooLargeError) return "too-large";
      throw err;
    }
  }
  if (Buffer.isBuffer(req.rawBody)) return req.rawBody;
  if (Buffer.isBuffer(req.body)) return req.body;
  return undefined;
}
