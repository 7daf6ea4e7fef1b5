/**
 * `npm run bench:soak`: a sustained run of 1,000,000 sends (SOAK_SENDS) through one channel of the send
 * node, 64 in flight, in a real Node-RED runtime embedded in this process, against the simulator in its
 * own process. Reports the RSS after a forced GC at the start (after a warm-up) and at the end, and the
 * handles and timers left once every message has ended. Run with `node --expose-gc`.
 */
import fs from "fs";
import path from "path";
import { embeddedNodeRed, type RedApi } from "./embedded-node-red";
import { startSimulatorProcess } from "./simulator-process";

const TOTAL = Number(process.env.SOAK_SENDS ?? 1_000_000);
const IN_FLIGHT = 64;
const WARM_UP = 20_000;

const gc = (global as unknown as { gc?: () => void }).gc;

function settledRss(): number {
  for (let i = 0; i < 3; i++) gc?.();
  return process.memoryUsage().rss;
}

function resources(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const r of process.getActiveResourcesInfo()) counts[r] = (counts[r] ?? 0) + 1;
  return counts;
}

async function main(): Promise<void> {
  if (!gc) throw new Error("run with node --expose-gc");
  const sim = await startSimulatorProcess(["--record-limit", "0", "--auto-reply", "false"]);
  const channel = { id: "chan", type: "genesys-nexus-channel", name: "soak", baseUrl: sim.baseUrl, channelId: sim.channelId, ccid: sim.ccid, timeout: 30000, retries: 3 };
  const nr = await embeddedNodeRed([{ id: "t", type: "tab" }, channel, { id: "send", z: "t", type: "genesys-nexus-send", channel: "chan", wires: [] }], { chan: { secret: sim.secret } });
  const RED: RedApi = nr.RED;
  let ended = 0;
  let failed = 0;
  let sent = 0;
  let onEnd: () => void = () => undefined;
  RED.hooks.add("onComplete.soak", (event: { node: { id: string }; error?: unknown }) => {
    if (event.node.id !== "send") return;
    ended++;
    if (event.error) failed++;
    onEnd();
  });
  const node = RED.nodes.getNode("send");
  const run = (count: number): Promise<void> =>
    new Promise((resolve) => {
      const target = ended + count;
      let launched = 0;
      const launch = (): void => {
        while (launched < count && sent - ended < IN_FLIGHT) {
          launched++;
          sent++;
          node.receive({ payload: { channel: "sms", messageId: `soak-${sent}`, type: "Text", text: "A sustained-load message of ordinary length." } });
        }
      };
      onEnd = () => {
        if (ended >= target) resolve();
        else launch();
      };
      launch();
    });

  await run(WARM_UP);
  await new Promise((r) => setTimeout(r, 600));
  const before = { rss: settledRss(), resources: resources() };
  const started = Date.now();
  let lastReport = started;
  const chunk = 50_000;
  for (let done = 0; done < TOTAL; done += chunk) {
    await run(Math.min(chunk, TOTAL - done));
    if (Date.now() - lastReport > 10_000) {
      lastReport = Date.now();
      process.stderr.write(`${done + chunk} sends, ${Math.round((done + chunk) / ((Date.now() - started) / 1000))}/s, RSS ${(process.memoryUsage().rss / 2 ** 20).toFixed(0)} MiB\n`);
    }
  }
  const seconds = (Date.now() - started) / 1000;
  // The node status coalesces updates for up to 500 ms; let it settle before looking for timers.
  await new Promise((r) => setTimeout(r, 600));
  const after = { rss: settledRss(), resources: resources() };
  await nr.stop();
  await sim.stop();
  const left = Object.fromEntries(
    Object.entries(after.resources)
      .map(([k, v]) => [k, v - (before.resources[k] ?? 0)] as const)
      .filter(([, v]) => v > 0),
  );
  const result = {
    sends: TOTAL,
    inFlight: IN_FLIGHT,
    failed,
    seconds: Math.round(seconds),
    perSecond: Math.round(TOTAL / seconds),
    rssBeforeMiB: +(before.rss / 2 ** 20).toFixed(1),
    rssAfterMiB: +(after.rss / 2 ** 20).toFixed(1),
    rssGrowthMiB: +((after.rss - before.rss) / 2 ** 20).toFixed(1),
    handlesAndTimersLeft: left,
  };
  process.stdout.write(JSON.stringify(result) + "\n");
  // Kept for BENCHMARKS.md, which `npm run bench` writes.
  fs.writeFileSync(path.resolve(__dirname, "..", "..", "bench", "soak.json"), JSON.stringify(result, null, 1) + "\n");
  process.exit(failed === 0 && result.rssGrowthMiB < 20 && Object.keys(left).length === 0 ? 0 : 1);
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack}\n`);
  process.exit(1);
});
