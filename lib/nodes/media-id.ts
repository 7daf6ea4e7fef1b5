import type { Node, NodeAPI, NodeDef } from "node-red";
import { evaluateProperty, settingText, type FlowMessage } from "./api-node";

/** Download and delete take the media id from a typed input, `msg.mediaId` by default. */
export interface MediaIdDef extends NodeDef {
  channel: string;
  mediaId?: string;
  mediaIdType?: string;
}

/**
 * The media id for one message: the node's setting when it gives one, else `msg.mediaId`. A blank setting
 * falls back to the message, so flows that never set it keep working. `setting` is the dialog's label of
 * the field, named in the error when the setting cannot be read (a failing JSONata expression).
 */
export function mediaIdReader(RED: NodeAPI, node: Node, config: MediaIdDef, setting = "Media id"): (msg: FlowMessage) => Promise<unknown> {
  const type = settingText(config.mediaIdType) || "msg";
  const value = settingText(config.mediaId);
  if ((type === "msg" && (value === "" || value === "mediaId")) || (type === "str" && value.trim() === "")) {
    return (msg) => Promise.resolve(msg.mediaId);
  }
  return async (msg) => {
    const given = await evaluateProperty(RED, node, value, type, msg, setting);
    return given === undefined || given === null || given === "" ? msg.mediaId : given;
  };
}
