import assert from "assert/strict";
import { promises as fsp } from "fs";
import http from "http";
import net, { type AddressInfo } from "net";
import os from "os";
import path from "path";
import { Readable } from "stream";
import {
  NexusClient,
  NexusHttpError,
  NexusInputError,
  NexusNetworkError,
  NexusTimeoutError,
  NexusAbortError,
  NexusOverloadError,
  NexusError,
  CallCanceller,
  signBody,
  type ChannelOptions,
} from "../../lib/client";
import type { NexusSimulator } from "../../lib/simulator";
import { API_KEY, CCID, CHANNEL, SECRET, refusedUrl, simulator, until } from "../support";

describe("NexusClient against the simulator", () => {
  let sim: NexusSimulator;
  let client: NexusClient;
  const make = (overrides: Partial<ChannelOptions> = {}): NexusClient =>
    new NexusClient({ baseUrl: sim.baseUrl, channelId: CHANNEL, ccid: CCID, secret: SECRET, apiKey: API_KEY, retries: 0, ...overrides });

  before(async () => {
    sim = await simulator();
  });
  after(async () => {
    await sim.close();
  });
  beforeEach(() => {
    sim.reset();
    client = make();
  });
  afterEach(() => client.close());

  describe("send message", () => {
    it("sends an object as JSON, signed over the exact bytes, with the headers Genesys expects", async () => {
      const message = { channel: "sms", messageId: "m-1", from: { id: "+15550001" }, type: "Text", text: "héllo" };
      const res = await client.sendMessage(message, { traceId: "0af7651916cd43dd8448eb211c80319c" });
      assert.equal(res.statusCode, 200);
      assert.equal(res.traceId, "0af7651916cd43dd8448eb211c80319c");
      assert.deepEqual(res.payload, { status: { code: 0, message: "OK" }, data: { ids: [{ id: "m-1" }] } });
      const req = sim.requests[0];
      assert.equal(req.body.toString("utf8"), JSON.stringify(message));
      assert.equal(req.headers["x-hub-signature"], signBody(req.body, SECRET));
      assert.equal(req.headers["x-ccid"], CCID);
      assert.equal(req.headers["x-api-key"], API_KEY);
      assert.equal(req.headers["x-b3-traceid"], "0af7651916cd43dd8448eb211c80319c");
      assert.match(String(req.headers["content-type"]), /^application\/json/);
    });

    it("sends a JSON string and a Buffer byte for byte, never re-serialised", async () => {
      const text = '{ "type" : "Text",\n  "text": "spaces kept" }';
      await client.sendMessage(text);
      assert.equal(sim.requests[0].body.toString("utf8"), text);
      const bytes = Buffer.from('[{"type":"Text","text":"a"} , {"type":"Text","text":"b"}]');
      const res = await client.sendMessage(bytes);
      assert.ok(sim.requests[1].body.equals(bytes));
      assert.equal((res.payload as { data: { ids: unknown[] } }).data.ids.length, 2);
    });

    it("makes a new 32-hex-digit trace id when none is given", async () => {
      const res = await client.sendMessage({ type: "Text", text: "x" });
      assert.match(res.traceId, /^[0-9a-f]{32}$/);
      assert.equal(sim.requests[0].headers["x-b3-traceid"], res.traceId);
    });

    it("signs in base64 when the channel asks for it", async () => {
      const b64 = make({ signatureEncoding: "base64" });
      try {
        await b64.sendMessage({ type: "Text", text: "x" });
        assert.match(String(sim.requests[0].headers["x-hub-signature"]), /^sha1=[A-Za-z0-9+/]{27}=$/);
      } finally {
        b64.close();
      }
    });

    it("omits x-api-key when none is configured", async () => {
      const open = await simulator({ apiKey: undefined });
      const c = new NexusClient({ baseUrl: open.baseUrl, channelId: CHANNEL, ccid: CCID, secret: SECRET });
      try {
        await c.sendMessage({ type: "Text", text: "x" });
        assert.equal(open.requests[0].headers["x-api-key"], undefined);
      } finally {
        c.close();
        await open.close();
      }
    });

    for (const [what, payload] of [
      ["a number", 42],
      ["undefined", undefined],
      ["a non-JSON string", "hello there"],
      ["a non-JSON Buffer", Buffer.from("not json")],
      ["a circular object", (() => { const o: Record<string, unknown> = {}; o.self = o; return o; })()],
      ["an object with a BigInt", { n: BigInt(1) }],
    ] as Array<[string, unknown]>) {
      it(`refuses ${what} without sending anything`, async () => {
        await assert.rejects(client.sendMessage(payload), (err: unknown) => err instanceof NexusInputError && /msg\.payload|JSON/.test(err.message));
        assert.equal(sim.requestCount, 0);
      });
    }
  });

  describe("media", () => {
    it("uploads a Buffer as multipart, signed over the entire multipart body", async () => {
      const bytes = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 1, 2, 3, 0x0d, 0x0a, 0x2d, 0x2d]);
      const res = await client.uploadMedia({ content: bytes, filename: "photo.jpg" });
      assert.equal(res.statusCode, 200);
      assert.match(res.mediaId, /^[0-9a-f-]{36}$/);
      assert.equal(res.mediaUrl, `genesys://nexus/${res.mediaId}`);
      const data = (res.payload as { data: Record<string, unknown> }).data;
      assert.deepEqual(data, { mediaId: res.mediaId, url: res.mediaUrl, filename: "photo.jpg", mimetype: "image/jpeg", length: bytes.length });
      const req = sim.requests[0];
      assert.match(String(req.headers["content-type"]), /^multipart\/form-data; boundary=/);
      assert.equal(req.headers["x-hub-signature"], signBody(req.body, SECRET));
      assert.ok(sim.media.get(res.mediaId)?.data.equals(bytes));
    });

    it("uploads a string as UTF-8, a stream, and a file from disk", async () => {
      const s = await client.uploadMedia({ content: "Grüße", filename: "note.txt" });
      assert.equal(sim.media.get(s.mediaId)?.data.toString("utf8"), "Grüße");
      assert.equal(sim.media.get(s.mediaId)?.mimetype, "text/plain");

      const st = await client.uploadMedia({ content: Readable.from([Buffer.from("ab"), Buffer.from("cd")]) });
      assert.equal(sim.media.get(st.mediaId)?.data.toString(), "abcd");
      assert.equal(sim.media.get(st.mediaId)?.filename, "file");
      assert.equal(sim.media.get(st.mediaId)?.mimetype, "application/octet-stream");

      const dir = await fsp.mkdtemp(path.join(os.tmpdir(), "nexus-"));
      const file = path.join(dir, "report.pdf");
      const content = Buffer.alloc(300_000, 7);
      await fsp.writeFile(file, content);
      try {
        const f = await client.uploadMedia({ path: file });
        const stored = sim.media.get(f.mediaId);
        assert.ok(stored?.data.equals(content));
        assert.equal(stored?.filename, "report.pdf");
        assert.equal(stored?.mimetype, "application/pdf");
      } finally {
        await fsp.rm(dir, { recursive: true });
      }
    });

    it("refuses a missing file and a number without sending anything", async () => {
      await assert.rejects(client.uploadMedia({ path: "/no/such/file.png" }), NexusInputError);
      await assert.rejects(client.uploadMedia({ content: 12 }), NexusInputError);
      await assert.rejects(client.uploadMedia({}), NexusInputError);
      assert.equal(sim.requestCount, 0);
    });

    it("downloads the bytes with content type and filename, then deletes", async () => {
      const bytes = Buffer.from("%PDF-1.4 binary \x00\x01");
      const up = await client.uploadMedia({ content: bytes, filename: "Rechnung März.pdf" });
      const down = await client.downloadMedia(up.mediaId);
      assert.ok(down.data.equals(bytes));
      assert.equal(down.contentType, "application/pdf");
      assert.equal(down.filename, "Rechnung März.pdf");
      assert.equal(sim.requests[1].headers["x-hub-signature"], "sha1=" + signBody("", SECRET).slice(5));
      const del = await client.deleteMedia(up.mediaUrl);
      assert.equal(del.statusCode, 200);
      assert.equal((del.payload as { data: { mediaId: string } }).data.mediaId, up.mediaId);
      await assert.rejects(client.downloadMedia(up.mediaId), (err: unknown) => err instanceof NexusHttpError && err.statusCode === 404);
    });

    it("refuses a missing media id without sending anything", async () => {
      await assert.rejects(client.downloadMedia(undefined), (err: unknown) => err instanceof NexusInputError && /media id/.test(err.message));
      await assert.rejects(client.deleteMedia("  "), NexusInputError);
      assert.equal(sim.requestCount, 0);
    });

    it("answers 413 for media past the limit", async () => {
      const small = await simulator({ maxMediaBytes: 1000 });
      const c = new NexusClient({ baseUrl: small.baseUrl, channelId: CHANNEL, ccid: CCID, secret: SECRET, apiKey: API_KEY, retries: 0 });
      try {
        await assert.rejects(c.uploadMedia({ content: Buffer.alloc(200_000) }), (err: unknown) => err instanceof NexusHttpError && err.statusCode === 413);
      } finally {
        c.close();
        await small.close();
      }
    });
  });

  describe("errors", () => {
    it("carries HTTP status, Genesys status and trace id for a wrong secret", async () => {
      const wrong = make({ secret: "not-the-secret" });
      try {
        await assert.rejects(wrong.sendMessage({ a: 1 }, { traceId: "abc123" }), (err: unknown) => {
          assert.ok(err instanceof NexusHttpError);
          assert.equal(err.statusCode, 401);
          assert.equal(err.genesysCode, 401);
          assert.match(err.genesysMessage ?? "", /Signature/);
          assert.equal(err.traceId, "abc123");
          assert.match(err.message, /401 Unauthorized/);
          assert.match(err.message, /secret/);
          assert.doesNotMatch(err.message, /not-the-secret/);
          return true;
        });
      } finally {
        wrong.close();
      }
    });

    it("reports an unknown channel as 404 and a wrong ccid as 403", async () => {
      const other = make({ channelId: "nope" });
      const ccid = make({ ccid: "00000000-0000-0000-0000-000000000000" });
      try {
        await assert.rejects(other.sendMessage({}), (err: unknown) => err instanceof NexusHttpError && err.statusCode === 404 && /Channel nope not found/.test(err.message));
        await assert.rejects(ccid.sendMessage({}), (err: unknown) => err instanceof NexusHttpError && err.statusCode === 403);
      } finally {
        other.close();
        ccid.close();
      }
    });

    it("times out on a server that never answers", async () => {
      const quick = make({ timeout: 300 });
      sim.injectFaults({ kind: "hang" });
      try {
        await assert.rejects(quick.sendMessage({}), (err: unknown) => err instanceof NexusTimeoutError && /300 ms/.test(err.message));
      } finally {
        quick.close();
      }
    });

    it("reports a refused connection", async () => {
      const refused = new NexusClient({ baseUrl: await refusedUrl(), channelId: CHANNEL, ccid: CCID, secret: SECRET, retries: 0 });
      try {
        await assert.rejects(refused.sendMessage({}), (err: unknown) => err instanceof NexusNetworkError && err.code === "ECONNREFUSED" && /refused/.test(err.message));
      } finally {
        refused.close();
      }
    });

    it("refuses a bad base URL and a missing secret at construction", () => {
      assert.throws(() => make({ baseUrl: "nexus.example.com" }), NexusInputError);
      assert.throws(() => make({ baseUrl: "ftp://x/nexus/v3" }), NexusInputError);
      assert.throws(() => make({ secret: "" }), NexusInputError);
      assert.throws(() => make({ channelId: "" }), NexusInputError);
    });
  });

  describe("retries", () => {
    it("retries a GET after 503, 429, a reset, 502 and 504, then succeeds", async () => {
      const retrying = make({ retries: 5, retryBaseDelay: 5 });
      const seen: string[] = [];
      try {
        const up = await retrying.uploadMedia({ content: Buffer.from("abc"), filename: "a.txt" });
        sim.injectFaults({ kind: "status", status: 503 }, { kind: "status", status: 429 }, { kind: "reset" }, { kind: "status", status: 502 }, { kind: "status", status: 504 });
        const res = await retrying.downloadMedia(up.mediaId, { onRetry: (i) => seen.push(`${i.retry}:${i.reason}`) });
        assert.equal(res.data.toString(), "abc");
        assert.deepEqual(seen, ["1:503", "2:429", "3:ECONNRESET", "4:502", "5:504"]);
      } finally {
        retrying.close();
      }
    });

    it("retries a POST after 503 and 429, never after a reset, 502 or 504 (Genesys may have it)", async () => {
      const retrying = make({ retries: 5, retryBaseDelay: 5 });
      const seen: string[] = [];
      try {
        sim.injectFaults({ kind: "status", status: 503 }, { kind: "status", status: 429 });
        const res = await retrying.sendMessage({ messageId: "r-1" }, { onRetry: (i) => seen.push(`${i.retry}:${i.reason}`) });
        assert.equal(res.statusCode, 200);
        assert.deepEqual(seen, ["1:503", "2:429"]);
        assert.equal(sim.messages.length, 1);
        for (const fault of [{ kind: "reset" as const }, { kind: "status" as const, status: 502 }, { kind: "status" as const, status: 504 }]) {
          sim.reset();
          sim.injectFaults(fault);
          await assert.rejects(retrying.sendMessage({ messageId: "r-2" }, { traceId: "feedc0de" }), (err: unknown) => {
            assert.ok(err instanceof NexusError);
            assert.equal(err.reachedGenesys, "maybe");
            assert.match(err.message, /may have received it/);
            assert.match(err.message, /feedc0de/);
            return true;
          });
          assert.equal(sim.requestCount, 1, `${JSON.stringify(fault)} is not sent again`);
        }
      } finally {
        retrying.close();
      }
    });

    it("honours Retry-After", async () => {
      const retrying = make({ retries: 1, retryBaseDelay: 1 });
      sim.injectFaults({ kind: "status", status: 503, retryAfter: 1 });
      const started = Date.now();
      try {
        await retrying.sendMessage({});
        assert.ok(Date.now() - started >= 950, "waited the second Retry-After asked for");
      } finally {
        retrying.close();
      }
    });

    it("never retries other 4xx, and gives up after `retries`", async () => {
      const retrying = make({ retries: 2, retryBaseDelay: 1 });
      try {
        for (const status of [400, 401, 403, 404, 413]) {
          sim.reset();
          sim.injectFaults({ kind: "status", status });
          await assert.rejects(retrying.sendMessage({}), (err: unknown) => err instanceof NexusHttpError && err.statusCode === status);
          assert.equal(sim.requestCount, 1, `no retry after ${status}`);
        }
        sim.reset();
        sim.injectFaults({ kind: "status", status: 503 }, { kind: "status", status: 503 }, { kind: "status", status: 503 });
        await assert.rejects(retrying.sendMessage({}), (err: unknown) => err instanceof NexusHttpError && err.statusCode === 503);
        assert.equal(sim.requestCount, 3);
      } finally {
        retrying.close();
      }
    });

    it("re-sends a streamed file upload on retry", async () => {
      const retrying = make({ retries: 1, retryBaseDelay: 1 });
      const dir = await fsp.mkdtemp(path.join(os.tmpdir(), "nexus-"));
      const file = path.join(dir, "a.png");
      await fsp.writeFile(file, Buffer.alloc(1000, 3));
      sim.injectFaults({ kind: "status", status: 503 });
      try {
        const res = await retrying.uploadMedia({ path: file });
        assert.equal(sim.media.get(res.mediaId)?.length, 1000);
      } finally {
        retrying.close();
        await fsp.rm(dir, { recursive: true });
      }
    });
  });

  describe("lifecycle and load", () => {
    it("closes the connection of a call that timed out or was cancelled, at once", async () => {
      // A server that never answers, and tells which of its connections closed.
      const closed = new Set<number>();
      let opened = 0;
      const server = net.createServer((socket) => {
        const id = ++opened;
        socket.on("error", () => undefined);
        socket.on("close", () => closed.add(id));
        // Reading is what lets it see the other end close.
        socket.resume();
      });
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
      const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/nexus/v3`;
      const quick = make({ baseUrl, timeout: 300 });
      const patient = make({ baseUrl });
      try {
        await assert.rejects(quick.sendMessage({}), NexusTimeoutError);
        await until(() => closed.has(1), 1000, "the timed-out connection to close");
        const canceller = new CallCanceller();
        // The channel's own time limit (30 s) is far away: only the cancel can end this connection.
        const pending = patient.sendMessage({}, { canceller });
        const before = opened;
        await until(() => opened > before, 1000, "the request to arrive");
        canceller.cancel();
        await assert.rejects(pending, NexusAbortError);
        await until(() => closed.has(before + 1), 1000, "the cancelled connection to close");
      } finally {
        await quick.close();
        await patient.close();
        await new Promise((resolve) => server.close(resolve));
      }
    });

    it("closes the file of a file upload that timed out", async function () {
      if (process.platform !== "linux") this.skip();
      const dir = await fsp.mkdtemp(path.join(os.tmpdir(), "nexus-fd-"));
      const file = path.join(dir, "big.bin");
      await fsp.writeFile(file, Buffer.alloc(8 * 1024 * 1024, 7));
      // A server that never reads the body: the upload stalls with its file half read.
      const stalling = http.createServer(() => undefined);
      await new Promise<void>((resolve) => stalling.listen(0, "127.0.0.1", resolve));
      const { port } = stalling.address() as AddressInfo;
      const quick = make({ baseUrl: `http://127.0.0.1:${port}/nexus/v3`, timeout: 200 });
      const openFiles = async (): Promise<number> => {
        const fds = await fsp.readdir("/proc/self/fd");
        const targets = await Promise.all(fds.map((fd) => fsp.readlink(`/proc/self/fd/${fd}`).catch(() => "")));
        return targets.filter((t) => t === file).length;
      };
      try {
        for (let i = 0; i < 3; i++) await assert.rejects(quick.uploadMedia({ path: file }), NexusTimeoutError);
        let open = await openFiles();
        for (let i = 0; i < 20 && open > 0; i++) {
          await new Promise((r) => setTimeout(r, 50));
          open = await openFiles();
        }
        assert.equal(open, 0, "the upload's file is still open");
      } finally {
        quick.close();
        stalling.closeAllConnections();
        await new Promise((resolve) => stalling.close(resolve));
        await fsp.rm(dir, { recursive: true });
      }
    });

    it("close() aborts calls in flight with a clear error", async () => {
      sim.injectFaults({ kind: "hang" });
      const pending = client.sendMessage({});
      await new Promise((r) => setTimeout(r, 50));
      client.close();
      await assert.rejects(pending, (err: unknown) => err instanceof NexusAbortError && /closed/.test(err.message));
      await assert.rejects(client.sendMessage({}), NexusAbortError);
    });

    it("queues beyond maxInFlight and fails fast when the queue is full", async () => {
      const small = make({ maxInFlight: 2, maxQueued: 3 });
      try {
        const results = await Promise.allSettled(Array.from({ length: 8 }, (_, i) => small.sendMessage({ messageId: `q-${i}` })));
        const ok = results.filter((r) => r.status === "fulfilled").length;
        const full = results.filter((r) => r.status === "rejected" && r.reason instanceof NexusOverloadError).length;
        assert.equal(ok, 5);
        assert.equal(full, 3);
      } finally {
        small.close();
      }
    });

    it("answers 300 concurrent sends, each with its own id", async () => {
      const results = await Promise.all(Array.from({ length: 300 }, (_, i) => client.sendMessage({ messageId: `c-${i}` })));
      results.forEach((r, i) => assert.deepEqual((r.payload as { data: { ids: unknown } }).data.ids, [{ id: `c-${i}` }]));
    });
  });
});
