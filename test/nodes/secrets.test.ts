import assert from "assert/strict";
import type { NexusSimulator } from "../../lib/simulator";
import { helper, simulator, SECRET, API_KEY, refusedUrl } from "../support";
import { expectError, expectOutput, flowFor, load, type Loaded, type Msg } from "./flow";

describe("secrets stay in credentials", () => {
  let sim: NexusSimulator;
  before(async () => {
    sim = await simulator();
  });
  after(() => sim.close());
  afterEach(() => helper.unload());

  function assertClean(what: string, value: unknown): void {
    const text = typeof value === "string" ? value : JSON.stringify(value, (_k, v: unknown) => (Buffer.isBuffer(v) ? v.toString("latin1") : v));
    assert.ok(!text.includes(SECRET), `the secret appears in ${what}`);
    assert.ok(!text.includes(API_KEY), `the API key appears in ${what}`);
  }

  it("never puts the secret or API key in a message, an error, a status or a log line", async () => {
    const seen: Array<[string, unknown]> = [];
    const collect = (loaded: Loaded, msg: Msg): void => {
      seen.push(["message", msg]);
      seen.push(["statuses", loaded.statuses]);
    };
    const cases: Array<[Record<string, unknown>, Record<string, unknown>, Msg, "ok" | "err"]> = [
      [{ type: "genesys-nexus-send" }, {}, { payload: { text: "ok" } }, "ok"],
      [{ type: "genesys-nexus-send" }, {}, { payload: "not json" }, "err"],
      [{ type: "genesys-nexus-send" }, { channelId: "other" }, { payload: {} }, "err"],
      [{ type: "genesys-nexus-send" }, { timeout: 200 }, { payload: {}, hang: true }, "err"],
      [{ type: "genesys-nexus-upload" }, {}, { payload: Buffer.from("x") }, "ok"],
      [{ type: "genesys-nexus-download" }, {}, { mediaId: "nope" }, "err"],
      [{ type: "genesys-nexus-delete" }, {}, {}, "err"],
    ];
    for (const [node, channel, msg, expected] of cases) {
      const loaded = await load(flowFor(sim, node, channel));
      if (msg.hang) sim.injectFaults({ kind: "hang" });
      const result = expected === "ok" ? await expectOutput(loaded, msg) : await expectError(loaded, msg);
      collect(loaded, result);
      if (expected === "err") seen.push(["error text", result.error.message]);
      seen.push(["log", helper.log().args]);
      await helper.unload();
    }
    const refused = await load(flowFor({ baseUrl: await refusedUrl() }, { type: "genesys-nexus-send" }));
    collect(refused, await expectError(refused, { payload: {} }));
    seen.push(["log", helper.log().args]);
    await helper.unload();
    const wrongSecret = await load(flowFor(sim, { type: "genesys-nexus-send" }), { chan: { secret: `${SECRET}-old`, apiKey: API_KEY } });
    collect(wrongSecret, await expectError(wrongSecret, { payload: {} }));
    seen.push(["log", helper.log().args]);
    assert.ok(JSON.stringify(seen).includes("401"), "the collected texts hold the failures they should");

    for (const [what, value] of seen) assertClean(what, value);
  });

  it("declares the secret, the previous secret and the API key as password credentials, not as properties", async () => {
    const loaded = await load(flowFor(sim, { type: "genesys-nexus-send" }));
    const channel = helper.getNode("chan");
    assert.equal(channel.credentials.secret, SECRET);
    assert.equal(channel.credentials.apiKey, API_KEY);
    assert.equal(channel.secret, undefined);
    assert.equal(channel.apiKey, undefined);
    const def = helper._RED.nodes.getCredentialDefinition("genesys-nexus-channel");
    assert.deepEqual(def, { secret: { type: "password" }, previousSecret: { type: "password" }, apiKey: { type: "password" } });
    void loaded;
  });

  it("reads ${ENV_VAR} in a credential field", async () => {
    process.env.NEXUS_TEST_SECRET = SECRET;
    try {
      const loaded = await load(flowFor(sim, { type: "genesys-nexus-send" }), { chan: { secret: "${NEXUS_TEST_SECRET}", apiKey: API_KEY } });
      const res = await expectOutput(loaded, { payload: { text: "env" } });
      assert.equal(res.statusCode, 200);
    } finally {
      delete process.env.NEXUS_TEST_SECRET;
    }
  });

  it("names an environment variable that is not set, before any request, in the status and the error", async () => {
    delete process.env.NEXUS_UNSET_SECRET;
    sim.reset();
    const loaded = await load(flowFor(sim, { type: "genesys-nexus-send" }), { chan: { secret: "${NEXUS_UNSET_SECRET}", apiKey: API_KEY } });
    const err = await expectError(loaded, { payload: { text: "x" } });
    assert.match(err.error.message, /NEXUS_UNSET_SECRET.*not set/);
    assert.ok(loaded.statuses.some((st) => st.text === "channel: NEXUS_UNSET_SECRET not set"));
    assert.equal(sim.requestCount, 0);
    await helper.unload();
    const url = await load(flowFor(sim, { type: "genesys-nexus-send" }, { baseUrl: "${NEXUS_UNSET_URL}" }));
    assert.match((await expectError(url, { payload: {} })).error.message, /base URL reads the environment variable NEXUS_UNSET_URL/);
  });

  it("shows what an incomplete channel lacks on every node that uses it, at once, never 'bad input'", async () => {
    const loaded = await load(flowFor(sim, { type: "genesys-nexus-upload" }), { chan: { apiKey: API_KEY } });
    const err = await expectError(loaded, { payload: Buffer.from("x") });
    assert.match(err.error.message, /no secret/);
    assert.ok(loaded.statuses.every((st) => st.text !== "failed: bad input"), JSON.stringify(loaded.statuses));
    assert.ok(loaded.statuses.some((st) => st.text === "channel: no secret"), JSON.stringify(loaded.statuses));
  });
});
