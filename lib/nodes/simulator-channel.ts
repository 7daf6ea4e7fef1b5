import { randomBytes } from "crypto";
import { STATUS_CODES, type Server } from "http";
import https from "https";
import type { NodeAPI } from "node-red";
import { NexusClient, type ChannelOptions } from "../client";
import { SIMULATOR_DEFAULTS, startSimulator, type NexusSimulator } from "../simulator";
import type { Delivery } from "../simulator/agent-side";
import { channelTranslator } from "./i18n";
import { RateLog } from "./rate-log";

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

/** A webhook node on a simulated channel, as the channel's simulator knows it. */
export interface SimulatedWebhook {
  /** The node's id: with the path, it makes the choice of the agent's target deterministic. */
  id: string;
  /** The route's path, e.g. `/genesys/agent`. */
  path: string;
  /** How a log line names the node: its name and path. */
  label: string;
  /** Told (once the webhooks of a deploy are all known) which webhook the simulated agent answers. */
  onTarget(target: SimulatedWebhook): void;
  /** Told, when this webhook is the target, that a delivery to it was refused: the warning line and a short reason. */
  onUndelivered(line: string, reason: string): void;
}

/**
 * The webhook the simulated agent answers among those on one channel. Genesys has one webhook URL per
 * channel, so the simulator has one target too: the webhook whose path comes first in code-point order,
 * then the lowest node id (the same after every deploy and restart, whatever order the nodes start in).
 */
export function agentTargetOf<T extends { id: string; path: string }>(webhooks: readonly T[]): T | undefined {
  let best: T | undefined;
  for (const w of webhooks) {
    if (!best || w.path < best.path || (w.path === best.path && w.id < best.id)) best = w;
  }
  return best;
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
  /** Webhooks on this Node-RED that use the channel; the agent answers one of them (`agentTargetOf`). */
  private readonly webhooks: SimulatedWebhook[] = [];
  private announce: NodeJS.Immediate | undefined;
  private readonly started: Promise<NexusSimulator>;
  /** The simulator's API base URL once it listens. */
  baseUrl: string | undefined;
  private closing: Promise<void> | undefined;

  constructor(
    private readonly RED: NodeAPI,
    /** Told the simulator's address once it listens, or why it could not start. */
    events: {
      onStart(baseUrl: string): void;
      onError(err: Error): void;
      log?(line: string): void;
      /** A delivery to `url` ended unanswered; `webhook` is the target it was meant for, if it still exists. */
      onUndelivered?(delivery: Delivery, url: string, webhook: SimulatedWebhook | undefined): void;
    },
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
      agent: {
        webhookUrl: () => this.agentTarget(),
        acceptAnyCertificate: true,
        onUndelivered: (delivery, url) => events.onUndelivered?.(delivery, url, this.webhooks.find((w) => this.urlOf(w) === url)),
      },
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

  private urlOf(webhook: SimulatedWebhook): string | undefined {
    return localWebhookUrl(this.RED, webhook.path);
  }

  /** The URL the simulated agent posts to now, if a webhook node uses the channel. */
  agentTarget(): string | undefined {
    const target = agentTargetOf(this.webhooks);
    return target && this.urlOf(target);
  }

  /**
   * Adds a webhook node that uses the channel; returns what removes it (when that node closes). Once the
   * nodes of a deploy have started, every webhook is told which one the agent answers.
   */
  addWebhook(webhook: SimulatedWebhook): () => void {
    this.webhooks.push(webhook);
    this.changed();
    let removed = false;
    return () => {
      if (removed) return;
      removed = true;
      const at = this.webhooks.indexOf(webhook);
      if (at >= 0) this.webhooks.splice(at, 1);
      this.changed();
    };
  }

  /** Tells the webhooks their target after the nodes of this deploy have all started (they start in one turn). */
  private changed(): void {
    if (this.announce) return;
    this.announce = setImmediate(() => {
      this.announce = undefined;
      const target = agentTargetOf(this.webhooks);
      if (target) for (const w of [...this.webhooks]) w.onTarget(target);
    });
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
    if (this.announce) clearImmediate(this.announce);
    this.announce = undefined;
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
  simulatedAgentTarget?(webhook: SimulatedWebhook): () => void;
  simulatorBaseUrl?(): string | undefined;
}

interface LoggingNode {
  log(text: string): void;
  warn(text: string): void;
  error(text: string): void;
  debug(text: string): void;
}

/** Why a delivery failed, from its last attempt: "HTTP 401 Unauthorized" or the network error. */
function failureOf(delivery: Delivery): { reason: string; status: number } {
  const last = delivery.attempts[delivery.attempts.length - 1];
  if (!last) return { reason: "-", status: 0 };
  if (last.status === 0) return { reason: last.error ?? "no answer", status: 0 };
  const text = `HTTP ${last.status}${STATUS_CODES[last.status] ? ` ${STATUS_CODES[last.status]}` : ""}`;
  return { reason: last.error ? `${text}, ${last.error}` : text, status: last.status };
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
  // A refused delivery is said on the webhook it was meant for (else on the channel), at most once a minute
  // with a count: the agent would otherwise give up without a word.
  let refusals: RateLog | undefined;
  let refusalLine: string | undefined;
  let warnTo: (line: string) => void = (line) => node.warn(line);
  const simulator = new ChannelSimulator(RED, {
    onStart: (baseUrl) => node.log(t("simulator.started", { url: baseUrl })),
    onError: (err) => node.error(t("simulator.failed", { message: err.message })),
    log: (line) => node.debug(line),
    onUndelivered: (delivery, url, webhook) => {
      const { reason, status } = failureOf(delivery);
      const hint = status === 401 || status === 403 ? ` ${t(httpNodeAuthOf(RED) ? "simulator.hint-http-auth" : "simulator.hint-auth")}` : status === 404 ? ` ${t("simulator.hint-404")}` : "";
      const line = t("simulator.undelivered", { url, reason }) + hint;
      warnTo = webhook ? (l) => webhook.onUndelivered(l, status ? String(status) : reason) : (l) => node.warn(l);
      // A new reason is said at once; the same one again is counted.
      if (refusalLine !== line) {
        refusals?.flush();
        refusalLine = line;
        refusals = new RateLog((l) => warnTo(l), line, (count, seconds) => t("simulator.undelivered-repeated", { count, seconds }));
      }
      refusals?.hit();
    },
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
      channel.simulatedAgentTarget = (webhook) => simulator.addWebhook(webhook);
      channel.simulatorBaseUrl = () => simulator.baseUrl;
    },
    close: () => {
      refusals?.flush();
      return simulator.close();
    },
  };
}

/** Whether Node-RED asks HTTP nodes' callers for a password (`httpNodeAuth` in its settings). */
export function httpNodeAuthOf(RED: NodeAPI): boolean {
  try {
    const auth = (RED.settings as unknown as { httpNodeAuth?: unknown }).httpNodeAuth;
    return typeof auth === "object" && auth !== null;
  } catch {
    return false;
  }
}

/**
 * A webhook node on a simulated channel: registers it with the channel's simulator and says, in its log
 * and status, what keeps the simulated agent's answers from reaching it (`httpNodeAuth`, which the agent
 * cannot pass; another webhook being the agent's one target; a delivery refused). Returns what undoes it.
 */
export function attachSimulatedWebhook(
  RED: NodeAPI,
  node: { id: string; name?: string; warn(text: string): void; status(status: object): void },
  channel: ChannelSimulatorHooks,
  path: string,
): (() => void) | undefined {
  if (!channel.simulatedAgentTarget) return undefined;
  const t = channelTranslator(RED);
  const tag = (text: string): string => t("simulator.tagged", { text });
  let closed = false;
  let told: string | undefined;
  const later = (fn: () => void): void => void setImmediate(() => closed || fn());
  const self: SimulatedWebhook = {
    id: node.id,
    path,
    label: node.name ? `"${node.name}" (${path})` : `${path} (${node.id})`,
    onTarget: (target) => {
      if (told === target.id) return;
      const wasOther = told !== undefined;
      told = target.id;
      if (target === self) {
        // The webhook that got the answers is gone: this one gets them now.
        if (wasOther) node.status({ fill: "grey", shape: "ring", text: t("simulator.status") });
        return;
      }
      node.warn(t("simulator.not-target", { path, target: target.label }));
      node.status({ fill: "yellow", shape: "ring", text: tag(t("simulator.status-not-target")) });
    },
    onUndelivered: (line, reason) => {
      node.warn(line);
      node.status({ fill: "red", shape: "ring", text: tag(t("simulator.status-undelivered", { reason })) });
    },
  };
  if (httpNodeAuthOf(RED)) {
    node.warn(t("simulator.http-auth", { path }));
    later(() => node.status({ fill: "yellow", shape: "ring", text: tag(t("simulator.status-http-auth")) }));
  }
  const detach = channel.simulatedAgentTarget(self);
  return () => {
    closed = true;
    detach();
  };
}

/** The short text flow nodes on a simulated channel add to their status, so that none passes for production. */
export function simulatorStatusTag(RED: NodeAPI): { idle: string; tag(text: string): string } {
  const t = channelTranslator(RED);
  return { idle: t("simulator.status"), tag: (text) => t("simulator.tagged", { text }) };
}
