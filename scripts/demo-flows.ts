import fs from "fs";
import path from "path";

export const DEMO_CHANNEL_ID = "genesys-demo-channel";

const EXAMPLES = ["agent-bridge", "send-message", "upload-media", "download-media", "delete-media"];

/**
 * The example flows, one tab each, sharing one channel. The examples ship in simulator mode, so the demo's
 * channel runs the package's simulator inside Node-RED, with its agent answering the bridge's webhook.
 */
export function demoFlows(): object[] {
  // From scripts/ when run from source, from dist/scripts/ when compiled.
  const examples = [path.resolve(__dirname, "..", "examples"), path.resolve(__dirname, "..", "..", "examples")].find((dir) => fs.existsSync(dir)) as string;
  const flows: object[] = [];
  let channel: Record<string, unknown> | undefined;
  for (const file of EXAMPLES) {
    const nodes = JSON.parse(fs.readFileSync(path.join(examples, `${file}.json`), "utf8")) as Array<Record<string, unknown>>;
    // Each example brings its own named tab; the tab goes first so that the demo opens in this order.
    flows.push(...nodes.filter((n) => n.type === "tab"));
    for (const node of nodes) {
      // Each example brings its own channel, so that several import cleanly; the demo has one for all.
      if (node.type === "genesys-nexus-channel") channel ??= { ...node, id: DEMO_CHANNEL_ID, name: "Demo", mode: "simulator" };
      else if (node.type !== "tab") flows.push(typeof node.channel === "string" ? { ...node, channel: DEMO_CHANNEL_ID } : node);
    }
  }
  if (channel) flows.push(channel);
  return flows;
}
