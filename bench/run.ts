/**
 * `npm run bench`: the send node against the do-it-yourself flow (a core function node that signs, then
 * the core http request node), axios alone (redirects off, identity transforms, keep-alive: the best axios
 * does) and a raw keep-alive `http` client; uploads of 1 MiB; verified webhook deliveries against a plain
 * http in + http response flow. The simulator runs in its own process, each variant in a fresh process,
 * variants alternate over the repetitions, and every ratio compares medians of the same run. Writes
 * BENCHMARKS.md and docs/images/benchmark.svg.
 */
import { execFile } from "child_process";
import fs from "fs";
import os from "os";
import path from "path";
import { barChart } from "./chart";
import { pinToCore } from "./cpu-pin";
import { startSimulatorProcess } from "./simulator-process";

const REPS = Number(process.env.BENCH_REPS ?? 5);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
/** BENCH_ONLY=webhook-node,webhook-core runs only those variants and prints their medians, writing no file. */
const ONLY = process.env.BENCH_ONLY ? new Set(process.env.BENCH_ONLY.split(",").map((v) => v.trim())) : undefined;
/** BENCH_CONCURRENCY=16,64 runs only those levels of the plan, likewise writing no file. */
const levels = process.env.BENCH_CONCURRENCY?.split(",").filter(Boolean).map(Number);
const root = path.resolve(__dirname, "..", "..");

interface Result {
  variant: string;
  concurrency: number;
  rps: number;
  p50: number;
  p99: number;
  cpuUsPerRequest: number;
  failed: number;
}

function runVariant(variant: string, concurrency: number, baseUrl: string): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = execFile(process.execPath, [path.join(__dirname, "variant.js"), variant, String(concurrency), String(SECONDS), baseUrl], { cwd: root, maxBuffer: 1 << 20 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`${variant}@${concurrency}: ${err.message}\n${stderr}`));
      resolve(JSON.parse(stdout.trim().split("\n").pop() as string) as Result);
    });
    pinToCore(child.pid, "measured");
  });
}

const median = (values: number[]): number => {
  const v = [...values].sort((a, b) => a - b);
  return v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
};

async function measure(): Promise<Result[]> {
  const sim = await startSimulatorProcess(["--record-limit", "0", "--message-limit", "0", "--max-media-bytes", String(8 * 1024 * 1024)]);
  const results: Result[] = [];
  const plan: Array<{ variants: string[]; concurrency: number }> = [
    { variants: ["raw", "axios", "node", "diy"], concurrency: 1 },
    { variants: ["raw", "undici", "client", "axios", "node", "diy"], concurrency: 16 },
    { variants: ["raw", "undici", "client", "axios", "node", "diy"], concurrency: 64 },
    { variants: ["upload-node", "upload-axios"], concurrency: 4 },
    { variants: ["webhook-node", "webhook-core"], concurrency: 16 },
  ]
    .map((step) => ({ ...step, variants: step.variants.filter((v) => !ONLY || ONLY.has(v)) }))
    .filter((step) => step.variants.length > 0 && (!levels || levels.includes(step.concurrency)));
  try {
    for (let rep = 0; rep < REPS; rep++) {
      for (const { variants, concurrency } of plan) {
        // Alternate the order so that no variant always runs first (or last) after a pause.
        const order = variants.map((_, i) => variants[(i + rep) % variants.length]);
        for (const variant of order) {
          const r = await runVariant(variant, concurrency, sim.baseUrl);
          results.push(r);
          process.stderr.write(`rep ${rep + 1}/${REPS} ${variant}@${concurrency}: ${Math.round(r.rps)} req/s, p99 ${r.p99.toFixed(2)} ms\n`);
        }
      }
    }
  } finally {
    await sim.stop();
  }
  return results;
}

async function main(): Promise<void> {
  // BENCH_REPORT_ONLY=1 writes BENCHMARKS.md again from the last run's bench/results.json.
  const results: Result[] = process.env.BENCH_REPORT_ONLY ? (JSON.parse(fs.readFileSync(path.join(root, "bench", "results.json"), "utf8")) as { results: Result[] }).results : await measure();

  const med = (variant: string, concurrency: number, key: keyof Result): number =>
    median(results.filter((r) => r.variant === variant && r.concurrency === concurrency).map((r) => r[key] as number));
  if (ONLY || levels) {
    for (const key of [...new Set(results.map((r) => `${r.variant}@${r.concurrency}`))]) {
      const [v, c] = [key.split("@")[0], Number(key.split("@")[1])];
      process.stdout.write(`${key}: ${Math.round(med(v, c, "rps"))} req/s, p50 ${med(v, c, "p50").toFixed(2)} ms, p99 ${med(v, c, "p99").toFixed(2)} ms, ${Math.round(med(v, c, "cpuUsPerRequest"))} us CPU/req\n`);
    }
    return;
  }
  const machine = `${os.cpus()[0]?.model ?? "unknown CPU"}, ${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}, node-red ${JSON.parse(fs.readFileSync(require.resolve("node-red/package.json"), "utf8")).version}, ${os.platform()} ${os.release()}`;
  const lines: string[] = [];
  const names: Record<string, string> = {
    raw: "raw keep-alive `http` client",
    undici: "bare undici `Pool.request()`",
    client: "NexusClient alone",
    axios: "axios alone (tuned)",
    node: "**genesys-nexus-send**",
    diy: "function + http request (DIY)",
    "upload-node": "**genesys-nexus-upload**",
    "upload-axios": "axios + form-data alone",
    "webhook-node": "**genesys-nexus-webhook** (verified) + change + response",
    "webhook-core": "core http in + change + http response (no verification)",
  };
  lines.push("| concurrency | variant | req/s | vs raw | p50 ms | p99 ms | CPU µs/req |", "|---|---|---|---|---|---|---|");
  for (const c of [1, 16, 64]) {
    const raw = med("raw", c, "rps");
    for (const v of c === 1 ? ["raw", "axios", "node", "diy"] : ["raw", "undici", "client", "axios", "node", "diy"]) {
      lines.push(`| ${c} | ${names[v]} | ${Math.round(med(v, c, "rps"))} | ${(med(v, c, "rps") / raw).toFixed(2)}x | ${med(v, c, "p50").toFixed(2)} | ${med(v, c, "p99").toFixed(2)} | ${Math.round(med(v, c, "cpuUsPerRequest"))} |`);
    }
  }
  const extra = ["| case | variant | req/s | p50 ms | p99 ms | CPU µs/req |", "|---|---|---|---|---|---|"];
  for (const [v, c] of [["upload-node", 4], ["upload-axios", 4], ["webhook-node", 16], ["webhook-core", 16]] as Array<[string, number]>) {
    extra.push(`| ${v.startsWith("upload") ? "1 MiB upload, 4 in flight" : "webhook delivery, 16 in flight (CPU: the Node-RED process)"} | ${names[v]} | ${Math.round(med(v, c, "rps"))} | ${med(v, c, "p50").toFixed(2)} | ${med(v, c, "p99").toFixed(2)} | ${Math.round(med(v, c, "cpuUsPerRequest"))} |`);
  }
  const targets = [
    ...[16, 64].map((c) => [`client / bare undici Pool.request(), throughput, concurrency ${c}`, med("client", c, "rps") / med("undici", c, "rps"), 0.9, ">="] as const),
    ...[16, 64].map((c) => [`client / bare undici Pool.request(), CPU per request, concurrency ${c}`, med("client", c, "cpuUsPerRequest") / med("undici", c, "cpuUsPerRequest"), 1.15, "<="] as const),
    ...[16, 64].map((c) => [`send node / raw client, throughput, concurrency ${c}`, med("node", c, "rps") / med("raw", c, "rps"), 1.1, ">="] as const),
    ...[16, 64].map((c) => [`send node / raw client, CPU per message, concurrency ${c}`, med("node", c, "cpuUsPerRequest") / med("raw", c, "cpuUsPerRequest"), 1.0, "<="] as const),
    ...[1, 16, 64].map((c) => [`send node / DIY flow, throughput, concurrency ${c}`, med("node", c, "rps") / med("diy", c, "rps"), 2, ">="] as const),
    ...[1, 16, 64].map((c) => [`send node / axios alone, throughput, concurrency ${c}`, med("node", c, "rps") / med("axios", c, "rps"), 0.85, ">="] as const),
    ["send node / axios alone, p99 latency, concurrency 1", med("node", 1, "p99") / med("axios", 1, "p99"), 1.3, "<="] as const,
    ["upload node / axios + form-data, CPU per 1 MiB upload", med("upload-node", 4, "cpuUsPerRequest") / med("upload-axios", 4, "cpuUsPerRequest"), 0.8, "<="] as const,
    ["upload node / axios + form-data, throughput", med("upload-node", 4, "rps") / med("upload-axios", 4, "rps"), 0, ">="] as const,
    ["verified webhook / core http in + change + http response, throughput", med("webhook-node", 16, "rps") / med("webhook-core", 16, "rps"), 1, ">="] as const,
    ["verified webhook / core http in + change + http response, CPU per delivery", med("webhook-node", 16, "cpuUsPerRequest") / med("webhook-core", 16, "cpuUsPerRequest"), 1, "<="] as const,
  ];
  const targetLines = ["| ratio (same run, medians) | measured | target | met |", "|---|---|---|---|"];
  for (const [name, value, target, op] of targets) {
    const met = target === 0 ? "-" : op === ">=" ? (value >= target ? "yes" : "**no**") : value <= target ? "yes" : "**no**";
    targetLines.push(`| ${name} | ${value.toFixed(2)}x | ${target === 0 ? "(reported)" : `${op} ${target}x`} | ${met} |`);
  }

  const chart = barChart(
    "Send throughput relative to a raw keep-alive http client (medians)",
    ["concurrency 1", "concurrency 16", "concurrency 64"],
    [
      { name: "raw http client", color: "#9e9e9e", values: [1, 16, 64].map(() => 1) },
      { name: "axios alone (tuned)", color: "#64b5f6", values: [1, 16, 64].map((c) => med("axios", c, "rps") / med("raw", c, "rps")) },
      { name: "genesys-nexus-send", color: "#ff8a65", values: [1, 16, 64].map((c) => med("node", c, "rps") / med("raw", c, "rps")) },
      { name: "function + http request", color: "#aed581", values: [1, 16, 64].map((c) => med("diy", c, "rps") / med("raw", c, "rps")) },
    ],
    "x raw client",
  );
  fs.mkdirSync(path.join(root, "docs", "images"), { recursive: true });
  fs.writeFileSync(path.join(root, "docs", "images", "benchmark.svg"), chart);
  fs.writeFileSync(path.join(root, "bench", "results.json"), JSON.stringify({ machine, reps: REPS, seconds: SECONDS, results }, null, 1) + "\n");

  const soakFile = path.join(root, "bench", "soak.json");
  const soak = fs.existsSync(soakFile) ? (JSON.parse(fs.readFileSync(soakFile, "utf8")) as Record<string, unknown>) : undefined;
  const soakText = soak
    ? `${soak.sends} sends through one channel, ${soak.inFlight} in flight, ${soak.failed} failed, ${soak.perSecond}/s; RSS after a forced GC ${soak.rssBeforeMiB} MiB after the warm-up and ${soak.rssAfterMiB} MiB at the end (growth ${soak.rssGrowthMiB} MiB, bound 20 MiB); handles and timers left: ${JSON.stringify(soak.handlesAndTimersLeft)}.`
    : "not run yet.";
  const doc = `# Benchmarks

Produced by \`npm run bench\` (${REPS} repetitions of ${SECONDS} s per variant after a 1 s warm-up; \`BENCH_REPS\` and
\`BENCH_SECONDS\` change them), on: ${machine}, ${new Date().toISOString().slice(0, 10)}.

How it measures: the simulator runs in its own process and keeps no requests or messages for inspection (\`--record-limit 0 --message-limit 0\`: it still checks, counts and deduplicates them); each variant runs in a fresh process, on another
core than the simulator where \`taskset\` can pin them (\`BENCH_PIN=0\` turns that off); the order
of the variants rotates from one repetition to the next; every figure is the median over the
repetitions, and every ratio compares medians of the same run, never numbers from another day. The
Node-RED variants run in a real Node-RED runtime embedded in the variant's process (not the test
helper, so no recording spies); messages go in with \`node.receive()\` and are counted when the
runtime's \`onComplete\` hook fires. The do-it-yourself flow is what a user would build without this
package: a \`function\` node that signs with \`crypto\` and the core \`http request\` node. Every client
may open one connection per request in flight: the raw client's agent (\`maxSockets\`), bare undici's
\`Pool\` (\`connections\`), and the channel (*Max in flight*), for the client alone and for the send node.

![Send throughput relative to a raw keep-alive http client](docs/images/benchmark.svg)

## Sending a message

${lines.join("\n")}

## Uploads and webhook deliveries

${extra.join("\n")}

The webhook comparison is like for like, in a default Node-RED process started the way users start it
(\`red.js\`, the editor and admin API on \`/\`), a fresh one per variant: a delivery goes in, a change node
sets the answer, the answer goes out (the Node-RED process is the measured one, on the first core; the
client sending the deliveries runs on the other). Both requests go through every layer of Node-RED's HTTP stack (the
root app, the editor's admin app mounted first on \`/\`, the node app, then the route's cookie parser,
\`httpNodeMiddleware\` and CORS). The webhook does more (it verifies the signature over the raw bytes,
claims the delivery and remembers the answer) and serves about as many deliveries at about the same CPU
each (the Targets table has this run's ratios): it reads the raw bytes once, where core runs body-parser
(content type, raw-body, \`JSON.parse\`); both answer through Express (\`res.json\` / \`res.jsonp\`, an ETag
hash per answer). CPU for the webhook rows is the Node-RED process's.

What the fast path gave up: until 0.1.0 the webhook answered verified deliveries from a middleware
spliced first into the root app, before Express routed them, skipping the admin app, the node app and
their init layers; that roughly doubled the core flow's rate (2.13x in its last run). It matched paths
by itself, so it diverged from Express where it matters for security (issue #18): path variants such as
\`/X/./agent\` or \`//evil.example/X/agent\` reached the webhook where an \`http in\` node gets 404
(walking around a reverse proxy's allow list), \`httpNodeMiddleware\` saw other \`req.path\` and
\`req.baseUrl\` values, route patterns and case-sensitive or strict routing were ignored, and a webhook on
\`/flows\` answered the editor's own deploys. The webhook is now routed by Express like every \`http in\`
node and pays the same stack; being routed like the rest of Node-RED is worth more than the extra rate.

## Why the client speaks undici

The client builds every header and signs the exact bytes it sends; it needs no redirects, transforms,
interceptors or decompression. Through axios, a third of the send path's CPU went to that machinery
(config merging, header normalisation, the adapter), and a timed-out request kept its socket until
axios's own time-out; axios stays in this benchmark as the baseline "axios alone (tuned)". Node's own
\`http\` client spends more CPU per request on its bookkeeping (ClientRequest, IncomingMessage, the
Agent) than undici's \`Pool\` (the table above has both). The client therefore sends everything, in memory or streamed, through one undici
dispatcher per channel (lib/client/transport.ts: a keep-alive \`Pool\`, or a \`ProxyAgent\`) with
\`dispatch()\` and a handler of its own for answers read into memory (and \`request()\` for downloads to
a file), never \`fetch\`, and cancels without an AbortController per call; "NexusClient alone" is
compared with bare undici \`Pool.request()\` doing the same work. An interceptor on every call (to learn
when a request has its connection) cost a third of a send's CPU, wrapping each handler twice and parsing
the headers twice; the handler's own \`onRequestStart\` says it for free. Uploads build their
multipart body as separate pieces, signed and written without being copied into one buffer (the
form-data baseline copies a 1 MiB body about three times).

Garbage collection was the rest of the gap to bare undici. The client kept its calls in flight in a
\`Set\` (for \`close()\`), and each call held its promise, body and answer. A long-lived Set's hash table
lives in V8's old space, and each rehash left the previous table there, dead but still pointing at the
calls it held; until the next full GC those tables kept finished requests alive, so every scavenge
copied megabytes of them and promoted more (GC was a fifth of a send's CPU, against a twentieth for bare
undici). Calls, attempts and the send node's messages in flight now sit in linked lists that leave no
link behind (lib/util/linked-list.ts); a call is one promise whose steps report to it, and the time
limits of all attempts share one timer per channel. At the highest rates the simulator (one core) is
the ceiling for the fastest variants, so throughput ratios between them are flatter than their CPU
ratios.

A sustained run (\`npm run bench:soak\`): SOAK_RESULT

OUTBOX_RESULT

## Targets

${targetLines.join("\n")}

Large media (peak memory, not speed) have their own script: \`npm run bench:media\`; see the README.
`;
  // The outbox's own run (`npm run bench:outbox`) writes its section; it is kept here as it last measured.
  const outboxFile = path.join(root, "bench", "outbox.md");
  const outboxText = fs.existsSync(outboxFile) ? fs.readFileSync(outboxFile, "utf8").trim() : "The outbox is measured by `npm run bench:outbox`.";
  fs.writeFileSync(path.join(root, "BENCHMARKS.md"), doc.replace("SOAK_RESULT", soakText).replace("OUTBOX_RESULT", outboxText));
  process.stdout.write(`${doc}\n`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
