import assert from "assert/strict";
import fs from "fs";
import http from "http";
import net, { type AddressInfo, type Socket } from "net";
import path from "path";
import type { NexusSimulator } from "../../lib/simulator";
import { API_KEY, CCID, CHANNEL, SECRET, freePort, simulator, until } from "../support";
import { startNodeRed, type RunningNodeRed } from "./node-red-process";

/** A server the flows report to: the message ids that left the send node, finished, or reached Catch. */
class Collector {
  readonly seen = new Map<string, string[]>();
  private server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const list = this.seen.get(req.url ?? "") ?? [];
      list.push(Buffer.concat(chunks).toString());
      this.seen.set(req.url ?? "", list);
      res.end("ok");
    });
  });
  url = "";

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  list(p: string): string[] {
    return this.seen.get(p) ?? [];
  }

  reset(): void {
    this.seen.clear();
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

/**
 * A TCP front for the simulator that can stop answering: in `blackhole` mode it keeps every connection
 * (old and new) open, takes what the client writes and passes nothing on, in either direction.
 */
class Front {
  mode: "forward" | "blackhole" = "forward";
  private readonly sockets = new Set<Socket>();
  private readonly server = net.createServer((client) => {
    this.sockets.add(client);
    client.on("close", () => this.sockets.delete(client));
    client.on("error", () => undefined);
    if (this.mode === "blackhole") {
      client.resume();
      return;
    }
    const upstream = net.connect(this.target, "127.0.0.1");
    upstream.on("error", () => client.destroy());
    client.on("error", () => upstream.destroy());
    client.on("close", () => upstream.destroy());
    upstream.on("close", () => client.destroy());
    client.on("data", (d: Buffer) => {
      if (this.mode === "forward") upstream.write(d);
    });
    upstream.on("data", (d: Buffer) => {
      if (this.mode === "forward") client.write(d);
    });
  });
  port = 0;

  constructor(private readonly target: number) {}

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  /** Answers again: connections kept in the black hole are cut, new ones reach the simulator. */
  recover(): void {
    this.mode = "forward";
    for (const s of this.sockets) s.destroy();
  }

  close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

const report = (id: string, url: string, wires: string[][] = [[]]): Record<string, unknown> => ({
  id, z: "t1", type: "http request", method: "POST", ret: "txt", paytoqs: "ignore", url, tls: "", persist: false, proxy: "", insecureHTTPParser: false, authType: "", senderr: false, headers: [], x: 500, y: 100, wires,
});
const setPayload = (id: string, to: string, wires: string[]): Record<string, unknown> => ({
  id, z: "t1", type: "change", rules: [{ t: "set", p: "payload", pt: "msg", to, tot: "msg" }], x: 300, y: 100, wires: [wires],
});

/**
 * POST /send {messageId, traceId?, ...} is acknowledged at once and sent through an outbox send node; its
 * output, its done() (a Complete node) and its Catch report msg.mid to the collector. POST /outbox with
 * {"outbox": "status" | "clear"} answers with what a second outbox send node of the channel says.
 */
function outboxFlow(collector: Collector, baseUrl: string, channel: Record<string, unknown> = {}): object[] {
  return [
    { id: "t1", type: "tab", label: "outbox" },
    { id: "chan", type: "genesys-nexus-channel", name: "c", baseUrl, channelId: CHANNEL, ccid: CCID, timeout: 1000, retries: 0, outboxProbeMax: 0.5, ...channel },
    { id: "in", type: "http in", z: "t1", url: "/send", method: "post", upload: false, x: 100, y: 100, wires: [["ack", "prep"]] },
    { id: "ack", type: "http response", z: "t1", statusCode: "202", headers: {}, x: 300, y: 60, wires: [] },
    {
      id: "prep", type: "change", z: "t1", x: 300, y: 100, wires: [["send"]],
      rules: [
        { t: "set", p: "mid", pt: "msg", to: "payload.messageId", tot: "msg" },
        { t: "set", p: "traceId", pt: "msg", to: "payload.traceId", tot: "msg" },
        { t: "delete", p: "req", pt: "msg" },
        { t: "delete", p: "res", pt: "msg" },
      ],
    },
    { id: "send", type: "genesys-nexus-send", z: "t1", channel: "chan", outbox: true, x: 500, y: 100, wires: [["outMid"]] },
    setPayload("outMid", "mid", ["out"]),
    report("out", `${collector.url}/output`),
    { id: "complete", type: "complete", z: "t1", scope: ["send"], uncaught: false, x: 100, y: 200, wires: [["doneMid"]] },
    setPayload("doneMid", "mid", ["doneRep"]),
    report("doneRep", `${collector.url}/done`),
    { id: "catch", type: "catch", z: "t1", scope: ["send"], uncaught: false, x: 100, y: 300, wires: [["caughtMid"]] },
    { id: "caughtMid", type: "change", z: "t1", rules: [{ t: "set", p: "payload", pt: "msg", to: '{"mid": mid, "error": error.message, "reached": reachedGenesys}', tot: "jsonata" }], x: 300, y: 300, wires: [["caught"]] },
    report("caught", `${collector.url}/caught`),
    { id: "cmdIn", type: "http in", z: "t1", url: "/outbox", method: "post", upload: false, x: 100, y: 400, wires: [["cmdPrep"]] },
    { id: "cmdPrep", type: "change", z: "t1", rules: [{ t: "set", p: "outbox", pt: "msg", to: "payload.outbox", tot: "msg" }], x: 300, y: 400, wires: [["cmdSend"]] },
    { id: "cmdSend", type: "genesys-nexus-send", z: "t1", channel: "chan", outbox: true, x: 500, y: 400, wires: [["cmdOut"]] },
    { id: "cmdOut", type: "http response", z: "t1", statusCode: "200", headers: {}, x: 700, y: 400, wires: [] },
  ];
}

async function post(base: string, p: string, body: object): Promise<Response> {
  return fetch(`${base}${p}`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
}

async function outbox(base: string, command: "status" | "clear"): Promise<{ waiting?: number; removed?: number; oldest?: number | null }> {
  const res = await post(base, "/outbox", { outbox: command });
  assert.equal(res.status, 200);
  return (await res.json()) as { waiting?: number; removed?: number };
}

/** Sends the messages one after the other (so their order is defined), each acknowledged at once. */
async function sendAll(base: string, ids: string[], extra: (i: number) => object = () => ({})): Promise<void> {
  for (let i = 0; i < ids.length; i++) {
    const res = await post(base, "/send", { channel: "sms", messageId: ids[i], type: "Text", text: `text ${i}`, ...extra(i) });
    assert.equal(res.status, 202);
  }
}

/** messageIds of the consumer messages the simulator received, in order, duplicates included. */
function received(sim: NexusSimulator): Array<{ mid: string; traceId: string }> {
  return sim.requests
    .filter((r) => r.method === "POST" && r.path.endsWith("/messages"))
    .map((r) => ({ mid: (JSON.parse(r.body.toString()) as { messageId: string }).messageId, traceId: String(r.headers["x-b3-traceid"]) }));
}

const credentials = { chan: { secret: SECRET, apiKey: API_KEY } };

describe("the outbox in real Node-RED processes", function () {
  this.timeout(120_000);
  let collector: Collector;
  const running: RunningNodeRed[] = [];
  const sims: NexusSimulator[] = [];

  before(async () => {
    collector = await new Collector().start();
  });
  beforeEach(() => collector.reset());
  after(async () => {
    for (const n of running) await n.stop();
    for (const s of sims) await s.close();
    await collector.close();
  });

  it("keeps 500 messages while the API is down, through a SIGKILL, and delivers each once, in order, when it is back", async () => {
    const port = await freePort();
    const nodeRed = await startNodeRed(outboxFlow(collector, `http://127.0.0.1:${port}/nexus/v3`), credentials);
    running.push(nodeRed);
    const ids = Array.from({ length: 500 }, (_, i) => `kill-${String(i).padStart(3, "0")}`);
    await sendAll(nodeRed.base, ids);
    await until(() => collector.list("/done").length === 500, 30_000, "each message to be done");
    assert.deepEqual(new Set(collector.list("/done")), new Set(ids), "each message is done once it is kept");
    assert.deepEqual(collector.list("/caught"), []);
    assert.deepEqual(collector.list("/output"), []);
    assert.equal((await outbox(nodeRed.base, "status")).waiting, 500);
    const file = path.join(nodeRed.userDir, "genesys-nexus-outbox", "chan.mdb");
    assert.ok(fs.existsSync(file), "one file for the channel under the user directory");

    await nodeRed.restart("SIGKILL");
    const status = await outbox(nodeRed.base, "status");
    assert.equal(status.waiting, 500, "all 500 still wait after a crash");
    assert.ok(typeof status.oldest === "number" && status.oldest <= Date.now());

    const sim = await simulator({ port, recordLimit: 5000 });
    sims.push(sim);
    await until(() => collector.list("/output").length >= 500, 60_000, "the outbox to drain");
    await new Promise((r) => setTimeout(r, 300));
    const got = received(sim);
    assert.deepEqual(
      got.map((g) => g.mid),
      ids,
      "each reached the API once, in the order sent",
    );
    assert.equal(sim.duplicateCount, 0);
    assert.deepEqual([...collector.list("/output")].sort(), ids, "each left the send node's output once");
    assert.equal((await outbox(nodeRed.base, "status")).waiting, 0);
    await nodeRed.stop();
    running.splice(running.indexOf(nodeRed), 1);
    await sim.close();
    sims.splice(sims.indexOf(sim), 1);
  });

  it("loses none of 200 messages when the API stops answering with 64 in flight; only unknown outcomes are sent again, each logged", async () => {
    const sim = await simulator({ recordLimit: 5000 });
    sims.push(sim);
    const front = await new Front(Number(new URL(sim.baseUrl).port)).start();
    try {
      const nodeRed = await startNodeRed(outboxFlow(collector, `http://127.0.0.1:${front.port}/nexus/v3`), credentials);
      running.push(nodeRed);
      // Slow answers, so that many requests are on the wire when the API goes silent.
      sim.injectFaults(...Array.from({ length: 72 }, () => ({ kind: "delay" as const, ms: 300 })));
      const ids = Array.from({ length: 200 }, (_, i) => `hole-${String(i).padStart(3, "0")}`);
      const traces = ids.map((_, i) => `${String(i).padStart(4, "0")}`.padEnd(32, "a"));
      const sending = sendAll(nodeRed.base, ids, (i) => ({ traceId: traces[i] }));
      await until(() => sim.requestCount >= 64, 20_000, "64 requests in flight");
      front.mode = "blackhole";
      await sending;
      await new Promise((r) => setTimeout(r, 2500));
      front.recover();
      await until(() => collector.list("/output").length >= 200, 60_000, "the outbox to drain");
      await new Promise((r) => setTimeout(r, 300));
      assert.deepEqual([...collector.list("/output")].sort(), ids, "each left the output once: none lost");
      assert.deepEqual(collector.list("/caught"), []);
      const got = received(sim);
      const counts = new Map<string, number>();
      for (const g of got) counts.set(g.mid, (counts.get(g.mid) ?? 0) + 1);
      assert.deepEqual([...counts.keys()].sort(), ids, "each reached the API");
      const log = nodeRed.log();
      const twice = ids.filter((id) => (counts.get(id) ?? 0) > 1);
      for (const id of twice) {
        const trace = traces[ids.indexOf(id)];
        assert.ok(log.includes(`Sending message ${trace} again`), `the resend of ${id} is in the log`);
      }
      assert.ok(ids.every((id) => (counts.get(id) ?? 0) <= 2), "never more than once again");
      // The outage cut answers of requests the API had taken: those were unknown, and only those came twice.
      assert.ok(twice.length > 0, "some outcomes were unknown");
      const resends = log.match(/Sending message \S+ again/g) ?? [];
      assert.ok(resends.length >= twice.length, `${resends.length} resends logged for ${twice.length} seen twice`);
      // The messages the API never saw before the outage came through once.
      for (const g of got) assert.equal(g.traceId, traces[ids.indexOf(g.mid)], "the same trace id on every attempt");
    } finally {
      await front.close();
    }
  });

  it("sends a full outbox's extra message and an expired one to Catch, and a 400 to Catch while the rest go on", async () => {
    const port = await freePort();
    const nodeRed = await startNodeRed(outboxFlow(collector, `http://127.0.0.1:${port}/nexus/v3`, { outboxLimit: 5, outboxMaxAge: 3 }), credentials);
    running.push(nodeRed);
    const ids = Array.from({ length: 6 }, (_, i) => `full-${i}`);
    await sendAll(nodeRed.base, ids);
    await until(() => collector.list("/done").length + collector.list("/caught").length === 6, 10_000, "six messages handled");
    const caught = collector.list("/caught").map((c) => JSON.parse(c) as { mid: string; error: string });
    assert.equal(caught.length, 1);
    assert.equal(caught[0].mid, "full-5");
    assert.match(caught[0].error, /Outbox full \(5 messages\)/);
    // The API stays down: after 3 s the five expire, each to Catch with its age.
    await until(() => collector.list("/caught").length === 6, 15_000, "the five to expire");
    for (const c of collector.list("/caught").slice(1)) assert.match((JSON.parse(c) as { error: string }).error, /waited \d+ s in the outbox/);
    assert.equal((await outbox(nodeRed.base, "status")).waiting, 0);

    // A 400 for one message: that one to Catch, the rest delivered in order.
    collector.reset();
    const sim = await simulator({ port, recordLimit: 5000 });
    sims.push(sim);
    sim.injectFaults({ kind: "status", status: 503 });
    const more = ["bad-0", "ok-1", "ok-2", "ok-3"];
    await sendAll(nodeRed.base, more.slice(0, 1));
    await until(() => collector.list("/done").length === 1, 10_000, "the first kept");
    sim.injectFaults({ kind: "status", status: 400 });
    await sendAll(nodeRed.base, more.slice(1));
    await until(() => collector.list("/output").length === 3 && collector.list("/caught").length === 1, 20_000, "the outbox to drain");
    const refused = JSON.parse(collector.list("/caught")[0]) as { mid: string; error: string; reached: string };
    assert.equal(refused.mid, "bad-0");
    assert.match(refused.error, /400/);
    assert.equal(refused.reached, "yes");
    assert.deepEqual(collector.list("/output"), ["ok-1", "ok-2", "ok-3"]);
    await sim.close();
    sims.splice(sims.indexOf(sim), 1);
  });

  it("emits what a send node took through another outbox send node of the channel, with a warning, once that node is gone", async () => {
    const port = await freePort();
    const flow = outboxFlow(collector, `http://127.0.0.1:${port}/nexus/v3`);
    const nodeRed = await startNodeRed(flow, credentials);
    running.push(nodeRed);
    const ids = ["gone-0", "gone-1", "gone-2"];
    await sendAll(nodeRed.base, ids);
    await until(() => collector.list("/done").length === 3, 10_000, "the three to be kept");
    // The send node is replaced by another one (a new id); the command nodes go too.
    const next = flow
      .filter((n) => !["send", "cmdIn", "cmdPrep", "cmdSend", "cmdOut"].includes((n as { id: string }).id))
      .map((n) => ((n as { id: string }).id === "prep" ? { ...n, wires: [["send2"]] } : n));
    next.push({ id: "send2", type: "genesys-nexus-send", z: "t1", channel: "chan", outbox: true, x: 500, y: 100, wires: [["outMid"]] });
    await nodeRed.deploy(next, "full");
    const sim = await simulator({ port, recordLimit: 5000 });
    sims.push(sim);
    await until(() => collector.list("/output").length === 3, 20_000, "the three to leave through the new node");
    assert.deepEqual(collector.list("/output"), ids);
    assert.match(nodeRed.log(), /taken by send node send, which no longer exists/);
    await sim.close();
    sims.splice(sims.indexOf(sim), 1);
  });

  it("loses nothing and sends nothing twice when a full deploy comes while the outbox drains", async () => {
    const port = await freePort();
    const flow = outboxFlow(collector, `http://127.0.0.1:${port}/nexus/v3`);
    const nodeRed = await startNodeRed(flow, credentials);
    running.push(nodeRed);
    const ids = Array.from({ length: 300 }, (_, i) => `dep-${String(i).padStart(3, "0")}`);
    const traces = ids.map((_, i) => `${String(i).padStart(4, "0")}`.padEnd(32, "d"));
    await sendAll(nodeRed.base, ids, (i) => ({ traceId: traces[i] }));
    await until(() => collector.list("/done").length === 300, 30_000, "each message to be kept");
    const sim = await simulator({ port, recordLimit: 5000 });
    sims.push(sim);
    // Slow answers: the deploy comes while the outbox is halfway through.
    sim.injectFaults(...Array.from({ length: 300 }, () => ({ kind: "delay" as const, ms: 10 })));
    await until(() => collector.list("/output").length >= 50, 30_000, "the drain to begin");
    await nodeRed.deploy(flow, "full");
    const log = (): string => nodeRed.log();
    // A delivery in transit through the nodes after the send node when they stop is named in the log.
    const accounted = (): string[] => ids.filter((id, i) => collector.list("/output").includes(id) || log().includes(traces[i]));
    await until(() => accounted().length === 300 && received(sim).length === 300, 30_000, "the outbox to drain after the deploy").catch((err) => {
      console.log(accounted().length, received(sim).length, collector.list("/output").length, log().split("Stopping flows")[1]);
      throw err;
    });
    await new Promise((r) => setTimeout(r, 500));
    assert.deepEqual(received(sim).map((g) => g.mid), ids, "each reached the API once, in order");
    const out = collector.list("/output");
    assert.equal(new Set(out).size, out.length, "none left the output twice");
    assert.ok(out.length >= 295, `nearly all reached the end of the flow (${out.length})`);
    await sim.close();
    sims.splice(sims.indexOf(sim), 1);
  });
});
