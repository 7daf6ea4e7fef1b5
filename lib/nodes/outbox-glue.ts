import os from "os";
import path from "path";
import type { Node, NodeAPI } from "node-red";
import { CallCanceller, describeError, encodeMessageBody, isValidTraceId, newTraceId, type NexusClient } from "../client";
import { Outbox, OutboxFullError, payloadOf, reachOf, storableProperties, verdictOf, type DeliveredAnswer, type OutboxEntry, type OutboxInfo } from "../outbox";
import { FlowError, STOP_DRAIN_MS, channelProblemText, type ChannelConfigNode, type FlowMessage } from "./api-node";
import { clientErrorTranslator, type Translate } from "./i18n";
import { NodeStatus } from "./node-status";

/** What the channel's outbox needs of one send node in outbox mode. */
interface OutboxSender {
  readonly id: string;
  /** Emits a delivered message on the node's output. */
  emit(msg: FlowMessage): void;
  /** Hands a message to Catch. */
  error(err: Error, msg: FlowMessage): void;
  warn(text: string): void;
  /** Shows what waits (undefined: the outbox is empty). */
  show(info: OutboxInfo | undefined): void;
}

/** The outbox settings of a channel node (the node contract: `outboxLimit`, `outboxMaxAge` in seconds). */
export interface OutboxChannelDef {
  id: string;
  outboxLimit?: number | string;
  outboxMaxAge?: number | string;
  /** Longest wait between probes while Genesys cannot be reached, seconds (default 30). */
  outboxProbeMax?: number | string;
}

/** How long after it is emitted a delivery counts as possibly in transit when a deploy stops the flows, in ms. */
const RECENT_MS = 500;

export const OUTBOX_DEFAULTS = { limit: 100_000, maxAgeSeconds: 604_800, probeMaxSeconds: 30 };

function positive(value: unknown, fallback: number): number {
  const n = typeof value === "string" && value.trim() !== "" ? Number(value) : value;
  return typeof n === "number" && Number.isFinite(n) && n > 0 ? n : fallback;
}

/** Where a channel keeps its outbox: `<userDir>/genesys-nexus-outbox/<channel node id>.mdb`. */
export function outboxFile(RED: NodeAPI, channelNodeId: string): string {
  const userDir = (RED.settings as unknown as { userDir?: string }).userDir || path.join(os.homedir(), ".node-red");
  return path.join(userDir, "genesys-nexus-outbox", `${channelNodeId.replace(/[^A-Za-z0-9_-]/g, "_")}.mdb`);
}

/**
 * A channel's outbox in Node-RED: the file (opened when the first outbox send node registers), the send
 * nodes registered with it (as core mqtt nodes register with their broker), and the drain loop's outputs.
 * A delivered message leaves through the send node that took it; when that node no longer exists after a
 * deploy, another outbox send node of the channel emits it with a warning. While no send node is
 * registered (during a deploy) nothing is sent and nothing emitted: the messages wait on disk.
 */
export class OutboxHub {
  private readonly senders = new Map<string, OutboxSender>();
  private outbox: Outbox | undefined;
  private openError: Error | undefined;
  private closing = false;
  /** Direct sends (and their fall-back into the outbox) that a close waits for. */
  private readonly inflight = new Set<Promise<unknown>>();
  private statusTimer: NodeJS.Timeout | undefined;
  private ageTimer: NodeJS.Timeout | undefined;
  /** Whether the flows run: a channel is made while they start, and the nodes after the send nodes may not exist yet. */
  private flowsRunning = false;
  private readonly orphansWarned = new Set<string>();
  private readonly onFlows: (running: boolean) => () => void;
  private readonly errorText;
  /** Deliveries emitted lately, to be named when a deploy stops the flows right after. */
  private recent: Array<{ at: number; traceId: string }> = [];

  constructor(
    private readonly RED: NodeAPI,
    private readonly channel: ChannelConfigNode,
    private readonly config: OutboxChannelDef,
    private readonly t: Translate,
  ) {
    this.errorText = clientErrorTranslator(RED, channel.mode === "simulator");
    this.onFlows = (running) => () => {
      this.flowsRunning = running;
      // Messages in transit through the nodes after the send node may be dropped as they stop: name them.
      const recent = this.recent.filter((r) => Date.now() - r.at < RECENT_MS).map((r) => r.traceId);
      this.recent = [];
      if (!running && recent.length > 0) this.channel.warn(this.t("outbox.emitted-before-stop", { traceIds: recent.join(", ") }));
      if (running) this.outbox?.kick();
    };
    RED.events.on("flows:stopping", this.stoppingListener);
    RED.events.on("flows:started", this.startedListener);
  }

  private readonly stoppingListener = (): void => this.onFlows(false)();
  private readonly startedListener = (): void => this.onFlows(true)();

  /** The channel's outbox, opened on first use; throws when its file cannot be opened. */
  get(): Outbox {
    if (this.outbox) return this.outbox;
    if (this.openError) throw this.openError;
    if (this.closing) throw new Error(this.t("outbox.closed"));
    const file = outboxFile(this.RED, this.config.id);
    try {
      this.outbox = new Outbox({
        file,
        limit: Math.floor(positive(this.config.outboxLimit, OUTBOX_DEFAULTS.limit)),
        maxAgeMs: positive(this.config.outboxMaxAge, OUTBOX_DEFAULTS.maxAgeSeconds) * 1000,
        backoffMaxMs: positive(this.config.outboxProbeMax, OUTBOX_DEFAULTS.probeMaxSeconds) * 1000,
        handlers: {
          send: (entry) => this.send(entry),
          deliver: (entry, answer) => this.deliver(entry, answer),
          canDrain: () => this.flowsRunning && !this.closing && this.senders.size > 0,
          refuse: (entry, err) => this.fail(entry, err),
          expire: (entry, ageMs) => this.fail(entry, new Error(this.t("outbox.expired", { age: formatAge(this.t, ageMs), max: Math.round(this.outbox?.maxAgeMs ?? 0) / 1000 }))),
          resend: (entry) => this.senderFor(entry)?.warn(this.t("outbox.resend", { traceId: entry.traceId })),
          changed: () => this.changed(),
        },
      });
    } catch (err) {
      this.openError = new Error(this.t("outbox.open-failed", { file, error: (err as Error).message }));
      throw this.openError;
    }
    this.changed();
    return this.outbox;
  }

  register(sender: OutboxSender): void {
    this.senders.set(sender.id, sender);
    try {
      const outbox = this.get();
      sender.show(outbox.size > 0 ? outbox.info() : undefined);
      outbox.kick();
    } catch {
      // The send node shows the error with the first message it gets.
    }
  }

  deregister(sender: OutboxSender): void {
    if (this.senders.get(sender.id) === sender) this.senders.delete(sender.id);
  }

  /** Keeps a direct send (and its fall-back into the outbox) in view until it ends, for close. */
  track<T>(work: Promise<T>): Promise<T> {
    this.inflight.add(work);
    const forget = (): void => void this.inflight.delete(work);
    work.then(forget, forget);
    return work;
  }

  /** Stops the drain loop and closes the file once direct sends have ended; nothing waiting is lost. */
  async close(): Promise<void> {
    this.closing = true;
    this.RED.events.removeListener("flows:stopping", this.stoppingListener);
    this.RED.events.removeListener("flows:started", this.startedListener);
    clearTimeout(this.statusTimer);
    clearInterval(this.ageTimer);
    await Promise.allSettled([...this.inflight]);
    await this.outbox?.stop();
    this.outbox = undefined;
  }

  private async send(entry: OutboxEntry): Promise<DeliveredAnswer> {
    // The channel's client is closing with it: an attempt now would open a new one.
    if (this.closing) throw Object.assign(new Error("closing"), { kind: "aborted", requestSent: false });
    const client: NexusClient = this.channel.client();
    const res = await client.sendMessage(entry.body, { traceId: entry.traceId });
    return { statusCode: res.statusCode, traceId: res.traceId, payload: res.payload };
  }

  /** The node that took the message; another outbox send node when that one no longer exists. */
  private senderFor(entry: OutboxEntry): OutboxSender | undefined {
    // While a deploy stops the flows, the nodes after the send node stop too: emit nothing, keep it.
    if (!this.flowsRunning || this.closing) return undefined;
    const own = this.senders.get(entry.nodeId);
    if (own) return own;
    // It may be on its way back (a deploy): wait for it, unless it is gone from the flows.
    if (this.RED.nodes.getNode(entry.nodeId)) return undefined;
    const other = this.senders.values().next().value as OutboxSender | undefined;
    if (other && !this.orphansWarned.has(entry.nodeId)) {
      this.orphansWarned.add(entry.nodeId);
      other.warn(this.t("outbox.orphan", { node: entry.nodeId }));
    }
    return other;
  }

  private deliver(entry: OutboxEntry, answer: DeliveredAnswer): boolean {
    const sender = this.senderFor(entry);
    if (!sender) return false;
    const msg = { ...entry.props, payload: answer.payload, statusCode: answer.statusCode, traceId: answer.traceId } as unknown as FlowMessage;
    sender.emit(msg);
    const now = Date.now();
    if (this.recent.length > 0 && now - this.recent[0].at >= RECENT_MS) this.recent = this.recent.filter((r) => now - r.at < RECENT_MS);
    if (this.recent.length < 1000) this.recent.push({ at: now, traceId: entry.traceId });
    return true;
  }

  /** A message leaves the outbox for Catch: refused by Genesys, or too old. */
  private fail(entry: OutboxEntry, err: Error): void {
    const msg = { ...entry.props, payload: payloadOf(entry), traceId: entry.traceId } as unknown as FlowMessage;
    const flowError = new FlowError(err, this.errorText);
    if (flowError.statusCode !== undefined) msg.statusCode = flowError.statusCode;
    msg.reachedGenesys = (err as { kind?: string }).kind ? reachOf(err) : "no";
    const sender = this.senderFor(entry) ?? this.senders.values().next().value;
    if (sender) sender.error(flowError, msg);
    else this.channel.warn(`${describeError(err, this.errorText)} (${entry.traceId})`);
  }

  /** Tells the send nodes what waits: at most every 500 ms, and every 10 s while messages wait (their age grows). */
  private changed(): void {
    if (this.statusTimer) return;
    this.statusTimer = setTimeout(() => {
      this.statusTimer = undefined;
      const outbox = this.outbox;
      if (!outbox) return;
      const info = outbox.size > 0 ? outbox.info() : undefined;
      for (const sender of this.senders.values()) sender.show(info);
      if (info && !this.ageTimer) {
        this.ageTimer = setInterval(() => this.changed(), 10_000);
        this.ageTimer.unref();
      } else if (!info && this.ageTimer) {
        clearInterval(this.ageTimer);
        this.ageTimer = undefined;
      }
    }, 500);
    this.statusTimer.unref();
  }
}

/** An age for a flow author: "45 s", "12 min", "3 h", "2 d". */
export function formatAge(t: Translate, ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return t("age.s", { n: s });
  if (s < 3600) return t("age.min", { n: Math.floor(s / 60) });
  if (s < 86_400) return t("age.h", { n: Math.floor(s / 3600) });
  return t("age.d", { n: Math.floor(s / 86_400) });
}

/** A channel node that may own an outbox. */
export type OutboxChannel = ChannelConfigNode & { outboxHub?: OutboxHub };

/** Gives a channel node its outbox hub; the returned function closes it (await it in the channel's close). */
export function attachOutbox(RED: NodeAPI, channel: ChannelConfigNode, config: OutboxChannelDef, t: Translate): () => Promise<void> {
  const hub = new OutboxHub(RED, channel, config, t);
  (channel as OutboxChannel).outboxHub = hub;
  return () => hub.close();
}

/**
 * A send node in outbox mode. While the channel's outbox is empty a message is sent at once, as without
 * it (no disk write); one that cannot be delivered now (see `verdictOf`) is kept, and `done()` is called
 * once it is on disk. While the outbox holds messages, new ones are kept behind them. Messages with
 * `msg.outbox` = `"status"` or `"clear"` are not sent: they read or empty the outbox.
 */
export function handleOutboxSend(
  RED: NodeAPI,
  node: Node,
  channelId: string | undefined,
  t: Translate,
  /** The message to send: `msg.payload`, or the node's typed *Message* evaluated for this message. */
  read: (msg: FlowMessage) => unknown,
  /** Where the message comes from, for error texts (`msg.payload`, `flow.x`...). */
  source: string,
): void {
  const channel = channelId ? (RED.nodes.getNode(channelId) as OutboxChannel | null) : null;
  const hub = channel?.outboxHub;
  const errorText = clientErrorTranslator(RED, channel?.mode === "simulator");
  let outboxShown = false;
  // The busy/done status of direct sends, shown while the outbox is empty.
  const status = new NodeStatus({ status: (s: object) => (outboxShown ? undefined : node.status(s)) } as unknown as Node, t, "sending", channelProblemText(RED));
  const warnedProps = new Set<string>();
  const pending = new Set<CallCanceller>();
  let stopping = false;

  const sender: OutboxSender = {
    id: node.id,
    emit: (msg) => node.send(msg),
    error: (err, msg) => node.error(err, msg),
    warn: (text) => node.warn(text),
    show: (info) => {
      if (info) {
        outboxShown = true;
        node.status({ fill: "yellow", shape: "ring", text: t("status.outbox", { count: info.waiting.toLocaleString("en-US"), age: formatAge(t, Date.now() - (info.oldest ?? Date.now())) }) });
      } else if (outboxShown) {
        outboxShown = false;
        node.status({ fill: "green", shape: "dot", text: t("status.outbox-empty") });
      }
    },
  };
  if (!channel) node.status({ fill: "red", shape: "ring", text: t("status.no-channel") });
  else if (!hub) node.status({ fill: "red", shape: "ring", text: t("outbox.unavailable") });
  else hub.register(sender);

  const fail = (msg: FlowMessage, err: Error, done: (err?: Error) => void, afterRequest: boolean): void => {
    const flowError = new FlowError(err, errorText);
    if (flowError.statusCode !== undefined) msg.statusCode = flowError.statusCode;
    if (flowError.traceId !== undefined) msg.traceId = flowError.traceId;
    if ((err as { kind?: string }).kind) msg.reachedGenesys = reachOf(err);
    if (afterRequest) status.fail(err);
    else status.refuse(err);
    done(flowError);
  };

  /** Keeps a message in the outbox; done() once it is on disk. */
  const keep = async (msg: FlowMessage, body: Buffer, traceId: string, unknown: boolean, failed: unknown, done: (err?: Error) => void): Promise<void> => {
    // The payload that was encoded into the body is not stored twice.
    const payload = msg.payload;
    const payloadFromBody = source !== "msg.payload" ? undefined : Buffer.isBuffer(payload) ? "buffer" : typeof payload === "string" ? "string" : "json";
    const { props, dropped } = storableProperties(msg, payloadFromBody ? "payload" : undefined);
    for (const name of dropped) {
      if (warnedProps.has(name)) continue;
      warnedProps.add(name);
      node.warn(t("outbox.dropped-property", { name }));
    }
    try {
      await (hub as OutboxHub).get().add({ nodeId: node.id, traceId, body, props, unknown, payloadFromBody }, failed);
    } catch (err) {
      const text = err instanceof OutboxFullError ? t("outbox.full", { limit: err.limit }) : t("outbox.store-failed", { error: (err as Error).message });
      // Not kept: Genesys has it only if the attempt that failed just before may have arrived.
      msg.reachedGenesys = unknown ? "maybe" : "no";
      msg.traceId = traceId;
      fail(msg, new Error(text), done, false);
      return;
    }
    done();
  };

  const command = async (msg: FlowMessage, send: (m: FlowMessage) => void, done: (err?: Error) => void): Promise<void> => {
    const outbox = (hub as OutboxHub).get();
    if (msg.outbox === "status") {
      msg.payload = outbox.info();
    } else {
      const removed = await outbox.clear();
      node.log(t("outbox.cleared", { count: removed }));
      msg.payload = { removed };
    }
    send(msg);
    done();
  };

  node.on("input", (message, send, done) => {
    const msg = message as FlowMessage;
    if (stopping) return fail(msg, new Error(t("errors.stopped")), done, false);
    if (!channel) return fail(msg, new Error(t("errors.no-channel")), done, false);
    if (!hub) return fail(msg, new Error(t("outbox.unavailable")), done, false);
    if (msg.outbox !== undefined) {
      if (msg.outbox !== "status" && msg.outbox !== "clear") return fail(msg, new Error(t("outbox.unknown-command", { value: JSON.stringify(msg.outbox) })), done, false);
      void hub.track(command(msg, send as (m: FlowMessage) => void, done)).catch((err: Error) => fail(msg, err, done, false));
      return;
    }
    let client: NexusClient;
    let outbox: Outbox;
    try {
      client = channel.client();
      outbox = hub.get();
    } catch (err) {
      return fail(msg, err as Error, done, false);
    }
    const traceId = isValidTraceId(msg.traceId) ? msg.traceId : newTraceId();
    /** Keeps it behind what waits: encoded now, so that every attempt sends these bytes. */
    const keepNow = (value: unknown): void => {
      let body: Buffer;
      try {
        body = encodeMessageBody(value, source);
      } catch (err) {
        return fail(msg, err as Error, done, false);
      }
      void hub.track(keep(msg, body, traceId, false, undefined, done));
    };
    const go = (value: unknown): void => {
      if (outbox.size > 0) return keepNow(value);
      // The outbox is empty: send at once, as without it (the client encodes the value once; no disk write).
      status.start();
      const canceller = new CallCanceller();
      pending.add(canceller);
      client.sendMessage(value, { traceId, canceller, source, onRetry: (info) => status.retry(info) }).then(
        (res) => {
          pending.delete(canceller);
          msg.payload = res.payload;
          msg.statusCode = res.statusCode;
          msg.traceId = res.traceId;
          status.succeed(res.statusCode);
          try {
            send(msg);
          } catch (err) {
            done(new FlowError(err as Error, errorText));
            return;
          }
          done();
        },
        (err: unknown) => {
          const verdict = verdictOf(err);
          if (!verdict.keep) {
            pending.delete(canceller);
            return fail(msg, err instanceof Error ? err : new Error(String(err)), done, true);
          }
          status.fail(err as Error);
          // The same value gives the same bytes: what is resent is what went out.
          let body: Buffer;
          try {
            body = encodeMessageBody(value, source);
          } catch (encodeErr) {
            pending.delete(canceller);
            return fail(msg, encodeErr as Error, done, true);
          }
          void hub.track(keep(msg, body, traceId, verdict.unknown, err, done));
          pending.delete(canceller);
        },
      );
    };
    let value: unknown;
    try {
      value = read(msg);
    } catch (err) {
      return fail(msg, err as Error, done, false);
    }
    if (value instanceof Promise) value.then(go, (err: Error) => fail(msg, err, done, false));
    else go(value);
  });

  node.on("close", (_removed: boolean, done: () => void) => {
    stopping = true;
    hub?.deregister(sender);
    // Sends on the wire may finish; the rest end (aborted: kept in the outbox as unknown, if sent) at once.
    for (const c of pending) c.drain();
    const timer = setTimeout(() => {
      for (const c of pending) c.cancel();
    }, STOP_DRAIN_MS);
    const check = setInterval(() => {
      if (pending.size > 0) return;
      clearInterval(check);
      clearTimeout(timer);
      status.clear();
      done();
    }, 20);
  });
}
