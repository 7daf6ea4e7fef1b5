import { spawn, type ChildProcess } from "child_process";
import fs from "fs";
import net from "net";
import path from "path";
import { localNodeRedSettings } from "../scripts/node-red-settings";
import { linkedUserDir } from "./embedded-node-red";

/**
 * A default Node-RED process started the way users start it (`red.js`, the editor and admin API on `/`),
 * with this package linked into its user directory and the given flows deployed: the HTTP path a webhook
 * delivery takes in production, which costs far more than an embedded runtime's.
 */
export async function nodeRedProcess(flows: object[], credentials: Record<string, unknown>, settings: Record<string, unknown> = {}): Promise<{ port: number; pid: number; cpuMs(): number; stop(): Promise<void> }> {
  const userDir = linkedUserDir(flows, credentials);
  const port = await new Promise<number>((resolve) => {
    const probe = net.createServer();
    probe.listen(0, "127.0.0.1", () => {
      const p = (probe.address() as net.AddressInfo).port;
      probe.close(() => resolve(p));
    });
  });
  const settingsFile = path.join(userDir, "settings.js");
  fs.writeFileSync(
    settingsFile,
    `module.exports = ${JSON.stringify({ ...localNodeRedSettings(port), logging: { console: { level: "warn", metrics: false, audit: false } }, ...settings })};`,
  );
  // BENCH_NODE_RED_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" profiles the Node-RED process.
  const nodeArgs = (process.env.BENCH_NODE_RED_ARGS ?? "").split(" ").filter((a) => a !== "");
  const nodeRedDir = process.env.NODE_RED_PATH ? path.resolve(process.env.NODE_RED_PATH, "node_modules", "node-red") : path.dirname(require.resolve("node-red/package.json"));
  const child: ChildProcess = spawn(process.execPath, [...nodeArgs, path.join(nodeRedDir, "red.js"), "--userDir", userDir, "--settings", settingsFile], { stdio: ["ignore", "pipe", "pipe"] });
  let log = "";
  child.stdout?.on("data", (d: Buffer) => (log += d.toString()));
  child.stderr?.on("data", (d: Buffer) => (log += d.toString()));
  // Started once the HTTP server answers and the flows run.
  const end = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null || Date.now() > end) throw new Error(`Node-RED did not start:\n${log}`);
    const ok = await fetch(`http://127.0.0.1:${port}/flows`, { headers: { "Node-RED-API-Version": "v2" } }).then((r) => r.ok, () => false);
    if (ok) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  await new Promise((r) => setTimeout(r, 300));
  const ticks = 100; // USER_HZ on Linux
  return {
    port,
    pid: child.pid as number,
    cpuMs: () => {
      const fields = fs.readFileSync(`/proc/${child.pid}/stat`, "utf8").split(") ")[1].split(" ");
      return ((Number(fields[11]) + Number(fields[12])) * 1000) / ticks;
    },
    stop: async () => {
      if (child.exitCode === null) {
        child.kill("SIGINT");
        await new Promise((resolve) => child.once("exit", resolve));
      }
      fs.rmSync(userDir, { recursive: true, force: true });
    },
  };
}
