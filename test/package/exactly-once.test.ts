import assert from "assert/strict";
import http from "http";
import type { AddressInfo } from "net";
import { signBody } from "../../lib/client";
import type { NexusSimulator } from "../../lib/simulator";
import { API_KEY, SECRET, simulator, until } from "../support";
import { requireRedis, RedisServer } from "../redis-server";
import { startNodeRed, type RunningNodeRed } from "./node-red-process";

/** A server the flows report to: what entered a flow, what came out, what was caught. */
class Collector {
  readonly seen = new Map<string, string[]>();
  private server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const list = this.seen.get(req.url ?? "") ?? [];
      list.push(Buffer.concat(chunks).toString());
      this.seen.set(req.url ?? "", list);
      // A little work, so that deliveries overlap in the flow.
      setTimeout(() => res.end("ok"), 20);
    });
  });
  url = "";

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  count(path: string): number {
    return this.seen.get(path)?.length ?? 0;
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

const report = (id: string, z: string, url: string, wires: string[][] = [[]]): Record<string, unknown> => ({
  id, z, type: "http request", method: "POST", ret: "txt", paytoqs: "ignore", url, tls: "", persist: false, proxy: "", insecureHTTPParser: false, authType: "", senderr: false, headers: [], x: 500, y: 100, wires,
});

/** A webhook that reports each message entering the flow, then answers with messageId "id-<its messageId>". */
function webhookFlow(collector: Collector, baseUrl: string, webhook: Record<string, unknown> = {}): object[] {
  return [
    { id: "t1", type: "tab", label: "webhook" },
    { id: "chan", type: "genesys-nexus-channel", name: "c", baseUrl, channelId: "sms-test-channel", ccid: "5d8f4a1e-0b7c-4e39-9c1d-2f6a8b3e7c40", timeout: 5000, retries: 0 },
    { id: "hook", type: "genesys-nexus-webhook", z: "t1", channel: "chan", url: "/genesys/agent", replyTimeout: 3000, ...webhook, x: 100, y: 100, wires: [["ids"]] },
    { id: "ids", type: "change", z: "t1", rules: [{ t: "set", p: "messageId", pt: "msg", to: '"id-" & payload.messageId', tot: "jsonata" }], x: 300, y: 100, wires: [["rec"]] },
    report("rec", "t1", `${collector.url}/entered`, [["reply"]]),
    { id: "reply", type: "genesys-nexus-webhook-response", z: "t1", x: 700, y: 100, wires: [] },
  ];
}

interface Answer {
  status: number;
  messageId?: string;
}

async function deliver(base: string, messageId: string, secret = SECRET): Promise<Answer> {
  const body = JSON.stringify({ channel: "sms", messageId, from: { id: "agent-1" }, to: { id: "+15550001" }, type: "Text", text: `text of ${messageId}` });
  const res = await fetch(`${base}/genesys/agent`, { method: "POST", headers: { "Content-Type": "application/json", "X-Hub-Signature": signBody(body, secret) }, body });
  const answer = (await res.json().catch(() => ({}))) as { messageId?: string };
  return { status: res.status, messageId: answer.messageId };
}

const ok = (messageId: string): Answer => ({ status: 200, messageId: `id-${messageId}` });

/**
 * Exactly once, for real: real Node-RED processes with the packed package, a context store that reads and
 * writes a file on every access, two instances sharing a real Redis, and a full deploy under load.
 */
describe("exactly once in real Node-RED processes", function () {
  this.timeout(180_000);
  let collector: Collector;
  let sim: NexusSimulator;
  const running: RunningNodeRed[] = [];

  before(async () => {
    collector = await new Collector().start();
    sim = await simulator();
  });
  after(async () => {
    for (const n of running) await n.stop();
    await collector.close();
    await sim.close();
  });

  it("with localfilesystem (cache off): concurrent deliveries enter once, answers outlive a restart", async () => {
    const nodeRed = await startNodeRed(webhookFlow(collector, sim.baseUrl), { chan: { secret: SECRET, apiKey: API_KEY } }, {
      contextStorage: { default: { module: "localfilesystem", config: { cache: false } } },
    });
    running.push(nodeRed);
    const burst = await Promise.all(Array.from({ length: 10 }, () => deliver(nodeRed.base, "fs-burst")));
    for (const a of burst) assert.deepEqual(a, ok("fs-burst"));
    assert.equal(collector.count("/entered"), 1);

    const ids = Array.from({ length: 50 }, (_, i) => `fs-${i}`);
    (await Promise.all(ids.map((id) => deliver(nodeRed.base, id)))).forEach((a, i) => assert.deepEqual(a, ok(ids[i])));
    (await Promise.all(ids.map((id) => deliver(nodeRed.base, id)))).forEach((a, i) => assert.deepEqual(a, ok(ids[i])));
    assert.equal(collector.count("/entered"), 51, "each message entered once");

    await nodeRed.restart();
    (await Promise.all(ids.map((id) => deliver(nodeRed.base, id)))).forEach((a, i) => assert.deepEqual(a, ok(ids[i])));
    assert.equal(collector.count("/entered"), 51, "the answers were kept in the file across the restart");
  });

  describe("two instances behind one URL sharing Redis", () => {
    const redis = new RedisServer();
    let a: RunningNodeRed;
    let b: RunningNodeRed;

    before(async function () {
      requireRedis(this);
      await redis.start();
      const flow = webhookFlow(collector, sim.baseUrl, { dedupeStore: "redis" });
      const credentials = { chan: { secret: SECRET, apiKey: API_KEY }, hook: { redisUrl: redis.url } };
      [a, b] = await Promise.all([startNodeRed(flow, credentials), startNodeRed(flow, credentials)]);
      running.push(a, b);
    });
    after(() => redis.destroy());

    it("lets 100 messages, each delivered to both at once and then again to each, enter exactly 100 times in all", async () => {
      const before = collector.count("/entered");
      const ids = Array.from({ length: 100 }, (_, i) => `ha-${i}`);
      const both = await Promise.all(ids.flatMap((id) => [deliver(a.base, id), deliver(b.base, id)]));
      both.forEach((ans, i) => assert.deepEqual(ans, ok(ids[Math.floor(i / 2)])));
      const again = await Promise.all(ids.flatMap((id) => [deliver(a.base, id), deliver(b.base, id)]));
      again.forEach((ans, i) => assert.deepEqual(ans, ok(ids[Math.floor(i / 2)])));
      assert.equal(collector.count("/entered") - before, 100);
    });

    it("answers 503 while Redis is down, lets nothing in unclaimed, and loses nothing once it is back", async () => {
      const before = collector.count("/entered");
      await redis.stop();
      const down = await Promise.all(["rd-1", "rd-2"].flatMap((id) => [deliver(a.base, id), deliver(b.base, id)]));
      for (const ans of down) assert.equal(ans.status, 503);
      assert.equal(collector.count("/entered"), before, "nothing entered while Redis was down");
      assert.match(a.log(), /dedupe store cannot be reached/);
      await redis.start();
      // Genesys delivers again: both come through, once each, and what was answered before is still known.
      let answers: Answer[] = [];
      for (let attempt = 0; attempt < 20; attempt++) {
        answers = await Promise.all(["rd-1", "rd-2", "ha-0"].flatMap((id) => [deliver(a.base, id), deliver(b.base, id)]));
        if (answers.every((ans) => ans.status === 200)) break;
        await new Promise((r) => setTimeout(r, 250));
      }
      assert.deepEqual(answers, [ok("rd-1"), ok("rd-1"), ok("rd-2"), ok("rd-2"), ok("ha-0"), ok("ha-0")]);
      assert.equal(collector.count("/entered") - before, 2);
    });
  });

  it("accounts for each of 300 sends in the output, in Catch or in the log when a full deploy comes while they wait on a slow API", async () => {
    const flow = [
      { id: "t2", type: "tab", label: "send" },
      { id: "chan", type: "genesys-nexus-channel", name: "c", baseUrl: sim.baseUrl, channelId: "sms-test-channel", ccid: "5d8f4a1e-0b7c-4e39-9c1d-2f6a8b3e7c40", timeout: 20000, retries: 0 },
      { id: "in", type: "http in", z: "t2", url: "/send", method: "post", upload: false, x: 100, y: 100, wires: [["ack", "prep"]] },
      { id: "ack", type: "http response", z: "t2", statusCode: "202", headers: {}, x: 300, y: 60, wires: [] },
      { id: "prep", type: "change", z: "t2", rules: [{ t: "set", p: "traceId", pt: "msg", to: "payload.traceId", tot: "msg" }, { t: "delete", p: "req", pt: "msg" }, { t: "delete", p: "res", pt: "msg" }], x: 300, y: 100, wires: [["send"]] },
      { id: "send", type: "genesys-nexus-send", z: "t2", channel: "chan", x: 500, y: 100, wires: [["outId"]] },
      { id: "outId", type: "change", z: "t2", rules: [{ t: "set", p: "payload", pt: "msg", to: "traceId", tot: "msg" }], x: 700, y: 100, wires: [["out"]] },
      report("out", "t2", `${collector.url}/output`),
      { id: "catch", type: "catch", z: "t2", scope: ["send"], uncaught: false, x: 500, y: 200, wires: [["caughtId"]] },
      { id: "caughtId", type: "change", z: "t2", rules: [{ t: "set", p: "payload", pt: "msg", to: "traceId", tot: "msg" }], x: 700, y: 200, wires: [["caught"]] },
      report("caught", "t2", `${collector.url}/caught`),
    ];
    const nodeRed = await startNodeRed(flow, { chan: { secret: SECRET, apiKey: API_KEY } });
    running.push(nodeRed);
    sim.reset();
    sim.injectFaults(...Array.from({ length: 300 }, () => ({ kind: "delay" as const, ms: 1500 })));
    const traceIds = Array.from({ length: 300 }, (_, i) => `d${String(i).padStart(3, "0")}`.padEnd(32, "e"));
    const accepted = await Promise.all(
      traceIds.map((traceId, i) =>
        fetch(`${nodeRed.base}/send`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ traceId, messageId: `dep-${i}`, type: "Text", text: "hi" }) }),
      ),
    );
    for (const res of accepted) assert.equal(res.status, 202);
    await until(() => sim.connectionCount >= 32, 5000, "requests on the wire");
    await nodeRed.deploy(flow, "full");
    await until(() => /Started flows/.test(nodeRed.log().split("Stopping flows").pop() ?? ""), 20_000, "the flows to start again");
    await new Promise((r) => setTimeout(r, 500));
    const seen = new Set([...(collector.seen.get("/output") ?? []), ...(collector.seen.get("/caught") ?? [])]);
    const log = nodeRed.log();
    const missing = traceIds.filter((id) => !seen.has(id) && !log.includes(id));
    assert.deepEqual(missing, [], "every message is in the output, in Catch or in the log");
    assert.ok(/was not sent to Genesys/.test(log), "the queued ones are named as not sent");
    assert.ok(/reached Genesys \(HTTP 200\)/.test(log) || seen.size > 0, "the ones on the wire finished");
  });
});
