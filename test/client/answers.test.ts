import assert from "assert/strict";
import fs from "fs";
import os from "os";
import path from "path";
import { NexusClient, NexusHttpError, NexusInputError, encodeMessageBody, signBody } from "../../lib/client";
import { parseEnvelope } from "../../lib/client/envelope";
import { API_KEY, CCID, CHANNEL, SECRET, hostileServer, simulator } from "../support";

const BOM = Buffer.from([0xef, 0xbb, 0xbf]);

function clientFor(baseUrl: string): NexusClient {
  return new NexusClient({ baseUrl, channelId: CHANNEL, ccid: CCID, secret: SECRET, apiKey: API_KEY, retries: 0, timeout: 5000 });
}

/** Every label a server or gateway gives an answer, carelessly or not: none of them decides what it is. */
const LABELS: Array<string | undefined> = [undefined, "text/plain", "application/octet-stream", "application/json; charset=utf-8", "text/html", "application/pdf"];

describe("API answers are read by their content, as RFC 8259 allows (issue 19)", () => {
  describe("an envelope whose status.code is not 0 is a failure however it is labelled", () => {
    for (const label of LABELS) {
      for (const bom of [false, true]) {
        it(`labelled ${label ?? "(no Content-Type)"}${bom ? ", with a byte order mark" : ""}: send, upload, delete and download fail`, async () => {
          const envelope = Buffer.from(JSON.stringify({ status: { code: 4001, message: "channel suspended" } }));
          const server = await hostileServer((req, res) => {
            req.resume();
            req.on("end", () => {
              res.writeHead(200, label ? { "Content-Type": label } : {});
              res.end(bom ? Buffer.concat([BOM, envelope]) : envelope);
            });
          });
          const client = clientFor(server.baseUrl);
          const failed = (err: unknown): boolean => err instanceof NexusHttpError && err.genesysCode === 4001 && err.statusCode === 200 && /channel suspended/.test(err.message);
          try {
            await assert.rejects(client.sendMessage({ text: "hi" }), failed);
            await assert.rejects(client.uploadMedia({ content: Buffer.from("x"), filename: "x.txt" }), failed);
            await assert.rejects(client.deleteMedia("m1"), failed);
            await assert.rejects(client.downloadMedia("m1"), failed);
            const dir = fs.mkdtempSync(path.join(os.tmpdir(), "nexus-env-"));
            try {
              await assert.rejects(client.downloadMediaToFile("m1", path.join(dir, "f.bin")), failed);
              assert.deepEqual(fs.readdirSync(dir), [], "no file, not even a part file, is left");
            } finally {
              fs.rmSync(dir, { recursive: true, force: true });
            }
          } finally {
            await client.close();
            await server.close();
          }
        });
      }
    }
  });

  it("reads a successful envelope with a byte order mark and any label (text/plain here)", async () => {
    const server = await hostileServer((req, res) => {
      req.resume();
      req.on("end", () => {
        res.writeHead(200, { "Content-Type": "text/plain" });
        res.end(Buffer.concat([BOM, Buffer.from(JSON.stringify({ status: { code: 0, message: "OK" }, data: { mediaId: "m-bom", url: "genesys://nexus/m-bom" } }))]));
      });
    });
    const client = clientFor(server.baseUrl);
    try {
      const res = await client.uploadMedia({ content: Buffer.from("x"), filename: "x.txt" });
      assert.equal(res.mediaId, "m-bom");
    } finally {
      await client.close();
      await server.close();
    }
  });

  it("reads the status of an error answer with a byte order mark and no JSON label", async () => {
    const server = await hostileServer((req, res) => {
      req.resume();
      req.on("end", () => {
        res.writeHead(403, { "Content-Type": "text/plain" });
        res.end(Buffer.concat([BOM, Buffer.from(JSON.stringify({ status: { code: 1403, message: "ccid not allowed" } }))]));
      });
    });
    const client = clientFor(server.baseUrl);
    try {
      await assert.rejects(client.sendMessage({ text: "hi" }), (err: NexusHttpError) => err.genesysCode === 1403 && /ccid not allowed/.test(err.message));
    } finally {
      await client.close();
      await server.close();
    }
  });

  it("downloads media that merely look like JSON, and media whose envelope says 0, as bytes", async () => {
    const files = [Buffer.from('{"not":"an envelope"}'), Buffer.from(JSON.stringify({ status: { code: 0 }, data: 1 })), Buffer.concat([BOM, Buffer.from("[1,2]")]), Buffer.from("   \n")];
    let i = 0;
    const server = await hostileServer((_req, res) => {
      res.writeHead(200, { "Content-Type": "application/json" });
      res.end(files[i++ % files.length]);
    });
    const client = clientFor(server.baseUrl);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "nexus-env-"));
    try {
      for (const file of files) assert.deepEqual((await client.downloadMedia("m")).data, file);
      for (const file of files) {
        const target = path.join(dir, "f.json");
        await client.downloadMediaToFile("m", target);
        assert.deepEqual(fs.readFileSync(target), file);
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
      await client.close();
      await server.close();
    }
  });

  it("takes a status.code written as digits, and leaves bodies that are not envelopes alone", () => {
    assert.equal(parseEnvelope(Buffer.from('{"status":{"code":"500","message":"x"}}'))?.status.code, 500);
    assert.equal(parseEnvelope(Buffer.from('{"status":{"code":"E5"}}')), undefined);
    assert.equal(parseEnvelope(Buffer.from("%PDF-1.7")), undefined);
    assert.equal(parseEnvelope(Buffer.concat([BOM, Buffer.from(' \r\n{"status":{"code":7}}')]))?.status.code, 7);
  });

  it("sends a JSON Buffer or string that starts with a byte order mark without it (RFC 8259 section 8.1)", () => {
    const json = '{"text":"hi"}';
    assert.deepEqual(encodeMessageBody(Buffer.concat([BOM, Buffer.from(json)])), Buffer.from(json));
    assert.deepEqual(encodeMessageBody(`\ufeff${json}`), Buffer.from(json));
  });

  it("the simulator reads message bodies with a byte order mark", async () => {
    const sim = await simulator();
    const client = clientFor(sim.baseUrl);
    try {
      // Through the client the mark is left out; sent raw, the simulator ignores it.
      const body = Buffer.concat([BOM, Buffer.from(JSON.stringify({ messageId: "sim-bom", text: "hi" }))]);
      const res = await fetch(`${sim.baseUrl}/channels/${CHANNEL}/messages`, {
        method: "POST",
        headers: { "Content-Type": "application/json", "x-ccid": CCID, "x-api-key": API_KEY, "X-Hub-Signature": signBody(body, SECRET) },
        body,
      });
      assert.equal(res.status, 200);
      assert.equal((sim.messages[0]?.body as { messageId?: string }).messageId, "sim-bom");
    } finally {
      await client.close();
      await sim.close();
    }
  });
});

describe("a base URL is used whole, or refused (issue 19)", () => {
  it("keeps the base URL's query on every call, after the channel path, and shows it in error texts", async () => {
    const sim = await simulator();
    const client = clientFor(`${sim.baseUrl}?tenant=eu-1`);
    try {
      await client.sendMessage({ text: "hi" });
      const up = await client.uploadMedia({ content: Buffer.from("abc"), filename: "a.txt" });
      await client.downloadMedia(up.mediaId);
      await client.deleteMedia(up.mediaId);
      const err = await client.downloadMedia("missing").catch((e: Error) => e);
      assert.ok(err instanceof NexusHttpError);
      assert.match(err.message, new RegExp(`GET ${sim.baseUrl.replace(/[.]/g, "\\.")}/channels/${CHANNEL}/media/missing\\?tenant=eu-1`));
      assert.deepEqual(
        sim.requests.map((r) => `${r.method} ${r.path} ${r.status}`),
        [
          `POST /nexus/v3/channels/${CHANNEL}/messages?tenant=eu-1 200`,
          `POST /nexus/v3/channels/${CHANNEL}/media?tenant=eu-1 200`,
          `GET /nexus/v3/channels/${CHANNEL}/media/${up.mediaId}?tenant=eu-1 200`,
          `DELETE /nexus/v3/channels/${CHANNEL}/media/${up.mediaId}?tenant=eu-1 200`,
          `GET /nexus/v3/channels/${CHANNEL}/media/missing?tenant=eu-1 404`,
        ],
      );
    } finally {
      await client.close();
      await sim.close();
    }
  });

  it("keeps a query of several parameters as written, and takes a lone ? or a trailing slash before it", async () => {
    const sim = await simulator();
    try {
      for (const [base, query] of [
        [`${sim.baseUrl}/?tenant=eu-1&region=de%20x`, "?tenant=eu-1&region=de%20x"],
        [`${sim.baseUrl}?`, ""],
      ]) {
        const client = clientFor(base);
        sim.reset();
        await client.sendMessage({ text: "hi" });
        assert.equal(sim.requests[0]?.path, `/nexus/v3/channels/${CHANNEL}/messages${query}`);
        await client.close();
      }
    } finally {
      await sim.close();
    }
  });

  it("refuses a fragment and a control character, which would be dropped, with words that say so", () => {
    assert.throws(() => clientFor("https://nexus.example.com/nexus/v3#eu-1"), (err: NexusInputError) => err.parts[0][0] === "config-base-url-fragment" && /fragment \(#eu-1\)/.test(err.message));
    assert.throws(() => clientFor("https://nexus.example.com/nexus/v3?tenant=eu-1#x"), (err: NexusInputError) => err.parts[0][0] === "config-base-url-fragment");
    assert.throws(() => clientFor("https://nexus.exam\tple.com/nexus/v3"), (err: NexusInputError) => err.parts[0][0] === "config-base-url-control");
    assert.throws(() => clientFor("https://nexus.example.com/nexus/\nv3"), (err: NexusInputError) => err.parts[0][0] === "config-base-url-control");
  });
});
