import assert from "assert/strict";
import fs from "fs";
import os from "os";
import path from "path";
import { CallCanceller, NexusAbortError, NexusClient, NexusNetworkError } from "../../lib/client";
import { CCID, CHANNEL, SECRET, hostileServer } from "../support";

/** A server that sends the start of a 1 MB file, then nothing more (the connection stays open). */
function stallingServer(): ReturnType<typeof hostileServer> {
  return hostileServer((req, res) => {
    req.resume();
    res.writeHead(200, { "Content-Type": "application/octet-stream", "Content-Length": 1_000_000 });
    res.write(Buffer.alloc(64 * 1024, 0x41));
  });
}

/** Downloads to a file that are cut short: no part file left, each pause bounded by the channel's time-out. */
describe("downloads to a file cut short", () => {
  let dir: string;
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), "nexus-dl-"))));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("a close() mid-transfer ends the call once its part file is removed, so a process that exits then leaves none", async () => {
    const server = await stallingServer();
    const client = new NexusClient({ baseUrl: server.baseUrl, channelId: CHANNEL, ccid: CCID, secret: SECRET, timeout: 20_000 });
    try {
      const call = client.downloadMediaToFile("m1", path.join(dir, "big.bin"));
      const ended = call.then(
        () => "resolved",
        (err: unknown) => err,
      );
      const deadline = Date.now() + 5000;
      while (!fs.readdirSync(dir).some((f) => f.includes(".part-")) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      assert.ok(fs.readdirSync(dir).some((f) => f.includes(".part-")), "the transfer has begun");
      await client.close(0);
      assert.deepEqual(fs.readdirSync(dir), [], "no part file once close() has resolved");
      assert.ok((await ended) instanceof NexusAbortError);
    } finally {
      await client.close();
      await server.close();
    }
  });

  it("a cancel mid-transfer rejects once the part file is removed", async () => {
    const server = await stallingServer();
    const client = new NexusClient({ baseUrl: server.baseUrl, channelId: CHANNEL, ccid: CCID, secret: SECRET, timeout: 20_000 });
    try {
      const canceller = new CallCanceller();
      const call = client.downloadMediaToFile("m1", path.join(dir, "big.bin"), { canceller });
      const deadline = Date.now() + 5000;
      while (!fs.readdirSync(dir).some((f) => f.includes(".part-")) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      canceller.cancel();
      await assert.rejects(call, NexusAbortError);
      assert.deepEqual(fs.readdirSync(dir), [], "no part file when the call rejects");
    } finally {
      await client.close();
      await server.close();
    }
  });

  it("a transfer that pauses longer than the channel's time-out fails at that time-out, not on undici's coarse clock", async () => {
    const server = await stallingServer();
    const client = new NexusClient({ baseUrl: server.baseUrl, channelId: CHANNEL, ccid: CCID, secret: SECRET, timeout: 200, retries: 0 });
    try {
      const started = Date.now();
      await assert.rejects(client.downloadMediaToFile("m1", path.join(dir, "big.bin")), (err: unknown) => err instanceof NexusNetworkError && err.code === "UND_ERR_BODY_TIMEOUT" && err.reachedGenesys === "maybe");
      const took = Date.now() - started;
      // undici's own body time-out ended it after about a second; the pause is 200 ms (margin for a busy machine).
      assert.ok(took >= 190 && took < 900, `failed after ${took} ms`);
      assert.deepEqual(fs.readdirSync(dir), []);
    } finally {
      await client.close();
      await server.close();
    }
  });
});
