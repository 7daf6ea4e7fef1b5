import assert from "assert/strict";
import net from "net";
import { signBody } from "../../lib/client";
import { API_KEY, SECRET } from "../support";
import { startNodeRed, type RunningNodeRed } from "./node-red-process";

const channel = { id: "chan", type: "genesys-nexus-channel", name: "c", baseUrl: "http://127.0.0.1:1/nexus/v3", channelId: "sms-test-channel", ccid: "5d8f4a1e-0b7c-4e39-9c1d-2f6a8b3e7c40", timeout: 5000, retries: 0 };
const hook = (id: string, y: number): Record<string, unknown> => ({ id, type: "genesys-nexus-webhook", z: "t1", channel: "chan", url: "/genesys/agent", replyTimeout: 1000, x: 100, y, wires: [["reply"]] });
const flows = (...hooks: Array<Record<string, unknown>>): object[] => [
  { id: "t1", type: "tab", label: "t" },
  channel,
  ...hooks,
  { id: "reply", type: "genesys-nexus-webhook-response", z: "t1", x: 300, y: 100, wires: [] },
];

/** Opens a raw connection and sends what the test says, as an attacker would. */
function rawRequest(base: string, head: string, chunks: Array<string | { wait: number }>, end: "close" | "keep"): Promise<string> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve) => {
    const socket = net.connect(Number(port), hostname);
    let answer = "";
    socket.on("data", (d) => (answer += d.toString()));
    socket.on("close", () => resolve(answer));
    socket.on("error", () => resolve(answer));
    socket.on("connect", async () => {
      socket.write(head);
      for (const c of chunks) {
        if (typeof c === "string") {
          if (!socket.destroyed) socket.write(c);
        } else await new Promise((r) => setTimeout(r, c.wait));
      }
      if (end === "close") socket.destroy();
    });
  });
}

/** The webhook under attack, in a real Node-RED process (editor and admin API on `/`). */
describe("the webhook against hostile clients, in a real Node-RED process", function () {
  this.timeout(120_000);
  let nodeRed: RunningNodeRed;

  before(async () => {
    nodeRed = await startNodeRed(flows(hook("hook1", 100), hook("hook2", 200)), { chan: { secret: SECRET, apiKey: API_KEY } });
  });
  after(() => nodeRed?.stop());

  const deliver = (path: string, messageId: string): Promise<Response> => {
    const body = JSON.stringify({ messageId, type: "Text", text: "hi" });
    return fetch(`${nodeRed.base}${path}`, { method: "POST", headers: { "Content-Type": "application/json", "X-Hub-Signature": signBody(body, SECRET) }, body });
  };

  it("counts requests aborted mid-body instead of logging each, with no stack trace", async () => {
    const before = nodeRed.log().length;
    const body = JSON.stringify({ messageId: "aborted", text: "x".repeat(500) });
    const head = `POST /genesys/agent HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nX-Hub-Signature: ${signBody(body, SECRET)}\r\n\r\n`;
    await Promise.all(Array.from({ length: 20 }, () => rawRequest(nodeRed.base, head, [body.slice(0, 50), { wait: 50 }], "close")));
    await new Promise((r) => setTimeout(r, 300));
    const lines = nodeRed.log().slice(before).split("\n").filter((l) => l.trim() !== "");
    assert.ok(lines.length <= 2, `at most one line for 20 aborted bodies, got:\n${lines.join("\n")}`);
    assert.doesNotMatch(nodeRed.log().slice(before), /\n\s+at /, "no stack trace");
  });

  it("takes deliveries to its path in another letter case, or with a trailing slash, as Express routes them", async () => {
    const before = nodeRed.log().length;
    for (const [i, path] of ["/GENESYS/AGENT", "/Genesys/Agent", "/genesys/agent/"].entries()) {
      const res = await deliver(path, `case-${i}`);
      assert.equal(res.status, 200, path);
      assert.match(((await res.json()) as { messageId: string }).messageId, /^[0-9a-f-]{36}$/);
    }
    const unsigned = await Promise.all(Array.from({ length: 50 }, () => fetch(`${nodeRed.base}/GENESYS/AGENT`, { method: "POST", headers: { "Content-Type": "application/json" }, body: "{}" })));
    for (const res of unsigned) assert.equal(res.status, 401);
    assert.doesNotMatch(nodeRed.log().slice(before), /\[error\]/);
  });

  it("cuts a body that trickles in, within a bound tied to the reply timeout", async () => {
    const head = "POST /genesys/agent HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n";
    const started = Date.now();
    const trickle = Array.from({ length: 40 }, () => ["{", { wait: 250 }] as Array<string | { wait: number }>).flat();
    const answer = await rawRequest(nodeRed.base, head, trickle, "keep");
    assert.match(answer, /^HTTP\/1\.1 408/);
    assert.ok(Date.now() - started < 5000, `cut after ${Date.now() - started} ms`);
  });

  it("keeps answering on a path that two webhooks shared after a partial deploy removes one of them", async () => {
    await nodeRed.deploy(flows(hook("hook2", 200)), "nodes");
    for (let i = 0; i < 3; i++) assert.equal((await deliver("/genesys/agent", `shared-${i}`)).status, 200);
    await nodeRed.deploy(flows(hook("hook1", 100), hook("hook2", 200)), "nodes");
    assert.equal((await deliver("/genesys/agent", "shared-again")).status, 200);
  });
});

/** What a user configured for HTTP nodes applies to the webhook, as it does to the core http in node. */
describe("the webhook with httpNodeRoot, httpNodeCors, httpNodeMiddleware and httpNodeAuth", function () {
  this.timeout(120_000);
  let nodeRed: RunningNodeRed;
  const body = JSON.stringify({ messageId: "configured", type: "Text", text: "hi" });
  const headers = { "Content-Type": "application/json", "X-Hub-Signature": signBody(body, SECRET), Origin: "https://gateway.example" };

  afterEach(() => nodeRed?.stop());

  it("serves below httpNodeRoot only, runs httpNodeMiddleware first and answers with the CORS headers", async () => {
    nodeRed = await startNodeRed(
      flows(hook("hook1", 100)),
      { chan: { secret: SECRET, apiKey: API_KEY } },
      { httpNodeRoot: "/api", httpNodeCors: { origin: "https://gateway.example" } },
      `module.exports.httpNodeMiddleware = function (req, res, next) {
        if (req.headers["x-block"]) { res.statusCode = 418; return res.end("blocked by the user's middleware"); }
        res.setHeader("X-Seen-By-Middleware", "yes");
        next();
      };`,
    );
    const ok = await fetch(`${nodeRed.base}/api/genesys/agent`, { method: "POST", headers, body });
    assert.equal(ok.status, 200);
    assert.equal(ok.headers.get("x-seen-by-middleware"), "yes");
    assert.equal(ok.headers.get("access-control-allow-origin"), "https://gateway.example");
    const blocked = await fetch(`${nodeRed.base}/api/genesys/agent`, { method: "POST", headers: { ...headers, "X-Block": "1" }, body });
    assert.equal(blocked.status, 418);
    const outside = await fetch(`${nodeRed.base}/genesys/agent`, { method: "POST", headers, body });
    assert.notEqual(outside.status, 200, "not served outside httpNodeRoot");
  });

  it("lets httpNodeAuth check every delivery first", async () => {
    // bcrypt hash of "pw": Node-RED's httpNodeAuth takes the password as a bcrypt hash.
    nodeRed = await startNodeRed(flows({ ...hook("hook1", 100), replyTimeout: 6000 }), { chan: { secret: SECRET, apiKey: API_KEY } }, {
      httpNodeAuth: { user: "genesys", pass: "$2b$08$.WYvjCHKHwvwMBStrhP5uuUXVDc71MbjTgYF6GXu/DFiMrHKWLNNa" },
    });
    assert.equal((await fetch(`${nodeRed.base}/genesys/agent`, { method: "POST", headers, body })).status, 401);
    // A request httpNodeAuth refuses never reaches the route: its body is not even waited for.
    const started = Date.now();
    const refused = await rawRequest(nodeRed.base, "POST /genesys/agent HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\nConnection: close\r\n\r\n", ["{"], "keep");
    assert.match(refused, /^HTTP\/1\.1 401/);
    assert.ok(Date.now() - started < 3000, `answered after ${Date.now() - started} ms, not after the reply timeout`);
    const auth = { Authorization: `Basic ${Buffer.from("genesys:pw").toString("base64")}` };
    assert.equal((await fetch(`${nodeRed.base}/genesys/agent`, { method: "POST", headers: { ...headers, ...auth }, body })).status, 200);
  });
});

