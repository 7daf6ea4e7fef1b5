import express from "express";
import fs from "fs";
import http from "http";
import os from "os";
import path from "path";

/* eslint-disable @typescript-eslint/no-explicit-any */
export type RedApi = any;

/** A Node-RED user directory with this package linked into it (as built) and the given flows. */
export function linkedUserDir(flows: object[], credentials: Record<string, unknown>): string {
  const root = path.resolve(__dirname, "..", "..");
  const userDir = fs.mkdtempSync(path.join(os.tmpdir(), "nexus-bench-nr-"));
  fs.mkdirSync(path.join(userDir, "node_modules", "@flowbridge"), { recursive: true });
  fs.symlinkSync(root, path.join(userDir, "node_modules", "@flowbridge", "node-red-genesys-messaging"), "dir");
  fs.writeFileSync(path.join(userDir, "package.json"), "{}");
  fs.writeFileSync(path.join(userDir, "flows.json"), JSON.stringify(flows));
  fs.writeFileSync(path.join(userDir, "flows_cred.json"), JSON.stringify(credentials));
  return userDir;
}

/**
 * A real Node-RED runtime embedded in this process (not the test helper: no recording spies), with this
 * package linked into its user directory and the given flows deployed.
 */
export async function embeddedNodeRed(
  flows: object[],
  credentials: Record<string, unknown>,
  settings: Record<string, unknown> = {},
): Promise<{ RED: RedApi; server: http.Server; port: number; stop(): Promise<void> }> {
  const userDir = linkedUserDir(flows, credentials);
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const RED = require(process.env.NODE_RED_PATH ? path.resolve(process.env.NODE_RED_PATH, "node_modules", "node-red") : "node-red") as RedApi;
  const server = http.createServer();
  RED.init(server, {
    userDir,
    flowFile: "flows.json",
    credentialSecret: false,
    httpAdminRoot: "/admin",
    httpNodeRoot: "/",
    uiHost: "127.0.0.1",
    logging: { console: { level: "warn", metrics: false, audit: false } },
    editorTheme: { tours: false, palette: { catalogues: [] } },
    diagnostics: { enabled: false },
    telemetry: { enabled: false },
    externalModules: { palette: { allowInstall: false } },
    ...settings,
  });
  // Mount the editor and node apps on the server the way red.js does.
  const app = express();
  app.use("/admin", RED.httpAdmin);
  app.use("/", RED.httpNode);
  server.on("request", app);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  await RED.start();
  await new Promise<void>((resolve) => {
    const check = (): void => {
      let ready = true;
      for (const f of flows as Array<{ id: string; type: string }>) if (f.type !== "tab" && !RED.nodes.getNode(f.id)) ready = false;
      if (ready) resolve();
      else setTimeout(check, 20);
    };
    check();
  });
  return {
    RED,
    server,
    port: (server.address() as { port: number }).port,
    stop: async () => {
      await RED.stop();
      server.close();
      fs.rmSync(userDir, { recursive: true, force: true });
    },
  };
}
