import type { Node, NodeAPI } from "node-red";
import type { IncomingMessage, ServerResponse } from "http";
import { httpNodeChain } from "./http-node-chain";
import { writeJson } from "../http/write-json";
import { matches, rawBodyCapture, routerOf, type ExpressApp, type ExpressLayer, type ExpressRoute, type RawBodyCapture } from "./raw-body-capture";

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

/**
 * The first path segments that Node-RED's editor and admin API serve below `httpAdminRoot`, in the apps
 * `@node-red/editor-api` mounts on `RED.httpAdmin` (editor, theme, admin API, projects, the editor's static
 * files). Express mounts sub-apps behind a closure, so their routes cannot be read from `RED.httpAdmin`'s
 * stack; the routes registered on `RED.httpAdmin` itself (by nodes: `/inject/:id`, `/debug/...`, and those
 * of any other package) and on the editor API's app it is mounted on (the login routes, `/auth/...`) are
 * read from them at deploy. "" is the editor's own page at the admin root.
 */
const EDITOR_SEGMENTS = [
  // The admin API (@node-red/editor-api/lib/admin).
  "flows", "flow", "nodes", "context", "settings", "plugins", "diagnostics",
  // The editor (lib/editor): its page, icons, resources, locales, library, credentials, theme, projects,
  // the comms websocket and the static files of @node-red/editor-client.
  "", "icons", "resources", "locales", "library", "credentials", "theme", "projects", "comms", "red", "vendor", "types", "favicon.ico",
];

function trimSlashes(path: string): string {
  return path.replace(/^\/+|\/+$/g, "");
}

/** The first literal segment of the path an admin layer serves: from its route path, or its regexp. */
function firstSegment(layer: ExpressLayer): string | undefined {
  const path = layer.route?.path;
  if (typeof path === "string") return trimSlashes(path).split("/")[0];
  const source = layer.regexp?.source ?? "";
  const literal = /^\^\\\/([A-Za-z0-9_~-]+)(?:\\\/|\\\.|\?|\(|\$|\/)/.exec(source);
  return literal?.[1];
}

/**
 * Whether the editor's admin API serves `path` on the node routes, which happens when both share a root:
 * the admin app comes first on the root app, so a request to one of its paths never reaches a node route,
 * and a node route there can lock users out of the editor. Returns the admin path it collides with.
 */
export function adminPathOf(RED: NodeAPI, path: string): string | undefined {
  const settings = RED.settings as unknown as { httpAdminRoot?: unknown; httpNodeRoot?: unknown; httpServerOptions?: Record<string, unknown> };
  const admin = RED.httpAdmin as unknown as ExpressApp | undefined | null;
  if (!admin || settings.httpAdminRoot === false) return undefined;
  const sensitive = settings.httpServerOptions?.["case sensitive routing"] === true;
  const fold = (p: string): string => (sensitive ? p : p.toLowerCase());
  const adminRoot = fold(trimSlashes(String(settings.httpAdminRoot ?? "/")));
  const full = fold([trimSlashes(String(settings.httpNodeRoot ?? "/")), trimSlashes(path)].filter((p) => p !== "").join("/"));
  let below: string;
  if (adminRoot === "") below = full;
  else if (full === adminRoot) below = "";
  else if (full.startsWith(`${adminRoot}/`)) below = full.slice(adminRoot.length + 1);
  else return undefined;
  const segment = below.split("/")[0];
  const served = new Set(EDITOR_SEGMENTS);
  // RED.httpAdmin is the runtime's admin app, mounted on the editor API's app (which holds /auth/...):
  // both up to the root app.
  for (let app: ExpressApp | undefined = admin; app && (app === admin || app.parent); app = app.parent) {
    for (const layer of routerOf(app)?.stack ?? []) {
      const first = firstSegment(layer);
      if (first !== undefined && (layer.route || first !== "")) served.add(fold(first));
    }
  }
  // Below an admin root of its own (/admin), a pattern (`/admin/*`, `/admin/:x`) would take the editor's
  // paths as well: refused like them. On a root shared by all (/), a pattern is an ordinary catch-all, and
  // the capture never takes what the admin app answers (adminAnswersPost).
  const pattern = adminRoot !== "" && /[:*?+()[\]]/.test(segment);
  return served.has(segment) || pattern ? `/${[adminRoot, segment].filter((p) => p !== "").join("/")}` : undefined;
}

/** Which node a route on the node app belongs to, for the warning about a shared path. */
export interface RouteOwner {
  id: string;
  type: string;
  name?: string;
}

const webhookRoutes = new WeakMap<ExpressRoute, RouteOwner>();

function ownerOf(RED: NodeAPI, route: ExpressRoute): RouteOwner | undefined {
  const known = webhookRoutes.get(route);
  if (known) return known;
  const handles = new Set(route.stack.map((layer) => layer.handle));
  let found: RouteOwner | undefined;
  RED.nodes.eachNode((config) => {
    if (found || config.type !== "http in") return;
    const node = RED.nodes.getNode(config.id) as (Node & { callback?: unknown; name?: string }) | null;
    if (node?.callback && handles.has(node.callback)) found = { id: node.id, type: "http in", name: node.name };
  });
  return found;
}

/** A node as the warning names it: `http in "hook" (1a2b3c)`. */
export function describeOwner(owner: RouteOwner | undefined, other: string): string {
  if (!owner) return other;
  return owner.name ? `${owner.type} "${owner.name}" (${owner.id})` : `${owner.type} (${owner.id})`;
}

/** Another POST route whose path meets the webhook's: its node (undefined for a route of no node) and path. */
export interface OtherRoute {
  owner: RouteOwner | undefined;
  path: string;
}

/** Who else a webhook's path reaches, as Express orders the routes on the node app (see sharedRoutes). */
export interface SharedReport {
  /** Routes on the same path (they match exactly the same requests). */
  same: OtherRoute[];
  /** Which of this path's routes answers: the one registered first. */
  answers: OtherRoute | "this";
  /** Routes on other paths that some requests match as well as this one (a pattern such as `/:a`). */
  overlapping: OtherRoute[];
  /** This webhook and the overlapping routes in the order Express tries them. */
  order: Array<OtherRoute | "this">;
}

function samePath(a: ExpressLayer, b: ExpressLayer): boolean {
  if (!a.regexp || !b.regexp) return false;
  if (a.regexp.flags !== b.regexp.flags) return false;
  const fold = (r: RegExp): string => (r.flags.includes("i") ? r.source.toLowerCase() : r.source);
  return fold(a.regexp) === fold(b.regexp);
}

/**
 * Paths to try both routes with: each path as written, and each with its pattern segments (`:id`, `*`)
 * replaced by the other's literal segment at the same place (`/a/:x` and `/:y/b` meet on `/a/b`). Finding
 * whether two patterns overlap in general is finding two regular expressions' intersection; this catches
 * the overlaps people write.
 */
function samplePaths(a: string, b: string | undefined): string[] {
  const patterned = (segment: string): boolean => /[:*?+()[\]]/.test(segment);
  const merge = (x: string, y: string): string => {
    const ys = y.split("/");
    return x
      .split("/")
      .map((segment, i) => (patterned(segment) ? (ys[i] !== undefined && !patterned(ys[i]) && ys[i] !== "" ? ys[i] : "x") : segment))
      .join("/");
  };
  return b === undefined ? [a, merge(a, a)] : [a, b, merge(a, b), merge(b, a)];
}

/**
 * The other POST routes on the node app whose paths meet the webhook's: on the same path, or overlapping
 * it (patterns), and which answers. Express gives a request to the first route on the stack that matches
 * it (express/lib/router/index.js), so of routes on one path only the first ever answers, and of
 * overlapping routes a request that matches several goes to the first of those.
 */
export function sharedRoutes(RED: NodeAPI, app: ExpressApp, route: ExpressRoute, path: string): SharedReport | undefined {
  const stack = routerOf(app)?.stack ?? [];
  const own = stack.find((layer) => layer.route === route);
  if (!own) return undefined;
  const same: OtherRoute[] = [];
  const overlapping: OtherRoute[] = [];
  const order: Array<OtherRoute | "this"> = [];
  let answers: OtherRoute | "this" | undefined;
  for (const layer of stack) {
    if (!layer.route?._handles_method("POST")) continue;
    if (layer === own) {
      answers ??= "this";
      order.push("this");
      continue;
    }
    const theirs = layer.route.path;
    const other: OtherRoute = { owner: undefined, path: typeof theirs === "string" ? theirs : String(theirs) };
    if (samePath(own, layer)) {
      other.owner = ownerOf(RED, layer.route);
      same.push(other);
      answers ??= other;
    } else if (samplePaths(path, typeof theirs === "string" ? theirs : undefined).some((p) => matches(own, p) && matches(layer, p))) {
      other.owner = ownerOf(RED, layer.route);
      overlapping.push(other);
      order.push(other);
    }
  }
  if (same.length === 0 && overlapping.length === 0) return undefined;
  return { same, answers: answers ?? "this", overlapping, order };
}

type RuntimeEvents = { on(event: string, listener: () => void): void };
const deployChecks = new WeakMap<RuntimeEvents, Set<() => void>>();

/**
 * What runs after each deploy (`flows:started`), once every node has registered its routes. One listener
 * for all webhooks: Node-RED's event emitter would warn of a leak past ten.
 */
function afterDeploy(RED: NodeAPI): Set<() => void> | undefined {
  const events = (RED as NodeAPI & { events?: RuntimeEvents }).events;
  if (!events || typeof events.on !== "function") return undefined;
  let checks = deployChecks.get(events);
  if (!checks) {
    const all = new Set<() => void>();
    checks = all;
    deployChecks.set(events, all);
    events.on("flows:started", () => {
      for (const check of [...all]) check();
    });
  }
  return checks;
}

export interface WebhookRouteOptions {
  /** The route's path, as the core http in node takes it: a leading "/" added, nothing else changed. */
  path: string;
  /** Serves a request that reached the route, its body captured. */
  handler: Handler;
  /** Logs a failure in the chain (a middleware's `next(err)`); the route has answered 500 already. */
  warn: (err: unknown) => void;
  /**
   * Told after each deploy (`flows:started`) that changes who else the path reaches: the routes on the
   * same path and which answers, the routes that overlap it; undefined when none is left.
   */
  shared: (report: SharedReport | undefined) => void;
}

/** The webhook's route on `RED.httpNode`, with what takes it down again. */
export interface WebhookRoute {
  app: ExpressApp;
  route: ExpressRoute;
  /**
   * Puts the route back at the end of the stack when something took it away: the core http in node's
   * close handler removes every POST route whose path string equals its own, a webhook's included.
   * Returns whether it had to.
   */
  restore(): boolean;
  unmount(): void;
}

/**
 * Registers the webhook's POST route on `RED.httpNode` the way the core `http in` node registers its own
 * (21-httpin.js): cookie parser, `httpNodeMiddleware`, CORS, metrics, the handler, and an error handler
 * that answers 500 with a short JSON body (never Express's page with a stack) and logs a warning. Express
 * decides which requests reach it; the capture in front of Express only reads their bodies.
 */
export function mountWebhookRoute(RED: NodeAPI, node: Node, options: WebhookRouteOptions): WebhookRoute | undefined {
  const app = RED.httpNode as unknown as ExpressApp | undefined;
  if (!app || typeof app.post !== "function") return undefined;
  const capture: RawBodyCapture | undefined = rawBodyCapture(RED);
  const errorHandler = (err: unknown, _req: IncomingMessage, res: ServerResponse, _next: unknown): void => {
    options.warn(err);
    if (res.headersSent) {
      res.destroy();
      return;
    }
    writeJson(res, 500, { error: "Internal Server Error" });
  };
  app.post(options.path, ...httpNodeChain(RED, node), options.handler, errorHandler);
  const stack = routerOf(app)?.stack ?? [];
  const layer = [...stack].reverse().find((l) => l.route?.stack.some((h) => h.handle === options.handler));
  if (!layer?.route) return undefined;
  const route = layer.route;
  webhookRoutes.set(route, { id: node.id, type: node.type, name: (node as Node & { name?: string }).name });
  capture?.add(app, route, { owner: node });
  const restore = (): boolean => {
    const current = routerOf(app)?.stack;
    if (!current || current.includes(layer)) return false;
    current.push(layer);
    return true;
  };
  // Who shares the path is known once every node of a deploy has registered its routes.
  let told = "";
  const check = (): void => {
    restore();
    const shared = sharedRoutes(RED, app, route, options.path);
    const key = shared ? JSON.stringify(shared) : "";
    if (key !== told) options.shared(shared);
    told = key;
  };
  const checks = afterDeploy(RED);
  checks?.add(check);
  return {
    app,
    route,
    restore,
    unmount: () => {
      checks?.delete(check);
      capture?.remove(app, route);
      const current = routerOf(app)?.stack;
      if (!current) return;
      for (let i = current.length - 1; i >= 0; i--) if (current[i].route === route) current.splice(i, 1);
    },
  };
}
