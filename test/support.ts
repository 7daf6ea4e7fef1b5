import helper from "node-red-node-test-helper";
import http from "http";
import net, { type AddressInfo, type Socket } from "net";
import path from "path";
import { startSimulator, type NexusSimulator, type SimulatorOptions } from "../lib/simulator";

/**
 * The Node-RED the tests run against: the project's own (4.1 on Node 20) by default, or the one installed
 * below NODE_RED_PATH (an `npm install --prefix` folder), to test other versions.
 */
export const NODE_RED_DIR = process.env.NODE_RED_PATH
  ? path.resolve(process.env.NODE_RED_PATH, "node_modules", "node-red")
  : path.dirname(require.resolve("node-red/package.json"));

/** A core node module from that Node-RED, e.g. `function/15-change.js`. */
export function coreNode(file: string): unknown {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require(require.resolve(`@node-red/nodes/core/${file}`, { paths: [NODE_RED_DIR] }));
}

helper.init(path.join(NODE_RED_DIR, "lib", "red.js"));

export { helper };

export const SECRET = "test-channel-secret-9f8e7d";
export const API_KEY = "test-api-key-1a2b3c";
export const CCID = "5d8f4a1e-0b7c-4e39-9c1d-2f6a8b3e7c40";
export const CHANNEL = "sms-test-channel";

export async function simulator(options: SimulatorOptions = {}): Promise<NexusSimulator> {
  return startSimulator({ channelId: CHANNEL, ccid: CCID, secret: SECRET, apiKey: API_KEY, ...options });
}

/** A channel config node pointing at the simulator, and its credentials. */
export function channelNode(sim: { baseUrl: string }, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    id: "chan",
    type: "genesys-nexus-channel",
    name: "test channel",
    baseUrl: sim.baseUrl,
    channelId: CHANNEL,
    ccid: CCID,
    timeout: 5000,
    retries: 0,
    ...overrides,
  };
}

/** A channel config node in simulator mode, as a first run makes one: no base URL, ids or secret. */
export function simulatorChannelNode(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return channelNode({ baseUrl: "" }, { name: "tried out", mode: "simulator", channelId: "", ccid: "", ...overrides });
}

export const channelCredentials = { chan: { secret: SECRET, apiKey: API_KEY } };

/** A port on loopback that nothing listens on (at the moment it is asked for). */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** A closed port on loopback: connections to it are refused. */
export async function refusedUrl(): Promise<string> {
  return `http://127.0.0.1:${await freePort()}/nexus/v3`;
}

/**
 * A server that answers as the test says: the hostile end of the wire. `close()` cuts every connection,
 * whatever the handler left hanging.
 */
export async function hostileServer(handle: (req: http.IncomingMessage, res: http.ServerResponse) => void): Promise<{ baseUrl: string; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = http.createServer(handle);
  server.on("connection", (s: Socket) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}/nexus/v3`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Resolves when `check` holds, polling; rejects after `ms`. */
export async function until(check: () => boolean, ms = 3000, what = "condition"): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await delay(10);
  }
}

/**
 * Collects unhandled rejections and uncaught exceptions while a suite runs (registered in its before/after
 * hooks): a suite asserts the list stays empty, i.e. nothing would have crashed the Node-RED process.
 */
export function watchCrashes(): unknown[] {
  const crashes: unknown[] = [];
  const onCrash = (err: unknown): void => {
    crashes.push(err);
  };
  before(() => {
    process.on("unhandledRejection", onCrash);
    process.on("uncaughtException", onCrash);
  });
  after(() => {
    process.off("unhandledRejection", onCrash);
    process.off("uncaughtException", onCrash);
  });
  return crashes;
}
