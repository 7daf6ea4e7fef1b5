import { randomBytes } from "crypto";
import type { Server } from "http";
import https from "https";
import type { NodeAPI } from "node-red";
import { NexusClient, type ChannelOptions } from "../client";
import { SIMULATOR_DEFAULTS, startSimulator, type NexusSimulator } from "../simulator";
import { channelTranslator } from "./i18n";

/**
 * A channel's `mode` (node contract): `genesys` talks to the base URL it is given; `simulator` runs the
 * package's simulator inside Node-RED and needs no secret, base URL or ids. Anything but `simulator`
 * (absent, empty, unknown) is `genesys`, which keeps every check of a real deployment.
 */
export type ChannelMode = "genesys" | "simulator";

export function channelMode(value: unknown): ChannelMode {
  return typeof value === "string" && value.trim().toLowerCase() === "simulator" ? "simulator" : "genesys";
}

/** The settings of a channel that the simulator does not decide: limits and behaviour, never an address or secret. */
export type SimulatedClientOptions = Omit<ChannelOptions, "baseUrl" | "channelId" | "ccid" | "secret" | "apiKey" | "tls" | "proxy">;

/**
 * Loopback form of the address Node-RED listens on: a wildcard (`0.0.0.0`, `::`, none) is reached on this
 * machine at 127.0.0.1 or ::1, as Node-RED's own start-up line says; an IPv6 literal goes in brackets.
 */
export function loopbackHost(bound: string | undefined): string {
  if (bound === undefined || bound === "" || bound === "0.0.0.0") return "127.0.0.1";
  if (bound === "::" || bound === "[::]") return "[::1]";
  if (bound.includes(":") && !bound.startsWith("[")) return `[${bound}]`;
  return bound;
}

interface HttpSettings {
  uiHost?: string;
  uiPort?: number | string;
  httpNodeRoot?: string | false;
  https?: unknown;
}

/**
 * Where a webhook node at `path` on this Node-RED is reached from this machine: the scheme and port of
 * Node-RED's own server (its bound address once it listens, else `uiHost`/`uiPort`/`https` from the
 * settings), then `httpNodeRoot`, then the path. Undefined when HTTP nodes are off (`httpNodeRoot: false`).
 */
export function localWebhookUrl(RED: NodeAPI, path: string): string | undefined {
  const settings = RED.settings as unknown as HttpSettings;
  if (settings.httpNodeRoot === false) return undefined;
  let server: Server | undefined;
  try {
    server = (RED as unknown as { server?: Server }).server;
  } catch {
    server = undefined;
  }
  const address = server?.listening ? server.address() : null;
  const bound = address && typeof address === "object" ? address : undefined;
  const port = bound?.port ?? (Number(settings.uiPort) || 1880);
  const host = loopbackHost(bound?.address ?? settings.uiHost);
  const secure = server ? server instanceof https.Server : Boolean(settings.https);
  // httpNodeRoot and the route's path joined as Node-RED mounts one below the other.
  const root = String(settings.httpNodeRoot ?? "/").replace(/\/+$/, "");
  const below = path.startsWith("/") ? path : `/${path}`;
  return `${secure ? "https" : "http"}://${host}:${port}${root.startsWith("/") || root === "" ? root : `/${root}`}${below}`;
}

/**
 * The simulator a channel in `simulator` mode runs inside Node-RED: on loopback, on a port the system picks,
 * with a secret of its own made at start (so nothing is typed and nothing guessable is accepted), and with
 * the simulated agent answering to the webhook nodes that use the channel. It stops when the channel closes.
 */
export class ChannelSimulator {
  readonly channelId = SIMULATOR_DEFAULTS.channelId;
  readonly ccid = SIMULATOR_DEFAULTS.ccid;
  readonly secret = randomBytes(24).toString("base64url");
  /** Webhook paths on this Node-RED that use the channel; the agent answers to the newest. */
  private readonly webhooks: string[] = [];
  private readonly started: Promise<NexusSimulator>;
  /** The simulator's API base URL once it listens. */
  baseUrl: string | undefined;
  private closing: Promise<void> | undefined;

  constructor(
    private readonly RED: NodeAPI,
    /** Told the simulator's address once it listens, or why it could not start. */
    events: { onStart(baseUrl: string): void; onError(err: Error): void; log?(line: string): void },
  ) {
    this.started = startSimulator({
      host: "127.0.0.1",
      port: 0,
      channelId: this.channelId,
      ccid: this.ccid,
      secret: this.secret,
      // Small limits: it serves one person trying flows, not a load test.
      recordLimit: 100,
      messageLimit: 100,
      maxStoredMediaBytes: 64 * 1024 * 1024,
      agent: { webhookUrl: () => this.agentTarget(), acceptAnyCertificate: true },
      log: events.log,
    });
    this.started.then(
      (sim) => {
        this.baseUrl = sim.baseUrl;
        events.onStart(sim.baseUrl);
      },
      (err: Error) => events.onError(err),
    );
  }

  /** The URL the simulated agent posts to now, if a webhook node uses the channel. */
  agentTarget(): string | undefined {
    const path = this.webhooks[this.webhooks.length - 1];
    return path === undefined ? undefined : localWebhookUrl(this.RED, path);
  }

  /** Makes the webhook at `path` the agent's target; returns what undoes it (when that node closes). */
  addWebhook(path: string): () => void {
    this.webhooks.push(path);
    let removed = false;
    return () => {
      if (removed) return;
      removed = true;
      const at = this.webhooks.lastIndexOf(path);
      if (at >= 0) this.webhooks.splice(at, 1);
    };
  }

  /**
   * A client for the simulator. The simulator listens a moment after the channel starts, while flow nodes
   * ask for the client at once: until it listens, the client's calls wait for it (or fail with why it could
   * not start); from then on they go straight to the real client.
   */
  client(options: SimulatedClientOptions): NexusClient {
    const ready = this.started.then(
      (sim) => new NexusClient({ ...options, baseUrl: sim.baseUrl, channelId: this.channelId, ccid: this.ccid, secret: this.secret, proxy: false }),
      (err: Error) => {
        throw new Error(channelTranslator(this.RED)("simulator.failed", { message: err.message }));
      },
    );
    return deferredClient(ready);
  }

  /** Stops the simulator and frees its port; never rejects. */
  close(): Promise<void> {
    this.closing ??= this.started.then(
      (sim) => sim.close(),
      () => undefined,
    );
    return this.closing;
  }
}

/** A NexusClient whose calls wait for `ready`; once it resolves, the real client answers everything. */
function deferredClient(ready: Promise<NexusClient>): NexusClient {
  let real: NexusClient | undefined;
  ready.then(
    (c) => (real = c),
    () => undefined,
  );
  const prototype = NexusClient.prototype as unknown as Record<PropertyKey, unknown>;
  return new Proxy(Object.create(NexusClient.prototype) as NexusClient, {
    get(_target, prop) {
      if (real) {
        const value: unknown = Reflect.get(real, prop);
        return typeof value === "function" ? (value as (...a: unknown[]) => unknown).bind(real) : value;
      }
      if (prop === "load") return { inFlight: 0, queued: 0 };
      if (prop === "close") return (drainMs?: number) => ready.then((c) => c.close(drainMs), () => undefined);
      const descriptor = Object.getOwnPropertyDescriptor(prototype, prop);
      const method = descriptor?.value;
      if (typeof method !== "function") return undefined;
      return (...args: unknown[]) => ready.then((c) => (method as (...a: unknown[]) => unknown).apply(c, args));
    },
  });
}

/** A channel's settings that also apply in simulator mode. */
interface ChannelSettings {
  mode?: string;
  timeout?: number | string;
  retries?: number | string;
  signatureEncoding?: string;
  maxInFlight?: number | string;
  maxQueued?: number | string;
}

/** What a channel node in simulator mode gets: the client, the channel's answers, and the stop. */
export interface SimulatorMode {
  client(settings: ChannelSettings): NexusClient;
  /** Makes the channel node answer as a simulated channel: the simulator's secret, ids and agent target. */
  attach(node: ChannelSimulatorHooks): void;
  close(): Promise<void>;
}

/** The parts of a channel node (ChannelConfigNode in api-node) that simulator mode sets. */
export interface ChannelSimulatorHooks {
  verificationSecrets(): string[];
  secretProblem(): unknown;
  channelId: string;
  mode?: ChannelMode;
  simulatedAgentTarget?(path: string): () => void;
  simulatorBaseUrl?(): string | undefined;
}

interface LoggingNode {
  log(text: string): void;
  error(text: string): void;
  debug(text: string): void;
}

function numberSetting(value: unknown): number | undefined {
  return value === "" || value === undefined || value === null ? undefined : Number(value);
}

/**
 * The channel's simulator mode, or undefined in `genesys` mode. Started here, at once: the log says where
 * it listens and that it is not Genesys, so that no one takes the channel for production.
 */
export function simulatorMode(RED: NodeAPI, node: LoggingNode, config: ChannelSettings): SimulatorMode | undefined {
  if (channelMode(config.mode) !== "simulator") return undefined;
  const t = channelTranslator(RED);
  const simulator = new ChannelSimulator(RED, {
    onStart: (baseUrl) => node.log(t("simulator.started", { url: baseUrl })),
    onError: (err) => node.error(t("simulator.failed", { message: err.message })),
    log: (line) => node.debug(line),
  });
  return {
    client: (settings) =>
      simulator.client({
        timeout: numberSetting(settings.timeout),
        retries: numberSetting(settings.retries),
        signatureEncoding: settings.signatureEncoding === "base64" ? "base64" : "hex",
        maxInFlight: numberSetting(settings.maxInFlight),
        maxQueued: numberSetting(settings.maxQueued),
        userAgent: "node-red-genesys-messaging",
      }),
    attach: (channel) => {
      channel.mode = "simulator";
      channel.channelId = simulator.channelId;
      channel.verificationSecrets = () => [simulator.secret];
      channel.secretProblem = () => undefined;
      channel.simulatedAgentTarget = (path) => simulator.addWebhook(path);
      channel.simulatorBaseUrl = () => simulator.baseUrl;
    },
    close: () => simulator.close(),
  };
}

/** The short text flow nodes on a simulated channel add to their status, so that none passes for production. */
export function simulatorStatusTag(RED: NodeAPI): { idle: string; tag(text: string): string } {
  const t = channelTranslator(RED);
  return { idle: t("simulator.status"), tag: (text) => t("simulator.tagged", { text }) };
}
