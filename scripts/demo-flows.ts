import fs from "fs";
import path from "path";

export const DEMO_CHANNEL_ID = "genesys-demo-channel";
export const WEBHOOK_PATH = "/genesys/agent";

const EXAMPLES: Array<[string, string]> = [
  ["agent-bridge", "Conversation bridge"],
  ["send-message", "Send a message"],
  ["upload-media", "Upload media"],
  ["download-media", "Download media"],
  ["delete-media", "Delete media"],
];

/** The example flows, one tab each, with the shared channel pointed at the running simulator. */
export function demoFlows(simBaseUrl: string): object[] {
  // From scripts/ when run from source, from dist/scripts/ when compiled.
  const examples = [path.resolve(__dirname, "..", "examples"), path.resolve(__dirname, "..", "..", "examples")].find((dir) => fs.existsSync(dir)) as string;
  const flows: object[] = [];
  let channel: Record<string, unknown> | undefined;
  for (const [file, label] of EXAMPLES) {
    const nodes = JSON.parse(fs.readFileSync(path.join(examples, `${file}.json`), "utf8")) as Array<Record<string, unknown>>;
    const tab = nodes.find((n) => typeof n.z === "string")?.z as string;
    flows.push({ id: tab, type: "tab", label, disabled: false, info: "" });
    for (const node of nodes) {
      if (node.id === DEMO_CHANNEL_ID) channel = { ...node, baseUrl: simBaseUrl };
      else flows.push(node);
    }
  }
  if (channel) flows.push(channel);
  return flows;
}
