import assert from "assert/strict";
import fs from "fs";
import os from "os";
import path from "path";
import { Readable } from "stream";
import type { NexusSimulator } from "../../lib/simulator";
import { NexusClient } from "../../lib/client";
import { API_KEY, CCID, CHANNEL, SECRET, helper, hostileServer, simulator } from "../support";
import { expectError, expectOutput, flowFor, load } from "./flow";

/** Issue 19, part 1: what people reported in public, through the nodes in the Node-RED runtime. */
describe("faults reported in public, through the nodes (issue 19)", () => {
  afterEach(() => helper.unload());

  describe("UTF-8 file names of downloads", () => {
    const name = "Größe_報告.pdf";
    // Node writes a header string as latin1, one byte per character: this one puts raw UTF-8 on the wire.
    const raw = Buffer.from(`attachment; filename="${name}"`, "utf8").toString("latin1");
    let server: Awaited<ReturnType<typeof hostileServer>>;
    let dir: string;
    before(async () => {
      server = await hostileServer((_req, res) => {
        res.writeHead(200, { "Content-Type": "application/pdf", "Content-Disposition": raw });
        res.end("%PDF-1.7 test");
      });
      dir = fs.mkdtempSync(path.join(os.tmpdir(), "nexus-names-"));
    });
    after(async () => {
      await server.close();
      fs.rmSync(dir, { recursive: true, force: true });
    });

    it("gives msg.filename the name a server sent in raw UTF-8, downloaded into memory", async () => {
      const loaded = await load(flowFor(server, { type: "genesys-nexus-download" }));
      const msg = await expectOutput(loaded, { mediaId: "m1" });
      assert.equal(msg.filename, name);
      assert.equal(msg.payload.toString(), "%PDF-1.7 test");
    });

    it("gives msg.filename the same name with Save to file", async () => {
      const target = path.join(dir, "saved.pdf");
      const loaded = await load(flowFor(server, { type: "genesys-nexus-download", saveTo: target, saveToType: "str" }));
      const msg = await expectOutput(loaded, { mediaId: "m1" });
      assert.equal(msg.filename, name);
      assert.equal(msg.payload, target);
      assert.equal(fs.readFileSync(target, "utf8"), "%PDF-1.7 test");
    });

    it("round-trips a UTF-8 name through the simulator (filename* in UTF-8)", async () => {
      const sim = await simulator();
      try {
        const client = new NexusClient({ baseUrl: sim.baseUrl, channelId: CHANNEL, ccid: CCID, secret: SECRET, apiKey: API_KEY });
        const up = await client.uploadMedia({ content: Buffer.from("x"), filename: name });
        await client.close();
        const loaded = await load(flowFor(sim, { type: "genesys-nexus-download" }));
        assert.equal((await expectOutput(loaded, { mediaId: up.mediaId })).filename, name);
      } finally {
        await sim.close();
      }
    });
  });

  describe("empty payloads of uploads", () => {
    let sim: NexusSimulator;
    let dir: string;
    let file: string;
    before(async () => {
      sim = await simulator();
      dir = fs.mkdtempSync(path.join(os.tmpdir(), "nexus-empty-"));
      file = path.join(dir, "report.bin");
      fs.writeFileSync(file, Buffer.alloc(2048, 7));
    });
    after(async () => {
      await sim.close();
      fs.rmSync(dir, { recursive: true, force: true });
    });
    beforeEach(() => sim.reset());

    const empties: Array<[string, () => unknown]> = [
      ["an empty string", () => ""],
      ["an empty Buffer", () => Buffer.alloc(0)],
      ["an empty Uint8Array", () => new Uint8Array(0)],
      ["an empty ArrayBuffer", () => new ArrayBuffer(0)],
      ["a stream that ends without a byte", () => Readable.from([])],
      ["null", () => null],
    ];
    for (const [what, empty] of empties) {
      it(`uploads the 2048-byte file at msg.filename when msg.payload is ${what}`, async () => {
        const loaded = await load(flowFor(sim, { type: "genesys-nexus-upload" }));
        const msg = await expectOutput(loaded, { payload: empty(), filename: file });
        assert.equal(sim.media.get(msg.mediaId)?.length, 2048);
        assert.equal(sim.media.get(msg.mediaId)?.filename, "report.bin");
      });

      it(`ends in Catch, with no request, when msg.payload is ${what} and there is no msg.filename`, async () => {
        const loaded = await load(flowFor(sim, { type: "genesys-nexus-upload" }));
        const msg = await expectError(loaded, { payload: empty() });
        assert.match(msg.error.message, /^Nothing to upload: msg\.payload is missing or empty/);
        assert.equal(sim.requestCount, 0);
        assert.equal(sim.media.size, 0);
      });
    }

    it("still uploads a payload that is not empty, named after msg.filename", async () => {
      const loaded = await load(flowFor(sim, { type: "genesys-nexus-upload" }));
      const msg = await expectOutput(loaded, { payload: "abc", filename: file });
      assert.equal(sim.media.get(msg.mediaId)?.data.toString(), "abc");
    });
  });

  describe("the base URL's query", () => {
    let sim: NexusSimulator;
    before(async () => (sim = await simulator()));
    after(() => sim.close());
    beforeEach(() => sim.reset());

    it("is kept on every call of the flow nodes, after the channel path, and shown in their errors", async () => {
      const base = { baseUrl: `${sim.baseUrl}?tenant=eu-1` };
      const sent = await expectOutput(await load(flowFor(base, { type: "genesys-nexus-send" })), { payload: { text: "hi" } });
      assert.equal(sent.statusCode, 200);
      await helper.unload();
      const up = await expectOutput(await load(flowFor(base, { type: "genesys-nexus-upload" })), { payload: "abc", filename: "a.txt" });
      await helper.unload();
      await expectOutput(await load(flowFor(base, { type: "genesys-nexus-download" })), { mediaId: up.mediaId });
      await helper.unload();
      await expectOutput(await load(flowFor(base, { type: "genesys-nexus-delete" })), { mediaId: up.mediaId });
      await helper.unload();
      const missing = await expectError(await load(flowFor(base, { type: "genesys-nexus-delete" })), { mediaId: "gone" });
      assert.match(missing.error.message, /\/channels\/sms-test-channel\/media\/gone\?tenant=eu-1/);
      for (const r of sim.requests) assert.match(r.path, /^\/nexus\/v3\/channels\/sms-test-channel\/(messages|media(\/[^/?]+)?)\?tenant=eu-1$/);
      assert.equal(sim.requests.length, 5);
    });

    it("a fragment is refused at deploy: red status on the node, the words in Catch, no request", async () => {
      const loaded = await load(flowFor({ baseUrl: `${sim.baseUrl}?tenant=eu-1#eu` }, { type: "genesys-nexus-send" }));
      assert.deepEqual(loaded.statuses.at(-1), { fill: "red", shape: "ring", text: "channel: fragment in base URL" });
      const msg = await expectError(loaded, { payload: { text: "hi" } });
      assert.match(msg.error.message, /fragment \(#eu\), which is never sent to a server/);
      assert.equal(sim.requestCount, 0);
    });
  });
});
