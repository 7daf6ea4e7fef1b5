import type { NodeAPI } from "node-red";
import type { IncomingMessage, ServerResponse } from "http";

type Middleware = (req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void) => void;

/**
 * What a user configured for HTTP nodes, in the order the core `http in` node applies it in front of its
 * routes: `httpNodeMiddleware` (a function or a list of them), then CORS from `httpNodeCors`.
 */
export function httpNodeChain(RED: NodeAPI): Middleware[] {
  const settings = RED.settings as unknown as { httpNodeMiddleware?: unknown; httpNodeCors?: unknown };
  const chain: Middleware[] = [];
  const user = settings.httpNodeMiddleware;
  if (typeof user === "function") chain.push(user as Middleware);
  else if (Array.isArray(user)) chain.push(...(user.filter((m) => typeof m === "function") as Middleware[]));
  if (settings.httpNodeCors) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const cors = require("cors") as (options: unknown) => Middleware;
    chain.push(cors(settings.httpNodeCors));
  }
  return chain;
}

/** Runs a chain of Express-style middleware, then `last`; an error passed on goes to `failed`. */
export function runChain<Req extends IncomingMessage>(
  chain: Middleware[],
  req: Req,
  res: ServerResponse,
  last: (req: Req, res: ServerResponse) => void,
  failed: (err: unknown) => void,
): void {
  let at = 0;
  const next = (err?: unknown): void => {
    if (err !== undefined && err !== null && err !== "route") return failed(err);
    const step = chain[at++];
    if (!step) return last(req, res);
    try {
      step(req, res, next);
    } catch (thrown) {
      failed(thrown);
    }
  };
  next();
}
