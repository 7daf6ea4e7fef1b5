import assert from "assert/strict";
import { simulatorChannelNode, until } from "../support";
import { startNodeRed, type RunningNodeRed } from "./node-red-process";

/** Node-RED's documented example hash (bcrypt of "password"): settings hold only a hash, never the password. */
const HASH = "$2a$08$zZWtXTja0fB1pzD4sHCMyOCMYz2Z6dNbM6tl8sJogENOMcxWV9DN.";


const channel = simulatorChannelNode;

const inject = { id: "inj", type: "inject", z: "t1", props: [{ p: "payload" }], payload: '{"messageId":"first-run","type":"Text","text":"hi"}', payloadType: "json", x: 100, y: 100, wires: [["send"]] };
const send = { id: "send", type: "genesys-nexus-send", z: "t1", channel: "chan", x: 300, y: 100, wires: [[]] };

/**
 * What a tester found in real Node-RED processes with the packed package: a simulated agent that cannot pass
 * httpNodeAuth gave up without a word, and settings deployed through POST /flows were taken without one.
 */
describe("a simulated channel in a real Node-RED: what stops it is said in the log (issue 19)", function () {
  this.timeout(120_000);
  let nodeRed: RunningNodeRed;

  before(async () => {
    nodeRed = await startNodeRed(
      [
        { id: "t1", type: "tab", label: "t" },
        channel(),
        inject,
        send,
        { id: "hook", type: "genesys-nexus-webhook", z: "t1", channel: "chan", url: "/genesys/agent", x: 100, y: 200, wires: [[]] },
      ],
      {},
      { httpNodeAuth: { user: "user", pass: HASH } },
    );
  });
  after(() => nodeRed?.stop());

  it("with httpNodeAuth set, the webhook warns at deploy, and the refused delivery is logged with its status and URL", async () => {
    assert.match(nodeRed.log(), /\[warn\] \[genesys-nexus-webhook:hook\] This webhook \(\/genesys\/agent\) is on a channel in simulator mode, and Node-RED's httpNodeAuth/);
    const res = await fetch(`${nodeRed.base}/inject/inj`, { method: "POST" });
    assert.equal(res.status, 200);
    await until(() => /was not delivered/.test(nodeRed.log()), 15_000, "the refused delivery in the log");
    assert.match(
      nodeRed.log(),
      /\[warn\] \[genesys-nexus-webhook:hook\] The simulated agent's answer to http:\/\/127\.0\.0\.1:\d+\/genesys\/agent was not delivered: HTTP 401 Unauthorized\. The flow does not receive it\. Node-RED's httpNodeAuth/,
    );
    assert.doesNotMatch(nodeRed.log(), /\$2a\$08\$/, "the hash is never logged");
  });

  it("settings deployed through POST /flows that cannot be used are named, with the default used instead", async () => {
    const mark = nodeRed.log().length;
    await nodeRed.deploy([
      { id: "t1", type: "tab", label: "t" },
      channel({ retries: "-1", maxInFlight: "0", timeout: "abc", signatureEncoding: "sha256", mode: "SIMULATOR" }),
      inject,
      send,
      { id: "hook", type: "genesys-nexus-webhook", z: "t1", channel: "chan", url: "/genesys/b", replyTimeout: "soon", x: 100, y: 200, wires: [[]] },
      { id: "hook2", type: "genesys-nexus-webhook", z: "t1", name: "main", channel: "chan", url: "/genesys/a", x: 100, y: 300, wires: [[]] },
    ]);
    await until(() => /gets no answers from the simulated agent/.test(nodeRed.log().slice(mark)), 10_000, "the deploy's warnings");
    const log = nodeRed.log().slice(mark);
    for (const line of [
      'The setting retries is "-1", which cannot be used (a number, 0 or more); the default 3 is used instead.',
      'The setting maxInFlight is "0", which cannot be used (a number, 1 or more); the default 64 is used instead.',
      'The setting timeout is "abc", which cannot be used (a number, 1 or more); the default 30000 is used instead.',
      'The setting signatureEncoding is "sha256", which cannot be used (one of hex, base64); the default hex is used instead.',
      'The setting replyTimeout is "soon", which cannot be used (a number above 0); the default 8000 is used instead.',
      'This webhook (/genesys/b) gets no answers from the simulated agent: as in Genesys, a channel has one webhook URL, and the simulator answers the webhook whose path comes first in alphabetical order, "main" (/genesys/a).',
    ]) {
      assert.ok(log.includes(line), `${line}\nnot in:\n${log}`);
    }
    assert.doesNotMatch(log, /setting mode/, "SIMULATOR is the simulator mode");
    assert.doesNotMatch(log, /\[error\]/);
  });
});
