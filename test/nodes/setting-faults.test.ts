import assert from "assert/strict";
import fs from "fs";
import os from "os";
import path from "path";
import type { NexusSimulator } from "../../lib/simulator";
import { MAX_RETRIES, NexusClient, NexusInputError } from "../../lib/client";
import { webhookPathProblem } from "../../lib/nodes/webhook-path";
import webhookNode = require("../../nodes/genesys-nexus-webhook");
import { API_KEY, CCID, CHANNEL, SECRET, channelCredentials, coreNode, helper, simulator } from "../support";
import { FLOW_NODES, expectError, flowFor, load, loadWatching, type Msg } from "./flow";

const proxyNode = coreNode("network/06-httpproxy.js");

/** The error lines Node-RED logged (level 20) since the helper was loaded. */
function errorLines(): string[] {
  return (helper.log().args as Array<[{ level: number; msg: unknown }]>).filter(([e]) => e.level === 20).map(([e]) => String(e.msg));
}

/** Issue 19, part 1, what an independent tester found left of each kind: settings that fail silently. */
describe("settings that cannot work are refused with words (issue 19)", () => {
  let sim: NexusSimulator;
  before(async () => (sim = await simulator()));
  after(() => sim.close());
  beforeEach(() => sim.reset());
  afterEach(() => helper.unload());

  describe("a proxy URL that cannot be used", () => {
    const saved: Record<string, string | undefined> = {};
    const names = ["http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "no_proxy", "NO_PROXY"];
    beforeEach(() => {
      for (const n of names) {
        saved[n] = process.env[n];
        delete process.env[n];
      }
    });
    afterEach(() => {
      for (const n of names) {
        if (saved[n] === undefined) delete process.env[n];
        else process.env[n] = saved[n];
      }
    });

    for (const url of ["http://u:50%off!@127.0.0.1:1", "not a url %", "ftp://127.0.0.1:21"]) {
      it(`the channel's http proxy node ${JSON.stringify(url)}: red status at deploy, the words in Catch, no password, no request`, async () => {
        const flow = [...flowFor(sim, { type: "genesys-nexus-send" }, { proxy: "px" }), { id: "px", type: "http proxy", url, noproxy: [] }];
        const statuses = await loadWatching([...FLOW_NODES, proxyNode], flow);
        assert.deepEqual(statuses.at(-1), { fill: "red", shape: "ring", text: "channel: proxy URL not valid" });
        const loaded = { n1: helper.getNode("n1"), out: helper.getNode("out"), caught: helper.getNode("caught"), statuses };
        const msg: Msg = await expectError(loaded, { payload: { text: "hi" } });
        assert.match(msg.error.message, /^The channel's proxy \(its http proxy node\) has the URL /);
        assert.match(msg.error.message, /percent-encoded \(% as %25\)/);
        assert.ok(!msg.error.message.includes("50%off"), msg.error.message);
        assert.equal(msg.reachedGenesys, "no");
        const lines = errorLines().filter((l) => /proxy/.test(l));
        assert.equal(lines.length, 1, lines.join("\n"));
        assert.ok(!lines[0].includes("50%off"));
        assert.equal(sim.requestCount, 0);
      });
    }

    it("the environment's HTTP_PROXY with a raw % in its password: refused, naming the variable, never the password", async () => {
      process.env.HTTP_PROXY = "http://u:50%off!@127.0.0.1:1";
      const loaded = await load(flowFor(sim, { type: "genesys-nexus-send" }));
      assert.deepEqual(loaded.statuses.at(-1), { fill: "red", shape: "ring", text: "channel: HTTP_PROXY not valid" });
      const msg = await expectError(loaded, { payload: { text: "hi" } });
      assert.match(msg.error.message, /^The environment variable HTTP_PROXY holds the proxy URL "http:\/\/\*\*\*@127\.0\.0\.1:1"/);
      assert.ok(!msg.error.message.includes("50%off"));
      assert.equal(sim.requestCount, 0);
    });

    it("the client: a usable proxy URL, a bypassed host, and `false` are not refused; every bad one names its setting", () => {
      const make = (proxy: ConstructorParameters<typeof NexusClient>[0]["proxy"]): NexusClient =>
        new NexusClient({ baseUrl: "http://127.0.0.1:1/nexus/v3", channelId: CHANNEL, ccid: CCID, secret: SECRET, proxy });
      const refusal = (code: string) => (err: unknown) => err instanceof NexusInputError && err.parts[0][0] === code;
      void make({ url: "http://u:50%25off!@127.0.0.1:3128" }).close();
      void make({ url: "http://u:50%off!@127.0.0.1:3128", noProxy: ["127.0.0.1"] }).close();
      void make(false).close();
      assert.throws(() => make({ url: "http://%zz@127.0.0.1:3128" }), refusal("config-proxy-url"));
      process.env.http_proxy = "not a url %";
      assert.throws(() => make(undefined), (err: unknown) => refusal("config-proxy-env")(err) && /http_proxy/.test((err as Error).message));
      process.env.NO_PROXY = "127.0.0.1";
      void make(undefined).close();
    });
  });

  describe("a webhook path no request can match", () => {
    const cases: Array<[string, string, RegExp]> = [
      ["${UNSET_WEBHOOK_PATH_X}", "UNSET_WEBHOOK_PATH_X not set", /environment variable UNSET_WEBHOOK_PATH_X, which is not set/],
      ["/pre${HOME}", "${HOME} inside the path", /"\/pre\$\{HOME\}" holds \$\{HOME\} inside a longer path, where Node-RED never puts/],
      ["/x?y=1", "query in URL path", /"\/x\?y=1" holds a query/],
      ["/x#y", "fragment in URL path", /"\/x#y" holds a fragment/],
      ["/ü", "URL path not encoded", /"\/ü" holds a space.*write the path as \/%C3%BC\./],
      ["/a b", "URL path not encoded", /"\/a b" holds a space.*write the path as \/a%20b\./],
    ];
    for (const [url, status, error] of cases) {
      it(`${JSON.stringify(url)}: red status and an error line at deploy, no route`, async () => {
        const flow = flowFor(sim, { type: "genesys-nexus-webhook", url, wires: [[]] });
        const statuses = await loadWatching([...FLOW_NODES, webhookNode], flow);
        assert.deepEqual(statuses.at(-1), { fill: "red", shape: "ring", text: status });
        const lines = errorLines();
        assert.ok(lines.some((l) => error.test(l)), lines.join("\n"));
      });
    }

    it("keeps the paths Express can match: encoded ones, route parameters (optional ones too)", () => {
      for (const ok of ["/genesys/agent", "/%C3%BC", "/a%20b", "/hooks/:tenant", "/hooks/:tenant?", "/a/:b?/c", "/x-y_z.~!$&'()*+,;=:@"]) {
        assert.equal(webhookPathProblem(ok), undefined, ok);
      }
      assert.equal(webhookPathProblem("/a\tb")?.error, "path-encode");
      assert.equal(webhookPathProblem("/a?")?.error, "path-query");
    });
  });

  describe("a typed-input setting that cannot be read", () => {
    const bad: Array<[string, string, RegExp]> = [
      ["jsonata", "(( $$", /^The node's __S__ setting, the JSONata expression "\(\( \$\$", failed: .+\(S\d+/],
      ["jsonata", '$error("boom")', /^The node's __S__ setting, the JSONata expression "\$error\(\\"boom\\"\)", failed: boom/],
      ["jsonata", "", /^The node's __S__ setting, the JSONata expression "", failed: .+/],
      ["json", "{bad", /^The node's __S__ setting is not valid JSON: .*(Expected property name|Unexpected token)/],
    ];
    const nodes: Array<[string, string, (type: string, value: string) => Record<string, unknown>, Msg]> = [
      ["Message", "genesys-nexus-send", (type, value) => ({ type: "genesys-nexus-send", messageType: type, message: value }), { payload: {} }],
      ["Media id", "genesys-nexus-download", (type, value) => ({ type: "genesys-nexus-download", mediaIdType: type, mediaId: value }), {}],
      ["Media id", "genesys-nexus-delete", (type, value) => ({ type: "genesys-nexus-delete", mediaIdType: type, mediaId: value }), {}],
      ["Save to file", "genesys-nexus-download", (type, value) => ({ type: "genesys-nexus-download", saveToType: type, saveTo: value }), { mediaId: "m1" }],
    ];
    for (const [setting, type, node, input] of nodes) {
      for (const [kind, value, words] of bad) {
        it(`${type} ${setting} ${kind} ${JSON.stringify(value)}: Catch names the setting and the error, no request`, async () => {
          const loaded = await load(flowFor(sim, node(kind, value)));
          const msg = await expectError(loaded, { ...input });
          const expected = new RegExp(words.source.replace("__S__", setting));
          assert.match(msg.error.message, expected);
          assert.ok(!msg.error.message.includes("[object Object]"));
          assert.equal(sim.requestCount, 0);
        });
      }
    }
  });

  describe("an empty file at msg.filename", () => {
    let dir: string;
    before(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), "nexus-empty-file-"))));
    after(() => fs.rmSync(dir, { recursive: true, force: true }));

    for (const [what, payload] of [["no payload", undefined], ["an empty string", ""], ["an empty Buffer", Buffer.alloc(0)]] as const) {
      it(`with ${what}: Catch says there is nothing to upload, and no request is made`, async () => {
        const file = path.join(dir, "empty.bin");
        fs.writeFileSync(file, "");
        const loaded = await load(flowFor(sim, { type: "genesys-nexus-upload" }));
        const msg = await expectError(loaded, { payload, filename: file });
        assert.equal(msg.error.message.startsWith(`Nothing to upload: the file "${file}" at msg.filename is empty (0 bytes)`), true, msg.error.message);
        assert.equal(sim.requestCount, 0);
        assert.equal(sim.media.size, 0);
      });
    }
  });

  describe("the base URL's empty fragment", () => {
    it("http://host/nexus/v3# is refused like #x: red status at deploy, the words in Catch, no request", async () => {
      const loaded = await load(flowFor({ baseUrl: `${sim.baseUrl}#` }, { type: "genesys-nexus-send" }));
      assert.deepEqual(loaded.statuses.at(-1), { fill: "red", shape: "ring", text: "channel: fragment in base URL" });
      const msg = await expectError(loaded, { payload: { text: "hi" } });
      assert.match(msg.error.message, /ends in a fragment \(#\), which is never sent to a server/);
      assert.equal(sim.requestCount, 0);
    });
  });

  describe("counts", () => {
    const make = (options: Record<string, unknown>): NexusClient =>
      new NexusClient({ baseUrl: sim.baseUrl, channelId: CHANNEL, ccid: CCID, secret: SECRET, apiKey: API_KEY, ...options });

    it(`caps retries at ${MAX_RETRIES}, and reads a boolean or a word as unset (the default)`, async () => {
      const cases: Array<[unknown, number]> = [[1e308, 10], ["1e6", 10], [99999999999999999999999, 10], [11, 10], [10, 10], ["2", 2], [0, 0], [true, 3], [false, 3], ["yes", 3], [Infinity, 3], [NaN, 3], [-5, 3], ["", 3], [null, 3]];
      for (const [retries, expected] of cases) {
        const client = make({ retries });
        assert.equal(client.retryPolicy.retries, expected, String(retries));
        await client.close();
      }
    });

    it("reads a timeout of true, false or a word as unset (30000 ms), never as 1 ms", async () => {
      for (const timeout of [true, false, "true", "soon", null]) {
        const client = make({ timeout });
        assert.equal(client.timeout, 30_000, String(timeout));
        await client.close();
      }
      const client = make({ timeout: "5000" });
      assert.equal(client.timeout, 5000);
      await client.close();
    });

    it("a channel whose flow file holds retries 1e308 and timeout true: 10 retries, 30 s, through the node", async () => {
      const loaded = await load(flowFor(sim, { type: "genesys-nexus-send" }, { retries: 1e308, timeout: true }));
      const client = (helper.getNode("chan") as { client(): NexusClient }).client();
      assert.equal(client.retryPolicy.retries, 10);
      assert.equal(client.timeout, 30_000);
      assert.ok(loaded.n1);
    });
  });
});
