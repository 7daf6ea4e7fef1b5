import type { NodeAPI, NodeDef, Node } from "node-red";
import { handleApiCall } from "../lib/nodes/api-node";
import { translator } from "../lib/nodes/i18n";
import english from "./locales/en-US/genesys-nexus-send.json";

interface SendDef extends NodeDef {
  channel: string;
}

/** `genesys-nexus-send`: POST /channels/{channelId}/messages with msg.payload as the JSON body. */
export = function (RED: NodeAPI): void {
  const t = translator(RED, "genesys-nexus-send", english);
  function GenesysNexusSend(this: Node, config: SendDef): void {
    RED.nodes.createNode(this, config);
    handleApiCall(RED, this, config.channel, t, {
      verb: "sending",
      call: (client, msg, options) => client.sendMessage(msg.payload, options),
      write: (msg, result) => {
        msg.payload = result.payload;
      },
    });
  }
  RED.nodes.registerType("genesys-nexus-send", GenesysNexusSend);
};
