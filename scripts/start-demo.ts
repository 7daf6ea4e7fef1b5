/**
 * `npm start`: the product on its embedded default. Starts a Node-RED on 127.0.0.1 with this package
 * installed (linked into a private user directory) and the example flows deployed, and prints the editor's
 * URL. The examples' channel runs the package's simulator inside Node-RED (simulator mode), so nothing
 * else is started and nothing here needs a Genesys account.
 *
 * The flows are laid once; what the user changes and deploys is kept on the next start. `npm start --
 * --reset` lays the pristine demo again.
 */
import { spawn } from "child_process";
import fs from "fs";
import net from "net";
import path from "path";
import { demoFlows } from "./demo-flows";
import { localNodeRedSettings } from "./node-red-settings";

const root = path.resolve(__dirname, "..", "..");
const userDir = path.resolve(process.env.DEMO_USER_DIR ?? path.join(root, ".demo"));
const host = "127.0.0.1";
const editorPort = Number(process.env.NODE_RED_PORT ?? 1880);
const reset = process.argv.includes("--reset");

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
  const flows = path.join(userDir, "flows.json");
  writeOnce(flows, JSON.stringify(demoFlows(), null, 2));
  if (fs.readFileSync(flows, "utf8").includes("${NEXUS_SIM_URL}")) {
    process.stdout.write("Your kept demo flows are from a version that started the simulator apart; npm start -- --reset lays the demo anew (its channel now runs the simulator inside Node-RED).\n");
  }
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
  const settings = prepareUserDir();
  if (reset) process.stdout.write("The demo flows were laid anew (--reset).\n");
  const nodeRed = spawn(process.execPath, [require.resolve("node-red/red.js"), "--userDir", userDir, "--settings", settings], {
    stdio: ["ignore", "pipe", "inherit"],
    env: { ...process.env, NODE_RED_ENABLE_PROJECTS: "false" },
  });
  let announced = false;
  nodeRed.stdout.on("data", (chunk: Buffer) => {
    process.stdout.write(chunk);
    if (!announced && /Started flows/.test(chunk.toString())) {
      announced = true;
      process.stdout.write(
        `\n  Node-RED editor: ${editorUrl}\n` +
          "  Open it, pick a tab, click an inject node's button, and watch the debug sidebar.\n" +
          "  The demo's channel runs the built-in simulator: nothing reaches Genesys.\n" +
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
  nodeRed.on("exit", (code) => process.exit(code ?? 0));
}

main().catch((err: unknown) => {
  process.stderr.write(`The demo could not start: ${(err as Error).message}\n`);
  process.exit(1);
});
