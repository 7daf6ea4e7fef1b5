import assert from "assert/strict";
import { signBody } from "../../lib/client";
import { API_KEY, SECRET } from "../support";
import { startNodeRed, type RunningNodeRed } from "./node-red-process";

/**
 * Issue 19, part 1, in a real Node-RED process with the packed package: what people reported in public,
 * tried as they tried it.
 */
describe("faults reported in public, in a real Node-RED process", function () {
  this.timeout(120_000);
  let nodeRed: RunningNodeRed;
  const password = "50%off!";
  const channel = { id: "chan", type: "genesys-nexus-channel", name: "c", baseUrl: "http://127.0.0.1:1/nexus/v3", channelId: "sms-test-channel", ccid: "5d8f4a1e-0b7c-4e39-9c1d-2f6a8b3e7c40", timeout: 5000, retries: 0 };
  const flows = [
    { id: "t1", type: "tab", label: "t" },
    channel,
    { id: "hook", type: "genesys-nexus-webhook", z: "t1", channel: "chan", url: "/genesys/agent", replyTimeout: 2000, wires: [["echo"]] },
    // The payload goes back as the answer's messageId, so the test sees what the flow got.
    { id: "echo", type: "change", z: "t1", rules: [{ t: "set", p: "messageId", pt: "msg", to: "payload.messageId", tot: "msg" }], wires: [["reply"]] },
    { id: "reply", type: "genesys-nexus-webhook-response", z: "t1", wires: [] },
    { id: "redisHook", type: "genesys-nexus-webhook", z: "t1", channel: "chan", url: "/genesys/shared", dedupeStore: "redis", replyTimeout: 2000, wires: [["reply"]] },
  ];

  before(async () => {
    nodeRed = await startNodeRed(flows, { chan: { secret: SECRET, apiKey: API_KEY }, redisHook: { redisUrl: `redis://:${password}@127.0.0.1:6379/0` } });
  });
  after(() => nodeRed?.stop());

  const post = (path: string, body: Buffer): Promise<Response> =>
    fetch(`${nodeRed.base}${path}`, { method: "POST", headers: { "Content-Type": "application/json", "X-Hub-Signature": signBody(body, SECRET) }, body: new Uint8Array(body) });

  it("takes a webhook body that starts with a UTF-8 byte order mark, signed over all its bytes (RFC 8259 section 8.1)", async () => {
    const body = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(JSON.stringify({ messageId: "bom-2", type: "Text", text: "hi" }))]);
    const res = await post("/genesys/agent", body);
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { messageId: "bom-2" });
    // The signature covers the BOM: the same body signed without it is refused.
    const unsigned = await fetch(`${nodeRed.base}/genesys/agent`, { method: "POST", headers: { "Content-Type": "application/json", "X-Hub-Signature": signBody(body.subarray(3), SECRET) }, body: new Uint8Array(body) });
    assert.equal(unsigned.status, 401);
  });

  it("keeps a webhook whose Redis URL has a raw % in its password: the route answers 503, the log says why and never shows the password", async () => {
    const body = Buffer.from(JSON.stringify({ messageId: "redis-1", type: "Text", text: "hi" }));
    for (let i = 0; i < 3; i++) assert.equal((await post("/genesys/shared", body)).status, 503);
    const log = nodeRed.log();
    assert.match(log, /no valid Redis URL/);
    assert.doesNotMatch(log, /URIError|URI malformed/);
    assert.ok(!log.includes(password) && !log.includes("50%25off"), "the password is never logged");
    // The other webhook of the same flow is unaffected.
    assert.equal((await post("/genesys/agent", Buffer.from(JSON.stringify({ messageId: "after", type: "Text", text: "x" })))).status, 200);
  });
});
