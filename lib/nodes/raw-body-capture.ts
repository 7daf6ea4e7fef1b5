import type { NodeAPI } from "node-red";
import type { IncomingMessage, ServerResponse } from "http";
import { BodyTimeoutError, BodyTooLargeError, readRawBody } from "../http/read-body";
import { writeJson } from "../http/write-json";
import { httpNodeChain, runChain } from "./http-node-chain";
import { RateLog } from "./rate-log";

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
  /** Where a sub-app is mounted, once it is. */
  mountpath?: string | string[];
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

/** A path as Express routes match it: without regard to case, and with or without a trailing slash. */
export function routeKey(path: string): string {
  return normalizePath(path).toLowerCase();
}

/** What the capture needs to know of a webhook path: its body limit, and how long a body may take. */
export interface RawBodyRoute {
  limit: number;
  timeoutMs: number;
  /**
   * Serves the request at once, once its body is read: the webhook's whole chain (the user's
   * httpNodeMiddleware, CORS, the node), without the rest of Node-RED's HTTP stack in front of it.
   */
  serve?: (req: CapturedRequest, res: ServerResponse) => void;
}

/** Paths whose raw POST bodies are kept. Several webhooks may share a path: each adds and deletes its own. */
export interface RawBodyRoutes {
  add(path: string, route: RawBodyRoute): void;
  delete(path: string, route: RawBodyRoute): void;
  /**
   * Serves POSTs to `path` on Node-RED's node app with `handler`, behind what the user configured for HTTP
   * nodes (httpNodeMiddleware, httpNodeCors): at once from the capture, or through Express where the
   * capture cannot serve. Returns what takes the route down again.
   */
  mount(path: string, route: RawBodyRoute, handler: (req: CapturedRequest, res: ServerResponse) => void, failed: (err: unknown, res: ServerResponse) => void): () => void;
}

interface Capture {
  /** The routes of each path, in the order the webhooks came; the first is the one Express answers with. */
  routes: Map<string, RawBodyRoute[]>;
  /** Requests whose body never came whole: counted, logged once a minute. */
  aborted: RateLog;
}

const captures = new WeakMap<object, Capture>();

/**
 * Keeps the raw bytes of POST bodies sent to webhook paths. In a real Node-RED the editor's admin app is
 * mounted at the same root and parses JSON bodies before node routes see them, so a route-level reader
 * would find the stream drained and could only verify a re-serialisation. Like the core `http in` node,
 * this puts one middleware first on the root app: it reads the bytes of our paths only (matched as Express
 * matches routes), marks the body as parsed so no other parser touches it, and passes on. A body that
 * takes longer than its route allows gets 408; one the client abandons is counted, not logged each time.
 */
export function rawBodyRoutes(RED: NodeAPI, abortedFirst: string, abortedMore: (count: number, seconds: number) => string): RawBodyRoutes {
  const httpNode = RED.httpNode as unknown as ExpressApp | undefined;
  const root = httpNode && typeof httpNode.use === "function" ? rootOf(httpNode) : undefined;
  let capture = root ? captures.get(root) : undefined;
  if (root && !capture) {
    const known = new Map<string, RawBodyRoute[]>();
    const current: Capture = {
      routes: known,
      aborted: new RateLog((line) => RED.log.warn(line), abortedFirst, abortedMore),
    };
    capture = current;
    captures.set(root, current);
    // With httpNodeAuth, requests must pass Node-RED's own check in front of the node routes.
    const direct = !(RED.settings as unknown as { httpNodeAuth?: unknown }).httpNodeAuth;
    const middleware = (req: CapturedRequest, res: ServerResponse, next: (err?: unknown) => void): void => {
      if (req.method !== "POST" || known.size === 0 || req._body || req.readableEnded) return next();
      let pathname: string;
      try {
        pathname = new URL(req.url ?? "/", "http://x").pathname;
      } catch {
        return next();
      }
      const route = known.get(routeKey(pathname))?.[0];
      if (route === undefined) return next();
      readRawBody(req, route.limit, route.timeoutMs).then(
        (body) => {
          req.genesysRawBody = body;
          req._body = true;
          if (direct && route.serve) return route.serve(req, res);
          next();
        },
        (err: unknown) => {
          if (err instanceof BodyTooLargeError) {
            req.genesysBodyTooLarge = true;
            req._body = true;
            if (direct && route.serve) return route.serve(req, res);
            return next();
          }
          if (err instanceof BodyTimeoutError) {
            // Genesys waits 10 s for the whole exchange: a body this slow is cut, its socket closed.
            res.setHeader("Connection", "close");
            res.on("finish", () => req.socket.destroy());
            writeJson(res, 408, { error: "Request Timeout" });
            return;
          }
          current.aborted.hit();
          req.socket.destroy();
        },
      );
    };
    root.use(middleware);
    const stack = routerStack(root);
    const at = stack?.findIndex((layer) => layer.handle === middleware) ?? -1;
    if (stack && at > 0) {
      // First, but after Express's own init layers (Express 4), so that req and res are Express's.
      const init = stack.findIndex((layer) => (layer as { name?: string }).name === "expressInit");
      stack.splice(init + 1, 0, stack.splice(at, 1)[0]);
    }
  }
  const nodeRoot = normalizePath(String((RED.settings as unknown as { httpNodeRoot?: unknown }).httpNodeRoot ?? "/"));
  // Where the node app is mounted, when it is; else both the bare path and the one below httpNodeRoot.
  const variants = (path: string): string[] => {
    const mount = httpNode?.mountpath;
    if (typeof mount === "string") return [routeKey(`${mount}/${path}`)];
    return [...new Set([routeKey(path), routeKey(`${nodeRoot}/${path}`)])];
  };
  const routes: RawBodyRoutes = {
    mount: (path, route, handler, failed) => {
      const chain = httpNodeChain(RED);
      route.serve = (req, res) => runChain(chain, req, res, handler, (err) => failed(err, res));
      routes.add(path, route);
      (RED.httpNode as unknown as { post(path: string, ...handlers: unknown[]): void }).post(path, ...chain, handler);
      return () => {
        routes.delete(path, route);
        const stack = httpNode ? routerStack(httpNode) : undefined;
        if (!stack) return;
        for (let i = stack.length - 1; i >= 0; i--) {
          if (stack[i].route?.stack?.some((layer) => layer.handle === handler)) stack.splice(i, 1);
        }
      };
    },
    add: (path, route) => {
      for (const key of variants(path)) capture?.routes.set(key, [...(capture.routes.get(key) ?? []), route]);
    },
    delete: (path, route) => {
      for (const key of variants(path)) {
        const left = (capture?.routes.get(key) ?? []).filter((r) => r !== route);
        if (left.length > 0) capture?.routes.set(key, left);
        else capture?.routes.delete(key);
      }
    },
  };
  return routes;
}

/** Reads the raw body of a webhook request, whichever way it came: captured, unread, or kept raw by another parser. */
export async function rawBodyOf(req: CapturedRequest, route: RawBodyRoute): Promise<Buffer | "too-large" | undefined> {
  if (req.genesysBodyTooLarge) return "too-large";
  if (req.genesysRawBody) return req.genesysRawBody;
  if (!req._body && !req.readableEnded) {
    try {
      return await readRawBody(req, route.limit, route.timeoutMs);
    } catch (err) {
      if (err instanceof BodyTooLargeError) return "too-large";
      throw err;
    }
  }
  if (Buffer.isBuffer(req.rawBody)) return req.rawBody;
  if (Buffer.isBuffer(req.body)) return req.body;
  return undefined;
}
