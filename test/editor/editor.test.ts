import assert from "assert/strict";
import fs from "fs";
import path from "path";
import { chromium, type Browser, type Page } from "playwright-core";
import { demoFlows, DEMO_CHANNEL_ID } from "../../scripts/demo-flows";
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
const TYPED_SECRET = "typed-in-browser-7c1e";

declare const RED: {
  nodes: { node(id: string): unknown; eachNode(cb: (n: { id: string; type: string }) => void): void; dirty(): boolean };
  editor: { edit(node: unknown): void; editConfig(name: string, type: string, id: string): void };
  sidebar: { help: { show(type: string): void } };
  workspaces: { show(id: string): void };
};
declare const $: (selector: string) => { hasClass(name: string): boolean; data(key: string): unknown };

/** The editor in Debian's Chromium, against a real Node-RED with the packed package installed. */
describe("the editor in a real browser", function () {
  this.timeout(180_000);
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
    // The demo as `npm start` lays it: one channel in simulator mode, no credential at all.
    nodeRed = await startNodeRed(demoFlows(), {});
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

  it("shows Inputs, Outputs and Details in every node's help", async () => {
    for (const type of [...FLOW_TYPES, "genesys-nexus-channel"]) {
      await page.evaluate((t) => RED.sidebar.help.show(t), type);
      await page.waitForTimeout(200);
      const text = (await page.locator(".red-ui-help").allInnerTexts()).join("\n");
      const headings = ["Details", ...(type === "genesys-nexus-channel" || type === "genesys-nexus-webhook" ? [] : ["Inputs"]), ...(type.includes("channel") || type.endsWith("response") ? [] : ["Outputs"])];
      for (const h of headings) assert.ok(text.includes(h), `${type} help shows ${h}`);
      // Nothing in the help is wider than the sidebar: no line to scroll sideways for.
      const wide = await page.evaluate(() => {
        const help = document.querySelector(".red-ui-help") as HTMLElement;
        const width = (document.querySelector("#red-ui-sidebar") as HTMLElement).getBoundingClientRect().right;
        const scrolling = [...document.querySelectorAll("#red-ui-sidebar .red-ui-panel, #red-ui-sidebar .red-ui-help, #red-ui-sidebar .red-ui-help *")].filter((e) => getComputedStyle(e).overflowX !== "visible" && e.scrollWidth > e.clientWidth + 1 && e.clientWidth > 0);
        // Name what sticks out of each panel that scrolls sideways.
        for (const panel of [...scrolling]) {
          const right = panel.getBoundingClientRect().left + panel.clientWidth;
          scrolling.push(...[...panel.querySelectorAll("*")].filter((e) => e.getBoundingClientRect().right > right + 1 && !e.querySelector("*")));
        }
        return [
          ...[...help.querySelectorAll("*")].filter((e) => e.getBoundingClientRect().right > width + 1).map((e) => `${e.tagName}: ${(e.textContent ?? "").slice(0, 60)}`),
          ...scrolling.map((e) => `too wide: ${e.tagName}.${e.className} ${(e.textContent ?? "").slice(0, 80)}`),
        ];
      });
      assert.deepEqual(wide, [], `${type} help fits the sidebar`);
    }
  });

  it("fits every palette label in two lines at most", async () => {
    const lines = await page.evaluate(() =>
      [...document.querySelectorAll("#red-ui-palette-container-Genesys .red-ui-palette-label")].map((l) => {
        const style = getComputedStyle(l);
        return { label: l.textContent, lines: Math.round((l as HTMLElement).getBoundingClientRect().height / parseFloat(style.lineHeight)) };
      }),
    );
    assert.equal(lines.length, FLOW_TYPES.length);
    for (const l of lines) assert.ok(l.lines <= 2, `${l.label} takes ${l.lines} lines`);
  });

  it("shows the demo flow", async () => {
    await page.setViewportSize({ width: 1900, height: 900 });
    await page.evaluate(() => RED.workspaces.show("example-bridge"));
    await page.waitForTimeout(500);
    await page.locator("#red-ui-workspace").screenshot({ path: path.join(IMAGES, "demo-flow.png") });
    await page.setViewportSize({ width: 1400, height: 860 });
    assert.deepEqual(pageErrors, []);
  });

  /** The validation message Node-RED shows on a dialog field, or null when the field is not marked. */
  const fieldError = (target: Page, selector: string): Promise<string | null> =>
    target.evaluate(async (sel) => {
      const input = $(sel);
      if (!input.hasClass("input-error")) return null;
      const tip = input.data("tooltip") as { open(instant: boolean): void; close(instant: boolean): void } | undefined;
      if (!tip) return "";
      tip.open(true);
      // Node-RED 5 fills a popover after a tick (its open is async); 4.1 at once.
      await new Promise((resolve) => setTimeout(resolve, 50));
      const text = [...document.querySelectorAll(".red-ui-popover")].pop()?.textContent ?? "";
      tip.close(true);
      return text;
    }, selector);
  /** Types into a dialog field as a user does, so that Node-RED checks the dialog again. */
  const type = async (target: Page, selector: string, value: string): Promise<void> => {
    await target.fill(selector, value);
    await target.locator(selector).dispatchEvent("change");
  };

  /** Opens a tab of the channel dialog; two tab clicks within 400 ms are a double click to Node-RED's tabs. */
  const showTab = async (target: Page, tab: "connection" | "security" | "advanced"): Promise<void> => {
    await target.waitForTimeout(450);
    await target.click(`#node-config-genesys-channel-tabs a[href='#genesys-channel-tab-${tab}']`);
    await target.locator(`#genesys-channel-tab-${tab}`).waitFor({ state: "visible" });
  };

  it("groups the channel dialog in tabs, hides what simulator mode needs not, and says what is wrong on the field that is wrong", async () => {
    await page.evaluate((id) => RED.editor.editConfig("", "genesys-nexus-channel", id), DEMO_CHANNEL_ID);
    await page.waitForSelector("#node-config-input-mode", { state: "visible" });
    const tabs = await page.locator("#node-config-genesys-channel-tabs li").allInnerTexts();
    assert.deepEqual(tabs.map((t) => t.trim()), ["Connection", "Security", "Advanced"]);
    // Simulator mode (the demo's): no base URL, ids or secret to fill in, and nothing marked.
    assert.equal(await page.inputValue("#node-config-input-mode"), "simulator");
    for (const field of ["baseUrl", "channelId", "ccid"]) assert.equal(await page.isVisible(`#node-config-input-${field}`), false, `${field} is hidden in simulator mode`);
    assert.equal(await page.locator(".genesys-channel-simulator-hint").first().isVisible(), true);
    assert.equal(await page.locator(".red-ui-tray:last-child .input-error").count(), 0, "nothing is marked in simulator mode");
    await page.locator(".red-ui-tray").last().screenshot({ path: path.join(IMAGES, "channel-dialog-simulator.png") });

    // Going live: pick Genesys, and each field says what it lacks, on itself.
    await page.selectOption("#node-config-input-mode", "genesys");
    for (const field of ["baseUrl", "channelId", "ccid"]) assert.equal(await page.isVisible(`#node-config-input-${field}`), true, `${field} shows in Genesys mode`);
    assert.equal(await page.locator(".genesys-channel-simulator-hint").first().isVisible(), false);
    assert.equal(await fieldError(page, "#node-config-input-baseUrl"), "Required for a Genesys channel.");
    assert.equal(await fieldError(page, "#node-config-input-name"), null, "the Name field is never where a missing secret shows");
    assert.equal(await fieldError(page, "#node-config-input-mode"), null);
    await type(page, "#node-config-input-baseUrl", "nexus.example.com/nexus/v3");
    assert.match((await fieldError(page, "#node-config-input-baseUrl")) ?? "", /must start with https:\/\//);
    await type(page, "#node-config-input-baseUrl", "https://nexus.example.com/nexus/v3");
    assert.equal(await fieldError(page, "#node-config-input-baseUrl"), null);
    await type(page, "#node-config-input-channelId", "sms-channel");
    await type(page, "#node-config-input-ccid", "8b6b7e2e-3c1f-4c4e-9a51-6a1f5f0c2d10");
    await page.locator(".red-ui-tray").last().screenshot({ path: path.join(IMAGES, "channel-dialog.png") });

    await showTab(page, "security");
    assert.equal(await page.getAttribute("#node-config-input-secret", "type"), "password");
    assert.equal(await page.getAttribute("#node-config-input-apiKey", "type"), "password");
    assert.equal(await page.getAttribute("#node-config-input-previousSecret", "type"), "password");
    assert.match((await fieldError(page, "#node-config-input-secret")) ?? "", /Set the channel secret/);
    await type(page, "#node-config-input-secret", TYPED_SECRET);
    assert.equal(await fieldError(page, "#node-config-input-secret"), null, "typing the secret clears its mark");
    assert.equal(await fieldError(page, "#node-config-input-name"), null);

    await showTab(page, "advanced");
    await type(page, "#node-config-input-retries", "-1");
    assert.equal(await fieldError(page, "#node-config-input-retries"), "A whole number, 0 or more.");
    await type(page, "#node-config-input-retries", "11");
    assert.match((await fieldError(page, "#node-config-input-retries")) ?? "", /^At most 10 retries/);
    await type(page, "#node-config-input-maxInFlight", "0");
    assert.equal(await fieldError(page, "#node-config-input-maxInFlight"), "A whole number, 1 or more.");
    await type(page, "#node-config-input-outboxLimit", "0");
    assert.equal(await fieldError(page, "#node-config-input-outboxLimit"), "A whole number, 1 or more.");
    // The outbox's age is stored in seconds, shown in the largest unit that divides it: a week is 7 days.
    assert.equal(await page.inputValue("#node-config-input-outboxMaxAge"), "7");
    assert.equal(await page.inputValue("#node-config-outboxMaxAge-unit"), "days");
    await type(page, "#node-config-input-outboxMaxAge", "1.5");
    assert.equal(await fieldError(page, "#node-config-input-outboxMaxAge"), "A whole number, 1 or more.");
    await type(page, "#node-config-input-retries", "2");
    await type(page, "#node-config-input-maxInFlight", "16");
    await type(page, "#node-config-input-outboxLimit", "5000");
    await type(page, "#node-config-input-outboxMaxAge", "36");
    await page.selectOption("#node-config-outboxMaxAge-unit", "hours");
    assert.equal(await page.locator(".red-ui-tray:last-child .input-error").count(), 0, "nothing is marked once all is right");

    await page.click("#node-config-dialog-ok");
    await page.waitForSelector("#node-config-input-secret", { state: "detached" });
    const saved = await page.evaluate((id) => RED.nodes.node(id), DEMO_CHANNEL_ID) as Record<string, unknown>;
    assert.equal(saved.mode, "genesys");
    assert.equal(Number(saved.outboxMaxAge), 36 * 3600, "stored in seconds");
    assert.equal(Number(saved.outboxLimit), 5000);
    assert.equal(saved.valid, true);
    await page.click("#red-ui-header-button-deploy");
    await page.waitForFunction(() => !RED.nodes.dirty(), undefined, { timeout: 20_000 });
    const creds = JSON.parse(fs.readFileSync(path.join(nodeRed.userDir, "flows_cred.json"), "utf8")) as Record<string, { secret?: string }>;
    assert.equal(creds[DEMO_CHANNEL_ID]?.secret, TYPED_SECRET, "the deploy stored the typed secret as a credential");
    const exported = await (await fetch(`${nodeRed.base}/flows`)).text();
    const flowsFile = fs.readFileSync(path.join(nodeRed.userDir, "flows.json"), "utf8");
    for (const text of [exported, flowsFile]) {
      assert.ok(text.includes("genesys-nexus-channel"));
      assert.ok(!text.includes(TYPED_SECRET), "the typed secret is not in the flows");
    }
    assert.deepEqual(pageErrors, []);
  });

  it("refuses a webhook reply timeout longer than Genesys waits, and a path no request can match, with words", async () => {
    const hook = await page.evaluate(() => {
      let id = "";
      RED.nodes.eachNode((n) => {
        if (n.type === "genesys-nexus-webhook") id = n.id;
      });
      return id;
    });
    await page.evaluate((id) => RED.editor.edit(RED.nodes.node(id)), hook);
    await page.waitForSelector("#node-input-replyTimeout", { state: "visible" });
    await type(page, "#node-input-replyTimeout", "15000");
    assert.match((await fieldError(page, "#node-input-replyTimeout")) ?? "", /Genesys waits 10 s/);
    await type(page, "#node-input-replyTimeout", "8000");
    assert.equal(await fieldError(page, "#node-input-replyTimeout"), null);
    // Paths no request can match (issue 19): the runtime refuses them too (lib/nodes/webhook-path.ts).
    for (const [url, words] of [["/x?y=1", /A query \(\?\.\.\.\) is not part of the path/], ["/x#y", /A fragment \(#\.\.\.\) is never sent/], ["/ü", /write \/%C3%BC\./], ["/a b", /write \/a%20b\./], ["/pre${WEBHOOK_PATH}", /only into a setting that is \$\{NAME\} and nothing else/]] as const) {
      await type(page, "#node-input-url", url);
      assert.match((await fieldError(page, "#node-input-url")) ?? "", words, url);
    }
    for (const url of ["/genesys/agent", "/%C3%BC", "${WEBHOOK_PATH}"]) {
      await type(page, "#node-input-url", url);
      assert.equal(await fieldError(page, "#node-input-url"), null, url);
    }
    await page.click("#node-dialog-cancel");
    await page.waitForSelector("#node-dialog-cancel", { state: "detached" });
  });

  it("imports every example one after another into an empty Node-RED, each on its named tab and valid as it is; a channel switched to Genesys asks for its secret", async () => {
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
      // Shipped in simulator mode: nothing is marked, nothing asks for a field.
      assert.ok(state.channels.every((c) => c.valid !== false), JSON.stringify(state.channels));
      assert.ok(state.users.length > 0 && state.users.every((u) => u.valid !== false), "no node that uses a channel is marked");
      await second.evaluate(() => RED.workspaces.show("example-upload"));
      // The import's notifications close by themselves; the screenshot is taken without them.
      const hidden = await second.addStyleTag({ content: "#red-ui-notifications { display: none !important; }" });
      await second.waitForTimeout(400);
      await second.locator("#red-ui-workspace").screenshot({ path: path.join(IMAGES, "imported-example.png") });
      await hidden.evaluate((style) => (style as unknown as HTMLElement).remove());

      // Going live without the secret: the channel, and every node that uses it, say what is missing.
      const channelValid = (): Promise<{ valid: boolean; errors: unknown }> =>
        second.evaluate(() => {
          const n = RED.nodes.node("genesys-example-channel-upload") as { valid: boolean; validationErrors: unknown };
          return { valid: n.valid, errors: n.validationErrors };
        });
      await second.evaluate(() => RED.editor.editConfig("", "genesys-nexus-channel", "genesys-example-channel-upload"));
      await second.waitForSelector("#node-config-input-mode", { state: "visible" });
      await second.selectOption("#node-config-input-mode", "genesys");
      await type(second, "#node-config-input-baseUrl", "https://nexus.example.com/nexus/v3");
      await type(second, "#node-config-input-channelId", "c1");
      await type(second, "#node-config-input-ccid", "cc1");
      await second.click("#node-config-dialog-ok");
      await second.waitForSelector("#node-config-input-mode", { state: "detached" });
      const without = await channelValid();
      assert.equal(without.valid, false);
      assert.match(JSON.stringify(without.errors), /no secret/, "the channel says it has no secret");
      const users = await second.evaluate(() => {
        const found: boolean[] = [];
        RED.nodes.eachNode((n) => {
          if ((n as { channel?: string }).channel === "genesys-example-channel-upload") found.push((n as unknown as { valid: boolean }).valid);
        });
        return found;
      });
      assert.ok(users.length > 0 && users.every((v) => v === false), "the nodes that use a channel without a secret are marked too");
      // Setting the secret in the dialog makes the channel valid.
      await second.evaluate(() => RED.editor.editConfig("", "genesys-nexus-channel", "genesys-example-channel-upload"));
      await second.waitForSelector("#node-config-input-mode", { state: "visible" });
      await showTab(second, "security");
      assert.match((await fieldError(second, "#node-config-input-secret")) ?? "", /Set the channel secret/);
      assert.equal(await fieldError(second, "#node-config-input-name"), null);
      await type(second, "#node-config-input-secret", TYPED_SECRET);
      assert.equal(await fieldError(second, "#node-config-input-secret"), null);
      await second.click("#node-config-dialog-ok");
      await second.waitForSelector("#node-config-input-mode", { state: "detached" });
      assert.equal((await channelValid()).valid, true);
      assert.deepEqual(errors, []);
    } finally {
      await second.close();
      await fresh.stop();
    }
  });
});
