import type { NodeAPI, NodeDef, Node } from "node-red";
import { basename } from "path";
import { handleApiCall, settingText } from "../lib/nodes/api-node";
import { translator } from "../lib/nodes/i18n";
import english from "./locales/en-US/genesys-nexus-upload.json";
import { guardedConstructor } from "../lib/nodes/guarded-constructor";

interface UploadDef extends NodeDef {
  channel: string;
  filename?: string;
}

/** `genesys-nexus-upload`: POST /channels/{channelId}/media from a Buffer, string, stream or file path. */
export = function (RED: NodeAPI): void {
  const t = translator(RED, "genesys-nexus-upload", english);
  function GenesysNexusUpload(this: Node, config: UploadDef): void {
    RED.nodes.createNode(this, config);
    handleApiCall(RED, this, config.channel, t, {
      verb: "uploading",
      call: (client, msg, options) => {
        const path = typeof msg.filename === "string" && msg.filename !== "" ? msg.filename : undefined;
        // The client uploads msg.payload, or the file at msg.filename when the payload is absent or empty.
        return client.uploadMedia(
          {
            content: msg.payload,
            path,
            filename: (path && basename(path)) || settingText(config.filename) || undefined,
            contentType: typeof msg.mimetype === "string" && msg.mimetype !== "" ? msg.mimetype : undefined,
          },
          options,
        );
      },
      write: (msg, result) => {
        msg.payload = result.payload;
        msg.mediaId = result.mediaId;
        msg.mediaUrl = result.mediaUrl;
      },
    });
  }
  RED.nodes.registerType("genesys-nexus-upload", guardedConstructor(RED, GenesysNexusUpload));
};
