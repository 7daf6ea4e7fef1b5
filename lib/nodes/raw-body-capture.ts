import type { NodeAPI } from "node-red";
import type { IncomingMessage, ServerResponse } from "http";
import { BodyAbortedError, BodyTimeoutError, BodyTooLargeError, readRawBody } from "../http/read-body";

/** What the capture leaves on a request for the webhook route. */
export interface CapturedRequest extends IncomingMessage {
  /** Set by the capture: the body is this webhook route's to read, and no body parser touches it. */
  genesysBodyClaimed?: boolean;
  _body?: boolean;
  _parsedUrl?: { pathname?: string | null };
  body?: unknown;
  rawBody?: unknown;
}

/** An Express route (Express 4 `Route`, or `router` 2.x's for Express 5). */
export interface ExpressRoute {
  path: unknown;
  stack: Array<{ handle?: unknown }>;
  _handles_method(method: string): boolean;
}

/** An Express layer: a middleware or a route on a router's stack, with the path matching Express does. */
export interface ExpressLayer {
  handle?: unknown;
  name?: string;
  route?: ExpressRoute;
  regexp?: RegExp;
  /** The part of the path the last `match` matched. */
  path?: string;
  match(path: string): boolean;
}

interface ExpressRouter {
  stack: ExpressLayer[];
  caseSensitive?: boolean;
  strict?: boolean;
}

export interface ExpressApp {
  use: (...fns: unknown[]) => void;
  post: (path: string, ...handlers: unknown[]) => void;
  parent?: ExpressApp;
  /** Where a sub-app is mounted on its parent, once it is. */
  mountpath?: string | string[] | RegExp;
  _router?: ExpressRouter;
  router?: ExpressRouter;
}

type LayerClass = new (path: unknown, options: { sensitive?: boolean; strict?: boolean; end?: boolean }, fn: unknown) => ExpressLayer;

/** The router of an Express 4 (`_router`) or Express 5 (`router`) app. */
export function routerOf(app: ExpressApp): ExpressRouter | undefined {
  const router = app._router ?? app.router;
  return router && Array.isArray(router.stack) ? router : undefined;
}

function rootOf(app: ExpressApp): ExpressApp {
  return app.parent ? rootOf(app.parent) : app;
}

/** `layer.match(path)` as Express's router calls it: a path it cannot decode matches nothing here. */
export function matches(layer: ExpressLayer, path: string): boolean {
  try {
    return layer.match(path);
  } catch {
    return false;
  }
}

/** The layer Express's `app.use(mountpath, app)` made for a sub-app, built again with the same options. */
const mountLayers = new WeakMap<ExpressApp, ExpressLayer | null>();
function mountLayer(app: ExpressApp): ExpressLayer | undefined {
  let layer = mountLayers.get(app);
  if (layer === undefined) {
    const parent = app.parent ? routerOf(app.parent) : undefined;
    const Layer = parent?.stack[0]?.constructor as LayerClass | undefined;
    layer = parent && Layer && app.mountpath !== undefined ? new Layer(app.mountpath, { sensitive: parent.caseSensitive, strict: false, end: false }, () => undefined) : null;
    mountLayers.set(app, layer);
  }
  return layer ?? undefined;
}

/**
 * The path `app`'s own router sees for a request whose path on the root app is `pathname`, as Express's
 * router computes it when it passes the request down to a mounted app (`trim_prefix` in
 * express/lib/router/index.js); undefined when the request does not reach the app.
 */
export function pathWithin(app: ExpressApp, pathname: string): string | undefined {
  if (!app.parent) return pathname;
  const above = pathWithin(app.parent, pathname);
  if (above === undefined) return undefined;
  const layer = mountLayer(app);
  if (!layer || !matches(layer, above)) return undefined;
  const matched = layer.path ?? "";
  if (matched.length === 0) return above;
  if (above.slice(0, matched.length) !== matched) return undefined;
  const c = above[matched.length];
  if (c && c !== "/" && c !== ".") return undefined;
  const rest = above.slice(matched.length);
  return rest.startsWith("/") ? rest : `/${rest}`;
}

/**
 * The route Express gives a POST to `path` (the path the app's router sees) on `app`: the first route on
 * its stack whose path matches and that handles POST. Middleware on the stack is assumed to pass on.
 */
export function postRouteAt(app: ExpressApp, path: string): ExpressRoute | undefined {
  for (const layer of routerOf(app)?.stack ?? []) {
    if (layer.route && matches(layer, path) && layer.route._handles_method("POST")) return layer.route;
  }
  return undefined;
}

/**
 * A POST route of `@node-red/editor-api`'s editor app and admin API app (Node-RED 3.x and 4.x), relative to
 * `httpAdminRoot`. Express mounts those apps behind a closure, so their stacks cannot be read at run time;
 * these are their POST routes (lib/editor/index.js, lib/admin/index.js), `prefix` for a sub-app mounted on
 * the path, which answers everything below it (projects answers 404 when projects are off).
 */
interface HiddenRoute {
  path: string | RegExp;
  prefix?: boolean;
  editor?: boolean;
  when?: (settings: AdminSettings) => boolean;
}

interface AdminSettings {
  httpAdminRoot?: unknown;
  disableEditor?: unknown;
  runtimeState?: { enabled?: unknown };
  externalModules?: { palette?: { allowInstall?: unknown } };
  httpServerOptions?: Record<string, unknown>;
}

const HIDDEN_ADMIN_POSTS: HiddenRoute[] = [
  { path: "/flows" },
  { path: "/flows/state", when: (s) => s.runtimeState?.enabled === true },
  { path: "/flow" },
  { path: "/nodes", when: (s) => s.externalModules?.palette?.allowInstall !== false },
  { path: "/settings/user", editor: true },
  { path: "/settings/user/keys", prefix: true, editor: true },
  { path: "/projects", prefix: true, editor: true },
  { path: /^\/library\/([^\/]+)\/([^\/]+)\/(.*)/, editor: true },
];

/** Whether a route on `stack`, or on a router mounted on it, answers a POST to `path`. */
function answersPost(stack: ExpressLayer[] | undefined, path: string, depth = 0): boolean {
  for (const layer of stack ?? []) {
    if (!matches(layer, path)) continue;
    if (layer.route) {
      if (layer.route._handles_method("POST")) return true;
      continue;
    }
    // An express.Router() used as a middleware: its stack is on the handle.
    const inner = (layer.handle as { stack?: unknown } | undefined)?.stack;
    if (depth < 8 && Array.isArray(inner)) {
      const matched = layer.path ?? "";
      const rest = path.slice(matched.length);
      if (answersPost(inner as ExpressLayer[], rest.startsWith("/") ? rest : `/${rest}`, depth + 1)) return true;
    }
  }
  return false;
}

/**
 * Tells whether Node-RED's editor and admin API will answer a POST whose path on the root app is
 * `pathname`. In Node-RED the admin app (`@node-red/editor-api`'s, with the runtime's `RED.httpAdmin`
 * mounted on it) is mounted on the root app before the node app (node-red/red.js), so such a request never
 * reaches a node route, and its JSON body is the admin API's to parse (POST /flows, /auth/token...). Reads
 * the routes on the admin apps it can reach (`RED.httpAdmin`: routes of nodes such as inject and debug;
 * its parent: the login routes) and the editor's POST routes that Express hides (HIDDEN_ADMIN_POSTS).
 */
export function adminAnswersPost(RED: NodeAPI): (pathname: string) => boolean {
  const runtimeAdmin = RED.httpAdmin as unknown as ExpressApp | undefined | null;
  const settings = (RED.settings ?? {}) as unknown as AdminSettings;
  if (!runtimeAdmin || typeof runtimeAdmin.use !== "function" || settings.httpAdminRoot === false) return () => false;
  const editorApi = runtimeAdmin.parent;
  const apps = editorApi ? [editorApi, runtimeAdmin] : [runtimeAdmin];
  let hidden: ExpressLayer[] | undefined;
  const hiddenLayers = (): ExpressLayer[] => {
    if (hidden) return hidden;
    const Layer = (routerOf(editorApi as ExpressApp)?.stack[0]?.constructor ?? routerOf(runtimeAdmin)?.stack[0]?.constructor) as LayerClass | undefined;
    const options = settings.httpServerOptions ?? {};
    const sensitive = options["case sensitive routing"] === true;
    const strict = options["strict routing"] === true;
    hidden = [];
    if (!Layer) return hidden;
    for (const route of HIDDEN_ADMIN_POSTS) {
      if (route.editor && settings.disableEditor === true) continue;
      if (route.when && !route.when(settings)) continue;
      hidden.push(new Layer(route.path, { sensitive, strict: route.prefix ? false : strict, end: !route.prefix }, () => undefined));
    }
    return hidden;
  };
  const answers = (pathname: string): boolean => {
    for (const app of apps) {
      const within = pathWithin(app, pathname);
      if (within !== undefined && answersPost(routerOf(app)?.stack, within)) return true;
    }
    if (!editorApi) return false;
    const within = pathWithin(editorApi, pathname);
    return within !== undefined && hiddenLayers().some((layer) => matches(layer, within));
  };
  // A webhook gets the same few paths again and again: the answer is kept per path until a route is added
  // to or taken from the admin apps (a node installed, say).
  const known = new Map<string, boolean>();
  let shape = "";
  return (pathname) => {
    const now = apps.map((app) => routerOf(app)?.stack.length ?? 0).join(",");
    if (now !== shape || known.size >= 1024) {
      known.clear();
      shape = now;
    }
    let answer = known.get(pathname);
    if (answer === undefined) {
      answer = answers(pathname);
      known.set(pathname, answer);
    }
    return answer;
  };
}

/** What the capture keeps of one webhook route. */
export interface CaptureRoute {
  /** The node the route belongs to (for the warning about a shared path). */
  owner?: unknown;
}

const captures = new WeakMap<object, Map<ExpressApp, Map<ExpressRoute, CaptureRoute>>>();

/** Where a webhook route's body capture is kept; `remove` takes it away again. */
export interface RawBodyCapture {
  add(app: ExpressApp, route: ExpressRoute, capture: CaptureRoute): void;
  remove(app: ExpressApp, route: ExpressRoute): void;
}

/**
 * Keeps the raw bytes of the POST bodies that Express will route to a webhook. In a real Node-RED the
 * editor's admin app is mounted at the same root before the node app and parses JSON bodies, so the
 * webhook's route would find the stream drained and could only verify a re-serialisation. Like core's own
 * capture for `http in` nodes that skip body parsing (`rawBodyCapture` in 21-httpin.js), one middleware
 * goes first on the root app. For each POST it asks Express's own layers which route the request will
 * reach (the node app's mount, `httpNodeRoot`, case-sensitive and strict routing, route patterns, the
 * order of routes); only when that is a webhook route, and the editor's admin app (mounted before the
 * node app) will not answer the request itself (see adminAnswersPost), does it claim the body: it marks it as read
 * (`req._body`, which every body-parser honours) and passes on. The bytes themselves are read by the
 * route once the request gets there (see rawBodyOf), so a request that never reaches it (httpNodeAuth
 * refused it, say) is never read. It never answers a request.
 */
export function rawBodyCapture(RED: NodeAPI): RawBodyCapture | undefined {
  const httpNode = RED.httpNode as unknown as ExpressApp | undefined;
  if (!httpNode || typeof httpNode.use !== "function") return undefined;
  const root = rootOf(httpNode);
  let apps = captures.get(root);
  if (!apps) {
    const current = new Map<ExpressApp, Map<ExpressRoute, CaptureRoute>>();
    apps = current;
    const answeredByAdmin = adminAnswersPost(RED);
    captures.set(root, current);
    const middleware = (req: CapturedRequest, _res: ServerResponse, next: (err?: unknown) => void): void => {
      if (req.method !== "POST" || current.size === 0 || req._body || req.readableEnded) return next();
      // The path Express's router matches this request by (parseurl's, cached on the request).
      const pathname = req._parsedUrl?.pathname;
      if (typeof pathname !== "string") return next();
      for (const [app, routes] of current) {
        const within = pathWithin(app, pathname);
        const reached = within === undefined ? undefined : postRouteAt(app, within);
        if (reached && routes.has(reached)) {
          // The admin app comes first: what it answers (POST /flows, /auth/token...) is its to parse.
          if (answeredByAdmin(pathname)) break;
          req._body = true;
          req.genesysBodyClaimed = true;
          break;
        }
      }
      next();
    };
    root.use(middleware);
    const stack = routerOf(root)?.stack;
    const at = stack?.findIndex((layer) => layer.handle === middleware) ?? -1;
    if (stack && at > 0) {
      // First, but after Express's own init layers (Express 4), so that req and res are Express's.
      const init = stack.findIndex((layer) => layer.name === "expressInit");
      stack.splice(init + 1, 0, stack.splice(at, 1)[0]);
    }
  }
  const registry = apps;
  return {
    add: (app, route, options) => {
      const routes = registry.get(app) ?? new Map<ExpressRoute, CaptureRoute>();
      routes.set(route, options);
      registry.set(app, routes);
    },
    remove: (app, route) => {
      const routes = registry.get(app);
      routes?.delete(route);
      if (routes?.size === 0) registry.delete(app);
    },
  };
}

/** A webhook request's raw body, or why there is none. */
export type RawBody = Buffer | "too-large" | "timeout" | "aborted" | "consumed";

/**
 * Reads the raw body of a request that reached a webhook route: the bytes the capture claimed, or the
 * stream when nothing read it (no admin app in front), within `limit` bytes and `timeoutMs`; else the raw
 * bytes another parser kept. "consumed" when something parsed the body before: its bytes are gone.
 */
export async function rawBodyOf(req: CapturedRequest, limit: number, timeoutMs: number): Promise<RawBody> {
  if ((req.genesysBodyClaimed || !req._body) && !req.readableEnded) {
    try {
      return await readRawBody(req, limit, timeoutMs);
    } catch (err) {
      if (err instanceof BodyTooLargeError) return "too-large";
      if (err instanceof BodyTimeoutError) return "timeout";
      if (err instanceof BodyAbortedError) return "aborted";
      throw err;
    }
  }
  if (Buffer.isBuffer(req.rawBody)) return req.rawBody;
  if (Buffer.isBuffer(req.body)) return req.body;
  return "consumed";
}
