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
import { simulatorStatusTag, type ChannelMode, type SimulatedWebhook } from "./simulator-channel";
import { settingError } from "./setting-error";
import { LinkedList, type Linked } from "../util/linked-list";

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
  /** In simulator mode: adds a webhook node the simulated agent may answer (see `agentTargetOf`); returns what undoes it. */
  simulatedAgentTarget?(webhook: SimulatedWebhook): () => void;
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

/**
 * What one flow node does: call the client, then write the result onto the message. A node that may end a
 * message another way (the send node's outbox) adds the optional hooks; the status, `send`/`done`, the
 * Catch-able error and the stopping behaviour stay handleApiCall's.
 */
export interface ApiCall<R extends { statusCode: number; traceId: string }> {
  /** Status key while in flight: `sending`, `uploading`, `downloading`, `deleting`. */
  verb: string;
  call(client: NexusClient, msg: FlowMessage, options: CallOptions): Promise<R>;
  write(msg: FlowMessage, result: R): void;
  /** Where the busy/done status dot goes; the node itself unless given (the outbox hides it while it shows what waits). */
  status?: Pick<Node, "status">;
  /**
   * May take a message instead of `call`, after the stopping and channel checks and before the channel's
   * client is asked for: returns true when it took it, and then ends it exactly once through `taken()`
   * (made on first call: a message not taken costs no such object). Runs for every message: keep the path
   * that returns false cheap.
   */
  take?(msg: FlowMessage, taken: () => TakenMessage): boolean;
  /**
   * May take over a failure of `call` (after the request started, or ended by the node stopping, then with
   * `kind` "aborted" and `requestSent`): returns true when it took it, and then ends it exactly once
   * through `taken`. Otherwise the failure goes to Catch.
   */
  rescue?(msg: FlowMessage, err: Error, taken: TakenMessage): boolean;
}

/** How a hook ends a message it took, through handleApiCall's endings (status, Catch, the stopping log). */
export interface TakenMessage {
  /** Ends it with the message on the output, then `done()`; the status is left as it is. */
  send(): void;
  /** Ends it without output: kept to be sent later (on disk). While the node stops, the log names it. */
  kept(traceId: string): void;
  /**
   * Ends it in Catch, as a failure before any request (red status, msg.reachedGenesys...). `reach` and
   * `traceId` when the error itself does not say them (a message the outbox could not keep).
   */
  fail(err: Error, facts?: { reach?: Reach; traceId?: string }): void;
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
    } else if (cause instanceof StoppedError) {
      this.traceId = cause.traceId;
    }
    this.reachedGenesys = reach;
  }

  override toString(): string {
    return this.message;
  }
}

/**
 * The Catch-able error for a message that failed, with what a flow decides by put on the message itself:
 * Node-RED copies only message, code, stack and cause onto msg.error. Sets `msg.statusCode` (an answer
 * came), `msg.traceId` (the error's, else `traceId`), `msg.reachedGenesys` and `msg.retryAfter` (seconds).
 * A `msg.statusCode` or `msg.retryAfter` the message brought with it (from an http request node, say) is
 * removed when this failure has none: a flow never reads a stale answer as this one's.
 */
export function failureOn(msg: FlowMessage, err: Error, t: ClientTranslate, reach: Reach, traceId?: string): FlowError {
  const flowError = new FlowError(err, t, reach);
  if (flowError.statusCode !== undefined) msg.statusCode = flowError.statusCode;
  else delete msg.statusCode;
  const id = flowError.traceId ?? traceId;
  if (id !== undefined) msg.traceId = id;
  msg.reachedGenesys = reach;
  if (flowError.retryAfter !== undefined) msg.retryAfter = flowError.retryAfter;
  else delete msg.retryAfter;
  return flowError;
}

/** A success's message: what an earlier failure or another node put there (`retryAfter`, `reachedGenesys`) goes. */
export function clearFailureProperties(msg: Record<string, unknown>): void {
  delete msg.retryAfter;
  delete msg.reachedGenesys;
}

/**
 * How long a stopping flow node (and its channel) lets requests already sent finish, in ms: well under
 * Node-RED's 15 s close limit. Messages still waiting for a slot or a retry end at once.
 */
export const STOP_DRAIN_MS = 5000;

/** One message between input and its end. */
interface Pending extends Linked<Pending> {
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
  const status = new NodeStatus((api.status ?? node) as Node, t, api.verb, channelProblemText(RED), channel?.mode === "simulator" ? simulatorStatusTag(RED) : undefined);
  const errorText = clientErrorTranslator(RED, channel?.mode === "simulator");
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

  // A list, not a Set: see LinkedList (a Set of per-message entries cost a fifth more CPU per message in GC).
  const pending = new LinkedList<Pending>();
  let stopping = false;
  let drained: (() => void) | undefined;

  /** A message that ends while the node stops: the log names it, whatever the flow after it can still do. */
  const account = (msg: FlowMessage, outcome: { statusCode: number } | Error | "kept", reach: Reach): void => {
    const traceId = String((outcome as { traceId?: unknown }).traceId ?? msg.traceId ?? "-");
    if (outcome === "kept") {
      node.warn(stopText("kept", { traceId }));
    } else if (!(outcome instanceof Error)) {
      node.warn(stopText("delivered", { traceId, status: outcome.statusCode }));
    } else if (outcome instanceof NexusAbortError || outcome instanceof StoppedError) {
      node.warn(stopText(outcome.requestSent ? "unanswered" : "not-sent", { traceId, ms: STOP_DRAIN_MS }));
    } else {
      node.warn(stopText("failed", { traceId, reach: stopText(REACH_LOG_KEY[reach], {}), error: describeError(outcome, errorText) }));
    }
  };

  node.on("input", (message, send, done) => {
    const msg = message as FlowMessage;
    let settled = false;
    let entry: Pending | undefined;
    const end = (): void => {
      if (entry && pending.remove(entry) && pending.size === 0) drained?.();
    };
    /** Ends it in Catch. */
    const toCatch = (err: Error, afterRequest: boolean, facts: { reach?: Reach; traceId?: string } = {}): void => {
      // A message stopped with its request on the wire may have reached Genesys.
      const reach = facts.reach ?? (err instanceof StoppedError ? (err.requestSent ? "maybe" : "no") : reachedGenesys(err));
      const flowError = failureOn(msg, err, errorText, reach, facts.traceId);
      if (afterRequest) status.fail(err);
      else status.refuse(err);
      if (stopping) account(msg, err, reach);
      done(flowError);
    };
    /** Sends the message on and ends it; nothing may escape (in a promise callback it would be an unhandled rejection). */
    const sendOn = (): void => {
      try {
        send(msg);
      } catch (err) {
        done(new FlowError(err as Error, errorText));
        return;
      }
      done();
    };
    /** Given to a hook that takes the message: each ending once. */
    let taken: TakenMessage | undefined;
    const takenMessage = (): TakenMessage => {
      if (taken) return taken;
      let ended = false;
      const once = (): boolean => !ended && (ended = true);
      return (taken = {
        send: () => {
          if (once()) sendOn();
        },
        kept: (traceId) => {
          if (!once()) return;
          msg.traceId = traceId;
          if (stopping) account(msg, "kept", "no");
          done();
        },
        fail: (err, facts) => {
          if (once()) toCatch(err, false, facts);
        },
      });
    };
    const fail = (err: Error, afterRequest: boolean): void => {
      if (settled) return;
      settled = true;
      end();
      if (afterRequest && api.rescue) {
        // The attempt is over either way; a hook that takes the failure ends the message itself.
        status.fail(err);
        if (!api.rescue(msg, err, takenMessage())) toCatch(err, false);
        return;
      }
      toCatch(err, afterRequest);
    };
    if (stopping) {
      fail(new StoppedError(t("errors.stopped"), false), false);
      return;
    }
    if (!channel) {
      fail(new Error(t("errors.no-channel")), false);
      return;
    }
    if (api.take?.(msg, takenMessage)) {
      settled = true;
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
    const own = new CallCanceller();
    entry = {
      canceller: own,
      abandon: () => {
        own.cancel();
        fail(new StoppedError(t("errors.stopped"), own.sent, own.traceId), true);
      },
      prev: undefined,
      next: undefined,
      linked: false,
    };
    pending.push(entry);
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
          clearFailureProperties(msg);
        } catch (err) {
          fail(err as Error, true);
          return;
        }
        settled = true;
        end();
        status.succeed(res.statusCode);
        if (stopping) account(msg, res, "yes");
        sendOn();
      },
      (err: unknown) => fail(err instanceof Error ? err : new Error(String(err)), true),
    );
  });

  node.on("close", (_removed: boolean, done: () => void) => {
    stopping = true;
    for (const p of [...pending]) p.canceller.drain();
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

/**
 * A message ended because the node stopped before it could be sent or answered; `requestSent`: its request
 * was on the wire, so Genesys may have it. Its `kind` is "aborted", like the client's NexusAbortError.
 */
class StoppedError extends Error {
  readonly kind = "aborted";
  /** `traceId`: the request's, when one was made (the log and Catch name it: Genesys may have it). */
  constructor(
    message: string,
    readonly requestSent: boolean,
    readonly traceId?: string,
  ) {
    super(message);
  }
}

/** Settings the client names when they are missing, with their short name in a status. */
const MISSING_CODES: ReadonlySet<string> = new Set(["config-no-base-url", "config-no-channel-id", "config-no-ccid", "config-secret"]);

/**
 * What a channel lacks, as a short status, for errors of its configuration: every missing field at once
 * ("channel: no base URL, channel id, contact center id, secret"), then any other problem ("channel:
 * SECRET not set"), joined by "; ".
 */
export function channelProblemText(RED: NodeAPI): (err: Error) => string | undefined {
  const channelText = channelTranslator(RED);
  return (err) => {
    if (!(err instanceof NexusInputError)) return undefined;
    const parts = err.parts.filter(([code]) => code.startsWith("config-"));
    if (parts.length === 0) return undefined;
    const missing = parts.filter(([code]) => MISSING_CODES.has(code));
    const texts = missing.length > 1 ? [channelText("problem.missing", { fields: missing.map(([code]) => channelText(`problem.field.${code}`)).join(", ") })] : [];
    for (const [code, params] of parts) if (missing.length <= 1 || !MISSING_CODES.has(code)) texts.push(channelText(`problem.${code}`, params));
    return texts.join("; ");
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
