import type { Node, NodeAPI, NodeMessageInFlow } from "node-red";
import {
  CallCanceller,
  NexusAbortError,
  NexusError,
  NexusInputError,
  describeError,
  reachedGenesys,
  type Reach,
  type CallOptions,
  type NexusClient,
  type Translate as ClientTranslate,
} from "../client";
import { channelTranslator, clientErrorTranslator, type Translate } from "./i18n";
import { NodeStatus } from "./node-status";
import { simulatorStatusTag, type ChannelMode } from "./simulator-channel";
import { settingError } from "./setting-error";

/** The config node as flow nodes see it: one long-lived client per channel. */
export interface ChannelConfigNode extends Node {
  /** The channel's client; throws a NexusInputError when the channel is misconfigured. */
  client(): NexusClient;
  /**
   * The secrets a webhook delivery may be signed with: the channel secret, then the one being rotated out
   * (`previousSecret`). Empty when the channel has no secret.
   */
  verificationSecrets(): string[];
  /** Why webhooks cannot verify with this channel (no secret, or one from an unset variable), if they cannot. */
  secretProblem(): NexusInputError | undefined;
  /** The Genesys channel id, which scopes what webhooks share between instances. */
  readonly channelId: string;
  /** `simulator` when the channel runs the package's simulator inside Node-RED (lib/nodes/simulator-channel). */
  readonly mode?: ChannelMode;
  /** In simulator mode: makes the webhook at `path` the simulated agent's target; returns what undoes it. */
  simulatedAgentTarget?(path: string): () => void;
  /** In simulator mode: the API base URL of the channel's simulator, once it listens. */
  simulatorBaseUrl?(): string | undefined;
}

export type FlowMessage = NodeMessageInFlow & Record<string, unknown>;

/**
 * The channel config node a flow node names, or null: none, an id that names nothing, or a node of
 * another type (a hand-edited or hostile flow) are all "no channel", never a node without `client()`.
 */
export function channelNodeOf(RED: NodeAPI, id: unknown): ChannelConfigNode | null {
  if (typeof id !== "string" || id === "") return null;
  const node = RED.nodes.getNode(id) as ChannelConfigNode | null;
  return node && node.type === "genesys-nexus-channel" && typeof node.client === "function" ? node : null;
}

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
  /** Whether the request reached Genesys: "no", "maybe" or "yes" (see the node contract). */
  reachedGenesys: Reach;
  /** The wait the server asked for, in seconds, when it is longer than the channel waits. */
  retryAfter?: number;

  constructor(cause: Error, t: ClientTranslate, reach: Reach = reachedGenesys(cause)) {
    super(describeError(cause, t));
    this.name = "GenesysNexusError";
    if (cause instanceof NexusError) {
      this.kind = cause.kind;
      this.statusCode = cause.statusCode;
      this.genesysCode = cause.genesysCode;
      this.genesysMessage = cause.genesysMessage;
      this.traceId = cause.traceId;
      this.retryAfter = cause.retryAfterSeconds;
    }
    this.reachedGenesys = reach;
  }

  override toString(): string {
    return this.message;
  }
}

/**
 * How long a stopping flow node (and its channel) lets requests already sent finish, in ms: well under
 * Node-RED's 15 s close limit. Messages still waiting for a slot or a retry end at once.
 */
export const STOP_DRAIN_MS = 5000;

/** One message between input and its end. */
interface Pending {
  canceller: CallCanceller;
  /** Ends the message as stopped (an abort error), unless it ended already. */
  abandon(): void;
}

/**
 * Wires a flow node to its API call: the status while in flight, `send`/`done`, the Catch-able error with
 * `msg.statusCode` when an answer came, and the status cleared on close. Every flow node does it this way.
 *
 * When the node stops (deploy or shutdown) it takes no new message, ends the ones waiting for a slot or a
 * retry at once, lets requests already sent finish for up to STOP_DRAIN_MS, and aborts the rest. On a full
 * deploy the nodes after it and the Catch nodes stop at the same time and drop what they are sent, so
 * every message that ends while the node stops is also logged with its trace id and whether it reached
 * Genesys: none vanishes without a trace.
 */
export function handleApiCall<R extends { statusCode: number; traceId: string }>(
  RED: NodeAPI,
  node: Node,
  channelId: string | undefined,
  t: Translate,
  api: ApiCall<R>,
): void {
  const channel = channelNodeOf(RED, channelId);
  const status = new NodeStatus(node, t, api.verb, channelProblemText(RED), channel?.mode === "simulator" ? simulatorStatusTag(RED) : undefined);
  const errorText = clientErrorTranslator(RED);
  const stopText = stoppingTranslator(RED);
  if (!channel) node.status({ fill: "red", shape: "ring", text: t("status.no-channel") });
  else {
    // A channel that cannot work shows at once, on every node that uses it, with what it lacks.
    try {
      channel.client();
      status.show();
    } catch (err) {
      status.refuse(err as Error);
    }
  }

  const pending = new Set<Pending>();
  let stopping = false;
  let drained: (() => void) | undefined;

  /** A message that ends while the node stops: the log names it, whatever the flow after it can still do. */
  const account = (msg: FlowMessage, canceller: CallCanceller | undefined, outcome: { statusCode: number } | Error): void => {
    const traceId = String((outcome as { traceId?: unknown }).traceId ?? msg.traceId ?? "-");
    if (!(outcome instanceof Error)) {
      node.warn(stopText("delivered", { traceId, status: outcome.statusCode }));
    } else if (outcome instanceof NexusAbortError || outcome instanceof StoppedError) {
      const sent = outcome instanceof NexusAbortError ? outcome.requestSent : (canceller?.sent ?? false);
      node.warn(stopText(sent ? "unanswered" : "not-sent", { traceId, ms: STOP_DRAIN_MS }));
    } else {
      node.warn(stopText("failed", { traceId, reach: stopText(REACH_LOG_KEY[reachedGenesys(outcome)], {}), error: describeError(outcome, errorText) }));
    }
  };

  node.on("input", (message, send, done) => {
    const msg = message as FlowMessage;
    let settled = false;
    let canceller: CallCanceller | undefined;
    let entry: Pending | undefined;
    const end = (): void => {
      if (entry && pending.delete(entry) && pending.size === 0) drained?.();
    };
    const fail = (err: Error, afterRequest: boolean): void => {
      if (settled) return;
      settled = true;
      end();
      // A message stopped with its request on the wire may have reached Genesys.
      const reach = err instanceof StoppedError ? (canceller?.sent ? "maybe" : "no") : reachedGenesys(err);
      const flowError = new FlowError(err, errorText, reach);
      if (flowError.statusCode !== undefined) msg.statusCode = flowError.statusCode;
      if (flowError.traceId !== undefined) msg.traceId = flowError.traceId;
      // Node-RED copies only message, code, stack and cause onto msg.error: what a flow decides by goes on msg.
      msg.reachedGenesys = reach;
      if (flowError.retryAfter !== undefined) msg.retryAfter = flowError.retryAfter;
      if (afterRequest) status.fail(err);
      else status.refuse(err);
      if (stopping) account(msg, canceller, err);
      done(flowError);
    };
    if (stopping) {
      fail(new StoppedError(t("errors.stopped")), false);
      return;
    }
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
    canceller = new CallCanceller();
    const own = canceller;
    entry = {
      canceller: own,
      abandon: () => {
        own.cancel();
        fail(new StoppedError(t("errors.stopped")), true);
      },
    };
    pending.add(entry);
    let result: Promise<R>;
    try {
      result = api.call(client, msg, {
        traceId: msg.traceId as string | undefined,
        canceller: own,
        onRetry: (info) => status.retry(info),
      });
    } catch (err) {
      result = Promise.reject(err);
    }
    result.then(
      (res) => {
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
        end();
        status.succeed(res.statusCode);
        if (stopping) account(msg, own, res);
        // Nothing may escape this callback: it would be an unhandled rejection.
        try {
          send(msg);
        } catch (err) {
          done(new FlowError(err as Error, errorText));
          return;
        }
        done();
      },
      (err: unknown) => fail(err instanceof Error ? err : new Error(String(err)), true),
    );
  });

  node.on("close", (_removed: boolean, done: () => void) => {
    stopping = true;
    for (const p of pending) p.canceller.drain();
    const finish = (): void => {
      clearTimeout(timer);
      drained = undefined;
      for (const p of [...pending]) p.abandon();
      pending.clear();
      status.clear();
      done();
    };
    const timer = setTimeout(finish, pending.size > 0 ? STOP_DRAIN_MS : 0);
    drained = finish;
  });
}

/** The stopping log's words for each answer of `reachedGenesys`. */
const REACH_LOG_KEY: Record<Reach, string> = { yes: "reach-answered", no: "reach-not-sent", maybe: "reach-unknown" };

/** A message ended because the node stopped before it could be sent or answered. */
class StoppedError extends Error {}

/** What a channel lacks, as a short status ("channel: no secret"), for errors of its configuration. */
export function channelProblemText(RED: NodeAPI): (err: Error) => string | undefined {
  const t = channelTranslator(RED);
  return (err) => {
    if (!(err instanceof NexusInputError)) return undefined;
    const [code, params] = err.parts[0] ?? [];
    return code?.startsWith("config-") ? t(`problem.${code}`, params) : undefined;
  };
}

/** The lines that account for messages ending while a node stops, from the channel's catalog. */
function stoppingTranslator(RED: NodeAPI): (key: string, params: Record<string, string | number | undefined>) => string {
  const t = channelTranslator(RED);
  return (key, params) => t(`stopping.${key}`, params);
}

/**
 * A node setting as text: a flow file may hold a number, null or anything else where the editor writes a
 * string (a hand-edited or generated flow), and no such value may throw in a constructor.
 */
export function settingText(value: unknown): string {
  if (typeof value === "string") return value;
  return typeof value === "number" || typeof value === "boolean" ? String(value) : "";
}

/**
 * Reads a typed-input property (msg, flow, global, env, str, jsonata) for one message. With `setting` (the
 * dialog's label), a value that cannot be read (a JSONata expression that does not parse or fails, JSON
 * that does not parse) rejects with a sentence naming the setting (see `settingError`).
 */
export function evaluateProperty(RED: NodeAPI, node: Node, value: string, type: string, msg: FlowMessage, setting?: string): Promise<unknown> {
  const failed = (err: unknown): unknown => (setting === undefined ? err : settingError(RED, setting, type, value, err));
  return new Promise<unknown>((resolve, reject) => {
    RED.util.evaluateNodeProperty(value, type, node, msg, (err: Error | null, result: unknown) => (err ? reject(err) : resolve(result)));
  }).catch((err: unknown) => Promise.reject(failed(err)));
}
