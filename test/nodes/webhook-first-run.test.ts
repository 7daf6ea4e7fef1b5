import assert from "assert/strict";
import express from "express";
import http from "http";
import type { AddressInfo } from "net";
import { signBody } from "../../lib/client";
import webhookNode = require("../../nodes/genesys-nexus-webhook");
import responseNode = require("../../nodes/genesys-nexus-webhook-response");
import { helper, channelNode, channelCredentials, SECRET, until } from "../support";
import { FLOW_NODES, type Msg } from "./flow";

/** What a first run showed about the webhook: a status that says when the flow did not answer, one log line per fault. */
describe("genesys-nexus-webhook: what the first run showed", () => {
  let server: http.Server;
  let base: string;
  let root: express.Express;
  // The test helper's RED.httpNode is mounted nowhere; mount it as a real Node-RED does.
  const mountedWebhookNode = (RED: { httpNode: express.Express }): void => {
    root.use("/", RED.httpNode);
    (webhookNode as unknown as (r: unknown) => void)(RED);
  };

  before(async () => {
    await helper.startServer();
    root = express();
    server = http.createServer(root);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await helper.stopServer();
  });
  afterEach(() => helper.unload());

  const post = async (body: string): Promise<number> =>
    (await fetch(`${base}/genesys/agent`, { method: "POST", headers: { "Content-Type": "application/json", "X-Hub-Signature": signBody(body, SECRET) }, body })).status;

  it("says 'no answer: 503' when the flow did not answer in time, and 'received' again on the next delivery", async () => {
    const flow = [
      { id: "f1", type: "tab" },
      channelNode({ baseUrl: "http://127.0.0.1:1/nexus/v3" }),
      { id: "hook", z: "f1", type: "genesys-nexus-webhook", channel: "chan", url: "/genesys/agent", replyTimeout: 200, wires: [["out"]] },
      { id: "out", z: "f1", type: "helper" },
    ];
    await helper.load([...FLOW_NODES, mountedWebhookNode, responseNode], flow, channelCredentials);
    const hook = helper.getNode("hook");
    const statuses: Array<Record<string, unknown>> = [];
    const status = hook.status.bind(hook);
    hook.status = (s: Record<string, unknown>) => {
      statuses.push(s);
      return status(s);
    };
    const emitted: Msg[] = [];
    helper.getNode("out").on("input", (m: Msg) => emitted.push(m));
    assert.equal(await post(JSON.stringify({ messageId: "never-answered", type: "Text", text: "hi" })), 503);
    assert.deepEqual(statuses.at(-1), { fill: "yellow", shape: "ring", text: "no answer: 503" });
    // The next delivery enters the flow: the status is green again (until that one times out as well).
    const next = post(JSON.stringify({ messageId: "next", type: "Text", text: "hi" }));
    await until(() => emitted.length === 2, 3000, "the second delivery");
    assert.equal(await next, 503);
    const texts = statuses.map((s) => s.text);
    assert.deepEqual(texts, ["received", "no answer: 503", "received", "no answer: 503"]);
  });

  it("logs once, in one sentence, that its channel has no secret", async () => {
    const flow = [
      { id: "f1", type: "tab" },
      channelNode({ baseUrl: "http://127.0.0.1:1/nexus/v3" }),
      { id: "hook", z: "f1", type: "genesys-nexus-webhook", channel: "chan", url: "/genesys/agent", wires: [[]] },
    ];
    await helper.load([...FLOW_NODES, mountedWebhookNode, responseNode], flow, {});
    const errors = helper
      .log()
      .args.map((a: unknown[]) => a[0] as { level: number; msg: unknown })
      .filter((e: { level: number }) => e.level === 20)
      .map((e: { msg: unknown }) => String(e.msg));
    assert.equal(errors.length, 1, JSON.stringify(errors));
    assert.match(errors[0], /answers 503 to every request: The channel has no secret; set it in the channel configuration\.$/);
    assert.equal(errors[0].match(/secret/g)?.length, 1, "the missing secret is said once");
    assert.equal(await post("{}"), 503);
  });
});
