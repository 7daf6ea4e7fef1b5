import assert from "assert/strict";
import fs from "fs";
import http from "http";
import os from "os";
import path from "path";
import { signBody } from "../../lib/client";
import { API_KEY, SECRET, until } from "../support";
import { startNodeRed, type RunningNodeRed } from "./node-red-process";

const channel = { id: "chan", type: "genesys-nexus-channel", name: "c", baseUrl: "http://127.0.0.1:1/nexus/v3", channelId: "sms-test-channel", ccid: "5d8f4a1e-0b7c-4e39-9c1d-2f6a8b3e7c40", timeout: 5000, retries: 0 };
const credentials = { chan: { secret: SECRET, apiKey: API_KEY } };
let y = 0;
const webhook = (id: string, url: string): Record<string, unknown> => ({ id, name: id, type: "genesys-nexus-webhook", z: "t1", channel: "chan", url, replyTimeout: 2000, x: 100, y: (y += 40), wires: [["reply"]] });
const core = (id: string, url: string): Record<string, unknown> => ({ id, name: id, type: "http in", z: "t1", url, method: "post", upload: false, swaggerDoc: "", x: 100, y: (y += 40), wires: [["echo"]] });
const flows = [
  { id: "t1", type: "tab", label: "shared" },
  channel,
  { id: "reply", type: "genesys-nexus-webhook-response", z: "t1", x: 300, y: 20, wires: [] },
  { id: "echo", type: "http response", z: "t1", statusCode: "", headers: {}, x: 300, y: 60, wires: [] },
  // Registered in this order: core /foo, the webhook on /:a, then an example imported twice.
  core("core-foo", "/foo"),
  webhook("hook-a", "/:a"),
  webhook("agent-1", "/genesys/agent"),
  webhook("agent-2", "/genesys/agent"),
  // What the second copy's status shows, logged by a debug node.
  { id: "watch", type: "status", z: "t1", scope: ["agent-2", "agent-1"], x: 100, y: 400, wires: [["dbg"]] },
  { id: "dbg", type: "debug", z: "t1", active: true, tosidebar: false, console: true, tostatus: false, complete: "status", targetType: "msg", x: 300, y: 400, wires: [] },
];

/** A package of nodes whose only node registers a route of no node, `POST /other`, when it loads. */
function otherRoutePackage(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "nexus-other-route-"));
  fs.writeFileSync(
    path.join(dir, "other-route.js"),
    `module.exports = function (RED) {
  RED.httpNode.post("/other", function (req, res) { res.status(200).json({ other: true }); });
  RED.nodes.registerType("other-route", function (config) { RED.nodes.createNode(this, config); });
};\n`,
  );
  fs.writeFileSync(path.join(dir, "other-route.html"), `<script type="text/javascript">RED.nodes.registerType("other-route", { category: "function", defaults: {}, inputs: 0, outputs: 0 });</script>\n`);
  return dir;
}

function post(base: string, to: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  const payload = JSON.stringify({ messageId: `m-${Math.random()}`, type: "Text", text: "hi" });
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    const req = http.request({ hostname, port, path: to, method: "POST", headers: { "Content-Type": "application/json", "X-Hub-Signature": signBody(payload, SECRET), ...headers } }, (res) => {
      let body = "";
      res.on("data", (c: Buffer) => (body += c.toString()));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("error", reject);
    req.end(payload);
  });
}

/**
 * Routes that share or overlap a webhook's path, in a real Node-RED process: the warning says who answers
 * what, as Express orders the routes, and a webhook that another route on its path shadows says so on its
 * status (issue #18).
 */
describe("a webhook's path shared with, or overlapping, other routes", function () {
  this.timeout(120_000);
  let nodeRed: RunningNodeRed;
  let nodesDir: string;
  before(async () => {
    nodesDir = otherRoutePackage();
    nodeRed = await startNodeRed(flows, credentials, { nodesDir: [nodesDir] });
  });
  after(async () => {
    await nodeRed?.stop();
    fs.rmSync(nodesDir, { recursive: true, force: true });
  });

  it("each route answers what Express gives it", async () => {
    assert.deepEqual(JSON.parse((await post(nodeRed.base, "/other")).body), { other: true }, "the route registered first answers /other");
    assert.equal((await post(nodeRed.base, "/foo", { "X-Hub-Signature": "" })).status, 200, "the core http in answers /foo");
    assert.equal((await post(nodeRed.base, "/bar")).status, 200, "the webhook answers every other path");
    assert.equal((await post(nodeRed.base, "/bar", { "X-Hub-Signature": "" })).status, 401);
  });

  it("warns of overlapping patterns: which route a request that matches both goes to, never that the others receive nothing", () => {
    const log = nodeRed.log();
    const lines = log.split("\n").filter((l) => l.includes("[genesys-nexus-webhook:hook-a]"));
    const warning = lines.find((l) => /overlaps/.test(l)) ?? "";
    assert.match(warning, /The path \/:a overlaps .*another route on \/other/);
    assert.match(warning, /http in "core-foo" \(core-foo\) on \/foo/);
    assert.match(warning, /registered first, in this order: another route on \/other, http in "core-foo" \(core-foo\) on \/foo, this webhook/);
    assert.ok(!lines.some((l) => /receive nothing/.test(l)), lines.join("\n"));
  });

  it("warns of a shared path and shows it on the webhook that another node shadows", async () => {
    const log = nodeRed.log();
    assert.match(log, /\[warn\] \[genesys-nexus-webhook:agent-2\] The path \/genesys\/agent is shared with genesys-nexus-webhook "agent-1" \(agent-1\)\. .*genesys-nexus-webhook "agent-1" \(agent-1\) answers, the others receive nothing/);
    assert.match(log, /\[warn\] \[genesys-nexus-webhook:agent-1\] The path \/genesys\/agent is shared with genesys-nexus-webhook "agent-2" \(agent-2\)\. .*this webhook answers/);
    await until(() => /\[debug:dbg\][\s\S]*yellow[\s\S]*path shared: another node answers/.test(nodeRed.log()), 10_000, "the shadowed webhook's status");
    assert.equal((await post(nodeRed.base, "/genesys/agent")).status, 200);
    // Only the shadowed copy shows it.
    const statuses = nodeRed.log().split("[debug:dbg]").slice(1).join("");
    assert.equal((statuses.match(/path shared/g) ?? []).length, 1, statuses);
  });

  it("clears the status once the route in front is gone", async () => {
    const before = nodeRed.log().length;
    const statuses = (): string => nodeRed.log().slice(before).split("[debug:dbg]").slice(1).join("");
    // Only agent-1 stops: agent-2 keeps running and is told at the next flows:started.
    await nodeRed.deploy(flows.filter((n) => n.id !== "agent-1"), "nodes");
    await until(() => /id: 'agent-2'/.test(statuses()), 10_000, "the status of the webhook left");
    assert.doesNotMatch(statuses(), /path shared|yellow/, statuses());
    // Told after the deploy has started (flows:started), not as a node that stops and starts again.
    const deployLog = nodeRed.log().slice(before);
    const started = deployLog.indexOf("Started modified nodes");
    assert.ok(started >= 0 && deployLog.indexOf("id: 'agent-2'") > started, deployLog);
    assert.equal((await post(nodeRed.base, "/genesys/agent")).status, 200);
  });
});
