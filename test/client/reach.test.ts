import assert from "assert/strict";
import { promises as fsp } from "fs";
import net, { type AddressInfo, type Socket } from "net";
import os from "os";
import path from "path";
import { CallCanceller, NexusAbortError, NexusClient, type NexusError } from "../../lib/client";
import { parseHttpDate, parseRetryAfter } from "../../lib/client/retry-policy";
import { refusedUrl, until } from "../support";
import { answer, okEnvelope, rawHttpServer, type RawServer } from "../raw-http-server";

/**
 * Issue 17, second round: whether a request may have reached Genesys is known per attempt and told in words
 * that fit what happened; a connection never made is retried whatever the channel's time-out; a download
 * to a file is retried like any GET; Retry-After is read as RFC 9110 defines it, and nothing else.
 */
describe("client: what reached Genesys, and the words for it", function () {
  this.timeout(30_000);
  const clients: NexusClient[] = [];
  const closers: Array<() => unknown> = [];
  let server: RawServer | undefined;
  const clientFor = (baseUrl: string, extra: Record<string, unknown> = {}): NexusClient => {
    const client = new NexusClient({ baseUrl, channelId: "c", ccid: "x", secret: "s", ...extra });
    clients.push(client);
    return client;
  };
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()));
    for (const close of closers.splice(0)) await close();
    await server?.close();
    server = undefined;
  });

  /** A TCP listener that never speaks: a TLS handshake or a proxy's CONNECT to it never completes. */
  async function silentListener(): Promise<{ port: number; connections: () => number }> {
    const sockets = new Set<Socket>();
    let count = 0;
    const silent = net.createServer((s) => {
      count++;
      sockets.add(s);
      s.on("error", () => undefined);
    });
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    closers.push(() => {
      for (const s of sockets) s.destroy();
      return new Promise((resolve) => silent.close(resolve));
    });
    return { port: (silent.address() as AddressInfo).port, connections: () => count };
  }

  describe("call.sent: an attempt may have reached Genesys", () => {
    it("a send refused on every attempt, stopped while it waits for a retry, was not sent: requestSent false, reachedGenesys no", async () => {
      const client = clientFor(await refusedUrl(), { retries: 8, retryBaseDelay: 300 });
      const canceller = new CallCanceller();
      let retries = 0;
      const sending = client.sendMessage({ a: 1 }, { canceller, onRetry: () => retries++ });
      await until(() => retries >= 2 && canceller.phase === "waiting", 10_000, "a wait after two refusals");
      assert.equal(canceller.sent, false, "no attempt can have reached Genesys");
      canceller.drain();
      await assert.rejects(sending, (err: NexusAbortError) => {
        assert.ok(err instanceof NexusAbortError);
        assert.equal(err.requestSent, false);
        assert.equal(err.reachedGenesys, "no");
        assert.doesNotMatch(err.message, /may have received/);
        return true;
      });
    });

    it("a send answered 503 with Retry-After: 20, stopped while it waits, was not sent: requestSent false, reachedGenesys no", async () => {
      server = await rawHttpServer((_req, socket) => socket.write(answer(503, { status: { code: 503, message: "busy" } }, "Retry-After: 20\r\n")));
      const client = clientFor(server.baseUrl, { retries: 3 });
      const canceller = new CallCanceller();
      const sending = client.sendMessage({ a: 1 }, { canceller });
      await until(() => canceller.phase === "waiting", 5000, "the wait Retry-After asks for");
      assert.equal(canceller.sent, false);
      const started = Date.now();
      canceller.drain();
      await assert.rejects(sending, (err: NexusAbortError) => {
        assert.ok(err instanceof NexusAbortError);
        assert.equal(err.requestSent, false);
        assert.equal(err.reachedGenesys, "no");
        return true;
      });
      assert.ok(Date.now() - started < 1000, "ended at once");
      assert.equal(server.requests.length, 1);
    });

    it("a GET whose earlier attempt was cut mid-answer may have reached Genesys while it waits: sent true", async () => {
      server = await rawHttpServer((_req, socket) => socket.write("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc", () => socket.resetAndDestroy()));
      const client = clientFor(server.baseUrl, { retries: 5, retryBaseDelay: 2000 });
      const canceller = new CallCanceller();
      const downloading = client.downloadMedia("m1", { canceller });
      await until(() => canceller.phase === "waiting", 5000, "a wait after the reset");
      assert.equal(canceller.sent, true);
      canceller.drain();
      await assert.rejects(downloading, (err: NexusAbortError) => err instanceof NexusAbortError && err.requestSent && err.reachedGenesys === "maybe");
    });

    it("an answered call was sent; a call never started was not", async () => {
      server = await rawHttpServer((req, socket) => socket.write(answer(200, okEnvelope(req))));
      const client = clientFor(server.baseUrl);
      const canceller = new CallCanceller();
      assert.equal(canceller.sent, false);
      await client.sendMessage({ a: 1 }, { canceller });
      assert.equal(canceller.sent, true);
    });
  });

  describe("a connection never made is no, and retried, whatever the channel's time-out", () => {
    it("a TLS handshake that never completes within a 1000 ms channel time-out: no, retried, UND_ERR_CONNECT_TIMEOUT", async () => {
      const silent = await silentListener();
      const client = clientFor(`https://127.0.0.1:${silent.port}/nexus/v3`, { timeout: 1000, retries: 1, retryBaseDelay: 10 });
      const reasons: string[] = [];
      await assert.rejects(client.sendMessage({ a: 1 }, { onRetry: (i) => reasons.push(i.reason) }), (err: NexusError & { code?: string }) => {
        assert.equal(err.reachedGenesys, "no");
        assert.equal(err.code, "UND_ERR_CONNECT_TIMEOUT");
        assert.doesNotMatch(err.message, /may have received/);
        assert.match(err.message, /^Could not reach Genesys for POST .* the connection timed out .*base URL/);
        return true;
      });
      assert.deepEqual(reasons, ["UND_ERR_CONNECT_TIMEOUT"], "retried once");
      assert.equal(silent.connections(), 2, "two attempts, each a new connection");
    });

    it("a connection reset before the request was written (during the TLS handshake): no, the POST retried, never 'may have received it'", async () => {
      // The kind of a pooled connection that the server resets while a request waits for it: ECONNRESET
      // before undici starts the request on the connection, so none of it was written.
      let connections = 0;
      const resetter = net.createServer((s) => {
        connections++;
        s.on("error", () => undefined);
        s.once("data", () => s.resetAndDestroy());
      });
      await new Promise<void>((resolve) => resetter.listen(0, "127.0.0.1", resolve));
      closers.push(() => new Promise((resolve) => resetter.close(resolve)));
      const client = clientFor(`https://127.0.0.1:${(resetter.address() as AddressInfo).port}/nexus/v3`, { retries: 2, retryBaseDelay: 10 });
      const reasons: string[] = [];
      await assert.rejects(client.sendMessage({ a: 1 }, { onRetry: (i) => reasons.push(i.reason) }), (err: NexusError & { code?: string }) => {
        assert.equal(err.reachedGenesys, "no");
        assert.equal(err.code, "ECONNRESET");
        assert.doesNotMatch(err.message, /may have received/);
        assert.match(err.message, /^The connection to Genesys was lost before POST .* was sent, so Genesys does not have it: the connection was reset \(ECONNRESET\)/);
        return true;
      });
      assert.deepEqual(reasons, ["ECONNRESET", "ECONNRESET"], "retried as the channel allows");
      assert.equal(connections, 3);
    });

    it("a proxy that accepts TCP but never answers CONNECT: no, retried", async () => {
      const silent = await silentListener();
      server = await rawHttpServer((req, socket) => socket.write(answer(200, okEnvelope(req))));
      const client = clientFor(server.baseUrl, { timeout: 1000, retries: 2, retryBaseDelay: 10, proxy: { url: `http://127.0.0.1:${silent.port}` } });
      let retries = 0;
      await assert.rejects(client.sendMessage({ a: 1 }, { onRetry: () => retries++ }), (err: NexusError) => {
        assert.equal(err.reachedGenesys, "no");
        assert.doesNotMatch(err.message, /may have received/);
        return true;
      });
      assert.equal(retries, 2);
      assert.equal(server.requests.length, 0, "nothing reached the origin");
    });

    it("a request that was written and never answered is still a time-out: maybe, not retried", async () => {
      server = await rawHttpServer(() => undefined);
      const client = clientFor(server.baseUrl, { timeout: 400, retries: 3 });
      await assert.rejects(client.sendMessage({ a: 1 }), (err: NexusError) => {
        assert.equal(err.kind, "timeout");
        assert.equal(err.reachedGenesys, "maybe");
        assert.match(err.message, /^No answer from Genesys within 400 ms to POST .*, which was sent over an open connection\./);
        assert.match(err.message, /may have received it/);
        assert.doesNotMatch(err.message, /base URL/);
        return true;
      });
      assert.equal(server.requests.length, 1);
    });
  });

  describe("a download to a file is retried like any GET", () => {
    let dir: string;
    before(async () => {
      dir = await fsp.mkdtemp(path.join(os.tmpdir(), "nexus-reach-"));
    });
    after(async () => {
      await fsp.rm(dir, { recursive: true, force: true });
    });

    it("reset mid-answer: retried, the file is complete, no partial file is left", async () => {
      const bytes = Buffer.alloc(300_000, 7);
      server = await rawHttpServer((_req, socket) => {
        const head = `HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: ${bytes.length}\r\n\r\n`;
        if (server!.requests.length === 1) socket.write(Buffer.concat([Buffer.from(head), bytes.subarray(0, 20_000)]), () => socket.resetAndDestroy());
        else socket.write(Buffer.concat([Buffer.from(head), bytes]));
      });
      const client = clientFor(server.baseUrl, { retries: 3, retryBaseDelay: 10 });
      const file = path.join(dir, "a.png");
      const result = await client.downloadMediaToFile("m1", file);
      assert.equal(result.bytes, bytes.length);
      assert.ok((await fsp.readFile(file)).equals(bytes));
      assert.equal(server.requests.length, 2);
      assert.deepEqual(await fsp.readdir(dir), ["a.png"], "no partial file");
      await fsp.rm(file);
    });

    it("reset on every attempt: the GET's error does not say 'may have received it', and no partial file is left", async () => {
      server = await rawHttpServer((_req, socket) => socket.write("HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\nabc", () => socket.resetAndDestroy()));
      const client = clientFor(server.baseUrl, { retries: 1, retryBaseDelay: 10 });
      await assert.rejects(client.downloadMediaToFile("m1", path.join(dir, "b.png")), (err: NexusError) => {
        assert.equal(err.reachedGenesys, "maybe");
        assert.doesNotMatch(err.message, /may have received|cannot arrive twice/);
        assert.match(err.message, /^The connection to Genesys was lost before its answer to GET /);
        return true;
      });
      assert.equal(server.requests.length, 2);
      assert.deepEqual(await fsp.readdir(dir), []);
    });
  });

  describe("the words of a failure", () => {
    it("a POST whose connection was lost after it was written says so, and not 'could not reach' nor the base-URL hint", async () => {
      server = await rawHttpServer((_req, socket) => socket.resetAndDestroy());
      const client = clientFor(server.baseUrl, { retries: 3 });
      await assert.rejects(client.sendMessage({ a: 1 }), (err: NexusError) => {
        assert.match(err.message, /^The connection to Genesys was lost before its answer to POST http:\/\/127\.0\.0\.1:\d+\/nexus\/v3\/channels\/c\/messages was complete: /);
        assert.match(err.message, /Genesys may have received it/);
        assert.doesNotMatch(err.message, /Could not reach|base URL/);
        assert.equal(err.reachedGenesys, "maybe");
        return true;
      });
      assert.equal(server.requests.length, 1);
    });

    it("a refused POST could not reach Genesys and points at the base URL", async () => {
      const client = clientFor(await refusedUrl(), { retries: 0 });
      await assert.rejects(client.sendMessage({ a: 1 }), (err: NexusError) => {
        assert.match(err.message, /^Could not reach Genesys for POST .*ECONNREFUSED.*Check the channel's base URL and that the server is up/);
        assert.doesNotMatch(err.message, /may have received/);
        return true;
      });
    });

    it("a DELETE cut without answer may have deleted the media; it never says 'may have received it'", async () => {
      server = await rawHttpServer((_req, socket) => socket.end());
      const client = clientFor(server.baseUrl, { retries: 0 });
      await assert.rejects(client.deleteMedia("m1"), (err: NexusError) => {
        assert.equal(err.reachedGenesys, "maybe");
        assert.match(err.message, /may have deleted the media/);
        assert.doesNotMatch(err.message, /may have received/);
        return true;
      });
    });

    it("an https base URL on a server that does not speak TLS: its own words, no, not 'certificate'", async () => {
      // A plain HTTP server answers a TLS ClientHello as a bad request, as Node's and nginx's do.
      const plain = net.createServer((s) => {
        s.on("error", () => undefined);
        s.once("data", () => s.end("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"));
      });
      await new Promise<void>((resolve) => plain.listen(0, "127.0.0.1", resolve));
      closers.push(() => new Promise((resolve) => plain.close(resolve)));
      const client = clientFor(`https://127.0.0.1:${(plain.address() as AddressInfo).port}/nexus/v3`, { retries: 0 });
      await assert.rejects(client.sendMessage({ a: 1 }), (err: NexusError & { code?: string }) => {
        assert.equal(err.reachedGenesys, "no");
        assert.match(err.message, /did not answer with TLS/);
        assert.match(err.message, /http:\/\//);
        assert.doesNotMatch(err.message, /certificate/);
        return true;
      });
    });
  });

  describe("Retry-After as RFC 9110 defines it", () => {
    const now = Date.UTC(2026, 10, 30, 7, 0, 0);
    it("reads delta-seconds and the three HTTP-date forms", () => {
      assert.equal(parseRetryAfter("120", now), 120_000);
      assert.equal(parseRetryAfter(" 0 ", now), 0);
      assert.equal(parseRetryAfter("Mon, 30 Nov 2026 08:00:00 GMT", now), 3600_000);
      assert.equal(parseRetryAfter("Monday, 30-Nov-26 08:00:00 GMT", now), 3600_000);
      assert.equal(parseRetryAfter("Mon Nov 30 08:00:00 2026", now), 3600_000);
      assert.equal(parseHttpDate("Sun Nov  6 08:49:37 1994"), Date.UTC(1994, 10, 6, 8, 49, 37));
      assert.equal(parseHttpDate("Sunday, 06-Nov-94 08:49:37 GMT", now), Date.UTC(1994, 10, 6, 8, 49, 37));
      assert.equal(parseRetryAfter("Sun, 06 Nov 1994 08:49:37 GMT", now), 0, "a date past is no wait");
    });

    for (const garbled of ["x 2030", "soon", "1.5", "-5", "+5", "5s", "0x10", "30 Nov 2026 08:00:00 GMT", "Mon, 30 Nov 2026 08:00:00", "mon, 30 nov 2026 08:00:00 gmt", "Mon, 31 Feb 2026 08:00:00 GMT", "Mon, 30 Nov 2026 25:00:00 GMT", "2026-11-30T08:00:00Z", "Mon, 30 Nov 2026 08:00:00 GMT x", ""]) {
      it(`ignores ${JSON.stringify(garbled)}`, () => assert.equal(parseRetryAfter(garbled, now), undefined));
    }

    it("a 503 with a garbled Retry-After takes the normal backoff: retried at once, no retryAfter", async () => {
      server = await rawHttpServer((req, socket) =>
        socket.write(server!.requests.length === 1 ? answer(503, { status: { code: 503, message: "busy" } }, "Retry-After: x 2030\r\n") : answer(200, okEnvelope(req))),
      );
      const client = clientFor(server.baseUrl, { retries: 2, retryBaseDelay: 50 });
      const delays: number[] = [];
      const result = await client.sendMessage({ a: 1 }, { onRetry: (i) => delays.push(i.delayMs) });
      assert.equal(result.statusCode, 200);
      assert.equal(delays.length, 1);
      assert.ok(delays[0] <= 50, `backoff ${delays[0]} ms`);
      assert.equal(server.requests.length, 2);
    });
  });
});
