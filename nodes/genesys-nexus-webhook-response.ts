import { randomUUID } from "crypto";
import type { Node, NodeAPI, NodeDef } from "node-red";
import { FlowError } from "../lib/nodes/api-node";
import { translator } from "../lib/nodes/i18n";
import { replyHandles } from "../lib/webhook/reply-handles";
import english from "./locales/en-US/genesys-nexus-webhook-response.json";
import { guardedConstructor } from "../lib/nodes/guarded-constructor";

/** `genesys-nexus-webhook-response`: answers the webhook request a message came from. */
export = function (RED: NodeAPI): void {
  const t = translator(RED, "genesys-nexus-webhook-response", english);

  function GenesysNexusWebhookResponse(this: Node, config: NodeDef): void {
    RED.nodes.createNode(this, config);
    const node = this;
    // Shown only when it changes: never once per answer under load.
    const answered = t("status.answered");
    const noRequest = t("status.no-request");
    let shown = "";
    const show = (fill: "red" | "yellow" | "green", text: string): void => {
      if (shown === fill + text) return;
      shown = fill + text;
      node.status({ fill, shape: fill === "red" ? "ring" : "dot", text });
    };
    node.on("input", (message, _send, done) => {
      const msg = message as typeof message & { _webhook?: { id?: unknown }; statusCode?: unknown; messageId?: unknown };
      const reply = replyHandles.take(msg._webhook?.id);
      if (!reply) {
        show("red", noRequest);
        // Shown as the sentence alone (no "Error:" before it), like every error of the flow nodes.
        done(new FlowError(new Error(t("errors.no-request")), (code) => code));
        return;
      }
      const status = typeof msg.statusCode === "string" ? Number(msg.statusCode) : msg.statusCode;
      if (typeof status === "number" && status >= 500 && status <= 599) {
        reply.answer(status);
        show("yellow", t("status.redeliver", { status }));
        done();
        return;
      }
      const given = msg.messageId;
      const messageId = typeof given === "string" && given !== "" ? given : typeof given === "number" ? String(given) : randomUUID();
      reply.answer(200, messageId);
      show("green", answered);
      done();
    });
    node.on("close", (_removed: boolean, done: () => void) => {
      node.status({});
      done();
    });
  }

  RED.nodes.registerType("genesys-nexus-webhook-response", guardedConstructor(RED, GenesysNexusWebhookResponse));
};
