import assert from "assert/strict";
import fs from "fs";
import path from "path";
import { chromium, type Browser, type Page } from "playwright-core";
import type { NexusSimulator } from "../../lib/simulator";
import { demoFlows, DEMO_CHANNEL_ID } from "../../scripts/demo-flows";
import { simulator } from "../support";
import { startNodeRed, type RunningNodeRed } from "../package/node-red-process";

const CHROMIUM = process.env.CHROMIUM_PATH || "/usr/bin/chromium";
// Screenshots go to test-results/screenshots on every run; UPDATE_SCREENSHOTS=1 writes the README's copies
// in docs/images (they hold random ports, so a plain test run should not change committed files).
const IMAGES = process.env.UPDATE_SCREENSHOTS
  ? path.resolve(__dirname, "..", "..", "docs", "images")
  : path.resolve(__dirname, "..", "..", "test-results", "screenshots");
fs.mkdirSync(IMAGES, { recursive: true });
const FLOW_TYPES = [
  "genesys-nexus-send",
  "genesys-nexus-upload",
  "genesys-nexus-download",
  "genesys-nexus-delete",
  "genesys-nexus-webhook",
  "genesys-nexus-webhook-response",
];
const DEMO_SECRET = "simulator-secret";
const TYPED_SECRET = "typed-in-browser-7c1e";

declare const RED: {
  nodes: { node(id: string): unknown; eachNode(cb: (n: { id: string; type: string }) => void): void; dirty(): boolean };
  editor: { edit(node: unknown): void; editConfig(name: string, type: string, id: string): void };
  sidebar: { help: { show(type: string): void } };
  workspaces: { show(id: string): void };
};

/** The editor in Debian's Chromium, against a real Node-RED with the packed package installed. */
describe("the editor in a real browser", function () {
  this.timeout(180_000);
  let sim: NexusSimulator;
  let nodeRed: RunningNodeRed;
  let browser: Browser;
  let page: Page;
  const pageErrors: string[] = [];
  const failedRequests: string[] = [];

  before(async function () {
    if (!fs.existsSync(CHROMIUM)) {
      if (process.env.REQUIRE_BROWSER) throw new Error(`Chromium not found at ${CHROMIUM}; install it with apt-get install -y chromium`);
      console.warn(`  (the editor tests are skipped: Chromium not found at ${CHROMIUM}; apt-get install -y chromium, or set CHROMIUM_PATH)`);
      this.skip();
    }
    sim = await simulator({ apiKey: undefined, channelId: "demo-channel", secret: DEMO_SECRET, ccid: "8b6b7e2e-3c1f-4c4e-9a51-6a1f5f0c2d10" });
    nodeRed = await startNodeRed(demoFlows(sim.baseUrl), { [DEMO_CHANNEL_ID]: { secret: DEMO_SECRET } });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    });
    page = await browser.newPage({ viewport: { width: 1400, height: 860 } });
    page.on("pageerror", (err) => pageErrors.push(err.message));
    page.on("requestfailed", (req) => failedRequests.push(`${req.url()} ${req.failure()?.errorText}`));
    page.on("response", (res) => {
      if (res.status() >= 400) failedRequests.push(`${res.status()} ${res.url()}`);
    });
    await page.goto(nodeRed.base);
    await page.waitForSelector(".red-ui-palette-node[data-palette-type='genesys-nexus-send']", { timeout: 60_000 });
    await page.waitForLoadState("networkidle");
  });

  after(async () => {
    await browser?.close();
    await nodeRed?.stop();
    await sim?.close();
  });

  it("shows every flow node under Genesys in the palette, with its own icon and no failed request", async () => {
    const palette = await page.evaluate(() =>
      [...document.querySelectorAll("#red-ui-palette-container-Genesys .red-ui-palette-node")].map((n) => ({
        type: n.getAttribute("data-palette-type"),
        icon: getComputedStyle(n.querySelector(".red-ui-palette-icon") as Element).backgroundImage,
      })),
    );
    assert.deepEqual(palette.map((p) => p.type).sort(), [...FLOW_TYPES].sort());
    for (const p of palette) assert.ok(p.icon.endsWith(`/icons/@flowbridge/node-red-genesys-messaging/${p.type}.svg")`), `${p.type}: ${p.icon}`);
    const icons = await page.evaluate(async (types) => Promise.all(types.map(async (t) => (await fetch(`icons/@flowbridge/node-red-genesys-messaging/${t}.svg`)).status)), FLOW_TYPES);
    assert.deepEqual(icons, FLOW_TYPES.map(() => 200));
    assert.deepEqual(failedRequests, []);
    assert.deepEqual(pageErrors, []);
    await page.locator("#red-ui-palette-search input").pressSequentially("genesys");
    await page.waitForFunction(() => !document.querySelector(".red-ui-palette-node[data-palette-type='inject']")?.checkVisibility());
    await page.locator("#red-ui-palette").screenshot({ path: path.join(IMAGES, "palette.png") });
    await page.fill("#red-ui-palette-search input", "");
    await page.locator("#red-ui-palette-search input").press("Escape");
  });

  it("opens every node's edit dialog with no page error", async () => {
    const nodes = await page.evaluate((types) => {
      const found: Array<{ id: string; type: string }> = [];
      RED.nodes.eachNode((n) => {
        if (types.includes(n.type)) found.push({ id: n.id, type: n.type });
      });
      return found;
    }, FLOW_TYPES);
    const seen = new Set<string>();
    for (const node of nodes) {
      if (seen.has(node.type)) continue;
      seen.add(node.type);
      await page.evaluate((id) => RED.editor.edit(RED.nodes.node(id)), node.id);
      await page.waitForSelector("#node-dialog-cancel", { state: "visible" });
      const fields = await page.locator(".red-ui-tray:last-child .form-row").count();
      assert.ok(fields >= 2, `${node.type} dialog shows its form`);
      if (node.type === "genesys-nexus-send") assert.equal(await page.locator("#node-input-message").count(), 1, "the send dialog has its Message");
      await page.locator(".red-ui-tray").last().screenshot({ path: path.join(IMAGES, `${node.type.replace("genesys-nexus-", "")}-dialog.png`) });
      await page.click("#node-dialog-cancel");
      await page.waitForSelector("#node-dialog-cancel", { state: "detached" });
    }
    assert.deepEqual([...seen].sort(), [...FLOW_TYPES].sort());
    assert.deepEqual(pageErrors, []);
  });

  it("has the channel's secret and API key as password fields, and keeps a typed secret out of the flows after deploy", async () => {
    await page.evaluate((id) => RED.editor.editConfig("", "genesys-nexus-channel", id), DEMO_CHANNEL_ID);
    await page.waitForSelector("#node-config-input-secret", { state: "visible" });
    assert.equal(await page.getAttribute("#node-config-input-secret", "type"), "password");
    assert.equal(await page.getAttribute("#node-config-input-apiKey", "type"), "password");
    assert.equal(await page.getAttribute("#node-config-input-previousSecret", "type"), "password");
    await page.locator(".red-ui-tray").last().screenshot({ path: path.join(IMAGES, "channel-dialog.png") });
    await page.fill("#node-config-input-secret", TYPED_SECRET);
    await page.click("#node-config-dialog-ok");
    await page.waitForSelector("#node-config-input-secret", { state: "detached" });
    await page.click("#red-ui-header-button-deploy");
    await page.waitForFunction(() => !RED.nodes.dirty(), undefined, { timeout: 20_000 });
    const creds = JSON.parse(fs.readFileSync(path.join(nodeRed.userDir, "flows_cred.json"), "utf8")) as Record<string, { secret?: string }>;
    assert.equal(creds[DEMO_CHANNEL_ID]?.secret, TYPED_SECRET, "the deploy stored the typed secret as a credential");
    const exported = await (await fetch(`${nodeRed.base}/flows`)).text();
    const saved = fs.readFileSync(path.join(nodeRed.userDir, "flows.json"), "utf8");
    for (const text of [exported, saved]) {
      assert.ok(text.includes("genesys-nexus-channel"));
      assert.ok(!text.includes(TYPED_SECRET), "the typed secret is not in the flows");
    }
    assert.deepEqual(pageErrors, []);
  });

  it("shows Inputs, Outputs and Details in every node's help", async () => {
    for (const type of [...FLOW_TYPES, "genesys-nexus-channel"]) {
      await page.evaluate((t) => RED.sidebar.help.show(t), type);
      await page.waitForTimeout(200);
      const text = (await page.locator(".red-ui-help").allInnerTexts()).join("\n");
      const headings = ["Details", ...(type === "genesys-nexus-channel" || type === "genesys-nexus-webhook" ? [] : ["Inputs"]), ...(type.includes("channel") || type.endsWith("response") ? [] : ["Outputs"])];
      for (const h of headings) assert.ok(text.includes(h), `${type} help shows ${h}`);
    }
  });

  it("shows the demo flow", async () => {
    await page.setViewportSize({ width: 1900, height: 900 });
    await page.evaluate(() => RED.workspaces.show("example-bridge"));
    await page.waitForTimeout(500);
    await page.locator("#red-ui-workspace").screenshot({ path: path.join(IMAGES, "demo-flow.png") });
    await page.setViewportSize({ width: 1400, height: 860 });
    assert.deepEqual(pageErrors, []);
  });

  it("imports every example one after another into an empty Node-RED, each on its named tab, and marks channels without a secret", async () => {
    const fresh = await startNodeRed([], {});
    const second = await browser.newPage({ viewport: { width: 1400, height: 860 } });
    const errors: string[] = [];
    second.on("pageerror", (err) => errors.push(err.message));
    try {
      await second.goto(fresh.base);
      await second.waitForSelector(".red-ui-palette-node[data-palette-type='genesys-nexus-send']", { timeout: 60_000 });
      const examplesDir = path.resolve(__dirname, "..", "..", "examples");
      const files = fs.readdirSync(examplesDir).filter((f) => f.endsWith(".json")).sort();
      for (const file of files) {
        const flow = fs.readFileSync(path.join(examplesDir, file), "utf8");
        // As the Import dialog does: no new ids, so that a conflict would show as one.
        const conflict = await second.evaluate((text) => {
          try {
            (RED as unknown as { view: { importNodes(n: unknown, o: unknown): void } }).view.importNodes(JSON.parse(text), { generateIds: false, addFlow: false });
            return "";
          } catch (err) {
            return String((err as { code?: string }).code ?? err);
          }
        }, flow);
        assert.equal(conflict, "", `${file} imports without a conflict`);
      }
      const state = await second.evaluate(() => {
        const tabs: string[] = [];
        const channels: Array<{ id: string; valid: boolean; errors: unknown }> = [];
        const users: Array<{ id: string; valid: boolean }> = [];
        (RED as unknown as { nodes: { eachWorkspace(cb: (w: { label: string }) => void): void } }).nodes.eachWorkspace((w) => tabs.push(w.label));
        const nodes = RED.nodes as unknown as { eachConfig(cb: (n: { id: string; type: string; valid: boolean; validationErrors: unknown }) => void): void; eachNode(cb: (n: { id: string; channel?: string; valid: boolean }) => void): void };
        nodes.eachConfig((n) => {
          if (n.type === "genesys-nexus-channel") channels.push({ id: n.id, valid: n.valid, errors: n.validationErrors });
        });
        nodes.eachNode((n) => {
          if (n.channel) users.push({ id: n.id, valid: n.valid });
        });
        return { tabs, channels, users };
      });
      assert.deepEqual(state.tabs.filter((t) => t !== "Flow 1").sort(), ["Conversation bridge", "Delete media", "Download media", "Send a message", "Upload media"]);
      assert.equal(state.channels.length, files.length);
      await second.waitForFunction(() => {
        let invalid = 0;
        (RED.nodes as unknown as { eachConfig(cb: (n: { type: string; valid: boolean }) => void): void }).eachConfig((n) => {
          if (n.type === "genesys-nexus-channel" && n.valid === false) invalid++;
        });
        return invalid === 5;
      }, undefined, { timeout: 10_000 });
      const invalidUsers = await second.evaluate(() => {
        const found: boolean[] = [];
        RED.nodes.eachNode((n) => {
          if ((n as { channel?: string }).channel) found.push((n as unknown as { valid: boolean }).valid);
        });
        return found;
      });
      assert.ok(invalidUsers.length > 0 && invalidUsers.every((v) => v === false), "the nodes that use a channel without a secret are marked too");
      await second.evaluate(() => RED.workspaces.show("example-upload"));
      await second.evaluate(() => document.querySelectorAll(".red-ui-notification").forEach((n) => n.remove()));
      await second.waitForTimeout(400);
      await second.locator("#red-ui-workspace").screenshot({ path: path.join(IMAGES, "imported-example.png") });
      // Setting the secret in the dialog makes the channel valid.
      await second.evaluate(() => RED.editor.editConfig("", "genesys-nexus-channel", "genesys-example-channel-upload"));
      await second.waitForSelector("#node-config-input-secret", { state: "visible" });
      await second.fill("#node-config-input-secret", DEMO_SECRET);
      await second.click("#node-config-dialog-ok");
      await second.waitForSelector("#node-config-input-secret", { state: "detached" });
      assert.equal(await second.evaluate(() => (RED.nodes.node("genesys-example-channel-upload") as { valid: boolean }).valid), true);
      assert.deepEqual(errors, []);
    } finally {
      await second.close();
      await fresh.stop();
    }
  });
});
