import channelNode = require("../../nodes/genesys-nexus-channel");
import uploadNode = require("../../nodes/genesys-nexus-upload");
import downloadNode = require("../../nodes/genesys-nexus-download");
import deleteNode = require("../../nodes/genesys-nexus-delete");
import sendNode = require("../../nodes/genesys-nexus-send");
import { helper, channelNode as channelDef, channelCredentials, NODE_RED_DIR } from "../support";

export const FLOW_NODES = [channelNode, uploadNode, downloadNode, deleteNode, sendNode];

/* eslint-disable @typescript-eslint/no-explicit-any */
export type TestNode = any;
export type Msg = Record<string, any>;

/** A tab with the channel, the node under test wired to `out`, and a Catch node wired to `caught`. */
export function flowFor(sim: { baseUrl: string }, node: Record<string, unknown>, channel: Record<string, unknown> = {}): object[] {
  return [
    { id: "f1", type: "tab", label: "test" },
    channelDef(sim, channel),
    { id: "n1", z: "f1", name: "under test", channel: "chan", wires: [["out"]], ...node },
    { id: "out", z: "f1", type: "helper" },
    { id: "catcher", z: "f1", type: "catch", scope: null, uncaught: false, wires: [["caught"]] },
    { id: "caught", z: "f1", type: "helper" },
  ];
}

export interface Loaded {
  n1: TestNode;
  out: TestNode;
  caught: TestNode;
  /** Every status the node under test showed. */
  statuses: Array<Record<string, unknown>>;
}

// Node-RED's own Node class, whose status() is watched from the moment the node under test is created.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const NodeClass = require(require.resolve("@node-red/runtime/lib/nodes/Node", { paths: [NODE_RED_DIR] })) as { prototype: { status(s: unknown): void } };

/** Loads a flow of `nodes`, recording every status the node `n1` shows (from its constructor on). */
export async function loadWatching(nodes: unknown[], flow: object[], credentials: Record<string, unknown> = channelCredentials): Promise<Array<Record<string, unknown>>> {
  const statuses: Array<Record<string, unknown>> = [];
  const status = NodeClass.prototype.status;
  NodeClass.prototype.status = function (this: { id: string }, s: unknown) {
    if (this.id === "n1") statuses.push(s as Record<string, unknown>);
    return status.call(this, s);
  };
  try {
    await helper.load(nodes, flow, credentials);
  } finally {
    NodeClass.prototype.status = status;
  }
  return statuses;
}

export async function load(flow: object[], credentials: Record<string, unknown> = channelCredentials): Promise<Loaded> {
  const statuses = await loadWatching(FLOW_NODES, flow, credentials);
  const n1 = helper.getNode("n1");
  const own = n1.status.bind(n1);
  n1.status = (s: Record<string, unknown>) => {
    statuses.push(s);
    return own(s);
  };
  return { n1, out: helper.getNode("out"), caught: helper.getNode("caught"), statuses };
}

export type Outcome = { kind: "output"; msg: Msg } | { kind: "error"; msg: Msg };

/**
 * Sends one message and resolves with how it ended: on the output, or in Catch. Fails if it ends twice
 * (within a short grace period) or not at all.
 */
export function outcome(loaded: Loaded, msg: Msg, ms = 8000): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    let first: Outcome | undefined;
    const finish = (o: Outcome): void => {
      if (first) {
        reject(new Error(`message ended twice: ${first.kind} then ${o.kind}`));
        return;
      }
      first = o;
      clearTimeout(timer);
      setTimeout(() => {
        loaded.out.removeListener("input", onOut);
        loaded.caught.removeListener("input", onErr);
        resolve(o);
      }, 30);
    };
    const onOut = (m: Msg): void => finish({ kind: "output", msg: m });
    const onErr = (m: Msg): void => finish({ kind: "error", msg: m });
    const timer = setTimeout(() => reject(new Error("message never ended")), ms);
    loaded.out.on("input", onOut);
    loaded.caught.on("input", onErr);
    loaded.n1.receive(msg);
  });
}

export async function expectOutput(loaded: Loaded, msg: Msg): Promise<Msg> {
  const o = await outcome(loaded, msg);
  if (o.kind !== "output") throw new Error(`expected an output, got an error: ${o.msg.error?.message}`);
  return o.msg;
}

export async function expectError(loaded: Loaded, msg: Msg): Promise<Msg> {
  const o = await outcome(loaded, msg);
  if (o.kind !== "error") throw new Error("expected Catch to get the message, but it went to the output");
  return o.msg;
}

/**
 * Records how messages ended, by their `seq`: on the output or in Catch (or the node given as `caught`).
 * A message that ends twice shows as two entries.
 */
export function recordEnds(loaded: Pick<Loaded, "out" | "caught">): { ends: Map<number, string[]>; errors: string[] } {
  const ends = new Map<number, string[]>();
  const errors: string[] = [];
  const record = (kind: string) => (m: Msg) => {
    ends.set(m.seq, [...(ends.get(m.seq) ?? []), kind]);
    if (kind === "error") errors.push(m.error.message);
  };
  loaded.out.on("input", record("output"));
  loaded.caught.on("input", record("error"));
  return { ends, errors };
}
