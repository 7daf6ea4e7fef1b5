import assert from "assert/strict";
import fs from "fs";
import path from "path";
import { coreNode, helper, until } from "./support";
import { FLOW_NODES, type Msg } from "./nodes/flow";
import webhookNode = require("../nodes/genesys-nexus-webhook");
import responseNode = require("../nodes/genesys-nexus-webhook-response");
const core = ["common/20-inject.js", "common/90-comment.js", "function/15-change.js", "network/21-httpin.js"].map(coreNode);

const examples = path.resolve(__dirname, "..", "examples");
type FlowNode = Record<string, unknown> & { id: string; type: string };

/** An example flow as it ships, with its debug nodes swapped for test helpers. */
function loadExample(file: string): FlowNode[] {
  const flow = JSON.parse(fs.readFileSync(path.join(examples, file), "utf8")) as FlowNode[];
  return flow.map((n) => (n.type === "debug" ? { id: n.id, z: n.z, type: "helper" } : n));
}

describe("example flows", () => {
  before(() => helper.startServer());
  after(() => helper.stopServer());
  afterEach(() => helper.unload());

  const files = fs.readdirSync(examples).filter((f) => f.endsWith(".json"));

  it("has one example per flow node, each opening with a Comment node", () => {
    const types = new Set<string>();
    for (const file of files) {
      const flow = JSON.parse(fs.readFileSync(path.join(examples, file), "utf8")) as FlowNode[];
      assert.equal(flow[0].type, "comment", `${file} opens with a Comment node`);
      for (const n of flow) types.add(n.type);
      const text = JSON.stringify(flow);
      assert.ok(!text.includes("simulator-secret\""), `${file} holds no credential`);
      assert.ok(flow.every((n) => !("credentials" in n)), `${file} holds no credentials`);
      // The first run: it works as imported, with nothing typed and nothing else started.
      const channels = flow.filter((n) => n.type === "genesys-nexus-channel");
      assert.deepEqual(channels.map((c) => c.mode), ["simulator"], `${file} ships its one channel in simulator mode`);
      assert.doesNotMatch(String(flow[0].info), /npm start|npx genesys-nexus-simulator|simulator-secret/, `${file}'s comment asks for nothing to be started or typed`);
      assert.match(String(flow[0].info), /Mode/, `${file}'s comment says how to go live`);
      for (const c of channels) {
        assert.equal(c.outboxLimit, "100000");
        assert.equal(c.outboxMaxAge, "604800");
      }
    }
    for (const type of ["genesys-nexus-send", "genesys-nexus-upload", "genesys-nexus-download", "genesys-nexus-delete", "genesys-nexus-webhook", "genesys-nexus-webhook-response"]) {
      assert.ok(types.has(type), `an example uses ${type}`);
    }
  });

  it("lands each example on its own named tab, with debug nodes that show what matters", () => {
    const labels = new Set<string>();
    for (const file of files) {
      const flow = JSON.parse(fs.readFileSync(path.join(examples, file), "utf8")) as FlowNode[];
      const tabs = flow.filter((n) => n.type === "tab");
      assert.equal(tabs.length, 1, `${file} has one tab`);
      assert.ok(typeof tabs[0].label === "string" && tabs[0].label !== "", `${file}'s tab has a name`);
      labels.add(tabs[0].label as string);
      for (const n of flow.filter((x) => x.type !== "tab" && x.type !== "genesys-nexus-channel")) assert.equal(n.z, tabs[0].id, `${file}: ${n.id} is on the tab`);
      for (const debug of flow.filter((n) => n.type === "debug")) {
        assert.notEqual(debug.complete, "true", `${file}: ${debug.id} shows the complete message`);
        if (/error/.test(debug.id)) assert.equal(debug.complete, "error.message", `${file}: ${debug.id}`);
      }
    }
    assert.equal(labels.size, files.length, "every tab has its own name");
    // No two examples share a node id: importing several one after another raises no conflict.
    const ids = files.flatMap((file) => (JSON.parse(fs.readFileSync(path.join(examples, file), "utf8")) as FlowNode[]).map((n) => n.id));
    assert.equal(new Set(ids).size, ids.length, "every node id is unique across the examples");
    const upload = JSON.parse(fs.readFileSync(path.join(examples, "upload-media.json"), "utf8")) as FlowNode[];
    assert.ok(!upload.some((n) => n.type === "function" || n.type === "change"), "the upload example needs no function or change node");
    assert.equal(upload.find((n) => n.type === "genesys-nexus-send")?.messageType, "jsonata");
  });

  for (const file of files) {
    it(`${file} works as imported, against its channel's built-in simulator`, async () => {
      const flow = loadExample(file);
      await helper.load([...FLOW_NODES, webhookNode, responseNode, ...core], flow, {});
      const results: Msg[] = [];
      const errors: Msg[] = [];
      for (const n of flow.filter((x) => x.type === "helper")) {
        helper.getNode(n.id).on("input", (m: Msg) => (/error|failure/.test(n.id) ? errors : results).push(m));
      }
      const injects = flow.filter((n) => n.type === "inject" && !/unknown/.test(n.id));
      for (const inject of injects) helper.getNode(inject.id).receive({});
      await until(() => results.length > 0 && results.length >= injects.length, 5000, `output of ${file}`);
      await new Promise((r) => setTimeout(r, 100));
      assert.deepEqual(errors.map((e) => e.error?.message), []);
      for (const m of results.filter((r) => r.statusCode !== undefined)) assert.equal(m.statusCode, 200);
      assert.ok(results.some((r) => r.statusCode === 200), "an answer came from the simulator");
    });
  }
});
