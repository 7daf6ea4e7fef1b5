import assert from "assert/strict";
import http from "http";
import { signBody } from "../../lib/client";
import { API_KEY, SECRET, delay } from "../support";
import { startNodeRed, type RunningNodeRed } from "./node-red-process";

const channel = { id: "chan", type: "genesys-nexus-channel", name: "c", baseUrl: "http://127.0.0.1:1/nexus/v3", channelId: "sms-test-channel", ccid: "5d8f4a1e-0b7c-4e39-9c1d-2f6a8b3e7c40", timeout: 5000, retries: 0 };
const credentials = { chan: { secret: SECRET, apiKey: API_KEY } };
const common = [{ id: "t1", type: "tab", label: "patterns" }, channel, { id: "reply", type: "genesys-nexus-webhook-response", z: "t1", x: 300, y: 20, wires: [] }];
/** What the editor deploys: the channel with its credentials, as the editor sends them. */
const deployed = [common[0], { ...channel, credentials: { secret: SECRET, apiKey: API_KEY } }, common[2]];
const webhook = (id: string, url: string): Record<string, unknown> => ({ id, name: id, type: "genesys-nexus-webhook", z: "t1", channel: "chan", url, replyTimeout: 2000, x: 100, y: 100, wires: [["reply"]] });
const core = (id: string, url: string): Record<string, unknown> => ({ id, name: id, type: "http in", z: "t1", url, method: "post", upload: false, swaggerDoc: "", x: 100, y: 200, wires: [["echo"]] });
const echo = { id: "echo", type: "http response", z: "t1", statusCode: "", headers: {}, x: 300, y: 60, wires: [] };

/** The password "correct-horse", hashed with bcrypt as Node-RED's adminAuth takes it. */
const HASH = "$2b$08$j.ak97Z/YhrqxIvGY97ux.kiioUiO1Zwd/IznL62iAu/TntliZON6";
const adminAuth = { type: "credentials", users: [{ username: "admin", password: HASH, permissions: "*" }] };

/** A signed delivery to `path`. */
function deliver(base: string, path: string): Promise<{ status: number; body: string }> {
  const payload = JSON.stringify({ messageId: `m-${Math.random()}`, type: "Text", text: "hi" });
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    const req = http.request({ hostname, port, path, method: "POST", headers: { "Content-Type": "application/json", "X-Hub-Signature": signBody(payload, SECRET) } }, (res) => {
      let body = "";
      res.on("data", (c: Buffer) => (body += c.toString()));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("error", reject);
    req.end(payload);
  });
}

/** The status of deliveries to `path` once the deploy before has started its flows (it answers first). */
async function settled(base: string, path: string, expected: number): Promise<number> {
  let status = 0;
  for (let i = 0; i < 100 && status !== expected; i++) {
    if (i > 0) await delay(100);
    status = (await deliver(base, path)).status;
  }
  return status;
}

/** The editor's deploy: POST {adminRoot}flows, as its Deploy button sends it. Returns the status and body. */
async function deploy(base: string, flows: object[], adminRoot = "/", token?: string): Promise<{ status: number; body: string }> {
  const res = await fetch(`${base}${adminRoot}flows`, {
    method: "POST",
    headers: { "Content-Type": "application/json", "Node-RED-API-Version": "v1", "Node-RED-Deployment-Type": "full", ...(token ? { Authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(flows),
  });
  return { status: res.status, body: await res.text() };
}

/** The editor's login: POST {adminRoot}auth/token with the form it sends. */
async function login(base: string, adminRoot = "/"): Promise<{ status: number; token?: string }> {
  const res = await fetch(`${base}${adminRoot}auth/token`, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ client_id: "node-red-editor", grant_type: "password", scope: "*", username: "admin", password: "correct-horse" }).toString(),
  });
  const body = (await res.json().catch(() => ({}))) as { access_token?: string };
  return { status: res.status, token: body.access_token };
}

/**
 * A webhook whose path is a route pattern (`/:a`, `*`...) next to the editor: the raw-body capture claims
 * only what Express routes to the webhook, never a request the admin app answers first (POST /flows,
 * /auth/token), so the editor keeps deploying and logging in, across a restart too (issue #18).
 */
describe("a webhook on a route pattern leaves the editor working", function () {
  this.timeout(180_000);

  describe("with the admin API and the node routes on /", () => {
    let nodeRed: RunningNodeRed;
    before(async () => {
      nodeRed = await startNodeRed([...common, webhook("hook", "/:a")], credentials);
    });
    after(() => nodeRed?.stop());

    // Express 4 reads "/(.*)" as "/." followed by anything: core's http in there gets /.foo, never /foo.
    for (const [url, path] of [["/:a", "/foo"], ["*", "/foo/bar"], ["/*", "/foo/bar"], ["/(.*)", "/.foo"], ["/:a/:b", "/foo/bar"]]) {
      it(`deploys twice and removes a webhook on ${url}, which receives ${path}`, async () => {
        const flows = [...deployed, webhook("hook", url)];
        for (let i = 0; i < 2; i++) {
          const res = await deploy(nodeRed.base, flows);
          assert.equal(res.status, 204, `deploy ${i + 1}: ${res.status} ${res.body}`);
          assert.equal(await settled(nodeRed.base, path, 200), 200, "the webhook receives what Express routes to it");
        }
        // The admin API still reads what it is sent: the flows it answers are the ones deployed.
        const read = (await (await fetch(`${nodeRed.base}/flows`, { headers: { "Node-RED-API-Version": "v1" } })).json()) as Array<{ id: string; url?: string }>;
        assert.equal(read.find((n) => n.id === "hook")?.url, url);
        const removed = await deploy(nodeRed.base, []);
        assert.equal(removed.status, 204, `${removed.status} ${removed.body}`);
        assert.equal(await settled(nodeRed.base, path, 404), 404);
      });
    }

    it("leaves the admin routes of nodes and of the editor theirs: the inject button and user settings work next to a webhook on /:a/:b", async () => {
      const inject = { id: "inj", type: "inject", z: "t1", props: [{ p: "payload" }], payload: "", payloadType: "date", repeat: "", once: false, x: 100, y: 300, wires: [] };
      assert.equal((await deploy(nodeRed.base, [...deployed, inject, webhook("hook", "/:a/:b")])).status, 204);
      assert.equal(await settled(nodeRed.base, "/foo/bar", 200), 200);
      // The editor's inject button: POST /inject/:id with a JSON body that the inject node's route reads.
      const res = await fetch(`${nodeRed.base}/inject/inj`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ __user_inject_props__: [{ p: "payload", v: "hi", vt: "str" }] }) });
      assert.equal(res.status, 200, await res.text());
      // The editor saves its user settings with POST /settings/user, a route Express hides in the editor's app.
      const saved = await fetch(`${nodeRed.base}/settings/user`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ view: { "view-grid-size": 20 } }) });
      assert.equal(saved.status, 204, await saved.text());
      const settings = (await (await fetch(`${nodeRed.base}/settings/user`)).json()) as { view?: Record<string, unknown> };
      assert.equal(settings.view?.["view-grid-size"], 20);
      assert.equal((await deploy(nodeRed.base, [])).status, 204);
    });

    it("refuses the editor's paths for what they are: a core http in on /icons gets POSTs, the webhook there is refused", async () => {
      const before = nodeRed.log().length;
      assert.equal((await deploy(nodeRed.base, [...deployed, echo, core("core-icons", "/icons"), webhook("hook-icons", "/icons")])).status, 204);
      // The editor serves /icons for GET only: a POST there reaches the node routes.
      let res = new Response(null, { status: 404 });
      for (let i = 0; i < 100 && res.status === 404; i++) {
        if (i > 0) await delay(100);
        res = await fetch(`${nodeRed.base}/icons`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ to: "core" }) });
      }
      assert.equal(res.status, 200);
      assert.deepEqual(await res.json(), { to: "core" });
      const log = nodeRed.log().slice(before);
      assert.match(log, /\[error\] \[genesys-nexus-webhook:hook-icons\] The path \/icons is served by Node-RED's editor/);
      assert.doesNotMatch(log, /never reach/);
      assert.equal((await deploy(nodeRed.base, [])).status, 204);
    });

    it("deploys twice next to a core http in on * as well, and again after a restart", async () => {
      const flows = [...deployed, echo, core("core-star", "*"), webhook("hook", "/:a")];
      for (let i = 0; i < 2; i++) assert.equal((await deploy(nodeRed.base, flows)).status, 204);
      await nodeRed.restart();
      for (let i = 0; i < 2; i++) assert.equal((await deploy(nodeRed.base, [...deployed, webhook("hook", "/:a")])).status, 204);
      assert.equal(await settled(nodeRed.base, "/foo", 200), 200);
      assert.equal((await deploy(nodeRed.base, [])).status, 204);
      assert.doesNotMatch(nodeRed.log(), /reading 'forEach'/);
    });
  });

  describe("with adminAuth", () => {
    let nodeRed: RunningNodeRed;
    before(async () => {
      nodeRed = await startNodeRed([...common, webhook("hook", "/:x/token")], credentials, { adminAuth });
    });
    after(() => nodeRed?.stop());

    it("logs in, deploys twice and removes a webhook on /:x/token, across a restart", async () => {
      for (let round = 0; round < 2; round++) {
        const session = await login(nodeRed.base);
        assert.equal(session.status, 200, `login ${round + 1}`);
        assert.ok(session.token);
        for (let i = 0; i < 2; i++) assert.equal((await deploy(nodeRed.base, [...deployed, webhook("hook", "/:x/token")], "/", session.token)).status, 204);
        assert.equal(await settled(nodeRed.base, "/foo/token", 200), 200);
        if (round === 0) await nodeRed.restart();
      }
      const session = await login(nodeRed.base);
      assert.equal((await deploy(nodeRed.base, [], "/", session.token)).status, 204);
    });
  });

  describe("with httpAdminRoot /admin and the node routes on /", () => {
    let nodeRed: RunningNodeRed;
    before(async () => {
      nodeRed = await startNodeRed([...common, webhook("hook", "/:a/:b"), webhook("under-admin", "/admin/*")], credentials, { httpAdminRoot: "/admin" });
    });
    after(() => nodeRed?.stop());

    it("refuses a webhook on /admin/* at deploy, like the editor's other paths", async () => {
      assert.match(nodeRed.log(), /\[error\] \[genesys-nexus-webhook:under-admin\] The path \/admin\/\* /);
    });

    it("deploys twice and removes a webhook on /:a/:b, which receives /foo/bar, across a restart", async () => {
      const flows = [...deployed, webhook("hook", "/:a/:b"), webhook("under-admin", "/admin/*")];
      for (let round = 0; round < 2; round++) {
        for (let i = 0; i < 2; i++) {
          const res = await deploy(nodeRed.base, flows, "/admin/");
          assert.equal(res.status, 204, `${res.status} ${res.body}`);
        }
        assert.equal(await settled(nodeRed.base, "/foo/bar", 200), 200);
        if (round === 0) await nodeRed.restart();
      }
      assert.equal((await deploy(nodeRed.base, [], "/admin/")).status, 204);
      assert.equal(await settled(nodeRed.base, "/foo/bar", 404), 404);
    });
  });
});
