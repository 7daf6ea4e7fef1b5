import assert from "assert/strict";
import { execFileSync, spawn } from "child_process";
import fs from "fs";
import http from "http";
import https from "https";
import net from "net";
import os from "os";
import path from "path";
import { TLSSocket } from "tls";
import type { NexusSimulator } from "../../lib/simulator";
import { NexusClient, NexusNetworkError } from "../../lib/client";
import { API_KEY, CCID, CHANNEL, SECRET, coreNode, helper, simulator } from "../support";
import { expectError, expectOutput, FLOW_NODES, flowFor } from "../nodes/flow";

/** A certificate authority, a server certificate for 127.0.0.1 and a client certificate, made with openssl. */
function makeCertificates(dir: string): Record<string, string> {
  const run = (...args: string[]): void => {
    execFileSync("openssl", args, { cwd: dir, stdio: "ignore" });
  };
  run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", "/CN=Nexus Test CA");
  fs.writeFileSync(path.join(dir, "server.ext"), "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
  run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1");
  run("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-out", "server.crt", "-days", "2", "-extfile", "server.ext");
  run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "client.key", "-out", "client.csr", "-subj", "/CN=node-red");
  run("x509", "-req", "-in", "client.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-out", "client.crt", "-days", "2");
  return Object.fromEntries(["ca.crt", "server.key", "server.crt", "client.key", "client.crt"].map((f) => [f, path.join(dir, f)]));
}

/** A forward proxy on loopback that tunnels CONNECT requests, counting them. */
async function forwardProxy(tls?: https.ServerOptions): Promise<{ url: string; tunnels: string[]; auth: string[]; peerCertificates: boolean[]; close(): Promise<void> }> {
  const tunnels: string[] = [];
  /** For an https:// proxy: whether each tunnel's client showed a certificate. */
  const peerCertificates: boolean[] = [];
  const auth: string[] = [];
  const sockets = new Set<net.Socket>();
  const refuse = (_req: http.IncomingMessage, res: http.ServerResponse): void => {
    res.writeHead(405);
    res.end();
  };
  // With `tls`, an https:// proxy: the client speaks TLS to the proxy, then TLS to the API inside the tunnel.
  const server = tls ? https.createServer(tls, refuse) : http.createServer(refuse);
  server.on("connect", (req: http.IncomingMessage, client: net.Socket, head: Buffer) => {
    tunnels.push(String(req.url));
    auth.push(String(req.headers["proxy-authorization"] ?? ""));
    if (client instanceof TLSSocket) peerCertificates.push(Object.keys(client.getPeerCertificate()).length > 0);
    const [host, port] = String(req.url).split(":");
    const upstream = net.connect(Number(port), host, () => {
      client.write("HTTP/1.1 200 Connection Established\r\n\r\n");
      upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on("close", () => sockets.delete(s));
      s.on("error", () => undefined);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `${tls ? "https" : "http"}://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    tunnels,
    auth,
    peerCertificates,
    close: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

describe("TLS and proxies", function () {
  this.timeout(60_000);
  let dir: string;
  let certs: Record<string, string>;
  let sim: NexusSimulator;
  const tlsNode = coreNode("network/05-tls.js");
  const proxyNode = coreNode("network/06-httpproxy.js");

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "nexus-tls-"));
    certs = makeCertificates(dir);
    sim = await simulator({ tls: { key: fs.readFileSync(certs["server.key"]), cert: fs.readFileSync(certs["server.crt"]) } });
  });
  after(async () => {
    await sim.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  afterEach(() => helper.unload());

  const tlsConfig = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({
    id: "tls1",
    type: "tls-config",
    name: "test CA",
    cert: "",
    key: "",
    ca: certs["ca.crt"],
    verifyservercert: true,
    ...extra,
  });

  /** `credentials`: of the extra nodes, by id (a proxy node's user name and password). */
  async function loadWith(extraNodes: object[], channel: Record<string, unknown>, credentials: Record<string, object> = {}): Promise<Awaited<ReturnType<typeof import("../nodes/flow").load>>> {
    await helper.load([...FLOW_NODES, tlsNode, proxyNode], [...flowFor(sim, { type: "genesys-nexus-send" }, channel), ...extraNodes], {
      chan: { secret: SECRET, apiKey: API_KEY },
      ...credentials,
    });
    const n1 = helper.getNode("n1");
    return { n1, out: helper.getNode("out"), caught: helper.getNode("caught"), statuses: [] };
  }

  it("talks HTTPS to a server whose CA the channel's tls-config node names", async () => {
    assert.match(sim.baseUrl, /^https:/);
    const loaded = await loadWith([tlsConfig()], { tls: "tls1" });
    const res = await expectOutput(loaded, { payload: { messageId: "tls-1" } });
    assert.equal(res.statusCode, 200);
  });

  it("refuses a server certificate it cannot verify, with a clear text, unless verification is off", async () => {
    let loaded = await loadWith([], {});
    const err = await expectError(loaded, { payload: {} });
    assert.match(err.error.message, /TLS certificate could not be verified/);
    await helper.unload();
    loaded = await loadWith([tlsConfig({ ca: "", verifyservercert: false })], { tls: "tls1" });
    assert.equal((await expectOutput(loaded, { payload: { messageId: "tls-2" } })).statusCode, 200);
  });

  it("presents a client certificate to a server that asks for one", async () => {
    const mutual = await simulator({
      tls: { key: fs.readFileSync(certs["server.key"]), cert: fs.readFileSync(certs["server.crt"]), ca: fs.readFileSync(certs["ca.crt"]), requestCert: true },
    });
    try {
      const base = { baseUrl: mutual.baseUrl, channelId: CHANNEL, ccid: CCID, secret: SECRET, apiKey: API_KEY, retries: 0 };
      const without = new NexusClient({ ...base, tls: { ca: fs.readFileSync(certs["ca.crt"]) } });
      await assert.rejects(without.sendMessage({}), NexusNetworkError);
      without.close();
      const withCert = new NexusClient({
        ...base,
        tls: { ca: fs.readFileSync(certs["ca.crt"]), cert: fs.readFileSync(certs["client.crt"]), key: fs.readFileSync(certs["client.key"]) },
      });
      assert.equal((await withCert.sendMessage({ messageId: "mtls" })).statusCode, 200);
      withCert.close();
    } finally {
      await mutual.close();
    }
  });

  it("verifies an https:// proxy against the system's CAs, not the tls-config node's (those are the API's), and shows it no client certificate", async () => {
    // The proxy's certificate comes from another CA, trusted the way a system trusts one (NODE_EXTRA_CA_CERTS);
    // the channel's tls-config names the API's private CA and a client certificate, as the core http request node does.
    const proxyDir = fs.mkdtempSync(path.join(os.tmpdir(), "nexus-proxy-tls-"));
    const proxyCerts = makeCertificates(proxyDir);
    const proxy = await forwardProxy({ key: fs.readFileSync(proxyCerts["server.key"]), cert: fs.readFileSync(proxyCerts["server.crt"]), requestCert: true, rejectUnauthorized: false });
    try {
      const script = `
        const fs = require("fs");
        const { NexusClient } = require(${JSON.stringify(path.resolve(__dirname, "../../lib/client"))});
        const client = new NexusClient({ baseUrl: ${JSON.stringify(sim.baseUrl)}, channelId: ${JSON.stringify(CHANNEL)}, ccid: ${JSON.stringify(CCID)}, secret: ${JSON.stringify(SECRET)}, apiKey: ${JSON.stringify(API_KEY)}, retries: 0,
          tls: { ca: fs.readFileSync(${JSON.stringify(certs["ca.crt"])}), cert: fs.readFileSync(${JSON.stringify(certs["client.crt"])}), key: fs.readFileSync(${JSON.stringify(certs["client.key"])}) },
          proxy: { url: ${JSON.stringify(proxy.url)} } });
        client.sendMessage({ messageId: "via-https-proxy" }).then((r) => console.log("status " + r.statusCode), (e) => console.log("failed " + e.message)).finally(() => client.close());
      `;
      const child = spawn(process.execPath, ["-r", "tsx/cjs", "-e", script], {
        cwd: path.resolve(__dirname, "../.."),
        env: { ...process.env, NODE_EXTRA_CA_CERTS: proxyCerts["ca.crt"], HTTPS_PROXY: "", HTTP_PROXY: "", https_proxy: "", http_proxy: "" },
        stdio: ["ignore", "pipe", "inherit"],
      });
      let out = "";
      child.stdout.on("data", (d: Buffer) => (out += d.toString()));
      await new Promise((resolve) => child.on("exit", resolve));
      assert.match(out, /status 200/, out);
      assert.equal(proxy.tunnels.length, 1);
      assert.deepEqual(proxy.peerCertificates, [false], "the proxy was shown no client certificate");
    } finally {
      await proxy.close();
      fs.rmSync(proxyDir, { recursive: true, force: true });
    }
  });

  it("words TLS failures of this side apart: a key whose passphrase is wrong, a server that refuses the handshake for want of a client certificate", async () => {
    execFileSync("openssl", ["pkey", "-in", certs["client.key"], "-aes256", "-passout", "pass:right", "-out", path.join(dir, "client-enc.key")], { stdio: "ignore" });
    const mutual = await simulator({
      tls: { key: fs.readFileSync(certs["server.key"]), cert: fs.readFileSync(certs["server.crt"]), ca: fs.readFileSync(certs["ca.crt"]), requestCert: true, maxVersion: "TLSv1.2" },
    });
    const clients: NexusClient[] = [];
    try {
      const base = { baseUrl: mutual.baseUrl, channelId: CHANNEL, ccid: CCID, secret: SECRET, apiKey: API_KEY, retries: 0 };
      const wrongPassphrase = new NexusClient({ ...base, tls: { ca: fs.readFileSync(certs["ca.crt"]), cert: fs.readFileSync(certs["client.crt"]), key: fs.readFileSync(path.join(dir, "client-enc.key")), passphrase: "wrong" } });
      clients.push(wrongPassphrase);
      await assert.rejects(wrongPassphrase.sendMessage({}), (err: NexusNetworkError) => {
        assert.match(err.message, /client certificate or key could not be used .*passphrase/);
        assert.doesNotMatch(err.message, /server's TLS certificate|base URL/);
        assert.equal(err.reachedGenesys, "no");
        return true;
      });
      const noCertificate = new NexusClient({ ...base, tls: { ca: fs.readFileSync(certs["ca.crt"]) } });
      clients.push(noCertificate);
      await assert.rejects(noCertificate.sendMessage({}), (err: NexusNetworkError) => {
        assert.match(err.message, /the server refused the TLS handshake .*client certificate/);
        assert.doesNotMatch(err.message, /server's TLS certificate could not be verified/);
        assert.equal(err.reachedGenesys, "no");
        return true;
      });
      const right = new NexusClient({ ...base, tls: { ca: fs.readFileSync(certs["ca.crt"]), cert: fs.readFileSync(certs["client.crt"]), key: fs.readFileSync(path.join(dir, "client-enc.key")), passphrase: "right" } });
      clients.push(right);
      assert.equal((await right.sendMessage({ messageId: "mtls-passphrase" })).statusCode, 200);
    } finally {
      await Promise.all(clients.map((c) => c.close()));
      await mutual.close();
    }
  });

  it("goes through the channel's http proxy node, and around it for hosts in its no-proxy list", async () => {
    const proxy = await forwardProxy();
    try {
      let loaded = await loadWith([tlsConfig(), { id: "px", type: "http proxy", url: proxy.url, noproxy: [] }], { tls: "tls1", proxy: "px" });
      await expectOutput(loaded, { payload: { messageId: "px-1" } });
      assert.deepEqual(proxy.tunnels, [`127.0.0.1:${new URL(sim.baseUrl).port}`]);
      await helper.unload();
      loaded = await loadWith([tlsConfig(), { id: "px", type: "http proxy", url: proxy.url, noproxy: ["127.0.0.1"] }], { tls: "tls1", proxy: "px" });
      await expectOutput(loaded, { payload: { messageId: "px-2" } });
      assert.equal(proxy.tunnels.length, 1, "the no-proxy host went direct");
    } finally {
      await proxy.close();
    }
  });

  it("honours the proxy node's no-proxy list by the NO_PROXY rule: host:port that port only, * every host", async () => {
    const proxy = await forwardProxy();
    const port = new URL(sim.baseUrl).port;
    try {
      for (const [noproxy, tunnelled] of [
        [[`127.0.0.1:${port}`], false],
        [["*"], false],
        [["127.0.0.1:1"], true],
        [[".example.com", "example.org"], true],
      ] as const) {
        const before = proxy.tunnels.length;
        const loaded = await loadWith([tlsConfig(), { id: "px", type: "http proxy", url: proxy.url, noproxy }], { tls: "tls1", proxy: "px" });
        await expectOutput(loaded, { payload: { messageId: "np" } });
        assert.equal(proxy.tunnels.length - before, tunnelled ? 1 : 0, `no-proxy ${JSON.stringify(noproxy)}`);
        await helper.unload();
      }
    } finally {
      await proxy.close();
    }
  });

  it("sends the proxy node's credentials to the proxy only", async () => {
    const proxy = await forwardProxy();
    try {
      const loaded = await loadWith([tlsConfig(), { id: "px", type: "http proxy", url: proxy.url, noproxy: [] }], { tls: "tls1", proxy: "px" }, { px: { username: "proxy user", password: "pr@xy:pass" } });
      await expectOutput(loaded, { payload: { messageId: "px-auth" } });
      assert.deepEqual(proxy.auth, [`Basic ${Buffer.from("proxy user:pr@xy:pass").toString("base64")}`]);
      assert.equal(sim.requests.at(-1)?.headers["proxy-authorization"], undefined, "never to the API");
    } finally {
      await proxy.close();
    }
  });

  it("sends a proxy user name without a password (a token as the user name) as Basic credentials, from the proxy node and from a proxy URL's user information", async () => {
    const proxy = await forwardProxy();
    try {
      const loaded = await loadWith([tlsConfig(), { id: "px", type: "http proxy", url: proxy.url, noproxy: [] }], { tls: "tls1", proxy: "px" }, { px: { username: "token123", password: "" } });
      await expectOutput(loaded, { payload: { messageId: "px-token" } });
      const client = new NexusClient({ baseUrl: sim.baseUrl, channelId: CHANNEL, ccid: CCID, secret: SECRET, apiKey: API_KEY, retries: 0, tls: { ca: fs.readFileSync(certs["ca.crt"]) }, proxy: { url: proxy.url.replace("://", "://token%20456@") } });
      try {
        await client.sendMessage({ messageId: "px-token-url" });
      } finally {
        await client.close();
      }
      assert.deepEqual(proxy.auth, [`Basic ${Buffer.from("token123:").toString("base64")}`, `Basic ${Buffer.from("token 456:").toString("base64")}`]);
    } finally {
      await proxy.close();
    }
  });

  it("verifies the API's certificate against the tls-config node's servername, and refuses a name mismatch", async () => {
    const base = { baseUrl: sim.baseUrl, channelId: CHANNEL, ccid: CCID, secret: SECRET, apiKey: API_KEY, retries: 0 };
    const named = new NexusClient({ ...base, tls: { ca: fs.readFileSync(certs["ca.crt"]), servername: "localhost" } });
    try {
      assert.equal((await named.sendMessage({ messageId: "sni" })).statusCode, 200);
    } finally {
      await named.close();
    }
    const wrong = new NexusClient({ ...base, tls: { ca: fs.readFileSync(certs["ca.crt"]), servername: "wrong.example" } });
    try {
      await assert.rejects(wrong.sendMessage({}), (err: unknown) => err instanceof NexusNetworkError && /TLS certificate/.test(err.message) && err.reachedGenesys === "no");
    } finally {
      await wrong.close();
    }
  });

  it("honours HTTPS_PROXY and NO_PROXY from the environment", async () => {
    const proxy = await forwardProxy();
    const saved = { HTTPS_PROXY: process.env.HTTPS_PROXY, NO_PROXY: process.env.NO_PROXY };
    const base = { baseUrl: sim.baseUrl, channelId: CHANNEL, ccid: CCID, secret: SECRET, apiKey: API_KEY, retries: 0, tls: { ca: fs.readFileSync(certs["ca.crt"]) } };
    try {
      process.env.HTTPS_PROXY = proxy.url;
      delete process.env.NO_PROXY;
      const viaEnv = new NexusClient(base);
      await viaEnv.sendMessage({ messageId: "env-1" });
      viaEnv.close();
      assert.equal(proxy.tunnels.length, 1);
      process.env.NO_PROXY = "127.0.0.1";
      const direct = new NexusClient(base);
      await direct.sendMessage({ messageId: "env-2" });
      direct.close();
      assert.equal(proxy.tunnels.length, 1);
    } finally {
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
      await proxy.close();
    }
  });

  it("reports a proxy that refuses the tunnel with a clear text", async () => {
    const refusing = http.createServer();
    refusing.on("connect", (_req, socket: net.Socket) => socket.end("HTTP/1.1 403 Forbidden\r\n\r\n"));
    await new Promise<void>((resolve) => refusing.listen(0, "127.0.0.1", resolve));
    try {
      const client = new NexusClient({
        baseUrl: sim.baseUrl, channelId: CHANNEL, ccid: CCID, secret: SECRET, retries: 0,
        proxy: { url: `http://127.0.0.1:${(refusing.address() as net.AddressInfo).port}` },
      });
      await assert.rejects(client.sendMessage({}), (err: unknown) => err instanceof NexusNetworkError && /proxy refused/.test(err.message));
      client.close();
    } finally {
      await new Promise((resolve) => refusing.close(resolve));
    }
  });
});
