import { execFileSync, spawn, type ChildProcess } from "child_process";
import fs from "fs";
import os from "os";
import path from "path";
import { localNodeRedSettings } from "../../scripts/node-red-settings";
import { NODE_RED_DIR, freePort, until } from "../support";

const root = path.resolve(__dirname, "..", "..");
let installed: string | undefined;

/**
 * A Node-RED user directory with the package installed from the tarball `npm pack` makes, as a user would
 * install it. Made once per test run and copied for each Node-RED started.
 */
function installedUserDir(): string {
  if (installed) return installed;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "nexus-packed-"));
  const packed = execFileSync("npm", ["pack", "--ignore-scripts", "--silent", "--pack-destination", dir], { cwd: root, encoding: "utf8" })
    .trim()
    .split("\n")
    .pop() as string;
  const userDir = path.join(dir, "user");
  fs.mkdirSync(userDir);
  fs.writeFileSync(path.join(userDir, "package.json"), JSON.stringify({ name: "node-red-project", private: true }));
  execFileSync("npm", ["install", "--no-audit", "--no-fund", "--prefer-offline", "--omit=dev", path.join(dir, packed)], { cwd: userDir, stdio: "ignore" });
  installed = userDir;
  process.on("exit", () => fs.rmSync(dir, { recursive: true, force: true }));
  return userDir;
}


export interface RunningNodeRed {
  base: string;
  userDir: string;
  log(): string;
  /** Deploys flows through the admin API (`full` by default), as the editor's Deploy button does. */
  deploy(flows: object[], type?: "full" | "nodes" | "flows"): Promise<void>;
  /** Stops the process (SIGINT, or SIGKILL for a crash) and starts it again on the same user directory and port. */
  restart(signal?: NodeJS.Signals): Promise<void>;
  stop(): Promise<void>;
}

/** Starts a real Node-RED process (the `node-red` this project tests against) with the installed package. */
export async function startNodeRed(
  flows: object[],
  credentials: Record<string, unknown>,
  settings: Record<string, unknown> = {},
  /** JavaScript appended to settings.js, for settings that are functions (httpNodeMiddleware, say). */
  settingsCode = "",
): Promise<RunningNodeRed> {
  const userDir = fs.mkdtempSync(path.join(os.tmpdir(), "nexus-user-"));
  fs.cpSync(installedUserDir(), userDir, { recursive: true, verbatimSymlinks: true });
  const port = await freePort();
  fs.writeFileSync(path.join(userDir, "flows.json"), JSON.stringify(flows));
  fs.writeFileSync(path.join(userDir, "flows_cred.json"), JSON.stringify(credentials));
  const settingsFile = path.join(userDir, "settings.js");
  fs.writeFileSync(
    settingsFile,
    `module.exports = ${JSON.stringify({ ...localNodeRedSettings(port), ...settings })};\n${settingsCode}`,
  );
  let log = "";
  let child: ChildProcess | undefined;
  const launch = async (): Promise<void> => {
    const started = log.length;
    const proc = spawn(process.execPath, [path.join(NODE_RED_DIR, "red.js"), "--userDir", userDir, "--settings", settingsFile], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    child = proc;
    proc.stdout?.on("data", (d: Buffer) => (log += d.toString()));
    proc.stderr?.on("data", (d: Buffer) => (log += d.toString()));
    await until(() => /Started flows/.test(log.slice(started)) || proc.exitCode !== null, 60_000, "Node-RED to start");
    if (!/Started flows/.test(log.slice(started))) throw new Error(`Node-RED did not start:\n${log}`);
  };
  const halt = async (signal: NodeJS.Signals = "SIGINT"): Promise<void> => {
    const proc = child;
    if (proc && proc.exitCode === null) {
      proc.kill(signal);
      await new Promise((resolve) => proc.once("exit", resolve));
    }
  };
  await launch();
  const base = `http://127.0.0.1:${port}`;
  return {
    base,
    userDir,
    log: () => log,
    deploy: async (next, type = "full") => {
      const res = await fetch(`${base}/flows`, {
        method: "POST",
        headers: { "Content-Type": "application/json", "Node-RED-API-Version": "v1", "Node-RED-Deployment-Type": type },
        body: JSON.stringify(next),
      });
      if (res.status !== 204 && res.status !== 200) throw new Error(`deploy answered ${res.status}: ${await res.text()}`);
    },
    restart: async (signal) => {
      await halt(signal);
      await launch();
    },
    stop: async () => {
      await halt();
      fs.rmSync(userDir, { recursive: true, force: true });
    },
  };
}
