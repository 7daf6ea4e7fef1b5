import type { NodeAPI, Node } from "node-red";
import { handleApiCall } from "../lib/nodes/api-node";
import { translator } from "../lib/nodes/i18n";
import { mediaIdReader, type MediaIdDef } from "../lib/nodes/media-id";
import english from "./locales/en-US/genesys-nexus-download.json";

/** `genesys-nexus-download`: GET /channels/{channelId}/media/{mediaId}, the file as a Buffer. */
export = function (RED: NodeAPI): void {
  const t = translator(RED, "genesys-nexus-download", english);
  function GenesysNexusDownload(this: Node, config: MediaIdDef): void {
    RED.nodes.createNode(this, config);
    const mediaIdOf = mediaIdReader(RED, this, config);
    handleApiCall(RED, this, config.channel, t, {
      verb: "downloading",
      call: async (client, msg, options) => client.downloadMedia(await mediaIdOf(msg), options),
      write: (msg, result) => {
        msg.payload = result.data;
        msg.mimetype = result.contentType;
        if (result.filename) msg.filename = result.filename;
      },
    });
  }
  RED.nodes.registerType("genesys-nexus-download", GenesysNexusDownload);
};
