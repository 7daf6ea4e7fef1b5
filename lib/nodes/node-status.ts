import type { Node } from "node-red";
import type { NexusError, RetryInfo } from "../client";
import type { Translate } from "./i18n";

/**
 * A flow node's status dot, updated on transitions only (idle to busy, busy to idle, a retry, a failure),
 * never once per message: under load the editor gets a handful of updates, not thousands.
 */
export class NodeStatus {
  private busy = 0;
  private lastError = false;

  constructor(
    private readonly node: Node,
    private readonly t: Translate,
    private readonly verb: string,
  ) {}

  start(): void {
    if (this.busy++ === 0) this.node.status({ fill: "blue", shape: "dot", text: this.t(`status.${this.verb}`) });
  }

  retry(info: RetryInfo): void {
    this.node.status({ fill: "yellow", shape: "ring", text: this.t("status.retry", { retry: info.retry, retries: info.retries, reason: info.reason }) });
  }

  succeed(statusCode: number): void {
    this.lastError = false;
    if (--this.busy === 0) this.node.status({ fill: "green", shape: "dot", text: this.t("status.done", { status: statusCode }) });
  }

  fail(err: NexusError | Error): void {
    this.busy = Math.max(0, this.busy - 1);
    this.lastError = true;
    this.node.status({ fill: "red", shape: "ring", text: shortError(err, this.t) });
  }

  /** A failure before any request (bad input, no channel). */
  refuse(err: NexusError | Error): void {
    this.lastError = true;
    this.node.status({ fill: "red", shape: "ring", text: shortError(err, this.t) });
  }

  clear(): void {
    this.busy = 0;
    this.node.status({});
  }

  get failed(): boolean {
    return this.lastError;
  }
}

function shortError(err: NexusError | Error, t: Translate): string {
  const e = err as Partial<NexusError>;
  if (e.statusCode) return t("status.http-error", { status: e.statusCode });
  switch (e.kind) {
    case "timeout":
      return t("status.timeout");
    case "network":
      return t("status.unreachable");
    case "aborted":
      return t("status.aborted");
    case "overloaded":
      return t("status.queue-full");
    default:
      return t("status.bad-input");
  }
}
