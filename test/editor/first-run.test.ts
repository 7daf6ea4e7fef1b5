import assert from "assert/strict";
import fs from "fs";
import path from "path";
import { chromium, type Browser, type Page } from "playwright-core";
import { startNodeRed, type RunningNodeRed } from "../package/node-red-process";

const CHROMIUM = process.env.CHROMIUM_PATH || "/usr/bin/chromium";
const PACKAGE = "@flowbridge/node-red-genesys-messaging";
const EXAMPLES = path.resolve(__dirname, "..", "..", "examples");

declare const RED: {
  nodes: {
    dirty(): boolean;
    eachNode(cb: (n: { id: string; type: string; z: string; name?: string; valid?: boolean }) => void): void;
    eachConfig(cb: (n: { id: string; type: string; valid?: boolean }) => void): void;
  };
  workspaces: { active(): string; show(id: string): void };
  actions: { invoke(name: string): void };
  sidebar: { show(id: string): void };
};

/** What each example's debug sidebar shows when it works: the names of its debug nodes that must speak. */
const SUCCESS: Record<string, string[]> = {
  "send-message": ["Genesys answer"],
  "upload-media": ["upload answer", "RichMedia sent"],
  "download-media": ["downloaded file"],
  "delete-media": ["delete answer"],
  // End to end: sent to the simulator, answered by its agent at the webhook, delivered, answered.
  "agent-bridge": ["1. consumer wrote", "2. Genesys accepted", "3. agent answered", "4. delivered to consumer"],
};

/**
 * The first run, as a new user makes it: a blank Node-RED 4.1 with the packed package installed, each example
 * imported from the editor's Import > Examples menu, Deploy, a click on the inject node, and the debug
 * sidebar shows the result. No field is typed and nothing else is started.
 */
describe("the first run in a real browser: import an example, Deploy, click, it works", function () {
  this.timeout(240_000);
  let nodeRed: RunningNodeRed;
  let browser: Browser;
  let page: Page;
  const pageErrors: string[] = [];

  before(async function () {
    if (!fs.existsSync(CHROMIUM)) {
      if (process.env.REQUIRE_BROWSER) throw new Error(`Chromium not found at ${CHROMIUM}; install it with apt-get install -y chromium`);
      console.warn(`  (the first-run browser test is skipped: Chromium not found at ${CHROMIUM})`);
      this.skip();
    }
    nodeRed = await startNodeRed([], {});
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    });
    page = await browser.newPage({ viewport: { width: 1500, height: 900 } });
    page.on("pageerror", (err) => pageErrors.push(err.message));
    await page.goto(nodeRed.base);
    await page.waitForSelector(".red-ui-palette-node[data-palette-type='genesys-nexus-send']", { timeout: 60_000 });
    await page.waitForLoadState("networkidle");
    await page.evaluate(() => RED.sidebar.show("debug"));
  });

  after(async () => {
    await browser?.close();
    await nodeRed?.stop();
  });

  /** The debug sidebar's messages: the debug node's name and what it shows. */
  const debugMessages = (): Promise<Array<{ name: string; text: string }>> =>
    page.evaluate(() =>
      [...document.querySelectorAll("#red-ui-sidebar .red-ui-debug-msg")].map((m) => ({
        name: (m.querySelector(".red-ui-debug-msg-name")?.textContent ?? "").trim(),
        text: (m.querySelector(".red-ui-debug-msg-body")?.textContent ?? "").trim(),
      })),
    );

  const files = fs.readdirSync(EXAMPLES).filter((f) => f.endsWith(".json")).sort();

  it("offers every example under Import > Examples", async () => {
    assert.deepEqual(files.map((f) => f.replace(/\.json$/, "")).sort(), Object.keys(SUCCESS).sort());
  });

  for (const file of files) {
    const example = file.replace(/\.json$/, "");
    it(`${example}: imported, deployed and clicked, it shows its result in the debug sidebar`, async () => {
      const before = (await debugMessages()).length;
      const tabsBefore = await page.evaluate(() => document.querySelectorAll("#red-ui-workspace-tabs li.red-ui-tab").length);

      // Import > Examples > the package > the example, as the menu does.
      await page.evaluate(() => RED.actions.invoke("core:show-examples-import-dialog"));
      const dialog = page.locator("#red-ui-clipboard-dialog-import-tab-examples");
      await dialog.waitFor({ state: "visible" });
      const pkg = dialog.locator(".red-ui-treeList-label", { hasText: PACKAGE }).first();
      await pkg.waitFor({ state: "visible" });
      const entry = dialog.locator(".red-ui-treeList-label", { hasText: new RegExp(`^\\s*${example}\\s*$`) }).first();
      if (!(await entry.isVisible())) await pkg.click();
      await entry.click();
      await page.click("#red-ui-clipboard-dialog-ok");
      await page.waitForFunction((n) => document.querySelectorAll("#red-ui-workspace-tabs li.red-ui-tab").length > n, tabsBefore);
      // Importing may leave the imported nodes attached to the mouse, to be placed: a click puts them down.
      await page.mouse.click(700, 500);

      // Nothing is marked invalid: there is nothing to fill in.
      const invalid = await page.evaluate(() => {
        const bad: string[] = [];
        RED.nodes.eachNode((n) => {
          if (n.valid === false) bad.push(`${n.type} ${n.name ?? n.id}`);
        });
        RED.nodes.eachConfig((n) => {
          if (n.valid === false) bad.push(`${n.type} ${n.id}`);
        });
        return bad;
      });
      assert.deepEqual(invalid, [], "no node asks for a field");

      await page.click("#red-ui-header-button-deploy");
      await page.waitForFunction(() => !RED.nodes.dirty(), undefined, { timeout: 20_000 });

      // The example's tab, by the label it ships with, then its inject node (the one that shows it working).
      const label = (JSON.parse(fs.readFileSync(path.join(EXAMPLES, file), "utf8")) as Array<{ type: string; label?: string }>).find((n) => n.type === "tab")?.label;
      await page.evaluate((name) => {
        (RED.nodes as unknown as { eachWorkspace(cb: (w: { id: string; label: string }) => void): void }).eachWorkspace((w) => {
          if (w.label === name) RED.workspaces.show(w.id);
        });
      }, label);
      const inject = await page.evaluate(() => {
        const tab = RED.workspaces.active();
        const found: Array<{ id: string; name: string }> = [];
        RED.nodes.eachNode((n) => {
          if (n.z === tab && n.type === "inject" && !/unknown/.test(n.name ?? "")) found.push({ id: n.id, name: n.name ?? "" });
        });
        return found[0];
      });
      assert.ok(inject, `${example} has an inject node on its tab`);
      const button = page.locator(`#red-ui-workspace-chart [id="${inject.id}"] .red-ui-flow-node-button`);
      await button.waitFor({ state: "visible" });
      await button.click();

      const wanted = SUCCESS[example];
      await page.waitForFunction(
        ({ from, names }) => {
          const seen = [...document.querySelectorAll("#red-ui-sidebar .red-ui-debug-msg")].slice(from).map((m) => m.querySelector(".red-ui-debug-msg-name")?.textContent ?? "");
          return names.every((name) => seen.some((s) => s.includes(name))) || seen.some((s) => s.includes("failure"));
        },
        { from: before, names: wanted },
        { timeout: 20_000 },
      );
      const shown = (await debugMessages()).slice(before);
      assert.deepEqual(shown.filter((m) => m.name.includes("failure")), [], `${example} reports no failure`);
      for (const name of wanted) assert.ok(shown.some((m) => m.name.includes(name)), `${example}'s debug sidebar shows "${name}"`);
      const status = await page.evaluate((id) => document.querySelector(`#red-ui-workspace-chart [id="${id}"]`) !== null, inject.id);
      assert.ok(status);
      // Every Genesys node on the tab that uses the channel says "simulator" in its status: nothing passes for
      // production. (The webhook reply node has no channel: it answers the webhook that emitted the message.)
      const statuses = await page.evaluate(() => {
        const tab = RED.workspaces.active();
        const texts: string[] = [];
        RED.nodes.eachNode((n) => {
          if (n.z === tab && n.type.startsWith("genesys-nexus-") && n.type !== "genesys-nexus-webhook-response") {
            texts.push(document.querySelector(`#red-ui-workspace-chart [id="${n.id}"] .red-ui-flow-node-status-label`)?.textContent ?? "");
          }
        });
        return texts;
      });
      assert.ok(statuses.length > 0 && statuses.every((s) => /simulator/.test(s)), `statuses: ${JSON.stringify(statuses)}`);
      assert.deepEqual(pageErrors, []);
    });
  }

  it("logs no error while the examples run", () => {
    assert.doesNotMatch(nodeRed.log(), /\[error\]/);
  });
});
