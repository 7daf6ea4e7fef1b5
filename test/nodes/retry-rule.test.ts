import assert from "assert/strict";
import { promises as fsp } from "fs";
import type { Socket } from "net";
import os from "os";
import path from "path";
import { Readable } from "stream";
import { NexusClient } from "../../lib/client";
import { freePort, helper, until, watchCrashes } from "../support";
import { answer, okEnvelope, rawHttpServer, type RawServer } from "../raw-http-server";
import { flowFor, load, outcome, type Loaded, type Msg } from "./flow";

/**
 * Issue 17: a POST is sent again only when Genesys cannot have it (no connection, 429, 503); what may have
 * arrived goes to Catch at once, with msg.reachedGenesys "maybe" and the words "may have received it".
 */
describe("the retry rule: never send a consumer's message twice", function () {
  this.timeout(60_000);
  const crashes = watchCrashes();
  let dir: string;
  let server: RawServer | undefined;

  before(async () => {
    dir = await fsp.mkdtemp(path.join(os.tmpdir(), "nexus-retry-"));
  });
  after(async () => {
    await fsp.rm(dir, { recursive: true, force: true });
  });
  afterEach(async () => {
    await helper.unload();
    await server?.close();
    server = undefined;
    assert.deepEqual(crashes, [], "no unhandled rejection or exception");
  });

  const PARTIAL = 'HTTP/1.1 200 OK\r\nContent-Length: 67\r\n\r\n{"status":{"co';
  /** What the server does once it has read the whole request that must not arrive twice. */
  const BEHAVIOURS: Record<string, (socket: Socket) => void> = {
    "a partial answer, then FIN": (s) => s.end(PARTIAL),
    "a partial answer, then RST": (s) => s.write(PARTIAL, () => s.resetAndDestroy()),
    "a close without answer (FIN)": (s) => s.end(),
    "a close without answer (RST)": (s) => s.resetAndDestroy(),
    "a complete answer that cannot be framed": (s) =>
      s.end('HTTP/1.1 200 OK\r\nContent-Length : 67\r\n\r\n{"status":{"code":0,"message":"OK"},"data":{"ids":[{"id":"x1234567"}]}}'),
  };
  const NODES: Record<string, { node: Record<string, unknown>; msg: () => Promise<Msg> }> = {
    send: { node: { type: "genesys-nexus-send" }, msg: async () => ({ payload: { type: "Text", text: "hello" } }) },
    "file upload": {
      node: { type: "genesys-nexus-upload" },
      msg: async () => {
        const file = path.join(dir, `photo-${Math.random().toString(16).slice(2)}.png`);
        await fsp.writeFile(file, Buffer.alloc(200_000, 9));
        return { filename: file };
      },
    },
    "stream upload": { node: { type: "genesys-nexus-upload" }, msg: async () => ({ payload: Readable.from([Buffer.from("ab"), Buffer.from("cd")]), filename: "s.txt" }) },
  };

  for (const [what, node] of Object.entries(NODES)) {
    for (const [behaviour, act] of Object.entries(BEHAVIOURS)) {
      for (const reused of [false, true]) {
        it(`${what}: ${behaviour} on a ${reused ? "reused" : "fresh"} connection reaches Catch once, never sent again`, async () => {
          const victim = "0badc0ffee0000000000000000000001";
          server = await rawHttpServer((req, socket) => {
            if (req.headers["x-b3-traceid"] === victim) act(socket);
            else socket.write(answer(200, okEnvelope(req)));
          });
          const loaded = await load(flowFor(server, node.node, { retries: 3 }));
          if (reused) {
            assert.equal((await outcome(loaded, await node.msg())).kind, "output");
          }
          const ended = await outcome(loaded, { ...(await node.msg()), traceId: victim });
          assert.equal(ended.kind, "error", "the message goes to Catch, not the output");
          const seen = server.requests.filter((r) => r.headers["x-b3-traceid"] === victim);
          assert.equal(seen.length, 1, "the server saw the request exactly once");
          if (reused) assert.equal(seen[0].connection, server.requests[0].connection, "it went on the reused connection");
          assert.match(ended.msg.error.message, /may have received it/);
          assert.match(ended.msg.error.message, new RegExp(victim));
          assert.equal(ended.msg.reachedGenesys, "maybe");
          assert.equal(ended.msg.traceId, victim);
        });
      }
    }
  }

  it("502 and 504 to a send are not sent again: maybe", async () => {
    for (const status of [502, 504]) {
      server = await rawHttpServer((_req, socket) => socket.write(answer(status, "<html>gateway</html>")));
      const loaded = await load(flowFor(server, { type: "genesys-nexus-send" }, { retries: 3 }));
      const ended = await outcome(loaded, { payload: { text: "x" } });
      assert.equal(ended.kind, "error");
      assert.equal(ended.msg.statusCode, status);
      assert.equal(ended.msg.reachedGenesys, "maybe");
      assert.match(ended.msg.error.message, /may have received it/);
      assert.equal(server.requests.length, 1);
      await helper.unload();
      await server.close();
    }
    server = undefined;
  });

  it("a send that times out is not sent again: maybe", async () => {
    server = await rawHttpServer(() => undefined);
    const loaded = await load(flowFor(server, { type: "genesys-nexus-send" }, { retries: 3, timeout: 300 }));
    const ended = await outcome(loaded, { payload: { text: "x" } });
    assert.equal(ended.kind, "error");
    assert.equal(ended.msg.reachedGenesys, "maybe");
    assert.match(ended.msg.error.message, /may have received it/);
    assert.equal(server.requests.length, 1);
  });

  it("a connection refused while the server is down, then up: delivered, seen exactly once", async () => {
    const port = await freePort();
    const loaded = await load(flowFor({ baseUrl: `http://127.0.0.1:${port}/nexus/v3` }, { type: "genesys-nexus-send" }, { retries: 3 }));
    const ending = outcome(loaded, { payload: { text: "refused first" } }, 15_000);
    // The first attempt was refused once the node shows a retry; then the server comes up.
    await until(() => loaded.statuses.some((s) => s.fill === "yellow"), 5000, "a retry after the refusal");
    server = await rawHttpServer((req, socket) => socket.write(answer(200, okEnvelope(req))), port);
    const ended = await ending;
    assert.equal(ended.kind, "output");
    assert.equal(server.requests.length, 1);
  });

  it("503 twice, then 200: delivered, three attempts, one output", async () => {
    server = await rawHttpServer((req, socket) =>
      socket.write(server!.requests.length <= 2 ? answer(503, { status: { code: 503, message: "busy" } }) : answer(200, okEnvelope(req))),
    );
    const loaded = await load(flowFor(server, { type: "genesys-nexus-send" }, { retries: 3 }));
    const ended = await outcome(loaded, { payload: { text: "x" }, traceId: "samesame" });
    assert.equal(ended.kind, "output");
    assert.equal(server.requests.length, 3);
    assert.deepEqual(new Set(server.requests.map((r) => r.headers["x-b3-traceid"])), new Set(["samesame"]), "one trace id on every attempt");
  });

  it("msg.reachedGenesys: no for a connection never made, for 429 and 503; yes for any other answer", async () => {
    let loaded = await load(flowFor({ baseUrl: `http://127.0.0.1:${await freePort()}/nexus/v3` }, { type: "genesys-nexus-send" }, { retries: 0 }));
    let ended = await outcome(loaded, { payload: { text: "x" } });
    assert.equal(ended.msg.reachedGenesys, "no");
    assert.doesNotMatch(ended.msg.error.message, /may have received/);
    await helper.unload();
    for (const [status, reach] of [[429, "no"], [503, "no"], [400, "yes"], [401, "yes"], [404, "yes"], [500, "yes"]] as const) {
      server = await rawHttpServer((_req, socket) => socket.write(answer(status, { status: { code: status, message: "no" } })));
      loaded = await load(flowFor(server, { type: "genesys-nexus-send" }, { retries: 0 }));
      ended = await outcome(loaded, { payload: { text: "x" } });
      assert.equal(ended.kind, "error");
      assert.equal(ended.msg.statusCode, status);
      assert.equal(ended.msg.reachedGenesys, reach, `${status}`);
      assert.equal(ended.msg.retryAfter, undefined);
      await helper.unload();
      await server.close();
    }
    server = undefined;
    // Bad input never leaves: no.
    server = await rawHttpServer(() => undefined);
    loaded = await load(flowFor(server, { type: "genesys-nexus-send" }));
    ended = await outcome(loaded, { payload: 42 });
    assert.equal(ended.msg.reachedGenesys, "no");
    assert.equal(server.requests.length, 0);
  });

  for (const [what, header, expected] of [
    ["Retry-After: 1128", () => "1128", 1128],
    ["an HTTP date an hour ahead", () => new Date(Date.now() + 3600_000).toUTCString(), 3600],
  ] as const) {
    it(`429 with ${what}: one request, Catch at once with msg.retryAfter`, async () => {
      server = await rawHttpServer((_req, socket) => socket.write(answer(429, { status: { code: 429, message: "slow down" } }, `Retry-After: ${header()}\r\n`)));
      const loaded = await load(flowFor(server, { type: "genesys-nexus-send" }, { retries: 3 }));
      const started = Date.now();
      const ended = await outcome(loaded, { payload: { text: "x" } });
      assert.ok(Date.now() - started < 5000, "Catch within 5 s");
      assert.equal(ended.kind, "error");
      assert.equal(ended.msg.statusCode, 429);
      assert.equal(ended.msg.reachedGenesys, "no");
      assert.ok(Math.abs(ended.msg.retryAfter - expected) <= 2, `retryAfter ${ended.msg.retryAfter}`);
      assert.equal(server.requests.length, 1);
    });
  }

  it("a GET reset mid-answer is retried and succeeds", async () => {
    const bytes = Buffer.alloc(50_000, 5);
    server = await rawHttpServer((_req, socket) => {
      const head = `HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: ${bytes.length}\r\n\r\n`;
      if (server!.requests.length === 1) socket.write(Buffer.concat([Buffer.from(head), bytes.subarray(0, 1000)]), () => socket.resetAndDestroy());
      else socket.write(Buffer.concat([Buffer.from(head), bytes]));
    });
    const loaded: Loaded = await load(flowFor(server, { type: "genesys-nexus-download", mediaId: "m-1", mediaIdType: "str" }, { retries: 3 }));
    const ended = await outcome(loaded, {});
    assert.equal(ended.kind, "output");
    assert.ok((ended.msg.payload as Buffer).equals(bytes));
    assert.equal(server.requests.length, 2);
  });

  it("a short Retry-After on 429/503 is on the error as retryAfterMs; CallOptions.retries 0 makes one attempt", async () => {
    server = await rawHttpServer((_req, socket) => socket.write(answer(429, "slow", "Retry-After: 2\r\n")));
    const client = new NexusClient({ baseUrl: server.baseUrl, channelId: "c", ccid: "x", secret: "s", retries: 3 });
    try {
      await assert.rejects(client.sendMessage({}, { retries: 0 }), (err: { statusCode?: number; retryAfterMs?: number; retryAfterSeconds?: number }) => {
        assert.equal(err.statusCode, 429);
        assert.equal(err.retryAfterMs, 2000);
        assert.equal(err.retryAfterSeconds, undefined, "shorter than the channel waits: not a too-long wait");
        return true;
      });
      assert.equal(server.requests.length, 1, "no client retry");
    } finally {
      await client.close();
    }
  });

  it("a failure removes a stale msg.statusCode and msg.retryAfter; a success removes a stale retryAfter and reachedGenesys", async () => {
    server = await rawHttpServer((req, socket) => {
      if (req.headers["x-b3-traceid"] === "0badc0ffee0000000000000000000002") socket.resetAndDestroy();
      else socket.write(answer(200, okEnvelope(req)));
    });
    const loaded = await load(flowFor(server, { type: "genesys-nexus-send" }, { retries: 0 }));
    const failed = await outcome(loaded, { payload: { type: "Text", text: "x" }, statusCode: 200, retryAfter: 99, traceId: "0badc0ffee0000000000000000000002" });
    assert.equal(failed.kind, "error");
    assert.equal("statusCode" in failed.msg, false, "no answer came: no msg.statusCode");
    assert.equal("retryAfter" in failed.msg, false);
    assert.equal(failed.msg.reachedGenesys, "maybe");
    const ok = await outcome(loaded, { payload: { type: "Text", text: "y" }, statusCode: 500, retryAfter: 99, reachedGenesys: "no" });
    assert.equal(ok.kind, "output");
    assert.equal(ok.msg.statusCode, 200);
    assert.equal("retryAfter" in ok.msg, false);
    assert.equal("reachedGenesys" in ok.msg, false);
  });

  it("503 over the channel's longest wait, from the client: retryAfterSeconds, reachedGenesys no", async () => {
    server = await rawHttpServer((_req, socket) => socket.write(answer(503, "down", "Retry-After: 45\r\n")));
    const client = new NexusClient({ baseUrl: server.baseUrl, channelId: "c", ccid: "x", secret: "s", retries: 3 });
    try {
      await assert.rejects(client.sendMessage({}), (err: { statusCode?: number; retryAfterSeconds?: number; reachedGenesys?: string }) => {
        assert.equal(err.statusCode, 503);
        assert.equal(err.retryAfterSeconds, 45);
        assert.equal(err.reachedGenesys, "no");
        return true;
      });
      assert.equal(server.requests.length, 1);
    } finally {
      await client.close();
    }
  });
});


