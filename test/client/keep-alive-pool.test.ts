import assert from "assert/strict";
import net from "net";
import { NexusClient, NexusError, NexusHttpError, NexusNetworkError } from "../../lib/client";
import { API_KEY, CCID, CHANNEL, SECRET, delay } from "../support";

/**
 * A server that speaks raw bytes: each request gets the answer the test writes, byte for byte, so that the
 * client's own HTTP/1.1 reader meets every framing a server may use, and the broken ones.
 */
async function rawServer(answer: (request: string, socket: net.Socket, index: number) => void): Promise<{ baseUrl: string; connections: number; requests: string[]; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const state = { connections: 0, requests: [] as string[] };
  const server = net.createServer((socket) => {
    state.connections++;
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    let pending = "";
    socket.on("data", (d) => {
      pending += d.toString("latin1");
      for (;;) {
        const end = pending.indexOf("\r\n\r\n");
        if (end < 0) return;
        const head = pending.slice(0, end);
        const length = Number(/content-length: (\d+)/i.exec(head)?.[1] ?? 0);
        if (pending.length < end + 4 + length) return;
        const request = pending.slice(0, end + 4 + length);
        pending = pending.slice(end + 4 + length);
        state.requests.push(request);
        answer(request, socket, state.requests.length - 1);
      }
    });
    socket.on("error", () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    baseUrl: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}/nexus/v3`,
    get connections() {
      return state.connections;
    },
    requests: state.requests,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

const envelope = '{"status":{"code":0,"message":"OK"},"data":{"ids":[{"id":"x"}]}}';
const make = (baseUrl: string): NexusClient => new NexusClient({ baseUrl, channelId: CHANNEL, ccid: CCID, secret: SECRET, apiKey: API_KEY, retries: 0, timeout: 2000 });

describe("the client's own HTTP/1.1 over keep-alive connections", () => {
  it("sends one well-formed request and reuses the connection for the next ones", async () => {
    const server = await rawServer((_req, socket) => socket.write(`HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ${envelope.length}\r\n\r\n${envelope}`));
    const client = make(server.baseUrl);
    try {
      for (let i = 0; i < 5; i++) assert.equal((await client.sendMessage({ n: i })).statusCode, 200);
      assert.equal(server.connections, 1, "one connection for five requests");
      const first = server.requests[0];
      assert.match(first, /^POST \/nexus\/v3\/channels\/sms-test-channel\/messages HTTP\/1\.1\r\n/);
      assert.match(first, /\r\nHost: 127\.0\.0\.1:\d+\r\n/);
      assert.match(first, /\r\nContent-Length: 7\r\n\r\n\{"n":0\}$/);
      assert.match(first, /\r\nX-Hub-Signature: sha1=[0-9a-f]{40}\r\n/);
    } finally {
      await client.close();
      await server.close();
    }
  });

  it("reads chunked answers with extensions and trailers, skips 100 Continue, and reads to the end of an HTTP/1.0 answer", async () => {
    const answers = [
      `HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\n${envelope.slice(0, 5)}\r\n${(envelope.length - 5).toString(16)}\r\n${envelope.slice(5)}\r\n0\r\nX-Trailer: t\r\n\r\n`,
      `HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n${envelope}`,
    ];
    const server = await rawServer((_req, socket, i) => {
      socket.write(answers[i]);
      if (i === 1) socket.end();
    });
    const client = make(server.baseUrl);
    try {
      assert.deepEqual((await client.sendMessage({ a: 1 })).payload, JSON.parse(envelope));
      assert.deepEqual((await client.sendMessage({ a: 2 })).payload, JSON.parse(envelope));
    } finally {
      await client.close();
      await server.close();
    }
  });

  it("answers split into single bytes are read the same", async () => {
    const answer = `HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n${envelope.length.toString(16)}\r\n${envelope}\r\n0\r\n\r\n`;
    const server = await rawServer(async (_req, socket) => {
      for (const ch of answer) {
        socket.write(ch);
        await delay(0);
      }
    });
    const client = make(server.baseUrl);
    try {
      assert.deepEqual((await client.sendMessage({})).payload, JSON.parse(envelope));
    } finally {
      await client.close();
      await server.close();
    }
  });

  for (const [what, bytes, check] of [
    ["a malformed status line", "HTTP/2 200 OK\r\n\r\n", (e: unknown) => e instanceof NexusNetworkError && e.code === "EPROTO"],
    ["a malformed header", "HTTP/1.1 200 OK\r\nno colon here\r\n\r\n", (e: unknown) => e instanceof NexusNetworkError && e.code === "EPROTO"],
    ["a malformed chunk size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", (e: unknown) => e instanceof NexusNetworkError && e.code === "EPROTO"],
    ["a body shorter than its Content-Length, then the end", "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort", (e: unknown) => e instanceof NexusNetworkError && e.code === "ECONNRESET"],
    ["endless headers", `HTTP/1.1 200 OK\r\n${"X-A: b\r\n".repeat(20_000)}`, (e: unknown) => e instanceof NexusNetworkError && e.code === "EPROTO"],
    ["a Content-Length past the limit", "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 99999999999\r\n\r\n", (e: unknown) => e instanceof NexusError && e.kind === "too-large"],
  ] as Array<[string, string, (e: unknown) => boolean]>) {
    it(`fails cleanly on ${what}`, async () => {
      const server = await rawServer((_req, socket) => {
        socket.write(bytes);
        if (/shorter/.test(what)) socket.end();
      });
      const client = make(server.baseUrl);
      try {
        await assert.rejects(client.sendMessage({}), check);
      } finally {
        await client.close();
        await server.close();
      }
    });
  }

  it("keeps the start of an error answer and does not reuse its connection", async () => {
    const server = await rawServer((_req, socket, i) => {
      if (i === 0) socket.write(`HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: 200000\r\n\r\n{"status":{"code":503,"message":"busy"}}${" ".repeat(199_960)}`);
      else socket.write(`HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ${envelope.length}\r\n\r\n${envelope}`);
    });
    const client = make(server.baseUrl);
    try {
      await assert.rejects(client.sendMessage({}), (e: unknown) => e instanceof NexusHttpError && e.statusCode === 503);
      assert.equal((await client.sendMessage({})).statusCode, 200);
      assert.equal(server.connections, 2, "the truncated answer's connection was dropped");
    } finally {
      await client.close();
      await server.close();
    }
  });

  it("opens a new connection when the server closed an idle one, or names a keep-alive time-out that passed", async () => {
    const server = await rawServer((_req, socket, i) => {
      socket.write(`HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nKeep-Alive: timeout=1\r\nContent-Length: ${envelope.length}\r\n\r\n${envelope}`);
      if (i === 0) setTimeout(() => socket.destroy(), 20);
    });
    const client = make(server.baseUrl);
    try {
      await client.sendMessage({});
      await delay(100);
      await client.sendMessage({}); // the first connection is gone: a new one
      await client.sendMessage({}); // timeout=1 leaves no margin: not reused either
      assert.equal(server.connections, 3);
    } finally {
      await client.close();
      await server.close();
    }
  });
});
