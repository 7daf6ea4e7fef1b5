import assert from "assert/strict";
import http from "http";
import type { AddressInfo } from "net";
import { NexusClient, verifySignature } from "../../lib/client";
import type { NexusSimulator } from "../../lib/simulator";
import { API_KEY, CCID, CHANNEL, SECRET, simulator, until } from "../support";

interface Received {
  body: Buffer;
  headers: http.IncomingHttpHeaders;
}

/** A stand-in third-party webhook whose answers the test scripts. */
async function webhook(answer: (n: number, r: Received) => { status: number; body?: unknown } | "hang"): Promise<{ url: string; received: Received[]; close(): Promise<void> }> {
  const received: Received[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const r = { body: Buffer.concat(chunks), headers: req.headers };
      received.push(r);
      const a = answer(received.length, r);
      if (a === "hang") return;
      res.writeHead(a.status, { "Content-Type": "application/json" });
      res.end(JSON.stringify(a.body ?? {}));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
    received,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

describe("simulator: the agent side", () => {
  let sim: NexusSimulator | undefined;
  afterEach(async () => {
    await sim?.close();
    sim = undefined;
  });

  it("answers each consumer message with a signed agent message to the webhook", async () => {
    const hook = await webhook(() => ({ status: 200, body: { messageId: "tp-1" } }));
    sim = await simulator({ agent: { webhookUrl: hook.url, replyDelayMs: 10 } });
    const client = new NexusClient({ baseUrl: sim.baseUrl, channelId: CHANNEL, ccid: CCID, secret: SECRET, apiKey: API_KEY });
    try {
      await client.sendMessage({ channel: "sms", messageId: "c-1", from: { id: "+15550001", nickname: "Jane" }, type: "Text", text: "help" });
      await until(() => sim!.agent.deliveries.some((d) => d.finished), 3000, "a delivery");
      const [got] = hook.received;
      assert.ok(verifySignature(got.body, got.headers["x-hub-signature"], SECRET));
      assert.match(String(got.headers["x-b3-traceid"]), /^[0-9a-f]{32}$/);
      const message = JSON.parse(got.body.toString());
      assert.equal(message.to.id, "+15550001");
      assert.equal(message.type, "Text");
      assert.match(message.text, /help/);
      const delivery = sim.agent.deliveries[0];
      assert.equal(delivery.answered, true);
      assert.equal(delivery.messageId, "tp-1");
    } finally {
      client.close();
      await hook.close();
    }
  });

  it("redelivers the same bytes on 5xx and after no answer, then records the answer", async () => {
    const hook = await webhook((n) => (n === 1 ? { status: 503 } : n === 2 ? "hang" : { status: 200, body: { messageId: "third-time" } }));
    sim = await simulator({ agent: { webhookUrl: hook.url, timeoutMs: 200, redeliveries: 3, redeliveryDelayMs: 20 } });
    try {
      const delivery = await sim.agent.deliver({ messageId: "agent-9", type: "Text", text: "hi" });
      assert.deepEqual(delivery.attempts.map((a) => a.status), [503, 0, 200]);
      assert.equal(delivery.messageId, "third-time");
      assert.ok(hook.received[0].body.equals(hook.received[2].body));
      assert.equal(hook.received[0].headers["x-hub-signature"], hook.received[2].headers["x-hub-signature"]);
    } finally {
      await hook.close();
    }
  });

  it("stops after the configured redeliveries, and does not redeliver on 4xx", async () => {
    const failing = await webhook(() => ({ status: 500 }));
    sim = await simulator({ agent: { webhookUrl: failing.url, redeliveries: 2, redeliveryDelayMs: 10 } });
    try {
      const d = await sim.agent.deliver({ type: "Text", text: "x" });
      assert.equal(d.attempts.length, 3);
      assert.equal(d.answered, false);
    } finally {
      await failing.close();
    }
    const refusing = await webhook(() => ({ status: 401 }));
    sim.agent.configure({ webhookUrl: refusing.url });
    try {
      const d = await sim.agent.deliver({ type: "Text", text: "x" });
      assert.equal(d.attempts.length, 1);
    } finally {
      await refusing.close();
    }
  });

  it("pushes an agent message by hand over HTTP, and lists deliveries", async () => {
    const hook = await webhook(() => ({ status: 200, body: { messageId: "manual-1" } }));
    sim = await simulator({});
    try {
      const put = await fetch(`${sim.origin}/simulator/webhook`, { method: "PUT", body: JSON.stringify({ url: hook.url }) });
      assert.equal(put.status, 200);
      const res = await fetch(`${sim.origin}/simulator/agent-messages`, { method: "POST", body: JSON.stringify({ text: "Your parcel ships today", to: "+15550009" }) });
      const delivery = (await res.json()) as { answered: boolean; messageId: string };
      assert.equal(delivery.answered, true);
      assert.equal(delivery.messageId, "manual-1");
      const sent = JSON.parse(hook.received[0].body.toString());
      assert.equal(sent.text, "Your parcel ships today");
      assert.equal(sent.to.id, "+15550009");
      const list = (await (await fetch(`${sim.origin}/simulator/deliveries`)).json()) as unknown[];
      assert.equal(list.length, 1);
    } finally {
      await hook.close();
    }
  });
});
