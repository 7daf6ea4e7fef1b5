import assert from "assert/strict";
import { execFileSync, spawn } from "child_process";
import fs from "fs";
import https from "https";
import os from "os";
import path from "path";
import { delay, freePort } from "../support";
import { startNodeRed, type RunningNodeRed } from "./node-red-process";

/** A self-signed certificate for 127.0.0.1, as a user's HTTPS Node-RED might have, made with openssl. */
function selfSigned(dir: string): { key: string; cert: string } {
  fs.writeFileSync(path.join(dir, "ext"), "subjectAltName=IP:127.0.0.1\n");
  execFileSync("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "key.pem", "-out", "cert.pem", "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"], {
    cwd: dir,
    stdio: "ignore",
  });
  return { key: fs.readFileSync(path.join(dir, "key.pem"), "utf8"), cert: fs.readFileSync(path.join(dir, "cert.pem"), "utf8") };
}

/** One request to the Node-RED under test, whose certificate no one signed. */
function call(url: string, method = "GET"): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = https.request(url, { method, rejectUnauthorized: false }, (res) => {
      let body = "";
      res.on("data", (c: Buffer) => (body += c.toString()));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

/**
 * Simulator mode in a real Node-RED process with the packed package, on the settings that make finding the
 * webhook hard: HTTPS with a self-signed certificate, uiHost 0.0.0.0, and HTTP nodes below httpNodeRoot.
 * The simulated agent still reaches the webhook, and nothing was typed.
 */
describe("a simulated channel in a real Node-RED on HTTPS, uiHost 0.0.0.0 and an httpNodeRoot", function () {
  this.timeout(120_000);
  let nodeRed: RunningNodeRed;
  let base: string;
  let dir: string;

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "nexus-https-"));
    nodeRed = await startNodeRed(
      [
        { id: "t1", type: "tab", label: "t" },
        { id: "chan", type: "genesys-nexus-channel", name: "try", mode: "simulator", baseUrl: "", channelId: "", ccid: "", timeout: 5000, retries: 0 },
        { id: "inj", type: "inject", z: "t1", props: [{ p: "payload" }], payload: '{"messageId":"first-run","type":"Text","text":"hi","from":{"id":"c1","nickname":"Jane"}}', payloadType: "json", x: 100, y: 100, wires: [["send"]] },
        { id: "send", type: "genesys-nexus-send", z: "t1", channel: "chan", x: 300, y: 100, wires: [[]] },
        { id: "hook", type: "genesys-nexus-webhook", z: "t1", channel: "chan", url: "/genesys/agent", x: 100, y: 200, wires: [["keep"]] },
        { id: "keep", type: "change", z: "t1", rules: [{ t: "set", p: "agent", pt: "global", to: "payload.text", tot: "msg" }], x: 300, y: 200, wires: [["reply"]] },
        { id: "reply", type: "genesys-nexus-webhook-response", z: "t1", x: 500, y: 200, wires: [] },
      ],
      {},
      { uiHost: "0.0.0.0", httpNodeRoot: "/hooks", https: selfSigned(dir) },
    );
    base = nodeRed.base.replace("http://", "https://");
  });

  after(async () => {
    await nodeRed?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("sends to its own simulator, whose agent answers at the webhook's URL on this Node-RED", async () => {
    assert.equal((await call(`${base}/inject/inj`, "POST")).status, 200);
    let seen = "";
    const end = Date.now() + 15_000;
    while (!/simulated agent/.test(seen)) {
      assert.ok(Date.now() < end, "the agent's answer reaches the flow");
      await delay(200);
      seen = (await call(`${base}/context/global/agent`)).body;
    }
    assert.match(seen, /I got: \\"hi\\"/);
    assert.match(nodeRed.log(), /Built-in simulator listening on http:\/\/127\.0\.0\.1:\d+\/nexus\/v3/);
    assert.doesNotMatch(nodeRed.log(), /\[error\]/);
  });
});

/** `npm start` (the README's quick start): the demo on one simulated channel, with nothing else started. */
describe("npm start's demo", function () {
  this.timeout(120_000);

  it("starts Node-RED alone, whose demo channel runs the simulator, and sends from the first click", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "nexus-demo-"));
    const port = await freePort();
    const root = path.resolve(__dirname, "..", "..");
    const child = spawn(process.execPath, [path.join(root, "dist", "scripts", "start-demo.js")], {
      cwd: root,
      env: { ...process.env, NODE_RED_PORT: String(port), DEMO_USER_DIR: dir },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let log = "";
    child.stdout?.on("data", (d: Buffer) => (log += d.toString()));
    child.stderr?.on("data", (d: Buffer) => (log += d.toString()));
    try {
      const end = Date.now() + 60_000;
      while (!/Node-RED editor: /.test(log)) {
        assert.ok(Date.now() < end && child.exitCode === null, `the demo starts:\n${log}`);
        await delay(100);
      }
      assert.match(log, /Built-in simulator listening on http:\/\/127\.0\.0\.1:\d+\/nexus\/v3/);
      assert.equal((await fetch(`http://127.0.0.1:${port}/inject/send-inject`, { method: "POST" })).status, 200);
      await delay(500);
      assert.doesNotMatch(log, /\[error\]|could not start/);
      const flows = JSON.parse(fs.readFileSync(path.join(dir, "flows.json"), "utf8")) as Array<{ type: string; mode?: string }>;
      assert.deepEqual(flows.filter((n) => n.type === "genesys-nexus-channel").map((n) => n.mode), ["simulator"]);
      assert.equal(fs.existsSync(path.join(dir, "flows_cred.json")), false, "no credential to lay");
    } finally {
      child.kill("SIGINT");
      await new Promise((resolve) => (child.exitCode !== null ? resolve(undefined) : child.once("exit", resolve)));
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
