import type { Node } from "node-red";
import type { NexusError, RetryInfo } from "../client";
import type { Translate } from "./i18n";

type Last = { kind: "ok"; status: number } | { kind: "error"; text: string } | { kind: "retry"; text: string } | undefined;

/** How often the busy/idle status may change at most, in ms; failures and retries show at once. */
export const STATUS_INTERVAL_MS = 500;

/**
 * A flow node's status dot. Under load the blue (working) / green (done) flapping of every message is
 * coalesced to one update per interval, rendered from the current state; a failure or a retry shows at
 * once. A red status stays until a message succeeds again.
 */
export class NodeStatus {
  private busy = 0;
  private last: Last;
  private timer: NodeJS.Timeout | undefined;
  private lastEmit = 0;
  private shown = "";
  private readonly texts = new Map<string, string>();

  constructor(
    private readonly node: Node,
    private readonly t: Translate,
    private readonly verb: string,
    /** The short text of a channel that is not configured completely, or undefined for other errors. */
    private readonly channelProblem: (err: Error) => string | undefined = () => undefined,
    /** On a simulated channel: the status when idle, and how every text says "simulator". */
    private readonly simulated?: { idle: string; tag(text: string): string },
  ) {}

  /** On a simulated channel, says "simulator" before any message; otherwise there is nothing to show yet. */
  show(): void {
    if (!this.simulated || this.last || this.busy > 0) return;
    const status = this.render();
    this.shown = `${status.fill}|${status.shape}|${status.text}`;
    this.node.status(status);
  }

  start(): void {
    this.busy++;
    this.soon();
  }

  succeed(statusCode: number): void {
    this.busy = Math.max(0, this.busy - 1);
    this.last = { kind: "ok", status: statusCode };
    this.soon();
  }

  retry(info: RetryInfo): void {
    this.last = { kind: "retry", text: this.text("status.retry", { retry: info.retry, retries: info.retries, reason: info.reason }) };
    this.now();
  }

  /** A failure after the request started. */
  fail(err: NexusError | Error): void {
    this.busy = Math.max(0, this.busy - 1);
    this.refuse(err);
  }

  /** A failure before any request (bad input, no channel). */
  refuse(err: NexusError | Error): void {
    this.last = { kind: "error", text: this.channelProblem(err) ?? shortError(err, (key, params) => this.text(key, params)) };
    this.now();
  }

  clear(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.busy = 0;
    this.last = undefined;
    this.shown = "";
    this.node.status({});
  }

  private text(key: string, params?: Record<string, string | number | undefined>): string {
    const id = params ? `${key}|${Object.values(params).join("|")}` : key;
    let text = this.texts.get(id);
    if (text === undefined) {
      text = this.t(key, params);
      if (this.texts.size > 200) this.texts.clear();
      this.texts.set(id, text);
    }
    return text;
  }

  private soon(): void {
    if (this.timer) return;
    const wait = this.lastEmit + STATUS_INTERVAL_MS - Date.now();
    if (wait <= 0) return this.now();
    this.timer = setTimeout(() => this.now(), wait);
    this.timer.unref();
  }

  private now(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.lastEmit = Date.now();
    const status = this.render();
    const key = `${status.fill}|${status.shape}|${status.text}`;
    if (key === this.shown) return;
    this.shown = key;
    this.node.status(status);
  }

  private render(): { fill?: "red" | "yellow" | "blue" | "green" | "grey"; shape?: "ring" | "dot"; text?: string } {
    const status = this.state();
    if (!this.simulated) return status;
    if (status.text === undefined) return { fill: "grey", shape: "ring", text: this.simulated.idle };
    return { ...status, text: this.simulated.tag(status.text) };
  }

  private state(): { fill?: "red" | "yellow" | "blue" | "green"; shape?: "ring" | "dot"; text?: string } {
    const last = this.last;
    if (last?.kind === "error") return { fill: "red", shape: "ring", text: last.text };
    if (last?.kind === "retry" && this.busy > 0) return { fill: "yellow", shape: "ring", text: last.text };
    if (this.busy > 0) return { fill: "blue", shape: "dot", text: this.text(`status.${this.verb}`) };
    if (last?.kind === "ok") return { fill: "green", shape: "dot", text: this.text("status.done", { status: last.status }) };
    return {};
  }
}

function shortError(err: NexusError | Error, t: Translate): string {
  const e = err as Partial<NexusError>;
  if (e.statusCode) return t("status.http-error", { status: e.statusCode });
  switch (e.kind as string | undefined) {
    case "timeout":
      return t("status.timeout");
    case "network": {
      // Unreachable only where no connection carried the request; a malformed answer or a connection lost
      // after the request was written came from a server that was reached.
      const code = (e as { code?: string }).code;
      if (code === "EPROTO" || code === "UND_ERR_RES_CONTENT_LENGTH_MISMATCH") return t("status.bad-answer");
      return e.reachedGenesys === "maybe" ? t("status.connection-lost") : t("status.unreachable");
    }
    case "aborted":
      return t("status.aborted");
    case "overloaded":
      return t("status.queue-full");
    case "too-large":
      return t("status.too-large");
    case "outbox-full":
      return t("status.outbox-full");
    default:
      return t("status.bad-input");
  }
}
