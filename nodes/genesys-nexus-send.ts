import type { NodeAPI, NodeDef, Node } from "node-red";
import { evaluateProperty, handleApiCall, settingText } from "../lib/nodes/api-node";
import { translator } from "../lib/nodes/i18n";
import { outboxCommandWithoutOutbox, outboxSendCall } from "../lib/nodes/outbox-glue";
import english from "./locales/en-US/genesys-nexus-send.json";
import { guardedConstructor } from "../lib/nodes/guarded-constructor";

interface SendDef extends NodeDef {
  channel: string;
  /** Where the message comes from: a typed input, `payload` + `msg` by default. */
  message?: string;
  messageType?: string;
  /** Keep what cannot be sent now in the channel's outbox and send it later, in order (default false). */
  outbox?: boolean;
}

/** `genesys-nexus-send`: POST /channels/{channelId}/messages with the node's Message (msg.payload by default) as the JSON body. */
export = function (RED: NodeAPI): void {
  const t = translator(RED, "genesys-nexus-send", english);
  function GenesysNexusSend(this: Node, config: SendDef): void {
    RED.nodes.createNode(this, config);
    const node = this;
    const type = settingText(config.messageType) || "msg";
    const value = settingText(config.message);
    const fromPayload = type === "msg" && (value === "" || value === "payload");
    // Named in error texts, the way the dialog shows it: msg.payload, flow.x, a JSONata expression...
    const setting = t("genesys-nexus-send.label.message");
    const source = fromPayload ? "msg.payload" : type === "msg" || type === "flow" || type === "global" ? `${type}.${value}` : t(`source.${type}`);
    const outbox = config.outbox === true || String(config.outbox) === "true";
    handleApiCall(
      RED,
      node,
      config.channel,
      t,
      outbox
        ? outboxSendCall(RED, node, config.channel, t, (msg) => (fromPayload ? msg.payload : evaluateProperty(RED, node, value, type, msg, setting)), source)
        : {
            verb: "sending",
            call: (client, msg, options) => {
              const mistaken = outboxCommandWithoutOutbox(msg, t);
              if (mistaken) return Promise.reject(mistaken);
              if (fromPayload) return client.sendMessage(msg.payload, options);
              return evaluateProperty(RED, node, value, type, msg, setting).then((v) => client.sendMessage(v, { ...options, source }));
            },
            write: (msg, result) => {
              msg.payload = result.payload;
            },
          },
    );
  }
  RED.nodes.registerType("genesys-nexus-send", guardedConstructor(RED, GenesysNexusSend));
};
