/**
 * `npm run bench:outbox`: the send node's outbox. In an embedded Node-RED whose channel points at a closed
 * port: how fast 10,000 messages are taken (each done() only once flushed to disk); then, with the
 * simulator started on that port, how fast they drain, in order; then how much RSS grows with 100,000
 * messages waiting. Then the send node with its outbox on (and empty) against the same node without it,
 * each in a fresh process against the simulator, alternating, medians. Writes bench/outbox.json and
 * prints the paragraph for BENCHMARKS.md.
 */
import { execFile } from "child_process";
import fs from "fs";
import net from "net";
import path from "path";
import { embeddedNodeRed, type RedApi } from "./embedded-node-red";
import { startSimulatorProcess } from "./simulator-process";

const REPS = Number(process.env.BENCH_REPS ?? 3);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
const TAKE = 10_000;
const WAITING = 100_000;
const root = path.resolve(__dirname, "..", "..");
const SECRET = "bench-secret";
const CHANNEL = "demo-channel";
const CCID = "8b6b7e2e-3c1f-4c4e-9a51-6a1f5f0c2d10";

const message = (i: number): Record<string, unknown> => ({
  channel: "sms",
  messageId: `o-${process.pid}-${i}`,
  from: { id: "+15550001", nickname: "Bench" },
  to: { id: "+15550100" },
  type: "Text",
  text: "A benchmark message of ordinary length, like one an SMS gateway would forward.",
});

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const probe = net.createServer();
    probe.listen(0, "127.0.0.1", () => {
      const p = (probe.address() as net.AddressInfo).port;
      probe.close(() => resolve(p));
    });
  });
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const rssMb = (): number => process.memoryUsage().rss / 1024 / 1024;
/** Anonymous and file-backed resident memory (Linux), for the report. */
const rssParts = (): string => {
  try {
    const status = fs.readFileSync("/proc/self/status", "utf8");
    const kb = (name: string): number => Number(new RegExp(`${name}:\\s+(\\d+)`).exec(status)?.[1] ?? 0) / 1024;
    return `anon ${kb("RssAnon").toFixed(1)} MB, file ${kb("RssFile").toFixed(1)} MB, heap ${(process.memoryUsage().heapUsed / 1048576).toFixed(1)} MB`;
  } catch {
    return "";
  }
};
const gc = (): void => (global as { gc?: () => void }).gc?.();
/** RSS once garbage is collected: the median of five readings over a second, after three collections. */
async function settledRssMb(): Promise<number> {
  const readings: number[] = [];
  for (let i = 0; i < 3; i++) {
    gc();
    await sleep(200);
  }
  for (let i = 0; i < 5; i++) {
    readings.push(rssMb());
    await sleep(200);
  }
  return readings.sort((a, b) => a - b)[2];
}

interface OutboxNumbers {
  takePerSecond: number;
  drainPerSecond: number;
  drainedInOrder: boolean;
  rssGrowthMb: number;
  rssBeforeMb: number;
  rssWithWaitingMb: number;
}

/** Take, drain and memory, in this process. */
async function takeAndDrain(): Promise<OutboxNumbers> {
  const port = await freePort();
  const flows = [
    { id: "t", type: "tab" },
    { id: "chan", type: "genesys-nexus-channel", name: "bench", baseUrl: `http://127.0.0.1:${port}/nexus/v3`, channelId: CHANNEL, ccid: CCID, timeout: 5000, retries: 0, outboxProbeMax: 0.1, outboxLimit: 200_000 },
    { id: "n", z: "t", type: "genesys-nexus-send", channel: "chan", outbox: true, wires: [["sink"]] },
    { id: "sink", z: "t", type: "junction", wires: [] },
  ];
  const nr = await embeddedNodeRed(flows, { chan: { secret: SECRET } });
  const RED: RedApi = nr.RED;
  const node = RED.nodes.getNode("n");
  let completed = 0;
  RED.hooks.add("onComplete.outbox", (event: { node: { id: string }; error?: unknown }) => {
    if (event.node.id === "n" && !event.error) completed++;
  });
  const arrived: number[] = [];
  let firstAt = 0;
  let lastAt = 0;
  RED.hooks.add("onReceive.outbox", (event: { destination: { id: string }; msg: { seq?: number } }) => {
    if (event.destination.id !== "sink") return;
    if (arrived.length === 0) firstAt = performance.now();
    lastAt = performance.now();
    arrived.push(event.msg.seq as number);
  });
  const take = async (from: number, count: number): Promise<number> => {
    const target = completed + count;
    const t0 = performance.now();
    // In chunks, as a gateway would feed them: not all held in memory at once.
    for (let i = 0; i < count; i += 1000) {
      for (let j = i; j < Math.min(count, i + 1000); j++) node.receive({ _msgid: `m${from + j}`, seq: from + j, payload: message(from + j) });
      while (completed < target - (count - Math.min(count, i + 1000))) await sleep(1);
    }
    return (performance.now() - t0) / 1000;
  };
  try {
    // The first message waits for the connection to fail; the rest queue behind it.
    await take(0, 10);
    const seconds = await take(10, TAKE);
    const takePerSecond = TAKE / seconds;
    process.stderr.write(`took ${TAKE} in ${seconds.toFixed(2)} s: ${Math.round(takePerSecond)}/s\n`);

    const sim = await startSimulatorProcess(["--record-limit", "0", "--port", String(port)]);
    const expected = TAKE + 10;
    const deadline = Date.now() + 120_000;
    while (arrived.length < expected && Date.now() < deadline) await sleep(20);
    const drainPerSecond = (arrived.length - 1) / ((lastAt - firstAt) / 1000);
    const drainedInOrder = arrived.length === expected && arrived.every((seq, i) => seq === i);
    process.stderr.write(`drained ${arrived.length} at ${Math.round(drainPerSecond)}/s, in order: ${drainedInOrder}\n`);
    await sim.stop();

    // Memory: 100,000 waiting (the API down again).
    const rssBeforeMb = await settledRssMb();
    process.stderr.write(`before: ${rssParts()}\n`);
    for (let k = 0; k < WAITING / TAKE; k++) await take(expected + k * TAKE, TAKE);
    const rssWithWaitingMb = await settledRssMb();
    process.stderr.write(`with ${WAITING} waiting: ${rssParts()}\n`);
    process.stderr.write(`RSS ${rssBeforeMb.toFixed(1)} MB -> ${rssWithWaitingMb.toFixed(1)} MB with ${WAITING} waiting\n`);
    return { takePerSecond, drainPerSecond, drainedInOrder, rssGrowthMb: rssWithWaitingMb - rssBeforeMb, rssBeforeMb, rssWithWaitingMb };
  } finally {
    await nr.stop();
  }
}

interface VariantResult {
  variant: string;
  rps: number;
  cpuUsPerRequest: number;
}

function runVariant(variant: string, concurrency: number, baseUrl: string): Promise<VariantResult> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [path.join(__dirname, "variant.js"), variant, String(concurrency), String(SECONDS), baseUrl], { cwd: root, maxBuffer: 1 << 20 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`${variant}@${concurrency}: ${err.message}\n${stderr}`));
      resolve(JSON.parse(stdout.trim().split("\n").pop() as string) as VariantResult);
    });
  });
}

const median = (values: number[]): number => {
  const v = [...values].sort((a, b) => a - b);
  return v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
};

interface EmptyRatio {
  concurrency: number;
  without: number;
  with: number;
  ratio: number;
  /** CPU per message (µs), which the machine's other load disturbs less than throughput. */
  cpuWithout: number;
  cpuWith: number;
}

async function emptyOutboxRatio(): Promise<EmptyRatio[]> {
  const sim = await startSimulatorProcess(["--record-limit", "0"]);
  const out = [];
  try {
    for (const concurrency of [1, 16]) {
      const rps: Record<string, number[]> = { node: [], "node-outbox": [] };
      const cpu: Record<string, number[]> = { node: [], "node-outbox": [] };
      for (let rep = 0; rep < REPS; rep++) {
        const order = rep % 2 === 0 ? ["node", "node-outbox"] : ["node-outbox", "node"];
        for (const v of order) {
          const r = await runVariant(v, concurrency, sim.baseUrl);
          rps[v].push(r.rps);
          cpu[v].push(r.cpuUsPerRequest);
          process.stderr.write(`rep ${rep + 1}/${REPS} ${v}@${concurrency}: ${Math.round(r.rps)} msg/s\n`);
        }
      }
      const without = median(rps.node);
      const withOutbox = median(rps["node-outbox"]);
      out.push({ concurrency, without, with: withOutbox, ratio: withOutbox / without, cpuWithout: median(cpu.node), cpuWith: median(cpu["node-outbox"]) });
    }
  } finally {
    await sim.stop();
  }
  return out;
}

async function main(): Promise<void> {
  const outbox = await takeAndDrain();
  const empty = process.env.BENCH_OUTBOX_SKIP_RATIO ? [] : await emptyOutboxRatio();
  const results = { date: new Date().toISOString(), node: process.version, outbox, emptyOutbox: empty };
  fs.writeFileSync(path.join(root, "bench", "outbox.json"), JSON.stringify(results, null, 2) + "\n");
  const f = (n: number): string => Math.round(n).toLocaleString("en-US");
  const paragraph = [
    "## The outbox",
    "",
    `With the API down (its port closed), the send node took ${f(TAKE)} messages into its channel's outbox at **${f(outbox.takePerSecond)} messages/s**, each done only once flushed to disk (LMDB, writes of one event turn committed and fsynced together). ` +
      `With the simulator started on that port, the outbox drained them one at a time, in order (${outbox.drainedInOrder ? "checked" : "NOT in order"}), at **${f(outbox.drainPerSecond)} messages/s**, each leaving the send node's output with its answer. ` +
      `RSS grew by **${outbox.rssGrowthMb.toFixed(1)} MB** with ${f(WAITING)} messages waiting (${outbox.rssBeforeMb.toFixed(0)} MB -> ${outbox.rssWithWaitingMb.toFixed(0)} MB; only the count, the oldest time and a 64-message read-ahead window are in memory; the file's mapped pages count as they are touched).`,
    "",
    "| concurrency | send node | send node, outbox on and empty | ratio | CPU per message, without / with |",
    "|---|---|---|---|---|",
    ...empty.map((e) => `| ${e.concurrency} | ${f(e.without)} msg/s | ${f(e.with)} msg/s | ${e.ratio.toFixed(2)}x | ${e.cpuWithout.toFixed(0)} / ${e.cpuWith.toFixed(0)} µs (${(e.cpuWithout / e.cpuWith).toFixed(2)}x) |`),
    "",
    `Medians of ${REPS} alternating runs of ${SECONDS} s, each in a fresh process, against the simulator in its own process. \`npm run bench:outbox\` writes bench/outbox.json.`,
  ].join("\n");
  process.stdout.write(paragraph + "\n");
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
