/**
 * One benchmark variant in a fresh process: `node dist/bench/variant.js <variant> <concurrency> <seconds>
 * <simulator base URL>`. Keeps `concurrency` requests in flight for a warm-up second and then `seconds`,
 * and prints one JSON line: requests per second, latency percentiles and CPU per request.
 */
import axios, { type AxiosInstance } from "axios";
import { createHmac } from "crypto";
import FormData from "form-data";
import http from "http";
import { newTraceId } from "../lib/client/trace-id";
import { pinToCore } from "./cpu-pin";
import { embeddedNodeRed, type RedApi } from "./embedded-node-red";
import { nodeRedProcess } from "./node-red-process";

const [variant, concurrencyArg, secondsArg, baseUrl] = process.argv.slice(2);
const concurrency = Number(concurrencyArg);
const seconds = Number(secondsArg);
const SECRET = "bench-secret";
const CHANNEL = "demo-channel";
const CCID = "8b6b7e2e-3c1f-4c4e-9a51-6a1f5f0c2d10";
const MEDIA = Buffer.alloc(1024 * 1024, 0x42);

let counter = 0;
const message = (): Record<string, unknown> => ({
  channel: "sms",
  messageId: `b-${process.pid}-${counter++}`,
  from: { id: "+15550001", nickname: "Bench" },
  to: { id: "+15550100" },
  type: "Text",
  text: "A benchmark message of ordinary length, like one an SMS gateway would forward.",
});
const sign = (body: Buffer | string): string => "sha1=" + createHmac("sha1", SECRET).update(body).digest("hex");

/**
 * Keeps `concurrency` operations going; measures the window after a one-second warm-up. CPU is this
 * process's, or the server process's when `serverCpuMs` reads it (a webhook's cost is the server's).
 */
async function load(start: (done: (ok: boolean) => void) => void, serverCpuMs?: () => number): Promise<Record<string, number>> {
  const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
  const latencies: number[] = [];
  let ok = 0;
  let failed = 0;
  let measuring = false;
  let stopping = false;
  let active = 0;
  let drained: () => void = () => undefined;
  const allDone = new Promise<void>((resolve) => (drained = resolve));
  const launch = (): void => {
    if (stopping) {
      if (active === 0) drained();
      return;
    }
    active++;
    const began = process.hrtime.bigint();
    start((success) => {
      active--;
      if (measuring) {
        latencies.push(Number(process.hrtime.bigint() - began) / 1e6);
        if (success) ok++;
        else failed++;
      }
      launch();
    });
  };
  for (let i = 0; i < concurrency; i++) launch();
  await sleep(1000);
  measuring = true;
  const cpuStart = process.cpuUsage();
  const serverStart = serverCpuMs?.() ?? 0;
  const t0 = performance.now();
  await sleep(seconds * 1000);
  measuring = false;
  const elapsed = (performance.now() - t0) / 1000;
  const own = process.cpuUsage(cpuStart);
  const cpu = serverCpuMs ? { user: (serverCpuMs() - serverStart) * 1000, system: 0 } : own;
  stopping = true;
  await allDone;
  latencies.sort((a, b) => a - b);
  const pct = (p: number): number => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))] ?? 0;
  return { rps: ok / elapsed, p50: pct(50), p99: pct(99), cpuUsPerRequest: (cpu.user + cpu.system) / Math.max(1, ok + failed), failed };
}

async function rawClient(): Promise<() => (done: (ok: boolean) => void) => void> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const url = new URL(`${baseUrl}/channels/${CHANNEL}/messages`);
  return () => (done) => {
    const body = Buffer.from(JSON.stringify(message()));
    const req = http.request(
      {
        host: url.hostname,
        port: url.port,
        path: url.pathname,
        method: "POST",
        agent,
        headers: {
          "Content-Type": "application/json",
          "Content-Length": body.length,
          "X-Hub-Signature": sign(body),
          "x-ccid": CCID,
          "X-B3-TraceId": newTraceId(),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          JSON.parse(Buffer.concat(chunks).toString());
          done(res.statusCode === 200);
        });
      },
    );
    req.on("error", () => done(false));
    req.end(body);
  };
}

/** Bare undici: a keep-alive `Pool.request()` doing the raw client's work (JSON, HMAC-SHA1, trace id, parsing the answer). */
async function undiciPool(): Promise<() => (done: (ok: boolean) => void) => void> {
  const { Pool } = await import("undici");
  const url = new URL(`${baseUrl}/channels/${CHANNEL}/messages`);
  const pool = new Pool(url.origin, { connections: concurrency });
  return () => (done) => {
    const body = Buffer.from(JSON.stringify(message()));
    pool
      .request({
        path: url.pathname,
        method: "POST",
        headers: { "content-type": "application/json", "x-hub-signature": sign(body), "x-ccid": CCID, "x-b3-traceid": newTraceId() },
        body,
      })
      .then(async (res) => {
        JSON.parse(await res.body.text());
        done(res.statusCode === 200);
      })
      .catch(() => done(false));
  };
}

/** axios at its best: keep-alive, no redirects, no proxy lookup, identity transforms. */
function tunedAxios(): AxiosInstance {
  return axios.create({
    httpAgent: new http.Agent({ keepAlive: true, maxSockets: concurrency }),
    maxRedirects: 0,
    proxy: false,
    transformRequest: [(d: unknown) => d],
    transformResponse: [(d: unknown) => d],
    responseType: "arraybuffer",
    validateStatus: null,
  });
}

function axiosAlone(withSignal = false): () => (done: (ok: boolean) => void) => void {
  const client = tunedAxios();
  const url = `${baseUrl}/channels/${CHANNEL}/messages`;
  return () => (done) => {
    const body = Buffer.from(JSON.stringify(message()));
    client
      .post(url, body, {
        headers: { "Content-Type": "application/json", "X-Hub-Signature": sign(body), "x-ccid": CCID, "X-B3-TraceId": newTraceId() },
        signal: withSignal ? new AbortController().signal : undefined,
      })
      .then((res) => {
        JSON.parse((res.data as Buffer).toString());
        done(res.status === 200);
      }, () => done(false));
  };
}

function axiosUpload(): () => (done: (ok: boolean) => void) => void {
  const client = tunedAxios();
  const url = `${baseUrl}/channels/${CHANNEL}/media`;
  return () => (done) => {
    const form = new FormData();
    form.append("file", MEDIA, { filename: "photo.jpg", contentType: "image/jpeg" });
    const body = form.getBuffer();
    client
      .post(url, body, { headers: { ...form.getHeaders(), "X-Hub-Signature": sign(body), "x-ccid": CCID } })
      .then((res) => done(res.status === 200), () => done(false));
  };
}

// Like for like: the channel may open as many connections as the baselines' agents and pools (one per request in flight).
const channel = { id: "chan", type: "genesys-nexus-channel", name: "bench", baseUrl, channelId: CHANNEL, ccid: CCID, timeout: 30000, retries: 0, maxInFlight: concurrency };

/** Drives one node of an embedded Node-RED: `receive` in, the runtime's onComplete hook out. */
async function nodeRedDriver(flows: object[], entry: string, exit: string, makeMsg: () => Record<string, unknown>): Promise<{ start: (done: (ok: boolean) => void) => void; stop(): Promise<void> }> {
  const nr = await embeddedNodeRed(flows, { chan: { secret: SECRET } }, { functionGlobalContext: { crypto: await import("crypto") } });
  const RED: RedApi = nr.RED;
  // Each message carries its own completion callback: a long-lived Map of short-lived entries would cost
  // the measured process GC work of the harness's own (see lib/util/linked-list.ts), not the node's.
  const DONE = Symbol("bench.done");
  type Tracked = { _msgid: string; [DONE]?: (ok: boolean) => void };
  RED.hooks.add("onComplete.bench", (event: { msg: Tracked; node: { id: string }; error?: unknown }) => {
    if (event.node.id !== exit && !event.error) return;
    const done = event.msg[DONE];
    if (!done) return;
    event.msg[DONE] = undefined;
    done(!event.error);
  });
  const node = RED.nodes.getNode(entry);
  let id = 0;
  return {
    start: (done) => {
      const msg: Tracked = { _msgid: `m${id++}`, ...makeMsg() };
      msg[DONE] = done;
      node.receive(msg);
    },
    stop: () => nr.stop(),
  };
}

async function main(): Promise<void> {
  let start: (done: (ok: boolean) => void) => void;
  let stop = async (): Promise<void> => undefined;
  let serverCpuMs: (() => number) | undefined;
  switch (variant) {
    case "raw":
      start = (await rawClient())();
      break;
    case "undici":
      start = (await undiciPool())();
      break;
    case "axios":
      start = axiosAlone()();
      break;
    case "axios-signal":
      start = axiosAlone(true)();
      break;
    case "client": {
      const { NexusClient } = await import("../lib/client");
      const client = new NexusClient({ baseUrl, channelId: CHANNEL, ccid: CCID, secret: SECRET, retries: 0, maxInFlight: concurrency });
      start = (done) => {
        client.sendMessage(message()).then(() => done(true), () => done(false));
      };
      stop = async () => client.close();
      break;
    }
    case "upload-axios":
      start = axiosUpload()();
      break;
    case "node":
    case "upload-node": {
      const type = variant === "node" ? "genesys-nexus-send" : "genesys-nexus-upload";
      const d = await nodeRedDriver(
        [{ id: "t", type: "tab" }, channel, { id: "n", z: "t", type, channel: "chan", filename: "photo.jpg", wires: [] }],
        "n",
        "n",
        variant === "node" ? () => ({ payload: message() }) : () => ({ payload: MEDIA }),
      );
      start = d.start;
      stop = d.stop;
      break;
    }
    case "diy": {
      const fn = `const body = JSON.stringify(msg.payload);
msg.headers = {
  "Content-Type": "application/json",
  "X-Hub-Signature": "sha1=" + global.get("crypto").createHmac("sha1", "${SECRET}").update(body).digest("hex"),
  "x-ccid": "${CCID}",
  "X-B3-TraceId": global.get("crypto").randomBytes(16).toString("hex")
};
msg.payload = body;
return msg;`;
      const d = await nodeRedDriver(
        [
          { id: "t", type: "tab" },
          { id: "sign", z: "t", type: "function", func: fn, outputs: 1, libs: [], wires: [["req"]] },
          { id: "req", z: "t", type: "http request", method: "POST", ret: "obj", paytoqs: "ignore", url: `${baseUrl}/channels/${CHANNEL}/messages`, persist: true, insecureHTTPParser: false, wires: [[]] },
        ],
        "sign",
        "req",
        () => ({ payload: message() }),
      );
      start = d.start;
      stop = d.stop;
      break;
    }
    case "webhook-node":
    case "webhook-core": {
      // Like for like, in a default Node-RED process (editor and admin API on /): a delivery goes in, a change
      // node sets the answer, and the answer goes out. The webhook also verifies the signature over the raw
      // bytes and remembers the delivery; the core flow does neither.
      const answer = { t: "set", p: "messageId", pt: "msg", to: '"gw-" & payload.messageId', tot: "jsonata" };
      const flows =
        variant === "webhook-node"
          ? [
              { id: "t", type: "tab" },
              channel,
              { id: "in", z: "t", type: "genesys-nexus-webhook", channel: "chan", url: "/hook", replyTimeout: 8000, wires: [["set"]] },
              { id: "set", z: "t", type: "change", rules: [answer], wires: [["out"]] },
              { id: "out", z: "t", type: "genesys-nexus-webhook-response", wires: [] },
            ]
          : [
              { id: "t", type: "tab" },
              { id: "in", z: "t", type: "http in", url: "/hook", method: "post", wires: [["set"]] },
              { id: "set", z: "t", type: "change", rules: [answer, { t: "set", p: "payload", pt: "msg", to: '{"messageId": messageId}', tot: "jsonata" }], wires: [["out"]] },
              { id: "out", z: "t", type: "http response", statusCode: "200", headers: {}, wires: [] },
            ];
      const nr = await nodeRedProcess(flows, { chan: { secret: SECRET } });
      // Here the Node-RED process is what is measured; this process only sends the load.
      if (pinToCore(nr.pid, "measured")) pinToCore(process.pid, "helper");
      const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
      start = (done) => {
        const body = Buffer.from(JSON.stringify(message()));
        const req = http.request(
          { host: "127.0.0.1", port: nr.port, path: "/hook", method: "POST", agent, headers: { "Content-Type": "application/json", "Content-Length": body.length, "X-Hub-Signature": sign(body) } },
          (res) => {
            const chunks: Buffer[] = [];
            res.on("data", (c: Buffer) => chunks.push(c));
            res.on("end", () => done(res.statusCode === 200 && Buffer.concat(chunks).includes("gw-")));
          },
        );
        req.on("error", () => done(false));
        req.end(body);
      };
      serverCpuMs = () => nr.cpuMs();
      stop = () => nr.stop();
      break;
    }
    default:
      throw new Error(`unknown variant ${variant}`);
  }
  const measured = await load(start, serverCpuMs);
  await stop();
  process.stdout.write(JSON.stringify({ variant, concurrency, ...measured }) + "\n");
  process.exit(0);
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack}\n`);
  process.exit(1);
});
