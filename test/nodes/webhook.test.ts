import assert from "assert/strict";
import express from "express";
import http from "http";
import type { AddressInfo } from "net";
import { signBody } from "../../lib/client";
import webhookNode = require("../../nodes/genesys-nexus-webhook");
import responseNode = require("../../nodes/genesys-nexus-webhook-response");
import { helper, channelNode, channelCredentials, coreNode, SECRET, API_KEY, delay, until } from "../support";
import { FLOW_NODES, type Msg } from "./flow";
const changeNode = coreNode("function/15-change.js");

interface Answer {
  status: number;
  body: Record<string, unknown>;
}

describe("genesys-nexus-webhook and -response in the Node-RED runtime", () => {
  let server: http.Server;
  let base: string;
  let root: express.Express;
  // The test helper gives each load a fresh RED.httpNode that is mounted nowhere; mount it the way a real
  // Node-RED does, below the root app, before the node module sees it.
  const mountedWebhookNode = (RED: { httpNode: express.Express }): void => {
    root.use("/", RED.httpNode);
    (webhookNode as unknown as (r: unknown) => void)(RED);
  };

  before(async () => {
    await helper.startServer();
    // Like a real Node-RED: an admin app that parses JSON bodies, mounted at the same root before the node app.
    root = express();
    const admin = express();
    admin.use(express.json());
    root.use("/", admin);
    server = http.createServer(root);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await helper.stopServer();
  });
  afterEach(() => helper.unload());

  function flow(webhook: Record<string, unknown> = {}, answer: "auto" | "manual" = "auto"): object[] {
    return [
      { id: "f1", type: "tab" },
      channelNode({ baseUrl: "http://127.0.0.1:1/nexus/v3" }),
      { id: "hook", z: "f1", type: "genesys-nexus-webhook", channel: "chan", url: "/genesys/agent", replyTimeout: 1000, wires: [answer === "auto" ? ["out", "ids"] : ["out"]] },
      { id: "ids", z: "f1", type: "change", rules: [{ t: "set", p: "messageId", pt: "msg", to: '"reply-" & payload.messageId', tot: "jsonata" }], wires: [["reply"]] },
      { id: "reply", z: "f1", type: "genesys-nexus-webhook-response", wires: [] },
      { id: "out", z: "f1", type: "helper" },
      { id: "catcher", z: "f1", type: "catch", scope: null, uncaught: false, wires: [["caught"]] },
      { id: "caught", z: "f1", type: "helper" },
    ].map((n) => ((n as { id: string }).id === "hook" ? { ...n, ...webhook } : n));
  }

  async function load(webhook: Record<string, unknown> = {}, answer: "auto" | "manual" = "auto", credentials: Record<string, unknown> = channelCredentials): Promise<{ emitted: Msg[] }> {
    await helper.load([...FLOW_NODES, mountedWebhookNode, responseNode, changeNode], flow(webhook, answer), credentials);
    const emitted: Msg[] = [];
    helper.getNode("out").on("input", (m: Msg) => emitted.push(m));
    return { emitted };
  }

  function post(body: string | Buffer, headers: Record<string, string> = {}, path = "/genesys/agent"): Promise<Answer> {
    return new Promise((resolve, reject) => {
      const req = http.request(`${base}${path}`, { method: "POST", headers: { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(body), ...headers } }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString();
          let parsed: Record<string, unknown> = {};
          try {
            parsed = JSON.parse(text);
          } catch {
            parsed = { text };
          }
          resolve({ status: res.statusCode ?? 0, body: parsed });
        });
      });
      req.on("error", reject);
      req.end(body);
    });
  }

  const agentMessage = (id: string, text = "Hello from the agent"): string =>
    JSON.stringify({ channel: "sms", messageId: id, from: { id: "agent-7" }, to: { id: "+15550001" }, type: "Text", text });
  const signed = (body: string | Buffer, extra: Record<string, string> = {}): Record<string, string> => ({ "X-Hub-Signature": signBody(body, SECRET), ...extra });

  it("emits a verified delivery with msg.payload and msg.traceId, and the response answers 200 with the messageId", async () => {
    const { emitted } = await load();
    const body = agentMessage("a-1");
    const answer = await post(body, signed(body, { "X-B3-TraceId": "80f198ee56343ba864fe8b2a57d3eff7" }));
    assert.equal(answer.status, 200);
    assert.deepEqual(answer.body, { messageId: "reply-a-1" });
    assert.equal(emitted.length, 1);
    assert.deepEqual(emitted[0].payload, JSON.parse(body));
    assert.equal(emitted[0].traceId, "80f198ee56343ba864fe8b2a57d3eff7");
    assert.equal(typeof emitted[0]._webhook.id, "string");
  });

  it("verifies the raw bytes even though the admin app parses JSON at the same root", async () => {
    const { emitted } = await load();
    const pretty = '{\n  "messageId": "raw-1",\n  "type": "Text",\n  "text": "spaced   out"\n}';
    assert.equal((await post(pretty, signed(pretty))).status, 200);
    const reserialised = signBody(JSON.stringify(JSON.parse(pretty)), SECRET);
    const refused = await post(pretty.replace("raw-1", "raw-2"), { "X-Hub-Signature": reserialised });
    assert.equal(refused.status, 401);
    assert.equal(emitted.length, 1);
  });

  it("accepts base64 and upper-case hex signatures", async () => {
    const { emitted } = await load();
    const a = agentMessage("b64");
    assert.equal((await post(a, { "X-Hub-Signature": signBody(a, SECRET, "base64") })).status, 200);
    const b = agentMessage("upper");
    assert.equal((await post(b, { "X-Hub-Signature": "sha1=" + signBody(b, SECRET).slice(5).toUpperCase() })).status, 200);
    assert.equal(emitted.length, 2);
  });

  it("answers 401 to a missing or wrong signature, without detail, and emits nothing", async () => {
    const { emitted } = await load();
    const body = agentMessage("bad");
    const missing = await post(body);
    assert.equal(missing.status, 401);
    assert.deepEqual(missing.body, { error: "Unauthorized" });
    assert.equal((await post(body, { "X-Hub-Signature": signBody(body, "another-secret") })).status, 401);
    assert.equal((await post(body, { "X-Hub-Signature": "sha1=zz" })).status, 401);
    await delay(50);
    assert.equal(emitted.length, 0);
  });

  it("logs repeated bad signatures once, not once per request", async () => {
    await load();
    for (let i = 0; i < 20; i++) await post("{}", { "X-Hub-Signature": "sha1=" + "0".repeat(40) });
    const warnings = helper.log().args.filter((a) => JSON.stringify(a).includes("X-Hub-Signature"));
    assert.equal(warnings.length, 1);
  });

  it("answers 400 to a signed body that is not JSON, and 413 past the body limit", async () => {
    const { emitted } = await load({ maxBodyBytes: 2000 });
    const notJson = "this is not json";
    assert.equal((await post(notJson, signed(notJson))).status, 400);
    const big = JSON.stringify({ messageId: "big", text: "x".repeat(5000) });
    assert.equal((await post(big, signed(big))).status, 413);
    assert.equal(emitted.length, 0);
  });

  it("answers 503 when no reply comes within replyTimeout", async () => {
    const { emitted } = await load({ replyTimeout: 200 }, "manual");
    const body = agentMessage("late");
    const started = Date.now();
    const answer = await post(body, signed(body));
    assert.equal(answer.status, 503);
    assert.ok(Date.now() - started >= 190);
    assert.equal(emitted.length, 1);
  });

  it("answers the 5xx in msg.statusCode, and a new UUID when msg.messageId is missing", async () => {
    await load({}, "manual");
    const out = helper.getNode("out");
    const reply = helper.getNode("reply");
    out.on("input", (m: Msg) => reply.receive(m.payload.text === "fail" ? { ...m, statusCode: 502 } : { _webhook: m._webhook }));
    const failing = agentMessage("s-1", "fail");
    assert.equal((await post(failing, signed(failing))).status, 502);
    const ok = agentMessage("s-2", "ok");
    const answer = await post(ok, signed(ok));
    assert.equal(answer.status, 200);
    assert.match(String(answer.body.messageId), /^[0-9a-f-]{36}$/);
  });

  it("sends a reply with no pending request to Catch", async () => {
    await load({}, "manual");
    const caught = new Promise<Msg>((resolve) => helper.getNode("caught").on("input", resolve));
    helper.getNode("reply").receive({ payload: "orphan", messageId: "x" });
    const err = await caught;
    assert.match(err.error.message, /no pending webhook request/);
  });

  it("gives a redelivery of an answered message the same answer without entering the flow again", async () => {
    const { emitted } = await load();
    const body = agentMessage("dup-1");
    const first = await post(body, signed(body));
    const again = await post(body, signed(body));
    assert.deepEqual(first.body, { messageId: "reply-dup-1" });
    assert.deepEqual(again, first);
    assert.equal(emitted.length, 1);
    // One context entry per delivery, holding the answer.
    const context = helper.getNode("hook").context();
    const keys = context.keys().filter((k: string) => k.startsWith("delivery_"));
    assert.equal(keys.length, 1);
    assert.equal(context.get(keys[0]).id, "reply-dup-1");
  });

  it("keeps an answer that comes after the reply timeout, and gives it to the redelivery without entering the flow again", async () => {
    const { emitted } = await load({ replyTimeout: 150 }, "manual");
    const caught: Msg[] = [];
    helper.getNode("caught").on("input", (m: Msg) => caught.push(m));
    const body = agentMessage("late-1");
    assert.equal((await post(body, signed(body))).status, 503);
    helper.getNode("reply").receive({ ...emitted[0], messageId: "answered-late" });
    await delay(30);
    assert.deepEqual(caught, [], "a late answer is no error");
    const again = await post(body, signed(body));
    assert.equal(again.status, 200);
    assert.deepEqual(again.body, { messageId: "answered-late" });
    assert.equal(emitted.length, 1);
  });

  it("lets a redelivery that arrives while the flow still works wait for the answer instead of entering again", async () => {
    const { emitted } = await load({ replyTimeout: 200 }, "manual");
    const body = agentMessage("slow-1");
    assert.equal((await post(body, signed(body))).status, 503);
    const second = post(body, signed(body));
    await delay(50);
    helper.getNode("reply").receive({ ...emitted[0], messageId: "slow-answer" });
    assert.deepEqual((await second).body, { messageId: "slow-answer" });
    // One that finds the flow still working past its own reply timeout gets 503, and still does not enter.
    const other = agentMessage("slow-2");
    assert.equal((await post(other, signed(other))).status, 503);
    assert.equal((await post(other, signed(other))).status, 503);
    assert.equal(emitted.length, 2);
  });

  it("gives a delivery the flow never answers back after four reply timeouts, so that it enters again", async () => {
    const { emitted } = await load({ replyTimeout: 100 }, "manual");
    const body = agentMessage("lost-1");
    assert.equal((await post(body, signed(body))).status, 503);
    assert.equal((await post(body, signed(body))).status, 503);
    assert.equal(emitted.length, 1);
    await delay(250);
    const third = post(body, signed(body));
    await until(() => emitted.length === 2, 1000, "the delivery to enter again");
    helper.getNode("reply").receive({ ...emitted[1], messageId: "second-chance" });
    assert.deepEqual((await third).body, { messageId: "second-chance" });
  });

  it("lets a redelivery enter again after the flow answered 5xx", async () => {
    const { emitted } = await load({ replyTimeout: 1000 }, "manual");
    const reply = helper.getNode("reply");
    helper.getNode("out").on("input", (m: Msg) => reply.receive(emitted.length === 1 ? { ...m, statusCode: 503 } : { ...m, messageId: "retried" }));
    const body = agentMessage("asked-again");
    assert.equal((await post(body, signed(body))).status, 503);
    assert.deepEqual((await post(body, signed(body))).body, { messageId: "retried" });
    assert.equal(emitted.length, 2);
  });

  it("lets 10 concurrent deliveries of one message enter once, and gives all of them its one messageId", async () => {
    const { emitted } = await load({ replyTimeout: 2000 }, "manual");
    helper.getNode("out").on("input", (m: Msg) => setTimeout(() => helper.getNode("reply").receive({ ...m, messageId: "only-one" }), 50));
    const body = agentMessage("burst");
    const answers = await Promise.all(Array.from({ length: 10 }, () => post(body, signed(body))));
    for (const a of answers) assert.deepEqual(a, { status: 200, body: { messageId: "only-one" } });
    assert.equal(emitted.length, 1);
  });

  it("accepts the channel's previous secret next to its secret, and no other", async () => {
    const { emitted } = await load({}, "auto", { chan: { secret: "new-secret-2", previousSecret: SECRET, apiKey: API_KEY } });
    const old = agentMessage("rot-old");
    assert.equal((await post(old, signed(old))).status, 200);
    const fresh = agentMessage("rot-new");
    assert.equal((await post(fresh, { "X-Hub-Signature": signBody(fresh, "new-secret-2") })).status, 200);
    const other = agentMessage("rot-other");
    assert.equal((await post(other, { "X-Hub-Signature": signBody(other, "some-third-secret") })).status, 401);
    assert.equal(emitted.length, 2);
  });

  it("answers a redelivery that arrives while the first is still waiting with the same answer", async () => {
    const { emitted } = await load({ replyTimeout: 2000 }, "manual");
    const body = agentMessage("overlap");
    const first = post(body, signed(body));
    await until(() => emitted.length === 1, 1000, "the first delivery");
    const second = post(body, signed(body));
    await delay(50);
    helper.getNode("reply").receive({ ...emitted[0], messageId: "once" });
    assert.deepEqual((await first).body, { messageId: "once" });
    assert.deepEqual((await second).body, { messageId: "once" });
    assert.equal(emitted.length, 1);
  });

  it("answers 50 concurrent deliveries, each with its own answer", async () => {
    const { emitted } = await load();
    const answers = await Promise.all(
      Array.from({ length: 50 }, (_, i) => {
        const body = agentMessage(`c-${i}`);
        return post(body, signed(body));
      }),
    );
    answers.forEach((a, i) => {
      assert.equal(a.status, 200);
      assert.deepEqual(a.body, { messageId: `reply-c-${i}` });
    });
    assert.equal(emitted.length, 50);
  });

  it("removes its route on redeploy, and answers waiting requests 503", async () => {
    await load({ replyTimeout: 5000 }, "manual");
    const body = agentMessage("pending");
    const waiting = post(body, signed(body));
    await delay(100);
    await helper.unload();
    assert.equal((await waiting).status, 503);
    assert.equal((await post(body, signed(body))).status, 404);
  });

  it("never shows the secret in a message or the log", async () => {
    const { emitted } = await load();
    const body = agentMessage("secret-check");
    await post(body, signed(body));
    await post(body, { "X-Hub-Signature": "sha1=bad" });
    const all = JSON.stringify([emitted, helper.log().args]);
    assert.equal(emitted.length, 1);
    assert.ok(!all.includes(SECRET) && !all.includes(API_KEY));
  });
});
