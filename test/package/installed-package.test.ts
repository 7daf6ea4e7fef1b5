import assert from "assert/strict";
import fs from "fs";
import path from "path";
import { signBody } from "../../lib/client";
import type { NexusSimulator } from "../../lib/simulator";
import { API_KEY, SECRET, simulator, until } from "../support";
import { startNodeRed, type RunningNodeRed } from "./node-red-process";

const TYPES = [
  "genesys-nexus-channel",
  "genesys-nexus-upload",
  "genesys-nexus-download",
  "genesys-nexus-delete",
  "genesys-nexus-send",
  "genesys-nexus-webhook",
  "genesys-nexus-webhook-response",
];

/**
 * The tarball from `npm pack`, installed into a fresh Node-RED user directory, run in a real Node-RED
 * process: what a user gets. The webhook is proven here too, with the editor's admin app at the same root.
 */
describe("the packed package in a real Node-RED process", function () {
  this.timeout(120_000);
  let sim: NexusSimulator;
  let nodeRed: RunningNodeRed;
  let base: string;
  const log = (): string => nodeRed.log();

  before(async () => {
    sim = await simulator();
    nodeRed = await startNodeRed(
      [
        { id: "t1", type: "tab", label: "t" },
        { id: "chan", type: "genesys-nexus-channel", name: "c", baseUrl: sim.baseUrl, channelId: sim.options.channelId, ccid: sim.options.ccid, timeout: 5000, retries: 0 },
        { id: "inj", type: "inject", z: "t1", props: [{ p: "payload" }], payload: '{"messageId":"from-inject","type":"Text","text":"hi"}', payloadType: "json", x: 100, y: 100, wires: [["send"]] },
        { id: "send", type: "genesys-nexus-send", z: "t1", channel: "chan", x: 300, y: 100, wires: [[]] },
        { id: "hook", type: "genesys-nexus-webhook", z: "t1", channel: "chan", url: "/genesys/agent", replyTimeout: 3000, x: 100, y: 200, wires: [["reply"]] },
        { id: "reply", type: "genesys-nexus-webhook-response", z: "t1", x: 300, y: 200, wires: [] },
      ],
      { chan: { secret: SECRET, apiKey: API_KEY } },
    );
    base = nodeRed.base;
  });

  after(async () => {
    await nodeRed?.stop();
    await sim?.close();
  });

  it("loads every node with no error or warning in the log", async () => {
    const res = await fetch(`${base}/nodes`, { headers: { Accept: "application/json" } });
    const sets = (await res.json()) as Array<{ id: string; types: string[]; enabled: boolean; err?: string; module: string }>;
    const ours = sets.filter((s) => s.module === "@flowbridge/node-red-genesys-messaging");
    assert.deepEqual(ours.flatMap((s) => s.types).sort(), [...TYPES].sort());
    for (const set of ours) assert.equal(set.err, undefined, `${set.id}: ${set.err}`);
    assert.doesNotMatch(log(), /\[error\]/);
    assert.doesNotMatch(log(), /\[warn\].*(genesys|Waiting for missing types)/i);
  });

  it("serves each node's own icon", async () => {
    for (const type of TYPES.filter((t) => t !== "genesys-nexus-channel")) {
      const res = await fetch(`${base}/icons/@flowbridge/node-red-genesys-messaging/${type}.svg`);
      assert.equal(res.status, 200, type);
      assert.match(await res.text(), /<svg[^>]*>.*fill="#fff"/s);
    }
  });

  it("serves the help and messages from the locale files", async () => {
    const res = await fetch(`${base}/nodes`, { headers: { Accept: "text/html" } });
    const html = await res.text();
    for (const type of TYPES) assert.match(html, new RegExp(`data-help-name="${type}"`), type);
    const catalog = (await (await fetch(`${base}/locales/@flowbridge/node-red-genesys-messaging/genesys-nexus-send?lng=en-US`)).json()) as Record<string, { paletteLabel?: string }>;
    assert.equal(catalog["genesys-nexus-send"]?.paletteLabel, "send message");
  });

  it("sends from a flow to the simulator", async () => {
    assert.equal((await fetch(`${base}/inject/inj`, { method: "POST" })).status, 200);
    await until(() => sim.messages.length === 1, 5000, "the message");
    assert.equal((sim.messages[0].body as { messageId: string }).messageId, "from-inject");
  });

  it("verifies webhook signatures over the raw bytes although the admin app parses JSON at the same root", async () => {
    const body = '{ "messageId": "agent-1",  "type": "Text", "text": "spaced" }';
    const ok = await fetch(`${base}/genesys/agent`, { method: "POST", headers: { "Content-Type": "application/json", "X-Hub-Signature": signBody(body, SECRET) }, body });
    assert.equal(ok.status, 200);
    assert.match(((await ok.json()) as { messageId: string }).messageId, /^[0-9a-f-]{36}$/);
    const reserialised = await fetch(`${base}/genesys/agent`, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-Hub-Signature": signBody(JSON.stringify(JSON.parse(body)), SECRET) },
      body: body.replace("agent-1", "agent-2"),
    });
    assert.equal(reserialised.status, 401);
    const notJson = await fetch(`${base}/genesys/agent`, { method: "POST", headers: { "Content-Type": "application/json", "X-Hub-Signature": signBody("nope", SECRET) }, body: "nope" });
    assert.equal(notJson.status, 400);
  });

  it("ships no source maps, and every picture and link target the README names", () => {
    const pkg = path.join(nodeRed.userDir, "node_modules", "@flowbridge", "node-red-genesys-messaging");
    const all = (dir: string): string[] => fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? all(path.join(dir, e.name)) : [path.join(dir, e.name)]));
    assert.deepEqual(all(pkg).filter((f) => f.endsWith(".map")), []);
    const readme = fs.readFileSync(path.join(pkg, "README.md"), "utf8");
    const targets = [...readme.matchAll(/(?:src="|\]\()((?:docs|examples)\/[^")#]+)/g)].map((m) => m[1]);
    assert.ok(targets.length >= 5);
    for (const target of targets) assert.ok(fs.existsSync(path.join(pkg, target)), `${target} is in the package`);
    const manifest = JSON.parse(fs.readFileSync(path.join(pkg, "package.json"), "utf8")) as { scripts: Record<string, string> };
    assert.equal(manifest.scripts.prepare, undefined, "nothing builds at install");
  });

  it("keeps the secret and API key out of the exported flows", async () => {
    const flows = await (await fetch(`${base}/flows`)).text();
    assert.ok(flows.includes("genesys-nexus-channel"));
    assert.ok(!flows.includes(SECRET) && !flows.includes(API_KEY));
    assert.ok(!log().includes(SECRET) && !log().includes(API_KEY));
  });
});
