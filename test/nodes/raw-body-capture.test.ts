import assert from "assert/strict";
import express from "express";
import http from "http";
import type { AddressInfo } from "net";
import { pathWithin, postRouteAt, type CapturedRequest, type ExpressApp } from "../../lib/nodes/raw-body-capture";

/** Request paths that Express may or may not route to a route on `/X/agent` (or a pattern). */
const paths = [
  "/X/agent", "/x/AGENT", "/X/agent/", "/X/agent//", "/X//agent", "//X/agent", "/X/./agent", "/q/../X/agent", "/X/%2e/agent",
  "/q/%2e%2e/X/agent", "/X/agent/.", "//evil.example/X/agent", "/X\\agent", "/X/agent?x=1", "/X/agent%2F", "/X/agen%74",
  "/agent/123", "/agent/", "/agent/1/2", "/agent/%E0%A4%A", "/hook/abc", "/hook/", "/hook", "/Hook/a/b",
].flatMap((p) => [p, `/api${p}`, `/api/${p}`, `/API${p}`, `/apiX${p}`]);

/**
 * The capture's prediction (which route Express gives a POST to) against Express itself: for every path,
 * a real request through a root app, an admin app that passes everything on, and the node app mounted
 * where Node-RED mounts it, with each routing option Node-RED passes from httpServerOptions.
 */
describe("the raw-body capture predicts Express's routing", () => {
  for (const mount of ["/", "/api/"]) {
    for (const options of [{}, { "case sensitive routing": true }, { "strict routing": true }, { "case sensitive routing": true, "strict routing": true }]) {
      it(`for a node app on ${mount} with ${JSON.stringify(options)}`, async () => {
        const root = express();
        const admin = express();
        const nodeApp = express();
        for (const app of [root, admin, nodeApp]) {
          for (const [k, v] of Object.entries(options)) app.set(k, v);
          // No error page printed for the path that cannot be decoded (400).
          app.set("env", "test");
        }
        admin.use(express.json());
        admin.post("/flows", (_req, res) => void res.status(204).end());
        root.use("/", admin);
        root.use(mount, nodeApp);
        const reached: string[] = [];
        const names = new Map<unknown, string>();
        const handler = (name: string): express.RequestHandler => {
          const fn: express.RequestHandler = (_req, res) => {
            reached.push(name);
            res.status(200).end(name);
          };
          names.set(fn, name);
          return fn;
        };
        // Two routes on one path: the first answers. A GET route on a path is not a POST's.
        nodeApp.get("/X/agent", handler("get"));
        nodeApp.post("/X/agent", handler("x"));
        nodeApp.post("/X/agent", handler("x-second"));
        nodeApp.post("/agent/:id", handler("param"));
        nodeApp.post("/hook/*", handler("star"));
        let predicted = "";
        root.use((req, _res, next) => {
          const pathname = (req as CapturedRequest)._parsedUrl?.pathname ?? "";
          const within = pathWithin(nodeApp as unknown as ExpressApp, pathname);
          const route = within === undefined ? undefined : postRouteAt(nodeApp as unknown as ExpressApp, within);
          predicted = route ? (names.get(route.stack.at(-1)?.handle) ?? "?") : "";
          next();
        });
        const stack = (root as unknown as ExpressApp)._router?.stack ?? [];
        stack.splice(2, 0, stack.pop() as never);
        const server = http.createServer(root);
        await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
        const port = (server.address() as AddressInfo).port;
        try {
          for (const path of paths) {
            reached.length = 0;
            predicted = "";
            const status = await new Promise<number>((resolve, reject) => {
              const req = http.request({ host: "127.0.0.1", port, path, method: "POST", headers: { "Content-Type": "application/json" } }, (res) => {
                res.resume();
                res.on("end", () => resolve(res.statusCode ?? 0));
              });
              req.on("error", reject);
              req.end("{}");
            });
            assert.equal(predicted, reached.join(","), `${path}: predicted ${predicted || "no route"}, Express answered ${status} ${reached.join(",") || "from no route"}`);
            if (predicted) assert.equal(status, 200);
          }
        } finally {
          await new Promise<void>((resolve) => server.close(() => resolve()));
        }
      });
    }
  }
});
