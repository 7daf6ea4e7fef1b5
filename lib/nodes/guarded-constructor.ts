import type { Node, NodeAPI, NodeDef } from "node-red";
import { channelTranslator } from "./i18n";

type NodeConstructor<D extends NodeDef> = (this: Node, config: D) => void;

/**
 * A node constructor that no setting, credential or environment variable can make throw. Node-RED logs a
 * constructor that throws and leaves the node out of the running flow: a flow node then drops its
 * messages, and a webhook's route is never mounted (Genesys gets 404, which it never retries). Guarded,
 * the node exists: its status is red ("could not start"), `node.error` says what failed, with the node's
 * credentials masked, and every message it is given ends in Catch with the same words.
 *
 * This is the safety net; each node still checks its own settings and shows what is wrong in its words.
 */
export function guardedConstructor<D extends NodeDef>(RED: NodeAPI, constructor: NodeConstructor<D>): NodeConstructor<D> {
  return function GuardedNode(this: Node, config: D): void {
    try {
      constructor.call(this, config);
    } catch (err) {
      cannotStart(RED, this, err);
    }
  };
}

function cannotStart(RED: NodeAPI, node: Node, err: unknown): void {
  const t = channelTranslator(RED);
  const reason = masked(err instanceof Error ? err.message : String(err), (node as { credentials?: unknown }).credentials);
  const text = t("start.failed", { reason });
  try {
    node.status({ fill: "red", shape: "ring", text: t("start.status") });
    node.error(text);
    node.removeAllListeners("input");
    node.on("input", (_msg, _send, done) => done(Object.assign(new Error(text), { name: "GenesysNexusError", toString: () => text })));
  } catch {
    // The node was not even created (createNode itself failed): the log is all that is left.
    RED.log.error(text);
  }
}

/** A text with every credential value of the node in it masked, raw and percent-decoded. */
export function masked(text: string, credentials: unknown): string {
  if (typeof credentials !== "object" || credentials === null) return text;
  const values = new Set<string>();
  for (const value of Object.values(credentials)) {
    if (typeof value !== "string" || value.length < 3) continue;
    values.add(value);
    // The password of a URL (redis://user:password@host) may be repeated alone, raw or decoded.
    const password = /^[a-z][a-z0-9+.-]*:\/\/[^@/]*?:([^@/]*)@/i.exec(value)?.[1];
    if (password && password.length >= 3) {
      values.add(password);
      try {
        values.add(decodeURIComponent(password));
      } catch {
        // not valid percent-encoding: the raw password is masked
      }
    }
  }
  // Longest first, so that a value is never partly shown because a shorter one was masked inside it.
  let out = text;
  for (const value of [...values].sort((a, b) => b.length - a.length)) out = out.split(value).join("***");
  return out;
}
