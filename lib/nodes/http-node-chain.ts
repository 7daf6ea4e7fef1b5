import type { Node, NodeAPI } from "node-red";
import type { IncomingMessage, ServerResponse } from "http";

export type Middleware = (req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void) => void;
export type ErrorMiddleware = (err: unknown, req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void) => void;

/**
 * What the core `http in` node puts in front of its callback on a route (node-red
 * `@node-red/nodes/core/network/21-httpin.js`), in its order: a cookie parser, `httpNodeMiddleware` (a
 * function or a list of them), CORS from `httpNodeCors`, and the metrics timer when the node's metrics are
 * on. The body parsers core adds next are left out: the webhook reads the raw bytes itself.
 */
export function httpNodeChain(RED: NodeAPI, node: Node): Middleware[] {
  const settings = RED.settings as unknown as { httpNodeMiddleware?: unknown; httpNodeCors?: unknown };
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const cookieParser = require("cookie-parser") as () => Middleware;
  const chain: Middleware[] = [cookieParser()];
  const user = settings.httpNodeMiddleware;
  if (typeof user === "function") chain.push(user as Middleware);
  else if (Array.isArray(user)) chain.push(...(user.flat(Infinity).filter((m) => typeof m === "function") as Middleware[]));
  if (settings.httpNodeCors) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const cors = require("cors") as (options: unknown) => Middleware;
    chain.push(cors(settings.httpNodeCors));
  }
  const metered = node as Node & { metric?: (event?: string, msg?: object, value?: unknown) => boolean };
  if (typeof metered.metric === "function" && metered.metric()) {
    chain.push((req, res, next) => {
      const started = process.hrtime.bigint();
      res.once("finish", () => {
        const msgid = (res as ServerResponse & { _msgid?: string })._msgid ?? "";
        metered.metric?.("response.time.millis", { _msgid: msgid }, (Number(process.hrtime.bigint() - started) / 1e6).toFixed(3));
        metered.metric?.("response.content-length.bytes", { _msgid: msgid }, res.getHeader("content-length"));
      });
      next();
    });
  }
  return chain;
}
