import os from "os";
import path from "path";
import type { Node, NodeAPI } from "node-red";
import { describeError, EncodedBody, encodeMessageBody, traceIdOf, type NexusClient, type Reach } from "../client";
import { Outbox, OutboxFullError, payloadOf, reachOf, storableProperties, verdictOf, type DeliveredAnswer, type OutboxEntry, type OutboxInfo, type Reservation } from "../outbox";
import { channelNodeOf, clearFailureProperties, failureOn, type ApiCall, type ChannelConfigNode, type FlowMessage, type TakenMessage } from "./api-node";
import { clientErrorTranslator, type Translate } from "./i18n";

/** What a send node's API call answers. */
type SendResult = Awaited<ReturnType<NexusClient["sendMessage"]>>;

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
          // One whose earlier attempt's outcome is unknown may have reached Genesys: "maybe", and said so.
          expire: (entry, ageMs) =>
            this.fail(
              entry,
              new Error(this.t(entry.unknown ? "outbox.expired-unknown" : "outbox.expired", { age: formatAge(this.t, ageMs), max: Math.round(this.outbox?.maxAgeMs ?? 0) / 1000 })),
              entry.unknown ? "maybe" : "no",
            ),
          resend: (entry, restarted) => this.senderFor(entry)?.warn(this.t(restarted ? "outbox.resend-restart" : "outbox.resend", { traceId: entry.traceId })),
          reemit: (entry) => this.senderFor(entry)?.warn(this.t("outbox.reemit", { traceId: entry.traceId })),
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

  /** Direct attempts of the send nodes under way (a count, not a promise each: they are the common path). */
  private attemptsUnderWay = 0;
  private attemptsEnded: (() => void) | undefined;

  /** A send node's direct attempt starts: close waits for it, and for the message it may keep. */
  attemptStarted(): void {
    this.attemptsUnderWay++;
  }

  /** ...and ends (after a failure, once its keeping is under `track`). */
  attemptEnded(): void {
    this.attemptsUnderWay--;
    if (this.attemptsUnderWay === 0) this.attemptsEnded?.();
  }

  /** Keeps a direct send (and its fall-back into the outbox) in view until it ends, for close. */
  track<T>(work: Promise<T>): Promise<T> {
    this.inflight.add(work);
    const forget = (): void => void this.inflight.delete(work);
    work.then(forget, forget);
    return work;
  }

  /**
   * Stops the drain loop and closes the file once direct sends have ended and what they could not deliver
   * is kept; nothing waiting is lost. New messages are no longer taken.
   */
  async close(): Promise<void> {
    this.closing = true;
    this.RED.events.removeListener("flows:stopping", this.stoppingListener);
    this.RED.events.removeListener("flows:started", this.startedListener);
    clearTimeout(this.statusTimer);
    clearInterval(this.ageTimer);
    // Direct sends still under way (the send nodes stop at the same time as the channel) may yet be kept:
    // a send that ends keeps its message through `track` as well, so wait until none is left.
    while (this.inflight.size > 0 || this.attemptsUnderWay > 0) {
      if (this.attemptsUnderWay > 0) await new Promise<void>((resolve) => (this.attemptsEnded = resolve));
      this.attemptsEnded = undefined;
      await Promise.allSettled([...this.inflight]);
      await new Promise((resolve) => setImmediate(resolve));
    }
    await this.outbox?.stop();
    this.outbox = undefined;
  }

  private async send(entry: OutboxEntry): Promise<DeliveredAnswer> {
    // The channel's client is closing with it: an attempt now would open a new one.
    if (this.closing) throw Object.assign(new Error("closing"), { kind: "aborted", requestSent: false });
    const client: NexusClient = this.channel.client();
    // One attempt: the outbox itself waits and probes again (honouring a Retry-After).
    const res = await client.sendMessage(new EncodedBody(entry.body), { traceId: entry.traceId, retries: 0 });
    return { statusCode: res.statusCode, traceId: res.traceId, payload: res.payload };
  }

  /** The node that took the message; another outbox send node when that one no longer exists. */
  private senderFor(entry: OutboxEntry): OutboxSender | undefined {
    // While a deploy stops the flows, the nodes after the send node stop too: emit nothing, keep it.
    if (!this.flowsRunning || this.closing) return undefined;
    const own = this.senders.get(entry.nodeId);
    if (own) return own;
    // The flows run, so an outbox send node that exists has registered: one that exists without having
    // registered has its outbox turned off now. It took the message, so the message leaves through it.
    const node = this.RED.nodes.getNode(entry.nodeId) as Node | null;
    if (node && node.type === "genesys-nexus-send") return plainSender(node);
    if (node) return undefined;
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
    clearFailureProperties(msg);
    sender.emit(msg);
    const now = Date.now();
    if (this.recent.length > 0 && now - this.recent[0].at >= RECENT_MS) this.recent = this.recent.filter((r) => now - r.at < RECENT_MS);
    if (this.recent.length < 1000) this.recent.push({ at: now, traceId: entry.traceId });
    return true;
  }

  /** A message leaves the outbox for Catch: refused by Genesys, or too old. */
  private fail(entry: OutboxEntry, err: Error, reach: Reach = (err as { kind?: string }).kind ? reachOf(err) : "no"): void {
    const msg = { ...entry.props, payload: payloadOf(entry) } as unknown as FlowMessage;
    const flowError = failureOn(msg, err, this.errorText, reach, entry.traceId);
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

/**
 * On a send node whose outbox is off, `msg.outbox` = "status" or "clear" is a mistake (a poller left wired
 * after the outbox was turned off): an error for Catch, so that the command is never sent to Genesys as a
 * message. Undefined for any other message.
 */
export function outboxCommandWithoutOutbox(msg: FlowMessage, t: Translate): Error | undefined {
  return msg.outbox === "status" || msg.outbox === "clear" ? new Error(t("outbox.off-command", { value: JSON.stringify(msg.outbox) })) : undefined;
}

/** A send node whose outbox is off, as the outbox's output for messages it took while it was on. */
function plainSender(node: Node): OutboxSender {
  return {
    id: node.id,
    emit: (msg) => node.send(msg),
    error: (err, msg) => node.error(err, msg),
    warn: (text) => node.warn(text),
    show: () => undefined,
  };
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
 * What a send node does in outbox mode, as hooks of handleApiCall (which keeps the status, `send`/`done`,
 * the Catch-able error and the stopping behaviour of every flow node). While the channel's outbox is empty
 * a message is sent at once, as without it (no disk write); one that cannot be delivered now (see
 * `verdictOf`) is kept, and `done()` is called once it is on disk. While the outbox holds messages, new ones
 * are kept behind them. Messages with `msg.outbox` = `"status"` or `"clear"` are not sent: they read or
 * empty the outbox. A message is encoded once, before its first attempt: every attempt (the direct one and
 * the outbox's) sends the same bytes with the same trace id.
 */
export function outboxSendCall(
  RED: NodeAPI,
  node: Node,
  channelId: string | undefined,
  t: Translate,
  /** The message to send: `msg.payload`, or the node's typed *Message* evaluated for this message. */
  read: (msg: FlowMessage) => unknown,
  /** Where the message comes from, for error texts (`msg.payload`, `flow.x`...). */
  source: string,
): ApiCall<SendResult> {
  const channel = channelNodeOf(RED, channelId) as OutboxChannel | null;
  const hub = channel?.outboxHub;
  const warnedProps = new Set<string>();
  /**
   * The body, trace id and place in the queue (none when the outbox cannot be opened) of each message
   * whose direct attempt is under way, for `rescue`.
   */
  // A Map, not a WeakMap: every entry ends in `write` or `rescue` (handleApiCall calls one of them for each
  // message whose call started), and a WeakMap entry per message costs the garbage collector dearly.
  const attempts = new Map<FlowMessage, { body: Buffer; traceId: string; place?: Reservation; noPlace?: Error }>();
  let outboxShown = false;

  /** The last message the outbox sent to Catch (refused by Genesys, expired) since one was delivered: shown red once it is empty. */
  let refused: string | undefined;
  const sender: OutboxSender = {
    id: node.id,
    emit: (msg) => {
      refused = undefined;
      node.send(msg);
    },
    error: (err, msg) => {
      const status = (err as { statusCode?: number }).statusCode;
      const kind = (err as { kind?: string }).kind;
      // Refused by Genesys (an HTTP status) or for another lasting reason (its kind); else it expired.
      refused = status !== undefined || kind ? t("status.outbox-refused", { status: status ?? kind }) : t("status.outbox-expired");
      node.error(err, msg);
    },
    warn: (text) => node.warn(text),
    show: (info) => {
      if (info) {
        outboxShown = true;
        // Red once it is full: one more message goes to Catch.
        const fill = info.waiting >= info.limit ? "red" : "yellow";
        node.status({ fill, shape: "ring", text: t("status.outbox", { count: info.waiting.toLocaleString("en-US"), age: formatAge(t, Date.now() - (info.oldest ?? Date.now())) }) });
      } else if (refused) {
        outboxShown = true;
        node.status({ fill: "red", shape: "ring", text: refused });
      } else if (outboxShown) {
        outboxShown = false;
        node.status({ fill: "green", shape: "dot", text: t("status.outbox-empty") });
      }
    },
  };
  if (channel && !hub) node.status({ fill: "red", shape: "ring", text: t("outbox.unavailable") });
  /** The status says the outbox cannot be used (its file cannot be opened). */
  const unavailable = (): void => {
    outboxShown = false;
    node.status({ fill: "red", shape: "ring", text: t("status.outbox-unavailable") });
  };
  if (hub) {
    hub.register(sender);
    node.on("close", () => hub.deregister(sender));
  }

  /** Keeps a message in the outbox; ends it once it is on disk, or in Catch when it cannot be kept. */
  const keep = async (msg: FlowMessage, body: Buffer, traceId: string, unknown: boolean, failed: unknown, taken: TakenMessage, place: Reservation): Promise<void> => {
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
      await place.add({ nodeId: node.id, traceId, body, props, unknown, payloadFromBody }, failed);
    } catch (err) {
      const text = err instanceof OutboxFullError ? t("outbox.full", { limit: err.limit }) : t("outbox.store-failed", { error: (err as Error).message });
      // Not kept: Genesys has it only if the attempt that failed just before may have arrived. The status
      // says "outbox full" for a full one (kind), not "bad input".
      taken.fail(Object.assign(new Error(text), { kind: err instanceof OutboxFullError ? "outbox-full" : "outbox-failed" }), { reach: unknown ? "maybe" : "no", traceId });
      return;
    }
    taken.kept(traceId);
  };

  /** `msg.outbox` = "status" or "clear": answers on the output, sends nothing. */
  const command = async (msg: FlowMessage, outbox: Outbox, taken: TakenMessage): Promise<void> => {
    if (msg.outbox === "status") {
      msg.payload = outbox.info();
    } else {
      const removed = await outbox.clear();
      node.log(t("outbox.cleared", { count: removed }));
      msg.payload = { removed };
    }
    taken.send();
  };

  /** The outbox holds messages: this one is kept behind them, encoded now, never sent directly. */
  const keepBehind = (msg: FlowMessage, outbox: Outbox, taken: TakenMessage): void => {
    let traceId: string;
    let value: unknown;
    let place: Reservation;
    try {
      // A channel that cannot send refuses the message now, as a direct send would.
      (channel as ChannelConfigNode).client();
      traceId = traceIdOf(msg.traceId);
      value = read(msg);
      // Its place is the order it came in, even while a typed input is still evaluated.
      place = outbox.reserve();
    } catch (err) {
      return taken.fail(err as Error);
    }
    const refuse = (err: Error): void => {
      place.release();
      taken.fail(err);
    };
    const store = (v: unknown): void => {
      let body: Buffer;
      try {
        body = encodeMessageBody(v, source);
      } catch (err) {
        return refuse(err as Error);
      }
      void (hub as OutboxHub).track(keep(msg, body, traceId, false, undefined, taken, place));
    };
    if (value instanceof Promise) value.then(store, refuse);
    else store(value);
  };

  /** The direct attempt: the body encoded once (the client sends an encoded body as it is), remembered for `rescue`. */
  const attempt = (client: NexusClient, msg: FlowMessage, value: unknown, options: Parameters<NexusClient["sendMessage"]>[1]): Promise<SendResult> => {
    const traceId = traceIdOf(options?.traceId);
    const body = encodeMessageBody(value, source);
    let place: Reservation | undefined;
    let noPlace: Error | undefined;
    try {
      // Its place in the queue is taken now: kept after a failed attempt, it still goes before later messages.
      place = hub?.get().reserve();
    } catch (err) {
      // No outbox (its file cannot be opened, or it is closing): sent as without one; `rescue` says why it is not kept.
      noPlace = err as Error;
    }
    // The same message object sent into the node again while its first attempt is under way (a function
    // node that sends it twice without a copy): the first record is given up, so that no place and no count
    // of attempts under way is left open (the drain and the channel's close wait for those).
    const prior = attempts.get(msg);
    if (prior) {
      prior.place?.release();
      hub?.attemptEnded();
    }
    attempts.set(msg, { body, traceId, place, noPlace });
    // One attempt, no client retries: a message that cannot go now is kept at once, and the outbox probes.
    // The options are this message's own (handleApiCall makes them per call): set here, not copied.
    const own = options ?? {};
    own.traceId = traceId;
    own.source = source;
    own.retries = 0;
    // The channel's outbox stays open until it ends (`write` or `rescue`), so that what it cannot deliver is kept (see close).
    hub?.attemptStarted();
    return client.sendMessage(new EncodedBody(body), own);
  };

  return {
    verb: "sending",
    // While the outbox shows what waits, the busy/done dot of direct sends stays hidden.
    status: { status: (s) => (outboxShown ? undefined : node.status(s)) },
    take: (msg, takenMessage) => {
      if (!hub) {
        takenMessage().fail(new Error(t("outbox.unavailable")));
        return true;
      }
      let outbox: Outbox;
      try {
        outbox = hub.get();
      } catch (err) {
        // The outbox file cannot be opened: send as without the outbox while Genesys answers.
        if (msg.outbox === undefined) return false;
        takenMessage().fail(err as Error);
        unavailable();
        return true;
      }
      if (msg.outbox !== undefined) {
        if (msg.outbox !== "status" && msg.outbox !== "clear") takenMessage().fail(new Error(t("outbox.unknown-command", { value: JSON.stringify(msg.outbox) })));
        else void hub.track(command(msg, outbox, takenMessage())).catch((err: Error) => takenMessage().fail(err));
        return true;
      }
      if (outbox.size === 0) return false;
      keepBehind(msg, outbox, takenMessage());
      return true;
    },
    call: (client, msg, options) => {
      const value = read(msg);
      return value instanceof Promise ? value.then((v) => attempt(client, msg, v, options)) : attempt(client, msg, value, options);
    },
    write: (msg, result) => {
      const sent = attempts.get(msg);
      if (sent) {
        attempts.delete(msg);
        sent.place?.release();
        hub?.attemptEnded();
      }
      if (refused) {
        // Delivered directly: the red status of an earlier refusal goes (handleApiCall's status shows again).
        refused = undefined;
        outboxShown = false;
        node.status({ fill: "green", shape: "dot", text: t("status.done", { status: result.statusCode }) });
      }
      msg.payload = result.payload;
    },
    rescue: (msg, err, taken) => {
      const sent = attempts.get(msg);
      attempts.delete(msg);
      // Failed before its body was made (bad input, a typed input that failed): Catch, as without the outbox.
      if (!sent) return false;
      try {
        return rescueAttempt(sent, msg, err, taken);
      } finally {
        hub?.attemptEnded();
      }
    },
  };

  /** A direct attempt failed: kept when it cannot be delivered now (see `verdictOf`), else Catch. */
  function rescueAttempt(sent: { body: Buffer; traceId: string; place?: Reservation; noPlace?: Error }, msg: FlowMessage, err: Error, taken: TakenMessage): boolean {
    const verdict = verdictOf(err);
    if (!verdict.keep) {
      sent.place?.release();
      return false;
    }
    if (!sent.place) {
      // It would be kept, but the outbox cannot be opened: Catch, saying why.
      const reason = sent.noPlace?.message ?? t("outbox.unavailable");
      const kept = Object.assign(new Error(t("outbox.not-kept", { reason })), { cause: err });
      taken.fail(kept, { reach: reachOf(err), traceId: sent.traceId });
      unavailable();
      return true;
    }
    void (hub as OutboxHub).track(keep(msg, sent.body, sent.traceId, verdict.unknown, err, taken, sent.place));
    return true;
  }
}
