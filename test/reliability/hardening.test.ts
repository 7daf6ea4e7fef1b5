import assert from "assert/strict";
import fs from "fs";
import http from "http";
import os from "os";
import path from "path";
import { PassThrough } from "stream";
import { NexusClient, NexusError, NexusHttpError, NexusInputError, filenameFromDisposition, signBody } from "../../lib/client";
import type { NexusSimulator } from "../../lib/simulator";
import { simulatorOptionsFrom } from "../../lib/simulator/cli";
import { API_KEY, CCID, CHANNEL, SECRET, helper, hostileServer, simulator, until, watchCrashes } from "../support";
import { expectError, expectOutput, flowFor, load } from "../nodes/flow";

/** Writes `chunk` again and again until the client goes away. */
function endless(res: http.ServerResponse, chunk: Buffer): void {
  const write = (): void => {
    while (!res.destroyed && res.write(chunk));
    if (!res.destroyed) res.once("drain", write);
  };
  res.on("close", () => res.removeAllListeners("drain"));
  write();
}

const clientFor = (baseUrl: string, extra: Record<string, unknown> = {}): NexusClient =>
  new NexusClient({ baseUrl, channelId: CHANNEL, ccid: CCID, secret: SECRET, apiKey: API_KEY, retries: 0, timeout: 5000, ...extra });

describe("hardening against hostile servers, careless flows and attackers", function () {
  this.timeout(60_000);
  const crashes = watchCrashes();
  afterEach(() => assert.deepEqual(crashes, [], "nothing escaped as an unhandled error"));

  describe("answers are bounded", () => {
    it("refuses a download whose Content-Length is past the limit, before reading it", async () => {
      const server = await hostileServer((_req, res) => {
        res.writeHead(200, { "Content-Type": "application/octet-stream", "Content-Length": String(4 * 1024 ** 3) });
        res.write(Buffer.alloc(1024));
      });
      const client = clientFor(server.baseUrl);
      try {
        const started = Date.now();
        await assert.rejects(client.downloadMedia("m1"), (err: unknown) => err instanceof NexusError && err.kind === "too-large" && /Save to file/.test(err.message));
        assert.ok(Date.now() - started < 2000, "at once, not after the time-out");
      } finally {
        await client.close();
        await server.close();
      }
    });

    it("stops reading a download without Content-Length once it passes the limit, and an envelope past 1 MiB", async () => {
      const server = await hostileServer((_req, res) => {
        res.writeHead(200, { "Content-Type": "application/json" });
        endless(res, Buffer.alloc(64 * 1024, 0x20));
      });
      const client = clientFor(server.baseUrl);
      try {
        const rss = process.memoryUsage().rss;
        await assert.rejects(client.downloadMedia("m1", { maxBytes: 2 * 1024 * 1024 }), (err: unknown) => err instanceof NexusError && err.kind === "too-large");
        await assert.rejects(client.sendMessage({ a: 1 }), (err: unknown) => err instanceof NexusError && err.kind === "too-large" && /base URL/.test(err.message));
        assert.ok(process.memoryUsage().rss - rss < 200 * 1024 * 1024, "memory stayed bounded");
      } finally {
        await client.close();
        await server.close();
      }
    });

    it("keeps the start of an endless error answer and reports its status at once", async () => {
      const server = await hostileServer((_req, res) => {
        res.writeHead(500, { "Content-Type": "text/html" });
        endless(res, Buffer.alloc(16 * 1024, 0x41));
      });
      const client = clientFor(server.baseUrl);
      try {
        await assert.rejects(client.sendMessage({ a: 1 }), (err: unknown) => err instanceof NexusHttpError && err.statusCode === 500);
      } finally {
        await client.close();
        await server.close();
      }
    });

    it("gives the download node a memory limit whose error says to save to a file", async () => {
      const sim = await simulator();
      try {
        const loaded = await load(flowFor(sim, { type: "genesys-nexus-download", maxBytes: 1000 }));
        const client = clientFor(sim.baseUrl);
        const up = await client.uploadMedia({ content: Buffer.alloc(5000, 1), filename: "big.bin" });
        await client.close();
        const err = await expectError(loaded, { mediaId: up.mediaId });
        assert.match(err.error.message, /larger than 1000 bytes.*Save to file/);
      } finally {
        await helper.unload();
        await sim.close();
      }
    });
  });

  describe("values that reach a header", () => {
    let sim: NexusSimulator;
    before(async () => {
      sim = await simulator();
    });
    after(() => sim.close());
    beforeEach(() => sim.reset());

    it("refuses line breaks in msg.mimetype before any request", async () => {
      const client = clientFor(sim.baseUrl);
      try {
        const injected = 'text/plain\r\nContent-Disposition: form-data; name="file"; filename="invoice.pdf.exe"';
        await assert.rejects(client.uploadMedia({ content: Buffer.from("x"), filename: "invoice.pdf", contentType: injected }), NexusInputError);
        assert.equal(sim.requestCount, 0);
      } finally {
        await client.close();
      }
    });

    it("refuses control characters in the channel's contact center id and API key", async () => {
      assert.throws(() => clientFor(sim.baseUrl, { ccid: "abc\r\nX-Evil: 1" }), /contact center id/);
      assert.throws(() => clientFor(sim.baseUrl, { apiKey: "key\nX-Evil: 1" }), /API key/);
    });

    it("refuses the media ids . and .. (plain or as genesys:// URL) before any request", async () => {
      const client = clientFor(sim.baseUrl);
      try {
        for (const id of [".", "..", "genesys://nexus/..", "genesys://nexus/.", " .. "]) {
          await assert.rejects(client.deleteMedia(id), NexusInputError, id);
          await assert.rejects(client.downloadMedia(id), NexusInputError, id);
        }
        await assert.rejects(client.deleteMedia("genesys://nexus/"), NexusInputError);
        assert.equal(sim.requestCount, 0);
      } finally {
        await client.close();
      }
    });

    it("refuses a base URL with user:password@, never repeating the password", () => {
      assert.throws(() => clientFor("https://user:s3cret-pw@nexus.example.com/nexus/v3"), (err: Error) => /API key/.test(err.message) && !err.message.includes("s3cret-pw"));
      assert.throws(() => clientFor("https://user:s3cret-pw@[not a host/nexus/v3"), (err: Error) => !err.message.includes("s3cret-pw"));
    });
  });

  describe("download file names", () => {
    for (const [header, expected] of [
      ['attachment; filename="../../etc/cron.d/evil"', "evil"],
      ['attachment; filename="/etc/passwd"', "passwd"],
      ["attachment; filename*=UTF-8''..%2F..%2Fboot.ini", "boot.ini"],
      ['attachment; filename="C:\\\\Windows\\\\win.ini"', "win.ini"],
      ['attachment; filename="bad\u0007na\rme.txt"', "badname.txt"],
      ['attachment; filename=".."', undefined],
      ['attachment; filename="dir/"', undefined],
    ] as Array<[string, string | undefined]>) {
      it(`keeps a bare name of ${JSON.stringify(header)}`, () => {
        assert.equal(filenameFromDisposition(header), expected);
      });
    }

    it("writes only a bare name to msg.filename from a hostile server", async () => {
      const server = await hostileServer((_req, res) => {
        res.writeHead(200, { "Content-Type": "text/plain", "Content-Disposition": 'attachment; filename="../../etc/cron.d/evil"' });
        res.end("* * * * * root evil");
      });
      try {
        const loaded = await load(flowFor({ baseUrl: server.baseUrl }, { type: "genesys-nexus-download" }));
        const msg = await expectOutput(loaded, { mediaId: "x" });
        assert.equal(msg.filename, "evil");
      } finally {
        await helper.unload();
        await server.close();
      }
    });
  });

  describe("uploads from a file send exactly the bytes signed", () => {
    let sim: NexusSimulator;
    let dir: string;
    before(async () => {
      sim = await simulator();
      dir = fs.mkdtempSync(path.join(os.tmpdir(), "nexus-grow-"));
    });
    after(async () => {
      await sim.close();
      fs.rmSync(dir, { recursive: true, force: true });
    });
    beforeEach(() => sim.reset());

    /**
     * Holds the channel's only slot with a hanging request: an upload started meanwhile is signed, then waits
     * for the slot; `changeFile` runs while it waits, then the slot is given back.
     */
    async function uploadWhileWaiting(client: NexusClient, file: string, changeFile: () => void): Promise<{ mediaId: string }> {
      sim.injectFaults({ kind: "hang" });
      const hanging = client.sendMessage({ hold: true }).catch(() => undefined);
      await until(() => sim.connectionCount === 1, 2000, "the slot to be held");
      const upload = client.uploadMedia({ path: file });
      upload.catch(() => undefined);
      await until(() => client.load.queued === 1, 2000, "the upload to be signed and queued");
      changeFile();
      sim.faults.releaseHanging();
      await hanging;
      return upload;
    }

    it("sends the signed bytes of a file that grows while the upload waits, and nothing after them", async () => {
      const file = path.join(dir, "grows.txt");
      fs.writeFileSync(file, "original content");
      const client = clientFor(sim.baseUrl, { maxInFlight: 1 });
      try {
        const res = await uploadWhileWaiting(client, file, () => fs.appendFileSync(file, "\r\n\r\nDELETE /nexus/v3/channels/x/media/y HTTP/1.1\r\nHost: x\r\n\r\n"));
        assert.equal(sim.media.get(res.mediaId)?.data.toString(), "original content");
        await new Promise((r) => setTimeout(r, 100));
        assert.ok(sim.requests.every((r) => r.method !== "DELETE"), "no smuggled request");
      } finally {
        await client.close();
      }
    });

    it("fails the upload of a file whose bytes change after signing, and the server stores nothing", async () => {
      const file = path.join(dir, "changes.txt");
      fs.writeFileSync(file, "AAAAAAAAAAAAAAAA");
      const client = clientFor(sim.baseUrl, { maxInFlight: 1 });
      try {
        const upload = uploadWhileWaiting(client, file, () => fs.writeFileSync(file, "BBBBBBBBBBBBBBBB"));
        await assert.rejects(upload, (err: unknown) => err instanceof NexusInputError && /changed while it was uploaded/.test(err.message));
        assert.equal(sim.media.size, 0);
      } finally {
        await client.close();
      }
    });

    // Issue 19: a 0-byte file is nothing to upload, as an empty payload is (this test used to expect an
    // empty media to be made).
    it("refuses an empty file by path, with or without an empty payload, and sends no request", async () => {
      const file = path.join(dir, "empty.txt");
      fs.writeFileSync(file, "");
      const client = clientFor(sim.baseUrl);
      const before = sim.requests.length;
      try {
        for (const source of [{ path: file }, { data: "", path: file }, { data: Buffer.alloc(0), path: file }]) {
          await assert.rejects(
            client.uploadMedia(source),
            (err: unknown) => err instanceof NexusInputError && err.message.includes(file) && /nothing to upload/i.test(err.message) && /empty/.test(err.message),
          );
        }
        assert.equal(sim.requests.length, before, "no request");
      } finally {
        await client.close();
      }
    });
  });

  describe("upload streams", () => {
    let sim: NexusSimulator;
    before(async () => {
      sim = await simulator();
    });
    after(() => sim.close());

    it("fails a stream that brings nothing within the channel timeout, and destroys it", async () => {
      const client = clientFor(sim.baseUrl, { timeout: 300 });
      const stream = new PassThrough();
      stream.write("a little");
      try {
        const started = Date.now();
        await assert.rejects(client.uploadMedia({ content: stream }), (err: unknown) => err instanceof NexusError && err.kind === "timeout" && /brought no data/.test(err.message));
        assert.ok(Date.now() - started < 3000);
        assert.ok(stream.destroyed);
        assert.equal(sim.requestCount, 0);
      } finally {
        await client.close();
      }
    });

    it("destroys a stream being read when the node stops", async () => {
      const loaded = await load(flowFor(sim, { type: "genesys-nexus-upload" }, { timeout: 60_000 }));
      const stream = new PassThrough();
      stream.write("never ends");
      loaded.n1.receive({ payload: stream });
      await new Promise((r) => setTimeout(r, 100));
      const started = Date.now();
      await helper.unload();
      assert.ok(stream.destroyed, "the stream is destroyed");
      assert.ok(Date.now() - started < 2000, "a stream being read is not waited for");
    });
  });

  describe("the simulator stays up whatever it is sent", () => {
    let sim: NexusSimulator;
    before(async () => {
      sim = await simulator({ agent: { redeliveries: 0 } });
    });
    after(() => sim.close());

    const call = (method: string, p: string, body?: string): Promise<Response> =>
      fetch(`${sim.origin}${p}`, { method, headers: { "Content-Type": "application/json" }, body });

    it("refuses webhook URLs without a host (400), also on the command line", async () => {
      for (const url of ["http://", "https://", "ftp://x/y", "not a url", ""]) {
        assert.equal((await call("PUT", "/simulator/webhook", JSON.stringify({ url }))).status, 400, url);
      }
      assert.throws(() => simulatorOptionsFrom(["--webhook-url", "http://"], {}), /webhook-url/);
      // Still alive, and an agent message with no URL set is refused cleanly.
      assert.equal((await call("POST", "/simulator/agent-messages", JSON.stringify({ text: "hi" }))).status, 409);
    });

    it("answers malformed %-encoding with 400", async () => {
      const res = await call("GET", `/nexus/v3/channels/${CHANNEL}/media/%E0%A4%A`);
      assert.equal(res.status, 400);
    });

    it("keeps a bounded number of message bodies, and counts them all", async () => {
      const client = clientFor(sim.baseUrl);
      sim.reset();
      try {
        const text = "x".repeat(100 * 1024);
        for (let i = 0; i < 400; i++) await client.sendMessage({ messageId: `big-${i}`, text });
        assert.equal(sim.messageCount, 400);
        const kept = sim.messages.reduce((n, m) => n + m.size, 0);
        assert.ok(kept <= 32 * 1024 * 1024, `kept ${kept} bytes`);
        assert.ok(sim.requests.every((r) => r.body.length <= 1024 * 1024));
      } finally {
        await client.close();
      }
    });
  });

  it("signs test vectors the same way still (a guard for the multipart rewrite)", () => {
    assert.equal(signBody('{"text":"hello"}', "my-channel-secret"), "sha1=c4a1c472164d955f2fcfc87a7536263516ca64d3");
  });
});
