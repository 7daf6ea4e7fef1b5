import assert from "assert/strict";
import { spawn } from "child_process";
import http from "http";
import path from "path";
import { signBody } from "../../lib/client";
import type { NexusSimulator } from "../../lib/simulator";
import { simulatorOptionsFrom } from "../../lib/simulator/cli";
import { API_KEY, CCID, CHANNEL, SECRET, simulator } from "../support";

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  json?: { status?: { code?: number; message?: string }; data?: unknown };
}

function call(sim: NexusSimulator, method: string, subPath: string, body: Buffer | string = "", headers: Record<string, string> = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${sim.baseUrl}${subPath}`, { method, headers: { "Content-Length": Buffer.byteLength(body), ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const buf = Buffer.concat(chunks);
        let json: Answer["json"];
        try {
          json = JSON.parse(buf.toString());
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: buf, json });
      });
    });
    req.on("error", reject);
    req.end(body);
  });
}

const signed = (body: Buffer | string, extra: Record<string, string> = {}): Record<string, string> => ({
  "x-ccid": CCID,
  "x-api-key": API_KEY,
  "X-Hub-Signature": signBody(body, SECRET),
  ...extra,
});

describe("simulator over raw HTTP", () => {
  let sim: NexusSimulator;
  before(async () => {
    sim = await simulator({ maxMediaBytes: 1000 });
  });
  after(() => sim.close());
  beforeEach(() => sim.reset());

  const msgPath = `/channels/${CHANNEL}/messages`;

  it("accepts a signed message and answers with the envelope", async () => {
    const body = '{"messageId":"m1","type":"Text","text":"hi"}';
    const res = await call(sim, "POST", msgPath, body, signed(body, { "Content-Type": "application/json" }));
    assert.equal(res.status, 200);
    assert.deepEqual(res.json, { status: { code: 0, message: "OK" }, data: { ids: [{ id: "m1" }] } });
  });

  it("answers 401 to a missing or wrong signature, and to one over re-serialised JSON", async () => {
    const body = '{"text": "hi"}';
    const missing = await call(sim, "POST", msgPath, body, { "x-ccid": CCID, "x-api-key": API_KEY });
    assert.equal(missing.status, 401);
    assert.equal(missing.json?.status?.code, 401);
    const wrong = await call(sim, "POST", msgPath, body, signed(body, { "X-Hub-Signature": signBody(body, "other") }));
    assert.equal(wrong.status, 401);
    const reserialised = await call(sim, "POST", msgPath, body, signed(JSON.stringify(JSON.parse(body))));
    assert.equal(reserialised.status, 401);
    const base64 = await call(sim, "POST", msgPath, body, signed(body, { "X-Hub-Signature": signBody(body, SECRET, "base64") }));
    assert.equal(base64.status, 200);
    assert.equal(sim.messages.length, 1);
  });

  it("answers 400 to a missing x-ccid and to a malformed body", async () => {
    const body = "{}";
    const noCcid = await call(sim, "POST", msgPath, body, { "x-api-key": API_KEY, "X-Hub-Signature": signBody(body, SECRET) });
    assert.equal(noCcid.status, 400);
    assert.match(noCcid.json?.status?.message ?? "", /x-ccid/);
    const notJson = await call(sim, "POST", msgPath, "not json", signed("not json"));
    assert.equal(notJson.status, 400);
    const scalar = await call(sim, "POST", msgPath, "42", signed("42"));
    assert.equal(scalar.status, 400);
    const badMultipart = await call(sim, "POST", `/channels/${CHANNEL}/media`, "garbage", signed("garbage", { "Content-Type": "multipart/form-data; boundary=xyz" }));
    assert.equal(badMultipart.status, 400);
    assert.equal(sim.messages.length, 0);
  });

  it("answers 403 to a wrong API key or ccid", async () => {
    const body = "{}";
    assert.equal((await call(sim, "POST", msgPath, body, signed(body, { "x-api-key": "nope" }))).status, 403);
    assert.equal((await call(sim, "POST", msgPath, body, signed(body, { "x-ccid": "other" }))).status, 403);
  });

  it("answers 404 to an unknown channel and an unknown media id", async () => {
    const channel = await call(sim, "POST", "/channels/nope/messages", "{}", signed("{}"));
    assert.equal(channel.status, 404);
    assert.equal(channel.json?.status?.message, "Channel nope not found");
    const media = await call(sim, "GET", `/channels/${CHANNEL}/media/unknown-id`, "", signed(""));
    assert.equal(media.status, 404);
    const del = await call(sim, "DELETE", `/channels/${CHANNEL}/media/unknown-id`, "", signed(""));
    assert.equal(del.status, 404);
  });

  it("answers 413 past the media size limit", async () => {
    const boundary = "b0undary";
    const body = Buffer.concat([
      Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.bin"\r\nContent-Type: application/octet-stream\r\n\r\n`),
      Buffer.alloc(5000),
      Buffer.from(`\r\n--${boundary}--\r\n`),
    ]);
    const res = await call(sim, "POST", `/channels/${CHANNEL}/media`, body, signed(body, { "Content-Type": `multipart/form-data; boundary=${boundary}` }));
    assert.equal(res.status, 413);
    assert.equal(sim.media.size, 0);
  });

  it("stores, serves and deletes media, signed over the entire multipart body", async () => {
    const boundary = "XyZ";
    const body = Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\nContent-Type: text/plain\r\n\r\nhello\r\n--${boundary}--\r\n`);
    const up = await call(sim, "POST", `/channels/${CHANNEL}/media`, body, signed(body, { "Content-Type": `multipart/form-data; boundary=${boundary}` }));
    assert.equal(up.status, 200);
    const data = up.json?.data as { mediaId: string; url: string; length: number };
    assert.equal(data.url, `genesys://nexus/${data.mediaId}`);
    assert.equal(data.length, 5);
    const down = await call(sim, "GET", `/channels/${CHANNEL}/media/${data.mediaId}`, "", signed(""));
    assert.equal(down.body.toString(), "hello");
    assert.equal(down.headers["content-type"], "text/plain");
    assert.match(String(down.headers["content-disposition"]), /filename="a.txt"/);
    const unsignedGet = await call(sim, "GET", `/channels/${CHANNEL}/media/${data.mediaId}`, "", { "x-ccid": CCID, "x-api-key": API_KEY });
    assert.equal(unsignedGet.status, 401);
    const del = await call(sim, "DELETE", `/channels/${CHANNEL}/media/${data.mediaId}`, "", signed(""));
    assert.equal(del.status, 200);
    assert.equal(sim.media.size, 0);
  });

  it("injects queued faults: a status with Retry-After, a reset", async () => {
    sim.injectFaults({ kind: "status", status: 503, retryAfter: 2 }, { kind: "reset" });
    const res = await call(sim, "POST", msgPath, "{}", signed("{}"));
    assert.equal(res.status, 503);
    assert.equal(res.headers["retry-after"], "2");
    await assert.rejects(call(sim, "POST", msgPath, "{}", signed("{}")), /ECONNRESET|socket hang up/);
  });
});

describe("simulator command", () => {
  it("takes options from flags first, then environment variables", () => {
    const { options } = simulatorOptionsFrom(["--port", "9999", "--channel-id", "c1"], { NEXUS_SIM_CHANNEL_ID: "c2", NEXUS_SIM_SECRET: "s3", NEXUS_SIM_MAX_MEDIA_BYTES: "123" });
    assert.equal(options.port, 9999);
    assert.equal(options.channelId, "c1");
    assert.equal(options.secret, "s3");
    assert.equal(options.maxMediaBytes, 123);
    assert.throws(() => simulatorOptionsFrom(["--port", "abc"], {}), /--port must be a number/);
    assert.throws(() => simulatorOptionsFrom(["--bogus"], {}));
  });

  it("prints where it listens, serves, and stops on SIGTERM", async function () {
    this.timeout(20000);
    const cli = path.resolve(__dirname, "../../dist/lib/simulator/cli.js");
    const child = spawn(process.execPath, [cli, "--port", "0", "--channel-id", "cli-channel"], { env: { ...process.env, NEXUS_SIM_SECRET: "cli-secret" } });
    try {
      const line = await new Promise<string>((resolve, reject) => {
        let out = "";
        child.stdout.on("data", (d: Buffer) => {
          out += d.toString();
          const m = /listening on (http:\/\/\S+)/.exec(out);
          if (m) resolve(m[1]);
        });
        child.on("exit", (code) => reject(new Error(`exited ${code}: ${out}`)));
      });
      assert.match(line, /^http:\/\/127\.0\.0\.1:\d+\/nexus\/v3$/);
      const res = await new Promise<number>((resolve, reject) => {
        const body = "{}";
        const req = http.request(`${line}/channels/cli-channel/messages`, {
          method: "POST",
          headers: { "x-ccid": "x", "X-Hub-Signature": signBody(body, "cli-secret") },
        }, (r) => {
          r.resume();
          resolve(r.statusCode ?? 0);
        });
        req.on("error", reject);
        req.end(body);
      });
      assert.equal(res, 403, "the default ccid differs from the one sent, so the answer is 403, past the signature check");
    } finally {
      child.kill("SIGTERM");
      await new Promise((resolve) => child.once("exit", resolve));
    }
  });
});
