import assert from "assert/strict";
import fs, { promises as fsp } from "fs";
import os from "os";
import path from "path";
import { Readable } from "stream";
import type { NexusSimulator } from "../../lib/simulator";
import { NexusClient, signBody } from "../../lib/client";
import { helper, simulator, SECRET, CCID, CHANNEL, API_KEY } from "../support";
import { expectError, expectOutput, flowFor, load } from "./flow";

describe("media nodes in the Node-RED runtime", () => {
  let sim: NexusSimulator;
  let dir: string;

  before(async () => {
    sim = await simulator();
    dir = await fsp.mkdtemp(path.join(os.tmpdir(), "nexus-media-"));
  });
  after(async () => {
    await sim.close();
    await fsp.rm(dir, { recursive: true, force: true });
  });
  beforeEach(() => sim.reset());
  afterEach(() => helper.unload());

  describe("genesys-nexus-upload", () => {
    const upload = { type: "genesys-nexus-upload" };

    it("uploads a Buffer and writes payload, mediaId, mediaUrl, statusCode and traceId", async () => {
      const loaded = await load(flowFor(sim, upload));
      const bytes = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 1, 2]);
      const res = await expectOutput(loaded, { payload: bytes, mimetype: "image/png", topic: "kept" });
      assert.equal(res.statusCode, 200);
      assert.match(res.mediaId, /^[0-9a-f-]{36}$/);
      assert.equal(res.mediaUrl, `genesys://nexus/${res.mediaId}`);
      assert.deepEqual(res.payload, {
        status: { code: 0, message: "OK" },
        data: { mediaId: res.mediaId, url: res.mediaUrl, filename: "file", mimetype: "image/png", length: 7 },
      });
      assert.match(res.traceId, /^[0-9a-f]{32}$/);
      assert.equal(res.topic, "kept");
      assert.equal(sim.requests[0].headers["x-hub-signature"], signBody(sim.requests[0].body, SECRET));
      assert.ok(sim.media.get(res.mediaId)?.data.equals(bytes));
    });

    it("names the file from msg.filename's basename, then the node setting, then `file`", async () => {
      let loaded = await load(flowFor(sim, { ...upload, filename: "from-node.txt" }));
      let res = await expectOutput(loaded, { payload: "text", filename: "/some/dir/from-msg.jpg" });
      assert.equal(res.payload.data.filename, "from-msg.jpg");
      assert.equal(res.payload.data.mimetype, "image/jpeg");
      res = await expectOutput(loaded, { payload: "text" });
      assert.equal(res.payload.data.filename, "from-node.txt");
      assert.equal(res.payload.data.mimetype, "text/plain");
      await helper.unload();
      loaded = await load(flowFor(sim, upload));
      res = await expectOutput(loaded, { payload: "text" });
      assert.equal(res.payload.data.filename, "file");
      assert.equal(res.payload.data.mimetype, "application/octet-stream");
    });

    it("uploads a string as UTF-8 and a readable stream", async () => {
      const loaded = await load(flowFor(sim, upload));
      const a = await expectOutput(loaded, { payload: "Grüße 👋" });
      assert.equal(sim.media.get(a.mediaId)?.data.toString("utf8"), "Grüße 👋");
      const b = await expectOutput(loaded, { payload: Readable.from([Buffer.from("stream "), Buffer.from("bytes")]) });
      assert.equal(sim.media.get(b.mediaId)?.data.toString(), "stream bytes");
    });

    it("streams a file from disk when there is no payload (file in -> upload)", async () => {
      const file = path.join(dir, "invoice.pdf");
      const content = Buffer.alloc(200_000, 0x25);
      await fsp.writeFile(file, content);
      const loaded = await load(flowFor(sim, upload));
      const res = await expectOutput(loaded, { filename: file });
      const stored = sim.media.get(res.mediaId);
      assert.ok(stored?.data.equals(content));
      assert.equal(stored?.filename, "invoice.pdf");
      assert.equal(stored?.mimetype, "application/pdf");
    });

    it("spools a large stream to a temporary file, uploads it whole, and removes the spool", async () => {
      const spoolsBefore = fs.readdirSync(os.tmpdir()).filter((f) => f.startsWith("nexus-upload-")).length;
      const loaded = await load(flowFor(sim, upload));
      const chunk = Buffer.alloc(256 * 1024, 0x61);
      const res = await expectOutput(loaded, { payload: Readable.from(Array.from({ length: 12 }, () => chunk)), filename: "big.bin" });
      assert.equal(sim.media.get(res.mediaId)?.length, 12 * chunk.length);
      assert.equal(fs.readdirSync(os.tmpdir()).filter((f) => f.startsWith("nexus-upload-")).length, spoolsBefore);
    });

    for (const [what, msg, pattern] of [
      ["a number payload", { payload: 42 }, /msg\.payload/],
      ["an object payload", { payload: { a: 1 } }, /msg\.payload/],
      ["no payload and no filename", {}, /Nothing to upload/],
      ["a file that does not exist", { filename: "/no/such/file.png" }, /Cannot read the file/],
    ] as Array<[string, Record<string, unknown>, RegExp]>) {
      it(`sends ${what} to Catch and sends no request`, async () => {
        const loaded = await load(flowFor(sim, upload));
        const err = await expectError(loaded, msg);
        assert.match(err.error.message, pattern);
        assert.equal(sim.requestCount, 0);
      });
    }

    it("sends a 413 to Catch with msg.statusCode", async () => {
      const small = await simulator({ maxMediaBytes: 100 });
      try {
        const loaded = await load(flowFor(small, upload));
        const err = await expectError(loaded, { payload: Buffer.alloc(10_000) });
        assert.equal(err.statusCode, 413);
        assert.match(err.error.message, /413/);
      } finally {
        await small.close();
      }
    });
  });

  describe("genesys-nexus-download", () => {
    it("downloads by msg.mediaId: Buffer payload, mimetype, filename", async () => {
      const loaded = await load([
        ...flowFor(sim, { type: "genesys-nexus-upload", wires: [["n2"]] }),
        { id: "n2", z: "f1", type: "genesys-nexus-download", channel: "chan", wires: [["out"]] },
      ]);
      const bytes = Buffer.from("%PDF-1.7 \x00\xff");
      const res = await expectOutput(loaded, { payload: bytes, filename: "/tmp/Rechnung März.pdf", mimetype: "application/pdf" });
      assert.ok(Buffer.isBuffer(res.payload));
      assert.ok(res.payload.equals(bytes));
      assert.equal(res.mimetype, "application/pdf");
      assert.equal(res.filename, "Rechnung März.pdf");
      assert.equal(res.statusCode, 200);
    });

    it("writes to a file instead of a Buffer when the node names a path", async () => {
      const stored = await seed(sim, "large.bin");
      const target = path.join(dir, "saved.bin");
      const loaded = await load(flowFor(sim, { type: "genesys-nexus-download", saveTo: "target", saveToType: "msg" }));
      const res = await expectOutput(loaded, { mediaId: stored, target });
      assert.equal(res.payload, target);
      assert.equal(fs.readFileSync(target, "utf8"), "large.bin content");
      assert.equal(res.filename, "large.bin");
      assert.deepEqual(fs.readdirSync(dir).filter((f) => f.includes(".part-")), []);
      const unwritable = await expectError(loaded, { mediaId: stored, target: path.join(dir, "no", "such", "dir", "x.bin") });
      assert.match(unwritable.error.message, /Cannot write the download/);
    });

    it("lets a media id set in the node win over the message, and a blank one fall back", async () => {
      const stored = await seed(sim, "node.txt");
      let loaded = await load(flowFor(sim, { type: "genesys-nexus-download", mediaId: stored, mediaIdType: "str" }));
      let res = await expectOutput(loaded, { mediaId: "something-else" });
      assert.equal(res.payload.toString(), "node.txt content");
      await helper.unload();
      loaded = await load(flowFor(sim, { type: "genesys-nexus-download", mediaId: "", mediaIdType: "str" }));
      res = await expectOutput(loaded, { mediaId: stored });
      assert.equal(res.filename, "node.txt");
      await helper.unload();
      loaded = await load(flowFor(sim, { type: "genesys-nexus-download", mediaId: "media.id", mediaIdType: "msg" }));
      res = await expectOutput(loaded, { media: { id: stored } });
      assert.equal(res.filename, "node.txt");
      await helper.unload();
      process.env.NEXUS_TEST_MEDIA_ID = stored;
      loaded = await load(flowFor(sim, { type: "genesys-nexus-download", mediaId: "NEXUS_TEST_MEDIA_ID", mediaIdType: "env" }));
      res = await expectOutput(loaded, {});
      assert.equal(res.filename, "node.txt");
      delete process.env.NEXUS_TEST_MEDIA_ID;
    });

    it("sends a missing media id to Catch without a request, and an unknown one as 404", async () => {
      const loaded = await load(flowFor(sim, { type: "genesys-nexus-download" }));
      const missing = await expectError(loaded, { payload: "x" });
      assert.match(missing.error.message, /media id/);
      assert.equal(sim.requestCount, 0);
      const unknown = await expectError(loaded, { mediaId: "00000000-0000-0000-0000-000000000000" });
      assert.equal(unknown.statusCode, 404);
      assert.match(unknown.error.message, /404.*Media 00000000-0000-0000-0000-000000000000 not found/);
    });
  });

  describe("genesys-nexus-delete", () => {
    it("deletes by msg.mediaId and writes the envelope", async () => {
      const stored = await seed(sim, "gone.png");
      const loaded = await load(flowFor(sim, { type: "genesys-nexus-delete" }));
      const res = await expectOutput(loaded, { mediaId: stored, topic: "kept" });
      assert.equal(res.payload.status.code, 0);
      assert.equal(res.payload.data.mediaId, stored);
      assert.equal(res.statusCode, 200);
      assert.equal(res.topic, "kept");
      assert.equal(sim.media.has(stored), false);
      const again = await expectError(loaded, { mediaId: stored });
      assert.equal(again.statusCode, 404);
    });

    it("sends a missing media id to Catch without a request", async () => {
      const loaded = await load(flowFor(sim, { type: "genesys-nexus-delete" }));
      const err = await expectError(loaded, { mediaId: "" });
      assert.match(err.error.message, /media id/);
      assert.equal(sim.requestCount, 0);
    });
  });
});

/** Puts a file in the simulator directly and returns its media id. */
async function seed(sim: NexusSimulator, filename: string): Promise<string> {
  const client = new NexusClient({ baseUrl: sim.baseUrl, channelId: CHANNEL, ccid: CCID, secret: SECRET, apiKey: API_KEY });
  try {
    const res = await client.uploadMedia({ content: `${filename} content`, filename });
    sim.requests.length = 0;
    sim.counts.clear();
    return res.mediaId;
  } finally {
    client.close();
  }
}
