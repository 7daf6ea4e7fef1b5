import assert from "assert/strict";
import http from "http";
import { signBody } from "../../lib/client";
import { API_KEY, SECRET, until } from "../support";
import { startNodeRed, type RunningNodeRed } from "./node-red-process";

const channel = { id: "chan", type: "genesys-nexus-channel", name: "c", baseUrl: "http://127.0.0.1:1/nexus/v3", channelId: "sms-test-channel", ccid: "5d8f4a1e-0b7c-4e39-9c1d-2f6a8b3e7c40", timeout: 5000, retries: 0 };
const credentials = { chan: { secret: SECRET, apiKey: API_KEY } };

let y = 0;
/** A webhook on `url` that answers every delivery at once. */
const webhook = (id: string, url: string): Record<string, unknown> => ({ id, name: id, type: "genesys-nexus-webhook", z: "t1", channel: "chan", url, replyTimeout: 2000, x: 100, y: (y += 40), wires: [["reply"]] });
/** A core http in node on `url` (POST) whose answer echoes the parsed body. */
const core = (id: string, url: string): Record<string, unknown> => ({ id, name: id, type: "http in", z: "t1", url, method: "post", upload: false, swaggerDoc: "", x: 100, y: (y += 40), wires: [["echo"]] });
const common = [
  { id: "t1", type: "tab", label: "routing" },
  channel,
  { id: "reply", type: "genesys-nexus-webhook-response", z: "t1", x: 300, y: 20, wires: [] },
  { id: "echo", type: "http response", z: "t1", statusCode: "", headers: {}, x: 300, y: 60, wires: [] },
];

/** What the user's httpNodeMiddleware saw of a request (a header it sets), or fails with `next(err)` when asked. */
const middleware = `module.exports.httpNodeMiddleware = function (req, res, next) {
  if (req.headers["x-fail"]) return next(new Error("boom in the middleware"));
  res.setHeader("X-Seen", JSON.stringify({ path: req.path, baseUrl: req.baseUrl, url: req.url }));
  next();
};`;

interface Answer {
  status: number;
  body: string;
  headers: http.IncomingHttpHeaders;
}

/** A signed POST to `path`, sent as written: no client normalises `.`, `..`, `//` or `\\` away. */
function post(base: string, path: string, headers: Record<string, string> = {}, payload = JSON.stringify({ messageId: `m-${Math.random()}`, type: "Text", text: "hi" })): Promise<Answer> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    const req = http.request({ hostname, port, path, method: "POST", headers: { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(payload), "X-Hub-Signature": signBody(payload, SECRET), ...headers } }, (res) => {
      let body = "";
      res.on("data", (c: Buffer) => (body += c.toString()));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
    });
    req.on("error", reject);
    req.end(payload);
  });
}

/** The same request path for the webhook (on `/X/...`) and for its core twin (on `/Y/...`). */
const variants = (p: string): string[] => [
  `/${p}/agent`,
  `/${p.toLowerCase()}/AGENT`,
  `/${p}/agent/`,
  `/${p}/./agent`,
  `/q/../${p}/agent`,
  `/${p}/%2e/agent`,
  `/${p}/%2E/agent`,
  `/q/%2e%2e/${p}/agent`,
  `/${p}//agent`,
  `//${p}/agent`,
  `/${p}/agent//`,
  `/${p}/agent/.`,
  `/${p}/agent/..`,
  `//evil.example/${p}/agent`,
  `/${p}\\agent`,
  `/${p}/agent%2F`,
  `/${p}/agent?x=1`,
  `/${p}/agent;x`,
  `/${p}/agent.json`,
  `/${p}/agen%74`,
];

/**
 * The webhook in real Node-RED processes side by side with a core `http in` node on a twin path: Express
 * routes both the same way (issue #18).
 */
describe("the webhook is routed by Node-RED's HTTP stack, like a core http in node", function () {
  this.timeout(120_000);

  describe("in a default Node-RED (editor and admin API on /)", () => {
    let nodeRed: RunningNodeRed;
    const all: object[] = [
      ...common,
      core("core-first", "/shared1"),
      webhook("hook-x", "/X/agent"),
      core("core-y", "/Y/agent"),
      webhook("hook-param", "/agent/:id"),
      core("core-param", "/cagent/:id"),
      webhook("hook-star", "/hook/*"),
      core("core-star", "/chook/*"),
      // Two routes on one path: the first registered answers, and a warning says so.
      webhook("hook-second", "/shared1"),
      webhook("hook-first", "/shared2"),
      core("core-second", "/shared2"),
      // Paths the editor's admin API serves on the same root.
      ...["/flows", "/Flows/", "/flow", "/settings", "/nodes", "/auth/token", "/auth/x", "/theme", "/icons", "/locales/x", "/plugins", "/diagnostics", "/library/x", "/context/global", "/credentials", "/debug/x", "/inject/x", "/", "/red/x", "/vendor", "/projects"].map((url, i) => webhook(`admin-${i}`, url)),
      core("core-flows", "/flows"),
      webhook("hook-flowsx", "/flowsx"),
      // Many webhooks: one listener for all of them on Node-RED's events, no leak warning.
      ...Array.from({ length: 12 }, (_, i) => webhook(`many-${i}`, `/many/${i}`)),
    ];
    const flows = (): object[] => all;

    before(async () => {
      nodeRed = await startNodeRed(flows(), credentials, {}, middleware);
    });
    after(() => nodeRed?.stop());

    it("answers every path variant with the status the core http in gives its twin", async () => {
      const [x, yy] = [variants("X"), variants("Y")];
      const statuses: string[] = [];
      for (let i = 0; i < x.length; i++) {
        const [hook, twin] = [await post(nodeRed.base, x[i]), await post(nodeRed.base, yy[i])];
        statuses.push(`${x[i]}: ${hook.status} / ${yy[i]}: ${twin.status}`);
        assert.equal(hook.status, twin.status, `${x[i]} got ${hook.status}, its twin ${yy[i]} ${twin.status}`);
      }
      // The exact path, its case and trailing slash variants reach both; dot segments and doubled slashes neither.
      assert.equal((await post(nodeRed.base, "/X/agent")).status, 200);
      assert.equal((await post(nodeRed.base, "/X/./agent")).status, 404);
      assert.equal((await post(nodeRed.base, "/y/../X/agent")).status, 404);
      assert.equal((await post(nodeRed.base, "//evil.example/X/agent")).status, 404);
      assert.equal((await post(nodeRed.base, "/many/11")).status, 200);
      assert.doesNotMatch(nodeRed.log(), /MaxListenersExceeded/);
    });

    it("lets httpNodeMiddleware see req.path and req.baseUrl as core's route does", async () => {
      const [hook, twin] = [await post(nodeRed.base, "/X/agent?a=1"), await post(nodeRed.base, "/Y/agent?a=1")];
      assert.equal(hook.status, 200);
      assert.deepEqual(JSON.parse(String(hook.headers["x-seen"])), { path: "/X/agent", baseUrl: "", url: "/X/agent?a=1" });
      assert.equal(String(hook.headers["x-seen"]).replaceAll("/X/", "/Y/"), twin.headers["x-seen"]);
    });

    it("answers with the headers core's answers carry (X-Content-Type-Options: nosniff, as Express's res.jsonp sets it)", async () => {
      const twin = await post(nodeRed.base, "/Y/agent");
      assert.equal(twin.headers["x-content-type-options"], "nosniff", "core's http response answers JSON through res.jsonp");
      const answers = [
        await post(nodeRed.base, "/X/agent"),
        await post(nodeRed.base, "/X/agent", { "X-Hub-Signature": "sha256=00" }),
        await post(nodeRed.base, "/X/agent", {}, "not json"),
        await post(nodeRed.base, "/X/agent", { "X-Fail": "1" }),
      ];
      assert.deepEqual(answers.map((a) => a.status), [200, 401, 400, 500]);
      for (const answer of answers) {
        // X-Seen is the middleware's, which fails before setting it for the 500.
        for (const name of Object.keys(twin.headers).filter((n) => n !== "x-seen")) assert.ok(name in answer.headers, `${answer.status} lacks ${name}, which core's answer carries`);
        assert.equal(answer.headers["x-content-type-options"], "nosniff");
        assert.equal(answer.headers["content-type"], "application/json; charset=utf-8");
      }
    });

    it("serves route patterns as Express matches them", async () => {
      for (const [path, twin] of [["/agent/123", "/cagent/123"], ["/agent/:id", "/cagent/:id"], ["/hook/abc", "/chook/abc"], ["/hook/a/b", "/chook/a/b"], ["/agent/1/2", "/cagent/1/2"], ["/agent", "/cagent"]]) {
        const [a, b] = [await post(nodeRed.base, path), await post(nodeRed.base, twin)];
        assert.equal(a.status, b.status, `${path} got ${a.status}, ${twin} ${b.status}`);
      }
      assert.equal((await post(nodeRed.base, "/agent/123")).status, 200);
      assert.equal((await post(nodeRed.base, "/hook/abc")).status, 200);
    });

    it("answers a middleware's error with 500 and a short JSON body, never a stack, and logs a warning", async () => {
      const before = nodeRed.log().length;
      const [hook, twin] = [await post(nodeRed.base, "/X/agent", { "X-Fail": "1" }), await post(nodeRed.base, "/Y/agent", { "X-Fail": "1" })];
      assert.equal(hook.status, 500);
      assert.equal(twin.status, 500);
      assert.deepEqual(JSON.parse(hook.body), { error: "Internal Server Error" });
      assert.doesNotMatch(hook.body, /boom|at |node_modules|<html/i);
      const log = nodeRed.log().slice(before);
      assert.match(log, /\[warn\] \[genesys-nexus-webhook:hook-x\].*boom in the middleware/);
      assert.doesNotMatch(log, /\n\s+at /, "no stack trace in the log");
    });

    it("gives a shared path to the route registered first, as Express does, and says so at deploy", async () => {
      const body = JSON.stringify({ hello: "core" });
      const first = await post(nodeRed.base, "/shared1", { "X-Hub-Signature": "" }, body);
      assert.equal(first.status, 200, "the core http in registered first answers");
      assert.deepEqual(JSON.parse(first.body), { hello: "core" }, "with the body it parsed: nothing read it before");
      assert.equal((await post(nodeRed.base, "/shared2", { "X-Hub-Signature": "" }, body)).status, 401, "the webhook registered first answers");
      const log = nodeRed.log();
      assert.match(log, /\[warn\] \[genesys-nexus-webhook:hook-second\] The path \/shared1 is shared with http in "core-first" \(core-first\)\. .*http in "core-first" \(core-first\) answers/);
      assert.match(log, /\[warn\] \[genesys-nexus-webhook:hook-first\] The path \/shared2 is shared with http in "core-second" \(core-second\)\. .*this webhook answers/);
      // A partial deploy that removes the http in node leaves the webhook answering on the path (core's
      // close handler takes every route with its path string away).
      const count = nodeRed.log().split(/Started (?:modified nodes|flows)/).length;
      await nodeRed.deploy(flows().filter((n) => (n as { id: string }).id !== "core-first"), "nodes");
      await until(() => nodeRed.log().split(/Started (?:modified nodes|flows)/).length > count, 20_000, "the nodes to start");
      assert.equal((await post(nodeRed.base, "/shared1")).status, 200);
      assert.equal((await post(nodeRed.base, "/shared1", { "X-Hub-Signature": "" }, body)).status, 401);
    });

    it("refuses a path the editor's admin API serves, with an error naming it, and leaves the editor's deploys working", async () => {
      const log = nodeRed.log();
      for (const path of ["/flows", "/Flows/", "/flow", "/settings", "/nodes", "/auth/token", "/auth/x", "/theme", "/icons", "/locales/x", "/plugins", "/diagnostics", "/library/x", "/context/global", "/credentials", "/debug/x", "/inject/x", "/", "/red/x", "/vendor", "/projects"]) {
        const escaped = path.replace(/[/.]/g, (c) => `\\${c}`);
        assert.match(log, new RegExp(`\\[error\\] \\[genesys-nexus-webhook:admin-\\d+\\] The path ${escaped} is served by Node-RED's editor`), path);
      }
      assert.doesNotMatch(log, /hook-flowsx\] The path/, "a path that only starts like an admin path is not refused");
      assert.equal((await post(nodeRed.base, "/flowsx")).status, 200);
      // Signed and unsigned POSTs to /flows are the admin API's, never the webhook's.
      assert.notEqual((await post(nodeRed.base, "/flows")).status, 401);
      const res = await fetch(`${nodeRed.base}/flows`, { headers: { "Node-RED-API-Version": "v2" } });
      assert.equal(res.status, 200);
      // The editor still deploys, including the deploy that removes the webhooks.
      const started = (): number => nodeRed.log().split("Started flows").length;
      for (const next of [[...common, webhook("hook-x", "/X/agent")], flows()]) {
        const count = started();
        await nodeRed.deploy(next);
        await until(() => started() > count, 20_000, "the flows to start");
        assert.equal((await post(nodeRed.base, "/X/agent")).status, 200);
      }
    });
  });

  describe("with httpNodeRoot /api", () => {
    let nodeRed: RunningNodeRed;
    before(async () => {
      nodeRed = await startNodeRed([...common, webhook("hook-x", "/X/agent"), core("core-y", "/Y/agent"), webhook("hook-flows", "/flows")], credentials, { httpNodeRoot: "/api" }, middleware);
    });
    after(() => nodeRed?.stop());

    it("lets httpNodeMiddleware see req.path and req.baseUrl as core's route does", async () => {
      const [hook, twin] = [await post(nodeRed.base, "/api/X/agent"), await post(nodeRed.base, "/api/Y/agent")];
      assert.equal(hook.status, 200);
      assert.deepEqual(JSON.parse(String(hook.headers["x-seen"])), { path: "/X/agent", baseUrl: "/api", url: "/X/agent" });
      assert.equal(String(hook.headers["x-seen"]).replaceAll("/X/", "/Y/"), twin.headers["x-seen"]);
      for (const [path, twinPath] of [["/X/agent", "/Y/agent"], ["/api//X/agent", "/api//Y/agent"], ["/API/X/agent", "/API/Y/agent"], ["/apiX/agent", "/apiY/agent"], ["/api/./X/agent", "/api/./Y/agent"]]) {
        assert.equal((await post(nodeRed.base, path)).status, (await post(nodeRed.base, twinPath)).status, path);
      }
    });

    it("takes /flows below httpNodeRoot: the admin API is not there", async () => {
      assert.doesNotMatch(nodeRed.log(), /hook-flows\] The path/);
      assert.equal((await post(nodeRed.base, "/api/flows")).status, 200);
    });
  });

  describe("with case-sensitive and strict routing in httpServerOptions", () => {
    let nodeRed: RunningNodeRed;
    before(async () => {
      nodeRed = await startNodeRed([...common, webhook("hook-x", "/X/agent"), core("core-y", "/Y/agent"), webhook("hook-slash", "/X/slash/"), core("core-slash", "/Y/slash/")], credentials, {
        httpServerOptions: { "case sensitive routing": true, "strict routing": true },
      });
    });
    after(() => nodeRed?.stop());

    it("routes by case and trailing slash as core does", async () => {
      for (const path of ["/X/agent", "/x/agent", "/X/AGENT", "/X/agent/", "/X/slash/", "/X/slash", "/x/slash/"]) {
        const twin = path.replace(/^\/X/, "/Y").replace(/^\/x/, "/y");
        const [a, b] = [await post(nodeRed.base, path), await post(nodeRed.base, twin)];
        assert.equal(a.status, b.status, `${path} got ${a.status}, ${twin} ${b.status}`);
      }
      assert.equal((await post(nodeRed.base, "/X/agent")).status, 200);
      assert.equal((await post(nodeRed.base, "/x/agent")).status, 404);
      assert.equal((await post(nodeRed.base, "/X/agent/")).status, 404);
      assert.equal((await post(nodeRed.base, "/X/slash/")).status, 200);
    });
  });
});
