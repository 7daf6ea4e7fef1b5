import type { NodeAPI, Node } from "node-red";
import { handleApiCall } from "../lib/nodes/api-node";
import { translator } from "../lib/nodes/i18n";
import { mediaIdReader, type MediaIdDef } from "../lib/nodes/media-id";
import english from "./locales/en-US/genesys-nexus-delete.json";
import { guardedConstructor } from "../lib/nodes/guarded-constructor";

/** `genesys-nexus-delete`: DELETE /channels/{channelId}/media/{mediaId}. */
export = function (RED: NodeAPI): void {
  const t = translator(RED, "genesys-nexus-delete", english);
  function GenesysNexusDelete(this: Node, config: MediaIdDef): void {
    RED.nodes.createNode(this, config);
    const mediaIdOf = mediaIdReader(RED, this, config, t("genesys-nexus-delete.label.mediaId"));
    handleApiCall(RED, this, config.channel, t, {
      verb: "deleting",
      call: async (client, msg, options) => client.deleteMedia(await mediaIdOf(msg), options),
      write: (msg, result) => {
        msg.payload = result.payload;
      },
    });
  }
  RED.nodes.registerType("genesys-nexus-delete", guardedConstructor(RED, GenesysNexusDelete));
};
