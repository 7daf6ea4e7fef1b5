import assert from "assert/strict";
import { spawn } from "child_process";
import fs from "fs";
import os from "os";
import path from "path";
import { bypassesProxy, proxyUrlFor, NexusClient, NexusInputError, NexusNetworkError, type ChannelOptions } from "../../lib/client";
import { answer, okEnvelope, rawHttpServer, type RawServer } from "../raw-http-server";
import { CCID, CHANNEL, SECRET, delay, until } from "../support";

/** Issue 16: the client on undici. Each fault the hand-written HTTP reader had is a test here. */
describe("the client's HTTP on undici", function () {
  this.timeout(60_000);
  let server: RawServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });
  const options = (baseUrl: string, extra: Partial<ChannelOptions> = {}): ChannelOptions => ({ baseUrl, channelId: CHANNEL, ccid: CCID, secret: SECRET, retries: 0, ...extra });

  describe("header injection", () => {
    for (const [field, extra] of [
      ["contact center id", { ccid: "cc\u010d\u010aX-Injected: yes" }],
      ["API key", { apiKey: "key\u010d\u010aX-Injected: yes" }],
      ["user agent", { userAgent: "agent\u010aX-Injected: yes" }],
      ["contact center id", { ccid: "cc\u0100" }],
      ["API key", { apiKey: "k\u0085x" }],
      ["API key", { apiKey: "k\rX-Injected: yes" }],
      ["user agent", { userAgent: "a\u0000b" }],
    ] as const) {
      it(`refuses ${JSON.stringify(Object.values(extra)[0])} as ${field} before any request, naming the field`, async () => {
        server = await rawHttpServer((req, socket) => socket.write(answer(200, okEnvelope(req))));
        assert.throws(
          () => new NexusClient(options(server!.baseUrl, extra)),
          (err: unknown) => err instanceof NexusInputError && err.message.includes(field) && err.reachedGenesys === "no",
        );
        assert.equal(server.opened(), 0);
      });
    }

    it("sends visible latin1 in a header as it is", async () => {
      server = await rawHttpServer((req, socket) => socket.write(answer(200, okEnvelope(req))));
      const client = new NexusClient(options(server.baseUrl, { apiKey: "schlüssel-é" }));
      try {
        await client.sendMessage({});
        assert.equal(Buffer.from(server.requests[0].headers["x-api-key"], "latin1").toString("latin1"), "schlüssel-é");
      } finally {
        await client.close();
      }
    });
  });

  describe("answers the reader must refuse", () => {
    const HOSTILE: Record<string, string> = {
      "CR inside a header value": "HTTP/1.1 200 OK\r\nContent-Type: image/png\rX-Evil: 1\r\nContent-Length: 2\r\n\r\nok",
      "LF inside a header value": "HTTP/1.1 200 OK\r\nContent-Type: image/png\nX-Evil: 1\r\nContent-Length: 2\r\n\r\nok",
      "NUL inside a header value": "HTTP/1.1 200 OK\r\nContent-Type: image/png\0X-Evil: 1\r\nContent-Length: 2\r\n\r\nok",
      "Content-Length together with chunked": "HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
      "whitespace before a header's colon": "HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length : 2\r\n\r\nok",
      "bare LF line ends": "HTTP/1.1 200 OK\nContent-Type: image/png\nContent-Length: 2\n\nok",
      "an obs-fold continuation line": "HTTP/1.1 200 OK\r\nContent-Type: image/png\r\n Transfer-Encoding: chunked\r\nContent-Length: 2\r\n\r\nok",
      "101 Switching Protocols followed by bytes": "HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\nConnection: upgrade\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
      "101 Switching Protocols without Upgrade, followed by bytes": "HTTP/1.1 101 Switching Protocols\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
      "a C1 control inside Content-Type": "HTTP/1.1 200 OK\r\nContent-Type: image/png\x9b2J\x85x\r\nContent-Length: 2\r\n\r\nok",
      "DEL inside Content-Type": "HTTP/1.1 200 OK\r\nContent-Type: image/png\x7fx\r\nContent-Length: 2\r\n\r\nok",
    };
    for (const [what, bytes] of Object.entries(HOSTILE)) {
      it(`fails at once on ${what}, and discards the connection`, async () => {
        server = await rawHttpServer((req, socket) => {
          // The first download gets the hostile answer, on the connection a send opened; all else a good one.
          const first = req.method === "GET" && server!.requests.filter((r) => r.method === "GET").length === 1;
          socket.write(first ? Buffer.from(bytes, "latin1") : answer(200, okEnvelope(req)));
        });
        const client = new NexusClient(options(server.baseUrl, { timeout: 30_000 }));
        try {
          await client.sendMessage({});
          // Let the connection go idle, so that the download reuses it.
          await delay(20);
          const started = Date.now();
          await assert.rejects(client.downloadMedia("m-1"), (err: unknown) => {
            assert.ok(err instanceof NexusNetworkError, String(err));
            assert.equal(err.reachedGenesys, "maybe");
            // undici reads a 101 to a request that asked for no upgrade as the end of the connection.
            assert.match(err.message, what.startsWith("101 Switching Protocols followed") ? /the server closed it/ : /does not follow HTTP\/1\.1/);
            return true;
          });
          assert.ok(Date.now() - started < 2000, "an error at once, not at the channel's time-out");
          const hostile = server.requests.find((r) => r.method === "GET")!.connection;
          await until(() => server!.closed.has(hostile), 2000, "the connection to be discarded");
          await delay(20);
          await client.sendMessage({});
          assert.notEqual(server.requests.at(-1)?.connection, hostile, "the next request goes on another connection");
        } finally {
          await client.close();
        }
      });
    }
  });

  it("a download to a file answered with a C1 control in Content-Type fails as a protocol error and leaves no file", async () => {
    server = await rawHttpServer((_req, socket) => socket.write(Buffer.from("HTTP/1.1 200 OK\r\nContent-Type: image/png\x85x\r\nContent-Length: 2\r\n\r\nok", "latin1")));
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "nexus-c1-"));
    const client = new NexusClient(options(server.baseUrl));
    try {
      await assert.rejects(client.downloadMediaToFile("m-1", path.join(dir, "photo.png")), (err: unknown) => err instanceof NexusNetworkError && err.code === "EPROTO");
      assert.deepEqual(fs.readdirSync(dir), []);
    } finally {
      await client.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("the keep-alive race: a server that closes idle connections after 200 ms, a send every ~200 ms: at most 1 of 150 fails", async function () {
    this.timeout(120_000);
    // The server runs in a process of its own, as Genesys does: its idle timer does not share our event loop.
    const serverScript = `
      const net = require("net");
      let opened = 0;
      const body = JSON.stringify({ status: { code: 0, message: "OK" }, data: { ids: [{ id: "x" }] } });
      const server = net.createServer((socket) => {
        opened++;
        let pending = "";
        let received = 0;
        let idle;
        socket.on("error", () => {});
        socket.on("data", (chunk) => {
          received++;
          pending += chunk.toString("latin1");
          for (;;) {
            const end = pending.indexOf("\\r\\n\\r\\n");
            if (end < 0) return;
            const length = Number((/content-length: *(\\d+)/i.exec(pending.slice(0, end)) || [0, 0])[1]);
            if (pending.length < end + 4 + length) return;
            pending = pending.slice(end + 4 + length);
            clearTimeout(idle);
            socket.write("HTTP/1.1 200 OK\\r\\nContent-Type: application/json\\r\\nContent-Length: " + body.length + "\\r\\n\\r\\n" + body, () => {
              // Idle means nothing arrived: bytes already waiting in the socket (read before the check phase)
              // are a request, not idleness, even when a busy machine ran this timer late.
              idle = setTimeout(() => {
                const seen = received;
                setImmediate(() => {
                  if (received === seen && pending === "") socket.end();
                });
              }, 200);
            });
          }
        });
      });
      server.listen(0, "127.0.0.1", () => console.log("port " + server.address().port));
      process.stdin.on("data", () => console.log("opened " + opened));
      process.stdin.on("end", () => process.exit(0));
    `;
    const child = spawn(process.execPath, ["-e", serverScript], { stdio: ["pipe", "pipe", "inherit"] });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    try {
      await until(() => /port \d+/.test(out), 10_000, "the server to start");
      const port = Number(/port (\d+)/.exec(out)![1]);
      const client = new NexusClient(options(`http://127.0.0.1:${port}/nexus/v3`, { retries: 0, timeout: 5000 }));
      let failed = 0;
      const errors: string[] = [];
      try {
        // A send about every 200 ms: each one just as the server closes the connection the last one used, so
        // that its FIN and the next send meet (undici before 7.28 wrote into such a connection).
        for (let i = 0; i < 150; i++) {
          await client.sendMessage({ n: i }).catch((err: Error) => {
            failed++;
            errors.push(err.message);
          });
          await delay(202);
        }
      } finally {
        await client.close();
      }
      child.stdin.write("?");
      await until(() => /opened \d+/.test(out), 5000, "the count of connections");
      assert.ok(failed <= 1, `${failed} of 150 failed: ${errors.slice(0, 2).join(" | ")}`);
      assert.ok(Number(/opened (\d+)/.exec(out)![1]) > 100, "the server closed the idle connections, and the client opened new ones");
    } finally {
      child.stdin.end();
      child.kill();
    }
  });

  it("a plain script that sends once and never calls close() exits within about a second", async () => {
    server = await rawHttpServer((req, socket) => socket.write(answer(200, okEnvelope(req))));
    const script = `
      const { NexusClient } = require(${JSON.stringify(path.resolve(__dirname, "../../lib/client"))});
      const client = new NexusClient({ baseUrl: ${JSON.stringify(server.baseUrl)}, channelId: "c", ccid: "x", secret: "s" });
      client.sendMessage({ text: "once" }).then((r) => console.log("sent " + r.statusCode + " " + Date.now()));
    `;
    const child = spawn(process.execPath, ["-r", "tsx/cjs", "-e", script], { cwd: path.resolve(__dirname, "../.."), stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    const exited = await new Promise<number>((resolve) => child.on("exit", () => resolve(Date.now())));
    const sent = /sent 200 (\d+)/.exec(out);
    assert.ok(sent, `the script sent: ${out}`);
    assert.ok(exited - Number(sent[1]) < 1200, `exited ${exited - Number(sent[1])} ms after sending`);
  });

  describe("one no-proxy rule for NO_PROXY and the proxy node", () => {
    const target = new URL("https://api.example.com:8443/nexus/v3");
    for (const [list, bypass] of [
      ["*", true],
      ["example.com", true],
      [".example.com", true],
      ["*.example.com", true],
      ["api.example.com:8443", true],
      ["api.example.com:443", false],
      ["example.org, other.example.com", false],
      ["ample.com", false],
      ["", false],
      ["foo.net *", true],
    ] as const) {
      it(`${JSON.stringify(list)} ${bypass ? "goes direct" : "goes through the proxy"}`, () => {
        assert.equal(bypassesProxy(target, list), bypass);
        const proxy = "http://proxy.local:3128";
        assert.equal(proxyUrlFor(target, { url: proxy, noProxy: list.split(/,\s*/) }, {}) === undefined, bypass, "from the proxy node");
        assert.equal(proxyUrlFor(target, undefined, { HTTPS_PROXY: proxy, NO_PROXY: list }) === undefined, bypass, "from the environment");
      });
    }
    it("matches a port-less target by its default port, and IPv6 in brackets", () => {
      assert.equal(bypassesProxy(new URL("http://127.0.0.1/x"), "127.0.0.1:80"), true);
      assert.equal(bypassesProxy(new URL("https://[::1]/x"), "[::1]"), true);
    });
    it("puts the proxy node's credentials into the proxy URL, never the environment's rule aside", () => {
      assert.equal(proxyUrlFor(target, { url: "http://proxy.local:3128", username: "u s", password: "p@ss" }, {}), "http://u%20s:p%40ss@proxy.local:3128/");
      assert.equal(proxyUrlFor(target, false, { HTTPS_PROXY: "http://p:1" }), undefined);
      assert.equal(proxyUrlFor(new URL("http://h/x"), undefined, { HTTPS_PROXY: "http://p:1" }), undefined, "HTTPS_PROXY is for https targets");
      assert.equal(proxyUrlFor(target, undefined, { HTTP_PROXY: "http://p:1" }), "http://p:1/", "an https target falls back to HTTP_PROXY");
    });
  });
});
