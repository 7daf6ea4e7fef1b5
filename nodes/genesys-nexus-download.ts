import type { NodeAPI, Node } from "node-red";
import { evaluateProperty, handleApiCall, settingText } from "../lib/nodes/api-node";
import { channelTranslator, translator } from "../lib/nodes/i18n";
import { mediaIdReader, type MediaIdDef } from "../lib/nodes/media-id";
import english from "./locales/en-US/genesys-nexus-download.json";
import { guardedConstructor } from "../lib/nodes/guarded-constructor";
import { SettingReader } from "../lib/nodes/setting-check";

interface DownloadDef extends MediaIdDef {
  /** Optional file path to write large media to instead of a Buffer (typed input). */
  saveTo?: string;
  saveToType?: string;
  /** Largest download into memory, in bytes; past it the message fails and Save to file is the way. */
  maxBytes?: number | string;
}

/** `genesys-nexus-download`: GET /channels/{channelId}/media/{mediaId}, the file as a Buffer or written to disk. */
export = function (RED: NodeAPI): void {
  const t = translator(RED, "genesys-nexus-download", english);
  function GenesysNexusDownload(this: Node, config: DownloadDef): void {
    RED.nodes.createNode(this, config);
    const node = this;
    const mediaIdOf = mediaIdReader(RED, node, config, t("genesys-nexus-download.label.mediaId"));
    const saveTo = settingText(config.saveTo);
    const saveToType = settingText(config.saveToType) || "str";
    // Empty, or a value it cannot use (named in the log once), is the channel's limit (16 MiB unless set).
    const maxBytes = new SettingReader(RED, node).number("maxBytes", config.maxBytes, { min: 0, above: true, fallback: 0, fallbackText: channelTranslator(RED)("setting.channel-limit") }) || undefined;
    const targetOf = async (msg: Parameters<typeof mediaIdOf>[0]): Promise<string | undefined> => {
      if (saveToType === "str" && saveTo.trim() === "") return undefined;
      const target = await evaluateProperty(RED, node, saveTo, saveToType, msg, t("genesys-nexus-download.label.saveTo"));
      return typeof target === "string" && target.trim() !== "" ? target : undefined;
    };
    handleApiCall(RED, node, config.channel, t, {
      verb: "downloading",
      call: async (client, msg, options) => {
        const mediaId = await mediaIdOf(msg);
        const target = await targetOf(msg);
        if (!target) return client.downloadMedia(mediaId, { ...options, maxBytes });
        const saved = await client.downloadMediaToFile(mediaId, target, options);
        return { ...saved, data: saved.file };
      },
      write: (msg, result) => {
        msg.payload = result.data;
        msg.mimetype = result.contentType;
        if (result.filename) msg.filename = result.filename;
      },
    });
  }
  RED.nodes.registerType("genesys-nexus-download", guardedConstructor(RED, GenesysNexusDownload));
};
