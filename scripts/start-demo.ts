/**
 * `npm start`: the product on its embedded default. Starts the Nexus simulator and a Node-RED on 127.0.0.1
 * with this package installed (linked into a private user directory) and the example flows deployed, and
 * prints the editor's URL. Nothing here needs a Genesys account.
 *
 * The flows are laid once; what the user changes and deploys is kept on the next start. `npm start --
 * --reset` lays the pristine demo again.
 */
import { spawn } from "child_process";
import fs from "fs";
import net from "net";
import path from "path";
import { startSimulator, SIMULATOR_DEFAULTS } from "../lib/simulator";
import { demoFlows, DEMO_CHANNEL_ID, WEBHOOK_PATH } from "./demo-flows";
import { localNodeRedSettings } from "./node-red-settings";

const root = path.resolve(__dirname, "..", "..");
const userDir = path.resolve(process.env.DEMO_USER_DIR ?? path.join(root, ".demo"));
const host = "127.0.0.1";
const editorPort = Number(process.env.NODE_RED_PORT ?? 1880);
const simPort = Number(process.env.NEXUS_SIM_PORT ?? 8085);
const reset = process.argv.includes("--reset");
// The demo channel reads the simulator's URL from the environment, so kept flows follow a changed port.
const SIM_URL_VARIABLE = "NEXUS_SIM_URL";

/** Fails with the setting that moves a port when something else listens on it. */
async function checkPort(port: number, setting: string, what: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const probe = net.createServer();
    probe.once("error", (err: NodeJS.ErrnoException) =>
      reject(new Error(err.code === "EADDRINUSE" ? `port ${port} (${what}) is in use. Start on another one with ${setting}, e.g. ${setting}=${port + 1} npm start` : err.message)),
    );
    probe.listen(port, host, () => probe.close(() => resolve()));
  });
}

function writeOnce(file: string, content: string): void {
  if (reset || !fs.existsSync(file)) fs.writeFileSync(file, content);
}

function prepareUserDir(): string {
  fs.mkdirSync(path.join(userDir, "node_modules", "@flowbridge"), { recursive: true });
  const link = path.join(userDir, "node_modules", "@flowbridge", "node-red-genesys-messaging");
  fs.rmSync(link, { recursive: true, force: true });
  fs.symlinkSync(root, link, "dir");
  fs.writeFileSync(path.join(userDir, "package.json"), JSON.stringify({ name: "genesys-demo", private: true }, null, 2));
  // Laid once: the user's own changes to the demo stay, until --reset lays it anew.
  writeOnce(path.join(userDir, "flows.json"), JSON.stringify(demoFlows(`\${${SIM_URL_VARIABLE}}`), null, 2));
  // The simulator's secret is not a real secret; it is kept as an unencrypted credential of the demo only.
  writeOnce(path.join(userDir, "flows_cred.json"), JSON.stringify({ [DEMO_CHANNEL_ID]: { secret: SIMULATOR_DEFAULTS.secret } }, null, 2));
  const settings = path.join(userDir, "settings.js");
  // Laid once too, and it reads its port from the environment, so that NODE_RED_PORT works with it kept.
  const local = { ...localNodeRedSettings(editorPort), logging: { console: { level: "info", metrics: false, audit: false } } };
  writeOnce(
    settings,
    `const settings = ${JSON.stringify(local, null, 2)};\nsettings.uiPort = Number(process.env.NODE_RED_PORT || ${editorPort});\nmodule.exports = settings;\n`,
  );
  return settings;
}

async function main(): Promise<void> {
  const editorUrl = `http://${host}:${editorPort}/`;
  await checkPort(editorPort, "NODE_RED_PORT", "Node-RED");
  await checkPort(simPort, "NEXUS_SIM_PORT", "the simulator");
  const sim = await startSimulator({
    host,
    port: simPort,
    agent: { webhookUrl: `http://${host}:${editorPort}${WEBHOOK_PATH}`, replyDelayMs: 1500, redeliveryDelayMs: 2000 },
    log: (line) => process.stdout.write(`[simulator] ${line}\n`),
  });
  process.stdout.write(`Nexus simulator listening on ${sim.baseUrl} (channel ${sim.options.channelId})\n`);
  const settings = prepareUserDir();
  if (reset) process.stdout.write("The demo flows were laid anew (--reset).\n");
  const nodeRed = spawn(process.execPath, [require.resolve("node-red/red.js"), "--userDir", userDir, "--settings", settings], {
    stdio: ["ignore", "pipe", "inherit"],
    env: { ...process.env, NODE_RED_ENABLE_PROJECTS: "false", [SIM_URL_VARIABLE]: sim.baseUrl },
  });
  let announced = false;
  nodeRed.stdout.on("data", (chunk: Buffer) => {
    process.stdout.write(chunk);
    if (!announced && /Started flows/.test(chunk.toString())) {
      announced = true;
      process.stdout.write(
        `\n  Node-RED editor: ${editorUrl}\n` +
          "  Open it, pick a tab, click an inject node's button, and watch the debug sidebar.\n" +
          `  Your changes to the demo are kept (in ${userDir}); npm start -- --reset lays it anew.\n` +
          "  Press Ctrl+C to stop.\n\n",
      );
    }
  });
  const stop = (): void => {
    nodeRed.kill("SIGINT");
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  nodeRed.on("exit", (code) => {
    void sim.close().then(() => process.exit(code ?? 0));
  });
}

main().catch((err: unknown) => {
  process.stderr.write(`The demo could not start: ${(err as Error).message}\n`);
  process.exit(1);
});
