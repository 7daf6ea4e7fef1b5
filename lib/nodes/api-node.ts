import type { Node, NodeAPI, NodeMessageInFlow } from "node-red";
import { CallCanceller, NexusError, describeError, type CallOptions, type NexusClient, type Translate as ClientTranslate } from "../client";
import { clientErrorTranslator, type Translate } from "./i18n";
import { NodeStatus } from "./node-status";

/** The config node as flow nodes see it: one long-lived client per channel. */
export interface ChannelConfigNode extends Node {
  /** The channel's client; throws a NexusInputError when the channel is misconfigured. */
  client(): NexusClient;
  /**
   * The secrets a webhook delivery may be signed with: the channel secret, then the one being rotated out
   * (`previousSecret`). Empty when the channel has no secret.
   */
  verificationSecrets(): string[];
  /** The Genesys channel id, which scopes what webhooks share between instances. */
  readonly channelId: string;
}

export type FlowMessage = NodeMessageInFlow & Record<string, unknown>;

/** What one flow node does: call the client, then write the result onto the message. */
export interface ApiCall<R extends { statusCode: number; traceId: string }> {
  /** Status key while in flight: `sending`, `uploading`, `downloading`, `deleting`. */
  verb: string;
  call(client: NexusClient, msg: FlowMessage, options: CallOptions): Promise<R>;
  write(msg: FlowMessage, result: R): void;
}

/**
 * An error for Catch nodes: its text is the sentence alone (Node-RED shows `toString()`), and it keeps
 * the HTTP status, Genesys status and trace id for flows that look closer.
 */
export class FlowError extends Error {
  statusCode?: number;
  genesysCode?: number;
  genesysMessage?: string;
  traceId?: string;
  kind?: string;

  constructor(cause: Error, t: ClientTranslate) {
    super(describeError(cause, t));
    this.name = "GenesysNexusError";
    if (cause instanceof NexusError) {
      this.kind = cause.kind;
      this.statusCode = cause.statusCode;
      this.genesysCode = cause.genesysCode;
      this.genesysMessage = cause.genesysMessage;
      this.traceId = cause.traceId;
    }
  }

  override toString(): string {
    return this.message;
  }
}

/**
 * Wires a flow node to its API call: the status while in flight, `send`/`done`, the Catch-able error with
 * `msg.statusCode` when an answer came, and the status cleared on close. Every flow node does it this way.
 */
export function handleApiCall<R extends { statusCode: number; traceId: string }>(
  RED: NodeAPI,
  node: Node,
  channelId: string | undefined,
  t: Translate,
  api: ApiCall<R>,
): void {
  const channel = channelId ? (RED.nodes.getNode(channelId) as ChannelConfigNode | null) : null;
  const status = new NodeStatus(node, t, api.verb);
  const errorText = clientErrorTranslator(RED);
  if (!channel) node.status({ fill: "red", shape: "ring", text: t("status.no-channel") });

  // Calls in flight, so that stopping the node ends each of them at once, while Catch nodes still listen.
  const inFlight = new Set<() => void>();

  node.on("input", (message, send, done) => {
    const msg = message as FlowMessage;
    let settled = false;
    const fail = (err: Error, afterRequest: boolean): void => {
      if (settled) return;
      settled = true;
      const flowError = new FlowError(err, errorText);
      if (flowError.statusCode !== undefined) msg.statusCode = flowError.statusCode;
      if (flowError.traceId !== undefined) msg.traceId = flowError.traceId;
      if (afterRequest) status.fail(err);
      else status.refuse(err);
      done(flowError);
    };
    if (!channel) {
      fail(new Error(t("errors.no-channel")), false);
      return;
    }
    let client: NexusClient;
    try {
      client = channel.client();
    } catch (err) {
      fail(err as Error, false);
      return;
    }
    status.start();
    const canceller = new CallCanceller();
    const abandon = (): void => {
      canceller.cancel();
      fail(new Error(t("errors.stopped")), true);
    };
    inFlight.add(abandon);
    let result: Promise<R>;
    try {
      result = api.call(client, msg, {
        traceId: msg.traceId as string | undefined,
        canceller,
        onRetry: (info) => status.retry(info),
      });
    } catch (err) {
      result = Promise.reject(err);
    }
    result.then(
      (res) => {
        inFlight.delete(abandon);
        if (settled) return;
        try {
          api.write(msg, res);
          msg.statusCode = res.statusCode;
          msg.traceId = res.traceId;
        } catch (err) {
          fail(err as Error, true);
          return;
        }
        settled = true;
        status.succeed(res.statusCode);
        // Nothing may escape this callback: it would be an unhandled rejection.
        try {
          send(msg);
        } catch (err) {
          done(new FlowError(err as Error, errorText));
          return;
        }
        done();
      },
      (err: unknown) => {
        inFlight.delete(abandon);
        fail(err instanceof Error ? err : new Error(String(err)), true);
      },
    );
  });

  node.on("close", (_removed: boolean, done: () => void) => {
    for (const abandon of [...inFlight]) abandon();
    inFlight.clear();
    status.clear();
    done();
  });
}

/** Reads a typed-input property (msg, flow, global, env, str, jsonata) for one message. */
export function evaluateProperty(RED: NodeAPI, node: Node, value: string, type: string, msg: FlowMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    RED.util.evaluateNodeProperty(value, type, node, msg, (err: Error | null, result: unknown) => (err ? reject(err) : resolve(result)));
  });
}
